//! Menus over HTTP: `GET /auth/me/menus` (ETag, 304), `GET /auth/me?include=`, the
//! `/menus` administration and its error answers, and the admin UI served under `/admin`.
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::roles::{company, role_in};

/// The names in a `GET /auth/me/menus` body, depth first (children prefixed with `>`).
fn names(body: &Value) -> Vec<String> {
    fn walk(items: &Value, prefix: &str, out: &mut Vec<String>) {
        for item in items.as_array().expect("items") {
            out.push(format!("{prefix}{}", item["name"].as_str().expect("name")));
            walk(&item["children"], &format!("{prefix}>"), out);
        }
    }
    let mut out = Vec::new();
    walk(&body["items"], "", &mut out);
    out
}

async fn my_menus(app: &TestApp, token: &str, etag: Option<&str>) -> crate::helpers::Response {
    let mut req = app
        .client
        .get(format!("{}/api/v1/auth/me/menus", app.address))
        .bearer_auth(token);
    if let Some(tag) = etag {
        req = req.header("If-None-Match", tag);
    }
    req.send().await.expect("request sent")
}

#[tokio::test]
async fn my_menus_follow_my_permissions_with_an_etag_and_answer_304_when_unchanged() {
    let app = spawn_app().await;
    let acme = company(&app, "MENU1").await;
    let role = role_in(&app, Some(acme), "auditors", &["audit.read"]).await;
    let (user, token) = app.user_with_role(acme, "viewer").await;
    app.fastvue
        .assignments()
        .assign(
            &fastvue_core::Actor::system(),
            user.id,
            fastvue_core::service::assignments::NewAssignment {
                company_id: acme,
                role_id: role.id,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let res = my_menus(&app, &token, None).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["cache-control"], "private, no-cache");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["company_id"], acme);
    let seen = names(&body);
    assert!(
        seen.contains(&"audit".to_owned()) && seen.contains(&">profile".to_owned()),
        "{seen:?}"
    );

    let res = my_menus(&app, &token, Some(&etag)).await;
    assert_eq!(res.status(), 304);
    assert!(res.bytes().await.unwrap().is_empty());

    // An administrator empties the custom role and narrows the viewer role.
    let root = app.root_token().await;
    let res = app
        .client
        .put(format!(
            "{}/api/v1/roles/{}/permissions",
            app.address, role.id
        ))
        .bearer_auth(&root)
        .json(&json!({"permissions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let viewer = app
        .fastvue
        .roles()
        .list(
            &fastvue_core::Actor::system(),
            &fastvue_core::service::roles::RoleFilter {
                company_id: Some(acme),
                search: Some("viewer".into()),
                ..Default::default()
            },
            fastvue_core::pagination::PageRequest::new(Some(1), Some(10)).unwrap(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|r| r.codename == "viewer")
        .unwrap();
    let res = app
        .client
        .put(format!(
            "{}/api/v1/roles/{}/permissions",
            app.address, viewer.id
        ))
        .bearer_auth(&root)
        .json(&json!({"permissions": ["user.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = my_menus(&app, &token, Some(&etag)).await;
    assert_eq!(res.status(), 200, "the tree changed");
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
    let seen = names(&res.json().await.unwrap());
    assert_eq!(
        seen,
        ["dashboard", "users", "account", ">sessions", ">profile"]
    );
}

#[tokio::test]
async fn me_with_include_boots_a_frontend_in_one_request_and_refuses_unknown_parts() {
    let app = spawn_app().await;
    let acme = company(&app, "MENU2").await;
    let (_, token) = app.user_with_role(acme, "viewer").await;
    let res = app
        .client
        .get(format!(
            "{}/api/v1/auth/me?include=permissions,menus",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["active_company_id"], acme);
    assert_eq!(body["permissions"]["company_id"], acme);
    assert!(
        body["permissions"]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "user.read")
    );
    assert_eq!(body["menus"]["company_id"], acme);
    assert!(names(&body["menus"]).contains(&"users".to_owned()));

    let plain: Value = app
        .client
        .get(format!("{}/api/v1/auth/me", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(plain.get("permissions").is_none() && plain.get("menus").is_none());

    let res = app
        .client
        .get(format!(
            "{}/api/v1/auth/me?include=menus,secrets",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "include");
}

#[tokio::test]
async fn menu_administration_over_http_answers_each_rule_with_its_status() {
    let app = spawn_app().await;
    let acme = company(&app, "MENU3").await;
    let other = company(&app, "MENU4").await;
    let (_, admin) = app.user_with_role(acme, "admin").await;
    let (_, viewer) = app.user_with_role(acme, "viewer").await;
    let url = format!("{}/api/v1/menus", app.address);
    let post = |token: &str, body: Value| {
        app.client
            .post(url.clone())
            .bearer_auth(token)
            .json(&body)
            .send()
    };

    let res = post(
        &admin,
        json!({"company_id": acme, "name": "reports", "title": "Reports",
        "permissions": ["audit.read"], "permission_mode": "all", "icon": "Document", "order": 5}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let reports: Value = res.json().await.unwrap();
    assert_eq!(reports["permissions"], json!(["audit.read"]));
    assert_eq!(reports["path"], Value::Null);
    let res = post(
        &admin,
        json!({"company_id": acme, "parent_id": reports["id"], "name": "monthly",
        "path": "/reports/monthly", "title": "Monthly"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let monthly: Value = res.json().await.unwrap();

    // Duplicate name: 409 on `name`; bad fields: 422 naming each; a viewer: 403; a
    // global entry by a company admin: 403; another company's: 403.
    let res = post(
        &admin,
        json!({"company_id": acme, "name": "reports", "title": "Again"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 409);
    let res = post(
        &admin,
        json!({"company_id": acme, "name": "x", "title": "", "path": "//evil"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    let mut fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["name", "path", "title"]);
    let res = post(
        &admin,
        json!({"company_id": acme, "name": "y", "title": "Y", "unknown": 1}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    // Extreme numbers (found by schemathesis): 422, never a 500.
    let res = post(
        &admin,
        json!({"company_id": acme, "name": "z", "title": "Z", "order": i32::MIN, "parent_id": 0}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let root = app.root_token().await;
    let res = post(
        &root,
        json!({"company_id": i64::MAX - 1, "name": "", "title": "", "order": i32::MIN,
               "parent_id": 0, "permissions": []}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        post(
            &viewer,
            json!({"company_id": acme, "name": "v", "title": "V"})
        )
        .await
        .unwrap()
        .status(),
        403
    );
    assert_eq!(
        post(&admin, json!({"name": "global", "title": "G"}))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(
            &admin,
            json!({"company_id": other, "name": "o", "title": "O"})
        )
        .await
        .unwrap()
        .status(),
        403
    );

    // The viewer reads the list (menu.read is seeded); a foreign company filter is 404.
    let res = app
        .client
        .get(format!("{url}?company_id={acme}"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "monthly")
    );
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "users" && m["company_id"].is_null())
    );
    let res = app
        .client
        .get(format!("{url}?company_id={other}"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // A parent with children stays (409); a cycle is 422; then the leaf, then the parent.
    let id = reports["id"].as_i64().unwrap();
    let child = monthly["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(format!("{url}/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = app
        .client
        .request(reqwest::Method::PATCH, format!("{url}/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"parent_id": child}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = app
        .client
        .request(reqwest::Method::PATCH, format!("{url}/{child}"))
        .bearer_auth(&admin)
        .json(&json!({"title": "Every month", "icon": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(
        (patched["title"].as_str(), patched["icon"].is_null()),
        (Some("Every month"), true)
    );
    for target in [child, id] {
        let res = app
            .client
            .delete(format!("{url}/{target}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let res = app
        .client
        .get(format!("{url}/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// A new empty folder under the system's temporary directory.
fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fastvue-ui-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_admin_ui_is_served_under_admin_with_history_fallback_and_cache_headers() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>admin</title>",
    )
    .unwrap();
    std::fs::create_dir(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/app-1a2b3c.js"), "console.log(1)").unwrap();
    let path = dir.display().to_string();
    let app = spawn_app_with(&[("ADMIN_UI_DIR", path.as_str())]).await;
    let client = app.client_without_redirects();

    let res = client
        .get(format!("{}/admin", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/admin/");
    for page in ["/admin/", "/admin/users", "/admin/users/42/edit"] {
        let res = client
            .get(format!("{}{page}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{page}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{page}");
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        assert!(
            res.text().await.unwrap().contains("<title>admin</title>"),
            "{page}"
        );
    }
    let res = client
        .get(format!("{}/admin/assets/app-1a2b3c.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.text().await.unwrap(), "console.log(1)");
    // Nothing outside the folder is reachable.
    for probe in [
        "/admin/../Cargo.toml",
        "/admin/%2e%2e/Cargo.toml",
        "/admin/..%2fCargo.toml",
    ] {
        let res = client
            .get(format!("{}{probe}", app.address))
            .send()
            .await
            .unwrap();
        let text = res.text().await.unwrap();
        assert!(!text.contains("[package]"), "{probe} leaked a file");
    }
    // The API is unchanged beside it.
    assert_eq!(
        client
            .get(format!("{}/health/live", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn admin_ui_dir_without_an_index_is_refused_at_start() {
    let dir = scratch_dir();
    let settings = fastvue_core::config::Settings::from_source(|name| match name {
        "ADMIN_UI_DIR" => Some(dir.display().to_string()),
        _ => None,
    });
    let err = settings.expect_err("a folder without index.html is refused");
    assert!(err.to_string().contains("ADMIN_UI_DIR"), "{err}");
}
