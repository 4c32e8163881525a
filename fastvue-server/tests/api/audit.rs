//! `GET /api/v1/audit-logs`: filters, pagination and tenant scoping.
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::roles::{call, company, custom_permission, get, powerless, role_in};

fn rows(page: &Value) -> &Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
}

#[tokio::test]
async fn an_http_write_is_audited_with_actor_ip_and_request_id() {
    let app = spawn_app().await;
    let a = company(&app, "AUD-A").await;
    let (admin, token) = app.user_with_role(a, "admin").await;
    let res = app
        .client
        .post(format!("{}/api/v1/roles", app.address))
        .bearer_auth(&token)
        .header("X-Request-ID", "audit-trace-1")
        .json(&json!({"name": "Clerk", "codename": "clerk", "company_id": a}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let role: Value = res.json().await.unwrap();

    let path = format!("/audit-logs?entity_type=role&entity_id={}", role["id"]);
    let (status, page) = get(&app, &path, &token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    let row = &rows(&page)[0];
    assert_eq!(row["action"], "create");
    assert_eq!(row["actor_id"], admin.id);
    assert_eq!(row["company_id"], a);
    assert_eq!(row["request_id"], "audit-trace-1");
    assert!(
        row["ip_address"].as_str().is_some_and(|ip| !ip.is_empty()),
        "{row}"
    );
    assert_eq!(row["new_values"]["codename"], "clerk");
    assert!(row["created_at"].is_string());
}

#[tokio::test]
async fn audit_logs_filter_and_page_newest_first() {
    let app = spawn_app().await;
    let a = company(&app, "AUD-A").await;
    let (admin, token) = app.user_with_role(a, "admin").await;
    for codename in ["r1", "r2", "r3"] {
        let body = json!({"name": codename, "codename": codename, "company_id": a});
        assert_eq!(
            call(&app, Method::POST, "/roles", Some(&token), Some(body))
                .await
                .0,
            201
        );
    }
    let (status, page) = get(
        &app,
        &format!("/audit-logs?actor_id={}&page_size=2", admin.id),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["pages"], 2);
    let first = rows(&page);
    assert_eq!(first.len(), 2);
    assert!(first[0]["id"].as_i64() > first[1]["id"].as_i64());
    assert_eq!(first[0]["new_values"]["codename"], "r3");
    let (_, second) = get(
        &app,
        &format!("/audit-logs?actor_id={}&page_size=2&page=2", admin.id),
        &token,
    )
    .await;
    assert_eq!(rows(&second)[0]["new_values"]["codename"], "r1");

    let (_, page) = get(
        &app,
        &format!("/audit-logs?company_id={a}&entity_type=company"),
        &token,
    )
    .await;
    assert!(
        rows(&page)
            .iter()
            .all(|r| r["entity_type"] == "company" && r["company_id"] == a)
    );
    assert_eq!(get(&app, "/audit-logs?entity_id=abc", &token).await.0, 400);
    assert_eq!(get(&app, "/audit-logs?page_size=101", &token).await.0, 422);
}

#[tokio::test]
async fn audit_logs_scroll_newest_first_with_a_cursor_unshifted_by_new_rows() {
    let app = spawn_app().await;
    let a = company(&app, "AUD-C").await;
    let (admin, token) = app.user_with_role(a, "admin").await;
    let create = |codename: &'static str| {
        let body = json!({"name": codename, "codename": codename, "company_id": a});
        call(&app, Method::POST, "/roles", Some(&token), Some(body))
    };
    for codename in ["c1", "c2", "c3"] {
        assert_eq!(create(codename).await.0, 201);
    }
    let path = format!("/audit-logs?actor_id={}&page_size=2", admin.id);
    let (status, first) = get(&app, &format!("{path}&cursor="), &token).await;
    assert_eq!(status, 200, "{first}");
    let codenames = |page: &Value| -> Vec<String> {
        rows(page)
            .iter()
            .map(|r| {
                r["new_values"]["codename"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(codenames(&first), ["c3", "c2"]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("one more row")
        .to_owned();
    // A row written meanwhile lands before the first page, not in the next one.
    assert_eq!(create("c4").await.0, 201);
    let (_, second) = get(&app, &format!("{path}&cursor={cursor}"), &token).await;
    assert_eq!(codenames(&second), ["c1"]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(get(&app, &format!("{path}&cursor=x"), &token).await.0, 422);
}

#[tokio::test]
async fn audit_logs_are_scoped_to_the_callers_companies() {
    let app = spawn_app().await;
    let a = company(&app, "AUD-A").await;
    let b = company(&app, "AUD-B").await;
    let mine = role_in(&app, Some(a), "mine", &[]).await;
    let theirs = role_in(&app, Some(b), "theirs", &[]).await;
    let perm = custom_permission(&app, "report.export").await;
    let (_, manager) = app.user_with_role(a, "manager").await;

    let (status, page) = get(&app, "/audit-logs?page_size=100", &manager).await;
    assert_eq!(status, 200, "{page}");
    let seen = rows(&page);
    assert!(seen.iter().all(|r| r["company_id"] == a), "{page}");
    assert!(
        seen.iter()
            .any(|r| r["entity_type"] == "role" && r["entity_id"] == mine.id)
    );
    let (_, page) = get(
        &app,
        &format!("/audit-logs?entity_type=role&entity_id={}", theirs.id),
        &manager,
    )
    .await;
    assert_eq!(page["total"], 0);
    let (_, page) = get(
        &app,
        &format!("/audit-logs?entity_type=permission&entity_id={}", perm.id),
        &manager,
    )
    .await;
    assert_eq!(
        page["total"], 0,
        "rows without a company are for superusers"
    );
    let (status, body) = get(&app, &format!("/audit-logs?company_id={b}"), &manager).await;
    assert_eq!(status, 404, "{body}");

    let root = app.root_token().await;
    let (_, page) = get(
        &app,
        &format!("/audit-logs?entity_type=role&entity_id={}", theirs.id),
        &root,
    )
    .await;
    assert_eq!(page["total"], 1);
    let (_, page) = get(
        &app,
        &format!("/audit-logs?entity_type=permission&entity_id={}", perm.id),
        &root,
    )
    .await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn audit_logs_need_a_token_and_audit_read() {
    let app = spawn_app().await;
    let a = company(&app, "AUD-A").await;
    let (status, body) = call(&app, Method::GET, "/audit-logs", None, None).await;
    assert_eq!(status, 401, "{body}");
    let (_, nobody) = powerless(&app, a).await;
    let (status, body) = get(&app, "/audit-logs", &nobody).await;
    assert_eq!(status, 403, "{body}");
}
