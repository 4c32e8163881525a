//! `/api/v1/users`: CRUD, role assignments, permissions, tenant isolation and escalation,
//! plus the fixtures the companies tests share.
use fastvue_core::Actor;
use fastvue_core::entity::{role, user};
use fastvue_core::pagination::PageRequest;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::audit::AuditFilter;
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::roles::{NewRole, RoleFilter};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app};

/// Sends `method /api/v1{path}` with an optional bearer token and JSON body; returns the
/// status and the JSON body (`Null` when empty).
pub(crate) async fn send(
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

pub(crate) async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    send(app, Method::GET, path, Some(token), None).await
}

pub(crate) async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(app, Method::POST, path, Some(token), Some(body)).await
}

pub(crate) async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(app, Method::PATCH, path, Some(token), Some(body)).await
}

pub(crate) async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    send(app, Method::DELETE, path, Some(token), None).await
}

/// A new company with its seeded roles; returns its id.
pub(crate) async fn new_company(app: &TestApp, code: &str, parent_id: Option<i64>) -> i64 {
    app.fastvue
        .companies()
        .create(
            &Actor::system(),
            NewCompany {
                name: format!("Company {code}"),
                code: code.to_owned(),
                parent_id,
                ..Default::default()
            },
        )
        .await
        .expect("create company")
        .id
}

/// The role `codename` of `company_id` (a seeded or a custom one).
pub(crate) async fn role_of(app: &TestApp, company_id: i64, codename: &str) -> role::Model {
    app.fastvue
        .roles()
        .list(
            &Actor::system(),
            &RoleFilter {
                company_id: Some(company_id),
                search: Some(codename.to_owned()),
                ..Default::default()
            },
            PageRequest::new(Some(1), Some(100)).expect("page"),
        )
        .await
        .expect("list roles")
        .items
        .into_iter()
        .find(|r| r.codename == codename && r.company_id == Some(company_id))
        .unwrap_or_else(|| panic!("company {company_id} has no role {codename}"))
}

/// A custom role of `company_id` granting `perms`.
pub(crate) async fn custom_role(
    app: &TestApp,
    company_id: i64,
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
                company_id: Some(company_id),
                permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
        )
        .await
        .expect("create role")
        .role
}

/// Gives `user_id` the role `codename` of `company_id`.
pub(crate) async fn grant(app: &TestApp, user_id: i64, company_id: i64, codename: &str) -> i64 {
    let r = role_of(app, company_id, codename).await;
    app.fastvue
        .assignments()
        .assign(
            &Actor::system(),
            user_id,
            NewAssignment {
                company_id,
                role_id: r.id,
                is_default: false,
                scope: Default::default(),
            },
        )
        .await
        .expect("assign role")
        .id
}

/// Two tenants: company A with an admin (signed in), company B with a viewer who belongs
/// to B only, and the superuser's token.
pub(crate) struct Tenants {
    pub a: i64,
    pub b: i64,
    pub admin_a: user::Model,
    pub admin_a_token: String,
    pub only_b: user::Model,
    pub root: String,
}

pub(crate) async fn tenants(app: &TestApp) -> Tenants {
    let a = new_company(app, "ACME", None).await;
    let b = new_company(app, "BETA", None).await;
    let (admin_a, admin_a_token) = app.user_with_role(a, "admin").await;
    let (only_b, _) = app.user_with_role(b, "viewer").await;
    Tenants {
        a,
        b,
        admin_a,
        admin_a_token,
        only_b,
        root: app.root_token().await,
    }
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect()
}

fn new_user_body(name: &str, role_id: i64) -> Value {
    json!({
        "email": format!("{name}@example.com"),
        "username": name,
        "password": "long-enough-pw",
        "full_name": "New Person",
        "role_id": role_id,
    })
}

#[tokio::test]
async fn every_users_route_answers_401_without_a_token() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/users"),
        (Method::POST, "/users"),
        (Method::GET, "/users/1"),
        (Method::PATCH, "/users/1"),
        (Method::DELETE, "/users/1"),
        (Method::GET, "/users/1/roles"),
        (Method::POST, "/users/1/roles"),
        (Method::DELETE, "/users/1/roles/1"),
        (Method::GET, "/users/1/permissions"),
        (
            Method::GET,
            "/users/1/permissions/explain?permission=user.read",
        ),
    ] {
        let (status, body) = send(&app, method.clone(), path, None, Some(json!({}))).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
    }
}

