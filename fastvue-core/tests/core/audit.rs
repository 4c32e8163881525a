//! The audit trail: every administrative write records who changed what.

use fastvue_core::entity::audit_log;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::audit::AuditFilter;
use fastvue_core::service::companies::{CompanyPatch, NewCompany};
use fastvue_core::service::groups::{GroupPatch, NewGroup};
use fastvue_core::service::permissions::{NewPermission, PermissionPatch};
use fastvue_core::service::roles::{NewRole, RolePatch};
use fastvue_core::service::users::{NewUser, UserPatch};
use fastvue_core::{Actor, Origin};
use serde_json::{Value, json};

use crate::helpers::*;

/// A user (a superuser, so that every write is allowed) acting from an address with a
/// request id.
async fn actor(t: &TestDb) -> (i64, Actor) {
    let boss = create_superuser(&t.fv, "boss").await;
    let ctx = acting(&t.fv, boss.id, None).await.with_origin(Origin {
        ip_address: Some("203.0.113.7".into()),
        request_id: Some("req-42".into()),
        user_agent: None,
    });
    (boss.id, ctx)
}

/// The audit rows about one entity, oldest first.
async fn trail(t: &TestDb, entity_type: &str, entity_id: i64) -> Vec<audit_log::Model> {
    audit_rows(
        &t.fv,
        AuditFilter {
            entity_type: Some(entity_type.into()),
            entity_id: Some(entity_id),
            ..Default::default()
        },
    )
    .await
}

fn actions(rows: &[audit_log::Model]) -> Vec<&str> {
    rows.iter().map(|r| r.action.as_str()).collect()
}

