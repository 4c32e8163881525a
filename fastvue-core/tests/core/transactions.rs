//! A failed multi-row write leaves no partial rows.
//!
//! The first tests use failures the services detect themselves. The others make the
//! LAST statement of a write fail (the audit row, by dropping `audit_logs`) so that every
//! earlier row of the write has already been written inside the transaction: only a
//! rollback can remove them.

use fastvue_core::entity::{
    audit_log, company, group, group_permission, role, role_permission, user, user_company_role,
};
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::groups::NewGroup;
use fastvue_core::service::roles::NewRole;
use fastvue_core::service::users::NewUser;
use fastvue_core::{Error, Fastvue};
use sea_orm::ConnectionTrait;

use crate::helpers::*;

async fn rows(fv: &Fastvue) -> [u64; 7] {
    [
        count(fv, company::Entity).await,
        count(fv, role::Entity).await,
        count(fv, role_permission::Entity).await,
        count(fv, group::Entity).await,
        count(fv, group_permission::Entity).await,
        count(fv, user::Entity).await,
        count(fv, user_company_role::Entity).await,
    ]
}

/// Makes every later audit write fail.
async fn break_the_audit_trail(fv: &Fastvue) {
    fv.db()
        .execute_unprepared("DROP TABLE audit_logs")
        .await
        .expect("drop audit_logs");
}

#[track_caller]
fn assert_failed_in_the_database<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::Internal(_)) => {}
        other => panic!("expected the write to fail in the database, got {other:?}"),
    }
}

async fn perms_of_role(fv: &Fastvue, role_id: i64) -> Vec<String> {
    fv.roles().get(&sys(), role_id).await.unwrap().permissions
}

#[tokio::test]
async fn creating_a_role_with_one_unknown_codename_creates_no_role() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let before = rows(&t.fv).await;
    let audit_before = count(&t.fv, audit_log::Entity).await;
    let r =
        t.fv.roles()
            .create(
                &sys(),
                NewRole {
                    name: "Editor".into(),
                    codename: "editor".into(),
                    company_id: Some(acme.id),
                    permissions: names(&["user.read", "user.update", "nope.nope"]),
                    ..Default::default()
                },
            )
            .await;
    assert!(matches!(r, Err(Error::Validation(_))), "{r:?}");
    assert_eq!(rows(&t.fv).await, before);
    assert_eq!(count(&t.fv, audit_log::Entity).await, audit_before);
}

#[tokio::test]
async fn creating_a_company_whose_code_conflicts_leaves_no_extra_roles() {
    let t = TestDb::new().await;
    create_company(&t.fv, "ACME").await;
    let before = rows(&t.fv).await;
    let r =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Acme again".into(),
                    code: "acme".into(),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("code"));
    assert_eq!(rows(&t.fv).await, before);
}

#[tokio::test]
async fn set_permissions_with_an_unknown_codename_leaves_the_old_set_intact() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let r = create_role(
        &t.fv,
        Some(acme.id),
        "editor",
        &["user.read", "user.update"],
    )
    .await;
    let e = validation(
        t.fv.roles()
            .set_permissions(&sys(), r.id, &names(&["role.read", "nope.nope"]))
            .await,
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("nope.nope"));
    assert_eq!(
        perms_of_role(&t.fv, r.id).await,
        ["user.read", "user.update"]
    );
}

#[tokio::test]
async fn a_company_whose_last_write_fails_leaves_neither_company_nor_roles() {
    let t = TestDb::new().await;
    let before = rows(&t.fv).await;
    break_the_audit_trail(&t.fv).await;
    let r =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Acme".into(),
                    code: "ACME".into(),
                    ..Default::default()
                },
            )
            .await;
    assert_failed_in_the_database(r);
    assert_eq!(
        rows(&t.fv).await,
        before,
        "company, its 3 roles and their grants are rolled back"
    );
}

#[tokio::test]
async fn a_role_whose_last_write_fails_leaves_neither_role_nor_grants() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let before = rows(&t.fv).await;
    break_the_audit_trail(&t.fv).await;
    let r =
        t.fv.roles()
            .create(
                &sys(),
                NewRole {
                    name: "Editor".into(),
                    codename: "editor".into(),
                    company_id: Some(acme.id),
                    permissions: names(&["user.read", "user.update"]),
                    ..Default::default()
                },
            )
            .await;
    assert_failed_in_the_database(r);
    assert_eq!(rows(&t.fv).await, before);
}

