//! `/api/v1/api-keys` and authenticating with a service API key.
use chrono::{Duration, Utc};
use fastvue_core::Actor;
use fastvue_core::entity::api_key;
use fastvue_core::service::companies::CompanyPatch;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::roles::{call, company, get, role_in};

/// Creates a key through `POST /api-keys` as `token`; returns (id, full key, body).
pub(crate) async fn create_key(app: &TestApp, token: &str, body: Value) -> (i64, String, Value) {
    let (status, created) = call(app, Method::POST, "/api-keys", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"]
        .as_str()
        .expect("key in the answer")
        .to_owned();
    (created["id"].as_i64().unwrap(), key, created)
}

/// A key of an `admin` of a new company with `scopes`; returns (company, admin token, key id, key).
async fn admin_key(app: &TestApp, code: &str, scopes: &[&str]) -> (i64, String, i64, String) {
    let c = company(app, code).await;
    let (_, admin) = app.user_with_role(c, "admin").await;
    let (id, key, _) = create_key(
        app,
        &admin,
        json!({"name": format!("{code} service"), "scopes": scopes}),
    )
    .await;
    (c, admin, id, key)
}

/// `method path` with the key in `X-API-Key` and optional extra headers.
async fn with_header(
    app: &TestApp,
    path: &str,
    key: &str,
    extra: &[(&str, String)],
) -> crate::helpers::Response {
    let mut req = app
        .client
        .get(format!("{}/api/v1{path}", app.address))
        .header("X-API-Key", key);
    for (name, value) in extra {
        req = req.header(name, value);
    }
    req.send().await.expect("request sent")
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn creation_answers_the_full_key_once_in_the_documented_format() {
    let app = spawn_app().await;
    let (c, _, id, key) = admin_key(&app, "KEY-FMT", &["user.read"]).await;
    let rest = key.strip_prefix("fv_live_").expect("fv_live_ prefix");
    let (prefix, secret) = rest.split_at(8);
    assert!(
        prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(secret.len(), 44, "_ then 43 base64url characters: {key}");
    let root = app.root_token().await;
    let (status, body) = get(&app, &format!("/api-keys/{id}"), &root).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["prefix"], prefix);
    assert_eq!(body["company_id"], c);
    assert_eq!(body["scopes"], json!(["user.read"]));
    assert!(body.get("key").is_none() && body.get("secret_hash").is_none());
}

#[tokio::test]
async fn a_key_reads_what_its_scopes_allow_and_nothing_else() {
    let app = spawn_app().await;
    let (c, _, _, key) = admin_key(&app, "KEY-SCOPE", &["user.read"]).await;
    let (status, page) = get(&app, "/users", &key).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["total"].as_u64().unwrap() >= 1);
    for path in ["/groups", "/roles", "/api-keys", "/audit-logs"] {
        let (status, body) = get(&app, path, &key).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    // The admin's other permissions in the same company do not leak to the key.
    let (status, _) = call(
        &app,
        Method::POST,
        "/groups",
        Some(&key),
        Some(json!({"name": "G", "codename": "g", "company_id": c})),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_key_sees_other_companies_as_not_found_and_refuses_their_company_header() {
    let app = spawn_app().await;
    let (a, _, _, key) = admin_key(&app, "KEY-XA", &["user.read", "company.read"]).await;
    let b = company(&app, "KEY-XB").await;
    let (b_user, _) = app.user_with_role(b, "viewer").await;
    let (status, _) = get(&app, &format!("/users/{}", b_user.id), &key).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &format!("/companies/{b}"), &key).await;
    assert_eq!(status, 404);
    let (status, page) = get(&app, &format!("/users?company_id={b}"), &key).await;
    assert_eq!((status, &page["total"]), (200, &json!(0)), "{page}");

    let res = with_header(&app, "/users", &key, &[("X-Company-ID", b.to_string())]).await;
    assert_eq!(res.status(), 403);
    let res = with_header(&app, "/users", &key, &[("X-Company-ID", a.to_string())]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn scopes_wider_than_the_creators_are_refused_and_unknown_ones_are_invalid() {
    let app = spawn_app().await;
    let c = company(&app, "KEY-WIDE").await;
    role_in(&app, Some(c), "keymaker", &["apikey.create", "user.read"]).await;
    let (_, maker) = app.user_with_role(c, "keymaker").await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/api-keys",
        Some(&maker),
        Some(json!({"name": "wide", "scopes": ["user.read", "user.delete"]})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user.delete")
    );

    for (scopes, field) in [
        (json!(["nothing.here"]), "scopes"),
        (json!(["Not A Codename"]), "scopes[0]"),
        (json!([]), "scopes"),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api-keys",
            Some(&maker),
            Some(json!({"name": "bad", "scopes": scopes})),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
    }
    for body in [
        json!({"name": "x", "scopes": ["user.read"], "admin": true}),
        json!({"name": "x", "scopes": ["user.read"], "rate_limit_per_minute": 0}),
        json!({"name": "x", "scopes": ["user.read"], "expires_in_days": 0}),
        json!({"name": "x", "scopes": ["user.read"], "expires_at": "2001-01-01T00:00:00Z"}),
        json!({"name": "", "scopes": ["user.read"]}),
    ] {
        let (status, answer) = call(
            &app,
            Method::POST,
            "/api-keys",
            Some(&maker),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body} -> {answer}");
    }
    let (_, viewer) = app.user_with_role(c, "viewer").await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/api-keys",
        Some(&viewer),
        Some(json!({"name": "v", "scopes": ["user.read"]})),
    )
    .await;
    assert_eq!(status, 403, "viewers lack apikey.create");
    let keys = api_key::Entity::find().all(app.fastvue.db()).await.unwrap();
    assert!(keys.is_empty(), "no refused creation stored a key");
}

#[tokio::test]
async fn a_creator_losing_a_permission_takes_it_from_the_key_at_once() {
    let app = spawn_app().await;
    let c = company(&app, "KEY-LOSE").await;
    let role = role_in(&app, Some(c), "keymaker", &["apikey.create", "user.read"]).await;
    let (_, maker) = app.user_with_role(c, "keymaker").await;
    let (_, key, _) = create_key(&app, &maker, json!({"name": "k", "scopes": ["user.read"]})).await;
    assert_eq!(get(&app, "/users", &key).await.0, 200);
    // Fill the permission cache, then take the permission away through the API.
    assert_eq!(get(&app, "/users", &key).await.0, 200);
    let root = app.root_token().await;
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/roles/{}/permissions", role.id),
        Some(&root),
        Some(json!({"permissions": ["apikey.create"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&app, "/users", &key).await.0, 403);
}

#[tokio::test]
async fn revoked_expired_and_unknown_keys_are_refused_with_401() {
    let app = spawn_app().await;
    let (_, admin, id, key) = admin_key(&app, "KEY-REV", &["user.read"]).await;
    let (_, _, expiring) = create_key(
        &app,
        &admin,
        json!({"name": "short", "scopes": ["user.read"], "expires_in_days": 1}),
    )
    .await;
    let expiring_key = expiring["key"].as_str().unwrap().to_owned();
    assert_eq!(get(&app, "/users", &expiring_key).await.0, 200);
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::minutes(1)),
        )
        .filter(api_key::Column::Id.eq(expiring["id"].as_i64().unwrap()))
        .exec(app.fastvue.db())
        .await
        .unwrap();
    let (status, body) = get(&app, "/users", &expiring_key).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "token_expired");

    assert_eq!(get(&app, "/users", &key).await.0, 200);
    let path = format!("/api-keys/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&admin), None)
            .await
            .0,
        204
    );
    let (status, body) = get(&app, "/users", &key).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "invalid_token");
    // Revoking again is idempotent; unknown ids are 404.
    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&admin), None)
            .await
            .0,
        204
    );
    let (status, body) = get(&app, &path, &admin).await;
    assert_eq!(status, 200);
    assert!(body["revoked_at"].is_string(), "{body}");
    let (status, _) = call(&app, Method::DELETE, "/api-keys/999999", Some(&admin), None).await;
    assert_eq!(status, 404);

    // A wrong secret under a real prefix, garbage, and an unknown prefix.
    let wrong_secret = format!("{}{}", &key[..key.len() - 4], "AAAA");
    for bad in [
        wrong_secret.as_str(),
        "fv_live_",
        "fv_live_zzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let (status, body) = get(&app, "/users", bad).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(error_code(&body), "invalid_token");
    }
}

