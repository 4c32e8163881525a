use crate::helpers::{spawn_app, spawn_app_with, test_redis_url};

#[tokio::test]
async fn health_reports_healthy_with_the_database_up() {
    let app = spawn_app().await;
    let res = app.get("/health").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "ok");
    let expected_redis = if test_redis_url().is_some() {
        "ok"
    } else {
        "disabled"
    };
    assert_eq!(body["redis"], expected_redis);
    assert_eq!(body["environment"], "development");
    assert!(body["version"].is_string());
}

#[tokio::test]
async fn health_is_degraded_but_200_when_redis_is_unreachable() {
    let app = spawn_app_with(&[
        ("REDIS_URL", "redis://127.0.0.1:1/"),
        ("REDIS_POOL_TIMEOUT", "1"),
    ])
    .await;
    let res = app.get("/health").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["redis"], "unavailable");
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn liveness_answers_200() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_a_sane_one() {
    let app = spawn_app().await;
    let generated = app.get("/health/live").await;
    assert!(generated.headers().get("x-request-id").is_some());
    let echoed = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("X-Request-ID", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42");
    let hostile = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("X-Request-ID", "a\"b<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(hostile.headers()["x-request-id"], "a\"b<script>");
}

#[tokio::test]
async fn unknown_route_answers_the_json_error_body_with_the_request_id() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/no/such/route", app.address))
        .header("X-Request-ID", "rid-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], "rid-1");
}

#[tokio::test]
async fn a_wrong_method_answers_the_json_error_body_not_a_bare_status() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/health/live", app.address))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(res.headers().get("x-request-id").is_some());
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["request_id"].is_string(), "{body}");
}

/// Runs `fastvue-server healthcheck` (the container HEALTHCHECK) against `port`.
fn healthcheck(port: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fastvue-server"))
        .arg("healthcheck")
        .env("PORT", port)
        .env_remove("DATABASE_URL")
        .env_remove("ENVIRONMENT")
        .output()
        .expect("run fastvue-server healthcheck")
}

#[tokio::test]
async fn the_healthcheck_command_succeeds_against_a_live_server_and_fails_without_one() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let live = tokio::task::spawn_blocking(move || healthcheck(&port))
        .await
        .unwrap();
    assert!(live.status.success(), "{live:?}");
    // A port nothing listens on: bind one, then free it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = free.local_addr().unwrap().port().to_string();
    drop(free);
    let down = tokio::task::spawn_blocking(move || healthcheck(&closed))
        .await
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach"));
}

#[test]
fn the_server_binary_refuses_an_unknown_argument_with_exit_code_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastvue-server"))
        .arg("--bogus")
        .env_remove("DATABASE_URL")
        .env_remove("ENVIRONMENT")
        .output()
        .expect("run fastvue-server");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
}

#[test]
fn the_healthcheck_command_fails_when_the_answer_is_not_200() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0_u8; 512];
        let _ = conn.read(&mut buf);
        conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    });
    let out = healthcheck(&port);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer 200"));
}
