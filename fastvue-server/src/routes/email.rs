//! `/auth/email`: proving the caller's address. The rules live in
//! `fastvue_core::auth::EmailVerification`.
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{actor, origin};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::json_body;
use crate::routes::password::AcceptedOut;
use crate::state::app;

/// Body of `POST /auth/email/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    /// The token of the mailed link (`/verify-email?token=...`).
    pub token: String,
}

/// Mail the caller a new link proving its (unproven) address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/email/verify-request",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    responses(
        (status = 202, description = "A link is on its way", body = AcceptedOut),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 409, description = "The address is already confirmed", body = ErrorBody),
        (status = 429, description = "Too many mails asked for; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too much mail waiting; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn verify_request(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    fv.email_verification()
        .request(actor(depot)?, &origin(req, depot))
        .await?;
    res.status_code(StatusCode::ACCEPTED);
    res.render(Json(AcceptedOut {
        status: "accepted".into(),
        message: "a confirmation link is on its way".into(),
    }));
    Ok(())
}

/// Prove an address with the token of a mailed link.
#[utoipa::path(
    post,
    path = "/api/v1/auth/email/verify",
    tag = "auth",
    description = "Public (no token): the body carries the link's token.",
    request_body = VerifyIn,
    responses(
        (status = 204, description = "Confirmed"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Unknown, expired or used link, or one sent to an address the account no longer has", body = ErrorBody),
    )
)]
#[handler]
pub async fn verify(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: VerifyIn = json_body(req).await?;
    fv.email_verification()
        .confirm(&origin(req, depot), &input.token)
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The public route, under `/auth/email`.
pub fn public_router() -> Router {
    Router::with_path("email/verify").post(verify)
}

/// The caller's route, under `/auth/email` (behind the session-token hoops).
pub fn own_router() -> Router {
    Router::with_path("email/verify-request").post(verify_request)
}

/// OpenAPI of the `/auth/email` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(verify_request, verify), components(schemas(VerifyIn)))]
pub struct Api;
