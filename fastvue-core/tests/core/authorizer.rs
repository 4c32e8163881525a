//! Effective permissions (ARCHITECTURE.md, "Effective permissions") and read-your-writes
//! through the permission cache.

use fastvue_core::Fastvue;
use fastvue_core::entity::{company, permission, user_company_role, user_group};
use fastvue_core::permission::{CompanyStep, GrantPath};
use fastvue_core::service::companies::CompanyPatch;
use fastvue_core::service::groups::GroupPatch;
use fastvue_core::service::permissions::{PermissionFilter, PermissionPatch};
use fastvue_core::service::roles::RolePatch;
use fastvue_core::service::users::UserPatch;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::helpers::*;

/// A company, a user, a role "editor" (user.read, user.update) assigned to the user and
/// a group "support" (group.read, user.read) the user belongs to.
struct World {
    t: TestDb,
    acme: company::Model,
    ann: i64,
    role: i64,
    assignment: i64,
    group: i64,
}

async fn world_with(overrides: &[(&str, &str)]) -> World {
    let t = TestDb::with(overrides).await;
    let acme = create_company(&t.fv, "ACME").await;
    let ann = create_user(&t.fv, "ann").await.id;
    let role = create_role(
        &t.fv,
        Some(acme.id),
        "editor",
        &["user.read", "user.update"],
    )
    .await
    .id;
    let assignment = assign(&t.fv, ann, acme.id, role).await.id;
    let group = create_group(&t.fv, acme.id, "support", &["group.read", "user.read"])
        .await
        .id;
    t.fv.groups()
        .add_member(&sys(), group, ann, Default::default())
        .await
        .unwrap();
    World {
        t,
        acme,
        ann,
        role,
        assignment,
        group,
    }
}

async fn world() -> World {
    world_with(&[]).await
}

impl World {
    fn fv(&self) -> &Fastvue {
        &self.t.fv
    }
    async fn effective(&self) -> Vec<String> {
        effective(self.fv(), self.ann, self.acme.id).await
    }
    /// Checks `codename` and asserts the answer is now cached.
    async fn check(&self, codename: &str) -> bool {
        let held = has(self.fv(), self.ann, self.acme.id, codename).await;
        assert_cached(self.fv(), self.ann, self.acme.id);
        held
    }
}

