//! Who is calling: the `authenticate` hoop turns a bearer access token or a service API
//! key into the core [`Actor`] of the request, and puts it in the depot. Every rule
//! about what that actor may do lives in `fastvue-core` ([`fastvue_core::policy`]); this
//! module only reads the credentials, the `X-Company-ID` header and the client's address
//! from the request.
//!
//! API keys (`Authorization: Bearer fv_live_...` or `X-API-Key: fv_live_...`) act as the
//! key's creator, only in the key's company and only with the key's scopes.
//!
//! Active company: the `X-Company-ID` header when present (a value that is not a
//! positive integer is 400; the core answers 403 for a company the caller may not act
//! in), else the user's current company.
use fastvue_core::auth::TokenError;
use fastvue_core::service::api_keys::is_api_key;
use fastvue_core::{Actor, Fastvue, Origin};
use salvo::http::header;
use salvo::prelude::*;

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::app;

/// Header naming the company a request acts in.
pub const COMPANY_HEADER: &str = "x-company-id";
/// Header carrying a service API key (alternative to `Authorization: Bearer fv_live_...`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The 401 for a token failure (or the mapped core error for anything else).
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

/// The 401 for an API key failure (or the mapped core error for anything else).
fn key_error(err: TokenError) -> ApiError {
    match err {
        TokenError::Expired => ApiError::unauthorized("token_expired", "the API key has expired"),
        TokenError::Core(e) => e.into(),
        _ => ApiError::unauthorized("invalid_token", "the API key is invalid"),
    }
}

/// Hoop: credentials -> the request's [`Actor`] (401 + WWW-Authenticate otherwise).
#[handler]
pub async fn authenticate(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    match resolve(req, depot).await {
        Ok(actor) => {
            depot.insert_typed(actor);
        }
        Err(e) => {
            e.write_to(depot, res);
            ctrl.skip_rest();
        }
    }
}

/// Hoop for routes that only make sense for a person's session (their profile,
/// password, current company, linked accounts): the core refuses API keys (403).
#[handler]
pub async fn reject_api_keys(depot: &mut Depot, res: &mut Response, ctrl: &mut FlowCtrl) {
    let refused = match depot.get_typed::<Actor>() {
        Ok(a) => a.session_user().err(),
        Err(_) => None,
    };
    if let Some(e) = refused {
        ApiError::from(e).write_to(depot, res);
        ctrl.skip_rest();
    }
}

async fn resolve(req: &Request, depot: &Depot) -> Result<Actor, ApiError> {
    let fv = app(depot)?;
    if let Some(key) = presented_key(req)? {
        let actor = fv
            .actors()
            .from_api_key(key, requested_company(req)?)
            .await
            .map_err(key_error)?;
        return Ok(actor.with_origin(origin(req, depot)));
    }
    let token = bearer_token(req)?;
    resolve_token(req, depot, &fv, token).await
}

/// What the `authenticate` hoop does, for a token the route found itself (the permission
/// stream also accepts `?access_token=`).
pub async fn resolve_token(
    req: &Request,
    depot: &Depot,
    fv: &Fastvue,
    token: &str,
) -> Result<Actor, ApiError> {
    let actor = fv
        .actors()
        .from_access_token(token, requested_company(req)?)
        .await
        .map_err(token_error)?;
    Ok(actor.with_origin(origin(req, depot)))
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

/// The caller of this request (401 if the hoop did not run / no token).
pub fn actor(depot: &Depot) -> Result<&Actor, ApiError> {
    depot.get_typed::<Actor>().map_err(|_| missing_token())
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

/// Where this request came from (client IP, request id, user agent), for the audit
/// trail, sessions and sign-in history.
pub fn origin(req: &Request, depot: &Depot) -> Origin {
    Origin {
        ip_address: client_ip(req, depot),
        request_id: depot
            .get::<RequestId>(RequestId::KEY)
            .ok()
            .map(|r| r.0.clone()),
        user_agent: req
            .headers()
            .get(salvo::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(255).collect()),
    }
}
