//! Attacks not covered by the area modules (docs/security.md maps every threat to its
//! tests): forged tokens, cross-company reads and writes on every resource, SQL
//! metacharacters in every search and filter parameter, oversized and over-specified
//! bodies on every write route, and the production secret guard of the binary.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use fastvue_core::Actor;
use fastvue_core::auth::jwt::TokenKind;
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::groups::NewGroup;
use fastvue_core::service::users::NewUser;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, USER_PASSWORD, spawn_app};
use crate::users::{custom_role, grant, role_of, send};

/// Marks every row of the victim company: no response to the attacker may contain it.
const MARK: &str = "zqxb";

fn assert_no_mark(what: &str, body: &Value) {
    let text = body.to_string().to_lowercase();
    assert!(
        !text.contains(MARK),
        "{what} leaked the other company's data: {body}"
    );
}

/// Company B (every name carrying [`MARK`]) with a user, an assignment, a custom role,
/// a group with a member and audit rows; company A with a signed-in admin, a user and a
/// group of its own.
struct Victim {
    a: i64,
    admin_a: String,
    a_user: i64,
    a_group: i64,
    b: i64,
    b_user: i64,
    b_assignment: i64,
    b_role: i64,
    b_group: i64,
}

async fn victim(app: &TestApp) -> Victim {
    let sys = Actor::system();
    let company = |code: &str, name: &str| NewCompany {
        name: name.to_owned(),
        code: code.to_owned(),
        ..Default::default()
    };
    let a = app
        .fastvue
        .companies()
        .create(&sys, company("ATK-A", "Attacker Inc"))
        .await
        .unwrap()
        .id;
    let b = app
        .fastvue
        .companies()
        .create(&sys, company("ZQXB", "Zqxb Victim Ltd"))
        .await
        .unwrap()
        .id;
    let (_, admin_a) = app.user_with_role(a, "admin").await;
    let (a_user, _) = app.user_with_role(a, "viewer").await;
    let b_user = app
        .fastvue
        .users()
        .create(
            &sys,
            NewUser {
                email: "zqxb-person@example.com".into(),
                username: "zqxb-person".into(),
                password: Some(USER_PASSWORD.into()),
                full_name: Some("Zqxb Person".into()),
                current_company_id: Some(b),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let b_assignment = grant(app, b_user, b, "viewer").await;
    let b_role = custom_role(app, b, "zqxb-role", &["user.read"]).await.id;
    let group = |company_id: i64, codename: &str| NewGroup {
        company_id,
        name: format!("Group {codename}"),
        codename: codename.to_owned(),
        permissions: vec!["user.read".into()],
        ..Default::default()
    };
    let b_group = app
        .fastvue
        .groups()
        .create(&sys, group(b, "zqxb-group"))
        .await
        .unwrap()
        .group
        .id;
    app.fastvue
        .groups()
        .add_member(&sys, b_group, b_user, Default::default())
        .await
        .unwrap();
    let a_group = app
        .fastvue
        .groups()
        .create(&sys, group(a, "atk-group"))
        .await
        .unwrap()
        .group
        .id;
    Victim {
        a,
        admin_a,
        a_user: a_user.id,
        a_group,
        b,
        b_user,
        b_assignment,
        b_role,
        b_group,
    }
}

/// What B looks like through the core: every write by A's admin must leave it as it was.
async fn snapshot(app: &TestApp, v: &Victim) -> Value {
    let f = &app.fastvue;
    let user = f.users().get(&Actor::system(), v.b_user).await.unwrap();
    let company = f.companies().get(&Actor::system(), v.b).await.unwrap();
    let role = f.roles().get(&Actor::system(), v.b_role).await.unwrap();
    let group = f.groups().get(&Actor::system(), v.b_group).await.unwrap();
    json!({
        "user": [user.full_name, user.email, user.is_active, user.is_superuser, user.current_company_id],
        "assignments": crate::helpers::assignments_of(f, v.b_user, None).await.len(),
        "company": [company.name, company.code, company.is_active, company.parent_id],
        "role": [role.role.name, role.role.is_active, role.permissions],
        "group": [group.group.name, group.group.is_active, group.permissions],
        "members": f.groups().members(&Actor::system(), v.b_group).await.unwrap().iter().map(|m| m.user.id).collect::<Vec<_>>(),
    })
}

// --- tokens ------------------------------------------------------------------------

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `header.claims` signed with HMAC-SHA256 under the server's own JWT key.
fn sign_with_server_key(app: &TestApp, header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", segment(header), segment(claims));
    let key = app.fastvue.settings().jwt_secret_key.expose().as_bytes();
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(key, message.as_bytes()));
    format!("{message}.{signature}")
}

async fn me_with(app: &TestApp, token: &str) -> (u16, Value) {
    send(app, Method::GET, "/auth/me", Some(token), None).await
}

#[tokio::test]
async fn a_header_naming_another_algorithm_is_rejected_even_over_a_valid_hmac_signature() {
    let app = spawn_app().await;
    let company = crate::users::new_company(&app, "TOK-ALG", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let now = Utc::now().timestamp();
    let claims = json!({"sub": user.id.to_string(), "iat": now, "exp": now + 600,
                        "jti": "forged", "type": "access"});
    // The control: the same construction under the pinned HS256 header is accepted, so
    // only the header makes the difference below.
    let genuine = sign_with_server_key(&app, &json!({"alg": "HS256", "typ": "JWT"}), &claims);
    assert_eq!(me_with(&app, &genuine).await.0, 200);
    for alg in [
        "RS256", "ES256", "PS256", "HS384", "HS512", "none", "None", "hs256", "",
    ] {
        let token = sign_with_server_key(&app, &json!({"alg": alg, "typ": "JWT"}), &claims);
        let (status, body) = me_with(&app, &token).await;
        assert_eq!(status, 401, "alg {alg:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_token", "alg {alg:?}");
    }
    // An unsigned token under the real header is no better.
    let unsigned = format!(
        "{}.{}.",
        segment(&json!({"alg": "HS256", "typ": "JWT"})),
        segment(&claims)
    );
    assert_eq!(me_with(&app, &unsigned).await.0, 401);
}

#[tokio::test]
async fn a_tampered_payload_or_signature_is_rejected() {
    let app = spawn_app().await;
    let company = crate::users::new_company(&app, "TOK-TAMPER", None).await;
    let (user, token) = app.user_with_role(company, "viewer").await;
    let root = app
        .fastvue
        .users()
        .find_by_login(crate::helpers::ROOT_LOGIN)
        .await
        .unwrap()
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["sub"], user.id.to_string());
    // Become the superuser, keeping the viewer's signature.
    claims["sub"] = json!(root.id.to_string());
    let escalated = format!("{}.{}.{}", parts[0], segment(&claims), parts[2]);
    // Extend the expiry, keeping the signature.
    claims["sub"] = json!(user.id.to_string());
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400 * 365);
    let extended = format!("{}.{}.{}", parts[0], segment(&claims), parts[2]);
    // Flip one bit of the signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[0] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    let truncated = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..10]);
    for (what, forged) in [
        ("sub changed", escalated),
        ("exp changed", extended),
        ("signature bit flipped", flipped),
        ("signature truncated", truncated),
    ] {
        let (status, body) = me_with(&app, &forged).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_token", "{what}");
        assert_no_mark(what, &body);
    }
    assert_eq!(me_with(&app, &token).await.0, 200);
}

