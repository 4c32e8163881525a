//! `/api/v1/permissions` and `POST /api/v1/permissions/check`.
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::roles::{call, company, custom_permission, get, powerless};

fn codenames(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|p| p["codename"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn list_permissions_filters_by_resource_and_category() {
    let app = spawn_app().await;
    let a = company(&app, "PERM-A").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let (status, page) = get(&app, "/permissions?resource=role", &viewer).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        codenames(&page),
        [
            "role.assign",
            "role.create",
            "role.delete",
            "role.read",
            "role.update"
        ]
    );
    assert!(page["items"][0]["is_system"].as_bool().unwrap());
    let (_, page) = get(&app, "/permissions?category=audit", &viewer).await;
    assert_eq!(codenames(&page), ["audit.read"]);
    let (_, page) = get(&app, "/permissions?search=CACHE", &viewer).await;
    assert_eq!(codenames(&page), ["cache.manage"]);
    let (_, page) = get(&app, "/permissions?page=2&page_size=5", &viewer).await;
    assert_eq!(page["page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 5);

    assert_eq!(
        get(&app, "/permissions?is_active=maybe", &viewer).await.0,
        400
    );
    assert_eq!(get(&app, "/permissions?page=0", &viewer).await.0, 422);
    assert_eq!(
        call(&app, Method::GET, "/permissions", None, None).await.0,
        401
    );
    let (_, nobody) = powerless(&app, a).await;
    assert_eq!(get(&app, "/permissions", &nobody).await.0, 403);
}

#[tokio::test]
async fn a_superuser_creates_a_permission_and_a_company_admin_cannot() {
    let app = spawn_app().await;
    let a = company(&app, "PERM-A").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let root = app.root_token().await;
    let body =
        json!({"codename": "report.export", "name": "Export reports", "category": "reports"});
    // The catalogue is shared by every company: holding permission.create is not enough.
    let (status, refused) = call(
        &app,
        Method::POST,
        "/permissions",
        Some(&admin),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
    let (status, created) = call(
        &app,
        Method::POST,
        "/permissions",
        Some(&root),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["resource"], "report");
    assert_eq!(created["action"], "export");
    assert_eq!(created["category"], "reports");
    assert_eq!(created["is_system"], false);
    let id = created["id"].as_i64().unwrap();

    let (status, got) = get(&app, &format!("/permissions/{id}"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(got["codename"], "report.export");

    let (status, dup) = call(&app, Method::POST, "/permissions", Some(&root), Some(body)).await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["error"]["details"][0]["field"], "codename");

    let (status, bad) = call(
        &app,
        Method::POST,
        "/permissions",
        Some(&root),
        Some(json!({"codename": "Report", "name": ""})),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"]["details"].as_array().unwrap().len(), 2);

    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let other = json!({"codename": "report.view", "name": "View"});
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/permissions",
            Some(&viewer),
            Some(other.clone())
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&app, Method::POST, "/permissions", None, Some(other))
            .await
            .0,
        401
    );
    assert_eq!(get(&app, "/permissions/999999", &viewer).await.0, 404);
    assert_eq!(get(&app, "/permissions/0", &viewer).await.0, 400);
}

#[tokio::test]
async fn only_superusers_patch_permissions_custom_or_system() {
    let app = spawn_app().await;
    let a = company(&app, "PERM-A").await;
    let custom = custom_permission(&app, "report.export").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let (_, page) = get(&app, "/permissions?search=user.read", &admin).await;
    let system = page["items"][0]["id"].as_i64().unwrap();
    let patch = |id: i64, token: Option<String>, body: Value| {
        let app = &app;
        async move {
            call(
                app,
                Method::PATCH,
                &format!("/permissions/{id}"),
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };
    let root = app.root_token().await;
    // A company admin holds permission.update, but a deactivation would strip the
    // permission from every company's grants: refused.
    let (status, body) = patch(
        custom.id,
        Some(admin.clone()),
        json!({"name": "Export", "is_active": false}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = patch(
        custom.id,
        Some(root.clone()),
        json!({"name": "Export", "is_active": false}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["is_active"].as_bool()),
        (Some("Export"), Some(false))
    );
    assert_eq!(
        patch(custom.id, Some(root.clone()), json!({"name": ""}))
            .await
            .0,
        422
    );
    assert_eq!(
        patch(custom.id, Some(root.clone()), json!({"codename": "a.b"}))
            .await
            .0,
        422
    );
    assert_eq!(
        patch(system, Some(admin.clone()), json!({"name": "Read users"}))
            .await
            .0,
        403
    );
    assert_eq!(
        patch(custom.id, Some(viewer), json!({"name": "x"})).await.0,
        403
    );
    assert_eq!(
        patch(999_999, Some(root.clone()), json!({"name": "x"}))
            .await
            .0,
        404
    );
    assert_eq!(patch(custom.id, None, json!({"name": "x"})).await.0, 401);
    let (status, body) = patch(system, Some(root), json!({"name": "Read users"})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn delete_permission_removes_custom_ones_but_never_system_ones() {
    let app = spawn_app().await;
    let a = company(&app, "PERM-A").await;
    let custom = custom_permission(&app, "report.export").await;
    let (_, admin) = app.user_with_role(a, "admin").await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let (_, page) = get(&app, "/permissions?search=user.read", &admin).await;
    let system = page["items"][0]["id"].as_i64().unwrap();
    let delete = |id: i64, token: Option<String>| {
        let app = &app;
        async move {
            call(
                app,
                Method::DELETE,
                &format!("/permissions/{id}"),
                token.as_deref(),
                None,
            )
            .await
        }
    };
    assert_eq!(delete(custom.id, Some(viewer)).await.0, 403);
    assert_eq!(delete(custom.id, None).await.0, 401);
    let root = app.root_token().await;
    // Deleting would strip the permission from every company: superusers only.
    assert_eq!(delete(custom.id, Some(admin.clone())).await.0, 403);
    assert_eq!(delete(custom.id, Some(root.clone())).await.0, 204);
    assert_eq!(
        get(&app, &format!("/permissions/{}", custom.id), &admin)
            .await
            .0,
        404
    );
    assert_eq!(delete(custom.id, Some(root.clone())).await.0, 404);
    let (status, body) = delete(system, Some(root)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(delete(system, Some(admin)).await.0, 403);
}

#[tokio::test]
async fn check_answers_for_the_caller_without_any_permission() {
    let app = spawn_app().await;
    let a = company(&app, "PERM-A").await;
    let (_, nobody) = powerless(&app, a).await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let check = |token: String, body: Value| {
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                "/permissions/check",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    let (status, body) = check(nobody, json!({"permissions": ["user.read"]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"allowed": false, "results": {"user.read": false}})
    );

    let both = json!({"permissions": ["user.read", "user.update", "no.such"], "mode": "all"});
    let (_, body) = check(viewer.clone(), both).await;
    assert_eq!(body["allowed"], false);
    assert_eq!(
        body["results"],
        json!({"user.read": true, "user.update": false, "no.such": false})
    );
    let any = json!({"permissions": ["user.read", "user.update"], "mode": "any"});
    assert_eq!(check(viewer.clone(), any).await.1["allowed"], true);
    let (_, body) = check(
        viewer.clone(),
        json!({"permissions": ["role.read", "group.read"]}),
    )
    .await;
    assert_eq!(body["allowed"], true, "mode defaults to all");
    let me = json!({"permissions": ["user.read"], "company_id": a});
    assert_eq!(check(viewer.clone(), me).await.1["allowed"], true);

    let (status, body) = check(viewer.clone(), json!({"permissions": []})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "permissions");
    let (status, _) = check(
        viewer.clone(),
        json!({"permissions": ["user.read"], "mode": "most"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = check(viewer, json!({"permission": ["user.read"]})).await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &app,
        Method::POST,
        "/permissions/check",
        None,
        Some(json!({"permissions": ["user.read"]})),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn check_of_another_user_needs_permission_read_and_stays_in_scope() {
    let app = spawn_app().await;
    let a = company(&app, "PERM-A").await;
    let b = company(&app, "PERM-B").await;
    let (admin_a, _) = app.user_with_role(a, "admin").await;
    let (admin_b, _) = app.user_with_role(b, "admin").await;
    let (_, nobody) = powerless(&app, a).await;
    let (_, viewer) = app.user_with_role(a, "viewer").await;
    let check = |token: String, body: Value| {
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                "/permissions/check",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    let about_admin = json!({"user_id": admin_a.id, "permissions": ["cache.manage", "user.read"]});
    let (status, body) = check(viewer.clone(), about_admin.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
    assert_eq!(check(nobody.clone(), about_admin).await.0, 403);
    // Itself in another company is "another company": permission.read needed there too.
    assert_eq!(
        check(
            nobody,
            json!({"company_id": b, "permissions": ["user.read"]})
        )
        .await
        .0,
        403
    );

    let (status, body) = check(
        viewer.clone(),
        json!({"user_id": admin_b.id, "permissions": ["user.read"]}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let in_b = json!({"user_id": admin_b.id, "company_id": b, "permissions": ["user.read"]});
    assert_eq!(check(viewer.clone(), in_b.clone()).await.0, 404);
    assert_eq!(
        check(
            viewer.clone(),
            json!({"company_id": b, "permissions": ["user.read"]})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        check(
            viewer,
            json!({"user_id": 999_999, "permissions": ["user.read"]})
        )
        .await
        .0,
        404
    );

    let (status, body) = check(app.root_token().await, in_b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allowed"], true);
}
