//! Roles and groups granted on a subtree of the company hierarchy: inheritance, exact
//! invalidation on tree moves and deactivation, data scopes (`companies_where`), explain,
//! and the escalation rule for subtree grants.
use fastvue_core::entity::grant_scope::GrantScope;
use fastvue_core::permission::GrantPath;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::companies::CompanyPatch;
use fastvue_core::{Error, Fastvue};

use crate::helpers::*;

/// A chain Holding > L1 > ... > L{depth-1}, and a company outside it.
struct Tree {
    chain: Vec<i64>,
    outside: i64,
}

async fn chain(fv: &Fastvue, depth: usize) -> Tree {
    let mut chain = vec![create_company(fv, "HOLD").await.id];
    for level in 1..depth {
        let parent = *chain.last().unwrap();
        chain.push(create_child(fv, &format!("L{level}"), parent).await.id);
    }
    let outside = create_company(fv, "OUT").await.id;
    Tree { chain, outside }
}

/// A chain of `depth` companies with permission `report.read`, a role of the holding
/// granting it, and ann holding that role over the holding's subtree.
async fn holding_reader(fv: &Fastvue, depth: usize) -> (Tree, i64, i64) {
    create_permission(fv, "report.read").await;
    let tree = chain(fv, depth).await;
    let role = report_role(fv, Some(tree.chain[0]), "reporter").await;
    let ann = create_user(fv, "ann").await.id;
    assign_subtree(fv, ann, tree.chain[0], role).await;
    (tree, role, ann)
}

/// The one assignment of `user`.
async fn only_assignment(
    fv: &Fastvue,
    user: i64,
) -> fastvue_core::entity::user_company_role::Model {
    let mut views = fv.assignments().of_user(&sys(), user).await.unwrap();
    assert_eq!(views.len(), 1);
    views.remove(0).assignment
}

async fn report_role(fv: &Fastvue, company: Option<i64>, name: &str) -> i64 {
    create_role(fv, company, name, &["report.read", "user.read"])
        .await
        .id
}

async fn move_under(fv: &Fastvue, id: i64, parent: i64) {
    fv.companies()
        .update(
            &sys(),
            id,
            CompanyPatch {
                parent_id: Some(parent),
                ..Default::default()
            },
        )
        .await
        .expect("move company");
}

async fn set_active(fv: &Fastvue, id: i64, active: bool) {
    fv.companies()
        .update(
            &sys(),
            id,
            CompanyPatch {
                is_active: Some(active),
                ..Default::default()
            },
        )
        .await
        .expect("(de)activate company");
}

#[tokio::test]
async fn a_subtree_role_holds_in_every_company_below_down_to_six_levels_and_a_company_role_only_in_its_own()
 {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 6).await;
    let role = report_role(fv, Some(tree.chain[0]), "reporter").await;
    let ann = create_user(fv, "ann").await.id;
    let bob = create_user(fv, "bob").await.id;
    assign_subtree(fv, ann, tree.chain[0], role).await;
    assign(fv, bob, tree.chain[0], role).await;
    for (level, c) in tree.chain.iter().enumerate() {
        assert!(
            has(fv, ann, *c, "report.read").await,
            "ann at level {level}"
        );
        assert_eq!(
            has(fv, bob, *c, "report.read").await,
            level == 0,
            "bob at level {level}"
        );
    }
    assert!(!has(fv, ann, tree.outside, "report.read").await);
    // A subtree assignment in the middle reaches only the levels below it.
    let carl = create_user(fv, "carl").await.id;
    let global = report_role(fv, None, "global-reporter").await;
    assign_subtree(fv, carl, tree.chain[3], global).await;
    for (level, c) in tree.chain.iter().enumerate() {
        assert_eq!(
            has(fv, carl, *c, "report.read").await,
            level >= 3,
            "carl {level}"
        );
    }
    // Membership (who may act in a company) is inherited too.
    assert!(
        fv.assignments()
            .is_member(ann, tree.chain[5])
            .await
            .unwrap()
    );
    assert!(
        !fv.assignments()
            .is_member(bob, tree.chain[5])
            .await
            .unwrap()
    );
    // A change to the role reaches its company-scoped and its subtree holders, warm
    // sets included.
    fv.roles()
        .set_permissions(&sys(), role, &names(&["user.read"]))
        .await
        .unwrap();
    assert!(!has(fv, ann, tree.chain[5], "report.read").await);
    assert!(!has(fv, bob, tree.chain[0], "report.read").await);
    assert!(has(fv, ann, tree.chain[5], "user.read").await);
}