#[tokio::test]
async fn an_access_token_cannot_be_used_to_refresh() {
    let app = spawn_app().await;
    let company = crate::users::new_company(&app, "TOK-KIND", None).await;
    let (user, access) = app.user_with_role(company, "viewer").await;
    let (status, body) = send(
        &app,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": access})),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // Nor a refresh token signed by the server for a row that does not exist.
    let (orphan, _) = app
        .fastvue
        .jwt()
        .issue(user.id, TokenKind::Refresh, Utc::now())
        .unwrap();
    let (status, body) = send(
        &app,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": orphan})),
    )
    .await;
    assert_eq!(status, 401, "{body}");
}

// --- tenant isolation ----------------------------------------------------------------

#[tokio::test]
async fn cross_company_reads_of_every_resource_answer_404_without_its_data() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let reads = [
        format!("/users/{}", v.b_user),
        format!("/users/{}/roles", v.b_user),
        format!("/users/{}/permissions", v.b_user),
        format!(
            "/users/{}/permissions/explain?permission=user.read",
            v.b_user
        ),
        format!("/users/{}/permissions?company_id={}", v.a_user, v.b),
        format!("/companies/{}", v.b),
        format!("/companies/{}/users", v.b),
        format!("/roles/{}", v.b_role),
        format!("/groups/{}", v.b_group),
        format!("/audit-logs?company_id={}", v.b),
    ];
    for path in reads {
        let (status, body) = send(&app, Method::GET, &path, Some(&v.admin_a), None).await;
        assert_eq!(status, 404, "GET {path}: {body}");
        assert_no_mark(&path, &body);
    }
    // The caller's own permissions in B: B is not its company (403, API.md).
    let path = format!("/auth/me/permissions?company_id={}", v.b);
    let (status, body) = send(&app, Method::GET, &path, Some(&v.admin_a), None).await;
    assert_eq!(status, 403, "{body}");
    assert_no_mark(&path, &body);
}

