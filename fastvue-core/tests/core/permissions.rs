//! Permissions: the `resource.action` catalogue.

use fastvue_core::entity::role_permission;
use fastvue_core::service::permissions::{NewPermission, PermissionFilter, PermissionPatch};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::*;

#[tokio::test]
async fn creating_a_permission_derives_resource_action_and_default_category() {
    let t = TestDb::new().await;
    let p =
        t.fv.permissions()
            .create(
                &sys(),
                NewPermission {
                    codename: " report.export ".into(),
                    name: "Export reports".into(),
                    description: Some("CSV and PDF".into()),
                    category: None,
                },
            )
            .await
            .unwrap();
    assert_eq!(p.codename, "report.export");
    assert_eq!(
        (p.resource.as_str(), p.action.as_str()),
        ("report", "export")
    );
    assert_eq!(p.category.as_deref(), Some("report"));
    assert_eq!(p.description.as_deref(), Some("CSV and PDF"));
    assert!(!p.is_system);
    assert!(p.is_active);
    assert_eq!(t.fv.permissions().get(&sys(), p.id).await.unwrap(), p);

    let q =
        t.fv.permissions()
            .create(
                &sys(),
                NewPermission {
                    codename: "invoice_line.void".into(),
                    name: "Void invoice lines".into(),
                    description: None,
                    category: Some("Billing".into()),
                },
            )
            .await
            .unwrap();
    assert_eq!(
        (q.resource.as_str(), q.action.as_str()),
        ("invoice_line", "void")
    );
    assert_eq!(q.category.as_deref(), Some("Billing"));
}

#[tokio::test]
async fn creating_a_permission_with_a_taken_codename_is_a_conflict_on_codename() {
    let t = TestDb::new().await;
    create_permission(&t.fv, "report.export").await;
    let r =
        t.fv.permissions()
            .create(
                &sys(),
                NewPermission {
                    codename: "report.export".into(),
                    name: "Again".into(),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("codename"));
    // System permissions are taken too.
    let r =
        t.fv.permissions()
            .create(
                &sys(),
                NewPermission {
                    codename: "user.read".into(),
                    name: "Again".into(),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("codename"));
}

#[tokio::test]
async fn a_malformed_codename_is_a_validation_error_on_codename() {
    let t = TestDb::new().await;
    for bad in [
        "report",
        "Report.export",
        "report.",
        ".export",
        "a.b.c",
        "re port.x",
        "report-x.y",
        "",
    ] {
        let r =
            t.fv.permissions()
                .create(
                    &sys(),
                    NewPermission {
                        codename: bad.into(),
                        name: "Bad".into(),
                        ..Default::default()
                    },
                )
                .await;
        assert_eq!(invalid_fields(r), ["codename"], "{bad:?}");
    }
    let r =
        t.fv.permissions()
            .create(
                &sys(),
                NewPermission {
                    codename: "x".into(),
                    name: "".into(),
                    ..Default::default()
                },
            )
            .await;
    let mut fields = invalid_fields(r);
    fields.sort();
    assert_eq!(fields, ["codename", "name"]);
}

#[tokio::test]
async fn system_permissions_cannot_be_deleted() {
    let t = TestDb::new().await;
    let user_read =
        t.fv.permissions()
            .list(
                &sys(),
                &PermissionFilter {
                    search: Some("user.read".into()),
                    ..Default::default()
                },
                all(),
            )
            .await
            .unwrap()
            .items
            .remove(0);
    assert!(user_read.is_system);
    assert_conflict(t.fv.permissions().delete(&sys(), user_read.id).await, None);
    assert!(
        t.fv.permissions().get(&sys(), user_read.id).await.is_ok(),
        "still there"
    );
}

#[tokio::test]
async fn deleting_a_non_system_permission_removes_it_and_its_grants() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let p = create_permission(&t.fv, "report.export").await;
    let r = create_role(
        &t.fv,
        Some(acme.id),
        "reporter",
        &["report.export", "user.read"],
    )
    .await;
    t.fv.permissions().delete(&sys(), p.id).await.unwrap();
    assert_not_found(t.fv.permissions().get(&sys(), p.id).await, "permission");
    let grants = role_permission::Entity::find()
        .filter(role_permission::Column::PermissionId.eq(p.id))
        .count(t.fv.db())
        .await
        .unwrap();
    assert_eq!(grants, 0);
    let left: Vec<String> = t.fv.roles().get(&sys(), r.id).await.unwrap().permissions;
    assert_eq!(left, ["user.read"]);
    assert_not_found(t.fv.permissions().delete(&sys(), p.id).await, "permission");
}

#[tokio::test]
async fn listing_permissions_filters_by_resource_category_search_and_activity() {
    let t = TestDb::new().await;
    let export = create_permission(&t.fv, "report.export").await;
    create_permission(&t.fv, "report.view").await;
    t.fv.permissions()
        .create(
            &sys(),
            NewPermission {
                codename: "invoice.pay".into(),
                name: "Pay invoices".into(),
                category: Some("billing".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.fv.permissions()
        .update(
            &sys(),
            export.id,
            PermissionPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let list = |f: PermissionFilter| {
        let fv = t.fv.clone();
        async move {
            fv.permissions()
                .list(&sys(), &f, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.codename)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(PermissionFilter {
            resource: Some("report".into()),
            ..Default::default()
        })
        .await,
        ["report.export", "report.view"]
    );
    assert_eq!(
        list(PermissionFilter {
            category: Some("billing".into()),
            ..Default::default()
        })
        .await,
        ["invoice.pay"]
    );
    assert_eq!(
        list(PermissionFilter {
            category: Some("user".into()),
            ..Default::default()
        })
        .await,
        ["user.create", "user.delete", "user.read", "user.update"]
    );
    assert_eq!(
        list(PermissionFilter {
            search: Some("PAY INV".into()),
            ..Default::default()
        })
        .await,
        ["invoice.pay"]
    );
    assert_eq!(
        list(PermissionFilter {
            is_active: Some(false),
            ..Default::default()
        })
        .await,
        ["report.export"]
    );
    let everything =
        t.fv.permissions()
            .list(&sys(), &PermissionFilter::default(), page(1, 10))
            .await
            .unwrap();
    assert_eq!(
        (everything.total, everything.pages, everything.items.len()),
        (33, 4, 10)
    );
}

#[tokio::test]
async fn updating_a_permission_changes_name_category_and_description_but_never_the_codename() {
    let t = TestDb::new().await;
    let p = create_permission(&t.fv, "report.export").await;
    let u =
        t.fv.permissions()
            .update(
                &sys(),
                p.id,
                PermissionPatch {
                    name: Some("Export".into()),
                    category: Some("Reports".into()),
                    description: Some("all formats".into()),
                    is_active: None,
                },
            )
            .await
            .unwrap();
    assert_eq!(u.codename, "report.export");
    assert_eq!(u.name, "Export");
    assert_eq!(u.category.as_deref(), Some("Reports"));
    assert_eq!(u.description.as_deref(), Some("all formats"));
    let cleared =
        t.fv.permissions()
            .update(
                &sys(),
                p.id,
                PermissionPatch {
                    description: Some(" ".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert_eq!(cleared.description, None);
    assert_not_found(
        t.fv.permissions()
            .update(&sys(), 999_999, PermissionPatch::default())
            .await,
        "permission",
    );
}
