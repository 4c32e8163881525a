//! The escalation invariant, proved by property tests over random operation sequences.
//!
//! A small world (companies A and B, and A1 below A, seven users with seeded and custom
//! roles, some held over A's whole subtree, groups, three custom permissions, two API
//! keys) receives random writes by random non-superuser actors: users acting in A, B or
//! A1, and API keys. Writes include subtree-scoped assignments and memberships and moving
//! A1 between A and B. Each write is accepted or refused by
//! the core. After every write, with every user's effective set in every company read
//! through an uncached handle:
//!
//! - a refused write changed nothing anywhere;
//! - an accepted write in company C (or over C's subtree: the companies below C are
//!   checked the same way) gave no user, in C, a permission that user did not
//!   hold before and the actor does not hold (grant ceiling), and changed the set of no
//!   user who held, in C, something the actor does not (dominance); superusers, who hold
//!   everything everywhere by definition, are not among the users checked;
//! - an accepted write in C changed nothing in any other company (a user's own
//!   activation, which spans its companies, is checked in each of them instead);
//! - a write to the shared permission catalogue is always refused.
//!
//! It runs on SQLite, and on PostgreSQL (+ Redis) when the CI sets the test variables.
use std::collections::{BTreeMap, BTreeSet};

use fastvue_core::entity::grant_scope::GrantScope;
use fastvue_core::service::api_keys::NewApiKey;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::companies::CompanyPatch;
use fastvue_core::service::groups::{GroupFilter, GroupPatch, NewGroup};
use fastvue_core::service::permissions::{PermissionFilter, PermissionPatch};
use fastvue_core::service::roles::{NewRole, RoleFilter, RolePatch};
use fastvue_core::service::users::{NewUser, UserFilter, UserPatch};
use fastvue_core::{Actor, Error, Fastvue};
use proptest::prelude::*;

use crate::helpers::*;

/// Codenames the random permission sets draw from.
const POOL: [&str; 8] = [
    "report.export",
    "report.read",
    "billing.pay",
    "user.read",
    "user.update",
    "role.assign",
    "group.update",
    "audit.read",
];

/// The world's fixed parts.
struct World {
    /// A, B and A1 (below A, or below B after a move).
    companies: [i64; 3],
    users: Vec<i64>,
    /// API keys: (plaintext, creator, company, scopes).
    keys: Vec<(String, i64, i64, Vec<String>)>,
}

/// One random write. Indices are taken modulo what exists when it runs.
#[derive(Debug, Clone)]
enum Op {
    Assign { user: usize, role: usize },
    AssignSubtree { user: usize, role: usize },
    AddMemberSubtree { group: usize, user: usize },
    MoveA1 { under: usize },
    Unassign { user: usize, pick: usize },
    AddMember { group: usize, user: usize },
    RemoveMember { group: usize, user: usize },
    SetRolePerms { role: usize, mask: u8 },
    SetGroupPerms { group: usize, mask: u8 },
    RoleActive { role: usize, active: bool },
    GroupActive { group: usize, active: bool },
    DeleteRole { role: usize },
    DeleteGroup { group: usize },
    UserActive { user: usize, active: bool },
    UserSuperuser { user: usize },
    CompanyActive { company: usize, active: bool },
    PermissionActive { permission: usize, active: bool },
    CreateUser { role: usize },
    CreateRole { company: usize, mask: u8 },
}