async fn active_codenames(fv: &Fastvue) -> Vec<String> {
    let mut v: Vec<String> = fv
        .permissions()
        .list(
            &sys(),
            &PermissionFilter {
                is_active: Some(true),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.codename)
        .collect();
    v.sort();
    v
}

async fn permission_id(fv: &Fastvue, codename: &str) -> i64 {
    permission::Entity::find()
        .filter(permission::Column::Codename.eq(codename))
        .one(fv.db())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no permission {codename}"))
        .id
}

// --- semantics -----------------------------------------------------------------------

#[tokio::test]
async fn a_role_grants_its_permissions_in_its_company() {
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
    assert!(
        effective(&t.fv, ann.id, acme.id).await.is_empty(),
        "no assignment, no permission"
    );
    assign(&t.fv, ann.id, acme.id, r.id).await;
    assert_eq!(
        effective(&t.fv, ann.id, acme.id).await,
        ["user.read", "user.update"]
    );
    let az = t.fv.authorizer();
    assert!(az.has(ann.id, acme.id, "user.update").await.unwrap());
    assert!(!az.has(ann.id, acme.id, "user.delete").await.unwrap());
    assert!(!az.has(ann.id, acme.id, "no.such").await.unwrap());
    assert!(
        az.has_all(ann.id, acme.id, &["user.read", "user.update"])
            .await
            .unwrap()
    );
    assert!(
        !az.has_all(ann.id, acme.id, &["user.read", "user.delete"])
            .await
            .unwrap()
    );
    assert!(
        az.has_any(ann.id, acme.id, &["user.delete", "user.read"])
            .await
            .unwrap()
    );
    assert!(
        !az.has_any(ann.id, acme.id, &["user.delete", "no.such"])
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn permissions_do_not_leak_across_companies() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    assign(
        &t.fv,
        ann.id,
        acme.id,
        company_role(&t.fv, acme.id, "admin").await.id,
    )
    .await;
    let g = create_group(&t.fv, acme.id, "ops", &["cache.manage"]).await;
    t.fv.groups()
        .add_member(&sys(), g.id, ann.id, Default::default())
        .await
        .unwrap();
    assert!(!effective(&t.fv, ann.id, acme.id).await.is_empty());
    assert!(
        effective(&t.fv, ann.id, beta.id).await.is_empty(),
        "admin of ACME holds nothing in BETA"
    );
}

#[tokio::test]
async fn a_role_of_another_company_grants_nothing_even_if_assigned_behind_the_services_back() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let beta_admin = company_role(&t.fv, beta.id, "admin").await;
    // The service refuses this; the query must not trust the data either.
    let raw = user_company_role::ActiveModel {
        user_id: sea_orm::Set(ann.id),
        company_id: sea_orm::Set(acme.id),
        role_id: sea_orm::Set(beta_admin.id),
        is_default: sea_orm::Set(false),
        is_active: sea_orm::Set(true),
        assigned_at: sea_orm::Set(chrono::Utc::now()),
        assigned_by: sea_orm::Set(None),
        ..Default::default()
    };
    user_company_role::Entity::insert(raw)
        .exec(t.fv.db())
        .await
        .unwrap();
    assert!(effective(&t.fv, ann.id, acme.id).await.is_empty());
}

#[tokio::test]
async fn a_global_role_grants_in_each_company_where_it_is_assigned() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let auditor = create_role(&t.fv, None, "auditor", &["audit.read"]).await;
    assign(&t.fv, ann.id, acme.id, auditor.id).await;
    assert_eq!(effective(&t.fv, ann.id, acme.id).await, ["audit.read"]);
    assert!(effective(&t.fv, ann.id, beta.id).await.is_empty());
}

#[tokio::test]
async fn a_group_grants_its_permissions_to_members_in_its_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let bob = create_user(&t.fv, "bob").await;
    let g = create_group(&t.fv, acme.id, "ops", &["cache.manage", "audit.read"]).await;
    t.fv.groups()
        .add_member(&sys(), g.id, ann.id, Default::default())
        .await
        .unwrap();
    assert_eq!(
        effective(&t.fv, ann.id, acme.id).await,
        ["audit.read", "cache.manage"]
    );
    assert!(
        effective(&t.fv, bob.id, acme.id).await.is_empty(),
        "non-members get nothing"
    );
    assert!(
        effective(&t.fv, ann.id, beta.id).await.is_empty(),
        "a group grants only in its company"
    );
}

#[tokio::test]
async fn roles_and_groups_together_grant_the_union() {
    let w = world().await;
    assert_eq!(
        w.effective().await,
        ["group.read", "user.read", "user.update"]
    );
}

#[tokio::test]
async fn a_superuser_holds_every_active_permission_in_every_active_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let root = create_superuser(&t.fv, "root").await;
    let export = create_permission(&t.fv, "report.export").await;
    create_permission(&t.fv, "report.view").await;
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
    let all_active = active_codenames(&t.fv).await;
    assert_eq!(all_active.len(), 31);
    assert!(!all_active.contains(&"report.export".to_owned()));
    assert_eq!(effective(&t.fv, root.id, acme.id).await, all_active);
    let default =
        t.fv.companies()
            .list(&sys(), &Default::default(), all())
            .await
            .unwrap()
            .items;
    for c in default {
        assert_eq!(
            effective(&t.fv, root.id, c.id).await,
            all_active,
            "company {}",
            c.code
        );
    }
}

#[tokio::test]
async fn a_superuser_holds_nothing_in_an_inactive_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let root = create_superuser(&t.fv, "root").await;
    t.fv.companies().deactivate(&sys(), acme.id).await.unwrap();
    assert!(effective(&t.fv, root.id, acme.id).await.is_empty());
}

#[tokio::test]
async fn unknown_users_and_companies_hold_nothing() {
    let w = world().await;
    assert!(effective(w.fv(), 999_999, w.acme.id).await.is_empty());
    assert!(effective(w.fv(), w.ann, 999_999).await.is_empty());
}

