//! Bulk data: `fastvue_core::data::{load, export}`.
use fastvue_core::Error;
use fastvue_core::data::{self, Document, ExportOptions, LoadOptions, LoadReport};
use fastvue_core::entity::{company, user};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::*;

fn doc(value: serde_json::Value) -> Document {
    Document::from_json(&value.to_string()).expect("a valid document")
}

async fn load(fv: &fastvue_core::Fastvue, d: &Document) -> Result<LoadReport, Error> {
    data::load(fv, d, LoadOptions::default(), &mut |_, _| {}).await
}

fn sample() -> Document {
    doc(json!({
        "companies": [
            {"code": "east", "name": "East", "parent": "HQ"},
            {"code": "HQ", "name": "Head Office"}
        ],
        "permissions": [{"codename": "report.read", "name": "View reports"}],
        "users": [
            {"username": "ann", "email": "Ann@Example.com", "password": "ann-password-1",
             "current_company": "HQ"},
            {"username": "ben", "email": "ben@example.com", "is_active": false}
        ],
        "roles": [
            {"company": "HQ", "codename": "analyst", "name": "Analyst",
             "permissions": ["report.read", "user.read"]},
            {"codename": "auditor", "name": "Auditor", "permissions": ["audit.read"]}
        ],
        "groups": [
            {"company": "HQ", "codename": "readers", "name": "Readers",
             "permissions": ["group.read"], "members": ["ann"]}
        ],
        "assignments": [
            {"user": "ann", "company": "HQ", "role": "analyst", "is_default": true},
            {"user": "ann", "company": "EAST", "role": "auditor", "global_role": true}
        ]
    }))
}

async fn company_id(fv: &fastvue_core::Fastvue, code: &str) -> i64 {
    fv.companies()
        .find_by_code(code)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no company {code}"))
        .id
}

#[tokio::test]
async fn load_creates_every_record_and_a_reload_changes_nothing() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let d = sample();
    let first = load(fv, &d).await.unwrap();
    assert_eq!(first.companies.created, 2);
    assert_eq!(first.users.created, 2);
    assert_eq!(first.permissions.created, 1);
    assert_eq!(first.roles.created, 2);
    assert_eq!(first.groups.created, 1);
    assert_eq!(first.assignments.created, 2);
    let ann = fv
        .users()
        .authenticate("ann", "ann-password-1")
        .await
        .unwrap();
    let ann_hash = fv.users().get(&sys(), ann.id).await.unwrap().password_hash;
    let hq = company_id(fv, "HQ").await;
    let east = company_id(fv, "EAST").await;
    assert_eq!(
        fv.companies().get(&sys(), east).await.unwrap().parent_id,
        Some(hq)
    );
    assert_eq!(
        effective(fv, ann.id, hq).await,
        names(&["group.read", "report.read", "user.read"])
    );
    assert_eq!(effective(fv, ann.id, east).await, names(&["audit.read"]));
    let ben = fv.users().resolve("ben").await.unwrap();
    assert!(!ben.is_active && ben.deleted_at.is_some());

    let again = load(fv, &d).await.unwrap();
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.users.unchanged, 2);
    assert_eq!(
        fv.users().get(&sys(), ann.id).await.unwrap().password_hash,
        ann_hash,
        "a matching password keeps its hash"
    );
}

#[tokio::test]
async fn a_reload_replaces_role_permissions_and_group_members_and_drops_cached_sets() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    load(fv, &sample()).await.unwrap();
    let ann = fv.users().resolve("ann").await.unwrap();
    let hq = company_id(fv, "HQ").await;
    assert!(has(fv, ann.id, hq, "group.read").await);
    assert_cached(fv, ann.id, hq);
    let mut changed = sample();
    changed.roles[0].permissions = names(&["user.read"]);
    changed.groups[0].members.clear();
    let report = load(fv, &changed).await.unwrap();
    assert_eq!((report.roles.updated, report.groups.updated), (1, 1));
    assert_eq!(effective(fv, ann.id, hq).await, names(&["user.read"]));
}

#[tokio::test]
async fn a_bad_record_is_named_and_nothing_is_written() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let before = count(fv, user::Entity).await;
    let bad = doc(json!({
        "companies": [{"code": "NEW", "name": "New"}],
        "users": [
            {"username": "ok-user", "email": "ok@example.com"},
            {"username": "x", "email": "nope"}
        ],
        "roles": [{"codename": "r1", "name": "R", "permissions": ["not a codename"]}]
    }));
    let fields: Vec<String> = validation(load(fv, &bad).await)
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "users[1].username",
            "users[1].email",
            "roles[0].permissions[0]"
        ]
    );
    assert_eq!(count(fv, user::Entity).await, before);
    assert!(fv.companies().find_by_code("NEW").await.unwrap().is_none());
}

