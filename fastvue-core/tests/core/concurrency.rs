//! Role-permission changes and company moves racing permission checks on one instance.
//!
//! 20 roles, each held by its own user and granting or not its own permission. For
//! each role a chain of 5 `set_permissions` calls alternates revoke and grant; the 20
//! chains run at once (100 changes, 20 in flight at a time, all on the same tables),
//! while 8 checkers ask whether each user holds its role's permission. Every call is
//! stamped at its start and end from one atomic counter, which orders events without
//! any clock. Within a chain the writes are sequential, so when a write completed
//! before a check started and the chain's next write started after the check ended,
//! that write's state is the only correct answer. A revoked permission seen after its
//! revoke completed, or a granted one missed, fails the test.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fastvue_core::service::companies::CompanyPatch;

use crate::helpers::*;

const ROLES: usize = 20;
const CHANGES_PER_ROLE: usize = 5;
const CHECKERS: usize = 8;

/// One `set_permissions` call: whether it granted the role's permission, and its stamps.
#[derive(Debug, Clone, Copy)]
struct Write {
    grant: bool,
    start: u64,
    end: u64,
}

/// One check of role `role`'s permission for its holder.
#[derive(Debug, Clone, Copy)]
struct Check {
    role: usize,
    held: bool,
    start: u64,
    end: u64,
}

/// The state a check must see, if the chain's history fixes it: the last write that
/// completed before the check started, when the next write had not started before the
/// check ended (`initial` when no write completed yet and none started).
fn expected(initial: bool, chain: &[Write], c: &Check) -> Option<bool> {
    let done = chain.iter().rposition(|w| w.end < c.start);
    let next = done.map_or(0, |i| i + 1);
    let quiet = chain.get(next).is_none_or(|w| w.start > c.end);
    quiet.then(|| done.map_or(initial, |i| chain[i].grant))
}