#[tokio::test]
async fn an_inactive_user_holds_nothing() {
    let w = world().await;
    w.fv().users().deactivate(&sys(), w.ann).await.unwrap();
    assert!(w.effective().await.is_empty());
}

#[tokio::test]
async fn an_inactive_company_grants_nothing() {
    let w = world().await;
    w.fv()
        .companies()
        .deactivate(&sys(), w.acme.id)
        .await
        .unwrap();
    assert!(w.effective().await.is_empty());
}

#[tokio::test]
async fn an_inactive_role_grants_nothing() {
    let w = world().await;
    w.fv()
        .roles()
        .update(
            &sys(),
            w.role,
            RolePatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.effective().await,
        ["group.read", "user.read"],
        "only the group's grants remain"
    );
}

#[tokio::test]
async fn an_inactive_group_grants_nothing() {
    let w = world().await;
    w.fv()
        .groups()
        .update(
            &sys(),
            w.group,
            GroupPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.effective().await,
        ["user.read", "user.update"],
        "only the role's grants remain"
    );
}

#[tokio::test]
async fn an_inactive_permission_is_held_by_nobody() {
    let w = world().await;
    let root = create_superuser(w.fv(), "root").await;
    let id = permission_id(w.fv(), "user.read").await;
    w.fv()
        .permissions()
        .update(
            &sys(),
            id,
            PermissionPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(w.effective().await, ["group.read", "user.update"]);
    assert!(
        !effective(w.fv(), root.id, w.acme.id)
            .await
            .contains(&"user.read".to_owned())
    );
}

#[tokio::test]
async fn an_inactive_assignment_grants_nothing() {
    let w = world().await;
    // No service deactivates an assignment; write the row directly, then drop the cache.
    user_company_role::Entity::update_many()
        .col_expr(user_company_role::Column::IsActive, Expr::value(false))
        .filter(user_company_role::Column::Id.eq(w.assignment))
        .exec(w.fv().db())
        .await
        .unwrap();
    w.fv().authorizer().invalidate_user(w.ann, None).await;
    assert_eq!(w.effective().await, ["group.read", "user.read"]);
}

#[tokio::test]
async fn an_inactive_group_membership_grants_nothing() {
    let w = world().await;
    user_group::Entity::update_many()
        .col_expr(user_group::Column::IsActive, Expr::value(false))
        .filter(user_group::Column::GroupId.eq(w.group))
        .exec(w.fv().db())
        .await
        .unwrap();
    w.fv().authorizer().invalidate_user(w.ann, None).await;
    assert_eq!(w.effective().await, ["user.read", "user.update"]);
    // Re-adding the member re-activates the membership.
    w.fv()
        .groups()
        .add_member(&sys(), w.group, w.ann, Default::default())
        .await
        .unwrap();
    assert_eq!(
        w.effective().await,
        ["group.read", "user.read", "user.update"]
    );
}

// --- explain --------------------------------------------------------------------------

/// The path of a grant held in Acme itself.
fn here(w: &World) -> Vec<CompanyStep> {
    vec![CompanyStep {
        id: w.acme.id,
        name: w.acme.name.clone(),
    }]
}

#[tokio::test]
async fn explain_lists_every_role_and_group_path() {
    let w = world().await;
    let e = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.read")
        .await
        .unwrap();
    assert!(e.granted);
    assert_eq!(e.blocked_by, None);
    assert_eq!(
        (e.user_id, e.company_id, e.permission.as_str()),
        (w.ann, w.acme.id, "user.read")
    );
    assert_eq!(
        e.grants,
        [
            GrantPath::Group {
                id: w.group,
                name: "Group support".into(),
                path: here(&w),
            },
            GrantPath::Role {
                id: w.role,
                name: "Role editor".into(),
                path: here(&w),
            },
        ]
    );
    let only_role = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.update")
        .await
        .unwrap();
    assert_eq!(
        only_role.grants,
        [GrantPath::Role {
            id: w.role,
            name: "Role editor".into(),
            path: here(&w),
        }]
    );
    let none = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.delete")
        .await
        .unwrap();
    assert!(!none.granted);
    assert!(none.grants.is_empty());
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["grants"][1]["type"], "role");
}

