//! `/metrics`: Prometheus text with the HTTP, pool and permission-cache series.
//! The recorder is global to the test process, so tests assert presence, not counts.
use std::time::Duration;

use crate::helpers::{TestApp, spawn_app};

async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    res.text().await.unwrap()
}

/// Scrapes until `wanted` shows up (the L1 cache publishes its counters from a ticker).
async fn scrape_until(app: &TestApp, wanted: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(app).await;
        if text.contains(wanted) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{wanted} never appeared in /metrics:\n{text}");
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    let text = scrape(&app).await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health/live",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/health/live""#),
        "{text}"
    );
}

#[tokio::test]
async fn invented_methods_are_counted_as_other_and_never_become_labels() {
    let app = spawn_app().await;
    for method in ["BREW", "PROPFIND", "XYZZY-4711"] {
        let res = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/health/live", app.address),
            )
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{method}: {}", res.status());
    }
    let text = scrape(&app).await;
    assert!(
        text.contains(r#"http_requests_total{method="OTHER""#),
        "{text}"
    );
    for method in ["BREW", "PROPFIND", "XYZZY-4711"] {
        assert!(!text.contains(method), "{method} became a label:\n{text}");
    }
}

#[tokio::test]
async fn metrics_label_routes_by_pattern_never_by_raw_path() {
    let app = spawn_app().await;
    assert_eq!(app.get("/docs/swagger-ui.css").await.status(), 200);
    assert_eq!(app.get("/no/such/route-4711").await.status(), 404);
    let text = scrape(&app).await;
    assert!(
        text.contains(r#"route="/docs/{**rest}",status="200""#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains("swagger-ui.css"), "{text}");
    assert!(!text.contains("route-4711"), "{text}");
}

#[tokio::test]
async fn metrics_show_the_database_pool() {
    let app = spawn_app().await;
    let text = scrape(&app).await;
    for state in ["size", "idle", "in_use"] {
        assert!(
            text.contains(&format!(
                r#"fastvue_db_pool_connections{{state="{state}"}}"#
            )),
            "{text}"
        );
    }
}

#[tokio::test]
async fn metrics_show_the_permission_cache_counters() {
    let app = spawn_app().await;
    let token = app.root_token().await;
    for _ in 0..2 {
        let res = app
            .client
            .get(format!("{}/api/v1/auth/me/permissions", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let text = scrape_until(&app, "fastvue_permission_cache_hits_total").await;
    assert!(
        text.contains("fastvue_permission_cache_misses_total"),
        "{text}"
    );
    assert!(
        text.contains("fastvue_permission_cache_fills_total"),
        "{text}"
    );
    assert!(
        text.contains("# HELP fastvue_permission_cache_hits_total"),
        "{text}"
    );
}
