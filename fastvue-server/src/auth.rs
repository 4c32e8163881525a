//! Who is calling: the `authenticate` hoop turns a bearer access token or a service API
//! key into a [`Principal`] in the depot, resolves the request's active company, and
//! offers the permission guards the routes use.
//!
//! API keys (`Authorization: Bearer fv_live_...` or `X-API-Key: fv_live_...`): the
//! principal acts as the key's creator, only in the key's company and only with the
//! key's scopes, never with more than the creator holds at that moment; it is never a
//! superuser. Every guard below applies this, so no route needs to know about keys,
//! except the session routes, which [`reject_api_keys`] closes to keys.
//!
//! Active company: the `X-Company-ID` header when present (the caller must hold an
//! active role there, or be a superuser and the company must exist; otherwise 403; a
//! value that is not a positive integer is 400), else the user's `current_company_id`,
//! else (for a regular user without one) the first company where it holds an active role.
use fastvue_core::Fastvue;
use fastvue_core::auth::TokenError;
use fastvue_core::entity::{role, user};
use fastvue_core::service::api_keys::is_api_key;
use fastvue_core::service::audit::AuditContext;
use fastvue_core::service::users::{NewUser, UserPatch};
use salvo::http::header;
use salvo::prelude::*;

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::app;

/// Header naming the company a request acts in.
pub const COMPANY_HEADER: &str = "x-company-id";
/// Header carrying a service API key (alternative to `Authorization: Bearer fv_live_...`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The authenticated caller, put in the Depot by `authenticate`.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller, as loaded for this request (active); for an API key, its creator.
    pub user: user::Model,
    /// The company this request acts in, if any (always the key's company for a key).
    pub company_id: Option<i64>,
    /// Set when the caller authenticated with an API key.
    pub key: Option<KeyGrant>,
}

/// What an API key allows: its company and scopes (the secret is not kept).
#[derive(Debug, Clone)]
pub struct KeyGrant {
    /// The only company the key acts in.
    pub company_id: i64,
    /// The permission codenames the key may use.
    pub scopes: Vec<String>,
}

/// The 401 for a token failure (or the mapped core error when the database failed).
pub fn token_error(err: TokenError) -> ApiError {
    match err {
        TokenError::Invalid => ApiError::unauthorized("invalid_token", "the token is invalid"),
        TokenError::Expired => ApiError::unauthorized("token_expired", "the token has expired"),
        TokenError::Reused => ApiError::unauthorized(
            "invalid_token",
            "the refresh token was already used; the session has been revoked",
        ),
        TokenError::Core(e) => e.into(),
    }
}

/// Hoop: Bearer access token -> Principal (401 + WWW-Authenticate otherwise); resolves the active
/// company from X-Company-ID (must be a member or superuser, else 403; non-integer -> 400) or current_company_id.
#[handler]
pub async fn authenticate(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    match resolve(req, depot).await {
        Ok(principal) => {
            depot.insert_typed(principal);
        }
        Err(e) => {
            e.write_to(depot, res);
            ctrl.skip_rest();
        }
    }
}

/// Hoop for routes that only make sense for a person's session (their profile,
/// password, current company, linked accounts): 403 for an API key.
#[handler]
pub async fn reject_api_keys(depot: &mut Depot, res: &mut Response, ctrl: &mut FlowCtrl) {
    if depot
        .get_typed::<Principal>()
        .is_ok_and(|p| p.key.is_some())
    {
        ApiError::forbidden("this route needs a user's session; API keys cannot use it")
            .write_to(depot, res);
        ctrl.skip_rest();
    }
}

async fn resolve(req: &Request, depot: &Depot) -> Result<Principal, ApiError> {
    let fv = app(depot)?;
    if let Some(key) = presented_key(req)? {
        return resolve_key(req, &fv, key).await;
    }
    let token = bearer_token(req)?;
    resolve_token(req, &fv, token).await
}

/// What the `authenticate` hoop does, for a token the route found itself (the permission
/// stream also accepts `?access_token=`): verifies the access token and resolves the
/// active company from `X-Company-ID` or the user's current company.
pub async fn resolve_token(
    req: &Request,
    fv: &Fastvue,
    token: &str,
) -> Result<Principal, ApiError> {
    let user = fv
        .tokens()
        .verify_access(token)
        .await
        .map_err(token_error)?;
    let company_id = match requested_company(req)? {
        Some(id) => {
            ensure_may_act_in(fv, &user, id).await?;
            Some(id)
        }
        None => match user.current_company_id {
            Some(id) => Some(id),
            None if user.is_superuser => None,
            None => fv
                .assignments()
                .companies_of(user.id)
                .await?
                .first()
                .copied(),
        },
    };
    Ok(Principal {
        user,
        company_id,
        key: None,
    })
}

/// The API key of the request: `X-API-Key`, or a bearer token starting with `fv_live_`.
fn presented_key(req: &Request) -> Result<Option<&str>, ApiError> {
    if let Some(value) = req.headers().get(API_KEY_HEADER) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("invalid_token", "the API key is invalid"))?;
        return Ok(Some(value.trim()));
    }
    match req.headers().get(header::AUTHORIZATION) {
        Some(_) => {
            let token = bearer_token(req)?;
            Ok(is_api_key(token).then_some(token))
        }
        None => Ok(None),
    }
}

