//! The in-process permission cache (L1).
//!
//! # Layout
//!
//! * **Hit path**: 128 shards (by user), each a
//!   `RwLock<HashMap<(user, company), {Arc<PermissionSet>, expires_at}>>`
//!   (foldhash). [`L1Cache::get`] / [`L1Cache::contains`] = one shard read
//!   lock + one hash probe + an expiry check against a *coarse clock* (an
//!   `AtomicU32` of seconds, advanced by a background ticker thread). No
//!   `Instant::now`, no moka, no allocation.
//! * **Hot keys**: each thread memoises the last key it looked up twice in
//!   a row (key, `Arc`, expiry, cache version). A repeated lookup is
//!   answered from the thread-local memo with plain loads only — no lock,
//!   no read-modify-write. Every invalidation bumps the cache version
//!   *after* removing its entries, which voids all memos (see
//!   `L1Cache::lookup` for the argument); expiry is checked as usual. The
//!   memo also keeps the last codename resolved by
//!   [`L1Cache::contains_codename`] with its id and the catalogue's version,
//!   so a repeated check does not hash the codename either.
//! * **Bounds**: a `moka::sync::Cache<user_id, slot_count>` indexes the
//!   *users*, weighted by how many (user, company) entries they hold, with
//!   `max_capacity` = `max_entries` and `time_to_live` = `ttl`. Its eviction
//!   listener drops the user's entries from the shards when moka evicts for
//!   `Size` or `Expired`. moka therefore costs about 360 B per *user* (not
//!   per entry) and its bookkeeping runs on fills and invalidations only.
//!   Its eviction policy is LRU over fills: hits never reach moka, so a
//!   frequency sketch would only see fills and would reject newcomers;
//!   plain LRU admits every fill and evicts the user filled longest ago.
//!   Each shard also keeps, per user, the list of companies it holds, so a
//!   user's entries can be dropped without a scan. The per-entry
//!   `expires_at` enforces each entry's TTL to the second.
//! * **Race-free fills**: see [`L1Cache::begin_fill`] and
//!   [`L1Cache::complete_fill`], and the comment in `complete_fill` for the
//!   argument.
//!
//! The ticker (one thread per cache, holding only a `Weak`) also runs moka's
//! pending maintenance about once a second and publishes the hit / miss
//! counters and the entry gauge to the `metrics` recorder. It stops when the
//! cache is dropped.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use tokio::sync::broadcast;

use super::reach::ReachCache;
use super::set::SetInterner;

mod fill;
mod generations;
mod invalidate;
mod lookup;
mod memo;
mod shard;
mod stats;

use generations::Generations;
use shard::{Shard, ShardData, Store};
use stats::CounterStripe;
pub use stats::L1Stats;

/// Key of a cached permission set: one user in one company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey {
    /// The user.
    pub user_id: i64,
    /// The company (tenant) the permissions apply in.
    pub company_id: i64,
}

impl CacheKey {
    /// A key for `user_id` in `company_id`.
    pub const fn new(user_id: i64, company_id: i64) -> Self {
        Self {
            user_id,
            company_id,
        }
    }
}

/// The scope of an invalidation, shared by the L1, the Redis tier and the
/// invalidation bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Exactly these (user, company) keys.
    Keys(Vec<CacheKey>),
    /// Every key of one user.
    User(i64),
    /// Every key of one company.
    Company(i64),
    /// Everything.
    All,
}

impl Invalidation {
    /// The scope's metric / wire label: `keys`, `user`, `company` or `all`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Keys(_) => "keys",
            Self::User(_) => "user",
            Self::Company(_) => "company",
            Self::All => "all",
        }
    }

    /// Whether `key` falls into this scope.
    pub fn covers(&self, key: CacheKey) -> bool {
        match self {
            Self::Keys(keys) => keys.contains(&key),
            Self::User(u) => key.user_id == *u,
            Self::Company(c) => key.company_id == *c,
            Self::All => true,
        }
    }
}

