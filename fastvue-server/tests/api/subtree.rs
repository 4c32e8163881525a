//! Roles held over a company subtree, over HTTP: assigning with `scope`, the holding
//! administrator's data scope (`/auth/me/companies`, list routes), explain's inherited
//! path, tree moves seen at once, and the errors of the new inputs.
use serde_json::{Value, json};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app};
use crate::users::{get, new_company, patch, post, role_of};

/// Holding > Retail > Shop 12, and Beta outside; a holding administrator over the
/// subtree, signed in.
struct Group {
    holding: i64,
    retail: i64,
    shop: i64,
    beta: i64,
    root: String,
    admin_id: i64,
    admin: String,
}

async fn group(app: &TestApp) -> Group {
    let holding = new_company(app, "HOLD", None).await;
    let retail = new_company(app, "RETAIL", Some(holding)).await;
    let shop = new_company(app, "SHOP12", Some(retail)).await;
    let beta = new_company(app, "BETA", None).await;
    let root = app.root_token().await;
    let admin_role = role_of(app, holding, "admin").await;
    let (status, created) = post(
        app,
        "/users",
        &root,
        json!({
            "email": "holding-admin@example.com",
            "username": "holdingadmin",
            "password": USER_PASSWORD,
            "company_id": holding,
            "role_id": admin_role.id,
            "scope": "subtree",
            "is_default": true,
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let admin = app.login("holdingadmin", USER_PASSWORD).await;
    Group {
        holding,
        retail,
        shop,
        beta,
        root,
        admin_id: created["id"].as_i64().unwrap(),
        admin,
    }
}

fn ids(companies: &Value) -> Vec<i64> {
    companies
        .as_array()
        .expect("companies")
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_holding_administrator_reaches_every_subsidiary_and_nothing_outside() {
    let app = spawn_app().await;
    let g = group(&app).await;
    let (status, body) = get(&app, "/auth/me/companies?permission=user.read", &g.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["permission"], "user.read");
    assert_eq!(ids(&body["companies"]), [g.holding, g.retail, g.shop]);
    // The user list of the subtree, and nothing from Beta.
    let (shop_user, _) = app.user_with_role(g.shop, "viewer").await;
    let (beta_user, _) = app.user_with_role(g.beta, "viewer").await;
    let (status, page) = get(&app, "/users?page_size=100", &g.admin).await;
    assert_eq!(status, 200, "{page}");
    let listed: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert!(listed.contains(&shop_user.id), "{listed:?}");
    assert!(!listed.contains(&beta_user.id), "{listed:?}");
    // It may act in the shop (membership is inherited), not in Beta.
    let (status, body) = get(
        &app,
        &format!("/auth/me/permissions?company_id={}", g.shop),
        &g.admin,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("user.update"))
    );
    let (status, _) = get(
        &app,
        &format!("/auth/me/permissions?company_id={}", g.beta),
        &g.admin,
    )
    .await;
    assert_eq!(status, 403);
    // Roles, groups, API keys and the audit trail: the shop's are listed, Beta's are not.
    for list in ["roles", "groups", "api-keys", "audit-logs"] {
        let (status, body) = get(&app, &format!("/{list}?company_id={}", g.shop), &g.admin).await;
        assert_eq!(status, 200, "{list}: {body}");
        let (status, body) = get(&app, &format!("/{list}?company_id={}", g.beta), &g.admin).await;
        assert_eq!(status, 404, "{list}: {body}");
    }
    // The shop's users are its to read; Beta's are not (404, as if absent).
    let (status, _) = get(&app, &format!("/users/{}", shop_user.id), &g.admin).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, &format!("/users/{}", beta_user.id), &g.admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn assignments_show_their_scope_and_explain_shows_the_inherited_path() {
    let app = spawn_app().await;
    let g = group(&app).await;
    let (status, roles) = get(&app, &format!("/users/{}/roles", g.admin_id), &g.root).await;
    assert_eq!(status, 200, "{roles}");
    assert_eq!(roles[0]["scope"], "subtree");
    let (status, e) = get(
        &app,
        &format!(
            "/users/{}/permissions/explain?company_id={}&permission=user.read",
            g.admin_id, g.shop
        ),
        &g.root,
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["granted"], true);
    let grant = &e["grants"][0];
    assert_eq!(grant["type"], "role");
    assert_eq!(grant["inherited"], true);
    assert_eq!(ids(&grant["path"]), [g.holding, g.retail, g.shop]);
    assert_eq!(
        grant["description"],
        "role Administrator assigned on Company HOLD, inherited by Company HOLD › Company RETAIL › Company SHOP12"
    );
}

#[tokio::test]
async fn moving_a_company_out_of_the_subtree_takes_it_out_of_the_administrators_reach_at_once() {
    let app = spawn_app().await;
    let g = group(&app).await;
    let path = format!("/auth/me/permissions?company_id={}", g.shop);
    assert_eq!(get(&app, &path, &g.admin).await.0, 200);
    let (status, body) = patch(
        &app,
        &format!("/companies/{}", g.shop),
        &g.root,
        json!({ "parent_id": g.beta }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&app, &path, &g.admin).await.0, 403);
    let (_, body) = get(&app, "/auth/me/companies?permission=user.read", &g.admin).await;
    assert_eq!(ids(&body["companies"]), [g.holding, g.retail]);
    // And back in.
    patch(
        &app,
        &format!("/companies/{}", g.shop),
        &g.root,
        json!({ "parent_id": g.retail }),
    )
    .await;
    assert_eq!(get(&app, &path, &g.admin).await.0, 200);
    // A company the administrator creates below the holding is in its reach at once.
    let (status, made) = post(
        &app,
        "/companies",
        &g.admin,
        json!({ "name": "Shop 13", "code": "SHOP13", "parent_id": g.retail }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (_, body) = get(&app, "/auth/me/companies?permission=company.read", &g.admin).await;
    assert!(ids(&body["companies"]).contains(&made["id"].as_i64().unwrap()));
}

#[tokio::test]
async fn a_company_administrator_cannot_grant_over_a_subtree_it_does_not_hold() {
    let app = spawn_app().await;
    let g = group(&app).await;
    // An administrator of the holding alone (company scope).
    let (local, local_token) = app.user_with_role(g.holding, "admin").await;
    let (viewer, _) = app.user_with_role(g.holding, "viewer").await;
    let manager = role_of(&app, g.holding, "manager").await;
    let body =
        |scope: &str| json!({ "company_id": g.holding, "role_id": manager.id, "scope": scope });
    let path = format!("/users/{}/roles", viewer.id);
    let (status, err) = post(&app, &path, &local_token, body("subtree")).await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error"]["code"], "forbidden");
    let (status, _) = post(&app, &path, &local_token, body("company")).await;
    assert_eq!(status, 201);
    // The holding administrator may.
    let (other, _) = app.user_with_role(g.holding, "viewer").await;
    let (status, made) = post(
        &app,
        &format!("/users/{}/roles", other.id),
        &g.admin,
        body("subtree"),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["scope"], "subtree");
    let _ = local;
}

#[tokio::test]
async fn bad_scopes_and_permissions_get_clear_errors() {
    let app = spawn_app().await;
    let g = group(&app).await;
    let manager = role_of(&app, g.holding, "manager").await;
    let (status, err) = post(
        &app,
        &format!("/users/{}/roles", g.admin_id),
        &g.root,
        json!({ "company_id": g.holding, "role_id": manager.id, "scope": "galaxy" }),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["details"][0]["field"], "scope", "{err}");
    for (query, field) in [
        ("", "permission"),
        ("?permission=NOT%20A%20CODENAME", "permission"),
        ("?permission=no.such", "permission"),
    ] {
        let (status, err) = get(&app, &format!("/auth/me/companies{query}"), &g.admin).await;
        assert_eq!(status, 422, "{query}: {err}");
        assert_eq!(err["error"]["details"][0]["field"], field, "{err}");
    }
    let long = "a".repeat(10_000);
    let (status, _) = get(
        &app,
        &format!("/auth/me/companies?permission={long}.read"),
        &g.admin,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .client
        .get(format!(
            "{}/api/v1/auth/me/companies?permission=user.read",
            app.address
        ))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);
}