/// Authenticates an API key, applies its rate limit and checks `X-Company-ID`.
async fn resolve_key(req: &Request, fv: &Fastvue, presented: &str) -> Result<Principal, ApiError> {
    let found = fv
        .api_keys()
        .authenticate(presented)
        .await
        .map_err(|e| match e {
            TokenError::Expired => {
                ApiError::unauthorized("token_expired", "the API key has expired")
            }
            TokenError::Core(e) => e.into(),
            _ => ApiError::unauthorized("invalid_token", "the API key is invalid"),
        })?;
    if let Some(retry_after) = fv.api_keys().rate_limit(&found.key).await {
        return Err(ApiError::too_many_requests(
            "this API key has used up its requests for this minute",
            retry_after,
        ));
    }
    let company_id = found.key.company_id;
    if requested_company(req)?.is_some_and(|id| id != company_id) {
        return Err(ApiError::forbidden(
            "this API key acts only in its own company",
        ));
    }
    let scopes = found.key.scope_codenames();
    Ok(Principal {
        user: found.creator,
        company_id: Some(company_id),
        key: Some(KeyGrant { company_id, scopes }),
    })
}

/// The token of `Authorization: Bearer <token>` (401 when absent or another scheme).
fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    bearer_header(req)?.ok_or_else(missing_token)
}

/// The 401 of a request without credentials.
pub fn missing_token() -> ApiError {
    ApiError::unauthorized("unauthorized", "authentication required")
}

/// The token of `Authorization: Bearer <token>`; `None` without an `Authorization`
/// header, 401 for another scheme or a malformed value.
pub fn bearer_header(req: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid_token", "the token is invalid"))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "expected a Bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "expected a Bearer token",
        ));
    }
    Ok(Some(token.trim()))
}

/// The `X-Company-ID` header as a positive integer (400 otherwise); `None` when absent.
fn requested_company(req: &Request) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(COMPANY_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id > 0)
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("X-Company-ID must be a positive integer"))
}

/// 403 unless `user` holds an active role in `company_id`; a superuser may act in any
/// existing company.
pub async fn ensure_may_act_in(
    fv: &Fastvue,
    user: &user::Model,
    company_id: i64,
) -> Result<(), ApiError> {
    let allowed = if user.is_superuser {
        match fv.companies().get(company_id).await {
            Ok(_) => true,
            Err(fastvue_core::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        }
    } else {
        fv.assignments().is_member(user.id, company_id).await?
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden("you are not a member of this company"))
    }
}

/// The caller of this request (401 if the hoop did not run / no token).
pub fn principal(depot: &Depot) -> Result<&Principal, ApiError> {
    depot.get_typed::<Principal>().map_err(|_| missing_token())
}

impl Principal {
    /// The caller's user id.
    pub fn id(&self) -> i64 {
        self.user.id
    }

    /// Whether the caller is a superuser (never for an API key).
    pub fn is_superuser(&self) -> bool {
        self.key.is_none() && self.user.is_superuser
    }

    /// The active company, or 403 when the caller has none.
    pub fn active_company(&self) -> Result<i64, ApiError> {
        self.company_id.ok_or_else(|| {
            ApiError::forbidden("no active company: send X-Company-ID or switch company")
        })
    }

    /// Guard: the caller holds `codename` in the active company (superusers pass) -> Ok(company_id), else 403.
    pub async fn require(&self, app: &Fastvue, codename: &str) -> Result<i64, ApiError> {
        let company_id = self.active_company()?;
        if self.can(app, company_id, codename).await? {
            Ok(company_id)
        } else {
            Err(ApiError::forbidden(format!(
                "missing permission {codename}"
            )))
        }
    }

    /// Whether the caller holds `codename` in `company_id` (superuser: true). An API key
    /// holds it when it is the key's company, the codename is one of its scopes and the
    /// creator holds it there now (or is a superuser).
    pub async fn can(
        &self,
        app: &Fastvue,
        company_id: i64,
        codename: &str,
    ) -> Result<bool, ApiError> {
        if let Some(key) = &self.key
            && (company_id != key.company_id || !key.scopes.iter().any(|s| s == codename))
        {
            return Ok(false);
        }
        // A superuser (or, within its scopes, a superuser's key) holds everything.
        if self.user.is_superuser {
            return Ok(true);
        }
        Ok(app
            .authorizer()
            .has(self.id(), company_id, codename)
            .await?)
    }

    /// Companies where the caller holds `codename`; None = all companies (superuser).
    pub async fn scope(&self, app: &Fastvue, codename: &str) -> Result<Option<Vec<i64>>, ApiError> {
        if self.is_superuser() {
            return Ok(None);
        }
        if let Some(key) = &self.key {
            let held = self.can(app, key.company_id, codename).await?;
            return Ok(Some(if held { vec![key.company_id] } else { vec![] }));
        }
        let mut held = Vec::new();
        for company_id in app.assignments().companies_of(self.id()).await? {
            if app
                .authorizer()
                .has(self.id(), company_id, codename)
                .await?
            {
                held.push(company_id);
            }
        }
        Ok(Some(held))
    }

