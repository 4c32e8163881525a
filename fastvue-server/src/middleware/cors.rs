//! CORS for the origins in `BACKEND_CORS_ORIGINS` (salvo-cors).
use std::sync::Arc;

use fastvue_core::config::Settings;
use salvo::cors::{AllowCredentials, AllowHeaders, AllowOrigin, Cors, CorsHandler, ExposeHeaders};
use salvo::http::Method;
use salvo::http::header::{self, HeaderName, HeaderValue};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_SECS: usize = 600;

/// The CORS middleware, or `None` when no origin is configured (then no response carries
/// CORS headers and browsers refuse cross-origin calls). Listed origins may send
/// credentials (`Access-Control-Allow-Credentials` is sent to them only); there is never
/// a wildcard origin. Preflight requests are answered 204.
pub fn from_settings(settings: &Settings) -> Option<CorsHandler> {
    let origins: Vec<HeaderValue> = settings
        .backend_cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let listed = Arc::new(origins.clone());
    let cors = Cors::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(AllowCredentials::dynamic(move |origin, _, _| {
            origin.is_some_and(|o| listed.contains(o))
        }))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::list([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_NONE_MATCH,
            HeaderName::from_static("x-company-id"),
            HeaderName::from_static("x-request-id"),
            // Sent on reconnect by Server-Sent Events clients (the permission stream).
            HeaderName::from_static("last-event-id"),
        ]))
        .expose_headers(ExposeHeaders::list([
            HeaderName::from_static("x-request-id"),
            header::ETAG,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ]))
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    Some(cors.into_handler())
}