/// A write and who makes it: `actor` < 7 is a user acting in company `acting_in`
/// (0 = A, 1 = B); 7 and 8 are the API keys. With `local`, the roles, groups and users
/// the write picks are those of the actor's company (most writes an actor may make are
/// there); without, anything in the world (cross-company attempts).
#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    acting_in: usize,
    local: bool,
    op: Op,
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0usize..64;
    prop_oneof![
        (i(), i()).prop_map(|(user, role)| Op::Assign { user, role }),
        (i(), i()).prop_map(|(user, role)| Op::AssignSubtree { user, role }),
        (i(), i()).prop_map(|(group, user)| Op::AddMemberSubtree { group, user }),
        (0usize..3).prop_map(|under| Op::MoveA1 { under }),
        (i(), i()).prop_map(|(user, pick)| Op::Unassign { user, pick }),
        (i(), i()).prop_map(|(group, user)| Op::AddMember { group, user }),
        (i(), i()).prop_map(|(group, user)| Op::RemoveMember { group, user }),
        (i(), any::<u8>()).prop_map(|(role, mask)| Op::SetRolePerms { role, mask }),
        (i(), any::<u8>()).prop_map(|(group, mask)| Op::SetGroupPerms { group, mask }),
        (i(), any::<bool>()).prop_map(|(role, active)| Op::RoleActive { role, active }),
        (i(), any::<bool>()).prop_map(|(group, active)| Op::GroupActive { group, active }),
        i().prop_map(|role| Op::DeleteRole { role }),
        i().prop_map(|group| Op::DeleteGroup { group }),
        (i(), any::<bool>()).prop_map(|(user, active)| Op::UserActive { user, active }),
        i().prop_map(|user| Op::UserSuperuser { user }),
        (0usize..3, any::<bool>())
            .prop_map(|(company, active)| Op::CompanyActive { company, active }),
        (i(), any::<bool>())
            .prop_map(|(permission, active)| Op::PermissionActive { permission, active }),
        i().prop_map(|role| Op::CreateUser { role }),
        (0usize..3, any::<u8>()).prop_map(|(company, mask)| Op::CreateRole { company, mask }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    // The administrators and operators act most: their writes are the interesting ones.
    let actor = prop_oneof![
        3 => Just(0usize),
        3 => Just(3usize),
        2 => Just(1usize),
        2 => Just(4usize),
        1 => Just(2usize),
        1 => Just(5usize),
        1 => Just(6usize),
        1 => Just(7usize),
        1 => Just(8usize),
    ];
    (actor, 0usize..3, prop::bool::weighted(0.75), op()).prop_map(
        |(actor, acting_in, local, op)| Step {
            actor,
            acting_in,
            local,
            op,
        },
    )
}

fn codenames(mask: u8) -> Vec<String> {
    POOL.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, c)| (*c).to_owned())
        .collect()
}

async fn build_world(t: &TestDb) -> World {
    let fv = &t.fv;
    for c in ["report.export", "report.read", "billing.pay"] {
        create_permission(fv, c).await;
    }
    let a = create_company(fv, "WA").await.id;
    let b = create_company(fv, "WB").await.id;
    let a1 = create_child(fv, "WA1", a).await.id;
    let ops = [
        "role.assign",
        "group.read",
        "group.create",
        "group.update",
        "group.delete",
        "user.read",
        "user.create",
        "user.update",
        "user.delete",
        "role.read",
        "role.create",
        "role.update",
        "role.delete",
        "company.update",
        "company.read",
        "report.read",
    ];
    create_role(fv, Some(a), "ops", &ops).await;
    create_role(fv, Some(b), "ops", &ops).await;
    create_role(fv, Some(a), "exporter", &["report.export", "report.read"]).await;
    create_role(fv, Some(b), "exporter", &["report.export"]).await;
    create_role(fv, Some(a), "payer", &["billing.pay", "user.read"]).await;
    let g_export = create_group(fv, a, "g-export", &["report.export"]).await.id;
    create_group(fv, a, "g-admin", &["group.update", "role.assign"]).await;
    let g_pay = create_group(fv, b, "g-pay", &["billing.pay"]).await.id;
    let mut users = Vec::new();
    for n in 0..7 {
        users.push(create_user(fv, &format!("emp{n}")).await.id);
    }
    let grant = |u: usize, c: i64, role: &'static str| {
        let users = &users;
        async move {
            let r = company_role(fv, c, role).await;
            assign(fv, users[u], c, r.id).await;
        }
    };
    let admin_a = company_role(fv, a, "admin").await;
    assign_subtree(fv, users[0], a, admin_a.id).await;
    grant(1, a, "ops").await;
    grant(2, a, "manager").await;
    grant(2, a, "exporter").await;
    grant(3, a, "viewer").await;
    grant(3, b, "admin").await;
    grant(4, b, "ops").await;
    grant(4, a, "payer").await;
    grant(5, b, "viewer").await;
    grant(6, a, "viewer").await;
    grant(6, a1, "viewer").await;
    grant(1, a1, "manager").await;
    fv.groups()
        .add_member(&sys(), g_export, users[2], GrantScope::Subtree)
        .await
        .unwrap();
    fv.groups()
        .add_member(&sys(), g_pay, users[3], Default::default())
        .await
        .unwrap();
    let mut keys = Vec::new();
    for (creator, company, scopes) in [
        (
            users[0],
            a,
            vec!["group.update", "role.assign", "user.read", "group.read"],
        ),
        (
            users[3],
            b,
            vec!["role.assign", "user.read", "user.update", "group.update"],
        ),
    ] {
        let scopes: Vec<String> = scopes.into_iter().map(str::to_owned).collect();
        let issued = fv
            .api_keys()
            .create(
                &sys(),
                NewApiKey {
                    company_id: company,
                    name: "robot".into(),
                    scopes: scopes.clone(),
                    created_by: Some(creator),
                    ..Default::default()
                },
            )
            .await
            .expect("key");
        keys.push((issued.plaintext().to_owned(), creator, company, scopes));
    }
    World {
        companies: [a, b, a1],
        users,
        keys,
    }
}