#[tokio::test]
async fn a_key_of_a_deactivated_company_or_creator_is_refused_with_401() {
    let app = spawn_app().await;
    let (c, _, _, key) = admin_key(&app, "KEY-OFF", &["user.read"]).await;
    let d = company(&app, "KEY-OFF2").await;
    let (creator, creator_token) = app.user_with_role(d, "admin").await;
    let (_, other_key, _) = create_key(
        &app,
        &creator_token,
        json!({"name": "creator goes", "scopes": ["user.read"]}),
    )
    .await;
    assert_eq!(get(&app, "/users", &key).await.0, 200);
    assert_eq!(get(&app, "/users", &other_key).await.0, 200);

    app.fastvue
        .companies()
        .update(
            &Actor::system(),
            c,
            CompanyPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("deactivate company");
    assert_eq!(get(&app, "/users", &key).await.0, 401);

    app.fastvue
        .users()
        .deactivate(&Actor::system(), creator.id)
        .await
        .expect("deactivate user");
    assert_eq!(get(&app, "/users", &other_key).await.0, 401);
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after() {
    let app = spawn_app().await;
    let c = company(&app, "KEY-RATE").await;
    let (_, admin) = app.user_with_role(c, "admin").await;
    let (_, key, _) = create_key(
        &app,
        &admin,
        json!({"name": "slow", "scopes": ["user.read"], "rate_limit_per_minute": 3}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(get(&app, "/users", &key).await.0, 200);
    }
    let res = with_header(&app, "/users", &key, &[]).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "rate_limited");
    // Another key of the same company is not limited by it.
    let (_, other, _) = create_key(
        &app,
        &admin,
        json!({"name": "fast", "scopes": ["user.read"]}),
    )
    .await;
    assert_eq!(get(&app, "/users", &other).await.0, 200);
}

#[tokio::test]
async fn the_secret_never_appears_after_creation() {
    let app = spawn_app().await;
    let (c, admin, id, key) = admin_key(&app, "KEY-SECRET", &["user.read"]).await;
    let secret = &key["fv_live_".len() + 9..];
    assert_eq!(get(&app, "/users", &key).await.0, 200);
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api-keys/{id}"),
            Some(&admin),
            None
        )
        .await
        .0,
        204
    );
    let root = app.root_token().await;
    let stored = api_key::Entity::find_by_id(id)
        .one(app.fastvue.db())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.secret_hash, key);
    assert!(!stored.secret_hash.contains(secret));
    for path in [
        "/api-keys".to_owned(),
        format!("/api-keys?company_id={c}"),
        format!("/api-keys/{id}"),
        "/audit-logs?entity_type=api_key".to_owned(),
    ] {
        let (status, body) = get(&app, &path, &root).await;
        assert_eq!(status, 200, "{path}: {body}");
        let text = body.to_string();
        assert!(!text.contains(secret), "{path} shows the secret: {text}");
        assert!(
            !text.contains(&stored.secret_hash),
            "{path} shows the hash: {text}"
        );
    }
    let (_, audit) = get(&app, "/audit-logs?entity_type=api_key", &root).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["revoke", "create"], "{audit}");
    assert_eq!(audit["items"][1]["new_values"]["prefix"], key[8..16]);
}