#[tokio::test]
async fn explain_lists_the_superuser_path() {
    let w = world().await;
    w.fv()
        .users()
        .update(
            &sys(),
            w.ann,
            UserPatch {
                is_superuser: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "cache.manage")
        .await
        .unwrap();
    assert!(e.granted);
    assert_eq!(e.grants, [GrantPath::Superuser]);
    let both = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.update")
        .await
        .unwrap();
    assert_eq!(
        both.grants,
        [
            GrantPath::Superuser,
            GrantPath::Role {
                id: w.role,
                name: "Role editor".into(),
                path: here(&w),
            }
        ]
    );
}

#[tokio::test]
async fn explain_says_what_blocks_a_grant() {
    let w = world().await;
    let unknown = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "no.such")
        .await
        .unwrap();
    assert!(!unknown.granted);
    assert_eq!(unknown.blocked_by, Some("unknown permission"));

    let id = permission_id(w.fv(), "user.update").await;
    w.fv()
        .permissions()
        .update(
            &sys(),
            id,
            PermissionPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.update")
        .await
        .unwrap();
    assert!(!e.granted);
    assert_eq!(e.blocked_by, Some("permission inactive"));

    w.fv().users().deactivate(&sys(), w.ann).await.unwrap();
    let e = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.read")
        .await
        .unwrap();
    assert!(!e.granted);
    assert_eq!(e.blocked_by, Some("user inactive"));
}

#[tokio::test]
async fn explain_says_an_inactive_company_blocks_a_grant() {
    let w = world().await;
    w.fv()
        .companies()
        .deactivate(&sys(), w.acme.id)
        .await
        .unwrap();
    let e = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.read")
        .await
        .unwrap();
    assert!(!e.granted);
    assert_eq!(e.blocked_by, Some("company inactive"));
}

#[tokio::test]
async fn explain_of_an_unknown_user_or_company_is_not_found() {
    let w = world().await;
    assert_not_found(
        w.fv()
            .authorizer()
            .explain(989_898, w.acme.id, "user.read")
            .await,
        "user",
    );
    assert_not_found(
        w.fv()
            .authorizer()
            .explain(w.ann, 989_898, "user.read")
            .await,
        "company",
    );
}

// --- read-your-writes through the cache ---------------------------------------------------

#[tokio::test]
async fn changing_a_roles_permissions_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.update").await);
    assert!(!w.check("role.read").await);
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &names(&["role.read"]))
        .await
        .unwrap();
    assert!(!w.check("user.update").await);
    assert!(w.check("role.read").await);
    assert_eq!(
        w.effective().await,
        ["group.read", "role.read", "user.read"]
    );
}

#[tokio::test]
async fn changing_a_global_roles_permissions_is_seen_in_every_company() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let beta = create_company(&t.fv, "BETA").await;
    let ann = create_user(&t.fv, "ann").await;
    let auditor = create_role(&t.fv, None, "auditor", &["audit.read"]).await;
    assign(&t.fv, ann.id, acme.id, auditor.id).await;
    assign(&t.fv, ann.id, beta.id, auditor.id).await;
    for c in [acme.id, beta.id] {
        assert!(has(&t.fv, ann.id, c, "audit.read").await);
        assert_cached(&t.fv, ann.id, c);
    }
    t.fv.roles()
        .set_permissions(&sys(), auditor.id, &names(&["role.read"]))
        .await
        .unwrap();
    for c in [acme.id, beta.id] {
        assert!(!has(&t.fv, ann.id, c, "audit.read").await);
        assert!(has(&t.fv, ann.id, c, "role.read").await);
    }
}

#[tokio::test]
async fn removing_an_assignment_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.update").await);
    w.fv()
        .assignments()
        .unassign(&sys(), w.ann, w.assignment)
        .await
        .unwrap();
    assert!(!w.check("user.update").await);
    assert!(w.check("user.read").await, "still granted by the group");
}