/// Every non-superuser's effective set in every company of the world (a superuser holds
/// everything everywhere by definition, and only superusers change superusers).
type Sets = BTreeMap<(i64, i64), BTreeSet<String>>;

async fn sets(view: &Fastvue, world: &World) -> Sets {
    let users = view
        .users()
        .list(
            &sys(),
            &UserFilter {
                is_superuser: Some(false),
                ..Default::default()
            },
            page(1, 100),
        )
        .await
        .unwrap()
        .items;
    let mut out = Sets::new();
    for u in users {
        for c in world.companies {
            let held = view.authorizer().codenames(u.id, c).await.unwrap();
            out.insert((u.id, c), held.iter().map(|s| s.to_string()).collect());
        }
    }
    out
}

/// The actor of a step and what it holds in each company (from `before`), or `None`
/// when that user may not act in that company (not a member, or deactivated).
async fn actor_of(
    fv: &Fastvue,
    world: &World,
    step: &Step,
    before: &Sets,
) -> Option<(Actor, BTreeMap<i64, BTreeSet<String>>)> {
    let (actor, user, scopes) = if step.actor < 7 {
        let user = world.users[step.actor];
        let company = world.companies[step.acting_in];
        let actor = fv.actors().for_user(user, Some(company)).await.ok()?;
        (actor, user, None)
    } else {
        let (key, creator, company, scopes) = &world.keys[step.actor - 7];
        let actor = fv.actors().from_api_key(key, None).await.ok()?;
        (actor, *creator, Some((*company, scopes)))
    };
    let mut held = BTreeMap::new();
    for c in world.companies {
        let mine = before.get(&(user, c)).cloned().unwrap_or_default();
        let mine = match scopes {
            None => mine,
            Some((kc, _)) if kc != c => BTreeSet::new(),
            Some((_, scopes)) => mine.into_iter().filter(|p| scopes.contains(p)).collect(),
        };
        held.insert(c, mine);
    }
    Some((actor, held))
}

