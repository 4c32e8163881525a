//! `/api/v1/admin/cache`: invalidation scopes and statistics.
use fastvue_core::permission::CacheKey;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, test_redis_url};
use crate::roles::{call, company, get, powerless, role_in};

async fn invalidate(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "/admin/cache/invalidate",
        token,
        Some(body),
    )
    .await
}

/// Loads the user's set in `company_id` into this server's cache.
async fn warm(app: &TestApp, user_id: i64, company_id: i64) {
    app.fastvue
        .authorizer()
        .permissions(user_id, company_id)
        .await
        .expect("permission set");
    if test_redis_url().is_none() {
        assert!(is_cached(app, user_id, company_id));
    }
}

/// Checks the `invalidated` count: at least `expected` in a lone server; with the shared
/// test Redis, other tests' servers (same ids, other databases) also drop entries through
/// the bus, so only the type is checked there.
fn assert_dropped(body: &Value, expected: u64) {
    let n = body["invalidated"]
        .as_u64()
        .unwrap_or_else(|| panic!("no count in {body}"));
    if test_redis_url().is_none() {
        assert!(n >= expected, "{body}");
    }
}

fn is_cached(app: &TestApp, user_id: i64, company_id: i64) -> bool {
    app.fastvue
        .authorizer()
        .l1()
        .get(CacheKey::new(user_id, company_id))
        .is_some()
}

