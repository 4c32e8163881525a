//! Role-permission changes racing permission checks on one instance (issue 8 item 5).
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
    let clock = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let checkers: Vec<_> = (0..CHECKERS)
        .map(|c| {
            let (fv, setup, clock, stop) = (fv.clone(), setup.clone(), clock.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut k = c;
                while !stop.load(Ordering::SeqCst) {
                    let (_, user, codename, _) = &setup[k % ROLES];
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    let held = fv
                        .authorizer()
                        .has(*user, acme, codename)
                        .await
                        .expect("permission check");
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    seen.push(Check {
                        role: k % ROLES,
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

    let chains: Vec<_> = (0..ROLES)
        .map(|k| {
            let (fv, setup, clock) = (fv.clone(), setup.clone(), clock.clone());
            tokio::spawn(async move {
                let (role_id, _, codename, initial) = &setup[k];
                let mut writes = Vec::new();
                for i in 0..CHANGES_PER_ROLE {
                    let grant = if i % 2 == 0 { !initial } else { *initial };
                    let perms = if grant {
                        names(&["user.read", codename])
                    } else {
                        names(&["user.read"])
                    };
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    fv.roles()
                        .set_permissions(&sys(), *role_id, &perms)
                        .await
                        .expect("set_permissions");
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    writes.push(Write { grant, start, end });
                    // A quiet spell between two writes of the chain, in which every
                    // check of this role has one correct answer (no timing is asserted).
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
    .expect("the role changes deadlocked");
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
        if let Some(want) = expected(setup[c.role].3, &histories[c.role], c) {
            decided += 1;
            after_revoke += u64::from(!want);
            if c.held != want {
                violations.push((c, &histories[c.role]));
            }
        }
    }
    let writes: usize = histories.iter().map(Vec::len).sum();
    println!(
        "concurrency: {writes} role changes, {} checks ({decided} with a fixed expected answer, \
         {after_revoke} of them after a completed revoke), {} violations",
        checks.len(),
        violations.len()
    );
    assert_eq!(writes, ROLES * CHANGES_PER_ROLE);
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(after_revoke > 0, "no check fell after a completed revoke");

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