/// Runs the write; returns the companies it is "in" when it was accepted.
async fn run(
    fv: &Fastvue,
    world: &World,
    actor: &Actor,
    local: bool,
    op: &Op,
) -> Result<Vec<i64>, Error> {
    let here = actor.company_id().filter(|_| local);
    let roles = fv
        .roles()
        .list(
            &sys(),
            &RoleFilter {
                company_id: here,
                ..Default::default()
            },
            page(1, 100),
        )
        .await
        .unwrap()
        .items;
    let roles: Vec<_> = roles
        .into_iter()
        .filter(|r| r.company_id.is_some())
        .collect();
    let groups = fv
        .groups()
        .list(
            &sys(),
            &GroupFilter {
                company_id: here,
                ..Default::default()
            },
            page(1, 100),
        )
        .await
        .unwrap()
        .items;
    let users = fv
        .users()
        .list(
            &sys(),
            &UserFilter {
                company_id: here,
                ..Default::default()
            },
            page(1, 100),
        )
        .await
        .unwrap()
        .items;
    if users.is_empty() {
        return Err(Error::NotFound { entity: "pick" });
    }
    let user = |i: usize| users[i % users.len()].id;
    // `c` and the companies below it (A1 when it sits below `c`).
    let a1 = world.companies[2];
    let a1_parent = fv.companies().get(&sys(), a1).await.unwrap().parent_id;
    let below = |c: i64| {
        if c != a1 && a1_parent == Some(c) {
            vec![c, a1]
        } else {
            vec![c]
        }
    };
    let pick_role = |i: usize| roles.get(i % roles.len().max(1)).cloned();
    let pick_group = |i: usize| groups.get(i % groups.len().max(1)).cloned();
    let missing = || Error::NotFound { entity: "pick" };
    Ok(match op {
        Op::Assign { user: u, role } => {
            let r = pick_role(*role).ok_or_else(missing)?;
            let c = r.company_id.unwrap_or_default();
            let input = NewAssignment {
                company_id: c,
                role_id: r.id,
                is_default: false,
                scope: Default::default(),
            };
            fv.assignments().assign(actor, user(*u), input).await?;
            vec![c]
        }
        Op::AssignSubtree { user: u, role } => {
            let r = pick_role(*role).ok_or_else(missing)?;
            let c = r.company_id.unwrap_or_default();
            let input = NewAssignment {
                company_id: c,
                role_id: r.id,
                scope: GrantScope::Subtree,
                ..Default::default()
            };
            fv.assignments().assign(actor, user(*u), input).await?;
            below(c)
        }
        Op::AddMemberSubtree { group, user: u } => {
            let g = pick_group(*group).ok_or_else(missing)?;
            fv.groups()
                .add_member(actor, g.id, user(*u), GrantScope::Subtree)
                .await?;
            below(g.company_id)
        }
        Op::MoveA1 { under } => {
            let patch = CompanyPatch {
                parent_id: Some(world.companies[*under]),
                ..Default::default()
            };
            fv.companies().update(actor, a1, patch).await?;
            vec![a1]
        }
        Op::Unassign { user: u, pick } => {
            let held = fv.assignments().of_user(&sys(), user(*u)).await?;
            let a = held.get(pick % held.len().max(1)).ok_or_else(missing)?;
            let c = a.assignment.company_id;
            fv.assignments()
                .unassign(actor, user(*u), a.assignment.id)
                .await?;
            below(c)
        }
        Op::AddMember { group, user: u } => {
            let g = pick_group(*group).ok_or_else(missing)?;
            fv.groups()
                .add_member(actor, g.id, user(*u), Default::default())
                .await?;
            below(g.company_id)
        }
        Op::RemoveMember { group, user: u } => {
            let g = pick_group(*group).ok_or_else(missing)?;
            fv.groups().remove_member(actor, g.id, user(*u)).await?;
            below(g.company_id)
        }
        Op::SetRolePerms { role, mask } => {
            let r = pick_role(*role).ok_or_else(missing)?;
            fv.roles()
                .set_permissions(actor, r.id, &codenames(*mask))
                .await?;
            below(r.company_id.unwrap_or_default())
        }
        Op::SetGroupPerms { group, mask } => {
            let g = pick_group(*group).ok_or_else(missing)?;
            fv.groups()
                .set_permissions(actor, g.id, &codenames(*mask))
                .await?;
            below(g.company_id)
        }
        Op::RoleActive { role, active } => {
            let r = pick_role(*role).ok_or_else(missing)?;
            let patch = RolePatch {
                is_active: Some(*active),
                ..Default::default()
            };
            fv.roles().update(actor, r.id, patch).await?;
            below(r.company_id.unwrap_or_default())
        }
        Op::GroupActive { group, active } => {
            let g = pick_group(*group).ok_or_else(missing)?;
            let patch = GroupPatch {
                is_active: Some(*active),
                ..Default::default()
            };
            fv.groups().update(actor, g.id, patch).await?;
            below(g.company_id)
        }
        Op::DeleteRole { role } => {
            let r = pick_role(*role).ok_or_else(missing)?;
            fv.roles().delete(actor, r.id).await?;
            below(r.company_id.unwrap_or_default())
        }
        Op::DeleteGroup { group } => {
            let g = pick_group(*group).ok_or_else(missing)?;
            fv.groups().delete(actor, g.id).await?;
            below(g.company_id)
        }
        Op::UserActive { user: u, active } => {
            let patch = UserPatch {
                is_active: Some(*active),
                ..Default::default()
            };
            fv.users().update(actor, user(*u), patch).await?;
            world.companies.to_vec()
        }
        Op::UserSuperuser { user: u } => {
            let patch = UserPatch {
                is_superuser: Some(true),
                ..Default::default()
            };
            fv.users().update(actor, user(*u), patch).await?;
            world.companies.to_vec()
        }
        Op::CompanyActive { company, active } => {
            let c = world.companies[*company];
            let patch = CompanyPatch {
                is_active: Some(*active),
                ..Default::default()
            };
            fv.companies().update(actor, c, patch).await?;
            below(c)
        }
        Op::PermissionActive { permission, active } => {
            let all = fv
                .permissions()
                .list(&sys(), &PermissionFilter::default(), page(1, 100))
                .await?
                .items;
            let p = &all[permission % all.len()];
            let patch = PermissionPatch {
                is_active: Some(*active),
                ..Default::default()
            };
            fv.permissions().update(actor, p.id, patch).await?;
            world.companies.to_vec()
        }
        Op::CreateUser { role } => {
            let r = pick_role(*role).ok_or_else(missing)?;
            let c = r.company_id.unwrap_or_default();
            let n = users.len();
            let input = NewUser {
                email: format!("new{n}@example.com"),
                username: format!("new{n}"),
                ..Default::default()
            };
            let assignment = NewAssignment {
                company_id: c,
                role_id: r.id,
                is_default: true,
                scope: Default::default(),
            };
            fv.users()
                .create_with_role(actor, input, Some(assignment))
                .await?;
            vec![c]
        }
        Op::CreateRole { company, mask } => {
            let c = world.companies[*company];
            let n = roles.len();
            let input = NewRole {
                name: format!("Random {n}"),
                codename: format!("random-{n}"),
                company_id: Some(c),
                permissions: codenames(*mask),
                ..Default::default()
            };
            fv.roles().create(actor, input).await?;
            vec![c]
        }
    })
}