/// Runs one chain of `changes` sequential writes per entry of `initial` (all chains at
/// once, a quiet 20 ms after each write) while [`CHECKERS`] tasks check the chains'
/// states, then asserts every check whose answer the history fixes (see [`expected`]),
/// and that some fell after a completed revoke. `write(k, grant)` sets chain `k`'s state;
/// `check(k)` reads it. Returns each chain's writes.
async fn race<W, WF, C, CF>(
    what: &str,
    initial: Vec<bool>,
    changes: usize,
    write: W,
    check: C,
) -> Vec<Vec<Write>>
where
    W: Fn(usize, bool) -> WF + Clone + Send + Sync + 'static,
    WF: Future<Output = ()> + Send + 'static,
    C: Fn(usize) -> CF + Clone + Send + Sync + 'static,
    CF: Future<Output = bool> + Send + 'static,
{
    let chains_n = initial.len();
    let clock = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let checkers: Vec<_> = (0..CHECKERS)
        .map(|c| {
            let (check, clock, stop) = (check.clone(), clock.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut k = c;
                while !stop.load(Ordering::SeqCst) {
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    let held = check(k % chains_n).await;
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    seen.push(Check {
                        role: k % chains_n,
                        held,
                        start,
                        end,
                    });
                    k += 7;
                    tokio::task::yield_now().await;
                }
                seen
            })
        })
        .collect();
    let chains: Vec<_> = (0..chains_n)
        .map(|k| {
            let (write, clock, initial) = (write.clone(), clock.clone(), initial[k]);
            tokio::spawn(async move {
                let mut writes = Vec::new();
                for i in 0..changes {
                    let grant = if i % 2 == 0 { !initial } else { initial };
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    write(k, grant).await;
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    writes.push(Write { grant, start, end });
                    // A quiet spell between two writes of the chain, in which every
                    // check of this chain has one correct answer (no timing is asserted).
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                writes
            })
        })
        .collect();
    // A hang guard only: a deadlock never finishes.
    let histories = tokio::time::timeout(Duration::from_secs(300), async {
        let mut histories = Vec::new();
        for chain in chains {
            histories.push(chain.await.expect("a writer panicked"));
        }
        histories
    })
    .await
    .expect("the writes deadlocked");
    stop.store(true, Ordering::SeqCst);
    let mut checks = Vec::new();
    for checker in checkers {
        checks.extend(
            tokio::time::timeout(Duration::from_secs(120), checker)
                .await
                .expect("a checker hung")
                .expect("a checker panicked"),
        );
    }
    let (mut decided, mut after_revoke) = (0, 0);
    let mut violations = Vec::new();
    for c in &checks {
        if let Some(want) = expected(initial[c.role], &histories[c.role], c) {
            decided += 1;
            after_revoke += u64::from(!want);
            if c.held != want {
                violations.push((c, &histories[c.role]));
            }
        }
    }
    let writes: usize = histories.iter().map(Vec::len).sum();
    println!(
        "{what}: {writes} writes, {} checks ({decided} with a fixed expected answer, \
         {after_revoke} of them after a completed revoke), {} violations",
        checks.len(),
        violations.len()
    );
    assert_eq!(writes, chains_n * changes);
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(after_revoke > 0, "no check fell after a completed revoke");
    histories
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_never_see_a_completed_revoke_undone_under_100_concurrent_role_changes() {
    // Enough connections for every writer and checker at once, so checks do not queue
    // behind writes for a connection.
    let t = TestDb::with(&[("DB_POOL_SIZE", "4"), ("DB_MAX_OVERFLOW", "28")]).await;
    let fv = t.fv.clone();
    let acme = create_company(&fv, "ACME").await.id;
    let mut setup = Vec::new();
    for k in 0..ROLES {
        let codename = format!("race.p{k}");
        create_permission(&fv, &codename).await;
        // Even roles start granted and end revoked; odd ones the other way round.
        let initial = k % 2 == 0;
        let perms: Vec<&str> = if initial {
            vec!["user.read", &codename]
        } else {
            vec!["user.read"]
        };
        let role = create_role(&fv, Some(acme), &format!("racer{k}"), &perms).await;
        let user = create_user(&fv, &format!("racer{k}")).await;
        assign(&fv, user.id, acme, role.id).await;
        assert_eq!(has(&fv, user.id, acme, &codename).await, initial);
        setup.push((role.id, user.id, codename, initial));
    }
    let setup = Arc::new(setup);
    let initial = setup.iter().map(|s| s.3).collect();
    let (writer, checker) = (setup.clone(), setup.clone());
    let (wfv, cfv) = (fv.clone(), fv.clone());
    let histories = race(
        "concurrency",
        initial,
        CHANGES_PER_ROLE,
        move |k, grant| {
            let (fv, setup) = (wfv.clone(), writer.clone());
            async move {
                let (role_id, _, codename, _) = &setup[k];
                let perms = if grant {
                    names(&["user.read", codename])
                } else {
                    names(&["user.read"])
                };
                fv.roles()
                    .set_permissions(&sys(), *role_id, &perms)
                    .await
                    .expect("set_permissions");
            }
        },
        move |k| {
            let (fv, setup) = (cfv.clone(), checker.clone());
            async move {
                let (_, user, codename, _) = &setup[k];
                fv.authorizer()
                    .has(*user, acme, codename)
                    .await
                    .expect("permission check")
            }
        },
    )
    .await;

    // Final state = each chain's last write, through the cache and in the database.
    for (k, (role_id, user, codename, _)) in setup.iter().enumerate() {
        let last = histories[k].last().unwrap().grant;
        assert_eq!(last, k % 2 == 1, "chain {k} ends on the flipped state");
        assert_eq!(has(&fv, *user, acme, codename).await, last, "{codename}");
        let mut stored: Vec<String> = fv
            .roles()
            .get(&sys(), *role_id)
            .await
            .expect("role permissions")
            .permissions;
        stored.sort();
        let mut want = if last {
            names(&["user.read", codename])
        } else {
            names(&["user.read"])
        };
        want.sort();
        assert_eq!(stored, want);
        // Recomputed from the database, the answer is the same.
        fv.authorizer().invalidate_user(*user, None).await;
        assert_eq!(has(&fv, *user, acme, codename).await, last);
    }
}

const SHOPS: usize = 10;
const MOVES_PER_SHOP: usize = 5;

/// Tree moves racing permission checks: a user holds `race.tree` over the holding's
/// subtree; 10 shops, each moved in and out of the holding 5 times (their chains run at
/// once), while 8 checkers ask whether the user holds `race.tree` in each shop. A shop
/// seen inside the holding's reach after a completed move out (or missed after a move in)
/// fails the test, judged as above.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_never_see_a_completed_move_out_of_a_subtree_undone() {
    let t = TestDb::with(&[("DB_POOL_SIZE", "4"), ("DB_MAX_OVERFLOW", "28")]).await;
    let fv = t.fv.clone();
    create_permission(&fv, "race.tree").await;
    let holding = create_company(&fv, "HOLD").await.id;
    let outside = create_company(&fv, "OUT").await.id;
    let role = create_role(&fv, Some(holding), "tree-racer", &["race.tree"]).await;
    let user = create_user(&fv, "tree-racer").await.id;
    assign_subtree(&fv, user, holding, role.id).await;
    let mut shops = Vec::new();
    for k in 0..SHOPS {
        // Even shops start inside and end outside; odd ones the other way round.
        let inside = k % 2 == 0;
        let parent = if inside { holding } else { outside };
        let shop = create_child(&fv, &format!("SHOP{k}"), parent).await.id;
        assert_eq!(has(&fv, user, shop, "race.tree").await, inside);
        shops.push((shop, inside));
    }
    let shops = Arc::new(shops);
    let initial = shops.iter().map(|s| s.1).collect();
    let (writer, checker) = (shops.clone(), shops.clone());
    let (wfv, cfv) = (fv.clone(), fv.clone());
    let histories = race(
        "tree moves",
        initial,
        MOVES_PER_SHOP,
        move |k, grant| {
            let (fv, shops) = (wfv.clone(), writer.clone());
            async move {
                let parent = if grant { holding } else { outside };
                fv.companies()
                    .update(
                        &sys(),
                        shops[k].0,
                        CompanyPatch {
                            parent_id: Some(parent),
                            ..Default::default()
                        },
                    )
                    .await
                    .expect("move");
            }
        },
        move |k| {
            let (fv, shops) = (cfv.clone(), checker.clone());
            async move {
                fv.authorizer()
                    .has(user, shops[k].0, "race.tree")
                    .await
                    .expect("permission check")
            }
        },
    )
    .await;
    for (k, (shop, _)) in shops.iter().enumerate() {
        let last = histories[k].last().unwrap().grant;
        assert_eq!(has(&fv, user, *shop, "race.tree").await, last);
        fv.authorizer().invalidate_user(user, None).await;
        assert_eq!(has(&fv, user, *shop, "race.tree").await, last);
    }
}
