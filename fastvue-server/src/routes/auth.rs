//! `/auth`: sign-in (its second step in [`crate::routes::two_factor`]), token refresh and logout, the caller's profile and permissions,
//! company switching and password changes.
//!
//! `login`, `refresh` and `logout` take no bearer token (the body carries what they
//! need); the other routes sit behind [`auth::authenticate`].
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fastvue_core::auth::{Step, TokenPair};
use fastvue_core::entity::user;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{actor, origin, token_error};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{json_body, query};
use crate::state::app;

/// The signed-in user (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthUser {
    /// Id.
    pub id: i64,
    /// Email (lower-cased).
    pub email: String,
    /// Username.
    pub username: String,
    /// Full name.
    pub full_name: Option<String>,
    /// Inactive users cannot sign in.
    pub is_active: bool,
    /// Superusers hold every permission in every company.
    pub is_superuser: bool,
    /// The company used when a request sends no `X-Company-ID`.
    pub current_company_id: Option<i64>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl From<user::Model> for AuthUser {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            username: u.username,
            full_name: u.full_name,
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            current_company_id: u.current_company_id,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// Body of `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    /// Username or email.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A token pair and the user it was issued to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokensOut {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Token for `/auth/refresh` and `/auth/logout`; single use.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// The signed-in user.
    pub user: AuthUser,
}

impl TokensOut {
    /// The body for a new session of `user`.
    pub fn new(pair: TokenPair, user: user::Model) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: pair.token_type.to_owned(),
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
            user: user.into(),
        }
    }
}

/// The answer of a first step that needs a second one.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredOut {
    /// Always `true`: no tokens yet.
    pub mfa_required: bool,
    /// Names this sign-in in `POST /auth/login/2fa` (or, when `enrol_required`, in
    /// `POST /auth/login/2fa/setup` and `/confirm`). Single use.
    pub mfa_token: String,
    /// A company of the user requires two-factor sign-in and the user has none yet:
    /// enrol first.
    pub enrol_required: bool,
    /// Seconds until `mfa_token` expires.
    pub expires_in: i64,
}

impl From<fastvue_core::auth::Pending> for MfaRequiredOut {
    fn from(p: fastvue_core::auth::Pending) -> Self {
        Self {
            mfa_required: true,
            mfa_token: p.mfa_token,
            enrol_required: p.enrol,
            expires_in: p.expires_in,
        }
    }
}

/// The answer of `POST /auth/login`: tokens, or the second step to take.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginOut {
    /// Signed in.
    Tokens(TokensOut),
    /// Two-factor sign-in is on for the user, or required by a company of the user.
    MfaRequired(MfaRequiredOut),
}

/// Body of `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshIn {
    /// A refresh token from `login` or a previous `refresh`.
    pub refresh_token: String,
}

/// A company the caller belongs to and its roles there.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyCompany {
    /// Company id.
    pub id: i64,
    /// Company name.
    pub name: String,
    /// Codenames of the caller's active roles there.
    pub roles: Vec<String>,
}

/// Body of `GET /auth/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    /// The caller.
    #[serde(flatten)]
    pub user: AuthUser,
    /// Companies where the caller holds an active role.
    pub companies: Vec<MyCompany>,
    /// The company this request acts in (`X-Company-ID` or the current company).
    pub active_company_id: Option<i64>,
    /// With `include=permissions`: the caller's permissions in the active company, as
    /// `GET /auth/me/permissions` answers them (null without an active company).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<MyPermissions>,
    /// With `include=menus`: the caller's menu in the active company, as
    /// `GET /auth/me/menus` answers it (null without an active company).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub menus: Option<crate::routes::menus::MyMenus>,
}

/// Query of `GET /auth/me`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeQuery {
    /// What else to answer, comma-separated: `permissions`, `menus` (so that a frontend
    /// starts with one request). Anything else is 422.
    pub include: Option<String>,
}

/// Query of `GET /auth/me/permissions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyPermissionsQuery {
    /// The company to list (default: the active company).
    pub company_id: Option<i64>,
}

/// Body of `GET /auth/me/permissions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyPermissions {
    /// The caller.
    pub user_id: i64,
    /// The company listed.
    pub company_id: i64,
    /// Superusers hold every active permission.
    pub is_superuser: bool,
    /// Effective permission codenames, sorted.
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "shared_strs")]
    pub permissions: Vec<std::sync::Arc<str>>,
}

/// Serializes shared strings as plain strings.
fn shared_strs<S: serde::Serializer>(
    items: &[std::sync::Arc<str>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(items.iter().map(|s| &**s))
}

impl MyPermissions {
    /// The body for `user`'s effective `codenames` in `company_id` (sharing the
    /// catalogue's strings rather than copying each).
    pub fn new(user: &user::Model, company_id: i64, codenames: Vec<std::sync::Arc<str>>) -> Self {
        Self {
            user_id: user.id,
            company_id,
            is_superuser: user.is_superuser,
            permissions: codenames,
        }
    }
}

/// Body of `POST /auth/switch-company`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchCompanyIn {
    /// The company to make current.
    pub company_id: i64,
}

