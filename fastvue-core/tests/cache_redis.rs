//! The Redis tier, the invalidation bus and the tiered cache against a real
//! Redis (`FASTVUE_TEST_REDIS_URL`, e.g. `redis://127.0.0.1:6379/`). Without
//! it the Redis tests print that they did not run and return.
//!
//! Every test uses user / company ids drawn at random from a large range,
//! so tests running in parallel (or on a shared Redis) do not collide; no
//! test flushes Redis. Tests that act on *every* key (`invalidate_all`,
//! subscriber clears) only assert on their own keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fastvue_core::permission::bus::{self, InvalidationBus, InvalidationMessage, spawn_subscriber};
use fastvue_core::permission::l1::{CacheKey, Invalidation, L1Cache};
use fastvue_core::permission::l2::{L2Lookup, RedisTier};
use fastvue_core::permission::set::PermissionSet;
use fastvue_core::permission::tiered::TieredCache;
use fastvue_core::redis::CHANNEL;
use fastvue_core::redis::KeySpace;
use rand::Rng;

/// Serialises the Redis tests of this binary: some act on every key
/// (`invalidate_all`, `CLIENT KILL TYPE pubsub`), which would disturb the
/// others if they ran at the same time.
static REDIS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TIMEOUT: Duration = Duration::from_secs(2);
const TTL: Duration = Duration::from_secs(600);

fn redis_url(test: &str) -> Option<String> {
    match std::env::var("FASTVUE_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("{test}: FASTVUE_TEST_REDIS_URL is not set; this Redis test did not run");
            None
        }
    }
}

/// A random id base; ids `base .. base + 1000` belong to the calling test.
fn id_base() -> i64 {
    rand::rng().random_range(1_000_000_000i64..9_000_000_000_000)
}