#[tokio::test]
async fn adding_an_assignment_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(!w.check("role.assign").await);
    let manager = company_role(w.fv(), w.acme.id, "manager").await;
    assign(w.fv(), w.ann, w.acme.id, manager.id).await;
    assert!(w.check("role.assign").await);
}

#[tokio::test]
async fn deactivating_a_user_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.read").await);
    w.fv().users().deactivate(&sys(), w.ann).await.unwrap();
    assert!(!w.check("user.read").await);
    w.fv()
        .users()
        .update(
            &sys(),
            w.ann,
            UserPatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        w.check("user.read").await,
        "reactivation restores the permissions at once"
    );
}

#[tokio::test]
async fn deactivating_a_user_through_update_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.read").await);
    w.fv()
        .users()
        .update(
            &sys(),
            w.ann,
            UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!w.check("user.read").await);
}

#[tokio::test]
async fn granting_and_revoking_superuser_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(!w.check("cache.manage").await);
    w.fv()
        .users()
        .update(
            &sys(),
            w.ann,
            UserPatch {
                is_superuser: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(w.check("cache.manage").await);
    w.fv()
        .users()
        .update(
            &sys(),
            w.ann,
            UserPatch {
                is_superuser: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!w.check("cache.manage").await);
}

#[tokio::test]
async fn deactivating_a_company_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.read").await);
    w.fv()
        .companies()
        .deactivate(&sys(), w.acme.id)
        .await
        .unwrap();
    assert!(!w.check("user.read").await);
}

#[tokio::test]
async fn deactivating_a_company_through_update_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.read").await);
    w.fv()
        .companies()
        .update(
            &sys(),
            w.acme.id,
            CompanyPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!w.check("user.read").await);
    w.fv()
        .companies()
        .update(
            &sys(),
            w.acme.id,
            CompanyPatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(w.check("user.read").await);
}

#[tokio::test]
async fn reactivating_a_deactivated_company_restores_permissions() {
    let w = world().await;
    assert!(w.check("user.read").await);
    w.fv()
        .companies()
        .deactivate(&sys(), w.acme.id)
        .await
        .unwrap();
    assert!(!w.check("user.read").await);
    let back = w
        .fv()
        .companies()
        .update(
            &sys(),
            w.acme.id,
            CompanyPatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(back.is_active);
    assert_eq!(
        back.deleted_at, None,
        "reactivation must clear deleted_at, as it does for users"
    );
    assert!(w.check("user.read").await);
    let e = w
        .fv()
        .authorizer()
        .explain(w.ann, w.acme.id, "user.read")
        .await
        .unwrap();
    assert!(e.granted, "{e:?}");
}

#[tokio::test]
async fn removing_a_group_member_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("group.read").await);
    w.fv()
        .groups()
        .remove_member(&sys(), w.group, w.ann)
        .await
        .unwrap();
    assert!(!w.check("group.read").await);
    assert!(w.check("user.read").await, "still granted by the role");
}

#[tokio::test]
async fn adding_a_group_member_is_seen_by_the_next_check() {
    let w = world().await;
    let bob = create_user(w.fv(), "bob").await;
    assert!(!has(w.fv(), bob.id, w.acme.id, "group.read").await);
    assert_cached(w.fv(), bob.id, w.acme.id);
    w.fv()
        .groups()
        .add_member(&sys(), w.group, bob.id, Default::default())
        .await
        .unwrap();
    assert!(has(w.fv(), bob.id, w.acme.id, "group.read").await);
}

#[tokio::test]
async fn changing_a_groups_permissions_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("group.read").await);
    w.fv()
        .groups()
        .set_permissions(&sys(), w.group, &names(&["audit.read"]))
        .await
        .unwrap();
    assert!(!w.check("group.read").await);
    assert!(w.check("audit.read").await);
}

#[tokio::test]
async fn deactivating_a_role_or_group_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.update").await);
    assert!(w.check("group.read").await);
    w.fv()
        .roles()
        .update(
            &sys(),
            w.role,
            RolePatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!w.check("user.update").await);
    w.fv()
        .groups()
        .update(
            &sys(),
            w.group,
            GroupPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!w.check("group.read").await);
    w.fv()
        .roles()
        .update(
            &sys(),
            w.role,
            RolePatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(w.check("user.update").await);
}