#[tokio::test]
async fn stats_report_the_counters_of_the_permission_cache() {
    let app = spawn_app().await;
    let a = company(&app, "CACHE-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    assert_eq!(get(&app, "/admin/cache/stats", &admin).await.0, 200);
    let (status, body) = get(&app, "/admin/cache/stats", &admin).await;
    assert_eq!(status, 200, "{body}");
    for field in [
        "hits",
        "misses",
        "entries",
        "users",
        "max_entries",
        "ttl_seconds",
    ] {
        assert!(body[field].is_u64(), "{field} in {body}");
    }
    assert!(
        body["hits"].as_u64().unwrap() >= 1,
        "the second guard check hits the cache: {body}"
    );
    let ratio = body["hit_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio));
    assert_eq!(body["enabled"], true);
    assert!(["disabled", "ok", "degraded"].contains(&body["redis"].as_str().unwrap()));

    let (_, viewer) = app.user_with_role(a, "viewer").await;
    assert_eq!(get(&app, "/admin/cache/stats", &viewer).await.0, 403);
    let (status, _) = call(&app, Method::GET, "/admin/cache/stats", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn invalidate_a_user_drops_its_cached_sets() {
    let app = spawn_app().await;
    let a = company(&app, "CACHE-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (member, _) = app.user_with_role(a, "viewer").await;
    warm(&app, member.id, a).await;
    let (status, body) = invalidate(
        &app,
        Some(&admin),
        json!({"scope": "user", "id": member.id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "user");
    assert_dropped(&body, 1);
    assert!(!is_cached(&app, member.id, a));

    let root = app.root_token().await;
    warm(&app, member.id, a).await;
    let (status, body) = invalidate(
        &app,
        Some(&root),
        json!({"scope": "user", "id": member.id, "company_id": a}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!is_cached(&app, member.id, a));
}

#[tokio::test]
async fn invalidate_a_role_a_group_or_a_company() {
    let app = spawn_app().await;
    let a = company(&app, "CACHE-A").await;
    let role_id = role_in(&app, Some(a), "clerk", &["user.read"]).await.id;
    let (clerk, _) = app.user_with_role(a, "clerk").await;
    let (_, admin) = app.user_with_role(a, "admin").await;

    warm(&app, clerk.id, a).await;
    let (status, body) =
        invalidate(&app, Some(&admin), json!({"scope": "role", "id": role_id})).await;
    assert_eq!(status, 200, "{body}");
    assert_dropped(&body, 1);
    assert!(!is_cached(&app, clerk.id, a));

    let g = app
        .fastvue
        .groups()
        .create(
            &fastvue_core::Actor::system(),
            fastvue_core::service::groups::NewGroup {
                company_id: a,
                name: "Ops".into(),
                codename: "ops".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.fastvue
        .groups()
        .add_member(
            &fastvue_core::Actor::system(),
            g.group.id,
            clerk.id,
            Default::default(),
        )
        .await
        .unwrap();
    warm(&app, clerk.id, a).await;
    let (status, body) = invalidate(
        &app,
        Some(&admin),
        json!({"scope": "group", "id": g.group.id}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!is_cached(&app, clerk.id, a));

    warm(&app, clerk.id, a).await;
    let (status, body) = invalidate(&app, Some(&admin), json!({"scope": "company", "id": a})).await;
    assert_eq!(status, 200, "{body}");
    assert_dropped(&body, 1);
    assert!(!is_cached(&app, clerk.id, a));
    let (status, _) = invalidate(
        &app,
        Some(&admin),
        json!({"scope": "company", "company_id": a}),
    )
    .await;
    assert_eq!(
        status, 200,
        "company_id names the company when id is absent"
    );
}

#[tokio::test]
async fn only_superusers_flush_everything() {
    let app = spawn_app().await;
    let a = company(&app, "CACHE-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (member, _) = app.user_with_role(a, "viewer").await;
    let (status, body) = invalidate(&app, Some(&admin), json!({"scope": "all"})).await;
    assert_eq!(status, 403, "{body}");
    warm(&app, member.id, a).await;
    let (status, body) =
        invalidate(&app, Some(&app.root_token().await), json!({"scope": "all"})).await;
    assert_eq!(status, 200, "{body}");
    assert_dropped(&body, 1);
    assert!(!is_cached(&app, member.id, a));
}

#[tokio::test]
async fn invalidate_validates_guards_and_scopes_to_the_callers_companies() {
    let app = spawn_app().await;
    let a = company(&app, "CACHE-A").await;
    let b = company(&app, "CACHE-B").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let (_, nobody) = powerless(&app, a).await;
    let (member_b, _) = app.user_with_role(b, "viewer").await;
    let role_b = role_in(&app, Some(b), "clerk", &[]).await;
    let template = role_in(&app, None, "template", &[]).await;
    let group_b = app
        .fastvue
        .groups()
        .create(
            &fastvue_core::Actor::system(),
            fastvue_core::service::groups::NewGroup {
                company_id: b,
                name: "Ops".into(),
                codename: "ops".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    for body in [
        json!({"scope": "user"}),
        json!({"scope": "role"}),
        json!({"scope": "everything"}),
        json!({"id": 1}),
        json!({"scope": "all", "extra": true}),
    ] {
        let (status, res) = invalidate(&app, Some(&admin), body.clone()).await;
        assert_eq!(status, 422, "{body}: {res}");
    }
    for body in [
        json!({"scope": "user", "id": member_b.id}),
        json!({"scope": "user", "id": member_b.id, "company_id": b}),
        json!({"scope": "role", "id": role_b.id}),
        json!({"scope": "group", "id": group_b.group.id}),
        json!({"scope": "company", "id": b}),
        json!({"scope": "user", "id": 999_999}),
        json!({"scope": "role", "id": 999_999}),
        json!({"scope": "group", "id": 999_999}),
        json!({"scope": "company", "id": 999_999}),
    ] {
        let (status, res) = invalidate(&app, Some(&admin), body.clone()).await;
        assert_eq!(status, 404, "{body}: {res}");
    }
    let (status, _) = invalidate(
        &app,
        Some(&admin),
        json!({"scope": "role", "id": template.id}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = invalidate(&app, Some(&viewer), json!({"scope": "company", "id": a})).await;
    assert_eq!(status, 403);
    let (status, _) = invalidate(&app, Some(&nobody), json!({"scope": "company", "id": a})).await;
    assert_eq!(status, 403);
    let (status, _) = invalidate(&app, None, json!({"scope": "all"})).await;
    assert_eq!(status, 401);

    let root = app.root_token().await;
    for body in [
        json!({"scope": "role", "id": template.id}),
        json!({"scope": "group", "id": group_b.group.id}),
        json!({"scope": "company", "id": b}),
    ] {
        let (status, res) = invalidate(&app, Some(&root), body.clone()).await;
        assert_eq!(status, 200, "{body}: {res}");
    }
}

#[tokio::test]
async fn a_superuser_invalidating_an_unknown_id_gets_404() {
    let app = spawn_app().await;
    let root = app.root_token().await;
    for body in [
        json!({"scope": "user", "id": 999_999}),
        json!({"scope": "user", "id": 1, "company_id": 999_999}),
        json!({"scope": "role", "id": 999_999}),
        json!({"scope": "group", "id": 999_999}),
        json!({"scope": "company", "id": 999_999}),
    ] {
        let (status, res) = invalidate(&app, Some(&root), body.clone()).await;
        assert_eq!(status, 404, "{body}: {res}");
    }
}
