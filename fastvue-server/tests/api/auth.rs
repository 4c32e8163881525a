//! `/api/v1/auth`: sign-in, tokens, the caller's profile and permissions, company
//! switching, password changes, and the bearer-token hoop every other route uses.
use crate::helpers::Response;
use chrono::Utc;
use fastvue_core::Actor;
use fastvue_core::auth::{JwtCodec, TokenKind};
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::roles::NewRole;
use serde_json::{Value, json};

use crate::helpers::{
    ROOT_LOGIN, ROOT_PASSWORD, TestApp, USER_PASSWORD, spawn_app, spawn_app_with, test_redis_url,
    test_settings,
};

fn url(app: &TestApp, path: &str) -> String {
    format!("{}/api/v1/auth{path}", app.address)
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> Response {
    let mut req = app.client.post(url(app, path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request sent")
}

async fn get(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .get(url(app, path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

async fn me_in(app: &TestApp, token: &str, company: &str) -> Response {
    app.client
        .get(url(app, "/me"))
        .bearer_auth(token)
        .header("x-company-id", company)
        .send()
        .await
        .expect("request sent")
}

async fn login(app: &TestApp, username: &str, password: &str) -> Response {
    post(
        app,
        "/login",
        None,
        json!({ "username": username, "password": password }),
    )
    .await
}

async fn json_of(res: Response) -> Value {
    res.json().await.expect("a JSON body")
}

/// Asserts the status and the error code of an error response.
async fn assert_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status(), status);
    if status == 401 {
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
    let body = json_of(res).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

async fn root_company(app: &TestApp) -> i64 {
    app.fastvue
        .users()
        .find_by_login(ROOT_LOGIN)
        .await
        .unwrap()
        .and_then(|u| u.current_company_id)
        .expect("root has a current company")
}

async fn new_company(app: &TestApp, code: &str) -> i64 {
    app.fastvue
        .companies()
        .create(
            &Actor::system(),
            NewCompany {
                name: format!("{code} Inc"),
                code: code.to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("create company")
        .id
}

/// A login name no other test (nor an earlier run sharing Redis) uses.
fn unique_name() -> String {
    format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

async fn login_pair(app: &TestApp, username: &str) -> Value {
    let res = login(app, username, USER_PASSWORD).await;
    assert_eq!(res.status(), 200);
    json_of(res).await
}

fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A codec signing like a server configured with `vars` (same dev secret unless set).
fn codec(vars: &[(&str, &str)]) -> JwtCodec {
    JwtCodec::from_settings(&test_settings("sqlite::memory:", vars))
}

// --- login -------------------------------------------------------------------

#[tokio::test]
async fn login_returns_a_token_pair_and_the_user_without_its_password_hash() {
    let app = spawn_app().await;
    let res = login(&app, ROOT_LOGIN, ROOT_PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body = json_of(res).await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 30 * 60);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(body["user"]["email"], ROOT_LOGIN);
    assert_eq!(body["user"]["is_superuser"], true);
    assert!(body["user"]["last_login_at"].is_string());
    assert!(body["user"].get("password_hash").is_none(), "{body}");
    assert!(!body.to_string().contains("argon2"));
}

#[tokio::test]
async fn login_accepts_the_username_or_the_email() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    assert_eq!(
        login(&app, &user.username, USER_PASSWORD).await.status(),
        200
    );
    assert_eq!(login(&app, &user.email, USER_PASSWORD).await.status(), 200);
    assert_eq!(
        login(&app, &user.email.to_uppercase(), USER_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_the_same_401() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let unknown = assert_error(
        login(&app, &unique_name(), "whatever-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let wrong = assert_error(
        login(&app, &user.username, "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(unknown["error"]["message"], wrong["error"]["message"]);
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    app.fastvue
        .users()
        .deactivate(&Actor::system(), user.id)
        .await
        .unwrap();
    assert_error(
        login(&app, &user.username, USER_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn login_bodies_are_validated() {
    let app = spawn_app().await;
    let missing = assert_error(
        post(&app, "/login", None, json!({ "username": "x" })).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(missing["error"]["details"][0]["field"], "password");
    let unknown = assert_error(
        post(
            &app,
            "/login",
            None,
            json!({ "username": "x", "password": "y", "remember": true }),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(unknown["error"]["details"][0]["field"], "remember");
    let malformed = app
        .client
        .post(url(&app, "/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_error(malformed, 400, "bad_request").await;
}

#[tokio::test]
async fn repeated_failures_answer_429_with_retry_after_until_the_window_ends() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_MINUTE", "2")]).await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    for _ in 0..2 {
        assert_eq!(
            login(&app, &user.username, "wrong-password").await.status(),
            401
        );
    }
    // Blocked, even with the right password.
    let res = login(&app, &user.username, USER_PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_error(res, 429, "rate_limited").await;
    // Per username: another account from the same IP is not blocked.
    assert_eq!(login(&app, ROOT_LOGIN, ROOT_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_successful_login_clears_the_failure_count() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_MINUTE", "3")]).await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    for _ in 0..2 {
        assert_eq!(
            login(&app, &user.username, "wrong-password").await.status(),
            401
        );
    }
    assert_eq!(
        login(&app, &user.username, USER_PASSWORD).await.status(),
        200
    );
    for _ in 0..2 {
        assert_eq!(
            login(&app, &user.username, "wrong-password").await.status(),
            401
        );
    }
    assert_eq!(
        login(&app, &user.username, USER_PASSWORD).await.status(),
        200
    );
}

// --- the bearer token --------------------------------------------------------

#[tokio::test]
async fn protected_routes_answer_401_without_a_valid_bearer_token() {
    let app = spawn_app().await;
    let none = app.client.get(url(&app, "/me")).send().await.unwrap();
    assert_error(none, 401, "unauthorized").await;
    for value in [
        "Basic cm9vdDpwdw==",
        "Bearer",
        "Bearer ",
        "token abc",
        "Bearer not.a.jwt",
    ] {
        let res = app
            .client
            .get(url(&app, "/me"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{value:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
    }
}

#[tokio::test]
async fn forged_expired_and_misused_tokens_answer_401() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    assert_eq!(get(&app, "/me", &token).await.status(), 200);
    let now = Utc::now();
    let other_secret = codec(&[("JWT_SECRET_KEY", "another-secret-that-is-long-enough-0123")])
        .issue(user.id, TokenKind::Access, now)
        .unwrap()
        .0;
    let hs512 = codec(&[("JWT_ALGORITHM", "HS512")])
        .issue(user.id, TokenKind::Access, now)
        .unwrap()
        .0;
    let expired = app
        .fastvue
        .jwt()
        .issue(user.id, TokenKind::Access, now - chrono::Duration::hours(2))
        .unwrap()
        .0;
    let refresh_as_access = app
        .fastvue
        .jwt()
        .issue(user.id, TokenKind::Refresh, now)
        .unwrap()
        .0;
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(
            json!({"sub": user.id.to_string(), "iat": now.timestamp(),
                   "exp": now.timestamp() + 600, "jti": "x", "type": "access"})
            .to_string()
            .as_bytes()
        )
    );
    let cases = [
        ("bad signature", other_secret, "invalid_token"),
        ("HS512", hs512, "invalid_token"),
        ("alg none", alg_none, "invalid_token"),
        ("refresh as access", refresh_as_access, "invalid_token"),
        ("expired", expired, "token_expired"),
    ];
    for (what, token, code) in cases {
        let res = get(&app, "/me", &token).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{what}");
        let body = json_of(res).await;
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
    }
}

#[tokio::test]
async fn a_deactivated_users_access_token_stops_working_at_once() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    assert_eq!(get(&app, "/me", &token).await.status(), 200);
    app.fastvue
        .users()
        .deactivate(&Actor::system(), user.id)
        .await
        .unwrap();
    assert_error(get(&app, "/me", &token).await, 401, "invalid_token").await;
}

#[tokio::test]
async fn x_company_id_selects_a_member_company_and_refuses_others() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let other = new_company(&app, &unique_name()).await;
    let (_, token) = app.user_with_role(home, "viewer").await;
    let own = me_in(&app, &token, &home.to_string()).await;
    assert_eq!(own.status(), 200);
    assert_eq!(json_of(own).await["active_company_id"], home);
    let foreign = me_in(&app, &token, &other.to_string()).await;
    assert_error(foreign, 403, "forbidden").await;
    assert_error(me_in(&app, &token, "abc").await, 400, "bad_request").await;
    assert_error(me_in(&app, &token, "-3").await, 400, "bad_request").await;
    // A superuser may act in any existing company, not in one that does not exist.
    let root = app.root_token().await;
    let res = me_in(&app, &root, &other.to_string()).await;
    assert_eq!(json_of(res).await["active_company_id"], other);
    assert_error(me_in(&app, &root, "999999").await, 403, "forbidden").await;
}

// --- refresh and logout ------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_and_reusing_the_old_token_revokes_the_session() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let first = login_pair(&app, &user.username).await;
    let old = first["refresh_token"].as_str().unwrap();

    let res = post(&app, "/refresh", None, json!({ "refresh_token": old })).await;
    assert_eq!(res.status(), 200);
    let second = json_of(res).await;
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(second["token_type"], "bearer");
    assert_eq!(second["user"]["id"], user.id);
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(get(&app, "/me", access).await.status(), 200);

    // Reuse of the rotated token: 401, and the successor is revoked with it.
    let reuse = post(&app, "/refresh", None, json!({ "refresh_token": old })).await;
    assert_error(reuse, 401, "invalid_token").await;
    let successor = post(&app, "/refresh", None, json!({ "refresh_token": new })).await;
    assert_error(successor, 401, "invalid_token").await;
}

#[tokio::test]
async fn refresh_refuses_bad_tokens_and_bad_bodies() {
    let app = spawn_app().await;
    let root = app.root_token().await;
    let access_as_refresh = post(&app, "/refresh", None, json!({ "refresh_token": root })).await;
    assert_error(access_as_refresh, 401, "invalid_token").await;
    let garbage = post(&app, "/refresh", None, json!({ "refresh_token": "x.y.z" })).await;
    assert_error(garbage, 401, "invalid_token").await;
    assert_error(
        post(&app, "/refresh", None, json!({})).await,
        422,
        "validation_error",
    )
    .await;
    assert_error(
        post(&app, "/refresh", None, json!({ "refresh_token": 42 })).await,
        422,
        "validation_error",
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_is_idempotent() {
    let app = spawn_app().await;
    let company = root_company(&app).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let pair = login_pair(&app, &user.username).await;
    let refresh = pair["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let res = post(&app, "/logout", None, json!({ "refresh_token": refresh })).await;
        assert_eq!(res.status(), 204);
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let after = post(&app, "/refresh", None, json!({ "refresh_token": refresh })).await;
    assert_error(after, 401, "invalid_token").await;
    let forged = post(&app, "/logout", None, json!({ "refresh_token": "forged" })).await;
    assert_error(forged, 401, "invalid_token").await;
    assert_error(
        post(&app, "/logout", None, json!({ "token": refresh })).await,
        422,
        "validation_error",
    )
    .await;
}

// --- me ----------------------------------------------------------------------

#[tokio::test]
async fn me_lists_the_callers_companies_with_its_roles() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let (user, token) = app.user_with_role(home, "viewer").await;
    let res = get(&app, "/me", &token).await;
    assert_eq!(res.status(), 200);
    let body = json_of(res).await;
    assert_eq!(body["id"], user.id);
    assert_eq!(body["username"], user.username.as_str());
    assert_eq!(body["current_company_id"], home);
    assert_eq!(body["active_company_id"], home);
    assert!(body.get("password_hash").is_none());
    let companies = body["companies"].as_array().unwrap();
    assert_eq!(companies.len(), 1, "{body}");
    assert_eq!(companies[0]["id"], home);
    assert!(companies[0]["name"].is_string());
    assert_eq!(companies[0]["roles"], json!(["viewer"]));
}

// --- me/permissions ----------------------------------------------------------

async fn my_permissions(app: &TestApp, token: &str, query: &str, etag: Option<&str>) -> Response {
    let mut req = app
        .client
        .get(url(app, &format!("/me/permissions{query}")))
        .bearer_auth(token);
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn my_permissions_lists_the_codenames_held_in_the_active_company() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let (user, token) = app.user_with_role(home, "viewer").await;
    let res = my_permissions(&app, &token, "", None).await;
    assert_eq!(res.status(), 200);
    let body = json_of(res).await;
    assert_eq!(body["user_id"], user.id);
    assert_eq!(body["company_id"], home);
    assert_eq!(body["is_superuser"], false);
    let perms: Vec<&str> = body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(perms.contains(&"user.read"), "{perms:?}");
    assert!(!perms.contains(&"user.create"), "{perms:?}");
    let mut sorted = perms.clone();
    sorted.sort_unstable();
    assert_eq!(perms, sorted);
    // The same through ?company_id=.
    let explicit =
        json_of(my_permissions(&app, &token, &format!("?company_id={home}"), None).await).await;
    assert_eq!(explicit, body);
}

#[tokio::test]
async fn my_permissions_of_a_foreign_company_is_403_except_for_superusers() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let other = new_company(&app, &unique_name()).await;
    let (_, token) = app.user_with_role(home, "viewer").await;
    assert_error(
        my_permissions(&app, &token, &format!("?company_id={other}"), None).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        my_permissions(&app, &token, "?company_id=abc", None).await,
        400,
        "bad_request",
    )
    .await;
    let root = app.root_token().await;
    let res = my_permissions(&app, &root, &format!("?company_id={other}"), None).await;
    assert_eq!(res.status(), 200);
    let body = json_of(res).await;
    assert_eq!(body["is_superuser"], true);
    assert!(
        body["permissions"].as_array().unwrap().len() >= 20,
        "{body}"
    );
}

#[tokio::test]
async fn my_permissions_answers_304_for_a_current_etag_and_sees_writes_at_once() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let role = app
        .fastvue
        .roles()
        .create(
            &Actor::system(),
            NewRole {
                name: "Auditor".into(),
                codename: "auditor".into(),
                company_id: Some(home),
                permissions: vec!["audit.read".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (_, token) = app.user_with_role(home, "auditor").await;

    let first = my_permissions(&app, &token, "", None).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    assert_eq!(json_of(first).await["permissions"], json!(["audit.read"]));

    let unchanged = my_permissions(&app, &token, "", Some(&etag)).await;
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"], etag.as_str());
    assert!(unchanged.bytes().await.unwrap().is_empty());
    let weak = my_permissions(&app, &token, "", Some(&format!("W/{etag}"))).await;
    assert_eq!(weak.status(), 304);

    // A write through the core drops the cached set: the very next read shows it.
    app.fastvue
        .roles()
        .set_permissions(
            &Actor::system(),
            role.role.id,
            &["audit.read".to_owned(), "user.read".to_owned()],
        )
        .await
        .unwrap();
    let changed = my_permissions(&app, &token, "", Some(&etag)).await;
    assert_eq!(changed.status(), 200);
    let new_etag = changed.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(
        json_of(changed).await["permissions"],
        json!(["audit.read", "user.read"])
    );
}

// --- switch-company ----------------------------------------------------------

#[tokio::test]
async fn switch_company_moves_a_member_and_refuses_a_stranger() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let other = new_company(&app, &unique_name()).await;
    let (user, token) = app.user_with_role(home, "viewer").await;
    // Not a member of `other` yet.
    assert_error(
        post(
            &app,
            "/switch-company",
            Some(&token),
            json!({ "company_id": other }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let role = app
        .fastvue
        .roles()
        .list(
            &Actor::system(),
            &fastvue_core::service::roles::RoleFilter {
                company_id: Some(other),
                ..Default::default()
            },
            fastvue_core::pagination::PageRequest::new(Some(1), Some(100)).unwrap(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|r| r.codename == "viewer")
        .unwrap();
    app.fastvue
        .assignments()
        .assign(
            &Actor::system(),
            user.id,
            fastvue_core::service::assignments::NewAssignment {
                company_id: other,
                role_id: role.id,
                is_default: false,
                scope: Default::default(),
            },
        )
        .await
        .unwrap();
    let res = post(
        &app,
        "/switch-company",
        Some(&token),
        json!({ "company_id": other }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body = json_of(res).await;
    assert_eq!(body["current_company_id"], other);
    assert!(body.get("password_hash").is_none());
    assert_eq!(
        json_of(get(&app, "/me", &token).await).await["active_company_id"],
        other
    );
    assert_error(
        post(
            &app,
            "/switch-company",
            Some(&token),
            json!({ "company_id": "x" }),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_error(
        post(
            &app,
            "/switch-company",
            None,
            json!({ "company_id": other }),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_superuser_may_switch_to_any_existing_company() {
    let app = spawn_app().await;
    let other = new_company(&app, &unique_name()).await;
    let root = app.root_token().await;
    let res = post(
        &app,
        "/switch-company",
        Some(&root),
        json!({ "company_id": other }),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["current_company_id"], other);
    assert_error(
        post(
            &app,
            "/switch-company",
            Some(&root),
            json!({ "company_id": 999999 }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

// --- change-password ---------------------------------------------------------

#[tokio::test]
async fn change_password_revokes_every_refresh_token() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let (user, token) = app.user_with_role(home, "viewer").await;
    let session = login_pair(&app, &user.username).await;
    let res = post(
        &app,
        "/change-password",
        Some(&token),
        json!({ "current_password": USER_PASSWORD, "new_password": "a-new-password-456" }),
    )
    .await;
    assert_eq!(res.status(), 204);
    let refresh = post(
        &app,
        "/refresh",
        None,
        json!({ "refresh_token": session["refresh_token"] }),
    )
    .await;
    assert_error(refresh, 401, "invalid_token").await;
    assert_error(
        login(&app, &user.username, USER_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        login(&app, &user.username, "a-new-password-456")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn change_password_validates_both_passwords() {
    let app = spawn_app().await;
    let home = root_company(&app).await;
    let (_, token) = app.user_with_role(home, "viewer").await;
    let wrong = assert_error(
        post(
            &app,
            "/change-password",
            Some(&token),
            json!({ "current_password": "not-it-at-all", "new_password": "a-new-password-456" }),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(wrong["error"]["details"][0]["field"], "current_password");
    let weak = assert_error(
        post(
            &app,
            "/change-password",
            Some(&token),
            json!({ "current_password": USER_PASSWORD, "new_password": "short" }),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(weak["error"]["details"][0]["field"], "new_password");
    assert_error(
        post(
            &app,
            "/change-password",
            Some(&token),
            json!({ "new_password": "x" }),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    assert_error(
        post(
            &app,
            "/change-password",
            None,
            json!({ "current_password": USER_PASSWORD, "new_password": "a-new-password-456" }),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

/// Two replicas (each with its own database here) of one deployment sharing one Redis key
/// space, with `limit` set; `None` when the run has no Redis.
async fn replicas_sharing_redis(limit: (&str, &str)) -> Option<(TestApp, TestApp)> {
    let redis = test_redis_url()?;
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let vars = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        limit,
    ];
    Some((spawn_app_with(&vars).await, spawn_app_with(&vars).await))
}

#[tokio::test]
async fn the_failed_login_limit_is_shared_through_redis() {
    let Some((a, b)) = replicas_sharing_redis(("RATE_LIMIT_LOGIN_PER_MINUTE", "2")).await else {
        return;
    };
    let name = unique_name();
    for _ in 0..2 {
        assert_eq!(login(&a, &name, "wrong-password").await.status(), 401);
    }
    assert_eq!(login(&b, &name, "wrong-password").await.status(), 429);
}

async fn login_from(
    app: &TestApp,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> Response {
    app.client
        .post(url(app, "/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_login_limit_counts_per_forwarded_client() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_LOGIN_PER_MINUTE", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1,::1"),
    ])
    .await;
    let name = unique_name();
    for _ in 0..2 {
        let res = login_from(&app, "198.51.100.1", &name, "wrong-password").await;
        assert_eq!(res.status(), 401);
    }
    let blocked = login_from(&app, "198.51.100.1", &name, "wrong-password").await;
    assert_eq!(blocked.status(), 429);
    // Another client behind the same proxy has its own count; a forged left-most entry
    // does not move the first client out of its bucket.
    let other = login_from(&app, "198.51.100.2", &name, "wrong-password").await;
    assert_eq!(other.status(), 401);
    let forged = login_from(&app, "203.0.113.50, 198.51.100.1", &name, "wrong-password").await;
    assert_eq!(forged.status(), 429);
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_cannot_dodge_the_login_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_MINUTE", "2")]).await;
    let name = unique_name();
    for i in 0..2 {
        let res = login_from(&app, &format!("198.51.100.{i}"), &name, "wrong-password").await;
        assert_eq!(res.status(), 401);
    }
    let res = login_from(&app, "198.51.100.77", &name, "wrong-password").await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn every_sign_in_attempt_from_one_ip_counts_so_rotating_usernames_hits_the_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "4")]).await;
    for _ in 0..4 {
        let res = login(&app, &unique_name(), "wrong-password").await;
        assert_eq!(res.status(), 401);
    }
    // A fifth attempt from the same address is refused before any password is checked,
    // whichever username it names and even with the right password.
    let res = login(&app, ROOT_LOGIN, ROOT_PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body = assert_error(res, 429, "rate_limited").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this address"),
        "{body}"
    );
}

#[tokio::test]
async fn the_per_ip_sign_in_limit_counts_each_client_behind_a_trusted_proxy() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1,::1"),
    ])
    .await;
    for _ in 0..2 {
        let res = login_from(&app, "198.51.100.9", &unique_name(), "wrong-password").await;
        assert_eq!(res.status(), 401);
    }
    let blocked = login_from(&app, "198.51.100.9", ROOT_LOGIN, ROOT_PASSWORD).await;
    assert_eq!(blocked.status(), 429);
    let other = login_from(&app, "198.51.100.10", ROOT_LOGIN, ROOT_PASSWORD).await;
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn the_per_ip_sign_in_limit_is_shared_through_redis() {
    let Some((a, b)) = replicas_sharing_redis(("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "2")).await
    else {
        return;
    };
    for _ in 0..2 {
        assert_eq!(
            login(&a, &unique_name(), "wrong-password").await.status(),
            401
        );
    }
    assert_eq!(
        login(&b, &unique_name(), "wrong-password").await.status(),
        429
    );
}