/// Body of `POST /auth/change-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordIn {
    /// The password in use.
    pub current_password: String,
    /// The new password (8 to 128 characters).
    pub new_password: String,
}

/// Sign in with a username or email and a password.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    description = "Public (no token).",
    request_body = LoginIn,
    responses(
        (status = 200, description = "Signed in, or `mfa_required` with the token of the second step", body = LoginOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Unknown user, wrong password or inactive user (one message for all)", body = ErrorBody),
        (status = 422, description = "Missing or unknown field", body = ErrorBody),
        (status = 429, description = "Too many attempts from this IP, or failures for this IP and username; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn login(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: LoginIn = json_body(req).await?;
    let (user, step) = match fv
        .sign_in()
        .password(&origin(req, depot), &input.username, &input.password)
        .await
    {
        Ok(signed_in) => signed_in,
        Err(fastvue_core::Error::InvalidCredentials) => {
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "invalid username or password",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    res.render(Json(match step {
        Step::Done(pair) => LoginOut::Tokens(TokensOut::new(pair, user)),
        Step::SecondFactor(pending) => LoginOut::MfaRequired(pending.into()),
    }));
    Ok(())
}

/// Exchange a refresh token for a new pair. The presented token is revoked; presenting
/// it again revokes its whole session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    description = "Public (no token): the body carries the refresh token.",
    request_body = RefreshIn,
    responses(
        (status = 200, description = "A new token pair", body = TokensOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token, or inactive user", body = ErrorBody),
        (status = 422, description = "Missing or unknown field", body = ErrorBody),
    )
)]
#[handler]
pub async fn refresh(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: RefreshIn = json_body(req).await?;
    let (pair, user) = fv
        .tokens()
        .refresh_from(&input.refresh_token, &origin(req, depot))
        .await
        .map_err(token_error)?;
    res.render(Json(TokensOut::new(pair, user)));
    Ok(())
}

/// End the session of a refresh token. Idempotent: an already revoked, expired or
/// unknown (but genuinely signed) token also answers 204.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    description = "Public (no token): the body carries the refresh token.",
    request_body = RefreshIn,
    responses(
        (status = 204, description = "Session ended"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Malformed or forged token", body = ErrorBody),
        (status = 422, description = "Missing or unknown field", body = ErrorBody),
    )
)]
#[handler]
pub async fn logout(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: RefreshIn = json_body(req).await?;
    fv.tokens()
        .logout(&input.refresh_token)
        .await
        .map_err(token_error)?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The caller, its companies with its roles there, and the active company; with
/// `include=permissions,menus` also its permissions and menu there (one request to start
/// a frontend).
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    params(MeQuery),
    responses(
        (status = 200, description = "The caller", body = MeOut),
        (status = 400, description = "Malformed X-Company-ID", body = ErrorBody),
        (status = 422, description = "`include` lists something other than permissions and menus", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "X-Company-ID names a foreign company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn me(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let caller = actor(depot)?;
    let user = caller.session_user()?;
    let q: MeQuery = query(req)?;
    let (mut with_permissions, mut with_menus) = (false, false);
    for part in q.include.as_deref().unwrap_or("").split(',').map(str::trim) {
        match part {
            "" => {}
            "permissions" => with_permissions = true,
            "menus" => with_menus = true,
            _ => {
                return Err(fastvue_core::Error::invalid(
                    "include",
                    "may list only permissions and menus",
                )
                .into());
            }
        }
    }
    let mut permissions = None;
    let mut menus = None;
    if caller.company_id().is_some() {
        if with_permissions {
            let (company_id, codenames) = fv.users().own_permissions(caller, None).await?;
            permissions = Some(MyPermissions::new(user, company_id, codenames));
        }
        if with_menus {
            menus = Some(fv.menus().visible(caller, None).await?.into());
        }
    }
    let mut companies: BTreeMap<i64, MyCompany> = BTreeMap::new();
    for a in fv.assignments().own(caller).await? {
        if !a.assignment.is_active {
            continue;
        }
        let entry = companies
            .entry(a.assignment.company_id)
            .or_insert_with(|| MyCompany {
                id: a.assignment.company_id,
                name: a.company_name.clone(),
                roles: Vec::new(),
            });
        if !entry.roles.contains(&a.role_codename) {
            entry.roles.push(a.role_codename);
        }
    }
    res.render(Json(MeOut {
        user: user.clone().into(),
        companies: companies.into_values().collect(),
        active_company_id: caller.company_id(),
        permissions,
        menus,
    }));
    Ok(())
}

/// The caller's effective permissions in a company. Answers a strong `ETag`; with a
/// matching `If-None-Match` it answers 304 without a body.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me/permissions",
    tag = "auth",
    description = "Requires a valid access token; no permission (the caller's own permissions).",
    params(MyPermissionsQuery),
    responses(
        (status = 200, description = "Effective permissions", body = MyPermissions,
            headers(("ETag" = String, description = "Strong validator of this answer"))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "Malformed company_id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a member of that company, or no active company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn my_permissions(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let caller = actor(depot)?;
    let q: MyPermissionsQuery = query(req)?;
    let (company_id, codenames) = fv.users().own_permissions(caller, q.company_id).await?;
    let body = MyPermissions::new(caller.session_user()?, company_id, codenames);
    let etag = permissions_etag(&body);
    if !crate::conditional::answered_unchanged(req, res, &etag) {
        res.render(Json(body));
    }
    Ok(())
}

/// Query of `GET /auth/me/companies`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyCompaniesQuery {
    /// A permission codename (`report.read`): list the companies where the caller holds
    /// it. Required; 422 when missing, malformed or not an active permission.
    pub permission: Option<String>,
}

/// Body of `GET /auth/me/companies`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyCompaniesOut {
    /// The permission asked about.
    pub permission: String,
    /// The active companies where the caller holds it (its own assignments and groups,
    /// and every company below its `subtree` ones), by id.
    pub companies: Vec<ReachedCompany>,
}

/// A company of `GET /auth/me/companies`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReachedCompany {
    /// Company id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique code.
    pub code: String,
    /// Parent company (null for a top-level company).
    pub parent_id: Option<i64>,
}

/// The companies where the caller holds a permission: a data scope a frontend or a
/// service can filter by (a holding administrator's `subtree` role reaches every
/// company below the holding).
#[utoipa::path(
    get,
    path = "/api/v1/auth/me/companies",
    tag = "auth",
    description = "Requires a valid access token; no permission (the caller's own reach).",
    params(MyCompaniesQuery),
    responses(
        (status = 200, description = "Companies where the caller holds the permission", body = MyCompaniesOut),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "An API key (this route needs a user's session)", body = ErrorBody),
        (status = 422, description = "Missing, malformed or unknown permission", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn my_companies(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let caller = actor(depot)?;
    let q: MyCompaniesQuery = query(req)?;
    let Some(permission) = q.permission else {
        return Err(fastvue_core::Error::invalid(
            "permission",
            fastvue_core::error::Problem::required(),
        )
        .into());
    };
    let companies = fv.companies().where_held(caller, &permission).await?;
    res.render(Json(MyCompaniesOut {
        permission: permission.trim().to_owned(),
        companies: (companies.into_iter())
            .map(|c| ReachedCompany {
                id: c.id,
                name: c.name,
                code: c.code,
                parent_id: c.parent_id,
            })
            .collect(),
    }));
    Ok(())
}

/// A strong ETag over the user, company, superuser flag and sorted codenames
/// (64-bit FNV-1a: stable across processes and releases). The permission stream uses it
/// as its event ids.
pub fn permissions_etag(p: &MyPermissions) -> String {
    let mut hash = fastvue_core::etag::Fnv::new();
    hash.feed(p.user_id.to_string().as_bytes());
    hash.feed(p.company_id.to_string().as_bytes());
    hash.feed(&[u8::from(p.is_superuser)]);
    for codename in &p.permissions {
        hash.feed(codename.as_bytes());
    }
    format!("\"p{}-{}-{:016x}\"", p.user_id, p.company_id, hash.finish())
}

/// Make a company the caller's current company.
#[utoipa::path(
    post,
    path = "/api/v1/auth/switch-company",
    tag = "auth",
    description = "Requires a valid access token; no permission (membership of the company).",
    request_body = SwitchCompanyIn,
    responses(
        (status = 200, description = "The updated user", body = AuthUser),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a member of that company (superusers: unknown company)", body = ErrorBody),
        (status = 422, description = "Missing or unknown field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn switch_company(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: SwitchCompanyIn = json_body(req).await?;
    let updated = fv
        .users()
        .switch_company(actor(depot)?, input.company_id)
        .await?;
    res.render(Json(AuthUser::from(updated)));
    Ok(())
}

/// Change the caller's password; every refresh token of the caller is revoked.
#[utoipa::path(
    post,
    path = "/api/v1/auth/change-password",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    request_body = ChangePasswordIn,
    responses(
        (status = 204, description = "Password changed; all sessions ended"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 422, description = "Wrong current_password or invalid new_password", body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn change_password(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: ChangePasswordIn = json_body(req).await?;
    fv.tokens()
        .change_password(actor(depot)?, &input.current_password, &input.new_password)
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// OpenAPI of the `/auth` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        login,
        refresh,
        logout,
        me,
        my_permissions,
        my_companies,
        switch_company,
        change_password
    ),
    components(schemas(
        AuthUser,
        LoginIn,
        TokensOut,
        MfaRequiredOut,
        LoginOut,
        RefreshIn,
        MyCompany,
        MeOut,
        MyPermissions,
        MyCompaniesOut,
        ReachedCompany,
        SwitchCompanyIn,
        ChangePasswordIn
    ))
)]
pub struct Api;
