//! The remembered totals of users pages: after any sequence of writes (through the
//! services or as raw SQL), every filter's `total` equals a fresh count.
use fastvue_core::Fastvue;
use fastvue_core::service::users::{UserFilter, UserPatch};
use proptest::prelude::*;
use sea_orm::ConnectionTrait;

use crate::helpers::*;

/// A write to users or their roles.
#[derive(Debug, Clone)]
enum Op {
    /// A new user.
    Create,
    /// A user's full name becomes `alpha` or `beta` (searched for below).
    Rename { user: usize, alpha: bool },
    /// A user is deactivated or reactivated.
    Active { user: usize, active: bool },
    /// A user gets the viewer role of company `company` (0 or 1).
    Assign { user: usize, company: usize },
    /// A user's roles in company `company` are removed.
    Unassign { user: usize, company: usize },
    /// Raw SQL: a user's full name and activity change in one statement.
    RawUpdate { user: usize, alpha: bool },
    /// Raw SQL: every role of a user is deleted.
    RawUnassignAll { user: usize },
    /// A write that no list filters on (`last_login_at`).
    SignIn { user: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0usize..6;
    prop_oneof![
        Just(Op::Create),
        (user.clone(), any::<bool>()).prop_map(|(user, alpha)| Op::Rename { user, alpha }),
        (user.clone(), any::<bool>()).prop_map(|(user, active)| Op::Active { user, active }),
        (user.clone(), 0usize..2).prop_map(|(user, company)| Op::Assign { user, company }),
        (user.clone(), 0usize..2).prop_map(|(user, company)| Op::Unassign { user, company }),
        (user.clone(), any::<bool>()).prop_map(|(user, alpha)| Op::RawUpdate { user, alpha }),
        user.clone().prop_map(|user| Op::RawUnassignAll { user }),
        user.prop_map(|user| Op::SignIn { user }),
    ]
}

/// The filters compared after every step.
fn filters(companies: [i64; 2]) -> Vec<UserFilter> {
    let search = |s: &str| Some(s.to_owned());
    vec![
        UserFilter::default(),
        UserFilter {
            is_active: Some(true),
            ..Default::default()
        },
        UserFilter {
            is_active: Some(false),
            ..Default::default()
        },
        UserFilter {
            search: search("alpha"),
            ..Default::default()
        },
        UserFilter {
            company_id: Some(companies[0]),
            ..Default::default()
        },
        UserFilter {
            company_ids: Some(vec![companies[1], companies[0]]),
            is_active: Some(true),
            search: search("beta"),
            ..Default::default()
        },
    ]
}

async fn total(fv: &Fastvue, filter: &UserFilter) -> u64 {
    fv.users()
        .list(&sys(), filter, page(1, 1))
        .await
        .expect("list")
        .total
}

async fn raw(fv: &Fastvue, sql: String) {
    fv.db().execute_unprepared(&sql).await.expect("raw sql");
}

async fn apply(fv: &Fastvue, users: &mut Vec<i64>, companies: [i64; 2], op: &Op) {
    let pick = |users: &Vec<i64>, i: usize| users.get(i % users.len().max(1)).copied();
    match *op {
        Op::Create => {
            let u = create_user(fv, &format!("prop{}", users.len())).await;
            users.push(u.id);
        }
        Op::Rename { user, alpha } => {
            if let Some(id) = pick(users, user) {
                let name = if alpha { "Alpha Person" } else { "Beta Person" };
                let patch = UserPatch {
                    full_name: Some(name.into()),
                    ..Default::default()
                };
                fv.users().update(&sys(), id, patch).await.expect("rename");
            }
        }
        Op::Active { user, active } => {
            if let Some(id) = pick(users, user) {
                let patch = UserPatch {
                    is_active: Some(active),
                    ..Default::default()
                };
                fv.users().update(&sys(), id, patch).await.expect("active");
            }
        }
        Op::Assign { user, company } => {
            if let Some(id) = pick(users, user) {
                let role = company_role(fv, companies[company], "viewer").await;
                // Assigning a role the user holds is a conflict: nothing changes.
                let _ = fv
                    .assignments()
                    .assign(
                        &sys(),
                        id,
                        fastvue_core::service::assignments::NewAssignment {
                            company_id: companies[company],
                            role_id: role.id,
                            ..Default::default()
                        },
                    )
                    .await;
            }
        }
        Op::Unassign { user, company } => {
            if let Some(id) = pick(users, user) {
                raw(
                    fv,
                    format!(
                        "DELETE FROM user_company_roles WHERE user_id = {id} AND company_id = {}",
                        companies[company]
                    ),
                )
                .await;
            }
        }
        Op::RawUpdate { user, alpha } => {
            if let Some(id) = pick(users, user) {
                let name = if alpha { "alpha raw" } else { "beta raw" };
                raw(
                    fv,
                    format!(
                        "UPDATE users SET full_name = '{name}', is_active = NOT is_active \
                         WHERE id = {id}"
                    ),
                )
                .await;
            }
        }
        Op::RawUnassignAll { user } => {
            if let Some(id) = pick(users, user) {
                raw(
                    fv,
                    format!("DELETE FROM user_company_roles WHERE user_id = {id}"),
                )
                .await;
            }
        }
        Op::SignIn { user } => {
            if let Some(id) = pick(users, user) {
                raw(
                    fv,
                    format!("UPDATE users SET last_login_at = updated_at WHERE id = {id}"),
                )
                .await;
            }
        }
    }
}

async fn check_sequence(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let t = TestDb::new().await;
    // Counts every time: the permission cache's switch also turns remembered totals off.
    let counting = t.connect_again(&[("CACHE_ENABLED", "false")]).await;
    let companies = [
        create_company(&t.fv, "PA").await.id,
        create_company(&t.fv, "PB").await.id,
    ];
    let filters = filters(companies);
    let mut users = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        apply(&t.fv, &mut users, companies, op).await;
        for filter in &filters {
            let remembered = total(&t.fv, filter).await;
            let counted = total(&counting, filter).await;
            prop_assert_eq!(
                remembered,
                counted,
                "step {}: {:?}, filter {:?}",
                n,
                op,
                filter
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        max_shrink_iters: 32,
        ..ProptestConfig::default()
    })]