#[tokio::test]
async fn every_users_route_answers_403_without_its_permission() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    custom_role(&app, t.a, "nothing", &[]).await;
    let (_, none) = app.user_with_role(t.a, "nothing").await;
    let id = t.admin_a.id;
    let role = role_of(&app, t.a, "viewer").await.id;
    for (method, path) in [
        (Method::GET, "/users".to_owned()),
        (Method::POST, "/users".to_owned()),
        (Method::GET, format!("/users/{id}")),
        (Method::PATCH, format!("/users/{id}")),
        (Method::DELETE, format!("/users/{id}")),
        (Method::GET, format!("/users/{id}/roles")),
        (Method::POST, format!("/users/{id}/roles")),
        (Method::DELETE, format!("/users/{id}/roles/1")),
        (Method::GET, format!("/users/{id}/permissions")),
        (
            Method::GET,
            format!("/users/{id}/permissions/explain?permission=user.read"),
        ),
    ] {
        // A valid body for each route: the refusal is about the permission, not the input.
        let body = if method == Method::PATCH {
            json!({"email": "x@example.com"})
        } else if path.ends_with("/roles") {
            json!({"company_id": t.a, "role_id": role})
        } else {
            json!({"company_id": t.a, "role_id": role, "email": "x@example.com", "username": "xxx"})
        };
        let (status, res) = send(&app, method.clone(), &path, Some(&none), Some(body)).await;
        assert_eq!(status, 403, "{method} {path}: {res}");
        assert_eq!(res["error"]["code"], "forbidden");
    }
    // A viewer reads but cannot write.
    let (_, viewer) = app.user_with_role(t.a, "viewer").await;
    assert_eq!(get(&app, &format!("/users/{id}"), &viewer).await.0, 200);
    let (status, _) = patch(
        &app,
        &format!("/users/{id}"),
        &viewer,
        json!({"full_name": "X"}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(delete(&app, &format!("/users/{id}"), &viewer).await.0, 403);
    let (status, _) = post(&app, "/users", &viewer, new_user_body("by-viewer", role)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn list_users_shows_only_members_of_the_callers_companies() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, page) = get(&app, "/users", &t.admin_a_token).await;
    assert_eq!(status, 200, "{page}");
    let seen = ids(&page);
    assert!(seen.contains(&t.admin_a.id));
    assert!(
        !seen.contains(&t.only_b.id),
        "a user of B leaked to A: {page}"
    );
    assert_eq!(page["total"], seen.len());
    // Filtering on a foreign company finds nothing rather than B's users.
    let (status, page) = get(
        &app,
        &format!("/users?company_id={}", t.b),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 0, "{page}");
    // The superuser sees everyone.
    let (_, page) = get(&app, "/users?page_size=100", &t.root).await;
    let seen = ids(&page);
    assert!(seen.contains(&t.admin_a.id) && seen.contains(&t.only_b.id));
}

#[tokio::test]
async fn list_users_searches_filters_and_paginates() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    for _ in 0..3 {
        app.user_with_role(t.a, "viewer").await;
    }
    let (status, page) = get(&app, "/users?page=1&page_size=2", &t.admin_a_token).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["total"], 4);
    assert_eq!(page["pages"], 2);
    assert_eq!(
        (page["page"].clone(), page["page_size"].clone()),
        (json!(1), json!(2))
    );
    let (_, page) = get(&app, "/users?search=ADMIN-", &t.admin_a_token).await;
    assert_eq!(ids(&page), vec![t.admin_a.id]);
    let (_, page) = get(&app, "/users?is_active=false", &t.admin_a_token).await;
    assert_eq!(page["total"], 0);
    let (status, page) = get(&app, &format!("/users?company_id={}", t.a), &t.root).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 4);
    assert_eq!(get(&app, "/users?page_size=101", &t.root).await.0, 422);
    assert_eq!(get(&app, "/users?is_active=maybe", &t.root).await.0, 400);
}

