//! Service middleware: CORS, security headers, ALLOWED_HOSTS, request ids.
use crate::helpers::{Response, spawn_app, spawn_app_with};

const ADMIN_ORIGIN: &str = "https://admin.example.com";
const STRONG_SECRET: &str = "0123456789abcdef0123456789abcdef-api-test";
const STRONG_JWT_SECRET: &str = "fedcba9876543210fedcba9876543210-api-test";

#[tokio::test]
async fn cors_allows_a_listed_origin_with_credentials() {
    let app = spawn_app_with(&[("BACKEND_CORS_ORIGINS", ADMIN_ORIGIN)]).await;
    let res = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("Origin", ADMIN_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], ADMIN_ORIGIN);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

#[tokio::test]
async fn cors_refuses_an_unlisted_origin() {
    let app = spawn_app_with(&[("BACKEND_CORS_ORIGINS", ADMIN_ORIGIN)]).await;
    let res = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("Origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[tokio::test]
async fn cors_answers_a_preflight_for_a_listed_origin() {
    let app = spawn_app_with(&[("BACKEND_CORS_ORIGINS", ADMIN_ORIGIN)]).await;
    let res = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/auth/login", app.address),
        )
        .header("Origin", ADMIN_ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,x-company-id",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], ADMIN_ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "x-company-id"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(h.get("access-control-max-age").is_some());
}

#[tokio::test]
async fn cors_preflight_from_an_unlisted_origin_gets_no_grant() {
    let app = spawn_app_with(&[("BACKEND_CORS_ORIGINS", ADMIN_ORIGIN)]).await;
    let res = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/auth/login", app.address),
        )
        .header("Origin", "https://evil.example.net")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn no_cors_headers_without_configured_origins() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("Origin", ADMIN_ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

fn assert_security_headers(res: &Response) {
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/health/live",
        "/no/such/route",
        "/openapi.json",
        "/metrics",
    ] {
        let res = app.get(path).await;
        assert_security_headers(&res);
    }
    let wrong_method = app
        .client
        .delete(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert_security_headers(&wrong_method);
}

#[tokio::test]
async fn hsts_is_not_sent_outside_production() {
    let app = spawn_app().await;
    let res = app.get("/health/live").await;
    assert!(res.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn hsts_is_sent_in_production() {
    let app = spawn_app_with(&[
        ("ENVIRONMENT", "production"),
        ("SECRET_KEY", STRONG_SECRET),
        ("JWT_SECRET_KEY", STRONG_JWT_SECRET),
    ])
    .await;
    for path in ["/health/live", "/no/such/route"] {
        let res = app.get(path).await;
        let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
        assert!(hsts.starts_with("max-age="), "{hsts}");
        assert_security_headers(&res);
    }
}

#[tokio::test]
async fn allowed_hosts_refuses_a_foreign_host_with_a_json_400() {
    let app = spawn_app_with(&[("ALLOWED_HOSTS", "api.example.com,127.0.0.1")]).await;
    let res = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .header("Host", "evil.example.net")
        .header("X-Request-ID", "host-check-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["x-request-id"], "host-check-1");
    assert_security_headers(&res);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(body["error"]["request_id"], "host-check-1");
}

#[tokio::test]
async fn allowed_hosts_accepts_listed_hosts_with_any_port() {
    let app = spawn_app_with(&[("ALLOWED_HOSTS", "api.example.com,127.0.0.1")]).await;
    // The client's own Host header is 127.0.0.1:<port>.
    assert_eq!(app.get("/openapi.json").await.status(), 200);
    let res = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .header("Host", "API.example.com:443")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn allowed_hosts_still_answers_health_probes_sent_to_the_replica_address() {
    let app = spawn_app_with(&[("ALLOWED_HOSTS", "api.example.com")]).await;
    for path in ["/health/live", "/health"] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .header("Host", "10.0.0.7:8000")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let res = app
        .client
        .get(format!("{}/api/v1/auth/me", app.address))
        .header("Host", "10.0.0.7:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn allowed_hosts_wildcard_accepts_any_host() {
    let app = spawn_app_with(&[("ALLOWED_HOSTS", "*")]).await;
    let res = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("Host", "anything.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn error_responses_echo_or_generate_the_request_id() {
    let app = spawn_app().await;
    let generated = app.get("/no/such/route").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!id.is_empty());
    let body: serde_json::Value = generated.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], id.as_str());

    let echoed = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("X-Request-ID", "client-chosen-7")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-7");
    let body: serde_json::Value = echoed.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "client-chosen-7");
}
