//! One tracing span and one access-log line per request, plus the HTTP metrics.
//!
//! Logged: method, matched route pattern, status, latency, request id and the caller's
//! user id when authenticated. Never headers, tokens, query strings or bodies.
use std::time::Instant;

use fastvue_core::Actor;
use salvo::prelude::*;
use tracing::Instrument;

use crate::metrics::{UNMATCHED_ROUTE, record_request};
use crate::request_id::RequestId;

/// The route pattern the request matched (`/api/v1/users/{id}`), or `unmatched`.
pub fn route_label(req: &Request) -> String {
    match req.matched_path() {
        "" => UNMATCHED_ROUTE.to_string(),
        path if path.starts_with('/') => path.to_string(),
        path => format!("/{path}"),
    }
}

/// Wraps the rest of the chain in a `request` span, then logs the outcome and records
/// `http_requests_total` and `http_request_duration_seconds`.
#[handler]
pub async fn access_log(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = route_label(req);
    let request_id = depot
        .get::<RequestId>(RequestId::KEY)
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = %request_id,
        user_id = tracing::field::Empty,
    );
    ctrl.call_next(req, depot, res)
        .instrument(span.clone())
        .await;

    let elapsed = started.elapsed();
    let status = res.status_code.unwrap_or(StatusCode::OK).as_u16();
    let user_id = depot.get_typed::<Actor>().ok().and_then(Actor::user_id);
    if let Some(id) = user_id {
        span.record("user_id", id);
    }
    record_request(&method, &route, status, elapsed);
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request");
        }
    });
}
