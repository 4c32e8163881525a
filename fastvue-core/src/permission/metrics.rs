//! Metric names of the permission cache, recorded through the `metrics` crate.
//!
//! Nothing here touches the L1 hit path: the L1 keeps its own striped
//! counters and its background ticker publishes them (as counter deltas) and
//! the entry gauge about four times a second. The L2, the bus and the fill /
//! invalidation paths record directly.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`HITS_TOTAL`] | counter | `tier` = `l1` \| `l2` |
//! | [`MISSES_TOTAL`] | counter | `tier` = `l1` \| `l2` |
//! | [`FILLS_TOTAL`] | counter | `tier` = `l1` \| `l2` |
//! | [`STALE_FILLS_DROPPED_TOTAL`] | counter | `tier` = `l1` \| `l2` |
//! | [`INVALIDATIONS_TOTAL`] | counter | `scope` = `keys` \| `user` \| `company` \| `all`, `source` = `local` \| `remote` \| `pg` \| `resubscribe` \| `suspend` \| `resume` |
//! | [`L1_ENTRIES`] | gauge | — |
//! | [`REDIS_ERRORS_TOTAL`] | counter | `op` = `get` \| `begin_fill` \| `store` \| `invalidate` \| `publish` \| `subscribe` \| `ping` |
//! | [`FEED_LIVE`] | gauge | — |
//! | [`FEED_RECONNECTS_TOTAL`] | counter | — |

/// Cache hits, labelled `tier` = `l1` or `l2`.
pub const HITS_TOTAL: &str = "fastvue_permission_cache_hits_total";
/// Cache misses, labelled `tier` = `l1` or `l2`.
pub const MISSES_TOTAL: &str = "fastvue_permission_cache_misses_total";
/// Values stored into a tier after a miss, labelled `tier`.
pub const FILLS_TOTAL: &str = "fastvue_permission_cache_fills_total";
/// Fills refused because an invalidation raced them (the generation moved
/// between `begin_fill` and the store), labelled `tier`.
pub const STALE_FILLS_DROPPED_TOTAL: &str = "fastvue_permission_cache_stale_fills_dropped_total";
/// Invalidations applied, labelled `scope` and `source`.
pub const INVALIDATIONS_TOTAL: &str = "fastvue_permission_cache_invalidations_total";
/// Entries (user, company slots) currently held by the L1 (gauge).
pub const L1_ENTRIES: &str = "fastvue_permission_cache_l1_entries";
/// Failed or timed-out Redis operations, labelled `op`.
pub const REDIS_ERRORS_TOTAL: &str = "fastvue_permission_cache_redis_errors_total";

/// 1 while the PostgreSQL invalidation feed is proved live (the cache serves), 0 while it
/// is silent longer than `MAX_STALENESS` (every check reads the database).
pub const FEED_LIVE: &str = "fastvue_invalidation_feed_live";
/// Times the invalidation feed's listening connection was lost (the cache was cleared).
pub const FEED_RECONNECTS_TOTAL: &str = "fastvue_invalidation_feed_reconnects_total";

/// Label value of the in-process tier.
pub const TIER_L1: &str = "l1";
/// Label value of the Redis tier.
pub const TIER_L2: &str = "l2";

/// Registers descriptions of every metric with the installed recorder.
/// Optional; call once after installing a recorder (e.g. Prometheus).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(HITS_TOTAL, Unit::Count, "Permission cache hits per tier");
    describe_counter!(
        MISSES_TOTAL,
        Unit::Count,
        "Permission cache misses per tier"
    );
    describe_counter!(FILLS_TOTAL, Unit::Count, "Permission sets stored per tier");
    describe_counter!(
        STALE_FILLS_DROPPED_TOTAL,
        Unit::Count,
        "Fills not stored because an invalidation raced them"
    );
    describe_counter!(
        INVALIDATIONS_TOTAL,
        Unit::Count,
        "Permission cache invalidations per scope and source"
    );
    describe_gauge!(
        L1_ENTRIES,
        Unit::Count,
        "Entries in the in-process permission cache"
    );
    describe_counter!(
        REDIS_ERRORS_TOTAL,
        Unit::Count,
        "Failed or timed-out Redis operations of the permission cache"
    );
}

pub(crate) fn redis_error(op: &'static str) {
    metrics::counter!(REDIS_ERRORS_TOTAL, "op" => op).increment(1);
}

pub(crate) fn invalidation(scope: &'static str, source: &'static str) {
    metrics::counter!(INVALIDATIONS_TOTAL, "scope" => scope, "source" => source).increment(1);
}

pub(crate) fn fill(tier: &'static str) {
    metrics::counter!(FILLS_TOTAL, "tier" => tier).increment(1);
}

pub(crate) fn stale_fill(tier: &'static str) {
    metrics::counter!(STALE_FILLS_DROPPED_TOTAL, "tier" => tier).increment(1);
}

/// Rate limiter for warn logs: lets one message through per `interval`.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    start: std::time::Instant,
    interval_ms: u64,
    /// Milliseconds since `start` of the last emitted log, plus one
    /// (0 = never logged).
    last: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl LogLimiter {
    pub(crate) fn new(interval: std::time::Duration) -> Self {
        Self {
            start: std::time::Instant::now(),
            interval_ms: interval.as_millis() as u64,
            last: std::sync::atomic::AtomicU64::new(0),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(number of messages suppressed since the last one)` when this
    /// message may be logged, `None` when it must be dropped.
    pub(crate) fn permit(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Relaxed);
        if last != 0 && now < last + self.interval_ms {
            self.suppressed.fetch_add(1, Relaxed);
            return None;
        }
        if self
            .last
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Relaxed))
    }
}