#[tokio::test]
async fn deleting_a_role_or_group_is_seen_by_the_next_check() {
    let w = world().await;
    assert!(w.check("user.update").await);
    w.fv().roles().delete(&sys(), w.role).await.unwrap();
    assert!(!w.check("user.update").await);
    assert!(w.check("group.read").await);
    w.fv().groups().delete(&sys(), w.group).await.unwrap();
    assert!(!w.check("group.read").await);
    assert!(w.effective().await.is_empty());
}

#[tokio::test]
async fn deactivating_or_deleting_a_permission_is_seen_by_the_next_check() {
    let w = world().await;
    let root = create_superuser(w.fv(), "root").await;
    let export = create_permission(w.fv(), "report.export").await;
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &names(&["report.export", "user.update"]))
        .await
        .unwrap();
    assert!(w.check("report.export").await);
    assert!(has(w.fv(), root.id, w.acme.id, "report.export").await);
    assert_cached(w.fv(), root.id, w.acme.id);

    w.fv()
        .permissions()
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
    assert!(!w.check("report.export").await);
    assert!(
        !has(w.fv(), root.id, w.acme.id, "report.export").await,
        "superusers lose it too"
    );

    w.fv()
        .permissions()
        .update(
            &sys(),
            export.id,
            PermissionPatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(w.check("report.export").await);
    assert!(has(w.fv(), root.id, w.acme.id, "report.export").await);

    w.fv()
        .permissions()
        .delete(&sys(), export.id)
        .await
        .unwrap();
    assert!(!w.check("report.export").await);
    assert!(!has(w.fv(), root.id, w.acme.id, "report.export").await);
    assert!(w.check("user.update").await);
}

#[tokio::test]
async fn a_new_permission_is_held_by_superusers_at_once() {
    let w = world().await;
    let root = create_superuser(w.fv(), "root").await;
    assert!(!has(w.fv(), root.id, w.acme.id, "report.export").await);
    assert_cached(w.fv(), root.id, w.acme.id);
    create_permission(w.fv(), "report.export").await;
    assert!(has(w.fv(), root.id, w.acme.id, "report.export").await);
    assert!(
        !w.check("report.export").await,
        "ordinary users do not get it"
    );
}

#[tokio::test]
async fn explicit_invalidation_drops_another_handles_stale_sets() {
    // On SQLite without Redis each handle has its own cache; the admin invalidation calls
    // are how an operator makes a second handle over the same database catch up. (On
    // PostgreSQL the invalidation feed does it by itself: core `feed.rs`.)
    let w = world().await;
    if w.t.backend == Backend::Postgres {
        return;
    }
    let other = w.t.connect_again(&[]).await;
    assert!(has(&other, w.ann, w.acme.id, "user.update").await);
    assert!(has(&other, w.ann, w.acme.id, "group.read").await);
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &[])
        .await
        .unwrap();
    w.fv()
        .groups()
        .set_permissions(&sys(), w.group, &[])
        .await
        .unwrap();
    assert!(
        !w.check("user.update").await,
        "the writing handle sees it at once"
    );
    assert_eq!(other.authorizer().invalidate_role(w.role).await.unwrap(), 1);
    assert!(!has(&other, w.ann, w.acme.id, "user.update").await);
    assert!(!has(&other, w.ann, w.acme.id, "group.read").await);
    assert!(other.authorizer().invalidate_company(w.acme.id).await >= 1);
    assert_eq!(
        other.authorizer().invalidate_all().await,
        0,
        "nothing left to drop"
    );
}

