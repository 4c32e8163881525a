//! `/api/v1/companies`: CRUD, tree, members, tenant isolation and creation rules.
use fastvue_core::pagination::PageRequest;
use fastvue_core::service::audit::AuditFilter;
use reqwest::Method;
use serde_json::{Value, json};

use fastvue_core::Actor;

use crate::helpers::spawn_app;
use crate::users::{
    custom_role, delete, get, grant, new_company, patch, post, role_of, send, tenants,
};

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect()
}

/// Ids of a forest, depth first.
fn tree_ids(nodes: &Value, out: &mut Vec<i64>) {
    for n in nodes.as_array().expect("nodes") {
        out.push(n["id"].as_i64().expect("id"));
        tree_ids(&n["children"], out);
    }
}

#[tokio::test]
async fn every_companies_route_answers_401_without_a_token() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/companies"),
        (Method::POST, "/companies"),
        (Method::GET, "/companies/tree"),
        (Method::GET, "/companies/1"),
        (Method::PATCH, "/companies/1"),
        (Method::DELETE, "/companies/1"),
        (Method::GET, "/companies/1/users"),
    ] {
        let (status, body) = send(&app, method.clone(), path, None, Some(json!({}))).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn every_companies_route_answers_403_without_its_permission() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    custom_role(&app, t.a, "nothing", &[]).await;
    let (_, none) = app.user_with_role(t.a, "nothing").await;
    let a = t.a;
    for (method, path) in [
        (Method::GET, "/companies".to_owned()),
        (Method::POST, "/companies".to_owned()),
        (Method::GET, "/companies/tree".to_owned()),
        (Method::GET, format!("/companies/{a}")),
        (Method::PATCH, format!("/companies/{a}")),
        (Method::DELETE, format!("/companies/{a}")),
        (Method::GET, format!("/companies/{a}/users")),
    ] {
        let body = json!({"name": "X", "code": "XX", "parent_id": a});
        let (status, res) = send(&app, method.clone(), &path, Some(&none), Some(body)).await;
        assert_eq!(status, 403, "{method} {path}: {res}");
        assert_eq!(res["error"]["code"], "forbidden");
    }
    // A viewer reads but cannot write.
    let (_, viewer) = app.user_with_role(t.a, "viewer").await;
    assert_eq!(get(&app, &format!("/companies/{a}"), &viewer).await.0, 200);
    assert_eq!(
        patch(
            &app,
            &format!("/companies/{a}"),
            &viewer,
            json!({"name": "New"})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        delete(&app, &format!("/companies/{a}"), &viewer).await.0,
        403
    );
    let (status, _) = post(
        &app,
        "/companies",
        &viewer,
        json!({"name": "Sub", "code": "SUB", "parent_id": a}),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn list_companies_shows_only_companies_in_scope() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, page) = get(&app, "/companies", &t.admin_a_token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![t.a]);
    assert_eq!(page["total"], 1);
    assert!(
        chrono::DateTime::parse_from_rfc3339(page["items"][0]["created_at"].as_str().unwrap())
            .is_ok()
    );
    let (_, page) = get(&app, "/companies?page_size=100", &t.root).await;
    let all = ids(&page);
    assert!(all.contains(&t.a) && all.contains(&t.b), "{page}");
    let (_, page) = get(&app, "/companies?search=bet", &t.root).await;
    assert_eq!(ids(&page), vec![t.b]);
    let (_, page) = get(&app, "/companies?search=bet", &t.admin_a_token).await;
    assert_eq!(page["total"], 0);
    let (_, page) = get(&app, "/companies?page=1&page_size=1", &t.root).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["pages"], page["total"]);
    assert_eq!(get(&app, "/companies?page=0", &t.root).await.0, 422);
}

