//! `/auth/password`: "forgot password" by email and the reset itself (public routes).
//! The rules live in `fastvue_core::auth::PasswordReset`.
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::origin;
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::json_body;
use crate::state::app;

/// Body of `POST /auth/password/forgot`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotIn {
    /// The account's email address.
    pub email: String,
}

/// The one answer of `POST /auth/password/forgot`, whatever the address.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedOut {
    /// Always `accepted`.
    pub status: String,
    /// What happens next, for a person to read.
    pub message: String,
}

/// Body of `POST /auth/password/reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetIn {
    /// The token of the mailed link (`/reset-password?token=...`).
    pub token: String,
    /// The new password (8 to 128 characters).
    pub new_password: String,
}

/// Ask for a password-reset link by email.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/forgot",
    tag = "auth",
    description = "Public (no token). Answers the same 202, in the same time, whether or not an account has the address; only an active account with a proven address gets a mail (a link valid 30 minutes, once).",
    request_body = ForgotIn,
    responses(
        (status = 202, description = "Accepted (whatever the address)", body = AcceptedOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Not an email address, or missing or unknown field", body = ErrorBody),
        (status = 429, description = "Too many requests from this IP or for this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too much mail waiting; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn forgot(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: ForgotIn = json_body(req).await?;
    fv.password_reset()
        .request(&origin(req, depot), &input.email)
        .await?;
    res.status_code(StatusCode::ACCEPTED);
    res.render(Json(AcceptedOut {
        status: "accepted".into(),
        message: "if an account has this address, a reset link is on its way".into(),
    }));
    Ok(())
}

/// Set a new password with the token of a reset link; every session of the user ends.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/reset",
    tag = "auth",
    description = "Public (no token): the body carries the link's token.",
    request_body = ResetIn,
    responses(
        (status = 204, description = "Password set; every session of the user ended"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Unknown, expired or used token (on `token`), or a weak new_password", body = ErrorBody),
        (status = 503, description = "Too many passwords being hashed at once; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn reset(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: ResetIn = json_body(req).await?;
    fv.password_reset()
        .reset(&origin(req, depot), &input.token, &input.new_password)
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The `/auth/password` routes, under `/auth`.
pub fn router() -> Router {
    Router::with_path("password")
        .push(Router::with_path("forgot").post(forgot))
        .push(Router::with_path("reset").post(reset))
}

/// OpenAPI of the `/auth/password` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(forgot, reset),
    components(schemas(ForgotIn, AcceptedOut, ResetIn))
)]
pub struct Api;