    #[test]
    fn after_any_sequence_of_writes_every_remembered_total_equals_a_fresh_count(
        ops in prop::collection::vec(op(), 1..24)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(check_sequence(ops))?;
    }
}

/// The `COUNT(*)` statements a handle ran since the log was last taken.
fn counts(log: &StatementLog) -> usize {
    log.take()
        .iter()
        .filter(|sql| sql.contains("COUNT(*)"))
        .count()
}

#[tokio::test]
async fn a_second_page_of_the_same_filter_reads_the_version_instead_of_counting_again() {
    let t = TestDb::new().await;
    for i in 0..3 {
        create_user(&t.fv, &format!("counted{i}")).await;
    }
    let (fv, log) = t.counted_handle().await;
    let filter = UserFilter::default();
    let first = fv.users().list(&sys(), &filter, page(1, 2)).await.unwrap();
    assert_eq!(counts(&log), 1, "the first page counts");
    let second = fv.users().list(&sys(), &filter, page(2, 2)).await.unwrap();
    assert_eq!(counts(&log), 0, "the next page of the same filter does not");
    assert_eq!(first.total, second.total);
    // A write through another handle (another replica) moves the version: the next page
    // counts again and sees the new user.
    create_user(&t.fv, "counted-late").await;
    let third = fv.users().list(&sys(), &filter, page(1, 2)).await.unwrap();
    assert_eq!(counts(&log), 1);
    assert_eq!(third.total, first.total + 1);
}
