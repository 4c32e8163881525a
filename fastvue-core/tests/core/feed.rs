//! The PostgreSQL invalidation feed (issue 26): two handles on one PostgreSQL database
//! and no Redis at all hear each other's changes within `MAX_STALENESS`, a change rolled
//! back is never announced, and an operator invalidation reaches the other handle. On
//! SQLite there is one process and no feed: the tests say so and return.
use std::time::{Duration, Instant};

use fastvue_core::Fastvue;
use fastvue_core::permission::CacheTarget;
use fastvue_core::permission::Invalidation;
use sea_orm::TransactionTrait;

use crate::helpers::*;

/// `MAX_STALENESS` of the handles (the default).
const BOUND: Duration = Duration::from_millis(1_000);
/// Room for the checks themselves on a loaded machine.
const SLACK: Duration = Duration::from_millis(2_000);

/// A bootstrapped PostgreSQL database and a second handle on it; `None` on SQLite.
async fn two_handles() -> Option<(TestDb, Fastvue)> {
    let t = TestDb::new().await;
    if t.backend != Backend::Postgres {
        eprintln!("SQLite: one process, no invalidation feed; the feed test did not run");
        return None;
    }
    let other = t.connect_again(&[]).await;
    Some((t, other))
}

/// Polls `cond` every 10 ms; the time until it held (panics after 20 s).
async fn time_until(mut cond: impl AsyncFnMut() -> bool) -> Duration {
    let since = Instant::now();
    while !cond().await {
        assert!(since.elapsed() < Duration::from_secs(20), "never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    since.elapsed()
}

/// Checks on `other` until it holds the set in memory: a check racing the arrival of
/// the fixtures' own notifications is rightly not cached.
async fn cache_on(other: &Fastvue, user_id: i64, company_id: i64) {
    let key = fastvue_core::permission::CacheKey::new(user_id, company_id);
    time_until(async || {
        let _ = has(other, user_id, company_id, "user.read").await;
        other.authorizer().l1().get(key).is_some()
    })
    .await;
}

#[tokio::test]
async fn a_revoke_through_one_handle_reaches_the_other_within_the_bound_without_redis() {
    let Some((t, other)) = two_handles().await else {
        return;
    };
    let fv = &t.fv;
    let feed = other
        .authorizer()
        .cache()
        .feed()
        .expect("a feed on PostgreSQL");
    assert!(feed.health().live, "{:?}", feed.health());
    assert_eq!(feed.bound(), BOUND);
    let c = create_company(fv, "ACME").await;
    let role = create_role(fv, Some(c.id), "auditor", &["audit.read", "user.read"]).await;
    let u = create_user(fv, "alice").await;
    assign(fv, u.id, c.id, role.id).await;
    cache_on(&other, u.id, c.id).await;
    assert!(has(&other, u.id, c.id, "audit.read").await);

    let mut changes = other.authorizer().subscribe_changes();
    fv.roles()
        .set_permissions(&sys(), role.id, &["user.read".to_owned()])
        .await
        .unwrap();
    let took = time_until(async || !has(&other, u.id, c.id, "audit.read").await).await;
    assert!(took <= BOUND + SLACK, "took {took:?}");
    // Subscribers (permission streams) heard it too.
    let heard = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("a change announced")
        .expect("receiver open");
    assert!(
        matches!(&heard, Invalidation::Keys(k) if k.iter().any(|k| k.user_id == u.id))
            || matches!(heard, Invalidation::User(id) if id == u.id)
            || matches!(heard, Invalidation::All),
        "{heard:?}"
    );
    // The other handle caches again afterwards.
    assert!(has(&other, u.id, c.id, "user.read").await);
    cache_on(&other, u.id, c.id).await;
}

#[tokio::test]
async fn an_operator_invalidation_on_one_handle_drops_the_others_memory() {
    let Some((t, other)) = two_handles().await else {
        return;
    };
    let fv = &t.fv;
    let c = create_company(fv, "ACME").await;
    let u = create_user(fv, "bob").await;
    grant_role(fv, u.id, c.id, "viewer").await;
    cache_on(&other, u.id, c.id).await;
    let summary = fv
        .authorizer()
        .invalidate_target(CacheTarget::User {
            user_id: u.id,
            company_id: None,
        })
        .await
        .unwrap();
    assert_eq!(summary.announced, Some(true));
    assert!(summary.reached_other_processes());
    let l1 = other.authorizer().l1();
    let took = time_until(async || {
        l1.run_pending_tasks();
        l1.get(fastvue_core::permission::CacheKey::new(u.id, c.id))
            .is_none()
    })
    .await;
    assert!(took <= BOUND + SLACK, "took {took:?}");
}

#[tokio::test]
async fn a_rolled_back_write_is_never_announced() {
    let Some((t, other)) = two_handles().await else {
        return;
    };
    let fv = &t.fv;
    let c = create_company(fv, "ACME").await;
    let u = create_user(fv, "carol").await;
    grant_role(fv, u.id, c.id, "viewer").await;
    cache_on(&other, u.id, c.id).await;
    let mut changes = other.authorizer().subscribe_changes();
    // A notification sent inside a transaction that rolls back is discarded by
    // PostgreSQL: the other handle keeps its set.
    let txn = fv.db().begin().await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &txn,
        "SELECT pg_notify('fastvue_invalidate', '{\"origin\":\"x\",\"scope\":\"all\"}')",
    )
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    // A later, committed change proves delivery went on meanwhile.
    let other_user = create_user(fv, "dave").await;
    grant_role(fv, other_user.id, c.id, "viewer").await;
    let heard = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("the committed change announced")
        .expect("receiver open");
    assert!(!matches!(heard, Invalidation::All), "{heard:?}");
    assert_cached(&other, u.id, c.id);
}