/// Runs `steps` in a fresh world and checks the invariant after each (module docs).
async fn check_sequence(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let t = TestDb::new().await;
    let world = build_world(&t).await;
    let view = t.connect_again(&[("CACHE_ENABLED", "false")]).await;
    let (mut accepted, mut executed) = (0, 0);
    for (n, step) in steps.iter().enumerate() {
        let before = sets(&view, &world).await;
        let Some((actor, held)) = actor_of(&t.fv, &world, step, &before).await else {
            continue;
        };
        executed += 1;
        let outcome = run(&t.fv, &world, &actor, step.local, &step.op).await;
        let after = sets(&view, &world).await;
        let companies = match outcome {
            Ok(companies) => companies,
            Err(
                e @ (Error::Forbidden(_)
                | Error::NotFound { .. }
                | Error::Validation(_)
                | Error::Conflict { .. }),
            ) => {
                if std::env::var_os("FASTVUE_PROPTEST_STATS").is_some() {
                    eprintln!("refused {:?} by {}: {e}", step.op, step.actor);
                }
                prop_assert_eq!(
                    &after,
                    &before,
                    "step {}: refused {:?} changed sets",
                    n,
                    step
                );
                continue;
            }
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "step {n}: {step:?} failed: {e:?}"
                )));
            }
        };
        accepted += 1;
        prop_assert!(
            !matches!(step.op, Op::PermissionActive { .. }),
            "step {}: a non-superuser changed the shared catalogue: {:?}",
            n,
            step
        );
        for ((user, c), now) in &after {
            let was = before.get(&(*user, *c)).cloned().unwrap_or_default();
            if !companies.contains(c) {
                prop_assert_eq!(
                    now,
                    &was,
                    "step {}: {:?} in {:?} changed user {} in company {}",
                    n,
                    step,
                    companies,
                    user,
                    c
                );
                continue;
            }
            if *now == was {
                continue;
            }
            let ceiling = &held[c];
            let gained: Vec<&String> = now
                .difference(&was)
                .filter(|p| !ceiling.contains(*p))
                .collect();
            prop_assert!(
                gained.is_empty(),
                "step {}: {:?} gave user {} in company {} permissions the actor lacks: {:?}",
                n,
                step,
                user,
                c,
                gained
            );
            let above: Vec<&String> = was.difference(ceiling).collect();
            prop_assert!(
                above.is_empty(),
                "step {}: {:?} changed user {} in company {}, who held {:?} beyond the actor",
                n,
                step,
                user,
                c,
                above
            );
        }
    }
    if std::env::var_os("FASTVUE_PROPTEST_STATS").is_some() {
        eprintln!("accepted {accepted} of {executed} writes made by an actor");
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("FASTVUE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_sequence_of_writes_by_non_superusers_breaks_the_escalation_invariant(
        steps in prop::collection::vec(step(), 1..48)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(check_sequence(steps))?;
    }
}

