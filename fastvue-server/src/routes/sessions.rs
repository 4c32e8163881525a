//! Sessions and sign-in history: the caller's own (`/auth/sessions`, `/auth/sign-ins`), a
//! user's (`/users/{id}/sessions`, `/users/{id}/sign-ins`) and a company's members'
//! (`/companies/{id}/sign-ins`). The rules live in
//! `fastvue_core::auth::{Sessions, SignInHistory}`.
use chrono::{DateTime, Utc};
use fastvue_core::auth::Session;
use fastvue_core::entity::sign_in_event;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{actor, bearer_header};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{PageQuery, path_id, query};
use crate::pages::PageOf;
use crate::state::app;

/// One live session (a sign-in and its refreshes).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Session id.
    pub id: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last sign-in or token refresh.
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// Client IP of the last use.
    pub ip_address: Option<String>,
    /// User agent of the last use.
    pub user_agent: Option<String>,
    /// The session of the token that asked.
    pub current: bool,
}

impl From<Session> for SessionOut {
    fn from(s: Session) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip_address: s.ip_address,
            user_agent: s.user_agent,
            current: s.current,
        }
    }
}

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndedOut {
    /// Sessions ended.
    pub ended: u64,
}

/// One sign-in step, successful or not.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInOut {
    /// Id.
    pub id: i64,
    /// The account, when the login named one.
    pub user_id: Option<i64>,
    /// What was typed as the login.
    pub login: String,
    /// `password`, `google`, `totp` or `recovery_code`.
    pub method: String,
    /// Whether the step succeeded.
    pub success: bool,
    /// `signed_in`, `mfa_required`, `enrol_required`, or why it failed
    /// (`invalid_credentials`, `rate_limited`, `wrong_code`).
    pub outcome: String,
    /// Client IP.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<sign_in_event::Model> for SignInOut {
    fn from(e: sign_in_event::Model) -> Self {
        Self {
            id: e.id,
            user_id: e.user_id,
            login: e.login,
            method: e.method,
            success: e.success,
            outcome: e.outcome,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            created_at: e.created_at,
        }
    }
}

fn sessions_out(list: Vec<Session>) -> Vec<SessionOut> {
    list.into_iter().map(SessionOut::from).collect()
}