#[tokio::test]
async fn with_the_cache_disabled_checks_still_follow_every_write() {
    let w = world_with(&[("CACHE_ENABLED", "false")]).await;
    let az = w.fv().authorizer();
    assert!(has(w.fv(), w.ann, w.acme.id, "user.update").await);
    assert!(
        az.l1()
            .get(fastvue_core::permission::CacheKey::new(w.ann, w.acme.id))
            .is_none(),
        "nothing cached"
    );
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &names(&["role.read"]))
        .await
        .unwrap();
    assert!(!has(w.fv(), w.ann, w.acme.id, "user.update").await);
    assert!(has(w.fv(), w.ann, w.acme.id, "role.read").await);
    w.fv()
        .groups()
        .remove_member(&sys(), w.group, w.ann)
        .await
        .unwrap();
    assert!(!has(w.fv(), w.ann, w.acme.id, "group.read").await);
    w.fv().users().deactivate(&sys(), w.ann).await.unwrap();
    assert!(effective(w.fv(), w.ann, w.acme.id).await.is_empty());
    assert_eq!(az.l1().entry_count(), 0);
}

#[tokio::test]
async fn identical_sets_are_shared() {
    let t = TestDb::new().await;
    let acme = create_company(&t.fv, "ACME").await;
    let viewer = company_role(&t.fv, acme.id, "viewer").await;
    let ann = create_user(&t.fv, "ann").await;
    let bob = create_user(&t.fv, "bob").await;
    assign(&t.fv, ann.id, acme.id, viewer.id).await;
    assign(&t.fv, bob.id, acme.id, viewer.id).await;
    let a =
        t.fv.authorizer()
            .permissions(ann.id, acme.id)
            .await
            .unwrap();
    let b =
        t.fv.authorizer()
            .permissions(bob.id, acme.id)
            .await
            .unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "the same set is interned once"
    );
}