/// Proof that a fill began: the invalidation generations that could affect
/// `key`, as they were when [`L1Cache::begin_fill`] ran. Take it **before**
/// reading the value (from L2 or the database); hand it to
/// [`L1Cache::complete_fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillTicket {
    key: CacheKey,
    epoch: u64,
    user_gen: u64,
    company_gen: u64,
    key_gen: u64,
}

impl FillTicket {
    /// The key this ticket is for.
    pub fn key(&self) -> CacheKey {
        self.key
    }
}

// ---------------------------------------------------------------------------
// Constants

const SHARD_BITS: u32 = 7;
const SHARDS: usize = 1 << SHARD_BITS;
const GEN_STRIPES: usize = 4096;
/// Key generations: many more stripes than users' and companies', because a role change
/// bumps one per holder (thousands at once), and every other key whose stripe it shares
/// loses its pending fills and its authenticated-user entries (`auth::active_users`).
/// 65,536 stripes (512 KiB) keep that to about 1.5% of keys for 1,000 bumps.
const KEY_GEN_STRIPES: usize = 65_536;
const SYNC_STRIPES: usize = 256;
const COUNTER_STRIPES: usize = 64;
const TICK: Duration = Duration::from_millis(250);
const MAINTENANCE_EVERY_TICKS: u32 = 4;
/// Applied invalidations buffered per change subscriber before it lags.
const CHANGE_CAPACITY: usize = 1024;

#[inline]
fn mix(x: u64, k: u64) -> u64 {
    let y = (x ^ (x >> 32)).wrapping_mul(k);
    y ^ (y >> 29)
}