#[tokio::test]
async fn the_total_of_a_numbered_page_follows_every_change_to_users_and_their_roles() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let total = |path: &'static str| {
        let app = &app;
        let root = t.root.clone();
        async move {
            let (status, page) = get(app, path, &root).await;
            assert_eq!(status, 200, "{page}");
            page["total"].as_u64().expect("total")
        }
    };
    let everyone = total("/users").await;
    let active = total("/users?is_active=true").await;
    assert_eq!(total("/users?search=zebra").await, 0);
    // Asked again, the remembered total is the same.
    assert_eq!(total("/users").await, everyone);

    let viewer = role_of(&app, t.a, "viewer").await.id;
    let (status, made) = post(&app, "/users", &t.root, {
        let mut body = new_user_body("pagecount", viewer);
        body["company_id"] = json!(t.a);
        body
    })
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_i64().unwrap();
    assert_eq!(total("/users").await, everyone + 1, "a new user is counted");
    let in_a = format!("/users?company_id={}", t.a);
    let (_, page) = get(&app, &in_a, &t.root).await;
    let members = page["total"].as_u64().unwrap();

    let (status, _) = patch(
        &app,
        &format!("/users/{id}"),
        &t.root,
        json!({"full_name": "Zebra"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        total("/users?search=zebra").await,
        1,
        "a renamed user is found"
    );

    let (_, roles) = get(&app, &format!("/users/{id}/roles"), &t.root).await;
    let aid = roles[0]["id"].as_i64().expect("assignment");
    let (status, _) = delete(&app, &format!("/users/{id}/roles/{aid}"), &t.root).await;
    assert_eq!(status, 204);
    let (_, page) = get(&app, &in_a, &t.root).await;
    assert_eq!(
        page["total"],
        members - 1,
        "a removed role leaves the company's count"
    );

    let (status, _) = delete(&app, &format!("/users/{id}"), &t.root).await;
    assert_eq!(status, 204);
    assert_eq!(
        total("/users?is_active=true").await,
        active,
        "a deactivated user leaves the active count"
    );
    assert_eq!(
        total("/users").await,
        everyone + 1,
        "deactivation keeps the row"
    );
}

/// Follows `next_cursor` from an empty cursor; returns every id seen, page by page.
async fn scroll(app: &TestApp, path: &str, token: &str, page_size: u64) -> Vec<Vec<i64>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut cursor = String::new();
    let mut pages = Vec::new();
    loop {
        let (status, page) = get(
            app,
            &format!("{path}{sep}page_size={page_size}&cursor={cursor}"),
            token,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.get("total").is_none(),
            "a keyset page counts nothing: {page}"
        );
        assert_eq!(page["page_size"], page_size);
        let seen = ids(&page);
        assert!(seen.len() as u64 <= page_size, "{page}");
        pages.push(seen);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return pages,
        }
        assert!(pages.len() < 100, "the cursor never ends");
    }
}

#[tokio::test]
async fn scrolling_users_with_a_cursor_visits_each_visible_user_once_in_id_order() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    for _ in 0..4 {
        app.user_with_role(t.a, "viewer").await;
    }
    let (_, numbered) = get(&app, "/users?page_size=100", &t.admin_a_token).await;
    let everyone = ids(&numbered);
    assert_eq!(everyone.len(), 5, "{numbered}");
    let pages = scroll(&app, "/users", &t.admin_a_token, 2).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1],
        "the last page says so with a null next_cursor"
    );
    assert_eq!(
        pages.concat(),
        everyone,
        "same rows, same order, none of B's"
    );
    let members = scroll(
        &app,
        &format!("/companies/{}/users", t.a),
        &t.admin_a_token,
        3,
    )
    .await;
    assert_eq!(members.concat(), everyone, "a company's users scroll too");
    let (status, body) = get(
        &app,
        &format!("/companies/{}/users?cursor=", t.b),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(status, 404, "another tenant's users by cursor: {body}");
    // Filters apply as with page numbers.
    let pages = scroll(&app, "/users?search=ADMIN-", &t.admin_a_token, 2).await;
    assert_eq!(pages.concat(), vec![t.admin_a.id]);
    // An exact fit ends on a full page with no cursor after it.
    let pages = scroll(&app, "/users", &t.admin_a_token, 5).await;
    assert_eq!(pages.len(), 1);
}