#[tokio::test]
async fn a_permission_created_after_one_was_deleted_is_checked_correctly() {
    let w = world().await;
    let old = create_permission(w.fv(), "report.export").await;
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &names(&["report.export"]))
        .await
        .unwrap();
    assert!(
        w.check("report.export").await,
        "the catalogue learns report.export"
    );
    w.fv().permissions().delete(&sys(), old.id).await.unwrap();
    assert!(!w.check("report.export").await);

    // A new permission right after the delete (on SQLite it may even get the same id).
    let new = create_permission(w.fv(), "report.view").await;
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &names(&["report.view"]))
        .await
        .unwrap();
    assert!(
        w.check("report.view").await,
        "report.view (id {}) after report.export (id {}) was deleted",
        new.id,
        old.id
    );
    assert!(!w.check("report.export").await);
    assert!(w.effective().await.contains(&"report.view".to_owned()));

    // And the old codename again.
    create_permission(w.fv(), "report.export").await;
    w.fv()
        .roles()
        .set_permissions(&sys(), w.role, &names(&["report.export"]))
        .await
        .unwrap();
    assert!(w.check("report.export").await);
    assert!(!w.check("report.view").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_racing_with_writes_never_leave_a_stale_set_in_the_cache() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let w = world().await;
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let fv = w.fv().clone();
            let (ann, acme) = (w.ann, w.acme.id);
            let stop = stop.clone();
            let checks = checks.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    fv.authorizer().has(ann, acme, "role.read").await.unwrap();
                    checks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for i in 0..30 {
        let grant = i % 2 == 0;
        let set = if grant {
            names(&["role.read"])
        } else {
            Vec::new()
        };
        w.fv()
            .roles()
            .set_permissions(&sys(), w.role, &set)
            .await
            .unwrap();
        assert_eq!(
            has(w.fv(), w.ann, w.acme.id, "role.read").await,
            grant,
            "right after write {i}"
        );
        // Let fills that started before the write finish, then ask again.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(
            has(w.fv(), w.ann, w.acme.id, "role.read").await,
            grant,
            "after in-flight fills of write {i} completed"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert!(checks.load(Ordering::Relaxed) > 30, "the readers did run");
}

#[tokio::test]
async fn a_cache_miss_costs_exactly_one_sql_statement_and_a_hit_none() {
    let w = world().await;
    let root = create_superuser(w.fv(), "root2").await.id;
    let (fv, log) = w.t.counted_handle().await;
    let authz = fv.authorizer();

    // A member with a role and a group: one statement joins both grants.
    log.clear();
    let set = authz.permissions(w.ann, w.acme.id).await.unwrap();
    let sql = log.take();
    assert_eq!(sql.len(), 1, "a miss ran {sql:#?}");
    assert!(sql[0].contains("role_permissions") && sql[0].contains("group_permissions"));
    assert_eq!(set.len(), 3);

    // Hits, in every form, run nothing.
    assert!(authz.has(w.ann, w.acme.id, "user.update").await.unwrap());
    assert!(!authz.has(w.ann, w.acme.id, "role.delete").await.unwrap());
    assert!(
        authz
            .has_all(w.ann, w.acme.id, &["user.read", "group.read"])
            .await
            .unwrap()
    );
    assert!(
        authz
            .has_any(w.ann, w.acme.id, &["role.delete", "user.read"])
            .await
            .unwrap()
    );
    assert_eq!(authz.codenames(w.ann, w.acme.id).await.unwrap().len(), 3);
    assert_eq!(
        log.take(),
        Vec::<String>::new(),
        "hits must not touch the database"
    );

    // A superuser's miss and a miss of a key with no grants are one statement too.
    for (user, company) in [(root, w.acme.id), (w.ann, w.acme.id + 1000)] {
        authz.has(user, company, "user.read").await.unwrap();
        let sql = log.take();
        assert_eq!(sql.len(), 1, "miss of ({user}, {company}) ran {sql:#?}");
    }
}

#[tokio::test]
async fn a_codename_written_behind_the_services_back_is_read_back_whatever_its_characters() {
    let w = world().await;
    // The services only accept `resource.action`; a hand-written row may hold anything,
    // including the characters an aggregated grant list could be split on.
    let odd = r#"odd,na:me "x" [1]"#;
    w.fv()
        .db()
        .execute_unprepared(&format!(
            "UPDATE permissions SET codename = '{odd}' WHERE codename = 'user.update'"
        ))
        .await
        .unwrap();
    let (fresh, _log) = w.t.counted_handle().await;
    let mut want = vec!["group.read", odd, "user.read"];
    want.sort_unstable();
    assert_eq!(effective(&fresh, w.ann, w.acme.id).await, want);
    let (fresh, _log) = w.t.counted_handle().await;
    assert_eq!(
        fresh
            .authorizer()
            .prefetch(w.acme.id, &[w.ann])
            .await
            .unwrap(),
        1
    );
    assert_eq!(effective(&fresh, w.ann, w.acme.id).await, want);
}

#[tokio::test]
async fn prefetching_many_users_is_one_statement_and_caches_what_each_users_own_read_gives() {
    let w = world().await;
    let fv = w.fv();
    let root = create_superuser(fv, "root2").await.id;
    let bob = create_user(fv, "bob").await.id;
    let cat = create_user(fv, "cat").await.id;
    assign(fv, cat, w.acme.id, w.role).await;
    fv.users()
        .update(
            &sys(),
            cat,
            UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let users = [w.ann, root, bob, cat];
    let mut expected = Vec::new();
    for user in users {
        expected.push(effective(fv, user, w.acme.id).await);
    }
    assert_eq!(expected[0], ["group.read", "user.read", "user.update"]);
    assert!(expected[1].len() > 3, "a superuser holds every permission");
    assert!(expected[2].is_empty() && expected[3].is_empty());

    let (counted, log) = w.t.counted_handle().await;
    log.clear();
    let stored = counted
        .authorizer()
        .prefetch(w.acme.id, &[cat, w.ann, root, bob, w.ann])
        .await
        .unwrap();
    let sql = log.take();
    assert_eq!(sql.len(), 1, "a prefetch of 4 users ran {sql:#?}");
    assert_eq!(stored, 4, "duplicates are read once");
    for (user, want) in users.iter().zip(&expected) {
        assert_cached(&counted, *user, w.acme.id);
        assert_eq!(&effective(&counted, *user, w.acme.id).await, want);
    }
    assert_eq!(
        log.take(),
        Vec::<String>::new(),
        "the prefetched sets are hits"
    );

    // 500 users per statement: 1,200 (unknown, so empty) sets take three.
    let many: Vec<i64> = (1_000_000..1_001_200).collect();
    let stored = counted
        .authorizer()
        .prefetch(w.acme.id, &many)
        .await
        .unwrap();
    assert_eq!((stored, log.take().len()), (1_200, 3));
}