#[inline]
fn shard_index(user_id: i64) -> usize {
    (((user_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> (64 - SHARD_BITS)) as usize
}

#[inline]
fn stripe(x: u64, k: u64, n: usize) -> usize {
    (mix(x, k) as usize) & (n - 1)
}

static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

// ---------------------------------------------------------------------------
// The cache

/// The in-process permission cache. See the [module docs](self).
///
/// Built with [`L1Cache::new`], which returns an `Arc` (the background
/// ticker holds a `Weak` to it and stops when the last `Arc` is dropped).
pub struct L1Cache {
    id: u64,
    store: Arc<Store>,
    index: moka::sync::Cache<i64, u32>,
    generations: Generations,
    /// Bumped after every invalidation has removed its entries; voids the
    /// thread-local memos.
    version: AtomicU64,
    /// Serialises the moka update of a user (see `sync_index`).
    sync_locks: Box<[Mutex<()>]>,
    interner: SetInterner,
    counters: Box<[CounterStripe]>,
    /// Coarse clock: seconds since `started`, plus `clock_offset`.
    clock: AtomicU32,
    clock_offset: AtomicU32,
    started: Instant,
    ttl_secs: u32,
    max_entries: u64,
    published_hits: AtomicU64,
    published_misses: AtomicU64,
    ticker: OnceLock<std::thread::Thread>,
    /// Every applied invalidation, for [`L1Cache::subscribe`].
    changes: broadcast::Sender<Invalidation>,
    /// While set, nothing is stored and no ticket is current: this process cannot prove
    /// it hears other processes' invalidations, so every check reads through (see
    /// [`L1Cache::suspend`]).
    suspended: AtomicBool,
    /// The companies where a user holds a codename, dropped with this cache's entries.
    reach: ReachCache,
    #[cfg(test)]
    fill_hook: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl L1Cache {
    /// A cache holding at most `max_entries` (user, company) entries, each
    /// for `ttl` (rounded down to whole seconds, at least one second).
    ///
    /// Spawns the cache's ticker thread (named `fastvue-l1-ticker`).
    ///
    /// # Panics
    ///
    /// If the operating system refuses to spawn the ticker thread.
    pub fn new(max_entries: u64, ttl: Duration) -> Arc<Self> {
        let ttl_secs = ttl.as_secs().clamp(1, u64::from(u32::MAX / 2)) as u32;
        let store = Arc::new(Store {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(ShardData::default())))
                .collect(),
            entries: AtomicI64::new(0),
        });
        let listener_store = Arc::clone(&store);
        let index = moka::sync::Cache::builder()
            .name("fastvue-permission-l1-users")
            .max_capacity(max_entries)
            .weigher(|_user: &i64, slots: &u32| *slots)
            .time_to_live(Duration::from_secs(u64::from(ttl_secs)))
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |user: Arc<i64>, _slots: u32, cause: RemovalCause| {
                // Replaced: a newer count for the same user, nothing to drop.
                // Explicit: our own invalidation already removed the entries.
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    listener_store.remove_user(*user);
                }
            })
            .build();
        let cache = Arc::new(Self {
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            store,
            index,
            generations: Generations::new(),
            version: AtomicU64::new(0),
            sync_locks: (0..SYNC_STRIPES).map(|_| Mutex::new(())).collect(),
            interner: SetInterner::new(),
            counters: (0..COUNTER_STRIPES)
                .map(|_| CounterStripe::default())
                .collect(),
            clock: AtomicU32::new(0),
            clock_offset: AtomicU32::new(0),
            started: Instant::now(),
            ttl_secs,
            max_entries,
            published_hits: AtomicU64::new(0),
            published_misses: AtomicU64::new(0),
            ticker: OnceLock::new(),
            changes: broadcast::channel(CHANGE_CAPACITY).0,
            suspended: AtomicBool::new(false),
            reach: ReachCache::new(
                usize::try_from(max_entries).unwrap_or(usize::MAX),
                Duration::from_secs(u64::from(ttl_secs)),
            ),
            #[cfg(test)]
            fill_hook: Mutex::new(None),
        });
        let weak = Arc::downgrade(&cache);
        let handle = std::thread::Builder::new()
            .name("fastvue-l1-ticker".into())
            .spawn(move || ticker_loop(weak))
            .expect("spawn the permission cache ticker thread");
        let _ = cache.ticker.set(handle.thread().clone());
        cache
    }

    /// The configured capacity in entries.
    pub fn max_entries(&self) -> u64 {
        self.max_entries
    }

    /// The configured time-to-live of an entry.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.ttl_secs))
    }

    /// The interner that deduplicates the sets this cache stores. Sets
    /// passed to [`complete_fill`](Self::complete_fill) are interned through
    /// it automatically; use it to intern sets built elsewhere.
    pub fn interner(&self) -> &SetInterner {
        &self.interner
    }

    // --- housekeeping -----------------------------------------------------

    /// Runs moka's pending maintenance now (evictions for size and TTL).
    /// The ticker does this about once a second; tests call it directly.
    pub fn run_pending_tasks(&self) {
        self.index.run_pending_tasks();
    }

    /// Moves the coarse clock forward by `secs` seconds, expiring entries
    /// early. Meant for tests (of this crate and of embedders) that check
    /// TTL behaviour without sleeping; moka's own TTL is not affected.
    pub fn advance_clock_for_testing(&self, secs: u32) {
        self.clock_offset.fetch_add(secs, Ordering::SeqCst);
        self.refresh_clock();
    }

    fn refresh_clock(&self) {
        let now = (self
            .started
            .elapsed()
            .as_secs()
            .min(u64::from(u32::MAX / 2)) as u32)
            .saturating_add(self.clock_offset.load(Ordering::SeqCst));
        self.clock.fetch_max(now, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn set_fill_hook(&self, hook: Option<Box<dyn Fn() + Send + Sync>>) {
        *self.fill_hook.lock().unwrap() = hook;
    }
}

fn ticker_loop(weak: Weak<L1Cache>) {
    let mut ticks = 0u32;
    loop {
        std::thread::park_timeout(TICK);
        let Some(cache) = weak.upgrade() else {
            return;
        };
        cache.refresh_clock();
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(MAINTENANCE_EVERY_TICKS) {
            cache.run_pending_tasks();
            cache.publish_metrics();
        }
    }
}

impl Drop for L1Cache {
    fn drop(&mut self) {
        // Wake the ticker so it notices the cache is gone right away.
        if let Some(thread) = self.ticker.get() {
            thread.unpark();
        }
    }
}

impl fmt::Debug for L1Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1Cache")
            .field("max_entries", &self.max_entries)
            .field("ttl_secs", &self.ttl_secs)
            .field("entries", &self.entry_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