#[tokio::test]
async fn a_cursor_page_is_not_shifted_by_users_deleted_or_created_meanwhile() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    for _ in 0..4 {
        app.user_with_role(t.a, "viewer").await;
    }
    let (_, first) = get(
        &app,
        &format!("/users?company_id={}&page_size=2&cursor=", t.a),
        &t.root,
    )
    .await;
    let seen = ids(&first);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more follow")
        .to_string();
    // The first page's rows go away and a newcomer arrives: the next page still starts
    // right after the cursor (a page number would now skip a row).
    assert_eq!(
        delete(&app, &format!("/users/{}", seen[1]), &t.root)
            .await
            .0,
        204
    );
    app.user_with_role(t.a, "viewer").await;
    let (_, numbered) = get(
        &app,
        &format!("/users?company_id={}&page_size=100", t.a),
        &t.root,
    )
    .await;
    let after: Vec<i64> = ids(&numbered)
        .into_iter()
        .filter(|id| *id > seen[1])
        .collect();
    let (status, second) = get(
        &app,
        &format!("/users?company_id={}&page_size=2&cursor={cursor}", t.a),
        &t.root,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second), after[..2].to_vec());
}

#[tokio::test]
async fn malformed_cursors_and_a_cursor_with_a_page_number_are_refused_with_the_field() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    for (query, field) in [
        ("cursor=abc", "cursor"),
        ("cursor=-1", "cursor"),
        ("cursor=%2B5", "cursor"),
        ("cursor=1e3", "cursor"),
        ("cursor=99999999999999999999", "cursor"),
        ("cursor=%00", "cursor"),
        ("cursor=1&page_size=0", "page_size"),
        ("cursor=1&page_size=101", "page_size"),
        ("cursor=&page=2", "page"),
    ] {
        let (status, body) = get(&app, &format!("/users?{query}"), &t.root).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["code"], "validation_error", "{query}");
        assert_eq!(
            body["error"]["details"][0]["field"], field,
            "{query}: {body}"
        );
    }
    // A cursor past every row is simply the end.
    let (status, body) = get(&app, "/users?cursor=9223372036854775807", &t.root).await;
    assert_eq!((status, ids(&body).len()), (200, 0), "{body}");
    assert_eq!(body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn admin_creates_a_user_holding_a_role_in_the_active_company() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let viewer = role_of(&app, t.a, "viewer").await;
    let (status, created) = post(
        &app,
        "/users",
        &t.admin_a_token,
        new_user_body("newbie", viewer.id),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["email"], "newbie@example.com");
    assert_eq!(created["current_company_id"], t.a);
    assert!(created.get("password_hash").is_none(), "{created}");
    assert!(created.get("password").is_none(), "{created}");
    let stamp = created["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
    let id = created["id"].as_i64().unwrap();
    let (status, roles) = get(&app, &format!("/users/{id}/roles"), &t.admin_a_token).await;
    assert_eq!(status, 200);
    assert_eq!(roles[0]["role_codename"], "viewer");
    assert_eq!(roles[0]["company_id"], t.a);
    // The new account signs in with its password.
    app.login("newbie", "long-enough-pw").await;
    // The write is audited with the admin as actor.
    let logs = app
        .fastvue
        .audit_logs()
        .list(
            &Actor::system(),
            &AuditFilter {
                entity_type: Some("user".into()),
                entity_id: Some(id),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(
        logs.items
            .iter()
            .any(|l| l.action == "create" && l.actor_id == Some(t.admin_a.id)),
        "{:?}",
        logs.items
    );
}

#[tokio::test]
async fn create_user_conflicts_on_a_taken_email_or_username() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let viewer = role_of(&app, t.a, "viewer").await.id;
    assert_eq!(
        post(
            &app,
            "/users",
            &t.admin_a_token,
            new_user_body("dup", viewer)
        )
        .await
        .0,
        201
    );
    let mut same_email = new_user_body("other", viewer);
    same_email["email"] = json!("DUP@example.com");
    let (status, body) = post(&app, "/users", &t.admin_a_token, same_email).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "email");
    let mut same_username = new_user_body("dup", viewer);
    same_username["email"] = json!("fresh@example.com");
    let (status, body) = post(&app, "/users", &t.admin_a_token, same_username).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "username");
}

#[tokio::test]
async fn create_user_rejects_invalid_input_with_422() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let viewer = role_of(&app, t.a, "viewer").await.id;
    let mut bad = new_user_body("ok-name", viewer);
    bad["email"] = json!("not-an-email");
    bad["password"] = json!("short");
    let (status, body) = post(&app, "/users", &t.admin_a_token, bad).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"email") && fields.contains(&"password"),
        "{body}"
    );
    let mut unknown = new_user_body("ok-name", viewer);
    unknown["is_admin"] = json!(true);
    let (status, body) = post(&app, "/users", &t.admin_a_token, unknown).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"][0]["field"], "is_admin");
    // A non-superuser must give the new account a role.
    let mut roleless = new_user_body("roleless", viewer);
    roleless.as_object_mut().unwrap().remove("role_id");
    let (status, body) = post(&app, "/users", &t.admin_a_token, roleless).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"][0]["field"], "role_id");
}

