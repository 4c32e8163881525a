//! Two-factor sign-in: the second step of a sign-in (`/auth/login/2fa`, with enrolment
//! when a company requires it), the caller's own enrolment (`/auth/2fa`), and an
//! administrator's reset (`DELETE /users/{id}/2fa`). The rules live in
//! `fastvue_core::auth::{SignIn, TwoFactor}`.
use chrono::{DateTime, Utc};
use fastvue_core::auth::{Enrolment, Proof};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{actor, origin};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{json_body, path_id};
use crate::routes::auth::TokensOut;
use crate::state::app;

/// Body of `POST /auth/login/2fa`: the pending sign-in and exactly one proof.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorIn {
    /// The `mfa_token` of the first step.
    pub mfa_token: String,
    /// A 6-digit code from the authenticator app.
    pub code: Option<String>,
    /// One of the recovery codes (spent by its use).
    pub recovery_code: Option<String>,
}

/// Body of `POST /auth/login/2fa/setup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingIn {
    /// The `mfa_token` of the first step (an `enrol_required` one).
    pub mfa_token: String,
}

/// Body of `POST /auth/login/2fa/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingConfirmIn {
    /// The `mfa_token` of the first step (an `enrol_required` one).
    pub mfa_token: String,
    /// The first code of the new secret.
    pub code: String,
}

/// Body of `POST /auth/2fa/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmIn {
    /// The first code of the new secret.
    pub code: String,
}

/// Body of `POST /auth/2fa/disable`: the password and exactly one proof.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableIn {
    /// The caller's password.
    pub password: String,
    /// A code from the authenticator app.
    pub code: Option<String>,
    /// One of the recovery codes.
    pub recovery_code: Option<String>,
}

/// Body of `POST /auth/2fa/recovery-codes`: exactly one proof.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofIn {
    /// A code from the authenticator app.
    pub code: Option<String>,
    /// One of the recovery codes.
    pub recovery_code: Option<String>,
}

/// A new secret to add to an authenticator app.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentOut {
    /// The secret in base32, for typing it in.
    pub secret: String,
    /// `otpauth://totp/...`: what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code as an SVG `data:` URI (`<img src=...>`).
    pub qr_svg: String,
}

impl From<Enrolment> for EnrolmentOut {
    fn from(e: Enrolment) -> Self {
        Self {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
            qr_svg: e.qr_svg,
        }
    }
}

/// Fresh recovery codes; they are shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesOut {
    /// Single-use codes (`xxxx-xxxx-xxxx`).
    pub recovery_codes: Vec<String>,
}

/// Tokens of a sign-in that enrolled on its way in, and its recovery codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolledOut {
    /// The new session.
    #[serde(flatten)]
    pub tokens: TokensOut,
    /// Single-use recovery codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// The caller's two-factor state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    /// Sign-in asks for a code.
    pub enabled: bool,
    /// A setup waits for its first code.
    pub pending: bool,
    /// When it was turned on.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Unspent recovery codes.
    pub recovery_codes_left: u64,
    /// A company of the caller requires two-factor sign-in.
    pub required: bool,
}

/// Exactly one of `code` and `recovery_code`, else a 422 naming both.
fn proof<'a>(code: Option<&'a str>, recovery: Option<&'a str>) -> Result<Proof<'a>, ApiError> {
    match (code, recovery) {
        (Some(c), None) => Ok(Proof::Code(c)),
        (None, Some(r)) => Ok(Proof::RecoveryCode(r)),
        _ => Err(fastvue_core::Error::Validation(vec![
            fastvue_core::error::FieldError::new(
                "code",
                "send exactly one of code and recovery_code",
            ),
            fastvue_core::error::FieldError::new(
                "recovery_code",
                "send exactly one of code and recovery_code",
            ),
        ])
        .into()),
    }
}

/// An unknown, expired or spent `mfa_token` (or a user deactivated meanwhile).
fn pending_error(e: fastvue_core::Error) -> ApiError {
    match e {
        fastvue_core::Error::InvalidCredentials => ApiError::unauthorized(
            "invalid_mfa_token",
            "this sign-in is unknown, expired or already completed; sign in again",
        ),
        e => e.into(),
    }
}