#[tokio::test]
async fn a_company_created_under_an_assigned_subtree_inherits_at_once() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let (tree, _, ann) = holding_reader(fv, 3).await;
    // Warm caches: the reach before the new company exists.
    let before = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert_eq!(&before[..], &tree.chain[..]);
    let shop = create_child(fv, "SHOP", tree.chain[2]).await.id;
    assert!(has(fv, ann, shop, "report.read").await);
    let after = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert!(after.contains(&shop), "{after:?}");
}

#[tokio::test]
async fn moving_a_company_into_and_out_of_a_subtree_changes_its_sets_at_once() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let (tree, _, ann) = holding_reader(fv, 2).await;
    let shop = create_child(fv, "SHOP", tree.outside).await.id;
    let below_shop = create_child(fv, "SHOPX", shop).await.id;
    // Cached negatives first.
    assert!(!has(fv, ann, shop, "report.read").await);
    assert!(!has(fv, ann, below_shop, "report.read").await);
    assert_cached(fv, ann, shop);
    move_under(fv, shop, tree.chain[1]).await;
    assert!(has(fv, ann, shop, "report.read").await);
    assert!(has(fv, ann, below_shop, "report.read").await);
    let reach = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert!(reach.contains(&below_shop));
    move_under(fv, shop, tree.outside).await;
    assert!(!has(fv, ann, shop, "report.read").await);
    assert!(!has(fv, ann, below_shop, "report.read").await);
    let reach = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert_eq!(&reach[..], &tree.chain[..]);
}

#[tokio::test]
async fn a_deactivated_intermediate_company_closes_its_branch_to_inherited_grants_only() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 4).await;
    let role = report_role(fv, Some(tree.chain[0]), "reporter").await;
    let ann = create_user(fv, "ann").await.id;
    let bob = create_user(fv, "bob").await.id;
    assign_subtree(fv, ann, tree.chain[0], role).await;
    let leaf_role = report_role(fv, Some(tree.chain[3]), "leaf-reporter").await;
    assign(fv, bob, tree.chain[3], leaf_role).await;
    assert!(has(fv, ann, tree.chain[3], "report.read").await);
    set_active(fv, tree.chain[1], false).await;
    assert!(!has(fv, ann, tree.chain[1], "report.read").await);
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
    assert!(!has(fv, ann, tree.chain[3], "report.read").await);
    assert!(has(fv, ann, tree.chain[0], "report.read").await);
    assert!(
        has(fv, bob, tree.chain[3], "report.read").await,
        "direct grants stay"
    );
    let reach = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert_eq!(&reach[..], &[tree.chain[0]]);
    set_active(fv, tree.chain[1], true).await;
    assert!(has(fv, ann, tree.chain[3], "report.read").await);
    // deactivate() is the same rule.
    fv.companies()
        .deactivate(&sys(), tree.chain[2])
        .await
        .unwrap();
    assert!(!has(fv, ann, tree.chain[3], "report.read").await);
    assert!(has(fv, ann, tree.chain[1], "report.read").await);
}

#[tokio::test]
async fn subtree_group_memberships_inherit_and_changes_to_the_group_reach_every_company_below() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 3).await;
    let ann = create_user(fv, "ann").await.id;
    grant_role(fv, ann, tree.chain[0], "viewer").await;
    let g = create_group(fv, tree.chain[0], "readers", &["report.read"])
        .await
        .id;
    fv.groups()
        .add_member(&sys(), g, ann, GrantScope::Subtree)
        .await
        .unwrap();
    assert!(has(fv, ann, tree.chain[2], "report.read").await);
    let members = fv.groups().members(&sys(), g).await.unwrap();
    assert_eq!(members[0].scope, GrantScope::Subtree);
    // Emptying the group drops the warm sets below too.
    fv.groups().set_permissions(&sys(), g, &[]).await.unwrap();
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
    fv.groups()
        .set_permissions(&sys(), g, &names(&["report.read"]))
        .await
        .unwrap();
    assert!(has(fv, ann, tree.chain[2], "report.read").await);
    // Re-adding with the company scope narrows it at once.
    fv.groups()
        .add_member(&sys(), g, ann, GrantScope::Company)
        .await
        .unwrap();
    assert!(has(fv, ann, tree.chain[0], "report.read").await);
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
    fv.groups()
        .add_member(&sys(), g, ann, GrantScope::Subtree)
        .await
        .unwrap();
    fv.groups().remove_member(&sys(), g, ann).await.unwrap();
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
}