#[tokio::test]
async fn an_unknown_reference_rolls_back_what_was_written_before_it() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let companies = count(fv, company::Entity).await;
    let bad = doc(json!({
        "companies": [{"code": "NEW", "name": "New"}],
        "users": [{"username": "newbie", "email": "newbie@example.com"}],
        "groups": [{"company": "NEW", "codename": "g1", "name": "G",
                    "permissions": ["no.such"], "members": ["ghost"]}],
        "assignments": [{"user": "newbie", "company": "NEW", "role": "missing"}]
    }));
    let errors = validation(load(fv, &bad).await);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "groups[0].permissions[0]",
            "groups[0].members[0]",
            "assignments[0].role"
        ]
    );
    assert_eq!(errors[2].message, "company NEW has no role \"missing\"");
    assert_eq!(count(fv, company::Entity).await, companies);
    assert!(fv.users().find_by_login("newbie").await.unwrap().is_none());
}

#[tokio::test]
async fn duplicates_cycles_and_taken_emails_are_named() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_user(fv, "owner").await;
    let dup = doc(json!({
        "companies": [{"code": "A1", "name": "A"}, {"code": "a1", "name": "A again"}]
    }));
    assert_eq!(invalid_fields(load(fv, &dup).await), ["companies[1].code"]);
    let cycle = doc(json!({
        "companies": [
            {"code": "A1", "name": "A", "parent": "B1"},
            {"code": "B1", "name": "B", "parent": "A1"}
        ]
    }));
    assert_eq!(
        invalid_fields(load(fv, &cycle).await),
        ["companies[0].parent", "companies[1].parent"]
    );
    let taken = doc(json!({
        "users": [{"username": "someone", "email": "owner@example.com"}]
    }));
    let errors = validation(load(fv, &taken).await);
    assert_eq!(errors[0].field, "users[0].email");
    assert_eq!(errors[0].message, "already used by user \"owner\"");
}