/// Complete a sign-in with a code or a recovery code.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login/2fa",
    tag = "auth",
    description = "Public (no token): the body carries the `mfa_token` of `POST /auth/login` (or of a Google sign-in's redirect).",
    request_body = SecondFactorIn,
    responses(
        (status = 200, description = "Signed in", body = TokensOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Unknown, expired or completed mfa_token (`invalid_mfa_token`)", body = ErrorBody),
        (status = 422, description = "Wrong, replayed or spent code, or not exactly one of code and recovery_code", body = ErrorBody),
        (status = 429, description = "Too many attempts from this IP or codes for this account; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn login_second_factor(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: SecondFactorIn = json_body(req).await?;
    let proof = proof(input.code.as_deref(), input.recovery_code.as_deref())?;
    let (user, pair) = fv
        .sign_in()
        .second_factor(&origin(req, depot), &input.mfa_token, proof)
        .await
        .map_err(pending_error)?;
    res.render(Json(TokensOut::new(pair, user)));
    Ok(())
}

/// Start the enrolment a company requires, during sign-in.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login/2fa/setup",
    tag = "auth",
    description = "Public (no token): the body carries an `mfa_token` whose sign-in answered `enrol_required: true`.",
    request_body = PendingIn,
    responses(
        (status = 200, description = "A new secret", body = EnrolmentOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Unknown, expired or completed mfa_token (`invalid_mfa_token`)", body = ErrorBody),
        (status = 422, description = "Missing or unknown field", body = ErrorBody),
        (status = 429, description = "Too many attempts from this IP; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn login_setup(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: PendingIn = json_body(req).await?;
    let enrolment = fv
        .sign_in()
        .enrol_setup(&origin(req, depot), &input.mfa_token)
        .await
        .map_err(pending_error)?;
    res.render(Json(EnrolmentOut::from(enrolment)));
    Ok(())
}

/// Finish the enrolment a company requires and sign in.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login/2fa/confirm",
    tag = "auth",
    description = "Public (no token): the body carries the `mfa_token` and the first code of the new secret.",
    request_body = PendingConfirmIn,
    responses(
        (status = 200, description = "Two-factor sign-in on; signed in", body = EnrolledOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Unknown, expired or completed mfa_token (`invalid_mfa_token`)", body = ErrorBody),
        (status = 409, description = "No setup is pending", body = ErrorBody),
        (status = 422, description = "Wrong code", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn login_confirm(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: PendingConfirmIn = json_body(req).await?;
    let (user, pair, codes) = fv
        .sign_in()
        .enrol_confirm(&origin(req, depot), &input.mfa_token, &input.code)
        .await
        .map_err(pending_error)?;
    res.render(Json(EnrolledOut {
        tokens: TokensOut::new(pair, user),
        recovery_codes: codes,
    }));
    Ok(())
}

/// The caller's two-factor state.
#[utoipa::path(
    get,
    path = "/api/v1/auth/2fa",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    responses(
        (status = 200, description = "Two-factor state", body = StatusOut),
        (status = 401, description = "No or invalid token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn status(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let s = fv.two_factor().status(actor(depot)?).await?;
    res.render(Json(StatusOut {
        enabled: s.enabled,
        pending: s.pending,
        confirmed_at: s.confirmed_at,
        recovery_codes_left: s.recovery_codes_left,
        required: s.required,
    }));
    Ok(())
}

/// Start enrolling: a new secret for an authenticator app (not used until confirmed).
#[utoipa::path(
    post,
    path = "/api/v1/auth/2fa/setup",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    responses(
        (status = 200, description = "A new secret", body = EnrolmentOut),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 409, description = "Two-factor sign-in is already on", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn setup(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let enrolment = fv.two_factor().setup(actor(depot)?).await?;
    res.render(Json(EnrolmentOut::from(enrolment)));
    Ok(())
}

/// Turn two-factor sign-in on with a first code; answers the recovery codes once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/2fa/confirm",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    request_body = ConfirmIn,
    responses(
        (status = 200, description = "On; the recovery codes", body = RecoveryCodesOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 409, description = "No setup is pending", body = ErrorBody),
        (status = 422, description = "Wrong code", body = ErrorBody),
        (status = 429, description = "Too many codes tried; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn confirm(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: ConfirmIn = json_body(req).await?;
    let codes = fv.two_factor().confirm(actor(depot)?, &input.code).await?;
    res.render(Json(RecoveryCodesOut {
        recovery_codes: codes,
    }));
    Ok(())
}

/// Turn two-factor sign-in off (password and a code or recovery code).
#[utoipa::path(
    post,
    path = "/api/v1/auth/2fa/disable",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    request_body = DisableIn,
    responses(
        (status = 204, description = "Off; recovery codes deleted"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 409, description = "Two-factor sign-in is not on", body = ErrorBody),
        (status = 422, description = "Wrong password or code", body = ErrorBody),
        (status = 429, description = "Too many codes tried; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn disable(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: DisableIn = json_body(req).await?;
    let proof = proof(input.code.as_deref(), input.recovery_code.as_deref())?;
    fv.two_factor()
        .disable(actor(depot)?, &input.password, proof)
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// Replace the recovery codes (a code or a recovery code proves it is you).
#[utoipa::path(
    post,
    path = "/api/v1/auth/2fa/recovery-codes",
    tag = "auth",
    description = "Requires a valid access token; no permission.",
    request_body = ProofIn,
    responses(
        (status = 200, description = "New recovery codes; the old ones no longer work", body = RecoveryCodesOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 409, description = "Two-factor sign-in is not on", body = ErrorBody),
        (status = 422, description = "Wrong code", body = ErrorBody),
        (status = 429, description = "Too many codes tried; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn recovery_codes(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: ProofIn = json_body(req).await?;
    let proof = proof(input.code.as_deref(), input.recovery_code.as_deref())?;
    let codes = fv
        .two_factor()
        .regenerate_recovery_codes(actor(depot)?, proof)
        .await?;
    res.render(Json(RecoveryCodesOut {
        recovery_codes: codes,
    }));
    Ok(())
}

/// Turn off another user's two-factor sign-in (a lost device). Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/2fa",
    tag = "users",
    description = "Requires `user.update` over the user, and the account rules of `PATCH /users/{id}` (superusers only by superusers; nobody changes an account holding more than itself).",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Reset (also when it was off)"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Missing permission, the account rules, or your own account", body = ErrorBody),
        (status = 404, description = "No such user in your companies", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn reset(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    fv.two_factor().reset(actor(depot)?, id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The public second-step routes, under `/auth/login`.
pub fn login_router() -> Router {
    Router::with_path("2fa")
        .post(login_second_factor)
        .push(Router::with_path("setup").post(login_setup))
        .push(Router::with_path("confirm").post(login_confirm))
}

/// The caller's own routes, under `/auth` (behind the session-token hoops).
pub fn own_router() -> Router {
    Router::with_path("2fa")
        .get(status)
        .push(Router::with_path("setup").post(setup))
        .push(Router::with_path("confirm").post(confirm))
        .push(Router::with_path("disable").post(disable))
        .push(Router::with_path("recovery-codes").post(recovery_codes))
}

/// The administrator's route, under `/users/{id}` (behind `auth::authenticate`).
pub fn user_router() -> Router {
    Router::with_path("2fa").delete(reset)
}

/// OpenAPI of the two-factor routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        login_second_factor,
        login_setup,
        login_confirm,
        status,
        setup,
        confirm,
        disable,
        recovery_codes,
        reset
    ),
    components(schemas(
        SecondFactorIn,
        PendingIn,
        PendingConfirmIn,
        ConfirmIn,
        DisableIn,
        ProofIn,
        EnrolmentOut,
        RecoveryCodesOut,
        EnrolledOut,
        StatusOut
    ))
)]
pub struct Api;