fn tier(url: &str) -> RedisTier {
    RedisTier::new(url, 4, TIMEOUT, TTL).expect("valid redis url")
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn redis_get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

/// Stores `names` for `key` through the guarded path.
async fn fill(l2: &RedisTier, key: CacheKey, names: &[&str]) {
    let ticket = l2.begin_fill(key).await.expect("redis reachable");
    assert!(
        l2.store(key, &ticket, names).await,
        "store refused for {key:?}"
    );
}

fn l1_fill(l1: &L1Cache, key: CacheKey, ids: &[u32]) {
    let t = l1.begin_fill(key);
    assert!(l1.complete_fill(t, Arc::new(PermissionSet::new(ids.iter().copied()))));
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn l2_get_store_and_key_format() {
    let Some(url) = redis_url("l2_get_store_and_key_format") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let l2 = tier(&url);
    let b = id_base();
    let key = CacheKey::new(b, b + 1);
    assert_eq!(l2.get(key).await, None);
    fill(&l2, key, &["user.read", "role.write"]).await;
    assert_eq!(
        l2.get(key).await,
        Some(vec!["user.read".to_owned(), "role.write".to_owned()])
    );
    // The format operators read with redis-cli, with the TTL set.
    let mut conn = raw(&url).await;
    let k = format!("user:{b}:company:{}:permissions", b + 1);
    assert_eq!(k, KeySpace::default().value(key));
    assert_eq!(
        redis_get(&mut conn, &k).await.as_deref(),
        Some(r#"["user.read","role.write"]"#)
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg(&k)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= TTL.as_secs() as i64, "ttl {ttl}");
    // lookup = value + ticket in one round trip.
    assert_eq!(
        l2.lookup(key).await,
        L2Lookup::Hit(vec!["user.read".into(), "role.write".into()])
    );
    let other = CacheKey::new(b + 2, b + 1);
    let L2Lookup::Miss(Some(ticket)) = l2.lookup(other).await else {
        panic!("expected a miss with a ticket");
    };
    assert!(l2.store(other, &ticket, &[String::from("x.y")]).await);
    assert_eq!(l2.get(other).await, Some(vec!["x.y".to_owned()]));
    // An unreadable value is a miss, not an error.
    let _: () = redis::cmd("SET")
        .arg(&k)
        .arg("not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(l2.get(key).await, None);
    assert!(l2.ping().await.is_ok());
    l2.invalidate_user(b).await.unwrap();
    l2.invalidate_user(b + 2).await.unwrap();
}

#[tokio::test]
async fn l2_invalidation_scopes_return_counts() {
    let Some(url) = redis_url("l2_invalidation_scopes_return_counts") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let l2 = tier(&url);
    let b = id_base();
    let (u1, u2, u3) = (b, b + 1, b + 2);
    let (c1, c2) = (b + 10, b + 11);
    for u in [u1, u2, u3] {
        for c in [c1, c2] {
            fill(&l2, CacheKey::new(u, c), &["a.b"]).await;
        }
    }
    // keys
    assert_eq!(
        l2.invalidate_keys(&[CacheKey::new(u1, c1), CacheKey::new(u1, b + 99)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(l2.get(CacheKey::new(u1, c1)).await, None);
    assert!(l2.get(CacheKey::new(u1, c2)).await.is_some());
    // user
    assert_eq!(l2.invalidate_user(u2).await.unwrap(), 2);
    assert_eq!(l2.invalidate_user(u2).await.unwrap(), 0);
    assert_eq!(l2.get(CacheKey::new(u2, c2)).await, None);
    // company: (u1,c2) and (u3,c2)
    assert_eq!(l2.invalidate_company(c2).await.unwrap(), 2);
    assert_eq!(l2.get(CacheKey::new(u1, c2)).await, None);
    assert!(l2.get(CacheKey::new(u3, c1)).await.is_some());
    // all: at least our last key (other tests may own more)
    assert!(l2.invalidate_all().await.unwrap() >= 1);
    assert_eq!(l2.get(CacheKey::new(u3, c1)).await, None);
    // Every scope through the enum, on fresh keys.
    fill(&l2, CacheKey::new(u3, c1), &["a.b"]).await;
    assert_eq!(l2.invalidate(&Invalidation::Company(c1)).await.unwrap(), 1);
}

#[tokio::test]
async fn l2_store_refused_after_invalidation_by_another_process() {
    let Some(url) = redis_url("l2_store_refused_after_invalidation_by_another_process") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let replica_a = tier(&url);
    let replica_b = tier(&url);
    let b = id_base();
    let key = CacheKey::new(b, b + 1);
    let scopes = [
        Invalidation::Keys(vec![key]),
        Invalidation::Keys(vec![CacheKey::new(b, b + 5)]), // same user: also blocks
        Invalidation::User(b),
        Invalidation::Company(b + 1),
        Invalidation::All,
    ];
    for scope in scopes {
        // A begins a fill, reads the database (slowly) ...
        let ticket = replica_a.begin_fill(key).await.unwrap();
        // ... B commits a write and invalidates ...
        replica_b.invalidate(&scope).await.unwrap();
        // ... A's stale store must not land.
        assert!(
            !replica_a.store(key, &ticket, &["stale.perm"]).await,
            "{scope:?}: stale store accepted"
        );
        assert_eq!(replica_a.get(key).await, None, "{scope:?}");
        // A fill that begins afterwards is stored.
        fill(&replica_a, key, &["fresh.perm"]).await;
        assert_eq!(replica_b.get(key).await, Some(vec!["fresh.perm".into()]));
        replica_b.invalidate_keys(&[key]).await.unwrap();
    }
    // An unrelated invalidation does not block the store.
    let ticket = replica_a.begin_fill(key).await.unwrap();
    replica_b.invalidate_user(b + 7).await.unwrap();
    replica_b.invalidate_company(b + 8).await.unwrap();
    assert!(replica_a.store(key, &ticket, &["ok"]).await);
    replica_b.invalidate_user(b).await.unwrap();
}

#[tokio::test]
async fn redis_unreachable_is_a_quick_miss_and_never_hangs() {
    // Port 1 on loopback is closed; no Redis needed for this test.
    let timeout = Duration::from_millis(300);
    let l2 = RedisTier::new("redis://127.0.0.1:1/", 2, timeout, TTL).unwrap();
    let key = CacheKey::new(1, 2);
    let bound = timeout + Duration::from_millis(700);
    let start = Instant::now();
    assert_eq!(l2.get(key).await, None);
    assert!(start.elapsed() < bound, "get took {:?}", start.elapsed());
    let start = Instant::now();
    assert_eq!(l2.lookup(key).await, L2Lookup::Miss(None));
    assert!(l2.begin_fill(key).await.is_none());
    assert!(start.elapsed() < bound);
    assert!(l2.is_degraded());
    // store with a ticket obtained from a working Redis would be skipped too;
    // invalidations report the failure instead of hanging.
    let start = Instant::now();
    assert!(l2.invalidate_user(1).await.is_err());
    assert!(l2.invalidate_keys(&[key]).await.is_err());
    assert!(l2.invalidate_company(2).await.is_err());
    assert!(l2.invalidate_all().await.is_err());
    assert!(
        start.elapsed() < 4 * bound,
        "invalidations took {:?}",
        start.elapsed()
    );
    assert!(l2.ping().await.is_err());
    // Publishing fails softly too.
    let bus = InvalidationBus::new(l2.pool().clone(), CHANNEL, timeout, bus::new_origin());
    let start = Instant::now();
    assert!(!bus.publish(&Invalidation::All).await);
    assert!(start.elapsed() < bound);
    // And the tiered cache still invalidates its L1 at once.
    let l1 = L1Cache::new(100, TTL);
    l1_fill(&l1, key, &[1]);
    let cache = TieredCache::connect(
        Arc::clone(&l1),
        "redis://127.0.0.1:1/",
        2,
        timeout,
        TTL,
        KeySpace::default(),
    )
    .unwrap();
    let start = Instant::now();
    let report = cache.invalidate(&Invalidation::Keys(vec![key])).await;
    assert!(start.elapsed() < bound);
    assert_eq!(report.l1_dropped, 1);
    assert!(l1.get(key).is_none());
    assert!(cache.repair_pending());
}

#[tokio::test]
async fn store_with_a_ticket_while_redis_is_down_does_not_error() {
    let Some(url) = redis_url("store_with_a_ticket_while_redis_is_down_does_not_error") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let up = tier(&url);
    let b = id_base();
    let key = CacheKey::new(b, b);
    let ticket = up.begin_fill(key).await.unwrap();
    let down = RedisTier::new("redis://127.0.0.1:1/", 1, Duration::from_millis(200), TTL).unwrap();
    let start = Instant::now();
    assert!(!down.store(key, &ticket, &["a.b"]).await);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn bus_publish_from_a_drops_the_entry_in_b() {
    let Some(url) = redis_url("bus_publish_from_a_drops_the_entry_in_b") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let b = id_base();
    let (origin_a, origin_b) = (bus::new_origin(), bus::new_origin());
    let l1_a = L1Cache::new(1000, TTL);
    let l1_b = L1Cache::new(1000, TTL);
    let sub_a = spawn_subscriber(&url, CHANNEL, Arc::clone(&l1_a), origin_a.clone()).unwrap();
    let sub_b = spawn_subscriber(&url, CHANNEL, Arc::clone(&l1_b), origin_b.clone()).unwrap();
    assert!(sub_a.wait_subscriptions(1, Duration::from_secs(5)).await);
    assert!(sub_b.wait_subscriptions(1, Duration::from_secs(5)).await);
    assert!(sub_a.is_subscribed() && sub_b.is_subscribed());

    let k1 = CacheKey::new(b, b + 100);
    let k2 = CacheKey::new(b + 1, b + 100);
    let k3 = CacheKey::new(b + 2, b + 101);
    for l1 in [&l1_a, &l1_b] {
        for k in [k1, k2, k3] {
            l1_fill(l1, k, &[1, 2]);
        }
    }
    let pool = tier(&url).pool().clone();
    let bus_a = InvalidationBus::new(pool, CHANNEL, TIMEOUT, origin_a.clone());
    assert_eq!(bus_a.origin(), origin_a);

    // keys
    assert!(bus_a.publish(&Invalidation::Keys(vec![k1])).await);
    assert!(eventually(Duration::from_secs(5), || l1_b.get(k1).is_none()).await);
    assert!(l1_b.get(k2).is_some());
    // A's own subscriber ignores A's message.
    assert!(l1_a.get(k1).is_some());
    // user
    assert!(bus_a.publish(&Invalidation::User(b + 1)).await);
    assert!(eventually(Duration::from_secs(5), || l1_b.get(k2).is_none()).await);
    assert!(l1_b.get(k3).is_some());
    // company
    assert!(bus_a.publish(&Invalidation::Company(b + 101)).await);
    assert!(eventually(Duration::from_secs(5), || l1_b.get(k3).is_none()).await);
    // all (from B, seen by A)
    let bus_b = InvalidationBus::new(tier(&url).pool().clone(), CHANNEL, TIMEOUT, origin_b);
    assert!(bus_b.publish(&Invalidation::All).await);
    assert!(eventually(Duration::from_secs(5), || l1_a.entry_count() == 0).await);
    // A malformed message from elsewhere clears everything (safe default).
    l1_fill(&l1_b, k1, &[1]);
    let mut conn = raw(&url).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || l1_b.get(k1).is_none()).await);
    // The documented wire format.
    let json = InvalidationMessage::new("x", &Invalidation::Keys(vec![k1])).to_json();
    assert_eq!(
        json,
        format!(
            r#"{{"origin":"x","scope":"keys","keys":[[{},{}]]}}"#,
            b,
            b + 100
        )
    );
    assert!(sub_a.applied() >= 1 && sub_b.applied() >= 3);
}

#[tokio::test]
async fn subscriber_reconnect_clears_l1() {
    let Some(url) = redis_url("subscriber_reconnect_clears_l1") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let b = id_base();
    let l1 = L1Cache::new(1000, TTL);
    let sub = spawn_subscriber(&url, CHANNEL, Arc::clone(&l1), bus::new_origin()).unwrap();
    assert!(sub.wait_subscriptions(1, Duration::from_secs(5)).await);
    let key = CacheKey::new(b, b + 1);
    l1_fill(&l1, key, &[1]);
    assert!(l1.get(key).is_some());

    // Kill every pub/sub connection (ours among them) from another
    // connection. Other tests' subscribers just reconnect and clear.
    let mut conn = raw(&url).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(killed >= 1);
    assert!(
        sub.wait_subscriptions(2, Duration::from_secs(10)).await,
        "subscriber did not resubscribe"
    );
    // The clear happens before the subscription is reported.
    assert!(l1.get(key).is_none(), "L1 not cleared after resubscription");
    assert_eq!(l1.entry_count(), 0);
    assert!(sub.is_subscribed());

    // And it keeps applying messages afterwards.
    l1_fill(&l1, key, &[1]);
    let bus = InvalidationBus::new(
        tier(&url).pool().clone(),
        CHANNEL,
        TIMEOUT,
        bus::new_origin(),
    );
    assert!(bus.publish(&Invalidation::Keys(vec![key])).await);
    assert!(eventually(Duration::from_secs(5), || l1.get(key).is_none()).await);
}

#[tokio::test]
async fn first_subscription_keeps_an_empty_l1_and_clears_a_filled_one() {
    let Some(url) = redis_url("first_subscription_keeps_an_empty_l1_and_clears_a_filled_one")
    else {
        return;
    };
    let _serial = REDIS.lock().await;
    let b = id_base();
    // Filled before the subscriber started: it may have missed messages.
    let l1 = L1Cache::new(100, TTL);
    let key = CacheKey::new(b, b);
    l1_fill(&l1, key, &[1]);
    let sub = spawn_subscriber(&url, CHANNEL, Arc::clone(&l1), bus::new_origin()).unwrap();
    assert!(sub.wait_subscriptions(1, Duration::from_secs(5)).await);
    assert!(l1.get(key).is_none());
    // After the first subscription, fills stay.
    l1_fill(&l1, key, &[1]);
    tokio::task::yield_now().await;
    assert!(l1.get(key).is_some());
    sub.abort();
}

/// The full write path across two replicas: L2 + L1 + bus, with the miss
/// path filling from L2.
#[tokio::test]
async fn tiered_caches_on_two_replicas() {
    let Some(url) = redis_url("tiered_caches_on_two_replicas") else {
        return;
    };
    let _serial = REDIS.lock().await;
    let b = id_base();
    let key = CacheKey::new(b, b + 1);
    let a = TieredCache::connect(
        L1Cache::new(100, TTL),
        &url,
        4,
        TIMEOUT,
        TTL,
        KeySpace::default(),
    )
    .unwrap();
    let r = TieredCache::connect(
        L1Cache::new(100, TTL),
        &url,
        4,
        TIMEOUT,
        TTL,
        KeySpace::default(),
    )
    .unwrap();
    for c in [&a, &r] {
        assert!(
            c.subscriber()
                .unwrap()
                .wait_subscriptions(1, Duration::from_secs(5))
                .await
        );
    }
    // Replica A: miss everywhere, fill from the "database".
    let t1 = a.l1().begin_fill(key);
    let L2Lookup::Miss(Some(t2)) = a.l2_lookup(key).await else {
        panic!("expected an L2 miss with a ticket");
    };
    assert!(a.l2_store(key, &t2, &["user.read"]).await);
    assert!(a.l1().complete_fill(t1, Arc::new(PermissionSet::new([7]))));
    // Replica R: L1 miss, L2 hit.
    let t1 = r.l1().begin_fill(key);
    assert_eq!(
        r.l2_lookup(key).await,
        L2Lookup::Hit(vec!["user.read".into()])
    );
    assert!(r.l1().complete_fill(t1, Arc::new(PermissionSet::new([7]))));
    // A write on A: L2, A's L1 and R's L1 all drop the key.
    let report = a.invalidate(&Invalidation::User(b)).await;
    assert_eq!(report.l1_dropped, 1);
    assert_eq!(report.l2_deleted, Some(1));
    assert!(report.published);
    assert!(a.l1().get(key).is_none());
    assert_eq!(a.l2().unwrap().get(key).await, None);
    assert!(eventually(Duration::from_secs(5), || r.l1().get(key).is_none()).await);
    assert!(!a.repair_pending());
}