#[tokio::test]
async fn a_permission_replacement_whose_last_write_fails_keeps_the_old_set_and_answers() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let r = create_role(
        &t.fv,
        Some(acme.id),
        "editor",
        &["user.read", "user.update"],
    )
    .await;
    assign(&t.fv, ann.id, acme.id, r.id).await;
    assert!(has(&t.fv, ann.id, acme.id, "user.update").await);
    break_the_audit_trail(&t.fv).await;
    assert_failed_in_the_database(
        t.fv.roles()
            .set_permissions(&sys(), r.id, &names(&["role.read"]))
            .await,
    );
    assert_eq!(
        perms_of_role(&t.fv, r.id).await,
        ["user.read", "user.update"],
        "the delete is rolled back too"
    );
    assert!(has(&t.fv, ann.id, acme.id, "user.update").await);
    assert!(!has(&t.fv, ann.id, acme.id, "role.read").await);
}

#[tokio::test]
async fn a_group_whose_last_write_fails_leaves_neither_group_nor_grants() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g = create_group(&t.fv, acme.id, "ops", &["user.read"]).await;
    let before = rows(&t.fv).await;
    break_the_audit_trail(&t.fv).await;
    let r =
        t.fv.groups()
            .create(
                &sys(),
                NewGroup {
                    company_id: acme.id,
                    name: "Sales".into(),
                    codename: "sales".into(),
                    permissions: names(&["user.read", "company.read"]),
                    ..Default::default()
                },
            )
            .await;
    assert_failed_in_the_database(r);
    assert_failed_in_the_database(
        t.fv.groups()
            .set_permissions(&sys(), g.id, &names(&["audit.read"]))
            .await,
    );
    assert_eq!(rows(&t.fv).await, before);
    let kept: Vec<String> = t.fv.groups().get(&sys(), g.id).await.unwrap().permissions;
    assert_eq!(kept, ["user.read"]);
}

#[tokio::test]
async fn user_and_assignment_writes_whose_audit_fails_leave_nothing() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    let editor = create_role(&t.fv, Some(acme.id), "editor", &["user.update"]).await;
    assign(&t.fv, ann.id, acme.id, editor.id).await;
    let before = rows(&t.fv).await;
    break_the_audit_trail(&t.fv).await;

    let new = NewUser {
        email: "bob@example.com".into(),
        username: "bob".into(),
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    assert_failed_in_the_database(t.fv.users().create(&sys(), new).await);
    assert_failed_in_the_database(
        t.fv.assignments()
            .assign(
                &sys(),
                ann.id,
                NewAssignment {
                    company_id: acme.id,
                    role_id: viewer.id,
                    is_default: false,
                    scope: Default::default(),
                },
            )
            .await,
    );
    assert_failed_in_the_database(t.fv.roles().delete(&sys(), editor.id).await);
    assert_failed_in_the_database(t.fv.users().deactivate(&sys(), ann.id).await);
    assert_eq!(rows(&t.fv).await, before);
    assert!(t.fv.users().get(&sys(), ann.id).await.unwrap().is_active);
    assert_eq!(effective(&t.fv, ann.id, acme.id).await, ["user.update"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_all_succeed() {
    // Each write reads first (company, permissions) and then inserts: on SQLite a
    // deferred transaction that must upgrade to a writer fails at once with "database
    // is locked" (the busy timeout does not apply), unless writes begin IMMEDIATE.
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let fv = t.fv.clone();
            tokio::spawn(async move {
                fv.roles()
                    .create(
                        &sys(),
                        NewRole {
                            name: format!("Role {i}"),
                            codename: format!("role-{i}"),
                            company_id: Some(acme.id),
                            permissions: names(&["user.read", "role.read"]),
                            ..Default::default()
                        },
                    )
                    .await
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if let Err(e) = task.await.unwrap() {
            failures.push(format!("role-{i}: {e:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(count(&t.fv, role::Entity).await, 3 + 3 + 8);
}
