//! `/api/v1/groups`: CRUD, permission sets, members, tenant scoping.
use fastvue_core::Actor;
use fastvue_core::entity::group;
use fastvue_core::service::groups::NewGroup;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::roles::{call, company, custom_permission, get, powerless};

/// A group of `company_id` granting `perms`, made by the system.
pub(crate) async fn group_in(
    app: &TestApp,
    company_id: i64,
    codename: &str,
    perms: &[&str],
) -> group::Model {
    app.fastvue
        .groups()
        .create(
            &Actor::system(),
            NewGroup {
                company_id,
                name: format!("Group {codename}"),
                codename: codename.to_owned(),
                permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
        )
        .await
        .expect("create group")
        .group
}

fn perms(body: &Value) -> Vec<&str> {
    body["permissions"]
        .as_array()
        .unwrap_or_else(|| panic!("no permissions in {body}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn group_crud_in_the_active_company() {
    let app = spawn_app().await;
    let a = company(&app, "GRP-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/groups",
        Some(&admin),
        Some(json!({"name": "Ops", "codename": "ops", "permissions": ["audit.read"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["company_id"], a, "defaults to the active company");
    assert_eq!(perms(&created), ["audit.read"]);
    let id = created["id"].as_i64().unwrap();

    let (status, page) = get(&app, "/groups", &admin).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["codename"], "ops");
    let (status, got) = get(&app, &format!("/groups/{id}"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(perms(&got), ["audit.read"]);

    let (status, patched) = call(
        &app,
        Method::PATCH,
        &format!("/groups/{id}"),
        Some(&admin),
        Some(json!({"name": "Operations", "is_active": false})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Operations");
    assert_eq!(patched["is_active"], false);
    let (_, page) = get(&app, "/groups?is_active=true", &admin).await;
    assert_eq!(page["total"], 0);

    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/groups/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(get(&app, &format!("/groups/{id}"), &admin).await.0, 404);
}

#[tokio::test]
async fn group_writes_validate_and_detect_duplicates() {
    let app = spawn_app().await;
    let a = company(&app, "GRP-A").await;
    let g = group_in(&app, a, "ops", &[]).await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let post = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move { call(app, Method::POST, "/groups", Some(&admin), Some(body)).await }
    };
    let (status, body) = post(json!({"name": "Ops", "codename": "ops"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "codename");
    assert_eq!(
        post(json!({"name": "X", "codename": "No Way"})).await.0,
        422
    );
    assert_eq!(
        post(json!({"name": "X", "codename": "x", "permissions": ["x.y"]}))
            .await
            .0,
        422
    );
    assert_eq!(post(json!({"codename": "x"})).await.0, 422);
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/groups/{}", g.id),
        Some(&admin),
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/groups/{}/permissions", g.id),
        Some(&admin),
        Some(json!({"permissions": ["user.read", "bogus"]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn group_routes_need_a_token_and_the_group_permissions() {
    let app = spawn_app().await;
    let a = company(&app, "GRP-A").await;
    let g = group_in(&app, a, "ops", &[]).await;
    let (_, nobody) = powerless(&app, a).await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let id = g.id;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/groups".into(), None),
        (
            Method::POST,
            "/groups".into(),
            Some(json!({"name": "X", "codename": "x"})),
        ),
        (Method::GET, format!("/groups/{id}"), None),
        (
            Method::PATCH,
            format!("/groups/{id}"),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, format!("/groups/{id}"), None),
        (
            Method::PUT,
            format!("/groups/{id}/permissions"),
            Some(json!({"permissions": []})),
        ),
        (Method::GET, format!("/groups/{id}/members"), None),
        (
            Method::POST,
            format!("/groups/{id}/members"),
            Some(json!({"user_id": 1})),
        ),
        (Method::DELETE, format!("/groups/{id}/members/1"), None),
    ];
    for (method, path, body) in routes {
        let (status, _) = call(&app, method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}");
        let (status, _) = call(&app, method.clone(), &path, Some(&nobody), body.clone()).await;
        assert_eq!(status, 403, "{method} {path}");
        if method != Method::GET {
            let (status, _) = call(&app, method.clone(), &path, Some(&viewer), body).await;
            assert_eq!(status, 403, "viewer {method} {path}");
        }
    }
}

#[tokio::test]
async fn an_admin_of_one_company_cannot_touch_another_companys_groups() {
    let app = spawn_app().await;
    let a = company(&app, "GRP-A").await;
    let b = company(&app, "GRP-B").await;
    let theirs = group_in(&app, b, "ops", &[]).await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (member_b, _) = app.user_with_role(b, "viewer").await;
    let id = theirs.id;
    for (method, path, body) in [
        (Method::GET, format!("/groups/{id}"), None),
        (
            Method::PATCH,
            format!("/groups/{id}"),
            Some(json!({"name": "Mine"})),
        ),
        (Method::DELETE, format!("/groups/{id}"), None),
        (
            Method::PUT,
            format!("/groups/{id}/permissions"),
            Some(json!({"permissions": []})),
        ),
        (Method::GET, format!("/groups/{id}/members"), None),
        (
            Method::POST,
            format!("/groups/{id}/members"),
            Some(json!({"user_id": member_b.id})),
        ),
        (
            Method::DELETE,
            format!("/groups/{id}/members/{}", member_b.id),
            None,
        ),
        (Method::GET, "/groups/999999".into(), None),
        (Method::GET, format!("/groups?company_id={b}"), None),
    ] {
        let (status, res) = call(&app, method.clone(), &path, Some(&admin), body).await;
        assert_eq!(status, 404, "{method} {path}: {res}");
    }
    let (_, page) = get(&app, "/groups", &admin).await;
    assert_eq!(page["total"], 0);
    let (status, _) = call(
        &app,
        Method::POST,
        "/groups",
        Some(&admin),
        Some(json!({"company_id": b, "name": "X", "codename": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = get(&app, &format!("/groups/{id}"), &app.root_token().await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_admin_cannot_grant_a_group_a_permission_it_does_not_hold() {
    let app = spawn_app().await;
    let a = company(&app, "GRP-A").await;
    custom_permission(&app, "report.export").await;
    let g = group_in(&app, a, "ops", &[]).await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let path = format!("/groups/{}/permissions", g.id);
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"permissions": ["report.export"]})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        &app,
        Method::POST,
        "/groups",
        Some(&admin),
        Some(json!({"name": "R", "codename": "r", "permissions": ["report.export"]})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"permissions": ["user.read", "role.read"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(perms(&body), ["role.read", "user.read"]);
    let root = app.root_token().await;
    let (status, _) = call(
        &app,
        Method::PUT,
        &path,
        Some(&root),
        Some(json!({"permissions": ["report.export"]})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn members_gain_and_lose_the_group_permissions_at_once() {
    let app = spawn_app().await;
    let a = company(&app, "GRP-A").await;
    let b = company(&app, "GRP-B").await;
    let g = group_in(&app, a, "auditors", &["audit.read"]).await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (member, member_token) = crate::roles::powerless(&app, a).await;
    let (outsider, _) = app.user_with_role(b, "viewer").await;
    let members = format!("/groups/{}/members", g.id);
    let me = "/auth/me/permissions";

    let (_, before) = get(&app, me, &member_token).await;
    assert_eq!(before["permissions"], json!([]));

    let (status, body) = call(
        &app,
        Method::POST,
        &members,
        Some(&admin),
        Some(json!({"user_id": member.id})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, after) = get(&app, me, &member_token).await;
    assert_eq!(after["permissions"], json!(["audit.read"]));
    let (status, list) = get(&app, &members, &admin).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], member.id);
    assert!(list[0].get("password_hash").is_none());
    let (status, _) = call(
        &app,
        Method::POST,
        &members,
        Some(&admin),
        Some(json!({"user_id": member.id})),
    )
    .await;
    assert_eq!(status, 204, "adding again is idempotent");

    let (status, body) = call(
        &app,
        Method::POST,
        &members,
        Some(&admin),
        Some(json!({"user_id": outsider.id})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "user_id");
    let (status, _) = call(
        &app,
        Method::POST,
        &members,
        Some(&admin),
        Some(json!({"user_id": 999_999})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &app,
        Method::POST,
        &members,
        Some(&admin),
        Some(json!({"user_id": "x"})),
    )
    .await;
    assert_eq!(status, 422);

    let one = format!("{members}/{}", member.id);
    let (status, _) = call(&app, Method::DELETE, &one, Some(&admin), None).await;
    assert_eq!(status, 204);
    let (_, gone) = get(&app, me, &member_token).await;
    assert_eq!(gone["permissions"], json!([]));
    let (status, _) = call(&app, Method::DELETE, &one, Some(&admin), None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("{members}/abc"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 400);

    let root = app.root_token().await;
    let (status, _) = call(
        &app,
        Method::POST,
        &members,
        Some(&root),
        Some(json!({"user_id": outsider.id})),
    )
    .await;
    assert_eq!(status, 204, "superusers may add anyone");
}
