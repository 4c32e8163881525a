//! `/health` (database, Redis, invalidation feed) and `/health/live` (process).
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::app;

/// The OpenAPI paths and schemas of this module.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(health, live), components(schemas(Health, Live)))]
pub struct Api;

/// Body of `GET /health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `healthy`, `degraded` (Redis down, or the invalidation feed silent) or
    /// `unhealthy` (database down).
    #[schema(example = "healthy")]
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `ok`, `unavailable` or `disabled` (no REDIS_URL).
    pub redis: &'static str,
    /// The PostgreSQL invalidation feed: `live`, `silent` (permission caching suspended,
    /// checks read the database) or `disabled` (SQLite, or the cache disabled).
    #[schema(example = "live")]
    pub invalidation_feed: &'static str,
    /// Why the status is not `healthy`, one sentence per cause; empty when it is.
    pub reasons: Vec<String>,
    /// Server version.
    pub version: &'static str,
    /// ENVIRONMENT.
    pub environment: &'static str,
}

/// `GET /health`: 200 while the database answers, 503 otherwise.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    description = "Readiness: the database, Redis and the invalidation feed. No authentication.",
    responses(
        (status = 200, description = "The database answers (Redis may be down or the feed silent: `degraded`)", body = Health),
        (status = 503, description = "The database does not answer", body = Health),
    )
)]
#[handler]
pub async fn health(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let report = fv.health().await;
    let reasons = report.reasons();
    let status = if !report.database {
        "unhealthy"
    } else if reasons.is_empty() {
        "healthy"
    } else {
        "degraded"
    };
    res.status_code(if report.database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    });
    res.render(Json(Health {
        status,
        database: if report.database { "ok" } else { "unavailable" },
        redis: match report.redis {
            None => "disabled",
            Some(true) => "ok",
            Some(false) => "unavailable",
        },
        invalidation_feed: match report.feed {
            None => "disabled",
            Some(f) if f.live => "live",
            Some(_) => "silent",
        },
        reasons,
        version: env!("CARGO_PKG_VERSION"),
        environment: fv.settings().environment.as_str(),
    }));
    Ok(())
}

/// Body of `GET /health/live`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Live {
    /// Always `alive`.
    #[schema(example = "alive")]
    pub status: &'static str,
}

/// `GET /health/live`: 200 while the process runs.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    description = "Liveness: answers while the process runs. No authentication.",
    responses((status = 200, description = "The process runs", body = Live))
)]
#[handler]
pub async fn live(res: &mut Response) {
    res.render(Json(Live { status: "alive" }));
}
