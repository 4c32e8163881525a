//! Groups: company-scoped sets of users that grant permissions to their members.

use fastvue_core::service::groups::{GroupFilter, GroupPatch, NewGroup};

use crate::helpers::*;

async fn perms_of(t: &TestDb, group_id: i64) -> Vec<String> {
    t.fv.groups()
        .get(&sys(), group_id)
        .await
        .unwrap()
        .permissions
}

async fn member_ids(t: &TestDb, group_id: i64) -> Vec<i64> {
    t.fv.groups()
        .members(&sys(), group_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user.id)
        .collect()
}

#[tokio::test]
async fn creating_a_group_with_permissions_stores_them() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g =
        t.fv.groups()
            .create(
                &sys(),
                NewGroup {
                    company_id: acme.id,
                    name: "Support".into(),
                    codename: "support".into(),
                    description: Some("first line".into()),
                    permissions: names(&["user.read", "group.read"]),
                },
            )
            .await
            .unwrap();
    assert_eq!(
        (
            g.group.company_id,
            g.group.codename.as_str(),
            g.group.name.as_str()
        ),
        (acme.id, "support", "Support")
    );
    assert!(g.group.is_active);
    assert_eq!(perms_of(&t, g.group.id).await, ["group.read", "user.read"]);
    assert_eq!(t.fv.groups().get(&sys(), g.group.id).await.unwrap(), g);
    assert!(member_ids(&t, g.group.id).await.is_empty());
}

#[tokio::test]
async fn creating_a_group_validates_company_codename_and_permissions() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let mk = |company_id: i64, codename: &str, perms: &[&str]| NewGroup {
        company_id,
        name: "G".into(),
        codename: codename.into(),
        permissions: names(perms),
        ..Default::default()
    };
    assert_eq!(
        invalid_fields(t.fv.groups().create(&sys(), mk(565_656, "ops", &[])).await),
        ["company_id"]
    );
    assert_eq!(
        invalid_fields(
            t.fv.groups()
                .create(&sys(), mk(acme.id, "Ops Team", &[]))
                .await
        ),
        ["codename"]
    );
    assert_eq!(
        invalid_fields(
            t.fv.groups()
                .create(&sys(), mk(acme.id, "ops", &["nope.nope"]))
                .await
        ),
        ["permissions"]
    );
}

#[tokio::test]
async fn group_codenames_are_unique_per_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    create_group(&t.fv, acme.id, "ops", &[]).await;
    let again = NewGroup {
        company_id: acme.id,
        name: "Ops".into(),
        codename: "ops".into(),
        ..Default::default()
    };
    assert_conflict(
        t.fv.groups().create(&sys(), again.clone()).await,
        Some("codename"),
    );
    t.fv.groups()
        .create(
            &sys(),
            NewGroup {
                company_id: beta.id,
                ..again
            },
        )
        .await
        .expect("other company");
}

#[tokio::test]
async fn set_permissions_replaces_the_group_set() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g = create_group(&t.fv, acme.id, "ops", &["user.read"]).await;
    let out =
        t.fv.groups()
            .set_permissions(&sys(), g.id, &names(&["role.read", "company.read"]))
            .await
            .unwrap();
    assert_eq!(out.permissions, ["company.read", "role.read"]);
    assert_eq!(perms_of(&t, g.id).await, ["company.read", "role.read"]);
    assert_eq!(
        invalid_fields(
            t.fv.groups()
                .set_permissions(&sys(), g.id, &names(&["x.y"]))
                .await
        ),
        ["permissions"]
    );
    assert_eq!(
        perms_of(&t, g.id).await,
        ["company.read", "role.read"],
        "a refused set leaves the old one"
    );
    assert_not_found(
        t.fv.groups().set_permissions(&sys(), 676_767, &[]).await,
        "group",
    );
}

#[tokio::test]
async fn adding_and_removing_members() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g = create_group(&t.fv, acme.id, "ops", &[]).await;
    let ann = create_user(&t.fv, "ann").await;
    let bob = create_user(&t.fv, "bob").await;
    t.fv.groups()
        .add_member(&sys(), g.id, ann.id, Default::default())
        .await
        .unwrap();
    t.fv.groups()
        .add_member(&sys(), g.id, bob.id, Default::default())
        .await
        .unwrap();
    t.fv.groups()
        .add_member(&sys(), g.id, ann.id, Default::default())
        .await
        .expect("adding twice is harmless");
    assert_eq!(member_ids(&t, g.id).await, [ann.id, bob.id]);

    t.fv.groups()
        .remove_member(&sys(), g.id, ann.id)
        .await
        .unwrap();
    assert_eq!(member_ids(&t, g.id).await, [bob.id]);
}

