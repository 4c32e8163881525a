//! Who is calling: the `authenticate` hoop turns a bearer access token into a
//! [`Principal`] in the depot, resolves the request's active company, and offers the
//! permission guards the routes use.
//!
//! Active company: the `X-Company-ID` header when present (the caller must hold an
//! active role there, or be a superuser and the company must exist; otherwise 403; a
//! value that is not a positive integer is 400), else the user's `current_company_id`,
//! else (for a regular user without one) the first company where it holds an active role.
use fastvue_core::Fastvue;
use fastvue_core::auth::TokenError;
use fastvue_core::entity::user;
use fastvue_core::service::audit::AuditContext;
use salvo::http::header;
use salvo::prelude::*;

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::app;

/// Header naming the company a request acts in.
pub const COMPANY_HEADER: &str = "x-company-id";

/// The authenticated caller, put in the Depot by `authenticate`.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller, as loaded for this request (active).
    pub user: user::Model,
    /// The company this request acts in, if any.
    pub company_id: Option<i64>,
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

async fn resolve(req: &Request, depot: &Depot) -> Result<Principal, ApiError> {
    let fv = app(depot)?;
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
    Ok(Principal { user, company_id })
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

    /// Whether the caller is a superuser.
    pub fn is_superuser(&self) -> bool {
        self.user.is_superuser
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

    /// Whether the caller holds `codename` in `company_id` (superuser: true).
    pub async fn can(
        &self,
        app: &Fastvue,
        company_id: i64,
        codename: &str,
    ) -> Result<bool, ApiError> {
        if self.is_superuser() {
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
}

/// The client's IP address (the peer of the connection).
pub fn client_ip(req: &Request) -> Option<String> {
    req.remote_addr()
        .clone()
        .into_std()
        .map(|a| a.ip().to_string())
}

/// Audit context of this request: actor = principal (if any), client IP, request id.
pub fn audit_context(req: &Request, depot: &Depot) -> AuditContext {
    AuditContext {
        actor_id: depot.get_typed::<Principal>().ok().map(Principal::id),
        ip_address: client_ip(req),
        request_id: depot
            .get::<RequestId>(RequestId::KEY)
            .ok()
            .map(|r| r.0.clone()),
    }
}
