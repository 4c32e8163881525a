//! `/health` (database and Redis) and `/health/live` (process).
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::app;

/// Body of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `healthy`, `degraded` (Redis down) or `unhealthy` (database down).
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `ok`, `unavailable` or `disabled` (no REDIS_URL).
    pub redis: &'static str,
    /// Server version.
    pub version: &'static str,
    /// ENVIRONMENT.
    pub environment: &'static str,
}

/// `GET /health`: 200 while the database answers, 503 otherwise.
#[handler]
pub async fn health(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let report = fv.health().await;
    let status = match (report.database, report.redis) {
        (false, _) => "unhealthy",
        (true, Some(false)) => "degraded",
        _ => "healthy",
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
        version: env!("CARGO_PKG_VERSION"),
        environment: fv.settings().environment.as_str(),
    }));
    Ok(())
}

/// `GET /health/live`: 200 while the process runs.
#[handler]
pub async fn live(res: &mut Response) {
    res.render(Json(serde_json::json!({ "status": "alive" })));
}