#[tokio::test]
async fn removing_a_non_member_is_not_found() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g = create_group(&t.fv, acme.id, "ops", &[]).await;
    let ann = create_user(&t.fv, "ann").await;
    assert_not_found(
        t.fv.groups().remove_member(&sys(), g.id, ann.id).await,
        "group member",
    );
    t.fv.groups()
        .add_member(&sys(), g.id, ann.id, Default::default())
        .await
        .unwrap();
    t.fv.groups()
        .remove_member(&sys(), g.id, ann.id)
        .await
        .unwrap();
    assert_not_found(
        t.fv.groups().remove_member(&sys(), g.id, ann.id).await,
        "group member",
    );
}

#[tokio::test]
async fn membership_changes_need_an_existing_group_and_user() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g = create_group(&t.fv, acme.id, "ops", &[]).await;
    let ann = create_user(&t.fv, "ann").await;
    assert_not_found(
        t.fv.groups()
            .add_member(&sys(), 454_545, ann.id, Default::default())
            .await,
        "group",
    );
    assert_eq!(
        invalid_fields(
            t.fv.groups()
                .add_member(&sys(), g.id, 454_545, Default::default())
                .await
        ),
        ["user_id"]
    );
    assert_not_found(
        t.fv.groups().remove_member(&sys(), 454_545, ann.id).await,
        "group",
    );
    assert_not_found(t.fv.groups().members(&sys(), 454_545).await, "group");
}

#[tokio::test]
async fn deleting_a_group_removes_it_and_its_memberships() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let g = create_group(&t.fv, acme.id, "ops", &["user.read"]).await;
    let ann = create_user(&t.fv, "ann").await;
    t.fv.groups()
        .add_member(&sys(), g.id, ann.id, Default::default())
        .await
        .unwrap();
    t.fv.groups().delete(&sys(), g.id).await.unwrap();
    assert_not_found(t.fv.groups().get(&sys(), g.id).await, "group");
    assert_eq!(
        count(&t.fv, fastvue_core::entity::user_group::Entity).await,
        0
    );
    assert_eq!(
        count(&t.fv, fastvue_core::entity::group_permission::Entity).await,
        0
    );
    assert!(
        t.fv.users().get(&sys(), ann.id).await.is_ok(),
        "members are kept"
    );
}

#[tokio::test]
async fn updating_and_listing_groups() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ops = create_group(&t.fv, acme.id, "ops", &[]).await;
    create_group(&t.fv, acme.id, "sales", &[]).await;
    create_group(&t.fv, beta.id, "ops", &[]).await;
    let u =
        t.fv.groups()
            .update(
                &sys(),
                ops.id,
                GroupPatch {
                    name: Some("Operations".into()),
                    description: Some("24/7".into()),
                    is_active: Some(false),
                },
            )
            .await
            .unwrap();
    assert_eq!(
        (
            u.group.name.as_str(),
            u.group.description.as_deref(),
            u.group.is_active
        ),
        ("Operations", Some("24/7"), false)
    );

    let list = |f: GroupFilter| {
        let fv = t.fv.clone();
        async move {
            let mut v: Vec<(i64, String)> = fv
                .groups()
                .list(&sys(), &f, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|g| (g.company_id, g.codename))
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(
        list(GroupFilter {
            company_id: Some(acme.id),
            ..Default::default()
        })
        .await,
        [(acme.id, "ops".into()), (acme.id, "sales".into())]
    );
    assert_eq!(
        list(GroupFilter {
            is_active: Some(false),
            ..Default::default()
        })
        .await,
        [(acme.id, "ops".to_owned())]
    );
    assert_eq!(
        list(GroupFilter {
            search: Some("OPS".into()),
            company_id: Some(beta.id),
            ..Default::default()
        })
        .await,
        [(beta.id, "ops".to_owned())]
    );
}
