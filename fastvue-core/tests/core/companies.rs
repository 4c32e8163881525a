//! Companies: creation with seeded roles, conflicts, hierarchy, tree, listing, deactivation.

use fastvue_core::entity::role;
use fastvue_core::seed::system_permissions;
use fastvue_core::service::companies::{CompanyFilter, CompanyNode, CompanyPatch, NewCompany};

use crate::helpers::*;

async fn role_codenames(t: &TestDb, company_id: i64, codename: &str) -> Vec<String> {
    let r = company_role(&t.fv, company_id, codename).await;
    assert!(r.is_system, "seeded role {codename} is a system role");
    assert!(r.is_active);
    t.fv.roles().get(&sys(), r.id).await.unwrap().permissions
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn creating_a_company_seeds_admin_manager_and_viewer_with_the_documented_permissions() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "acme").await;
    assert_eq!(acme.code, "ACME", "codes are stored upper-case");
    assert_eq!(acme.name, "acme Inc");
    assert!(acme.is_active);

    let every = sorted(system_permissions());
    assert_eq!(every.len(), 30);
    let reads: Vec<String> = every
        .iter()
        .filter(|c| c.ends_with(".read"))
        .cloned()
        .collect();
    assert_eq!(
        reads,
        [
            "apikey.read",
            "audit.read",
            "company.read",
            "group.read",
            "menu.read",
            "permission.read",
            "role.read",
            "user.read"
        ]
    );
    let mut manager = reads.clone();
    manager.extend(names(&["user.create", "user.update", "role.assign"]));

    assert_eq!(role_codenames(&t, acme.id, "admin").await, every);
    assert_eq!(
        role_codenames(&t, acme.id, "manager").await,
        sorted(manager)
    );
    assert_eq!(role_codenames(&t, acme.id, "viewer").await, reads);

    let roles =
        t.fv.roles()
            .list(
                &sys(),
                &fastvue_core::service::roles::RoleFilter {
                    company_id: Some(acme.id),
                    ..Default::default()
                },
                all(),
            )
            .await
            .unwrap();
    let mut codes: Vec<String> = roles.items.into_iter().map(|r| r.codename).collect();
    codes.sort();
    assert_eq!(codes, ["admin", "manager", "viewer"]);
}

#[tokio::test]
async fn a_seeded_admin_holds_exactly_the_system_permissions_in_its_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await;
    assign(
        &t.fv,
        ann.id,
        acme.id,
        company_role(&t.fv, acme.id, "admin").await.id,
    )
    .await;
    assert_eq!(
        effective(&t.fv, ann.id, acme.id).await,
        sorted(system_permissions())
    );
}

#[tokio::test]
async fn creating_a_company_with_a_taken_code_is_a_conflict_on_code() {
    let t = TestDb::new().await;
    create_company(&t.fv, "ACME").await;
    let r =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Another".into(),
                    code: "acme".into(),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("code"));
}

#[tokio::test]
async fn renaming_a_company_to_a_taken_code_is_a_conflict_on_code() {
    let t = TestDb::new().await;
    create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let r =
        t.fv.companies()
            .update(
                &sys(),
                beta.id,
                CompanyPatch {
                    code: Some("Acme".into()),
                    ..Default::default()
                },
            )
            .await;
    assert_conflict(r, Some("code"));
    assert_eq!(
        t.fv.companies().get(&sys(), beta.id).await.unwrap().code,
        "BETA"
    );
}

#[tokio::test]
async fn creating_a_company_with_invalid_name_and_code_lists_both() {
    let t = TestDb::new().await;
    let r =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "   ".into(),
                    code: "a b".into(),
                    ..Default::default()
                },
            )
            .await;
    let mut fields = invalid_fields(r);
    fields.sort();
    assert_eq!(fields, ["code", "name"]);
}

#[tokio::test]
async fn creating_a_company_under_an_unknown_parent_is_a_validation_error() {
    let t = TestDb::new().await;
    let r =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Orphan".into(),
                    code: "ORPH".into(),
                    parent_id: Some(777_777),
                    ..Default::default()
                },
            )
            .await;
    assert_eq!(invalid_fields(r), ["parent_id"]);
}

