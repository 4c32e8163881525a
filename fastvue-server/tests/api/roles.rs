//! `/api/v1/roles`, plus the fixtures the roles/permissions/groups/cache/audit tests share.
use fastvue_core::Actor;
use fastvue_core::entity::{permission, role, user};
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::permissions::NewPermission;
use fastvue_core::service::roles::NewRole;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Sends `method path` with an optional bearer token and JSON body; returns the status
/// and the JSON body (`Null` when there is none).
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/api/v1{path}", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body read");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, value)
}

/// `GET path` as `token`.
pub(crate) async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, Method::GET, path, Some(token), None).await
}

/// A new company (with its seeded admin, manager and viewer roles).
pub(crate) async fn company(app: &TestApp, code: &str) -> i64 {
    app.fastvue
        .companies()
        .create(
            &Actor::system(),
            NewCompany {
                name: format!("Company {code}"),
                code: code.to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("create company")
        .id
}

/// A role made directly in the core (`company_id` None: a global template).
pub(crate) async fn role_in(
    app: &TestApp,
    company_id: Option<i64>,
    codename: &str,
    perms: &[&str],
) -> role::Model {
    app.fastvue
        .roles()
        .create(
            &Actor::system(),
            NewRole {
                name: format!("Role {codename}"),
                codename: codename.to_owned(),
                company_id,
                permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
        )
        .await
        .expect("create role")
        .role
}

/// A custom (non-system) permission, which the seeded roles do not grant.
pub(crate) async fn custom_permission(app: &TestApp, codename: &str) -> permission::Model {
    app.fastvue
        .permissions()
        .create(
            &Actor::system(),
            NewPermission {
                codename: codename.to_owned(),
                name: format!("Custom {codename}"),
                ..Default::default()
            },
        )
        .await
        .expect("create permission")
}

/// A member of `company_id` whose only role grants nothing.
pub(crate) async fn powerless(app: &TestApp, company_id: i64) -> (user::Model, String) {
    role_in(app, Some(company_id), "nothing", &[]).await;
    app.user_with_role(company_id, "nothing").await
}

/// The id of the seeded role `codename` of `company_id`.
pub(crate) async fn seeded_role(app: &TestApp, company_id: i64, codename: &str) -> i64 {
    let root = app.root_token().await;
    let (status, body) = get(
        app,
        &format!("/roles?company_id={company_id}&page_size=100"),
        &root,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["codename"] == codename && r["company_id"] == company_id)
        .unwrap_or_else(|| panic!("no seeded role {codename}"))["id"]
        .as_i64()
        .unwrap()
}

fn codenames(body: &Value) -> Vec<String> {
    body["permissions"]
        .as_array()
        .unwrap_or_else(|| panic!("no permissions in {body}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn list_shows_own_company_roles_and_global_templates_but_not_other_companies() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let b = company(&app, "ROLES-B").await;
    let template = role_in(&app, None, "template", &["user.read"]).await;
    let mine = role_in(&app, Some(a), "mine", &[]).await;
    let theirs = role_in(&app, Some(b), "theirs", &[]).await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;

    let (status, page) = get(&app, "/roles?page_size=100", &viewer).await;
    assert_eq!(status, 200, "{page}");
    let seen = ids(&page);
    assert!(seen.contains(&template.id) && seen.contains(&mine.id));
    assert!(!seen.contains(&theirs.id));
    assert_eq!(page["total"].as_u64().unwrap() as usize, seen.len());
    assert_eq!(page["page"], 1);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["company_id"] == a || r["company_id"].is_null())
    );

    let (status, page) = get(&app, &format!("/roles?company_id={a}&search=mine"), &viewer).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page), vec![mine.id]);

    let (status, body) = get(&app, &format!("/roles?company_id={b}"), &viewer).await;
    assert_eq!(status, 404, "{body}");

    let root = app.root_token().await;
    let (_, page) = get(&app, "/roles?page_size=100", &root).await;
    assert!(ids(&page).contains(&theirs.id));
}

#[tokio::test]
async fn list_needs_a_token_and_role_read() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let (status, body) = call(&app, Method::GET, "/roles", None, None).await;
    assert_eq!(status, 401, "{body}");
    let (_, token) = powerless(&app, a).await;
    let (status, body) = get(&app, "/roles", &token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = get(&app, "/roles?page_size=500", &app.root_token().await).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn create_role_in_own_company_with_held_permissions() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&admin),
        Some(
            json!({"name": "Auditor", "codename": "auditor", "company_id": a,
                    "permissions": ["audit.read", "user.read"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["company_id"], a);
    assert_eq!(body["is_system"], false);
    assert_eq!(codenames(&body), ["audit.read", "user.read"]);

    let again = json!({"name": "Again", "codename": "auditor", "company_id": a});
    let (status, body) = call(&app, Method::POST, "/roles", Some(&admin), Some(again)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "codename");
}

#[tokio::test]
async fn create_role_validates_its_input() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    for (body, field) in [
        (
            json!({"name": "", "codename": "ok", "company_id": a}),
            "name",
        ),
        (
            json!({"name": "X", "codename": "Bad Code", "company_id": a}),
            "codename",
        ),
        (
            json!({"name": "X", "codename": "ok", "company_id": a, "permissions": ["nope.nope"]}),
            "permissions",
        ),
        (
            json!({"name": "X", "codename": "ok", "company_id": a, "extra": 1}),
            "extra",
        ),
    ] {
        let (status, res) = call(&app, Method::POST, "/roles", Some(&admin), Some(body)).await;
        assert_eq!(status, 422, "{res}");
        assert_eq!(res["error"]["details"][0]["field"], field, "{res}");
    }
}

#[tokio::test]
async fn create_role_is_refused_outside_the_callers_companies_and_for_global_templates() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let b = company(&app, "ROLES-B").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let post = |token: String, body: Value| {
        let app = &app;
        async move { call(app, Method::POST, "/roles", Some(&token), Some(body)).await }
    };
    let (status, _) = post(
        admin.clone(),
        json!({"name": "X", "codename": "x", "company_id": b}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = post(admin.clone(), json!({"name": "X", "codename": "x"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = post(
        viewer,
        json!({"name": "X", "codename": "x", "company_id": a}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        None,
        Some(json!({"name": "X", "codename": "x", "company_id": a})),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let (status, body) = post(
        app.root_token().await,
        json!({"name": "Template", "codename": "template", "permissions": ["user.read"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["company_id"].is_null());
}

#[tokio::test]
async fn an_admin_cannot_grant_a_permission_it_does_not_hold() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    custom_permission(&app, "report.export").await;
    let r = role_in(&app, Some(a), "reporter", &["user.read"]).await;
    let (_, admin) = app.user_with_role(a, "admin").await;

    let path = format!("/roles/{}/permissions", r.id);
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"permissions": ["user.read", "report.export"]})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("report.export")
    );
    let (_, detail) = get(&app, &format!("/roles/{}", r.id), &admin).await;
    assert_eq!(codenames(&detail), ["user.read"]);

    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&admin),
        Some(json!({"name": "R", "codename": "r2", "company_id": a, "permissions": ["report.export"]})),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    let root = app.root_token().await;
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&root),
        Some(json!({"permissions": ["user.read", "report.export"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codenames(&body), ["report.export", "user.read"]);

    // Keeping a permission one does not hold is not granting it: the admin may still
    // change the rest of the set, and may drop it.
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"permissions": ["report.export", "group.read"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"permissions": []})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codenames(&body), Vec::<String>::new());
}

#[tokio::test]
async fn put_role_permissions_shows_in_the_very_next_me_permissions_of_a_holder() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let r = role_in(&app, Some(a), "clerk", &["user.read"]).await;
    let (_, holder) = app.user_with_role(a, "clerk").await;
    let (_, admin) = app.user_with_role(a, "admin").await;

    let (status, before) = get(&app, "/auth/me/permissions", &holder).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(codenames(&before), ["user.read"]);

    let (status, body) = call(
        &app,
        Method::PUT,
        &format!("/roles/{}/permissions", r.id),
        Some(&admin),
        Some(json!({"permissions": ["group.read", "company.read"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let (status, after) = get(&app, "/auth/me/permissions", &holder).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(codenames(&after), ["company.read", "group.read"]);
}

#[tokio::test]
async fn put_role_permissions_validates_and_guards() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let b = company(&app, "ROLES-B").await;
    let r = role_in(&app, Some(a), "clerk", &[]).await;
    let foreign = role_in(&app, Some(b), "clerk", &[]).await;
    let template = role_in(&app, None, "template", &[]).await;
    let system = seeded_role(&app, a, "viewer").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let put = |id: i64, token: Option<String>, body: Value| {
        let app = &app;
        async move {
            call(
                app,
                Method::PUT,
                &format!("/roles/{id}/permissions"),
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };
    let ok = json!({"permissions": ["user.read"]});
    let (status, body) = put(
        r.id,
        Some(admin.clone()),
        json!({"permissions": ["user.read", "no.such"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "permissions");
    let (status, _) = put(
        r.id,
        Some(admin.clone()),
        json!({"permissions": "user.read"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        put(foreign.id, Some(admin.clone()), ok.clone()).await.0,
        404
    );
    assert_eq!(put(999_999, Some(admin.clone()), ok.clone()).await.0, 404);
    assert_eq!(
        put(template.id, Some(admin.clone()), ok.clone()).await.0,
        403
    );
    assert_eq!(put(system, Some(admin.clone()), ok.clone()).await.0, 403);
    assert_eq!(put(r.id, Some(viewer), ok.clone()).await.0, 403);
    assert_eq!(put(r.id, None, ok.clone()).await.0, 401);
    let root = Some(app.root_token().await);
    assert_eq!(put(template.id, root.clone(), ok.clone()).await.0, 200);
    assert_eq!(put(system, root, ok).await.0, 200);
}

#[tokio::test]
async fn get_role_shows_its_permissions_within_the_callers_scope() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let b = company(&app, "ROLES-B").await;
    let r = role_in(&app, Some(a), "clerk", &["user.read", "group.read"]).await;
    let foreign = role_in(&app, Some(b), "clerk", &[]).await;
    let template = role_in(&app, None, "template", &["audit.read"]).await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;

    let (status, body) = get(&app, &format!("/roles/{}", r.id), &viewer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["codename"], "clerk");
    assert_eq!(codenames(&body), ["group.read", "user.read"]);
    let (status, body) = get(&app, &format!("/roles/{}", template.id), &viewer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codenames(&body), ["audit.read"]);

    let (status, body) = get(&app, &format!("/roles/{}", foreign.id), &viewer).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(get(&app, "/roles/999999", &viewer).await.0, 404);
    assert_eq!(get(&app, "/roles/abc", &viewer).await.0, 400);
    let (_, nobody) = powerless(&app, a).await;
    assert_eq!(get(&app, &format!("/roles/{}", r.id), &nobody).await.0, 403);
    let (status, _) = call(&app, Method::GET, &format!("/roles/{}", r.id), None, None).await;
    assert_eq!(status, 401);
    let (status, _) = get(
        &app,
        &format!("/roles/{}", foreign.id),
        &app.root_token().await,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn patch_role_updates_own_company_roles_only() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let b = company(&app, "ROLES-B").await;
    let r = role_in(&app, Some(a), "clerk", &[]).await;
    let foreign = role_in(&app, Some(b), "clerk", &[]).await;
    let system = seeded_role(&app, a, "admin").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let patch = |id: i64, token: Option<String>, body: Value| {
        let app = &app;
        async move {
            call(
                app,
                Method::PATCH,
                &format!("/roles/{id}"),
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };
    let (status, body) = patch(
        r.id,
        Some(admin.clone()),
        json!({"name": "Clerk II", "description": "d"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Clerk II");
    assert_eq!(body["description"], "d");
    let (status, body) = patch(r.id, Some(admin.clone()), json!({"name": "  "})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        patch(r.id, Some(admin.clone()), json!({"codename": "x"}))
            .await
            .0,
        422
    );
    assert_eq!(
        patch(foreign.id, Some(admin.clone()), json!({"name": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(
        patch(999_999, Some(admin.clone()), json!({"name": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(
        patch(system, Some(admin.clone()), json!({"is_active": false}))
            .await
            .0,
        403
    );
    assert_eq!(patch(r.id, Some(viewer), json!({"name": "x"})).await.0, 403);
    assert_eq!(patch(r.id, None, json!({"name": "x"})).await.0, 401);
    let (status, body) = patch(
        system,
        Some(app.root_token().await),
        json!({"name": "Boss"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn delete_role_removes_it_and_spares_system_roles() {
    let app = spawn_app().await;
    let a = company(&app, "ROLES-A").await;
    let b = company(&app, "ROLES-B").await;
    let r = role_in(&app, Some(a), "clerk", &["user.read"]).await;
    let foreign = role_in(&app, Some(b), "clerk", &[]).await;
    let system = seeded_role(&app, a, "viewer").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, manager) = app.user_with_role(a, "manager").await;
    let delete = |id: i64, token: Option<String>| {
        let app = &app;
        async move {
            call(
                app,
                Method::DELETE,
                &format!("/roles/{id}"),
                token.as_deref(),
                None,
            )
            .await
        }
    };
    assert_eq!(delete(r.id, Some(manager)).await.0, 403);
    assert_eq!(delete(r.id, None).await.0, 401);
    assert_eq!(delete(foreign.id, Some(admin.clone())).await.0, 404);
    assert_eq!(delete(system, Some(admin.clone())).await.0, 403);
    let (status, body) = delete(r.id, Some(admin.clone())).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(get(&app, &format!("/roles/{}", r.id), &admin).await.0, 404);
    assert_eq!(delete(r.id, Some(admin)).await.0, 404);
    let (status, body) = delete(system, Some(app.root_token().await)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
}

#[tokio::test]
async fn a_permission_list_longer_than_the_cap_is_422_before_any_lookup() {
    let app = spawn_app().await;
    let a = company(&app, "CAP").await;
    let r = role_in(&app, Some(a), "capped", &[]).await;
    let root = app.root_token().await;
    let too_many: Vec<String> = (0..2_001).map(|i| format!("resource{i}.read")).collect();
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/roles/{}/permissions", r.id),
            json!({ "permissions": too_many }),
        ),
        (
            Method::POST,
            "/roles".to_owned(),
            json!({ "name": "Big", "codename": "big", "company_id": a, "permissions": too_many }),
        ),
    ] {
        let (status, body) = call(&app, method, &path, Some(&root), Some(body)).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(
            body["error"]["details"][0]["field"], "permissions",
            "{body}"
        );
        assert!(
            body["error"]["details"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most 2000"),
            "{body}"
        );
    }
}