fn assert_by(rows: &[audit_log::Model], actor_id: i64) {
    for r in rows {
        assert_eq!(r.actor_id, Some(actor_id), "{r:?}");
        assert_eq!(r.ip_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(r.request_id.as_deref(), Some("req-42"));
    }
}

fn field<'a>(values: &'a Option<Value>, key: &str) -> &'a Value {
    values
        .as_ref()
        .and_then(|v| v.get(key))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn user_writes_are_audited_with_actor_entity_and_values() {
    let t = TestDb::new().await;
    let (boss, ctx) = actor(&t).await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann =
        t.fv.users()
            .create(
                &ctx,
                NewUser {
                    email: "ann@example.com".into(),
                    username: "ann".into(),
                    password: Some(PASSWORD.into()),
                    current_company_id: Some(acme.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    t.fv.users()
        .update(
            &ctx,
            ann.id,
            UserPatch {
                full_name: Some("Ann Lee".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.users()
        .set_password(&ctx, ann.id, "another password")
        .await
        .unwrap();
    t.fv.users().deactivate(&ctx, ann.id).await.unwrap();
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    let a =
        t.fv.assignments()
            .assign(
                &ctx,
                ann.id,
                NewAssignment {
                    company_id: acme.id,
                    role_id: viewer.id,
                    is_default: false,
                    scope: Default::default(),
                },
            )
            .await
            .unwrap();
    t.fv.assignments()
        .unassign(&ctx, ann.id, a.id)
        .await
        .unwrap();

    let rows = trail(&t, "user", ann.id).await;
    assert_eq!(
        actions(&rows),
        [
            "create",
            "update",
            "set_password",
            "deactivate",
            "assign_role",
            "unassign_role"
        ]
    );
    assert_by(&rows, boss);
    let [create, update, set_password, deactivate, assign, unassign] = &rows[..] else {
        unreachable!()
    };

    assert_eq!(create.old_values, None);
    assert_eq!(field(&create.new_values, "email"), "ann@example.com");
    assert_eq!(field(&create.new_values, "id"), ann.id);
    assert_eq!(create.company_id, Some(acme.id));

    assert_eq!(field(&update.old_values, "full_name"), &Value::Null);
    assert_eq!(field(&update.new_values, "full_name"), "Ann Lee");

    assert_eq!(
        (&set_password.old_values, &set_password.new_values),
        (&None, &None),
        "the event, never the hash"
    );

    assert_eq!(field(&deactivate.old_values, "is_active"), true);
    assert_eq!(field(&deactivate.new_values, "is_active"), false);

    assert_eq!(assign.company_id, Some(acme.id));
    assert_eq!(field(&assign.new_values, "role_id"), viewer.id);
    assert_eq!(field(&assign.new_values, "id"), a.id);
    assert_eq!(unassign.new_values, None);
    assert_eq!(field(&unassign.old_values, "role_id"), viewer.id);
}

#[tokio::test]
async fn company_writes_are_audited() {
    let t = TestDb::new().await;
    let (boss, ctx) = actor(&t).await;
    let acme =
        t.fv.companies()
            .create(
                &ctx,
                NewCompany {
                    name: "Acme".into(),
                    code: "ACME".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    t.fv.companies()
        .update(
            &ctx,
            acme.id,
            CompanyPatch {
                name: Some("Acme Corp".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.companies().deactivate(&ctx, acme.id).await.unwrap();

    let rows = trail(&t, "company", acme.id).await;
    assert_eq!(actions(&rows), ["create", "update", "deactivate"]);
    assert_by(&rows, boss);
    assert!(rows.iter().all(|r| r.company_id == Some(acme.id)));
    assert_eq!(rows[0].old_values, None);
    assert_eq!(field(&rows[0].new_values, "code"), "ACME");
    assert_eq!(field(&rows[1].old_values, "name"), "Acme");
    assert_eq!(field(&rows[1].new_values, "name"), "Acme Corp");
    assert_eq!(field(&rows[2].new_values, "is_active"), false);
}

#[tokio::test]
async fn role_writes_are_audited_with_their_permission_sets() {
    let t = TestDb::new().await;
    let (boss, ctx) = actor(&t).await;
    let acme = create_company(&t.fv, "ACME").await;
    let r =
        t.fv.roles()
            .create(
                &ctx,
                NewRole {
                    name: "Editor".into(),
                    codename: "editor".into(),
                    company_id: Some(acme.id),
                    permissions: names(&["user.update", "user.read"]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    t.fv.roles()
        .update(
            &ctx,
            r.role.id,
            RolePatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.roles()
        .set_permissions(&ctx, r.role.id, &names(&["role.read"]))
        .await
        .unwrap();
    t.fv.roles().delete(&ctx, r.role.id).await.unwrap();

    let rows = trail(&t, "role", r.role.id).await;
    assert_eq!(
        actions(&rows),
        ["create", "update", "set_permissions", "delete"]
    );
    assert_by(&rows, boss);
    assert!(rows.iter().all(|r| r.company_id == Some(acme.id)));
    assert_eq!(field(&rows[0].new_values, "codename"), "editor");
    assert_eq!(
        field(&rows[0].new_values, "permissions"),
        &json!(["user.read", "user.update"])
    );
    assert_eq!(field(&rows[1].new_values, "is_active"), false);
    assert_eq!(
        rows[2].old_values,
        Some(json!({ "permissions": ["user.read", "user.update"] }))
    );
    assert_eq!(
        rows[2].new_values,
        Some(json!({ "permissions": ["role.read"] }))
    );
    assert_eq!(field(&rows[3].old_values, "codename"), "editor");
    assert_eq!(rows[3].new_values, None);
}

#[tokio::test]
async fn permission_writes_are_audited() {
    let t = TestDb::new().await;
    let (boss, ctx) = actor(&t).await;
    let p =
        t.fv.permissions()
            .create(
                &ctx,
                NewPermission {
                    codename: "report.export".into(),
                    name: "Export".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    t.fv.permissions()
        .update(
            &ctx,
            p.id,
            PermissionPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.permissions().delete(&ctx, p.id).await.unwrap();
    let rows = trail(&t, "permission", p.id).await;
    assert_eq!(actions(&rows), ["create", "update", "delete"]);
    assert_by(&rows, boss);
    assert_eq!(field(&rows[0].new_values, "codename"), "report.export");
    assert_eq!(field(&rows[1].old_values, "is_active"), true);
    assert_eq!(field(&rows[1].new_values, "is_active"), false);
    assert_eq!(field(&rows[2].old_values, "codename"), "report.export");
}

#[tokio::test]
async fn group_writes_are_audited_with_their_permission_sets_as_role_writes_are() {
    let t = TestDb::new().await;
    let (boss, ctx) = actor(&t).await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let g =
        t.fv.groups()
            .create(
                &ctx,
                NewGroup {
                    company_id: acme.id,
                    name: "Ops".into(),
                    codename: "ops".into(),
                    permissions: names(&["group.read"]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    t.fv.groups()
        .update(
            &ctx,
            g.group.id,
            GroupPatch {
                name: Some("Operations".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.groups()
        .set_permissions(&ctx, g.group.id, &names(&["user.read"]))
        .await
        .unwrap();
    t.fv.groups()
        .add_member(&ctx, g.group.id, ann.id, Default::default())
        .await
        .unwrap();
    t.fv.groups()
        .remove_member(&ctx, g.group.id, ann.id)
        .await
        .unwrap();
    t.fv.groups().delete(&ctx, g.group.id).await.unwrap();

    let rows = trail(&t, "group", g.group.id).await;
    assert_eq!(
        actions(&rows),
        [
            "create",
            "update",
            "set_permissions",
            "add_member",
            "remove_member",
            "delete"
        ]
    );
    assert_by(&rows, boss);
    assert!(rows.iter().all(|r| r.company_id == Some(acme.id)));
    assert_eq!(field(&rows[0].new_values, "codename"), "ops");
    assert_eq!(
        field(&rows[0].new_values, "permissions"),
        &json!(["group.read"])
    );
    assert_eq!(field(&rows[1].new_values, "name"), "Operations");
    assert_eq!(
        rows[2].old_values,
        Some(json!({ "permissions": ["group.read"] }))
    );
    assert_eq!(
        rows[2].new_values,
        Some(json!({ "permissions": ["user.read"] }))
    );
    assert_eq!(
        rows[3].new_values,
        Some(json!({ "user_id": ann.id, "scope": "company" }))
    );
    assert_eq!(
        rows[4].old_values,
        Some(json!({ "user_id": ann.id, "scope": "company" }))
    );
}

#[tokio::test]
async fn a_refused_write_leaves_no_audit_row() {
    let t = TestDb::new().await;
    create_user(&t.fv, "ann").await;
    let before =
        t.fv.audit_logs()
            .list(&sys(), &AuditFilter::default(), all())
            .await
            .unwrap()
            .total;
    let dup = NewUser {
        email: "ann@example.com".into(),
        username: "ann2".into(),
        ..Default::default()
    };
    assert!(t.fv.users().create(&sys(), dup).await.is_err());
    assert!(
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "D".into(),
                    code: "DEFAULT".into(),
                    ..Default::default()
                }
            )
            .await
            .is_err()
    );
    assert_eq!(
        t.fv.audit_logs()
            .list(&sys(), &AuditFilter::default(), all())
            .await
            .unwrap()
            .total,
        before
    );
}

#[tokio::test]
async fn listing_the_audit_trail_filters_and_orders_newest_first() {
    let t = TestDb::new().await;
    let (boss, ctx) = actor(&t).await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    create_group(&t.fv, acme.id, "ops", &[]).await;
    t.fv.groups()
        .create(
            &ctx,
            NewGroup {
                company_id: beta.id,
                name: "Ops".into(),
                codename: "ops".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.companies()
        .update(
            &ctx,
            acme.id,
            CompanyPatch {
                name: Some("Acme 2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let list = |f: AuditFilter| {
        let fv = t.fv.clone();
        async move {
            audit_rows(&fv, f)
                .await
                .into_iter()
                .map(|r| (r.entity_type, r.action, r.company_id))
                .collect::<Vec<_>>()
        }
    };
    let s = |x: &str| x.to_owned();
    assert_eq!(
        list(AuditFilter {
            actor_id: Some(boss),
            ..Default::default()
        })
        .await,
        [
            (s("group"), s("create"), Some(beta.id)),
            (s("company"), s("update"), Some(acme.id))
        ]
    );
    assert_eq!(
        list(AuditFilter {
            company_id: Some(acme.id),
            ..Default::default()
        })
        .await,
        [
            (s("company"), s("create"), Some(acme.id)),
            (s("group"), s("create"), Some(acme.id)),
            (s("company"), s("update"), Some(acme.id))
        ]
    );
    assert_eq!(
        list(AuditFilter {
            entity_type: Some("group".into()),
            ..Default::default()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        list(AuditFilter {
            entity_type: Some("company".into()),
            company_ids: Some(vec![beta.id]),
            ..Default::default()
        })
        .await,
        [(s("company"), s("create"), Some(beta.id))]
    );

    let newest =
        t.fv.audit_logs()
            .list(&sys(), &AuditFilter::default(), page(1, 1))
            .await
            .unwrap();
    assert_eq!(newest.items[0].action, "update", "newest first");
    assert_eq!(newest.items[0].entity_id, Some(acme.id));
    assert!(newest.total >= 6);
    assert_eq!(newest.pages, newest.total);
}

#[tokio::test]
async fn bootstrap_writes_are_audited_as_the_system() {
    let t = TestDb::new().await;
    let admin = t.fv.users().find_by_login("admin").await.unwrap().unwrap();
    let rows = trail(&t, "user", admin.id).await;
    assert_eq!(actions(&rows), ["create"]);
    assert_eq!(rows[0].actor_id, None);
    assert_eq!(field(&rows[0].new_values, "is_superuser"), true);
}