#[tokio::test]
async fn malformed_documents_name_the_json_path() {
    let err = Document::from_json(r#"{"users": [{"username": "a", "email": 5}]}"#).unwrap_err();
    let Error::Validation(errors) = err else {
        panic!("expected a validation error")
    };
    assert_eq!(errors[0].field, "users[0].email");
    assert!(errors[0].message.starts_with("invalid type: integer"));
    assert!(Document::from_json(r#"{"version": 2}"#).is_err());
    assert!(Document::from_json("{} trailing").is_err());
}

#[tokio::test]
async fn a_new_password_revokes_sessions_and_clear_removes_the_rest() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    load(fv, &sample()).await.unwrap();
    let ann = fv.users().resolve("ann").await.unwrap();
    let pair = fv.tokens().issue(&ann).await.unwrap();
    let mut changed = sample();
    changed.users[0].password = Some("another-password-2".into());
    assert_eq!(load(fv, &changed).await.unwrap().users.updated, 1);
    assert!(fv.tokens().refresh(&pair.refresh_token).await.is_err());

    let only = doc(json!({"users": [{"username": "solo", "email": "solo@example.com"}]}));
    let report = data::load(fv, &only, LoadOptions { clear: true }, &mut |_, _| {})
        .await
        .unwrap();
    assert!(report.cleared);
    assert_eq!(count(fv, user::Entity).await, 1);
    assert_eq!(count(fv, company::Entity).await, 0);
}

#[tokio::test]
async fn export_then_load_elsewhere_reproduces_the_document() {
    let a = TestDb::new().await;
    load(&a.fv, &sample()).await.unwrap();
    let exported = data::export(
        &a.fv,
        ExportOptions {
            include_password_hashes: true,
        },
    )
    .await
    .unwrap();
    assert!(exported.users.iter().any(|u| u.password_hash.is_some()));
    let without = data::export(&a.fv, ExportOptions::default()).await.unwrap();
    assert!(without.users.iter().all(|u| u.password_hash.is_none()));
    let text = exported.to_json();
    assert_eq!(Document::from_json(&text).unwrap(), exported);

    let b = TestDb::unseeded(&[]).await;
    load(&b.fv, &exported).await.unwrap();
    let again = data::export(
        &b.fv,
        ExportOptions {
            include_password_hashes: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(again, exported);
    b.fv.users()
        .authenticate("ann", "ann-password-1")
        .await
        .expect("the hash travelled");
}

#[tokio::test]
async fn progress_counts_every_record_and_every_hashed_password() {
    let t = TestDb::new().await;
    let d = sample();
    let mut seen = Vec::new();
    data::load(&t.fv, &d, LoadOptions::default(), &mut |done, total| {
        seen.push((done, total))
    })
    .await
    .unwrap();
    let total = d.records() + 1; // one user has a password to hash
    assert_eq!(seen.first(), Some(&(0, total)));
    assert_eq!(seen.last(), Some(&(total, total)));
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn user_records_never_show_passwords_in_debug_output() {
    let d = sample();
    let shown = format!("{:?}", d.users[0]);
    assert!(!shown.contains("ann-password-1"), "{shown}");
}

#[tokio::test]
async fn a_companys_two_factor_requirement_is_loaded_exported_and_changed_by_a_reload() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let d = doc(json!({"companies": [{"code": "SEC", "name": "Secure", "require_2fa": true}]}));
    load(fv, &d).await.unwrap();
    let id = company_id(fv, "SEC").await;
    let row = |fv: &fastvue_core::Fastvue| {
        let fv = fv.clone();
        async move {
            use sea_orm::EntityTrait;
            company::Entity::find_by_id(id)
                .one(fv.db())
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert!(row(fv).await.require_2fa);
    let exported = data::export(fv, ExportOptions::default()).await.unwrap();
    let sec = exported.companies.iter().find(|c| c.code == "SEC").unwrap();
    assert!(sec.require_2fa);
    assert!(exported.to_json().contains("\"require_2fa\": true"));
    // The same document again changes nothing; without the flag it is turned off.
    assert_eq!(load(fv, &d).await.unwrap().companies.updated, 0);
    let off = doc(json!({"companies": [{"code": "SEC", "name": "Secure"}]}));
    assert_eq!(load(fv, &off).await.unwrap().companies.updated, 1);
    assert!(!row(fv).await.require_2fa);
}

#[tokio::test]
async fn subtree_scopes_are_loaded_exported_and_changed_by_a_reload() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let mut value = json!({
        "companies": [
            {"code": "HQ", "name": "Head Office"},
            {"code": "EAST", "name": "East", "parent": "HQ"}
        ],
        "users": [
            {"username": "ann", "email": "ann@example.com"},
            {"username": "ben", "email": "ben@example.com"}
        ],
        "groups": [
            {"company": "HQ", "codename": "readers", "name": "Readers",
             "permissions": ["group.read"], "subtree_members": ["ben"]}
        ],
        "assignments": [
            {"user": "ann", "company": "HQ", "role": "viewer", "scope": "subtree"}
        ]
    });
    load(fv, &doc(value.clone())).await.unwrap();
    let ann = fv.users().resolve("ann").await.unwrap().id;
    let ben = fv.users().resolve("ben").await.unwrap().id;
    let east = company_id(fv, "EAST").await;
    assert!(has(fv, ann, east, "user.read").await);
    assert!(has(fv, ben, east, "group.read").await);
    // Export writes the scopes back; loading the export elsewhere reproduces them.
    let exported = data::export(fv, ExportOptions::default()).await.unwrap();
    let text = serde_json::to_string(&exported).unwrap();
    assert!(text.contains(r#""scope":"subtree""#), "{text}");
    assert!(text.contains(r#""subtree_members":["ben"]"#), "{text}");
    // A reload with company scopes narrows both, and drops the warm sets below.
    value["assignments"][0]["scope"] = json!("company");
    value["groups"][0]["members"] = json!(["ben"]);
    value["groups"][0]["subtree_members"] = json!([]);
    let report = load(fv, &doc(value.clone())).await.unwrap();
    assert_eq!(report.assignments.updated, 1);
    assert_eq!(report.groups.updated, 1);
    assert!(!has(fv, ann, east, "user.read").await);
    assert!(!has(fv, ben, east, "group.read").await);
    // A user in both lists is named.
    value["groups"][0]["subtree_members"] = json!(["ben"]);
    let err = load(fv, &doc(value)).await.unwrap_err();
    assert!(invalid_fields(Err::<(), _>(err)).contains(&"groups[0].subtree_members[0]".to_owned()));
}

#[tokio::test]
async fn menu_entries_load_parents_first_in_any_order_round_trip_and_reload_unchanged() {
    let t = TestDb::new().await;
    let d = doc(json!({
        "companies": [{"code": "HQ", "name": "Head Office"}],
        "permissions": [{"codename": "report.read", "name": "View reports"}],
        "menus": [
            {"company": "HQ", "name": "monthly", "parent": "reports", "path": "/reports/monthly",
             "title": "Monthly"},
            {"company": "HQ", "name": "reports", "title": "Reports",
             "permissions": ["report.read"], "permission_mode": "all", "order": 5},
            {"company": "HQ", "name": "mine", "parent": "account", "path": "/account/mine",
             "title": "Mine under a global section"}
        ]
    }));
    let first = load(&t.fv, &d).await.unwrap();
    assert_eq!(first.menus.created, 3, "{first:?}");
    let again = load(&t.fv, &d).await.unwrap();
    assert_eq!(
        (
            again.menus.created,
            again.menus.updated,
            again.menus.unchanged
        ),
        (0, 0, 3)
    );

    let exported = data::export(&t.fv, ExportOptions::default()).await.unwrap();
    let hq: Vec<_> = exported
        .menus
        .iter()
        .filter(|m| m.company.as_deref() == Some("HQ"))
        .map(|m| (m.name.as_str(), m.parent.as_deref()))
        .collect();
    assert_eq!(
        hq,
        [
            ("mine", Some("account")),
            ("monthly", Some("reports")),
            ("reports", None)
        ]
    );
    assert!(
        exported
            .menus
            .iter()
            .any(|m| m.company.is_none() && m.name == "users")
    );
    // The export loads into a fresh database as it is.
    let other = TestDb::new().await;
    let report = data::load(
        &other.fv,
        &Document::from_json(&exported.to_json()).unwrap(),
        LoadOptions { clear: true },
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        report.menus.created + report.menus.unchanged,
        exported.menus.len() as u64
    );
    assert_eq!(
        data::export(&other.fv, ExportOptions::default())
            .await
            .unwrap()
            .menus,
        exported.menus
    );
}

#[tokio::test]
async fn a_bad_menu_entry_is_named_and_nothing_is_written() {
    let t = TestDb::new().await;
    let d = doc(json!({
        "companies": [{"code": "HQ", "name": "Head Office"}],
        "menus": [
            {"company": "HQ", "name": "fine", "path": "/fine", "title": "Fine"},
            {"company": "HQ", "name": "bad", "path": "//evil.example", "title": "Bad",
             "permissions": ["no.such"]},
            {"company": "HQ", "name": "orphan", "parent": "nowhere", "title": "Orphan",
             "path": "/orphan"}
        ]
    }));
    let err = load(&t.fv, &d).await.unwrap_err();
    let Error::Validation(problems) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["menus[1].path", "menus[1].permissions", "menus[2].parent"]
    );
    assert_eq!(
        count(&t.fv, company::Entity).await,
        1,
        "only the default company"
    );
}

#[tokio::test]
async fn a_description_longer_than_the_api_allows_is_named_and_nothing_is_loaded() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let companies = count(fv, company::Entity).await;
    let long = "d".repeat(2_001);
    let bad = doc(json!({
        "companies": [{"code": "NEW", "name": "New"}],
        "permissions": [{"codename": "report.read", "name": "R", "description": long}],
        "roles": [{"company": "NEW", "codename": "r1", "name": "R", "description": long}],
        "groups": [{"company": "NEW", "codename": "g1", "name": "G", "description": long}]
    }));
    let errors = validation(load(fv, &bad).await);
    let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        fields,
        [
            ("permissions[0].description", "length"),
            ("roles[0].description", "length"),
            ("groups[0].description", "length")
        ]
    );
    assert_eq!(errors[0].params.get("max"), Some(&json!(2000)));
    assert_eq!(count(fv, company::Entity).await, companies);
    // At the limit, it loads.
    let ok = doc(json!({
        "companies": [{"code": "NEW", "name": "New"}],
        "roles": [{"company": "NEW", "codename": "r1", "name": "R", "description": "d".repeat(2_000)}]
    }));
    load(fv, &ok)
        .await
        .expect("a 2,000-character description loads");
}

#[tokio::test]
async fn loaded_roles_and_groups_are_stored_as_the_api_stores_them_and_every_problem_is_named() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    // A blank description is stored as none, by `data load` as by the API, so a reload
    // and an API-made twin read the same.
    let first = doc(json!({
        "companies": [{"code": "HQ", "name": "Head Office"}],
        "roles": [{"company": "HQ", "codename": "analyst", "name": "Analyst",
                   "description": "   ", "permissions": ["user.read"]}],
        "groups": [{"company": "HQ", "codename": "ops", "name": "Ops",
                    "description": "", "permissions": ["group.read"]}]
    }));
    load(fv, &first).await.expect("load");
    let hq = company_id(fv, "HQ").await;
    let api_role = create_role(fv, Some(hq), "twin", &["user.read"]).await;
    let loaded_role = fastvue_core::entity::role::Entity::find()
        .filter(fastvue_core::entity::role::Column::Codename.eq("analyst"))
        .one(fv.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded_role.description, None);
    assert_eq!(loaded_role.description, api_role.description);
    let loaded_group = fastvue_core::entity::group::Entity::find()
        .filter(fastvue_core::entity::group::Column::Codename.eq("ops"))
        .one(fv.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded_group.description, None);
    let again = load(fv, &first).await.expect("reload");
    assert_eq!((again.roles.unchanged, again.groups.unchanged), (1, 1));
    assert!(!again.changed());

    // A record with several bad references names each of them, and loads nothing.
    let bad = doc(json!({
        "roles": [{"company": "NOPE", "codename": "r1", "name": "R",
                   "permissions": ["no.such"]}],
        "groups": [{"company": "NOPE", "codename": "g1", "name": "G",
                    "permissions": ["no.such"], "members": ["ghost"],
                    "subtree_members": ["phantom"]}]
    }));
    let errors = validation(load(fv, &bad).await);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "roles[0].company",
            "roles[0].permissions[0]",
            "groups[0].company",
            "groups[0].permissions[0]",
            "groups[0].members[0]",
            "groups[0].subtree_members[0]"
        ]
    );
    let roles = fastvue_core::entity::role::Entity::find()
        .filter(fastvue_core::entity::role::Column::Codename.eq("r1"))
        .count(fv.db())
        .await
        .unwrap();
    assert_eq!(roles, 0);
}

#[tokio::test]
async fn a_reload_that_changes_an_email_or_deactivates_follows_the_account_rules_of_the_api() {
    use fastvue_core::entity::social_account;
    use sea_orm::{ActiveModelTrait, Set};

    let t = TestDb::new().await;
    let fv = &t.fv;
    let first = doc(json!({
        "users": [
            {"username": "ann", "email": "ann@example.com"},
            {"username": "ben", "email": "ben@example.com", "is_active": false}
        ]
    }));
    load(fv, &first).await.expect("load");
    let ann = fv.users().find_by_login("ann").await.unwrap().unwrap();
    let ben = fv.users().find_by_login("ben").await.unwrap().unwrap();
    // Created inactive: stamped as deactivated, as a deactivation through the API is.
    assert!(ben.deleted_at.is_some());
    assert!(ann.deleted_at.is_none());
    social_account::ActiveModel {
        user_id: Set(ann.id),
        provider: Set("github".into()),
        provider_user_id: Set("4242".into()),
        email: Set(Some("ann@example.com".into())),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(fv.db())
    .await
    .unwrap();

    let moved = doc(json!({
        "users": [
            {"username": "ann", "email": "ann@elsewhere.example"},
            {"username": "ben", "email": "ben@example.com"}
        ]
    }));
    let report = load(fv, &moved).await.expect("reload");
    assert_eq!(report.users.updated, 2);
    let ann = fv.users().find_by_login("ann").await.unwrap().unwrap();
    // A new address is unproven, and the provider link that vouched for the old one goes
    // (with an audit row), whoever changes it.
    assert!(ann.email_unconfirmed);
    let links = social_account::Entity::find()
        .filter(social_account::Column::UserId.eq(ann.id))
        .count(fv.db())
        .await
        .unwrap();
    assert_eq!(links, 0);
    let unlinks = fastvue_core::entity::audit_log::Entity::find()
        .filter(fastvue_core::entity::audit_log::Column::Action.eq("unlink"))
        .count(fv.db())
        .await
        .unwrap();
    assert_eq!(unlinks, 1);
    let ben = fv.users().find_by_login("ben").await.unwrap().unwrap();
    assert!(ben.is_active);
    assert!(ben.deleted_at.is_none());
}