#[tokio::test]
async fn cross_company_lists_never_show_another_companys_rows() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    // B's admin writes through HTTP too, so B has audit rows with an actor and an IP.
    let (_, b_admin) = app.user_with_role(v.b, "admin").await;
    let (status, _) = send(
        &app,
        Method::PATCH,
        &format!("/users/{}", v.b_user),
        Some(&b_admin),
        Some(json!({"full_name": "Zqxb Person Renamed"})),
    )
    .await;
    assert_eq!(status, 200);
    let lists = [
        "/users".to_owned(),
        format!("/users?company_id={}", v.b),
        "/users?search=zqxb".to_owned(),
        "/companies".to_owned(),
        "/companies?search=zqxb".to_owned(),
        "/companies/tree".to_owned(),
        "/roles".to_owned(),
        format!("/roles?company_id={}", v.b),
        "/groups".to_owned(),
        format!("/groups?company_id={}", v.b),
        "/audit-logs?page_size=100".to_owned(),
        format!("/audit-logs?entity_id={}&entity_type=user", v.b_user),
        "/auth/me".to_owned(),
        format!("/groups/{}", v.a_group),
    ];
    for path in lists {
        let (status, body) = send(&app, Method::GET, &path, Some(&v.admin_a), None).await;
        assert!(
            matches!(status, 200 | 403 | 404),
            "GET {path}: {status} {body}"
        );
        assert_no_mark(&path, &body);
    }
}

