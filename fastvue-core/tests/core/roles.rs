//! Roles: per-company permission bundles and global templates.

use fastvue_core::Error;
use fastvue_core::entity::user_company_role;
use fastvue_core::service::roles::{NewRole, RoleFilter, RolePatch};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::*;

async fn perms_of(t: &TestDb, role_id: i64) -> Vec<String> {
    t.fv.roles().get(&sys(), role_id).await.unwrap().permissions
}

fn new_role(company_id: Option<i64>, codename: &str, perms: &[&str]) -> NewRole {
    NewRole {
        name: format!("Role {codename}"),
        codename: codename.to_owned(),
        company_id,
        permissions: names(perms),
        ..Default::default()
    }
}

#[tokio::test]
async fn creating_a_role_with_permissions_grants_them() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let r =
        t.fv.roles()
            .create(
                &sys(),
                NewRole {
                    description: Some("reads things".into()),
                    ..new_role(
                        Some(acme.id),
                        "auditor",
                        &["user.read", "audit.read", "user.read"],
                    )
                },
            )
            .await
            .unwrap();
    assert_eq!(r.role.codename, "auditor");
    assert_eq!(r.role.company_id, Some(acme.id));
    assert_eq!(r.role.description.as_deref(), Some("reads things"));
    assert!(!r.role.is_system);
    assert!(r.role.is_active);
    assert_eq!(
        perms_of(&t, r.role.id).await,
        ["audit.read", "user.read"],
        "duplicates collapse"
    );
    assert_eq!(t.fv.roles().get(&sys(), r.role.id).await.unwrap(), r);
}

#[tokio::test]
async fn creating_a_role_with_an_unknown_codename_is_a_validation_error_naming_it() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let errors = validation(
        t.fv.roles()
            .create(
                &sys(),
                new_role(Some(acme.id), "x1", &["user.read", "report.export"]),
            )
            .await,
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "permissions");
    assert!(
        errors[0].message.contains("report.export"),
        "{}",
        errors[0].message
    );

    let errors = validation(
        t.fv.roles()
            .create(
                &sys(),
                new_role(Some(acme.id), "x2", &["user.read", "Not A Codename"]),
            )
            .await,
    );
    assert_eq!(
        errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
        ["permissions[1]"]
    );
}

#[tokio::test]
async fn creating_a_role_with_invalid_name_and_codename_lists_both() {
    let t = TestDb::new().await;
    let r =
        t.fv.roles()
            .create(
                &sys(),
                NewRole {
                    name: "".into(),
                    codename: "Bad Codename".into(),
                    ..Default::default()
                },
            )
            .await;
    let mut fields = invalid_fields(r);
    fields.sort();
    assert_eq!(fields, ["codename", "name"]);
}

#[tokio::test]
async fn creating_a_role_in_an_unknown_company_is_a_validation_error() {
    let t = TestDb::new().await;
    assert_eq!(
        invalid_fields(
            t.fv.roles()
                .create(&sys(), new_role(Some(404_404), "ghost", &[]))
                .await
        ),
        ["company_id"]
    );
}

#[tokio::test]
async fn set_permissions_replaces_the_whole_set() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let r = create_role(
        &t.fv,
        Some(acme.id),
        "editor",
        &["user.read", "user.update"],
    )
    .await;
    let returned =
        t.fv.roles()
            .set_permissions(
                &sys(),
                r.id,
                &names(&["role.read", "user.read", "group.read"]),
            )
            .await
            .unwrap();
    let returned: Vec<String> = returned.permissions;
    assert_eq!(returned, ["group.read", "role.read", "user.read"]);
    assert_eq!(
        perms_of(&t, r.id).await,
        ["group.read", "role.read", "user.read"]
    );

    t.fv.roles()
        .set_permissions(&sys(), r.id, &[])
        .await
        .unwrap();
    assert!(
        perms_of(&t, r.id).await.is_empty(),
        "an empty list clears the set"
    );
    assert_not_found(
        t.fv.roles().set_permissions(&sys(), 909_090, &[]).await,
        "role",
    );
}

#[tokio::test]
async fn role_codenames_are_unique_per_company_but_reusable_across_companies() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    create_role(&t.fv, Some(acme.id), "editor", &[]).await;
    assert_conflict(
        t.fv.roles()
            .create(&sys(), new_role(Some(acme.id), "editor", &[]))
            .await,
        Some("codename"),
    );
    let in_beta =
        t.fv.roles()
            .create(&sys(), new_role(Some(beta.id), "editor", &[]))
            .await
            .unwrap();
    assert_eq!(in_beta.role.company_id, Some(beta.id));
    // The seeded codenames are taken in every company.
    assert_conflict(
        t.fv.roles()
            .create(&sys(), new_role(Some(beta.id), "admin", &[]))
            .await,
        Some("codename"),
    );
}