/// The property test's world accepts writes too (the invariant is not proved by a world
/// where everything is refused): a fixed sequence with writes each actor may make.
#[tokio::test]
async fn the_invariant_world_accepts_writes_its_actors_may_make() {
    let t = TestDb::new().await;
    let world = build_world(&t).await;
    let (a, b) = (world.companies[0], world.companies[1]);
    let admin_a =
        t.fv.actors()
            .for_user(world.users[0], Some(a))
            .await
            .unwrap();
    let admin_b =
        t.fv.actors()
            .for_user(world.users[3], Some(b))
            .await
            .unwrap();
    // A's admin adds the viewer e6 to g-admin (group.update, role.assign: it holds both).
    let groups =
        t.fv.groups()
            .list(&admin_a, &GroupFilter::default(), all())
            .await
            .unwrap()
            .items;
    let g_admin = groups.iter().find(|g| g.codename == "g-admin").unwrap();
    t.fv.groups()
        .add_member(&admin_a, g_admin.id, world.users[6], Default::default())
        .await
        .unwrap();
    // ... but not into g-export (report.export, which it does not hold).
    let g_export = groups.iter().find(|g| g.codename == "g-export").unwrap();
    assert!(matches!(
        t.fv.groups()
            .add_member(&admin_a, g_export.id, world.users[6], Default::default())
            .await,
        Err(Error::Forbidden(_))
    ));
    // A's admin, whose role holds over A's whole subtree, gives e6 A's manager role over
    // the subtree too.
    let manager_a = company_role(&t.fv, a, "manager").await;
    t.fv.assignments()
        .assign(
            &admin_a,
            world.users[6],
            NewAssignment {
                company_id: a,
                role_id: manager_a.id,
                scope: GrantScope::Subtree,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // B's admin deactivates B's viewer e5.
    let patch = UserPatch {
        is_active: Some(false),
        ..Default::default()
    };
    t.fv.users()
        .update(&admin_b, world.users[5], patch)
        .await
        .unwrap();
    // A group of B created by B's admin with what it holds.
    t.fv.groups()
        .create(
            &admin_b,
            NewGroup {
                company_id: b,
                name: "Readers".into(),
                codename: "readers".into(),
                permissions: names(&["user.read"]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}