#[tokio::test]
async fn the_x_api_key_header_works_and_last_use_is_recorded() {
    let app = spawn_app().await;
    let (_, admin, id, key) = admin_key(&app, "KEY-HDR", &["user.read"]).await;
    let res = with_header(&app, "/users", &key, &[]).await;
    assert_eq!(res.status(), 200);
    let res = with_header(&app, "/users", "fv_live_nope", &[]).await;
    assert_eq!(res.status(), 401);
    // last_used_at is written off the request path: wait for it (bounded).
    let mut seen = false;
    for _ in 0..50 {
        let (_, body) = get(&app, &format!("/api-keys/{id}"), &admin).await;
        if body["last_used_at"].is_string() {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "last_used_at was never written");
}

#[tokio::test]
async fn a_key_cannot_use_session_routes_or_create_keys() {
    let app = spawn_app().await;
    let (c, _, _, key) = admin_key(&app, "KEY-SESS", &["user.read", "apikey.create"]).await;
    for (method, path, body) in [
        (Method::GET, "/auth/me", None),
        (Method::GET, "/auth/me/permissions", None),
        (Method::GET, "/auth/me/social-accounts", None),
        (
            Method::POST,
            "/auth/switch-company",
            Some(json!({"company_id": c})),
        ),
        (
            Method::POST,
            "/auth/change-password",
            Some(json!({"current_password": "x", "new_password": "long-enough-pass-1"})),
        ),
        (
            Method::POST,
            "/api-keys",
            Some(json!({"name": "child", "scopes": ["user.read"]})),
        ),
    ] {
        let (status, answer) = call(&app, method, path, Some(&key), body).await;
        assert_eq!(status, 403, "{path}: {answer}");
    }
}

#[tokio::test]
async fn a_key_cannot_grant_or_take_over_beyond_its_scopes() {
    let app = spawn_app().await;
    let (c, _, _, key) = admin_key(
        &app,
        "KEY-ESC",
        &["role.create", "role.read", "user.read", "user.update"],
    )
    .await;
    // The creator (admin) holds user.delete, the key does not.
    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&key),
        Some(
            json!({"name": "R", "codename": "rr", "company_id": c, "permissions": ["user.delete"]}),
        ),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&key),
        Some(json!({"name": "R", "codename": "rr", "company_id": c, "permissions": ["user.read"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // An account holding more than the key's scopes cannot be changed with the key.
    let (admin2, _) = app.user_with_role(c, "admin").await;
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/users/{}", admin2.id),
        Some(&key),
        Some(json!({"full_name": "Taken Over"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn the_list_is_scoped_to_the_callers_companies() {
    let app = spawn_app().await;
    let (a, admin_a, id_a, _) = admin_key(&app, "KEY-LA", &["user.read"]).await;
    let (b, _, id_b, _) = admin_key(&app, "KEY-LB", &["user.read"]).await;
    let ids = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_i64().unwrap())
            .collect()
    };
    let (status, page) = get(&app, "/api-keys", &admin_a).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), [id_a]);
    assert_eq!(
        get(&app, &format!("/api-keys?company_id={b}"), &admin_a)
            .await
            .0,
        404
    );
    assert_eq!(
        get(&app, &format!("/api-keys/{id_b}"), &admin_a).await.0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api-keys/{id_b}"),
            Some(&admin_a),
            None
        )
        .await
        .0,
        404
    );
    let (_, viewer_a) = app.user_with_role(a, "viewer").await;
    let (status, page) = get(&app, &format!("/api-keys?company_id={a}"), &viewer_a).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page), [id_a]);
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api-keys/{id_a}"),
            Some(&viewer_a),
            None
        )
        .await
        .0,
        403
    );
    let root = app.root_token().await;
    let (_, page) = get(&app, "/api-keys?revoked=false&page_size=1", &root).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["pages"], 2);
}

#[tokio::test]
async fn a_deleted_creator_is_refused_for_its_keys_exactly_as_for_its_tokens() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let c = company(&app, "KEY-DEL").await;
    let (creator, creator_token) = app.user_with_role(c, "admin").await;
    let (_, key, _) = create_key(
        &app,
        &creator_token,
        json!({"name": "creator deleted", "scopes": ["user.read"]}),
    )
    .await;
    // Deleted by another tool (still flagged active), then its cached row dropped.
    let sql = format!(
        "UPDATE users SET deleted_at = CURRENT_TIMESTAMP WHERE id = {}",
        creator.id
    );
    app.fastvue.db().execute_unprepared(&sql).await.unwrap();
    app.fastvue
        .authorizer()
        .invalidate_user(creator.id, None)
        .await;
    assert_eq!(get(&app, "/users", &key).await.0, 401);
    let me = app
        .client
        .get(format!("{}/api/v1/auth/me", app.address))
        .bearer_auth(&creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}