/// The caller's live sessions, newest first; the current one is marked.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    description = "Requires a valid access token; no permission. At most 200, newest first.",
    responses(
        (status = 200, description = "Live sessions", body = Vec<SessionOut>),
        (status = 401, description = "No or invalid token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn own(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let token = bearer_header(req)?;
    let list = fv.sessions().own(actor(depot)?, token).await?;
    res.render(Json(sessions_out(list)));
    Ok(())
}

/// End one of the caller's sessions.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions/{id}",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended: its refresh token no longer works"),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 404, description = "Not a live session of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn end_own(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = req.param::<String>("id").unwrap_or_default();
    fv.sessions().end_own(actor(depot)?, &id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// Sign out everywhere else: end every session of the caller but the current one.
#[utoipa::path(
    post,
    path = "/api/v1/auth/sessions/end-others",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    responses(
        (status = 200, description = "How many sessions ended", body = EndedOut),
        (status = 401, description = "No or invalid token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn end_others(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let token = bearer_header(req)?.unwrap_or_default();
    let ended = fv.sessions().end_others(actor(depot)?, token).await?;
    res.render(Json(EndedOut { ended }));
    Ok(())
}

/// A user's live sessions.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/sessions",
    tag = "users",
    description = "Requires `user.read` over the user (one of its companies).",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "Live sessions, newest first", body = Vec<SessionOut>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn of_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    let list = fv.sessions().of_user(actor(depot)?, id).await?;
    res.render(Json(sessions_out(list)));
    Ok(())
}

/// End every session of a user. Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/sessions",
    tag = "users",
    description = "Requires `user.update` over the user and the account rules of `PATCH /users/{id}`.",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "How many sessions ended", body = EndedOut),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.update`, or the account rules", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn end_all_of_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    let ended = fv.sessions().end_of_user(actor(depot)?, id, None).await?;
    res.render(Json(EndedOut { ended }));
    Ok(())
}

/// End one session of a user. Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/sessions/{session_id}",
    tag = "users",
    description = "Requires `user.update` over the user and the account rules of `PATCH /users/{id}`.",
    params(
        ("id" = i64, Path, description = "User id"),
        ("session_id" = String, Path, description = "Session id"),
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.update`, or the account rules", body = ErrorBody),
        (status = 404, description = "Unknown user, outside the caller's scope, or no such live session", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn end_one_of_user(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    let session = req.param::<String>("session_id").unwrap_or_default();
    fv.sessions()
        .end_of_user(actor(depot)?, id, Some(&session))
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The caller's sign-in history, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sign-ins",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of sign-in steps", body = PageOf<SignInOut>),
        (status = 400, description = "Malformed query parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 422, description = "Bad page or page_size", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn own_sign_ins(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let page = query::<PageQuery>(req)?.page()?;
    let p = fv.sign_in_history().own(actor(depot)?, page).await?;
    res.render(Json(PageOf::from(p.map(SignInOut::from))));
    Ok(())
}

/// A user's sign-in history, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/sign-ins",
    tag = "users",
    description = "Requires `user.read` over the user (one of its companies).",
    params(("id" = i64, Path, description = "User id"), PageQuery),
    responses(
        (status = 200, description = "A page of sign-in steps", body = PageOf<SignInOut>),
        (status = 400, description = "Malformed id or query parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Bad page or page_size", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn user_sign_ins(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    let page = query::<PageQuery>(req)?.page()?;
    let p = fv
        .sign_in_history()
        .of_user(actor(depot)?, id, page)
        .await?;
    res.render(Json(PageOf::from(p.map(SignInOut::from))));
    Ok(())
}

/// The sign-in history of a company's members, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/companies/{id}/sign-ins",
    tag = "companies",
    description = "Requires `user.read` in the company.",
    params(("id" = i64, Path, description = "Company id"), PageQuery),
    responses(
        (status = 200, description = "A page of sign-in steps", body = PageOf<SignInOut>),
        (status = 400, description = "Malformed id or query parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read` there", body = ErrorBody),
        (status = 422, description = "Bad page or page_size", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn company_sign_ins(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    let page = query::<PageQuery>(req)?.page()?;
    let p = fv
        .sign_in_history()
        .of_company(actor(depot)?, id, page)
        .await?;
    res.render(Json(PageOf::from(p.map(SignInOut::from))));
    Ok(())
}

/// The caller's routes, under `/auth` (behind the session-token hoops).
pub fn own_router() -> Router {
    Router::new()
        .push(
            Router::with_path("sessions")
                .get(own)
                .push(Router::with_path("end-others").post(end_others))
                .push(Router::with_path("{id}").delete(end_own)),
        )
        .push(Router::with_path("sign-ins").get(own_sign_ins))
}

/// The administrator's routes, under `/users/{id}`.
pub fn user_router() -> Router {
    Router::new()
        .push(
            Router::with_path("sessions")
                .get(of_user)
                .delete(end_all_of_user)
                .push(Router::with_path("{session_id}").delete(end_one_of_user)),
        )
        .push(Router::with_path("sign-ins").get(user_sign_ins))
}

/// The company route, under `/companies/{id}`.
pub fn company_router() -> Router {
    Router::with_path("sign-ins").get(company_sign_ins)
}

/// OpenAPI of the session and sign-in history routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        own,
        end_own,
        end_others,
        of_user,
        end_all_of_user,
        end_one_of_user,
        own_sign_ins,
        user_sign_ins,
        company_sign_ins
    ),
    components(schemas(SessionOut, EndedOut, SignInOut))
)]
pub struct Api;