#[tokio::test]
async fn removing_or_deleting_a_subtree_role_drops_the_warm_sets_below() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let (tree, role, ann) = holding_reader(fv, 3).await;
    let a = only_assignment(fv, ann).await;
    assert!(has(fv, ann, tree.chain[2], "report.read").await);
    fv.assignments().unassign(&sys(), ann, a.id).await.unwrap();
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
    assign_subtree(fv, ann, tree.chain[0], role).await;
    assert!(has(fv, ann, tree.chain[2], "report.read").await);
    fv.roles().delete(&sys(), role).await.unwrap();
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
    let reach = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert!(reach.is_empty());
}

#[tokio::test]
async fn companies_where_equals_the_companies_where_has_is_true() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 4).await;
    let side = create_child(fv, "SIDE", tree.chain[1]).await.id;
    let ann = create_user(fv, "ann").await.id;
    let role = report_role(fv, Some(tree.chain[2]), "reporter").await;
    assign_subtree(fv, ann, tree.chain[2], role).await;
    let other = report_role(fv, Some(tree.outside), "out-reporter").await;
    assign(fv, ann, tree.outside, other).await;
    let g = create_group(fv, side, "side-readers", &["report.read"])
        .await
        .id;
    fv.groups()
        .add_member(&sys(), g, ann, GrantScope::Company)
        .await
        .unwrap();
    let mut all: Vec<i64> = tree.chain.clone();
    all.extend([tree.outside, side]);
    let mut want = Vec::new();
    for c in &all {
        if has(fv, ann, *c, "report.read").await {
            want.push(*c);
        }
    }
    want.sort_unstable();
    let got = fv
        .authorizer()
        .companies_where(ann, "report.read")
        .await
        .unwrap();
    assert_eq!(&got[..], &want[..]);
    assert_eq!(want.len(), 4, "{want:?}");
    // Unknown codenames and inactive users reach nothing; a superuser reaches every
    // active company.
    assert!(
        fv.authorizer()
            .companies_where(ann, "no.such")
            .await
            .unwrap()
            .is_empty()
    );
    let root = create_superuser(fv, "root").await.id;
    let every = fv
        .authorizer()
        .companies_where(root, "report.read")
        .await
        .unwrap();
    assert!(all.iter().all(|c| every.contains(c)));
    // The actor's list scope is the same set.
    let actor = acting(fv, ann, Some(tree.outside)).await;
    let scope = actor.scope(fv, "report.read").await.unwrap();
    assert_eq!(scope.ids().unwrap(), &want[..]);
}

#[tokio::test]
async fn explain_shows_the_inherited_path_from_the_assigning_company_down() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let (tree, _, ann) = holding_reader(fv, 3).await;
    let e = fv
        .authorizer()
        .explain(ann, tree.chain[2], "report.read")
        .await
        .unwrap();
    assert!(e.granted);
    let [path @ GrantPath::Role { path: steps, .. }] = &e.grants[..] else {
        panic!("{:?}", e.grants);
    };
    let ids: Vec<i64> = steps.iter().map(|s| s.id).collect();
    assert_eq!(ids, tree.chain);
    assert!(path.is_inherited());
    assert_eq!(
        path.describe(),
        "role Role reporter assigned on HOLD Inc, inherited by HOLD Inc › L1 Inc › L2 Inc"
    );
}

#[tokio::test]
async fn a_subtree_grant_needs_the_permissions_over_the_whole_subtree() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 3).await;
    let h = tree.chain[0];
    let role = report_role(fv, Some(h), "reporter").await;
    let admin_role = company_role(fv, h, "admin").await.id;
    // An administrator of the holding only (company scope), and one of the whole tree.
    let local = create_user(fv, "local").await.id;
    assign(fv, local, h, admin_role).await;
    assign(fv, local, h, role).await;
    let group_admin = create_user(fv, "groupadmin").await.id;
    assign_subtree(fv, group_admin, h, admin_role).await;
    assign_subtree(fv, group_admin, h, role).await;
    let ann = create_user(fv, "ann").await.id;
    grant_role(fv, ann, h, "viewer").await;
    let input = |scope| NewAssignment {
        company_id: h,
        role_id: role,
        scope,
        ..Default::default()
    };
    let by_local = acting(fv, local, Some(h)).await;
    let refused = fv
        .assignments()
        .assign(&by_local, ann, input(GrantScope::Subtree))
        .await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    assert!(!has(fv, ann, tree.chain[2], "report.read").await);
    // The same role in the holding only is within its rights.
    fv.assignments()
        .assign(&by_local, ann, input(GrantScope::Company))
        .await
        .unwrap();
    let by_group = acting(fv, group_admin, Some(h)).await;
    let bob = create_user(fv, "bob").await.id;
    grant_role(fv, bob, h, "viewer").await;
    fv.assignments()
        .assign(&by_group, bob, input(GrantScope::Subtree))
        .await
        .unwrap();
    assert!(has(fv, bob, tree.chain[2], "report.read").await);
}

