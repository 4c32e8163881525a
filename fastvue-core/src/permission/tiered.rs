//! [`TieredCache`]: the L1, the optional Redis tier and the invalidation bus
//! wired together with the call orders that keep them race-free.
//!
//! # Miss path (what the authorizer does on an L1 miss)
//!
//! ```text
//! t1 = l1.begin_fill(key)                 // 1. before reading anything
//! match cache.l2_lookup(key).await {      // 2. one MGET: value + generations
//!     Hit(codenames) => set = codenames -> ids
//!     Miss(ticket)   => set = database read (one statement)
//!                       if let Some(t) = ticket { cache.l2_store(key, &t, &codenames).await }
//! }
//! l1.complete_fill(t1, set)               // 3. refused if invalidated since 1.
//! ```
//!
//! # Write path
//!
//! After the database transaction has committed, call
//! [`TieredCache::invalidate`] for every affected scope. It runs
//!
//! 1. **L2** invalidation (`INCR` generation, then `DEL` / `SCAN`+`DEL`),
//! 2. **L1** invalidation (bump generation, then remove),
//! 3. **publish** on the bus, so other replicas drop their L1.
//!
//! L2 must go before L1: with the opposite order a reader on this instance
//! could take its L1 ticket after the L1 invalidation, read the still-stale
//! L2 value before the L2 `DEL`, and store it in L1 for a whole TTL. Publish
//! must go after L2 for the same reason on the other replicas.
//!
//! # Redis trouble
//!
//! The L1 invalidation always happens. If the L2 invalidation or the
//! publication fails (or is skipped because Redis is known to be down), a
//! stale set may survive in Redis or in other replicas' L1, so the cache
//! owes a *full repair*: until a background task has managed to run
//! `invalidate_all` on Redis and publish `all` on the bus (retried with
//! backoff), this instance neither reads nor stores L2 values.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::bus::{self, InvalidationBus, SubscriberHandle};
use super::feed::PgFeed;
use super::l1::{CacheKey, Invalidation, L1Cache};
use super::l2::{KeySpace, L2Error, L2Lookup, RedisTier, RemoteTicket};
use super::remote::{RemoteShared, schedule_repair};

/// What one [`TieredCache::invalidate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InvalidationReport {
    /// Entries dropped from this process's L1.
    pub l1_dropped: u64,
    /// Keys deleted from Redis; `None` without Redis or when Redis failed
    /// (a full repair is then pending).
    pub l2_deleted: Option<u64>,
    /// Whether the invalidation was published to the other replicas.
    pub published: bool,
}

/// The L1 plus, when Redis is configured, the L2, the publisher and the
/// subscriber task. See the [module docs](self) for the call orders.
pub struct TieredCache {
    l1: Arc<L1Cache>,
    remote: Option<Remote>,
    feed: Option<PgFeed>,
}

struct Remote {
    shared: Arc<RemoteShared>,
    subscriber: SubscriberHandle,
}

impl TieredCache {
    /// An L1-only cache (no Redis configured).
    pub fn local(l1: Arc<L1Cache>) -> Self {
        Self {
            l1,
            remote: None,
            feed: None,
        }
    }

    /// The L1 plus Redis at `redis_url`, every key and the channel named by
    /// `keys`: builds the pool (`pool_size`,
    /// every round trip bounded by `pool_timeout`), the L2 with `ttl`, the
    /// publisher with a fresh origin id, and spawns the subscriber. Does not
    /// wait for Redis (it may be down); fails only on a malformed URL. Must
    /// be called inside a Tokio runtime.
    pub fn connect(
        l1: Arc<L1Cache>,
        redis_url: &str,
        pool_size: u32,
        pool_timeout: Duration,
        ttl: Duration,
        keys: KeySpace,
    ) -> Result<Self, L2Error> {
        let channel = keys.channel();
        let l2 = RedisTier::new(redis_url, pool_size, pool_timeout, ttl)?.with_keys(keys);
        let origin = bus::new_origin();
        let bus = InvalidationBus::new(
            l2.pool().clone(),
            channel.clone(),
            pool_timeout,
            origin.clone(),
        );
        let subscriber = bus::spawn_subscriber(redis_url, channel, Arc::clone(&l1), origin)?;
        Ok(Self {
            l1,
            remote: Some(Remote {
                shared: Arc::new(RemoteShared {
                    l2,
                    bus,
                    owed: AtomicU64::new(0),
                    repaired: AtomicU64::new(0),
                    repairing: AtomicBool::new(false),
                    quarantine: Mutex::new(Vec::new()),
                    quarantined: AtomicUsize::new(0),
                    next_quarantine: AtomicU64::new(0),
                }),
                subscriber,
            }),
            feed: None,
        })
    }

    /// Starts the PostgreSQL invalidation feed (see [`feed`]): listens and ticks on
    /// `listen_url`, and keeps the L1 suspended whenever it cannot prove, within
    /// `bound`, that it hears every committed change.
    pub fn start_feed(&mut self, listen_url: &str, bound: Duration) {
        let remote = self.remote.as_ref().map(|r| Arc::clone(&r.shared));
        self.feed = Some(PgFeed::spawn(
            listen_url,
            bound,
            Arc::clone(&self.l1),
            remote,
        ));
    }