#[tokio::test]
async fn cross_company_writes_on_every_resource_answer_404_and_change_nothing() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let before = snapshot(&app, &v).await;
    let a_viewer = role_of(&app, v.a, "viewer").await.id;
    let writes = [
        (
            Method::PATCH,
            format!("/users/{}", v.b_user),
            Some(json!({"full_name": "pwned"})),
        ),
        (
            Method::PATCH,
            format!("/users/{}", v.b_user),
            Some(json!({"is_active": false})),
        ),
        (Method::DELETE, format!("/users/{}", v.b_user), None),
        (
            Method::POST,
            format!("/users/{}/roles", v.b_user),
            Some(json!({"company_id": v.a, "role_id": a_viewer})),
        ),
        (
            Method::DELETE,
            format!("/users/{}/roles/{}", v.b_user, v.b_assignment),
            None,
        ),
        (
            Method::PATCH,
            format!("/companies/{}", v.b),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::PATCH,
            format!("/companies/{}", v.b),
            Some(json!({"parent_id": v.a})),
        ),
        (Method::DELETE, format!("/companies/{}", v.b), None),
        (
            Method::PATCH,
            format!("/roles/{}", v.b_role),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::PUT,
            format!("/roles/{}/permissions", v.b_role),
            Some(json!({"permissions": []})),
        ),
        (Method::DELETE, format!("/roles/{}", v.b_role), None),
        (
            Method::PATCH,
            format!("/groups/{}", v.b_group),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::PUT,
            format!("/groups/{}/permissions", v.b_group),
            Some(json!({"permissions": []})),
        ),
        (
            Method::POST,
            format!("/groups/{}/members", v.b_group),
            Some(json!({"user_id": v.a_user})),
        ),
        (
            Method::DELETE,
            format!("/groups/{}/members/{}", v.b_group, v.b_user),
            None,
        ),
        (Method::DELETE, format!("/groups/{}", v.b_group), None),
        // Cache administration of B's rows.
        (
            Method::POST,
            "/admin/cache/invalidate".to_owned(),
            Some(json!({"scope": "user", "id": v.b_user})),
        ),
        (
            Method::POST,
            "/admin/cache/invalidate".to_owned(),
            Some(json!({"scope": "role", "id": v.b_role})),
        ),
        (
            Method::POST,
            "/admin/cache/invalidate".to_owned(),
            Some(json!({"scope": "group", "id": v.b_group})),
        ),
        (
            Method::POST,
            "/admin/cache/invalidate".to_owned(),
            Some(json!({"scope": "company", "id": v.b})),
        ),
    ];
    for (method, path, body) in writes {
        let what = format!("{method} {path} {body:?}");
        let (status, answer) = send(&app, method, &path, Some(&v.admin_a), body).await;
        assert_eq!(status, 404, "{what}: {answer}");
        assert_no_mark(&what, &answer);
    }
    assert_eq!(snapshot(&app, &v).await, before);
}

#[tokio::test]
async fn another_companys_id_in_a_body_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let before = snapshot(&app, &v).await;
    let b_viewer = role_of(&app, v.b, "viewer").await.id;
    let users_before = app
        .fastvue
        .users()
        .list(
            &Actor::system(),
            &Default::default(),
            fastvue_core::pagination::PageRequest::new(Some(1), Some(1)).unwrap(),
        )
        .await
        .unwrap()
        .total;
    let writes = [
        (
            "/users",
            json!({"email": "intruder@example.com", "username": "intruder",
                   "password": USER_PASSWORD, "company_id": v.b, "role_id": b_viewer}),
        ),
        (
            "/roles",
            json!({"name": "Intruder", "codename": "intruder", "company_id": v.b,
                   "permissions": ["user.read"]}),
        ),
        (
            "/groups",
            json!({"name": "Intruder", "codename": "intruder", "company_id": v.b,
                   "permissions": ["user.read"]}),
        ),
        (
            "/companies",
            json!({"name": "Intruder", "code": "INTRUDER", "parent_id": v.b}),
        ),
        (
            &format!("/users/{}/roles", v.a_user),
            json!({"company_id": v.b, "role_id": b_viewer}),
        ),
        (
            &format!("/users/{}/roles", v.a_user),
            json!({"company_id": v.a, "role_id": b_viewer}),
        ),
        // B's user into A's group: "no such user" (422), as for an unknown id.
        (
            &format!("/groups/{}/members", v.a_group),
            json!({"user_id": v.b_user}),
        ),
        ("/auth/switch-company", json!({"company_id": v.b})),
        (
            "/permissions/check",
            json!({"user_id": v.b_user, "permissions": ["user.read"], "mode": "all"}),
        ),
        (
            "/permissions/check",
            json!({"company_id": v.b, "permissions": ["user.read"], "mode": "all"}),
        ),
        (
            "/admin/cache/invalidate",
            json!({"scope": "user", "id": v.b_user, "company_id": v.b}),
        ),
    ];
    for (path, body) in writes {
        let what = format!("POST {path} {body}");
        let (status, answer) = send(&app, Method::POST, path, Some(&v.admin_a), Some(body)).await;
        assert!(
            matches!(status, 403 | 404 | 422),
            "{what}: {status} {answer}"
        );
        assert_no_mark(&what, &answer);
    }
    assert_eq!(snapshot(&app, &v).await, before);
    let users_after = app
        .fastvue
        .users()
        .list(
            &Actor::system(),
            &Default::default(),
            fastvue_core::pagination::PageRequest::new(Some(1), Some(1)).unwrap(),
        )
        .await
        .unwrap()
        .total;
    assert_eq!(users_after, users_before);
    assert!(
        crate::helpers::assignments_of(&app.fastvue, v.a_user, Some(v.b))
            .await
            .is_empty()
    );
}