#[tokio::test]
async fn only_superusers_create_superusers() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let viewer = role_of(&app, t.a, "viewer").await.id;
    let mut body = new_user_body("wannabe", viewer);
    body["is_superuser"] = json!(true);
    let (status, res) = post(&app, "/users", &t.admin_a_token, body.clone()).await;
    assert_eq!(status, 403, "{res}");
    assert!(
        app.fastvue
            .users()
            .find_by_login("wannabe")
            .await
            .unwrap()
            .is_none()
    );
    body.as_object_mut().unwrap().remove("role_id");
    let (status, res) = post(&app, "/users", &t.root, body).await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(res["is_superuser"], true);
}

#[tokio::test]
async fn admin_cannot_create_users_in_another_company_or_with_its_roles() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let b_viewer = role_of(&app, t.b, "viewer").await.id;
    let mut in_b = new_user_body("into-b", b_viewer);
    in_b["company_id"] = json!(t.b);
    let (status, res) = post(&app, "/users", &t.admin_a_token, in_b).await;
    assert_eq!(status, 403, "{res}");
    let (status, res) = post(
        &app,
        "/users",
        &t.admin_a_token,
        new_user_body("b-role-in-a", b_viewer),
    )
    .await;
    assert_eq!(status, 422, "{res}");
    assert_eq!(res["error"]["details"][0]["field"], "role_id");
    assert!(
        app.fastvue
            .users()
            .find_by_login("b-role-in-a")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_manager_cannot_create_a_user_with_a_role_granting_more_than_it_holds() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (_, manager) = app.user_with_role(t.a, "manager").await;
    let admin_role = role_of(&app, t.a, "admin").await.id;
    let (status, res) = post(
        &app,
        "/users",
        &manager,
        new_user_body("too-strong", admin_role),
    )
    .await;
    assert_eq!(status, 403, "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user.delete"),
        "{res}"
    );
    let viewer = role_of(&app, t.a, "viewer").await.id;
    assert_eq!(
        post(&app, "/users", &manager, new_user_body("fine", viewer))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn get_user_answers_404_for_unknown_and_foreign_ids() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (status, body) = get(&app, &format!("/users/{}", t.admin_a.id), &t.admin_a_token).await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], t.admin_a.username);
    assert!(body.get("password_hash").is_none());
    let (status, body) = get(&app, &format!("/users/{}", t.only_b.id), &t.admin_a_token).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(get(&app, "/users/999999", &t.admin_a_token).await.0, 404);
    assert_eq!(get(&app, "/users/abc", &t.admin_a_token).await.0, 400);
    assert_eq!(
        get(&app, &format!("/users/{}", t.only_b.id), &t.root)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn admin_patches_a_user_of_its_company() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let path = format!("/users/{}", member.id);
    let (status, body) = patch(
        &app,
        &path,
        &t.admin_a_token,
        json!({"full_name": "Renamed", "email": "Renamed@Example.com", "password": "a-new-password"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["full_name"], "Renamed");
    assert_eq!(body["email"], "renamed@example.com");
    app.login("renamed@example.com", "a-new-password").await;
    // Sending the current is_superuser value is a no-op, not an escalation.
    let (status, _) = patch(
        &app,
        &path,
        &t.admin_a_token,
        json!({"is_superuser": false}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn patch_user_answers_404_409_and_422() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let path = format!("/users/{}", member.id);
    let (status, _) = patch(
        &app,
        &format!("/users/{}", t.only_b.id),
        &t.admin_a_token,
        json!({"full_name": "Hijack"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.fastvue
            .users()
            .get(&Actor::system(), t.only_b.id)
            .await
            .unwrap()
            .full_name,
        None
    );
    assert_eq!(
        patch(
            &app,
            "/users/999999",
            &t.admin_a_token,
            json!({"full_name": "X"})
        )
        .await
        .0,
        404
    );
    let (status, body) = patch(
        &app,
        &path,
        &t.admin_a_token,
        json!({"email": t.admin_a.email}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = patch(&app, &path, &t.admin_a_token, json!({"email": "nope"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = patch(&app, &path, &t.admin_a_token, json!({"is_active": "yes"})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn only_superusers_set_is_superuser_or_change_a_superuser() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let (status, body) = patch(
        &app,
        &format!("/users/{}", member.id),
        &t.admin_a_token,
        json!({"is_superuser": true}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        !app.fastvue
            .users()
            .get(&Actor::system(), member.id)
            .await
            .unwrap()
            .is_superuser
    );
    // The admin cannot make itself a superuser either.
    let (status, _) = patch(
        &app,
        &format!("/users/{}", t.admin_a.id),
        &t.admin_a_token,
        json!({"is_superuser": true}),
    )
    .await;
    assert_eq!(status, 403);
    // A superuser outside A is invisible (404); one holding a role in A is visible but
    // cannot be changed (403).
    let root = app
        .fastvue
        .users()
        .find_by_login("root@example.com")
        .await
        .unwrap()
        .unwrap();
    let (status, _) = patch(
        &app,
        &format!("/users/{}", root.id),
        &t.admin_a_token,
        json!({"password": "taken-over-123"}),
    )
    .await;
    assert_eq!(status, 404);
    grant(&app, root.id, t.a, "viewer").await;
    let (status, body) = patch(
        &app,
        &format!("/users/{}", root.id),
        &t.admin_a_token,
        json!({"password": "taken-over-123"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        delete(&app, &format!("/users/{}", root.id), &t.admin_a_token)
            .await
            .0,
        403
    );
    // The superuser may.
    let (status, body) = patch(
        &app,
        &format!("/users/{}", member.id),
        &t.root,
        json!({"is_superuser": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_superuser"], true);
}

#[tokio::test]
async fn nobody_takes_over_an_account_more_powerful_than_itself() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (_, manager) = app.user_with_role(t.a, "manager").await;
    // A manager of A cannot reset the password of A's admin.
    let (status, body) = patch(
        &app,
        &format!("/users/{}", t.admin_a.id),
        &manager,
        json!({"password": "taken-over-123"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // An admin of A cannot reset the password of someone who is also admin of B.
    let (both, _) = app.user_with_role(t.a, "viewer").await;
    grant(&app, both.id, t.b, "admin").await;
    let (status, body) = patch(
        &app,
        &format!("/users/{}", both.id),
        &t.admin_a_token,
        json!({"password": "taken-over-123"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        delete(&app, &format!("/users/{}", both.id), &t.admin_a_token)
            .await
            .0,
        403
    );
    // ... but can change someone who holds nothing beyond what the admin holds.
    let (peer, _) = app.user_with_role(t.a, "manager").await;
    let (status, _) = patch(
        &app,
        &format!("/users/{}", peer.id),
        &t.admin_a_token,
        json!({"full_name": "Peer"}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn delete_user_deactivates_keeps_the_row_and_revokes_sessions() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, member_token) = app.user_with_role(t.a, "viewer").await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .json(&json!({"username": member.username, "password": USER_PASSWORD}))
        .send()
        .await
        .unwrap();
    let login: Value = res.json().await.unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = delete(&app, &format!("/users/{}", member.id), &t.admin_a_token).await;
    assert_eq!(status, 204, "{body}");
    let stored = app
        .fastvue
        .users()
        .get(&Actor::system(), member.id)
        .await
        .unwrap();
    assert!(!stored.is_active && stored.deleted_at.is_some());
    // Still listed for administration, as inactive.
    let (status, body) = get(&app, &format!("/users/{}", member.id), &t.admin_a_token).await;
    assert_eq!((status, body["is_active"].clone()), (200, json!(false)));
    // Its sessions are gone: the refresh token and the access token are refused.
    let (status, _) = send(
        &app,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(get(&app, "/auth/me", &member_token).await.0, 401);
    let live = app.fastvue.tokens().revoke_all(member.id).await.unwrap();
    assert_eq!(live, 0, "every refresh token was already revoked");
}

#[tokio::test]
async fn delete_user_answers_404_for_foreign_and_unknown_ids_and_409_for_oneself() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    assert_eq!(
        delete(&app, &format!("/users/{}", t.only_b.id), &t.admin_a_token)
            .await
            .0,
        404
    );
    assert!(
        app.fastvue
            .users()
            .get(&Actor::system(), t.only_b.id)
            .await
            .unwrap()
            .is_active
    );
    assert_eq!(delete(&app, "/users/999999", &t.admin_a_token).await.0, 404);
    let (status, body) = delete(&app, &format!("/users/{}", t.admin_a.id), &t.admin_a_token).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = patch(
        &app,
        &format!("/users/{}", t.admin_a.id),
        &t.admin_a_token,
        json!({"is_active": false}),
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn user_roles_lists_only_assignments_the_caller_can_see() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (both, _) = app.user_with_role(t.a, "viewer").await;
    grant(&app, both.id, t.b, "manager").await;
    let path = format!("/users/{}/roles", both.id);
    let (status, roles) = get(&app, &path, &t.admin_a_token).await;
    assert_eq!(status, 200, "{roles}");
    let companies: Vec<i64> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["company_id"].as_i64().unwrap())
        .collect();
    assert_eq!(companies, vec![t.a]);
    let (_, roles) = get(&app, &path, &t.root).await;
    assert_eq!(roles.as_array().unwrap().len(), 2);
    assert_eq!(
        get(
            &app,
            &format!("/users/{}/roles", t.only_b.id),
            &t.admin_a_token
        )
        .await
        .0,
        404
    );
    assert_eq!(
        get(&app, "/users/999999/roles", &t.admin_a_token).await.0,
        404
    );
}

#[tokio::test]
async fn admin_assigns_and_removes_a_role_in_its_company() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, member_token) = app.user_with_role(t.a, "viewer").await;
    let manager = role_of(&app, t.a, "manager").await.id;
    let path = format!("/users/{}/roles", member.id);
    let (status, made) = post(
        &app,
        &path,
        &t.admin_a_token,
        json!({"company_id": t.a, "role_id": manager}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["role_codename"], "manager");
    assert_eq!(made["assigned_by"], t.admin_a.id);
    // The new role takes effect at once.
    let (_, mine) = get(&app, "/auth/me/permissions", &member_token).await;
    assert!(
        mine["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("user.create")),
        "{mine}"
    );
    // Assigning it twice conflicts.
    let (status, _) = post(
        &app,
        &path,
        &t.admin_a_token,
        json!({"company_id": t.a, "role_id": manager}),
    )
    .await;
    assert_eq!(status, 409);
    let aid = made["id"].as_i64().unwrap();
    let (status, body) = delete(&app, &format!("{path}/{aid}"), &t.admin_a_token).await;
    assert_eq!(status, 204, "{body}");
    let (_, mine) = get(&app, "/auth/me/permissions", &member_token).await;
    assert!(
        !mine["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("user.create"))
    );
    assert_eq!(
        delete(&app, &format!("{path}/{aid}"), &t.admin_a_token)
            .await
            .0,
        404
    );
    let (status, _) = post(&app, &path, &t.admin_a_token, json!({"company_id": t.a})).await;
    assert_eq!(status, 422);
    let (status, _) = post(
        &app,
        &path,
        &t.admin_a_token,
        json!({"company_id": t.a, "role_id": 999999}),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn an_admin_of_a_cannot_assign_roles_in_b_or_b_roles_in_a_or_touch_b_users() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let path = format!("/users/{}/roles", member.id);
    let b_viewer = role_of(&app, t.b, "viewer").await.id;
    let a_viewer = role_of(&app, t.a, "viewer").await.id;
    // A company it has no role.assign in: 403.
    let (status, body) = post(
        &app,
        &path,
        &t.admin_a_token,
        json!({"company_id": t.b, "role_id": b_viewer}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // B's role inside A: 422.
    let (status, body) = post(
        &app,
        &path,
        &t.admin_a_token,
        json!({"company_id": t.a, "role_id": b_viewer}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "role_id");
    // A user of B only: 404.
    let (status, _) = post(
        &app,
        &format!("/users/{}/roles", t.only_b.id),
        &t.admin_a_token,
        json!({"company_id": t.a, "role_id": a_viewer}),
    )
    .await;
    assert_eq!(status, 404);
    // B's assignment of a user in both companies: 404.
    let b_assignment = grant(&app, member.id, t.b, "viewer").await;
    assert_eq!(
        delete(&app, &format!("{path}/{b_assignment}"), &t.admin_a_token)
            .await
            .0,
        404
    );
    assert_eq!(
        crate::helpers::assignments_of(&app.fastvue, member.id, Some(t.b))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_manager_cannot_assign_or_remove_a_role_granting_more_than_it_holds() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (_, manager) = app.user_with_role(t.a, "manager").await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let admin_role = role_of(&app, t.a, "admin").await.id;
    let path = format!("/users/{}/roles", member.id);
    let (status, body) = post(
        &app,
        &path,
        &manager,
        json!({"company_id": t.a, "role_id": admin_role}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let admin_assignment = crate::helpers::assignments_of(&app.fastvue, t.admin_a.id, Some(t.a))
        .await[0]
        .assignment
        .id;
    let (status, _) = delete(
        &app,
        &format!("/users/{}/roles/{admin_assignment}", t.admin_a.id),
        &manager,
    )
    .await;
    assert_eq!(status, 403);
    // Within its own powers it may.
    let viewer_assignment = crate::helpers::assignments_of(&app.fastvue, member.id, None).await[0]
        .assignment
        .id;
    assert_eq!(
        delete(&app, &format!("{path}/{viewer_assignment}"), &manager)
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn user_permissions_in_a_visible_company() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let path = format!("/users/{}/permissions", member.id);
    let (status, body) = get(&app, &path, &t.admin_a_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["company_id"], t.a);
    assert_eq!(body["user_id"], member.id);
    assert_eq!(body["is_superuser"], false);
    let perms = body["permissions"].as_array().unwrap();
    assert!(perms.contains(&json!("user.read")) && !perms.contains(&json!("user.update")));
    let (status, _) = get(
        &app,
        &format!("{path}?company_id={}", t.b),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = get(&app, &format!("{path}?company_id={}", t.b), &t.root).await;
    assert_eq!((status, body["permissions"].clone()), (200, json!([])));
    assert_eq!(
        get(&app, &format!("{path}?company_id=999999"), &t.root)
            .await
            .0,
        404
    );
    assert_eq!(
        get(&app, &format!("{path}?company_id=x"), &t.root).await.0,
        400
    );
    assert_eq!(
        get(
            &app,
            &format!("/users/{}/permissions", t.only_b.id),
            &t.admin_a_token
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn explain_names_the_roles_that_grant_a_permission() {
    let app = spawn_app().await;
    let t = tenants(&app).await;
    let (member, _) = app.user_with_role(t.a, "viewer").await;
    let path = format!("/users/{}/permissions/explain", member.id);
    let (status, body) = get(
        &app,
        &format!("{path}?permission=user.read"),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["granted"], true);
    assert_eq!(body["company_id"], t.a);
    assert_eq!(body["grants"][0]["type"], "role");
    assert_eq!(body["grants"][0]["name"], "Viewer");
    let (_, body) = get(
        &app,
        &format!("{path}?permission=user.delete&company_id={}", t.a),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(
        (body["granted"].clone(), body["grants"].clone()),
        (json!(false), json!([]))
    );
    let (_, body) = get(
        &app,
        &format!("{path}?permission=no.such"),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(body["blocked_by"], "unknown permission");
    let (status, body) = get(&app, &path, &t.admin_a_token).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "permission");
    assert_eq!(
        get(
            &app,
            &format!("{path}?permission=Not%20A%20Codename"),
            &t.admin_a_token
        )
        .await
        .0,
        422
    );
    assert_eq!(
        get(
            &app,
            &format!("{path}?permission=user.read&company_id={}", t.b),
            &t.admin_a_token
        )
        .await
        .0,
        404
    );
    let root = get(
        &app,
        &format!(
            "/users/{}/permissions/explain?permission=user.read",
            t.only_b.id
        ),
        &t.admin_a_token,
    )
    .await;
    assert_eq!(root.0, 404);
}

#[tokio::test]
async fn every_users_and_companies_operation_documents_its_permission() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mine: Vec<_> = paths
        .iter()
        .filter(|(p, _)| p.starts_with("/api/v1/users") || p.starts_with("/api/v1/companies"))
        .collect();
    assert_eq!(mine.len(), 17, "{:?}", paths.keys().collect::<Vec<_>>());
    let mut operations = 0;
    for (path, item) in mine {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let text = format!("{}", op["description"]);
            assert!(text.contains("Requires `"), "{method} {path}: {text}");
            assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        }
    }
    assert_eq!(operations, 26);
    let user = &doc["components"]["schemas"]["UserOut"]["properties"];
    assert!(user.get("password_hash").is_none() && user.get("email").is_some());
}