    /// The PostgreSQL invalidation feed, when the database is PostgreSQL.
    pub fn feed(&self) -> Option<&PgFeed> {
        self.feed.as_ref()
    }

    /// The in-process tier.
    pub fn l1(&self) -> &Arc<L1Cache> {
        &self.l1
    }

    /// The Redis tier, if configured.
    pub fn l2(&self) -> Option<&RedisTier> {
        self.remote.as_ref().map(|r| &r.shared.l2)
    }

    /// The publisher, if Redis is configured.
    pub fn bus(&self) -> Option<&InvalidationBus> {
        self.remote.as_ref().map(|r| &r.shared.bus)
    }

    /// The subscriber task, if Redis is configured.
    pub fn subscriber(&self) -> Option<&SubscriberHandle> {
        self.remote.as_ref().map(|r| &r.subscriber)
    }

    /// Whether a full repair of Redis and the other replicas is owed
    /// (a remote invalidation failed and has not been made good yet).
    pub fn repair_pending(&self) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|r| r.shared.repair_pending())
    }

    /// Step 2 of the miss path: the L2 value and a store ticket in one
    /// round trip. `Miss(None)` without Redis, when Redis fails, or while a
    /// repair is pending.
    pub async fn l2_lookup(&self, key: CacheKey) -> L2Lookup {
        match &self.remote {
            Some(r) if !r.shared.repair_pending() && !r.shared.is_quarantined(key) => {
                r.shared.l2.lookup(key).await
            }
            _ => L2Lookup::Miss(None),
        }
    }

    /// Stores the database's answer in L2 if no invalidation happened since
    /// `ticket` was taken. Returns whether it was stored; never errors.
    pub async fn l2_store<S: AsRef<str>>(
        &self,
        key: CacheKey,
        ticket: &RemoteTicket,
        codenames: &[S],
    ) -> bool {
        match &self.remote {
            Some(r) if !r.shared.repair_pending() && !r.shared.is_quarantined(key) => {
                r.shared.l2.store(key, ticket, codenames).await
            }
            _ => false,
        }
    }

    /// Invalidates `scope` everywhere: L2, then L1, then the other replicas
    /// (see the [module docs](self)). The L1 part always happens; a remote
    /// failure schedules a full repair instead of returning an error.
    pub async fn invalidate(&self, scope: &Invalidation) -> InvalidationReport {
        let Some(remote) = &self.remote else {
            return InvalidationReport {
                l1_dropped: self.l1.invalidate(scope),
                ..InvalidationReport::default()
            };
        };
        let shared = &remote.shared;
        // Redis known to be down: do not make the writer wait a timeout.
        let l2_deleted = if shared.l2.is_degraded() {
            None
        } else {
            shared.l2.invalidate(scope).await.ok()
        };
        let l1_dropped = self.l1.invalidate(scope);
        let published = l2_deleted.is_some() && shared.bus.publish(scope).await;
        if !published {
            schedule_repair(shared);
        }
        InvalidationReport {
            l1_dropped,
            l2_deleted,
            published,
        }
    }
}

impl fmt::Debug for TieredCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredCache")
            .field("l1", &self.l1)
            .field("l2", &self.l2())
            .field("subscriber", &self.subscriber())
            .field("repair_pending", &self.repair_pending())
            .field("feed", &self.feed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::set::PermissionSet;

    #[tokio::test]
    async fn local_only_invalidates_l1() {
        let l1 = L1Cache::new(100, Duration::from_secs(60));
        let cache = TieredCache::local(Arc::clone(&l1));
        let key = CacheKey::new(1, 1);
        let t = l1.begin_fill(key);
        assert!(l1.complete_fill(t, Arc::new(PermissionSet::new([1]))));
        assert_eq!(cache.l2_lookup(key).await, L2Lookup::Miss(None));
        let report = cache.invalidate(&Invalidation::User(1)).await;
        assert_eq!(
            report,
            InvalidationReport {
                l1_dropped: 1,
                l2_deleted: None,
                published: false
            }
        );
        assert!(!cache.repair_pending());
    }

    #[tokio::test]
    async fn redis_down_still_invalidates_l1_and_owes_a_repair() {
        let l1 = L1Cache::new(100, Duration::from_secs(60));
        let cache = TieredCache::connect(
            Arc::clone(&l1),
            "redis://127.0.0.1:1/",
            2,
            Duration::from_millis(200),
            Duration::from_secs(60),
            KeySpace::default(),
        )
        .unwrap();
        let key = CacheKey::new(1, 1);
        let t = l1.begin_fill(key);
        assert!(l1.complete_fill(t, Arc::new(PermissionSet::new([1]))));
        let start = std::time::Instant::now();
        let report = cache.invalidate(&Invalidation::Keys(vec![key])).await;
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(report.l1_dropped, 1);
        assert_eq!(report.l2_deleted, None);
        assert!(!report.published);
        assert!(cache.repair_pending());
        assert!(l1.get(key).is_none());
        // While the repair is owed, L2 is neither read nor written.
        assert_eq!(cache.l2_lookup(key).await, L2Lookup::Miss(None));
    }
}