// --- hostile input -------------------------------------------------------------------

/// SQL metacharacters and LIKE wildcards, as a client may send them.
const METACHARACTERS: [&str; 7] = [
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\"; DROP TABLE users; --",
    "'; DELETE FROM roles; --",
    "%' OR '1'='1",
];

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn sql_metacharacters_in_every_search_and_filter_parameter_never_reach_the_database_as_sql() {
    let app = spawn_app().await;
    let root = app.root_token().await;
    let company = crate::users::new_company(&app, "META", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    // One user whose full name holds the wildcards literally.
    let literal = app
        .fastvue
        .users()
        .create(
            &Actor::system(),
            NewUser {
                email: "literal@example.com".into(),
                username: "literal_name".into(),
                full_name: Some("100% \\ literal".into()),
                current_company_id: Some(company),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    grant(&app, literal.id, company, "viewer").await;
    let total = |path: &'static str| {
        let (app, root) = (&app, &root);
        async move {
            let (status, body) = send(app, Method::GET, path, Some(root), None).await;
            assert_eq!(status, 200, "{path}: {body}");
            body["total"].as_i64().unwrap()
        }
    };
    let counts_before = [
        total("/users").await,
        total("/roles").await,
        total("/groups").await,
        total("/companies").await,
        total("/permissions?page_size=100").await,
    ];
    // Every text parameter of every list route, and the typed ones (400 for a non-number
    // or non-boolean, as API.md says for a malformed parameter).
    let text_params = [
        "/users?search=",
        "/companies?search=",
        &format!("/companies/{company}/users?search="),
        "/roles?search=",
        "/groups?search=",
        "/permissions?search=",
        "/permissions?resource=",
        "/permissions?category=",
        "/audit-logs?entity_type=",
        &format!(
            "/users/{}/permissions/explain?company_id={company}&permission=",
            user.id
        ),
    ];
    let typed_params = [
        "/users?is_active=",
        "/users?is_superuser=",
        "/users?company_id=",
        "/companies?is_active=",
        "/companies?parent_id=",
        "/roles?company_id=",
        "/groups?company_id=",
        "/audit-logs?entity_id=",
        "/audit-logs?actor_id=",
        "/audit-logs?company_id=",
        "/users?page=",
        "/roles?page_size=",
    ];
    for meta in METACHARACTERS {
        for prefix in text_params {
            let path = format!("{prefix}{}", encode(meta));
            let (status, body) = send(&app, Method::GET, &path, Some(&root), None).await;
            assert!(matches!(status, 200 | 422), "GET {path}: {status} {body}");
            assert_ne!(body["error"]["message"], "internal error", "{path}");
        }
        for prefix in typed_params {
            let path = format!("{prefix}{}", encode(meta));
            let (status, body) = send(&app, Method::GET, &path, Some(&root), None).await;
            assert_eq!(status, 400, "GET {path}: {body}");
            assert_eq!(body["error"]["code"], "bad_request", "{path}");
        }
    }
    // Wildcards match themselves: `%` and `\` find only the literal user, `_` only
    // names holding an underscore, a quote injection nothing.
    for (meta, expected) in [
        ("%", vec![literal.id]),
        ("\\", vec![literal.id]),
        ("' OR 1=1 --", vec![]),
    ] {
        let path = format!("/users?page_size=100&search={}", encode(meta));
        let (_, body) = send(&app, Method::GET, &path, Some(&root), None).await;
        let ids: Vec<i64> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, expected, "search {meta:?}");
    }
    let (_, body) = send(
        &app,
        Method::GET,
        "/users?page_size=100&search=_",
        Some(&root),
        None,
    )
    .await;
    for item in body["items"].as_array().unwrap() {
        let text = format!("{}{}{}", item["username"], item["email"], item["full_name"]);
        assert!(text.contains('_'), "`_` matched {item}");
    }
    // Every table is intact.
    let counts_after = [
        total("/users").await,
        total("/roles").await,
        total("/groups").await,
        total("/companies").await,
        total("/permissions?page_size=100").await,
    ];
    assert_eq!(counts_after, counts_before);
}

/// Every route that reads a JSON body, with ids that exist for the superuser.
async fn write_routes(app: &TestApp) -> Vec<(Method, String)> {
    let company = crate::users::new_company(app, "WRITES", None).await;
    let (user, _) = app.user_with_role(company, "viewer").await;
    let role = custom_role(app, company, "writes-role", &["user.read"])
        .await
        .id;
    let group = app
        .fastvue
        .groups()
        .create(
            &Actor::system(),
            NewGroup {
                company_id: company,
                name: "Writes".into(),
                codename: "writes".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .group
        .id;
    let permission = app
        .fastvue
        .permissions()
        .create(
            &Actor::system(),
            fastvue_core::service::permissions::NewPermission {
                codename: "report.read".into(),
                name: "Read reports".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    [
        (Method::POST, "/auth/login".to_owned()),
        (Method::POST, "/auth/refresh".to_owned()),
        (Method::POST, "/auth/logout".to_owned()),
        (Method::POST, "/auth/switch-company".to_owned()),
        (Method::POST, "/auth/change-password".to_owned()),
        (Method::POST, "/users".to_owned()),
        (Method::PATCH, format!("/users/{}", user.id)),
        (Method::POST, format!("/users/{}/roles", user.id)),
        (Method::POST, "/companies".to_owned()),
        (Method::PATCH, format!("/companies/{company}")),
        (Method::POST, "/roles".to_owned()),
        (Method::PATCH, format!("/roles/{role}")),
        (Method::PUT, format!("/roles/{role}/permissions")),
        (Method::POST, "/permissions".to_owned()),
        (Method::PATCH, format!("/permissions/{permission}")),
        (Method::POST, "/permissions/check".to_owned()),
        (Method::POST, "/groups".to_owned()),
        (Method::PATCH, format!("/groups/{group}")),
        (Method::PUT, format!("/groups/{group}/permissions")),
        (Method::POST, format!("/groups/{group}/members")),
        (Method::POST, "/admin/cache/invalidate".to_owned()),
    ]
    .into()
}

#[tokio::test]
async fn an_unknown_field_in_any_write_body_answers_422_naming_it() {
    let app = spawn_app().await;
    let root = app.root_token().await;
    for (method, path) in write_routes(&app).await {
        let body = json!({"is_superuser_now": true});
        let (status, answer) = send(&app, method.clone(), &path, Some(&root), Some(body)).await;
        assert_eq!(status, 422, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_error", "{path}");
        assert_eq!(
            answer["error"]["details"][0]["field"], "is_superuser_now",
            "{method} {path}: {answer}"
        );
    }
}

#[tokio::test]
async fn an_oversized_body_on_any_write_route_answers_413() {
    let app = spawn_app().await;
    let root = app.root_token().await;
    let huge = json!({ "name": "x".repeat(1024 * 1024 + 1) });
    for (method, path) in write_routes(&app).await {
        let (status, answer) =
            send(&app, method.clone(), &path, Some(&root), Some(huge.clone())).await;
        assert_eq!(status, 413, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "payload_too_large", "{path}");
    }
}

// --- configuration -----------------------------------------------------------------

#[test]
fn the_server_binary_refuses_to_start_in_production_with_default_or_short_secrets() {
    let database = std::env::temp_dir().join(format!(
        "fastvue_guard_{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let database_url = format!("sqlite://{}?mode=rwc", database.display());
    let strong = "s".repeat(48);
    /// What is wrong, the secrets set, the variables the refusal must name.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: [Case<'_>; 4] = [
        ("no secrets", vec![], &["SECRET_KEY", "JWT_SECRET_KEY"]),
        (
            "shipped defaults",
            vec![
                ("SECRET_KEY", fastvue_core::config::DEV_SECRET_KEY),
                ("JWT_SECRET_KEY", fastvue_core::config::DEV_JWT_SECRET_KEY),
            ],
            &["SECRET_KEY", "JWT_SECRET_KEY"],
        ),
        (
            "short JWT key",
            vec![("SECRET_KEY", &strong), ("JWT_SECRET_KEY", "short-jwt-key")],
            &["JWT_SECRET_KEY"],
        ),
        (
            "short app key",
            vec![("SECRET_KEY", "short-app-key"), ("JWT_SECRET_KEY", &strong)],
            &["SECRET_KEY"],
        ),
    ];
    for (what, secrets, named) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastvue-server"))
            .env_clear()
            .env("ENVIRONMENT", "production")
            .env("DATABASE_URL", &database_url)
            .env("PORT", "1")
            .envs(secrets.iter().copied())
            .current_dir(std::env::temp_dir())
            .output()
            .expect("the server binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains("invalid configuration"), "{what}: {stderr}");
        for variable in named {
            assert!(
                stderr.contains(variable),
                "{what}: {variable} not named in {stderr}"
            );
        }
        for (_, value) in &secrets {
            assert!(
                !stderr.contains(value),
                "{what}: a secret value was printed"
            );
        }
        assert!(!database.exists(), "{what}: the database was touched");
    }
}

#[tokio::test]
#[should_panic(expected = "contains an argon2 password hash")]
async fn the_response_scan_fails_a_test_whose_response_holds_a_password_hash() {
    let app = spawn_app().await;
    let hash = app.fastvue.hasher().hash("any-password-1").unwrap();
    app.scan_body(
        "a forged response",
        json!({ "password_hash": hash }).to_string().as_bytes(),
    );
}

#[tokio::test]
#[should_panic(expected = "contains JWT_SECRET_KEY")]
async fn the_response_scan_fails_a_test_whose_response_holds_the_jwt_key() {
    let app = spawn_app().await;
    let key = app.fastvue.settings().jwt_secret_key.expose().to_owned();
    app.scan_body(
        "a forged response",
        format!("{{\"debug\": \"{key}\"}}").as_bytes(),
    );
}

// --- logs ----------------------------------------------------------------------------

#[tokio::test]
async fn the_server_log_never_holds_passwords_tokens_or_keys() {
    let dir = std::env::temp_dir().join(format!("fastvue_log_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let database_url = format!("sqlite://{}?mode=rwc", dir.join("db.sqlite").display());
    let jwt_key = format!("jwt-{}", uuid::Uuid::new_v4().simple());
    let app_key = format!("app-{}", uuid::Uuid::new_v4().simple());
    let vars: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &database_url),
        ("HOST", "127.0.0.1"),
        ("PORT", &port),
        ("FASTVUE_ADMIN_EMAIL", crate::helpers::ROOT_LOGIN),
        ("FASTVUE_ADMIN_PASSWORD", crate::helpers::ROOT_PASSWORD),
        ("ARGON2_MEMORY_KIB", "8"),
        ("ARGON2_ITERATIONS", "1"),
        ("JWT_SECRET_KEY", &jwt_key),
        ("SECRET_KEY", &app_key),
        ("LOG_LEVEL", "info,fastvue_server=debug,fastvue_core=debug"),
        ("LOG_FORMAT", "json"),
    ];
    let settings = fastvue_core::config::Settings::from_source(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let log = dir.join("server.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fastvue-server"))
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(&dir)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("the server binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::Client::for_settings(&settings);
    let mut up = false;
    for _ in 0..300 {
        if let Ok(res) = client.get(format!("{base}/health/live")).send().await {
            up = res.status() == 200;
            if up {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let url = |path: &str| format!("{base}/api/v1{path}");
    let mut sensitive = vec![
        crate::helpers::ROOT_PASSWORD.to_owned(),
        jwt_key.clone(),
        app_key.clone(),
    ];
    if up {
        let wrong = "wrong-password-in-log-1";
        sensitive.push(wrong.to_owned());
        let res = client
            .post(url("/auth/login"))
            .json(&json!({"username": crate::helpers::ROOT_LOGIN, "password": wrong}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = client
            .post(url("/auth/login"))
            .json(&json!({"username": crate::helpers::ROOT_LOGIN,
                          "password": crate::helpers::ROOT_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let pair: Value = res.json().await.unwrap();
        let access = pair["access_token"].as_str().unwrap().to_owned();
        let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
        // A malformed body holding a password, a token in the query string and a path.
        let half = "half-written-password-1";
        sensitive.push(half.to_owned());
        let res = client
            .post(url("/auth/login"))
            .header("content-type", "application/json")
            .body(format!("{{\"username\": \"x\", \"password\": \"{half}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        for path in [
            format!("/auth/me?access_token={access}"),
            format!("/users/{access}"),
        ] {
            let res = client
                .get(url(&path))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_client_error() || res.status() == 200);
        }
        let created_password = "created-user-password-1";
        sensitive.push(created_password.to_owned());
        let res = client
            .post(url("/users"))
            .bearer_auth(&access)
            .json(
                &json!({"email": "logged@example.com", "username": "logged-user",
                          "password": created_password}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let res = client
            .post(url("/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let renewed: Value = res.json().await.unwrap();
        let new_password = "changed-password-in-log-1";
        sensitive.push(new_password.to_owned());
        let res = client
            .post(url("/auth/change-password"))
            .bearer_auth(renewed["access_token"].as_str().unwrap())
            .json(&json!({"current_password": crate::helpers::ROOT_PASSWORD,
                          "new_password": new_password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        for token in [&access, &refresh] {
            sensitive.push(token.clone());
            // The signature alone is what makes a token usable.
            sensitive.push(token.rsplit('.').next().unwrap().to_owned());
        }
        for token in [&renewed["access_token"], &renewed["refresh_token"]] {
            sensitive.push(token.as_str().unwrap().to_owned());
        }
    }
    // A graceful stop: the lines still waiting in the log's batch are written out.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    let stopped = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(up, "the server did not start: {text}");
    assert!(stopped.success(), "the server did not stop cleanly: {text}");
    assert!(
        text.contains("/api/v1/auth/login"),
        "no access log written: {text}"
    );
    assert!(
        text.contains("/api/v1/auth/change-password") && text.contains("server stopped"),
        "the last lines were not written out at the stop: {text}"
    );
    assert!(!text.contains("$argon2"), "a password hash was logged");
    for (i, value) in sensitive.iter().enumerate() {
        assert!(
            !text.contains(value.as_str()),
            "sensitive value #{i} was logged"
        );
    }
}
