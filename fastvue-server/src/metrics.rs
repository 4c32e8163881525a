//! Prometheus metrics: one process-wide recorder, `GET /metrics` renders it.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method` (standard names, else `OTHER`), `route` (matched pattern or `unmatched`), `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route` |
//! | `fastvue_db_pool_connections` | gauge | `state` = `size` \| `idle` \| `in_use` (read at scrape) |
//! | `fastvue_sse_streams` | gauge | open permission streams of the process |
//! | `fastvue_permission_cache_*` | see `fastvue_core::permission::metrics` | |
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use fastvue_core::Fastvue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::prelude::*;

use crate::error::ApiError;
use crate::state::app;

/// Requests answered, by method, route pattern and status.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Request latency in seconds, by method and route pattern.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Database pool connections by `state` (`size`, `idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "fastvue_db_pool_connections";
/// Open `GET /api/v1/auth/me/permissions/stream` streams of the process.
pub const SSE_STREAMS: &str = "fastvue_sse_streams";
/// The `route` label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets (seconds) of [`HTTP_REQUEST_DURATION_SECONDS`].
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the global `metrics` recorder, once per process
/// (later calls return the same handle; many test servers share one process).
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.to_string()),
                LATENCY_BUCKETS,
            )
            .expect("latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
        }
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        Unit::Count,
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HTTP request latency by method and route pattern"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        Unit::Count,
        "Database pool connections by state (size, idle, in_use)"
    );
    describe_gauge!(
        SSE_STREAMS,
        Unit::Count,
        "Open live permission streams (Server-Sent Events) of this process"
    );
    fastvue_core::permission::metrics::describe();
}

/// The `method` label: the standard methods by name, anything else `OTHER` (a client
/// inventing methods must not invent series).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("OTHER")
}

/// The handles of one (method, status) series of a route, made once: formatting labels
/// and looking the series up in the recorder is not repeated per request.
struct Series {
    method: &'static str,
    status: u16,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

/// Series handles by route. Bounded: routes are the router's patterns (and
/// `unmatched`), methods ten names, statuses three digits.
static SERIES: OnceLock<RwLock<HashMap<Box<str>, Vec<Series>>>> = OnceLock::new();

/// Records one answered request. `route` is the matched pattern (never the raw path).
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let record = |s: &Series| {
        s.requests.increment(1);
        s.duration.record(elapsed.as_secs_f64());
    };
    let map = SERIES.get_or_init(RwLock::default);
    let find = |list: &[Series]| {
        list.iter()
            .position(|s| s.method == method && s.status == status)
    };
    {
        let map = map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get(route)
            && let Some(i) = find(list)
        {
            return record(&list[i]);
        }
    }
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    let list = map.entry(route.into()).or_default();
    let i = find(list).unwrap_or_else(|| {
        list.push(Series {
            method,
            status,
            requests: metrics::counter!(
                HTTP_REQUESTS_TOTAL,
                "method" => method,
                "route" => route.to_owned(),
                "status" => status.to_string()
            ),
            duration: metrics::histogram!(
                HTTP_REQUEST_DURATION_SECONDS,
                "method" => method,
                "route" => route.to_owned()
            ),
        });
        list.len() - 1
    });
    record(&list[i]);
}

/// Reads the database pool's connection counts into the pool gauges.
fn record_pool(fv: &Fastvue) {
    let (size, idle) = if fv.settings().is_sqlite() {
        let pool = fv.db().get_sqlite_connection_pool();
        (pool.size(), pool.num_idle())
    } else {
        let pool = fv.db().get_postgres_connection_pool();
        (pool.size(), pool.num_idle())
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    for (state, value) in [
        ("size", size),
        ("idle", idle),
        ("in_use", size.saturating_sub(idle)),
    ] {
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => state).set(f64::from(value));
    }
}

/// `GET /metrics`: Prometheus text exposition (no authentication; keep it off the
/// public internet at the proxy).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    description = "Prometheus metrics (text exposition format). No authentication.",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain"))
)]
#[handler]
pub async fn prometheus(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    record_pool(&fv);
    let body = install().render();
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.write_body(body).map_err(|_| {
        ApiError::new(
            salvo::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    })?;
    Ok(())
}