    /// [`scope`](Self::scope) for a list route filtered by `company_id`: a company
    /// outside the scope answers 404, as if it did not exist.
    pub async fn list_scope(
        &self,
        app: &Fastvue,
        codename: &str,
        company_id: Option<i64>,
    ) -> Result<Option<Vec<i64>>, ApiError> {
        let scope = self.scope(app, codename).await?;
        if let (Some(c), Some(ids)) = (company_id, &scope)
            && !ids.contains(&c)
        {
            return Err(ApiError::not_found("company not found"));
        }
        Ok(scope)
    }

    /// 403 unless the caller may grant `codenames` (those not in `kept`, which it already
    /// grants) in `company_id`: the core rule for the user, and for an API key also only
    /// within its company and scopes.
    pub async fn ensure_grantable(
        &self,
        app: &Fastvue,
        company_id: i64,
        codenames: &[String],
        kept: &[fastvue_core::entity::permission::Model],
    ) -> Result<(), ApiError> {
        app.permissions()
            .ensure_grantable(&self.user, company_id, codenames, kept)
            .await?;
        if let Some(key) = &self.key {
            let outside: Vec<&str> = codenames
                .iter()
                .map(|c| c.trim())
                .filter(|c| !kept.iter().any(|k| k.codename == *c))
                .filter(|c| company_id != key.company_id || !key.scopes.iter().any(|s| s == c))
                .collect();
            if !outside.is_empty() {
                return Err(ApiError::forbidden(format!(
                    "this API key cannot grant permissions outside its scopes: {}",
                    outside.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The role `role_id` if the caller may assign (or remove) it in `company_id`: it
    /// grants nothing the caller does not hold there (for a key: nothing outside its scopes).
    pub async fn ensure_role_grantable(
        &self,
        app: &Fastvue,
        company_id: i64,
        role_id: i64,
    ) -> Result<role::Model, ApiError> {
        let role = app
            .assignments()
            .ensure_grantable(self.id(), company_id, role_id)
            .await?;
        if let Some(key) = &self.key {
            let grants = app.roles().permissions(role_id).await?;
            if company_id != key.company_id
                || grants.iter().any(|p| !key.scopes.contains(&p.codename))
            {
                return Err(ApiError::forbidden(
                    "this API key cannot assign a role granting permissions outside its scopes",
                ));
            }
        }
        Ok(role)
    }

    /// 403 when the caller may not create this user (only superusers create superusers;
    /// an API key never does).
    pub fn ensure_may_create(&self, app: &Fastvue, new: &NewUser) -> Result<(), ApiError> {
        if self.key.is_some() && new.is_superuser == Some(true) {
            return Err(ApiError::forbidden("only superusers may set is_superuser"));
        }
        Ok(app.users().ensure_may_create(&self.user, new)?)
    }

    /// 403 when the caller may not change (or, without a patch, deactivate) `target`:
    /// the core escalation rules for the user, and for an API key also never a
    /// superuser, never `is_superuser`, and only accounts holding nothing outside the
    /// key's company and scopes.
    pub async fn ensure_may_change(
        &self,
        app: &Fastvue,
        target: &user::Model,
        patch: Option<&UserPatch>,
    ) -> Result<(), ApiError> {
        app.users()
            .ensure_may_change(&self.user, target, patch)
            .await?;
        if let Some(key) = &self.key {
            let flips_superuser = patch
                .and_then(|p| p.is_superuser)
                .is_some_and(|v| v != target.is_superuser);
            if target.is_superuser || flips_superuser {
                return Err(ApiError::forbidden(
                    "only superusers may change a superuser's account or is_superuser",
                ));
            }
            if !app
                .users()
                .grants_only_within(target.id, key.company_id, &key.scopes)
                .await?
            {
                return Err(ApiError::forbidden(
                    "this account holds permissions outside this API key's scopes",
                ));
            }
        }
        Ok(())
    }
}

/// The client's IP address: the connection's peer, or, when the peer is one of
/// TRUSTED_PROXIES, the client its `X-Forwarded-For` chain names.
pub fn client_ip(req: &Request, depot: &Depot) -> Option<String> {
    let peer = req.remote_addr().clone().into_std()?.ip();
    let Ok(fv) = app(depot) else {
        return Some(peer.to_string());
    };
    let proxies = &fv.settings().trusted_proxies;
    if proxies.is_empty() {
        return Some(peer.to_string());
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(proxies.client_ip(peer, forwarded).to_string())
}

/// Audit context of this request: actor = principal (if any), client IP, request id.
pub fn audit_context(req: &Request, depot: &Depot) -> AuditContext {
    AuditContext {
        actor_id: depot.get_typed::<Principal>().ok().map(Principal::id),
        ip_address: client_ip(req, depot),
        request_id: depot
            .get::<RequestId>(RequestId::KEY)
            .ok()
            .map(|r| r.0.clone()),
    }
}