#[tokio::test]
async fn global_role_codenames_are_unique_among_global_templates() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let global = create_role(&t.fv, None, "auditor", &["audit.read"]).await;
    assert_eq!(global.company_id, None);
    assert_conflict(
        t.fv.roles()
            .create(&sys(), new_role(None, "auditor", &[]))
            .await,
        Some("codename"),
    );
    // A company role may share a global template's codename.
    t.fv.roles()
        .create(&sys(), new_role(Some(acme.id), "auditor", &[]))
        .await
        .unwrap();
}

#[tokio::test]
async fn system_roles_cannot_be_deleted() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let admin = company_role(&t.fv, acme.id, "admin").await;
    assert_conflict(t.fv.roles().delete(&sys(), admin.id).await, None);
    assert!(t.fv.roles().get(&sys(), admin.id).await.is_ok());
}

#[tokio::test]
async fn deleting_a_role_removes_its_assignments() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    let r = create_role(&t.fv, Some(acme.id), "editor", &["user.update"]).await;
    let keep = company_role(&t.fv, acme.id, "viewer").await;
    assign(&t.fv, ann.id, acme.id, r.id).await;
    assign(&t.fv, ann.id, acme.id, keep.id).await;
    t.fv.roles().delete(&sys(), r.id).await.unwrap();
    assert_not_found(t.fv.roles().get(&sys(), r.id).await, "role");
    let left = user_company_role::Entity::find()
        .filter(user_company_role::Column::RoleId.eq(r.id))
        .count(t.fv.db())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let views = t.fv.assignments().of_user(&sys(), ann.id).await.unwrap();
    assert_eq!(
        views
            .iter()
            .map(|v| v.role_codename.as_str())
            .collect::<Vec<_>>(),
        ["viewer"]
    );
    assert_not_found(t.fv.roles().delete(&sys(), r.id).await, "role");
}

#[tokio::test]
async fn updating_a_role_changes_name_description_and_activity() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let r = create_role(&t.fv, Some(acme.id), "editor", &[]).await;
    let u =
        t.fv.roles()
            .update(
                &sys(),
                r.id,
                RolePatch {
                    name: Some("Editor".into()),
                    description: Some("edits".into()),
                    is_active: Some(false),
                },
            )
            .await
            .unwrap();
    assert_eq!(
        (
            u.role.name.as_str(),
            u.role.description.as_deref(),
            u.role.is_active
        ),
        ("Editor", Some("edits"), false)
    );
    assert_eq!(u.role.codename, "editor");
    assert_eq!(
        invalid_fields(
            t.fv.roles()
                .update(
                    &sys(),
                    r.id,
                    RolePatch {
                        name: Some(" ".into()),
                        ..Default::default()
                    }
                )
                .await
        ),
        ["name"]
    );
    assert_not_found(
        t.fv.roles()
            .update(&sys(), 818_181, RolePatch::default())
            .await,
        "role",
    );
}

#[tokio::test]
async fn listing_roles_filters_by_company_global_search_and_activity() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    create_role(&t.fv, None, "template", &[]).await;
    let ed = create_role(&t.fv, Some(acme.id), "editor", &[]).await;
    create_role(&t.fv, Some(beta.id), "editor", &[]).await;
    t.fv.roles()
        .update(
            &sys(),
            ed.id,
            RolePatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let list = |f: RoleFilter| {
        let fv = t.fv.clone();
        async move {
            let mut v: Vec<(Option<i64>, String)> = fv
                .roles()
                .list(&sys(), &f, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| (r.company_id, r.codename))
                .collect();
            v.sort();
            v
        }
    };
    let acme_roles = list(RoleFilter {
        company_id: Some(acme.id),
        ..Default::default()
    })
    .await;
    assert_eq!(acme_roles.len(), 4);
    assert!(acme_roles.iter().all(|(c, _)| *c == Some(acme.id)));
    let with_global = list(RoleFilter {
        company_id: Some(acme.id),
        include_global: true,
        ..Default::default()
    })
    .await;
    assert_eq!(with_global.len(), 5);
    assert!(with_global.contains(&(None, "template".into())));
    assert_eq!(
        list(RoleFilter {
            search: Some("EDIT".into()),
            ..Default::default()
        })
        .await,
        [
            (Some(acme.id), "editor".into()),
            (Some(beta.id), "editor".into())
        ]
    );
    assert_eq!(
        list(RoleFilter {
            is_active: Some(false),
            ..Default::default()
        })
        .await,
        [(Some(acme.id), "editor".to_owned())]
    );
    let scoped = list(RoleFilter {
        company_id: Some(beta.id),
        ..Default::default()
    })
    .await;
    assert_eq!(scoped.len(), 4);
}

#[tokio::test]
async fn reading_the_permissions_of_an_unknown_role_is_not_found() {
    let t = TestDb::new().await;
    assert!(matches!(
        t.fv.roles().get(&sys(), 1_000_001).await,
        Err(Error::NotFound { entity: "role" })
    ));
}