#[tokio::test]
async fn superuser_creates_a_company_with_its_seeded_roles() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, body) = post(
        &app,
        "/companies",
        &t.root,
        json!({"name": "Gamma", "code": "gamma"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["code"], "GAMMA");
    assert_eq!(body["parent_id"], Value::Null);
    let id = body["id"].as_i64().unwrap();
    for seeded in ["admin", "manager", "viewer"] {
        role_of(&app, id, seeded).await;
    }
    let logs = app
        .fastvue
        .audit_logs()
        .list(
            &Actor::system(),
            &AuditFilter {
                entity_type: Some("company".into()),
                entity_id: Some(id),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(logs.items[0].action, "create");
    assert!(logs.items[0].actor_id.is_some());
}

#[tokio::test]
async fn create_company_answers_409_and_422() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, body) = post(
        &app,
        "/companies",
        &t.root,
        json!({"name": "Again", "code": "acme"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "code");
    let (status, body) = post(
        &app,
        "/companies",
        &t.root,
        json!({"name": "", "code": "a b"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 2);
    let (status, body) = post(
        &app,
        "/companies",
        &t.root,
        json!({"name": "Orphan", "code": "ORPH", "parent_id": 999999}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "parent_id");
    let (status, _) = post(
        &app,
        "/companies",
        &t.root,
        json!({"name": "X", "code": "XX", "owner": 1}),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn an_admin_creates_sub_companies_of_its_own_and_administers_them() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, body) = post(
        &app,
        "/companies",
        &t.admin_a_token,
        json!({"name": "A East", "code": "A-EAST", "parent_id": t.a}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sub = body["id"].as_i64().unwrap();
    assert_eq!(body["parent_id"], t.a);
    // The creator got the new company's admin role, so it sees and manages it.
    let roles = crate::helpers::assignments_of(&app.fastvue, t.admin_a.id, Some(sub)).await;
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].role_codename, "admin");
    assert_eq!(
        get(&app, &format!("/companies/{sub}"), &t.admin_a_token)
            .await
            .0,
        200
    );
    // Top-level companies and companies under a foreign parent are refused.
    let (status, _) = post(
        &app,
        "/companies",
        &t.admin_a_token,
        json!({"name": "Top", "code": "TOP"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &app,
        "/companies",
        &t.admin_a_token,
        json!({"name": "In B", "code": "IN-B", "parent_id": t.b}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &app,
        "/companies",
        &t.admin_a_token,
        json!({"name": "Ghost", "code": "GHOST", "parent_id": 999999}),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_creator_gets_only_a_seeded_role_it_could_grant_itself() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let read_all = [
        "user.read",
        "company.read",
        "role.read",
        "permission.read",
        "group.read",
        "audit.read",
        "apikey.read",
        "menu.read",
        "company.create",
    ];
    custom_role(&app, t.a, "founder", &read_all).await;
    let (founder, token) = app.user_with_role(t.a, "founder").await;
    let (status, body) = post(
        &app,
        "/companies",
        &token,
        json!({"name": "A West", "code": "A-WEST", "parent_id": t.a}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sub = body["id"].as_i64().unwrap();
    let roles = crate::helpers::assignments_of(&app.fastvue, founder.id, Some(sub)).await;
    assert_eq!(roles.len(), 1);
    assert_eq!(
        roles[0].role_codename, "viewer",
        "not admin: it lacked most admin permissions"
    );
    let (status, body) = get(
        &app,
        &format!("/users/{}/permissions?company_id={sub}", founder.id),
        &t.root,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("company.delete"))
    );
}

#[tokio::test]
async fn get_company_answers_404_for_unknown_and_foreign_ids() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, body) = get(&app, &format!("/companies/{}", t.a), &t.admin_a_token).await;
    assert_eq!(status, 200);
    assert_eq!(body["code"], "ACME");
    let (status, body) = get(&app, &format!("/companies/{}", t.b), &t.admin_a_token).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(
        get(&app, "/companies/999999", &t.admin_a_token).await.0,
        404
    );
    assert_eq!(get(&app, "/companies/0", &t.admin_a_token).await.0, 400);
    assert_eq!(
        get(&app, &format!("/companies/{}", t.b), &t.root).await.0,
        200
    );
}

#[tokio::test]
async fn admin_updates_its_company_but_not_a_foreign_one() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let path = format!("/companies/{}", t.a);
    let (status, body) = patch(
        &app,
        &path,
        &t.admin_a_token,
        json!({"name": "Acme Renamed"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Acme Renamed");
    let (status, _) = patch(
        &app,
        &format!("/companies/{}", t.b),
        &t.admin_a_token,
        json!({"name": "Hijacked"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.fastvue
            .companies()
            .get(&Actor::system(), t.b)
            .await
            .unwrap()
            .name,
        "Company BETA"
    );
    assert_eq!(
        patch(
            &app,
            "/companies/999999",
            &t.admin_a_token,
            json!({"name": "X"})
        )
        .await
        .0,
        404
    );
    let (status, body) = patch(&app, &path, &t.admin_a_token, json!({"code": "beta"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = patch(&app, &path, &t.admin_a_token, json!({"code": "!"})).await;
    assert_eq!(status, 422);
    // Moving under a foreign parent or to the top level is refused.
    let (status, _) = patch(&app, &path, &t.admin_a_token, json!({"parent_id": t.b})).await;
    assert_eq!(status, 403);
    let (status, _) = patch(&app, &path, &t.admin_a_token, json!({"parent_id": 0})).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_company_cannot_become_its_own_ancestor() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let child = new_company(&app, "ACME-KID", Some(t.a)).await;
    let (status, body) = patch(
        &app,
        &format!("/companies/{}", t.a),
        &t.root,
        json!({"parent_id": child}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "parent_id");
    let (status, body) = patch(
        &app,
        &format!("/companies/{child}"),
        &t.root,
        json!({"parent_id": 0}),
    )
    .await;
    assert_eq!((status, body["parent_id"].clone()), (200, Value::Null));
}

#[tokio::test]
async fn delete_company_deactivates_it_and_its_permissions() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let sub = new_company(&app, "ACME-SUB", Some(t.a)).await;
    grant(&app, t.admin_a.id, sub, "admin").await;
    let (member, member_token) = app.user_with_role(sub, "viewer").await;
    let (status, body) = delete(&app, &format!("/companies/{sub}"), &t.admin_a_token).await;
    assert_eq!(status, 204, "{body}");
    let stored = app
        .fastvue
        .companies()
        .get(&Actor::system(), sub)
        .await
        .unwrap();
    assert!(!stored.is_active && stored.deleted_at.is_some());
    let (_, mine) = get(&app, "/auth/me/permissions", &member_token).await;
    assert_eq!(mine["permissions"], json!([]), "{mine}");
    // The rows are kept: the superuser still sees the company and its members.
    let (_, page) = get(&app, &format!("/companies/{sub}/users"), &t.root).await;
    assert_eq!(ids(&page), vec![t.admin_a.id, member.id]);
    assert_eq!(
        delete(&app, &format!("/companies/{}", t.b), &t.admin_a_token)
            .await
            .0,
        404
    );
    assert!(
        app.fastvue
            .companies()
            .get(&Actor::system(), t.b)
            .await
            .unwrap()
            .is_active
    );
    assert_eq!(
        delete(&app, "/companies/999999", &t.admin_a_token).await.0,
        404
    );
}

#[tokio::test]
async fn the_tree_holds_only_visible_companies() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let sub = new_company(&app, "ACME-SUB", Some(t.a)).await;
    grant(&app, t.admin_a.id, sub, "viewer").await;
    let b_sub = new_company(&app, "BETA-SUB", Some(t.b)).await;
    let (status, tree) = get(&app, "/companies/tree", &t.admin_a_token).await;
    assert_eq!(status, 200, "{tree}");
    assert_eq!(tree.as_array().unwrap().len(), 1);
    assert_eq!(tree[0]["id"], t.a);
    assert_eq!(tree[0]["children"][0]["id"], sub);
    let (_, tree) = get(&app, "/companies/tree", &t.root).await;
    let mut all = Vec::new();
    tree_ids(&tree, &mut all);
    for id in [t.a, sub, t.b, b_sub] {
        assert!(all.contains(&id), "{id} missing from {tree}");
    }
}

#[tokio::test]
async fn company_users_lists_members_of_a_visible_company() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let path = format!("/companies/{}/users", t.a);
    let (status, page) = get(&app, &path, &t.admin_a_token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), vec![t.admin_a.id, member.id]);
    assert!(page["items"][0].get("password_hash").is_none());
    let (_, page) = get(&app, &format!("{path}?search=viewer-"), &t.admin_a_token).await;
    assert_eq!(ids(&page), vec![member.id]);
    assert_eq!(
        get(&app, &format!("/companies/{}/users", t.b), &t.admin_a_token)
            .await
            .0,
        404
    );
    assert_eq!(get(&app, "/companies/999999/users", &t.root).await.0, 404);
    let (_, page) = get(&app, &format!("/companies/{}/users", t.b), &t.root).await;
    assert_eq!(ids(&page), vec![t.only_b.id]);
}
