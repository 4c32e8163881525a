//! The error body for everything a client can get wrong: bad JSON, oversized bodies,
//! wrong types, unknown routes and methods. Never a 500.
use crate::helpers::{Response, spawn_app};

async fn post_login(app: &crate::helpers::TestApp, content_type: &str, body: Vec<u8>) -> Response {
    app.client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request sent")
}

async fn error_of(res: Response) -> serde_json::Value {
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        res.headers()
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"]["request_id"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn malformed_json_answers_400_bad_request() {
    let app = spawn_app().await;
    for body in [
        &b"{\"username\": "[..],
        b"not json",
        b"{\"username\": \"a\", \"password\": \"b\"} trailing",
    ] {
        let res = post_login(&app, "application/json", body.to_vec()).await;
        assert_eq!(res.status(), 400);
        assert_eq!(error_of(res).await["code"], "bad_request");
    }
}

#[tokio::test]
async fn an_empty_body_or_a_non_json_content_type_answers_400() {
    let app = spawn_app().await;
    let res = post_login(&app, "application/json", Vec::new()).await;
    assert_eq!(res.status(), 400);
    let res = post_login(
        &app,
        "text/plain",
        br#"{"username":"a","password":"b"}"#.to_vec(),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_of(res).await["code"], "bad_request");
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_answer_422_naming_the_field() {
    let app = spawn_app().await;
    for (body, field, code) in [
        (r#"{"username": 5, "password": "x"}"#, "username", "type"),
        (
            r#"{"username": "root@example.com"}"#,
            "password",
            "required",
        ),
        (
            r#"{"username": "root@example.com", "password": "x", "is_superuser": true}"#,
            "is_superuser",
            "unknown_field",
        ),
    ] {
        let res = post_login(&app, "application/json", body.as_bytes().to_vec()).await;
        assert_eq!(res.status(), 422, "{body}");
        let error = error_of(res).await;
        assert_eq!(error["code"], "validation_error", "{body}");
        assert_eq!(error["details"][0]["field"], field, "{body}");
        assert_eq!(error["details"][0]["code"], code, "{body}");
        assert!(error["details"][0]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn field_errors_carry_a_machine_code_and_its_parameters_for_translation() {
    let app = spawn_app().await;
    let token = app.root_token().await;
    let create = |body: serde_json::Value| {
        app.client
            .post(format!("{}/api/v1/users", app.address))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let res = create(serde_json::json!({
        "email": "not-an-email", "username": "ab", "password": "short"
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let error = error_of(res).await;
    let details = error["details"].as_array().unwrap();
    let by_field = |f: &str| {
        details
            .iter()
            .find(|d| d["field"] == f)
            .unwrap_or_else(|| panic!("no {f} in {error}"))
            .clone()
    };
    assert_eq!(by_field("email")["code"], "email");
    let username = by_field("username");
    assert_eq!(username["code"], "length");
    assert_eq!(
        username["params"],
        serde_json::json!({"min": 3, "max": 100})
    );
    assert_eq!(username["message"], "must be 3 to 100 characters");
    assert_eq!(by_field("password")["params"]["min"], 8);

    // A taken value: 409 with the field and `taken`.
    let res = create(serde_json::json!({
        "email": "root@example.com", "username": "someone-new", "password": "long-enough-1"
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), 409);
    let error = error_of(res).await;
    assert_eq!(error["details"][0]["field"], "email");
    assert_eq!(error["details"][0]["code"], "taken");

    // An unknown reference names the value.
    let res = app
        .client
        .post(format!("{}/api/v1/roles", app.address))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"name": "R", "codename": "r-unknown", "company_id": 1,
                                  "permissions": ["no.such"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let error = error_of(res).await;
    assert_eq!(error["details"][0]["field"], "permissions");
    assert_eq!(error["details"][0]["code"], "unknown");
    assert_eq!(error["details"][0]["params"]["value"], "no.such");
    // A list parameter out of range.
    let res = app
        .client
        .get(format!("{}/api/v1/users?page_size=100000", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let error = error_of(res).await;
    assert_eq!(error["details"][0]["code"], "range");
    assert_eq!(error["details"][0]["params"]["min"], 1);
    let res = app
        .client
        .get(format!("{}/api/v1/users?sort=password_hash", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(error_of(res).await["details"][0]["field"], "sort");
}

#[tokio::test]
async fn every_bad_field_of_a_body_is_listed_at_once_by_field_name_and_nothing_is_written() {
    let app = spawn_app().await;
    let token = app.root_token().await;
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        app.client
            .request(method, format!("{}/api/v1{path}", app.address))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let get = |path: &str| {
        app.client
            .get(format!("{}/api/v1{path}", app.address))
            .bearer_auth(&token)
            .send()
    };
    let fields = |error: &serde_json::Value| -> Vec<(String, String)> {
        error["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["field"].as_str().unwrap().to_owned(),
                    d["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let long = "d".repeat(2_001);

    // A role: three bad fields, one answer; no role is written.
    let res = send(
        reqwest::Method::POST,
        "/roles",
        serde_json::json!({"name": " ", "codename": "Bad Code", "company_id": 1,
                           "description": long}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let error = error_of(res).await;
    assert_eq!(
        fields(&error),
        [
            ("codename".to_owned(), "characters".to_owned()),
            ("description".to_owned(), "length".to_owned()),
            ("name".to_owned(), "required".to_owned()),
        ],
        "{error}"
    );
    let description = &error["details"][1];
    assert_eq!(description["params"], serde_json::json!({"max": 2000}));
    assert!(
        !error.to_string().contains("dddd"),
        "the value is never echoed: {error}"
    );
    let res = get("/roles?search=Bad").await.unwrap();
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["total"], 0);

    // A menu entry: a range, a list cap and a custom rule together.
    let many: Vec<String> = (0..17).map(|i| format!("user.p{i}")).collect();
    let res = send(
        reqwest::Method::POST,
        "/menus",
        serde_json::json!({"company_id": 1, "name": "ok-name", "title": "T", "order": 100_001,
                           "icon": "<svg>", "permissions": many}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let error = error_of(res).await;
    assert_eq!(
        fields(&error),
        [
            ("icon".to_owned(), "characters".to_owned()),
            ("order".to_owned(), "range".to_owned()),
            ("permissions".to_owned(), "too_many".to_owned()),
        ],
        "{error}"
    );
    assert_eq!(
        error["details"][1]["params"],
        serde_json::json!({"min": -100_000, "max": 100_000})
    );
    assert_eq!(
        error["details"][2]["params"],
        serde_json::json!({"max": 16})
    );

    // A patch is checked by the same rules, and leaves the row as it was.
    let res = send(
        reqwest::Method::POST,
        "/groups",
        serde_json::json!({"name": "Ops", "codename": "ops", "company_id": 1,
                           "description": "kept"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let res = send(
        reqwest::Method::PATCH,
        &format!("/groups/{id}"),
        serde_json::json!({"name": "Renamed", "description": long}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let res = get(&format!("/groups/{id}")).await.unwrap();
    let group: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (group["name"].as_str(), group["description"].as_str()),
        (Some("Ops"), Some("kept"))
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_answers_413_json() {
    let app = spawn_app().await;
    let padding = "x".repeat(1024 * 1024 + 16);
    let body = format!(r#"{{"username": "{padding}", "password": "x"}}"#);
    let res = post_login(&app, "application/json", body.into_bytes()).await;
    assert_eq!(res.status(), 413);
    assert_eq!(error_of(res).await["code"], "payload_too_large");
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_read() {
    let app = spawn_app().await;
    let padding = "x".repeat(1024 * 1000);
    let body = format!(r#"{{"username": "{padding}", "password": "x"}}"#);
    let res = post_login(&app, "application/json", body.into_bytes()).await;
    assert_ne!(res.status(), 413);
    assert!(res.status().is_client_error(), "{}", res.status());
}

#[tokio::test]
async fn a_bad_query_parameter_answers_400_naming_it() {
    let app = spawn_app().await;
    let token = app.root_token().await;
    let res = app
        .client
        .get(format!(
            "{}/api/v1/auth/me/permissions?company_id=abc",
            app.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let error = error_of(res).await;
    assert_eq!(error["code"], "bad_request");
    assert_eq!(error["details"][0]["field"], "company_id");
}

#[tokio::test]
async fn an_unknown_api_route_answers_404_json() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/no-such-resource/1").await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_of(res).await["code"], "not_found");
}

#[tokio::test]
async fn a_wrong_method_answers_405_json() {
    let app = spawn_app().await;
    let res = app
        .client
        .put(format!("{}/health/live", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(error_of(res).await["code"], "method_not_allowed");
}

/// Sends a chunked POST of `total` bytes over a raw connection; returns the status line
/// and the body of the answer.
fn post_chunked(address: &str, path: &str, total: usize) -> (String, String) {
    use std::io::{Read, Write};
    let authority = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority).expect("connects");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    // The server may answer and stop reading before everything is sent.
    let _ = (|| -> std::io::Result<()> {
        stream.write_all(head.as_bytes())?;
        while sent < total {
            write!(stream, "{:x}\r\n", chunk.len())?;
            stream.write_all(&chunk)?;
            stream.write_all(b"\r\n")?;
            sent += chunk.len();
        }
        stream.write_all(b"0\r\n\r\n")
    })();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_chunked_body_over_one_mebibyte_answers_413_json() {
    let app = spawn_app().await;
    let address = app.address.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        post_chunked(&address, "/api/v1/auth/login", 2 * 1024 * 1024)
    })
    .await
    .unwrap();
    app.scan_body("a chunked POST /api/v1/auth/login", body.as_bytes());
    assert!(status.contains(" 413 "), "{status}");
    assert!(body.contains("payload_too_large"), "{body}");
}

#[tokio::test]
async fn a_page_beyond_the_largest_database_offset_answers_an_empty_page_not_a_dropped_connection()
{
    let app = spawn_app().await;
    let token = app.root_token().await;
    for list in [
        "users",
        "companies",
        "roles",
        "permissions",
        "groups",
        "audit-logs",
    ] {
        for page in ["9223372036854775808", "18446744073709551615"] {
            let res = app
                .client
                .get(format!("{}/api/v1/{list}?page={page}", app.address))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{list}?page={page}: {e}"));
            assert_eq!(res.status(), 200, "{list}?page={page}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["items"], serde_json::json!([]), "{list}: {body}");
        }
    }
}