#[tokio::test]
async fn moving_a_company_under_a_subtree_holder_beyond_the_actor_is_refused_and_changes_nothing() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 2).await;
    let h = tree.chain[0];
    // Ann reads reports over the holding's whole subtree.
    let role = report_role(fv, Some(h), "reporter").await;
    let ann = create_user(fv, "ann").await.id;
    assign_subtree(fv, ann, h, role).await;
    // Mover may update companies in the holding and in the shop, but reads no reports
    // in the shop.
    let shop = create_child(fv, "SHOP", tree.outside).await.id;
    let mover = create_user(fv, "mover").await.id;
    let updater = create_role(fv, Some(h), "updater", &["company.update", "company.read"]).await;
    assign(fv, mover, h, updater.id).await;
    let shop_updater = create_role(
        fv,
        Some(shop),
        "updater",
        &["company.update", "company.read"],
    )
    .await;
    assign(fv, mover, shop, shop_updater.id).await;
    let actor = acting(fv, mover, Some(shop)).await;
    let moved = fv
        .companies()
        .update(
            &actor,
            shop,
            CompanyPatch {
                parent_id: Some(h),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(moved, Err(Error::Forbidden(_))), "{moved:?}");
    assert!(!has(fv, ann, shop, "report.read").await);
    let still = fv.companies().get(&sys(), shop).await.unwrap();
    assert_eq!(still.parent_id, Some(tree.outside));
}

#[tokio::test]
async fn two_replicas_see_tree_moves_at_once() {
    let Some(url) = std::env::var("FASTVUE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("FASTVUE_TEST_REDIS_URL is not set; this Redis test did not run");
        return;
    };
    let t = TestDb::with(&[("REDIS_URL", &url)]).await;
    let replica = t.connect_again(&[("REDIS_URL", &url)]).await;
    let fv = &t.fv;
    create_permission(fv, "report.read").await;
    let tree = chain(fv, 2).await;
    let role = report_role(fv, Some(tree.chain[0]), "reporter").await;
    let ann = create_user(fv, "ann").await.id;
    assign_subtree(fv, ann, tree.chain[0], role).await;
    let shop = create_child(fv, "SHOP", tree.outside).await.id;
    for handle in [fv, &replica] {
        assert!(!has(handle, ann, shop, "report.read").await);
        assert!(
            !handle
                .authorizer()
                .companies_where(ann, "report.read")
                .await
                .unwrap()
                .contains(&shop)
        );
    }
    move_under(fv, shop, tree.chain[1]).await;
    // The bus delivers asynchronously: the replica sees it within a bounded wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let seen = has(&replica, ann, shop, "report.read").await
            && replica
                .authorizer()
                .companies_where(ann, "report.read")
                .await
                .unwrap()
                .contains(&shop);
        if seen {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica still denies after 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(has(fv, ann, shop, "report.read").await);
    move_under(&replica, shop, tree.outside).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while has(fv, ann, shop, "report.read").await {
        assert!(
            std::time::Instant::now() < deadline,
            "the first replica still grants after 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_subsidiary_requiring_two_factor_sign_in_binds_the_holding_administrator_too() {
    let t = TestDb::new().await;
    let fv = &t.fv;
    let (tree, _, ann) = holding_reader(fv, 3).await;
    let bob = create_user(fv, "bob").await.id;
    grant_role(fv, bob, tree.outside, "viewer").await;
    assert!(!fv.two_factor().is_required(ann).await.unwrap());
    fv.companies()
        .update(
            &sys(),
            tree.chain[2],
            CompanyPatch {
                require_2fa: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(fv.two_factor().is_required(ann).await.unwrap());
    assert!(!fv.two_factor().is_required(bob).await.unwrap());
    // Out of the subtree, out of the rule.
    move_under(fv, tree.chain[2], tree.outside).await;
    assert!(!fv.two_factor().is_required(ann).await.unwrap());
}
