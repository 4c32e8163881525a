//! Sessions (`/auth/sessions`, `/users/{id}/sessions`) and sign-in history
//! (`/auth/sign-ins`, `/users/{id}/sign-ins`, `/companies/{id}/sign-ins`) over HTTP.
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app};
use crate::two_factor::{code, enrol};
use crate::users::{delete, get, new_company, post, send};

/// Signs in with a user agent; the token body.
async fn sign_in_as(app: &TestApp, login: &str, agent: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("User-Agent", agent)
        .json(&json!({ "username": login, "password": USER_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> u16 {
    send(
        app,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({ "refresh_token": refresh_token })),
    )
    .await
    .0
}

#[tokio::test]
async fn sessions_list_the_callers_sign_ins_mark_the_current_one_and_end_on_request() {
    let app = spawn_app().await;
    let company = new_company(&app, "SES1", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let a = sign_in_as(&app, &user.username, "browser-A").await;
    let b = sign_in_as(&app, &user.username, "browser-B").await;
    let token_a = a["access_token"].as_str().unwrap();

    let (status, list) = get(&app, "/auth/sessions", token_a).await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap().clone();
    // The helper's own sign-in is a third session.
    assert_eq!(list.len(), 3, "{list:?}");
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "browser-A");
    assert_eq!(current[0]["ip_address"], "127.0.0.1");
    let session_b = list
        .iter()
        .find(|s| s["user_agent"] == "browser-B")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, _) = delete(&app, &format!("/auth/sessions/{session_b}"), token_a).await;
    assert_eq!(status, 204);
    assert_eq!(refresh(&app, &b["refresh_token"]).await, 401, "B ended");
    let (status, _) = delete(&app, &format!("/auth/sessions/{session_b}"), token_a).await;
    assert_eq!(status, 404, "already ended");
    let (status, _) = delete(&app, "/auth/sessions/no-such-session", token_a).await;
    assert_eq!(status, 404);
    // Another user's session is not yours to end.
    let (other, other_token) = app.user_with_role(company, "viewer").await;
    let (_, theirs) = get(&app, "/auth/sessions", &other_token).await;
    let their_id = theirs[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = delete(&app, &format!("/auth/sessions/{their_id}"), token_a).await;
    assert_eq!(status, 404);
    let (_, still) = get(
        &app,
        &format!("/users/{}/sessions", other.id),
        &app.root_token().await,
    )
    .await;
    assert_eq!(still.as_array().unwrap().len(), 1);
    // A refresh keeps the session and records its last use.
    assert_eq!(refresh(&app, &a["refresh_token"]).await, 200);
    let (_, after) = get(&app, "/auth/sessions", token_a).await;
    let same = after
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(same["id"], current[0]["id"]);
    assert!(same["last_used_at"].as_str() >= current[0]["last_used_at"].as_str());
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_only_the_current_session() {
    let app = spawn_app().await;
    let company = new_company(&app, "SES2", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let a = sign_in_as(&app, &user.username, "A").await;
    let b = sign_in_as(&app, &user.username, "B").await;
    let token_a = a["access_token"].as_str().unwrap();
    let (status, body) = post(&app, "/auth/sessions/end-others", token_a, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ended"], 2);
    let (_, list) = get(&app, "/auth/sessions", token_a).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["current"], true);
    assert_eq!(refresh(&app, &b["refresh_token"]).await, 401);
    assert_eq!(refresh(&app, &a["refresh_token"]).await, 200);
}

#[tokio::test]
async fn an_administrator_lists_and_ends_a_users_sessions_under_the_account_rules() {
    let app = spawn_app().await;
    let company = new_company(&app, "SES3", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let (_, admin_token) = app.user_with_role(company, "admin").await;
    let (_, viewer_token) = app.user_with_role(company, "viewer").await;
    let s = sign_in_as(&app, &user.username, "phone").await;
    let path = format!("/users/{}/sessions", user.id);

    let (status, list) = get(&app, &path, &admin_token).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|s| s["current"] == false)
    );
    let (status, _) = delete(&app, &path, &viewer_token).await;
    assert_eq!(status, 403, "a viewer may read but not end");
    let other = new_company(&app, "SES3X", None).await;
    let (stranger, _) = app.user_with_role(other, "viewer").await;
    let (status, _) = get(
        &app,
        &format!("/users/{}/sessions", stranger.id),
        &admin_token,
    )
    .await;
    assert_eq!(status, 404);

    let one = list[0]["id"].as_str().unwrap();
    let (status, _) = delete(&app, &format!("{path}/{one}"), &admin_token).await;
    assert_eq!(status, 204);
    let (status, body) = delete(&app, &path, &admin_token).await;
    assert_eq!(status, 200);
    assert_eq!(body["ended"], 1);
    assert_eq!(refresh(&app, &s["refresh_token"]).await, 401);
    let (_, list) = get(&app, &path, &admin_token).await;
    assert!(list.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn every_sign_in_success_and_failure_is_in_the_history() {
    let app = spawn_app().await;
    let company = new_company(&app, "SES4", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let (_, admin_token) = app.user_with_role(company, "admin").await;
    let (secret, _) = enrol(&app, &token).await;
    let login = |password: &'static str| json!({ "username": user.username, "password": password });
    let (status, _) = send(
        &app,
        Method::POST,
        "/auth/login",
        None,
        Some(login("wrong-password-9")),
    )
    .await;
    assert_eq!(status, 401);
    let (_, first) = send(
        &app,
        Method::POST,
        "/auth/login",
        None,
        Some(login(USER_PASSWORD)),
    )
    .await;
    let mfa = first["mfa_token"].as_str().unwrap();
    let (status, _) = send(
        &app,
        Method::POST,
        "/auth/login/2fa",
        None,
        Some(json!({ "mfa_token": mfa, "code": "000000" })),
    )
    .await;
    assert_eq!(status, 422);
    let (status, done) = send(
        &app,
        Method::POST,
        "/auth/login/2fa",
        None,
        Some(json!({ "mfa_token": mfa, "code": code(&secret, 1) })),
    )
    .await;
    assert_eq!(status, 200);
    let fresh = done["access_token"].as_str().unwrap();

    let (status, page) = get(&app, "/auth/sign-ins?page_size=4", fresh).await;
    assert_eq!(status, 200, "{page}");
    let steps: Vec<(String, bool, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["success"].as_bool().unwrap(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("totp", true, "signed_in"),
        ("totp", false, "wrong_code"),
        ("password", true, "mfa_required"),
        ("password", false, "invalid_credentials"),
    ];
    assert_eq!(
        steps,
        expected.map(|(m, s, o)| (m.to_owned(), s, o.to_owned())),
        "newest first"
    );
    assert!(page["items"][0]["ip_address"].is_string());

    let (status, page) = get(&app, &format!("/users/{}/sign-ins", user.id), &admin_token).await;
    assert_eq!(status, 200);
    assert!(page["total"].as_u64().unwrap() >= 5);
    let (status, page) = get(
        &app,
        &format!("/companies/{company}/sign-ins"),
        &admin_token,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["user_id"] == user.id)
    );
    let other = new_company(&app, "SES4X", None).await;
    let (status, _) = get(&app, &format!("/companies/{other}/sign-ins"), &admin_token).await;
    assert_eq!(status, 403, "another tenant's history");
    let (status, _) = get(&app, "/auth/sign-ins?page_size=1000", fresh).await;
    assert_eq!(status, 422);
}
