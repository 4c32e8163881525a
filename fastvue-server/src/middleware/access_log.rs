//! One access-log line per request, a `request` span around the handling, and the HTTP
//! metrics.
//!
//! Logged: method, matched route pattern, status, latency, request id and the caller's
//! user id when authenticated. Never headers, tokens, query strings or bodies. The span
//! carries only the request id (so every line logged while handling the request names
//! it); the access line carries everything itself and is logged outside the span, so no
//! field is formatted twice.
use std::borrow::Cow;
use std::time::Instant;

use fastvue_core::Actor;
use salvo::prelude::*;
use tracing::Instrument;

use crate::metrics::{UNMATCHED_ROUTE, record_request};
use crate::request_id::RequestId;

/// The route pattern the request matched (`/api/v1/users/{id}`), or `unmatched`.
pub fn route_label(req: &Request) -> Cow<'_, str> {
    match req.matched_path() {
        "" => Cow::Borrowed(UNMATCHED_ROUTE),
        path if path.starts_with('/') => Cow::Borrowed(path),
        path => Cow::Owned(format!("/{path}")),
    }
}

/// Runs the rest of the chain in a `request` span, then logs the outcome and records
/// `http_requests_total` and `http_request_duration_seconds`.
#[handler]
pub async fn access_log(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let started = Instant::now();
    let span = {
        let request_id = depot
            .get::<RequestId>(RequestId::KEY)
            .map(|r| r.0.as_str())
            .unwrap_or_default();
        tracing::info_span!("request", request_id)
    };
    ctrl.call_next(req, depot, res).instrument(span).await;

    let elapsed = started.elapsed();
    let status = res.status_code.unwrap_or(StatusCode::OK).as_u16();
    let method = req.method().as_str();
    let route = route_label(req);
    record_request(method, &route, status, elapsed);
    let request_id = depot
        .get::<RequestId>(RequestId::KEY)
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    let user_id = depot.get_typed::<Actor>().ok().and_then(Actor::user_id);
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    if status >= 500 {
        tracing::error!(
            method,
            route = &*route,
            request_id,
            user_id,
            status,
            latency_ms,
            "request failed"
        );
    } else {
        tracing::info!(
            method,
            route = &*route,
            request_id,
            user_id,
            status,
            latency_ms,
            "request"
        );
    }
}