#[tokio::test]
async fn a_company_cannot_become_its_own_ancestor() {
    let t = TestDb::new().await;
    let root = create_company(&t.fv, "ROOT").await;
    let child =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Child".into(),
                    code: "CHILD".into(),
                    parent_id: Some(root.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    let grandchild =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Grand".into(),
                    code: "GRAND".into(),
                    parent_id: Some(child.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

    let to = |parent: i64| CompanyPatch {
        parent_id: Some(parent),
        ..Default::default()
    };
    assert_eq!(
        invalid_fields(
            t.fv.companies()
                .update(&sys(), root.id, to(grandchild.id))
                .await
        ),
        ["parent_id"]
    );
    assert_eq!(
        invalid_fields(t.fv.companies().update(&sys(), root.id, to(root.id)).await),
        ["parent_id"]
    );
    assert_eq!(
        invalid_fields(
            t.fv.companies()
                .update(&sys(), child.id, to(grandchild.id))
                .await
        ),
        ["parent_id"]
    );
    assert_eq!(
        t.fv.companies()
            .get(&sys(), root.id)
            .await
            .unwrap()
            .parent_id,
        None,
        "refused moves change nothing"
    );

    // A legal move, then back to a root with parent_id 0.
    let other = create_company(&t.fv, "OTHER").await;
    let moved =
        t.fv.companies()
            .update(&sys(), grandchild.id, to(other.id))
            .await
            .unwrap();
    assert_eq!(moved.parent_id, Some(other.id));
    let rooted =
        t.fv.companies()
            .update(&sys(), grandchild.id, to(0))
            .await
            .unwrap();
    assert_eq!(rooted.parent_id, None);
}

fn shape(nodes: &[CompanyNode]) -> Vec<(String, Vec<(String, usize)>)> {
    nodes
        .iter()
        .map(|n| {
            (
                n.company.code.clone(),
                n.children
                    .iter()
                    .map(|c| (c.company.code.clone(), c.children.len()))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_company_tree_nests_children_under_their_parents() {
    let t = TestDb::new().await;
    let a = create_company(&t.fv, "AA").await;
    let b = create_company(&t.fv, "BB").await;
    let mk = |code: &'static str, parent: i64| {
        let fv = t.fv.clone();
        async move {
            fv.companies()
                .create(
                    &sys(),
                    NewCompany {
                        name: format!("{code} Inc"),
                        code: code.into(),
                        parent_id: Some(parent),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
        }
    };
    let a1 = mk("AA1", a.id).await;
    mk("AA2", a.id).await;
    mk("AA11", a1.id).await;
    mk("BB1", b.id).await;

    let tree = t.fv.companies().tree(&sys()).await.unwrap();
    // Roots by name: "AA Inc", "BB Inc", "Default".
    assert_eq!(
        shape(&tree),
        [
            (
                "AA".to_owned(),
                vec![("AA1".to_owned(), 1), ("AA2".to_owned(), 0)]
            ),
            ("BB".to_owned(), vec![("BB1".to_owned(), 0)]),
            ("DEFAULT".to_owned(), vec![]),
        ]
    );
    assert_eq!(tree[0].children[0].children[0].company.code, "AA11");

    // Restricted to some companies: a visible company whose parent is hidden is a root.
    let viewer = create_user(&t.fv, "viewer").await;
    grant_role(&t.fv, viewer.id, a1.id, "viewer").await;
    grant_role(&t.fv, viewer.id, b.id, "viewer").await;
    let seeing = acting(&t.fv, viewer.id, Some(a1.id)).await;
    let visible = t.fv.companies().tree(&seeing).await.unwrap();
    let mut roots: Vec<String> = visible.iter().map(|n| n.company.code.clone()).collect();
    roots.sort();
    assert_eq!(roots, ["AA1", "BB"]);
    assert!(visible.iter().all(|n| n.children.is_empty()));

    let json = serde_json::to_value(&tree[0]).unwrap();
    assert_eq!(json["code"], "AA", "the company is flattened into the node");
    assert_eq!(json["children"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn listing_companies_searches_filters_and_paginates() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let child =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Acme East".into(),
                    code: "ACME-E".into(),
                    parent_id: Some(acme.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    create_company(&t.fv, "BETA").await;
    t.fv.companies().deactivate(&sys(), child.id).await.unwrap();

    let list = |f: CompanyFilter| {
        let fv = t.fv.clone();
        async move {
            // Sorted here: the list is ordered by name, whose collation differs per backend.
            let mut codes: Vec<String> = fv
                .companies()
                .list(&sys(), &f, all())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.code)
                .collect();
            codes.sort();
            codes
        }
    };
    assert_eq!(
        list(CompanyFilter {
            search: Some("aCmE".into()),
            ..Default::default()
        })
        .await,
        ["ACME", "ACME-E"]
    );
    assert_eq!(
        list(CompanyFilter {
            is_active: Some(false),
            ..Default::default()
        })
        .await,
        ["ACME-E"]
    );
    assert_eq!(
        list(CompanyFilter {
            parent_id: Some(acme.id),
            ..Default::default()
        })
        .await,
        ["ACME-E"]
    );
    assert_eq!(
        list(CompanyFilter {
            ids: Some(vec![acme.id]),
            ..Default::default()
        })
        .await,
        ["ACME"]
    );
    let p =
        t.fv.companies()
            .list(&sys(), &CompanyFilter::default(), page(2, 2))
            .await
            .unwrap();
    assert_eq!((p.total, p.pages, p.items.len()), (4, 2, 2));
}

#[tokio::test]
async fn deactivating_a_company_keeps_it_and_its_roles() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let d = t.fv.companies().deactivate(&sys(), acme.id).await.unwrap();
    assert!(!d.is_active);
    assert!(d.deleted_at.is_some());
    let stored = t.fv.companies().get(&sys(), acme.id).await.unwrap();
    assert!(!stored.is_active);
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let roles = role::Entity::find()
        .filter(role::Column::CompanyId.eq(acme.id))
        .count(t.fv.db())
        .await
        .unwrap();
    assert_eq!(roles, 3);
}

#[tokio::test]
async fn getting_or_deactivating_an_unknown_company_is_not_found() {
    let t = TestDb::new().await;
    assert_not_found(t.fv.companies().get(&sys(), 123_456).await, "company");
    assert_not_found(
        t.fv.companies().deactivate(&sys(), 123_456).await,
        "company",
    );
    assert_not_found(
        t.fv.companies()
            .update(&sys(), 123_456, CompanyPatch::default())
            .await,
        "company",
    );
}

#[tokio::test]
async fn updating_a_company_changes_name_and_code() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let u =
        t.fv.companies()
            .update(
                &sys(),
                acme.id,
                CompanyPatch {
                    name: Some("Acme Corp".into()),
                    code: Some("acme-corp".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert_eq!(
        (u.name.as_str(), u.code.as_str()),
        ("Acme Corp", "ACME-CORP")
    );
    assert_eq!(t.fv.companies().get(&sys(), acme.id).await.unwrap(), u);
}

#[tokio::test]
async fn reactivating_a_company_makes_it_active_again() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    t.fv.companies().deactivate(&sys(), acme.id).await.unwrap();
    let back =
        t.fv.companies()
            .update(
                &sys(),
                acme.id,
                CompanyPatch {
                    is_active: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    assert!(back.is_active);
}

#[tokio::test]
async fn the_hierarchy_stops_at_32_levels_and_the_tree_nests_no_deeper_whatever_the_rows_say() {
    let t = TestDb::new().await;
    let mut parent = None;
    let mut ids = Vec::new();
    for n in 0..32 {
        let c =
            t.fv.companies()
                .create(
                    &sys(),
                    NewCompany {
                        name: format!("Level {n}"),
                        code: format!("LV{n}"),
                        parent_id: parent,
                        ..Default::default()
                    },
                )
                .await
                .expect("levels 1 to 32");
        parent = Some(c.id);
        ids.push(c.id);
    }
    // Even the system cannot create level 33: no such data can come through the core.
    let deeper =
        t.fv.companies()
            .create(
                &sys(),
                NewCompany {
                    name: "Level 33".into(),
                    code: "LV33".into(),
                    parent_id: parent,
                    ..Default::default()
                },
            )
            .await;
    assert_eq!(invalid_fields(deeper), ["parent_id"]);
    // Rows written behind the core's back: 200 more levels under level 32.
    use sea_orm::ConnectionTrait;
    let mut last = *ids.last().unwrap();
    for n in 0..200 {
        let id = 500_000 + n;
        t.fv.db()
            .execute_unprepared(&format!(
                "INSERT INTO companies (id, name, code, parent_id, is_active, created_at, updated_at) \
                 VALUES ({id}, 'Raw {n}', 'RAW{n}', {last}, TRUE, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
            ))
            .await
            .unwrap();
        last = id;
    }
    let tree = t.fv.companies().tree(&sys()).await.unwrap();
    let mut stack: Vec<(&CompanyNode, usize)> = tree.iter().map(|n| (n, 1)).collect();
    let (mut deepest, mut count) = (0, 0);
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        count += 1;
        stack.extend(node.children.iter().map(|c| (c, depth + 1)));
    }
    assert_eq!(deepest, 32);
    // Default + 32 levels + 200 raw rows, each exactly once.
    assert_eq!(count, 1 + 32 + 200);
}
