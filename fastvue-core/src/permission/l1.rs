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

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use tokio::sync::broadcast;

use super::catalog::{Catalog, NameCache};
use super::metrics as m;
use super::names::same_bytes;
use super::reach::{Companies, ReachCache, ReachTicket};
use super::set::{PermissionSet, SetInterner};

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

/// Hit / miss / size counters of an [`L1Cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L1Stats {
    /// Lookups answered from the cache (approximate under more than 64
    /// threads: the counters are per-thread stripes updated without a
    /// read-modify-write).
    pub hits: u64,
    /// Lookups that found nothing, or only an expired entry.
    pub misses: u64,
    /// Entries (user, company) currently held, expired ones included until
    /// they are evicted or replaced.
    pub entries: u64,
    /// Users currently indexed by moka (approximate, as moka reports it).
    pub users: u64,
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

// ---------------------------------------------------------------------------
// The fast map

struct Entry {
    set: Arc<PermissionSet>,
    /// Coarse-clock second at which the entry stops answering.
    expires_at: u32,
}

type Hasher = foldhash::fast::RandomState;

/// One shard: the entries, and per user the companies it has entries for
/// (always exactly the keys of `entries` with that user).
#[derive(Default)]
struct ShardData {
    entries: HashMap<CacheKey, Entry, Hasher>,
    users: HashMap<i64, Box<[i64]>, Hasher>,
}

impl ShardData {
    fn user_len(&self, user_id: i64) -> usize {
        self.users.get(&user_id).map_or(0, |c| c.len())
    }

    /// Inserts or replaces `key`, dropping the user's other expired
    /// entries on the way. Returns the change in the number of entries and
    /// whether an entry of `key` was replaced.
    fn insert(&mut self, key: CacheKey, entry: Entry, now: u32) -> (i64, bool) {
        let user = key.user_id;
        let old = self.users.remove(&user).unwrap_or_default();
        let mut kept = Vec::with_capacity(old.len() + 1);
        let mut removed = 0i64;
        for &c in old.iter().filter(|&&c| c != key.company_id) {
            let k = CacheKey::new(user, c);
            if self.entries.get(&k).is_some_and(|e| now < e.expires_at) {
                kept.push(c);
            } else {
                self.entries.remove(&k);
                removed += 1;
            }
        }
        kept.push(key.company_id);
        let replaced = self.entries.insert(key, entry).is_some();
        self.users.insert(user, kept.into_boxed_slice());
        (1 - removed - i64::from(replaced), replaced)
    }

    /// Removes `key`; returns whether it was present.
    fn remove_key(&mut self, key: CacheKey) -> bool {
        if self.entries.remove(&key).is_none() {
            return false;
        }
        if let Some(companies) = self.users.get_mut(&key.user_id) {
            if companies.len() <= 1 {
                self.users.remove(&key.user_id);
            } else {
                *companies = companies
                    .iter()
                    .copied()
                    .filter(|&c| c != key.company_id)
                    .collect();
            }
        }
        true
    }

    /// Removes every entry of `user_id`; returns how many.
    fn remove_user(&mut self, user_id: i64) -> u64 {
        let Some(companies) = self.users.remove(&user_id) else {
            return 0;
        };
        for &c in companies.iter() {
            self.entries.remove(&CacheKey::new(user_id, c));
        }
        companies.len() as u64
    }

    /// Removes every entry of `company_id`; returns the users touched.
    fn remove_company(&mut self, company_id: i64) -> Vec<i64> {
        let ShardData { entries, users } = self;
        let mut touched = Vec::new();
        users.retain(|&user_id, companies| {
            if !companies.contains(&company_id) {
                return true;
            }
            entries.remove(&CacheKey::new(user_id, company_id));
            touched.push(user_id);
            *companies = companies
                .iter()
                .copied()
                .filter(|&c| c != company_id)
                .collect();
            !companies.is_empty()
        });
        touched
    }
}

#[repr(align(128))]
struct Shard(RwLock<ShardData>);

impl Shard {
    fn read(&self) -> RwLockReadGuard<'_, ShardData> {
        // Every mutation keeps `entries` and `users` consistent before it
        // can panic (allocation failure aborts), so ignore poisoning.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, ShardData> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The shards plus the entry counter: shared with moka's eviction listener.
struct Store {
    shards: Box<[Shard]>,
    entries: AtomicI64,
}

impl Store {
    fn shard(&self, user_id: i64) -> &Shard {
        &self.shards[shard_index(user_id)]
    }

    fn slot_count(&self, user_id: i64) -> u32 {
        self.shard(user_id).read().user_len(user_id) as u32
    }

    fn remove_user(&self, user_id: i64) -> u64 {
        let n = self.shard(user_id).write().remove_user(user_id);
        self.entries.fetch_sub(n as i64, Ordering::Relaxed);
        n
    }
}

// ---------------------------------------------------------------------------
// Generations

struct Generations {
    epoch: AtomicU64,
    users: Box<[AtomicU64]>,
    companies: Box<[AtomicU64]>,
    keys: Box<[AtomicU64]>,
}

const K_USER: u64 = 0x9E37_79B9_7F4A_7C15;
const K_COMPANY: u64 = 0xC2B2_AE3D_27D4_EB4F;
const K_KEY: u64 = 0x1656_67B1_9E37_79F9;

impl Generations {
    fn new() -> Self {
        let stripes = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            epoch: AtomicU64::new(0),
            users: stripes(GEN_STRIPES),
            companies: stripes(GEN_STRIPES),
            keys: stripes(KEY_GEN_STRIPES),
        }
    }

    fn user(&self, user_id: i64) -> &AtomicU64 {
        &self.users[stripe(user_id as u64, K_USER, GEN_STRIPES)]
    }
    fn company(&self, company_id: i64) -> &AtomicU64 {
        &self.companies[stripe(company_id as u64, K_COMPANY, GEN_STRIPES)]
    }
    fn key(&self, key: CacheKey) -> &AtomicU64 {
        let x = (key.user_id as u64) ^ (key.company_id as u64).rotate_left(29);
        &self.keys[stripe(x, K_KEY, KEY_GEN_STRIPES)]
    }

    fn ticket(&self, key: CacheKey) -> FillTicket {
        FillTicket {
            key,
            epoch: self.epoch.load(Ordering::SeqCst),
            user_gen: self.user(key.user_id).load(Ordering::SeqCst),
            company_gen: self.company(key.company_id).load(Ordering::SeqCst),
            key_gen: self.key(key).load(Ordering::SeqCst),
        }
    }

    fn unchanged(&self, t: &FillTicket) -> bool {
        *t == self.ticket(t.key)
    }
}

// ---------------------------------------------------------------------------
// Lookup / miss counters: per-thread stripes, written with a plain load + store
// (no lock-prefixed instruction on the hit path). Two threads share a stripe
// only beyond COUNTER_STRIPES threads, where an increment may rarely be lost.
//
// Every lookup bumps `lookups`, and only a miss also bumps `misses` (hits are the
// difference). A hit thus writes one counter whose address does not depend on the
// lookup's outcome. Counting into `hits` or `misses` by outcome made the store's
// address wait for the entry's cache miss, and the next lookup's shard lock (a
// locked instruction, which drains the store buffer) wait for that store: random
// lookups could no longer overlap their memory accesses and took about 3x longer.

#[repr(align(128))]
#[derive(Default)]
struct CounterStripe {
    lookups: AtomicU64,
    misses: AtomicU64,
}

static NEXT_THREAD_STRIPE: AtomicUsize = AtomicUsize::new(0);
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// The per-thread hot-key memo.
struct Memo {
    /// Id of the cache the memo belongs to (0 = none).
    cache: u64,
    key: CacheKey,
    /// The cache's version when the entry was read.
    version: u64,
    expires_at: u32,
    set: Option<Arc<PermissionSet>>,
    /// The last key looked up on the full path (memoised when it repeats).
    seen_cache: u64,
    seen_key: CacheKey,
    /// This thread's counter stripe (`usize::MAX` until assigned).
    stripe: usize,
    /// The last codename resolved through [`L1Cache::contains_codename`].
    name: NameMemo,
    /// This thread's copy of the catalogue, for codenames off the memo.
    names: NameCache,
}

impl Memo {
    /// Whether the memo holds the set of `key` in cache `cache` at `version`, unexpired
    /// at `now`.
    #[inline]
    fn holds(&self, cache: u64, key: CacheKey, version: u64, now: u32) -> bool {
        self.cache == cache
            && self.key == key
            && self.version == version
            && now < self.expires_at
            && self.set.is_some()
    }
}

/// Longest codename the memo keeps (a valid codename has at most 101 bytes).
const NAME_MEMO_BYTES: usize = 104;

/// The last codename this thread resolved to a permission id, with the catalogue
/// ([`Catalog::stamp`]) it was resolved in. A catalogue's mapping at one version never
/// changes, so a repeated codename needs no hashing.
struct NameMemo {
    stamp: (u64, u64),
    len: usize,
    bytes: [u8; NAME_MEMO_BYTES],
    id: Option<u32>,
}

impl NameMemo {
    /// The id of `codename` in `catalog`: from the memo when it holds that codename at
    /// the catalogue's current stamp, else from the catalogue (and remembered).
    #[inline]
    fn resolve(&mut self, catalog: &Catalog, names: &mut NameCache, codename: &str) -> Option<u32> {
        let stamp = catalog.stamp();
        let name = codename.as_bytes();
        if self.stamp == stamp
            && self.len == name.len()
            && self
                .bytes
                .get(..name.len())
                .is_some_and(|memo| same_bytes(memo, name))
        {
            return self.id;
        }
        self.refill(catalog, names, stamp, codename)
    }

    /// Resolves `codename` through the catalogue and remembers it under `stamp`, read
    /// before: the catalogue only grows, so the answer is at least as new as its stamp.
    #[cold]
    #[inline(never)]
    fn refill(
        &mut self,
        catalog: &Catalog,
        names: &mut NameCache,
        stamp: (u64, u64),
        codename: &str,
    ) -> Option<u32> {
        let id = catalog.id_cached(names, codename);
        let name = codename.as_bytes();
        if let Some(slot) = self.bytes.get_mut(..name.len()) {
            slot.copy_from_slice(name);
            self.len = name.len();
            self.stamp = stamp;
            self.id = id;
        }
        id
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            cache: 0,
            key: CacheKey::new(0, 0),
            version: 0,
            expires_at: 0,
            set: None,
            seen_cache: 0,
            seen_key: CacheKey::new(0, 0),
            stripe: usize::MAX,
            name: NameMemo {
                stamp: (0, 0),
                len: 0,
                bytes: [0; NAME_MEMO_BYTES],
                id: None,
            },
            names: NameCache::new(),
        })
    };
}

#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Out of line, so that the compiler keeps a branch on the outcome (predicted: hit)
/// rather than a store whose address or value waits for the lookup.
#[cold]
#[inline(never)]
fn count_miss(stripe: &CounterStripe) {
    bump(&stripe.misses);
}

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

    // --- hit path ---------------------------------------------------------

    #[inline]
    fn count(&self, memo: &mut Memo, hit: bool) {
        if memo.stripe >= COUNTER_STRIPES {
            memo.stripe = NEXT_THREAD_STRIPE.fetch_add(1, Ordering::Relaxed) % COUNTER_STRIPES;
        }
        let c = &self.counters[memo.stripe];
        bump(&c.lookups);
        if !hit {
            count_miss(c);
        }
    }

    /// The lookup behind [`get`](Self::get) and [`contains`](Self::contains).
    ///
    /// Memo safety: the version is read *before* the shard. An invalidation
    /// removes its entries under the shard lock and only then bumps the
    /// version. If this lookup saw an entry that the invalidation removes,
    /// its shard read preceded the removal, so its version read preceded
    /// the bump: the memo it writes carries the old version and is void as
    /// soon as the invalidation returns.
    #[inline]
    fn lookup<R>(&self, key: CacheKey, mut f: impl FnMut(&Arc<PermissionSet>) -> R) -> Option<R> {
        let now = self.clock.load(Ordering::Relaxed);
        let version = self.version.load(Ordering::Acquire);
        let memoised = MEMO.try_with(|memo| {
            // Never re-entered: nothing below calls back into user code.
            let Ok(mut memo) = memo.try_borrow_mut() else {
                return self.probe(key, now, &mut f);
            };
            self.lookup_memo(&mut memo, key, now, version, &mut f)
        });
        // The thread-local is gone only while this thread is exiting.
        memoised.unwrap_or_else(|_| self.probe(key, now, &mut f))
    }

    /// The body of [`lookup`](Self::lookup) once the thread's memo is borrowed.
    #[inline]
    fn lookup_memo<R>(
        &self,
        memo: &mut Memo,
        key: CacheKey,
        now: u32,
        version: u64,
        f: &mut impl FnMut(&Arc<PermissionSet>) -> R,
    ) -> Option<R> {
        if memo.holds(self.id, key, version, now)
            && let Some(set) = &memo.set
        {
            let r = f(set);
            self.count(memo, true);
            return Some(r);
        }
        let shard = self.store.shard(key.user_id).read();
        let found = match shard.entries.get(&key) {
            Some(e) if now < e.expires_at => {
                if memo.seen_cache == self.id && memo.seen_key == key {
                    memo.cache = self.id;
                    memo.key = key;
                    memo.version = version;
                    memo.expires_at = e.expires_at;
                    memo.set = Some(Arc::clone(&e.set));
                } else {
                    memo.seen_cache = self.id;
                    memo.seen_key = key;
                }
                Some(f(&e.set))
            }
            _ => None,
        };
        drop(shard);
        self.count(memo, found.is_some());
        found
    }

    /// The plain shard lookup (no memo, no counters).
    fn probe<R>(
        &self,
        key: CacheKey,
        now: u32,
        f: &mut impl FnMut(&Arc<PermissionSet>) -> R,
    ) -> Option<R> {
        let shard = self.store.shard(key.user_id).read();
        shard
            .entries
            .get(&key)
            .filter(|e| now < e.expires_at)
            .map(|e| f(&e.set))
    }

    /// The cached set of `key`, if present and not expired.
    #[inline]
    pub fn get(&self, key: CacheKey) -> Option<Arc<PermissionSet>> {
        self.lookup(key, Arc::clone)
    }

    /// Whether the cached set of `key` holds `permission_id`; `None` on a
    /// miss. Does not touch the `Arc`'s reference count: the cheapest check.
    #[inline]
    pub fn contains(&self, key: CacheKey, permission_id: u32) -> Option<bool> {
        self.lookup(key, |set| set.contains(permission_id))
    }

    /// Whether the cached set of `key` holds the permission `codename` names in
    /// `catalog`: [`contains`](Self::contains) with the codename resolved through the
    /// thread's memo of the last codename it resolved, so a repeated check (same key,
    /// same codename) costs one thread-local access and no hashing. `None` on a miss
    /// and for a codename the catalogue does not know.
    #[inline]
    pub fn contains_codename(
        &self,
        key: CacheKey,
        codename: &str,
        catalog: &Catalog,
    ) -> Option<bool> {
        let now = self.clock.load(Ordering::Relaxed);
        let version = self.version.load(Ordering::Acquire);
        let answered = MEMO.try_with(|memo| {
            let mut memo = memo.try_borrow_mut().ok()?;
            // The codename memo serves repeated checks only: on the memoised (hot) key.
            if memo.holds(self.id, key, version, now) {
                let memo = &mut *memo;
                let Some(id) = memo.name.resolve(catalog, &mut memo.names, codename) else {
                    return Some(None);
                };
                let held = memo.set.as_ref().is_some_and(|set| set.contains(id));
                self.count(memo, true);
                return Some(Some(held));
            }
            Some(self.contains_name_probe(&mut memo, key, now, version, codename, catalog))
        });
        match answered {
            Ok(Some(held)) => held,
            _ => self.contains_without_memo(key, codename, catalog),
        }
    }

    /// [`contains_codename`](Self::contains_codename) when the thread's memo is borrowed
    /// (never, in practice) or gone (the thread is exiting): the catalogue, then the
    /// plain lookup. Out of line, so that the hot key's path stays a small function.
    #[cold]
    #[inline(never)]
    fn contains_without_memo(
        &self,
        key: CacheKey,
        codename: &str,
        catalog: &Catalog,
    ) -> Option<bool> {
        self.contains(key, catalog.id(codename)?)
    }

    /// [`contains_codename`](Self::contains_codename) off the hot key: the shard, under
    /// the caller's borrow of the memo (one thread-local access per check). The codename
    /// is resolved once the entry is found, so that the catalogue's work overlaps the
    /// entry's cache miss instead of preceding it. Out of line, so that the hot key's
    /// path stays a small function.
    #[inline(never)]
    fn contains_name_probe(
        &self,
        memo: &mut Memo,
        key: CacheKey,
        now: u32,
        version: u64,
        codename: &str,
        catalog: &Catalog,
    ) -> Option<bool> {
        // The catalogue copy leaves the memo for the lookup, which borrows the memo.
        let mut names = std::mem::take(&mut memo.names);
        let found = self.lookup_memo(memo, key, now, version, &mut |set| {
            catalog
                .id_cached(&mut names, codename)
                .map(|id| set.contains(id))
        });
        memo.names = names;
        found.flatten()
    }

    /// Runs `f` on the cached set of `key` under the shard's read lock (no
    /// `Arc` clone); `None` on a miss. Keep `f` short: it blocks writers of
    /// the shard. Does not use the hot-key memo.
    pub fn with_set<R>(&self, key: CacheKey, f: impl FnOnce(&PermissionSet) -> R) -> Option<R> {
        let now = self.clock.load(Ordering::Relaxed);
        let found = {
            let shard = self.store.shard(key.user_id).read();
            shard
                .entries
                .get(&key)
                .filter(|e| now < e.expires_at)
                .map(|e| f(&e.set))
        };
        let _ = MEMO.try_with(|memo| {
            if let Ok(mut memo) = memo.try_borrow_mut() {
                self.count(&mut memo, found.is_some());
            }
        });
        found
    }

    // --- fill path --------------------------------------------------------

    /// Starts a fill of `key`: captures the invalidation generations that
    /// could affect it. Call it **before** reading the value from L2 or the
    /// database, then pass the ticket to [`complete_fill`](Self::complete_fill).
    pub fn begin_fill(&self, key: CacheKey) -> FillTicket {
        self.generations.ticket(key)
    }

    /// Whether no invalidation that could affect the ticket's key (same key,
    /// user, company — or a colliding stripe — or everything) started since the
    /// ticket was taken. Lets caches tied to a user reuse this cache's
    /// invalidations, local and remote (see `auth::active_users`).
    #[inline]
    pub fn is_current(&self, ticket: &FillTicket) -> bool {
        !self.suspended.load(Ordering::SeqCst) && self.generations.unchanged(ticket)
    }

    // --- suspension ---------------------------------------------------------

    /// Stops caching: drops everything (telling the change subscribers) and refuses every
    /// fill, and every ticket is stale, until [`resume`](Self::resume). For a process
    /// that cannot prove it hears the other processes' invalidations: each check then
    /// reads through to the database. The hit path is unchanged (the cache is empty).
    /// Returns whether it was caching until now.
    pub fn suspend(&self) -> bool {
        let was = !self.suspended.swap(true, Ordering::SeqCst);
        // After the flag: a fill that takes the shard lock after the removal sees it.
        self.apply(&Invalidation::All, "suspend");
        was
    }

    /// Caches again after [`suspend`](Self::suspend): drops everything once more (a
    /// fill that began while suspended is refused by the new generation), then lets
    /// fills through. Returns whether it was suspended.
    pub fn resume(&self) -> bool {
        if !self.suspended.load(Ordering::SeqCst) {
            return false;
        }
        self.apply(&Invalidation::All, "resume");
        self.suspended.swap(false, Ordering::SeqCst)
    }

    /// Whether caching is suspended (see [`suspend`](Self::suspend)).
    pub fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::SeqCst)
    }

    /// The cache of companies where a user holds a codename, invalidated with this one.
    pub(crate) fn reach(&self) -> &ReachCache {
        &self.reach
    }

    /// Stores a user's reach unless invalidated since `ticket` or suspended.
    pub(crate) fn complete_reach(
        &self,
        ticket: ReachTicket,
        codename: &str,
        companies: Companies,
    ) -> bool {
        self.reach
            .complete(ticket, codename, companies, &self.suspended)
    }

    /// Stores `set` for the ticket's key unless an invalidation that could
    /// affect the key (same key, user, company — or a colliding stripe — or
    /// everything) started since [`begin_fill`](Self::begin_fill). Returns
    /// whether the set was stored. The set is interned first, so identical
    /// sets share memory.
    ///
    /// `true` does not promise the entry is still there afterwards: an
    /// invalidation that started after the check removes it.
    pub fn complete_fill(&self, ticket: FillTicket, set: Arc<PermissionSet>) -> bool {
        let key = ticket.key;
        let set = self.interner.intern_arc(set);
        let shard = self.store.shard(key.user_id);
        // Why checking under the shard's write lock is race-free (and why
        // no re-check after the insert is needed):
        //
        // An invalidation first bumps a generation (G), then takes the write
        // lock of every shard it cleans and removes the matching entries
        // (R). This fill takes the same write lock, compares the
        // generations (C) and inserts (S) before releasing it. The two
        // critical sections are ordered by the lock:
        //  * fill first: S happens-before R, so R sees the entry and removes
        //    it; whatever C read, nothing stale survives the invalidation.
        //  * invalidation first: G is sequenced before R's unlock, which
        //    synchronises with the fill's lock, so G happens-before C and C
        //    must observe the bumped generation: nothing is stored.
        // Hence once an invalidation has returned, no fill that began before
        // it is visible, not even for an instant (the "check, insert,
        // re-check" variant leaves a window between S and the re-check in
        // which a reader on the invalidating thread could see the stale set).
        let mut data = shard.write();
        if !self.generations.unchanged(&ticket) || self.suspended.load(Ordering::SeqCst) {
            drop(data);
            m::stale_fill(m::TIER_L1);
            return false;
        }
        #[cfg(test)]
        if let Some(hook) = self.fill_hook.lock().unwrap().as_ref() {
            hook();
        }
        let now = self.clock.load(Ordering::Relaxed);
        let entry = Entry {
            set,
            expires_at: now.saturating_add(self.ttl_secs),
        };
        let (delta, replaced) = data.insert(key, entry, now);
        self.store.entries.fetch_add(delta, Ordering::Relaxed);
        drop(data);
        if replaced {
            // A thread may have memoised the replaced set.
            self.void_memos();
        }
        self.sync_index(key.user_id);
        m::fill(m::TIER_L1);
        true
    }

    /// Brings moka's record of `user_id` (its entry count, used as the
    /// weight) in line with the shards. Serialised per user stripe and
    /// reading the count inside the critical section, so the last update
    /// always writes the latest count. Never called with a shard lock held
    /// (moka may run its eviction listener, which takes shard locks, on
    /// this thread).
    fn sync_index(&self, user_id: i64) {
        let _guard = self.sync_locks[stripe(user_id as u64, K_USER, SYNC_STRIPES)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = self.store.slot_count(user_id);
        if count == 0 {
            self.index.invalidate(&user_id);
        } else {
            self.index.insert(user_id, count);
        }
    }

    // --- change notifications ---------------------------------------------

    /// A receiver of every invalidation this cache applies from now on — local
    /// writes, other processes' writes received over the bus, operator
    /// invalidations, and the full clear after the bus subscription was lost — each
    /// sent once its entries are gone, so a reader that recomputes on receipt sees
    /// the new state. The scope may be wider than what changed (dropping too much is
    /// always allowed).
    ///
    /// The channel buffers a bounded number of scopes per receiver; a receiver that
    /// falls further behind gets [`broadcast::error::RecvError::Lagged`] and must
    /// treat it as [`Invalidation::All`] (everything may have changed). Costs
    /// nothing measurable while nobody subscribes.
    pub fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.changes.subscribe()
    }

    /// Tells the subscribers that `scope` may have changed without dropping anything
    /// (the bus does this when it subscribes for the first time with nothing cached:
    /// changes made elsewhere before then were not seen).
    pub(crate) fn announce(&self, scope: Invalidation) {
        // Err only when nobody subscribes: nobody to tell.
        let _ = self.changes.send(scope);
    }

    // --- invalidation -----------------------------------------------------
    //
    // Order in every scope: bump the generation(s) (refuses racing fills),
    // remove under the shard write locks, then bump `version` (voids the
    // thread-local memos), then fix moka's weights.

    /// Drops the entry of `key`. Returns the number of entries dropped (0 or 1).
    pub fn invalidate_key(&self, key: CacheKey) -> u64 {
        self.invalidate_keys_with(&[key], "local")
    }

    /// Drops the entries of `keys`. Returns the number of entries dropped.
    pub fn invalidate_keys(&self, keys: &[CacheKey]) -> u64 {
        self.invalidate_keys_with(keys, "local")
    }

    /// Drops every entry of `user_id`. Returns the number of entries dropped.
    pub fn invalidate_user(&self, user_id: i64) -> u64 {
        self.invalidate_user_with(user_id, "local")
    }

    /// Drops every entry of `company_id` (visits every shard: rare
    /// operation). Returns the number of entries dropped.
    pub fn invalidate_company(&self, company_id: i64) -> u64 {
        self.invalidate_company_with(company_id, "local")
    }

    /// Drops everything. Returns the number of entries dropped.
    pub fn invalidate_all(&self) -> u64 {
        self.invalidate_all_with("local")
    }

    /// Applies an [`Invalidation`]; returns the number of entries dropped.
    pub fn invalidate(&self, scope: &Invalidation) -> u64 {
        self.apply(scope, "local")
    }

    /// Applies `scope`, labelling the metric with `source`.
    pub(crate) fn apply(&self, scope: &Invalidation, source: &'static str) -> u64 {
        match scope {
            Invalidation::Keys(keys) => self.invalidate_keys_with(keys, source),
            Invalidation::User(u) => self.invalidate_user_with(*u, source),
            Invalidation::Company(c) => self.invalidate_company_with(*c, source),
            Invalidation::All => self.invalidate_all_with(source),
        }
    }

    fn void_memos(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    fn invalidate_keys_with(&self, keys: &[CacheKey], source: &'static str) -> u64 {
        let mut users: Vec<i64> = keys.iter().map(|k| k.user_id).collect();
        users.sort_unstable();
        users.dedup();
        self.reach.forget_users(users.iter().copied());
        for &key in keys {
            self.generations.key(key).fetch_add(1, Ordering::SeqCst);
        }
        let mut touched = Vec::new();
        for &key in keys {
            if self.store.shard(key.user_id).write().remove_key(key) {
                touched.push(key.user_id);
            }
        }
        self.void_memos();
        let dropped = touched.len() as u64;
        self.store
            .entries
            .fetch_sub(dropped as i64, Ordering::Relaxed);
        touched.sort_unstable();
        touched.dedup();
        for user_id in touched {
            self.sync_index(user_id);
        }
        m::invalidation("keys", source);
        if self.changes.receiver_count() > 0 {
            self.announce(Invalidation::Keys(keys.to_vec()));
        }
        dropped
    }

    fn invalidate_user_with(&self, user_id: i64, source: &'static str) -> u64 {
        self.reach.forget_users([user_id]);
        self.generations
            .user(user_id)
            .fetch_add(1, Ordering::SeqCst);
        let dropped = self.store.remove_user(user_id);
        self.void_memos();
        if dropped > 0 {
            self.sync_index(user_id);
        }
        m::invalidation("user", source);
        self.announce(Invalidation::User(user_id));
        dropped
    }

    fn invalidate_company_with(&self, company_id: i64, source: &'static str) -> u64 {
        self.reach.forget_all();
        self.generations
            .company(company_id)
            .fetch_add(1, Ordering::SeqCst);
        let mut touched = Vec::new();
        for shard in self.store.shards.iter() {
            touched.extend(shard.write().remove_company(company_id));
        }
        self.void_memos();
        let dropped = touched.len() as u64;
        self.store
            .entries
            .fetch_sub(dropped as i64, Ordering::Relaxed);
        for user_id in touched {
            self.sync_index(user_id);
        }
        m::invalidation("company", source);
        self.announce(Invalidation::Company(company_id));
        dropped
    }

    fn invalidate_all_with(&self, source: &'static str) -> u64 {
        self.reach.forget_all();
        self.generations.epoch.fetch_add(1, Ordering::SeqCst);
        // moka first: an entry a concurrent (post-bump) fill registers after
        // this line survives, so no user ends up in the shards unindexed.
        self.index.invalidate_all();
        let mut dropped = 0u64;
        for shard in self.store.shards.iter() {
            let old = std::mem::take(&mut *shard.write());
            let n = old.entries.len() as u64;
            dropped += n;
            self.store.entries.fetch_sub(n as i64, Ordering::Relaxed);
            drop(old); // outside the lock
        }
        self.void_memos();
        m::invalidation("all", source);
        self.announce(Invalidation::All);
        dropped
    }

    // --- housekeeping -----------------------------------------------------

    /// Entries (user, company) currently held.
    pub fn entry_count(&self) -> u64 {
        self.store.entries.load(Ordering::Relaxed).max(0) as u64
    }

    /// Hit / miss counters and sizes.
    pub fn stats(&self) -> L1Stats {
        let (lookups, misses) = self.counters.iter().fold((0u64, 0u64), |(l, mi), c| {
            (
                l + c.lookups.load(Ordering::Relaxed),
                mi + c.misses.load(Ordering::Relaxed),
            )
        });
        L1Stats {
            hits: lookups.saturating_sub(misses),
            misses,
            entries: self.entry_count(),
            users: self.index.entry_count(),
        }
    }

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

    fn publish_metrics(&self) {
        let stats = self.stats();
        let dh = stats
            .hits
            .saturating_sub(self.published_hits.swap(stats.hits, Ordering::Relaxed));
        let dm = stats
            .misses
            .saturating_sub(self.published_misses.swap(stats.misses, Ordering::Relaxed));
        if dh > 0 {
            metrics::counter!(m::HITS_TOTAL, "tier" => m::TIER_L1).increment(dh);
        }
        if dm > 0 {
            metrics::counter!(m::MISSES_TOTAL, "tier" => m::TIER_L1).increment(dm);
        }
        metrics::gauge!(m::L1_ENTRIES).set(stats.entries as f64);
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
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn set(ids: &[u32]) -> Arc<PermissionSet> {
        Arc::new(PermissionSet::new(ids.iter().copied()))
    }

    fn fill(cache: &L1Cache, key: CacheKey, ids: &[u32]) -> bool {
        let t = cache.begin_fill(key);
        cache.complete_fill(t, set(ids))
    }

    fn k(u: i64, c: i64) -> CacheKey {
        CacheKey::new(u, c)
    }

    /// Checks that every shard's per-user company lists match its entries
    /// exactly; returns the number of entries.
    fn consistent_total(cache: &L1Cache) -> u64 {
        let mut total = 0u64;
        for shard in cache.store.shards.iter() {
            let data = shard.read();
            let listed: usize = data.users.values().map(|c| c.len()).sum();
            assert_eq!(listed, data.entries.len());
            for (user, companies) in data.users.iter() {
                for c in companies.iter() {
                    assert!(data.entries.contains_key(&CacheKey::new(*user, *c)));
                }
            }
            total += data.entries.len() as u64;
        }
        total
    }

    #[test]
    fn subscribers_receive_every_applied_invalidation() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        // Without a subscriber nothing is buffered.
        cache.invalidate_user(9);
        let mut rx = cache.subscribe();
        assert!(fill(&cache, k(1, 1), &[1]));
        cache.invalidate_key(k(1, 1));
        cache.invalidate_user(2);
        cache.invalidate_company(3);
        cache.invalidate_all();
        cache.apply(&Invalidation::User(4), "remote");
        let got: Vec<Invalidation> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            got,
            [
                Invalidation::Keys(vec![k(1, 1)]),
                Invalidation::User(2),
                Invalidation::Company(3),
                Invalidation::All,
                Invalidation::User(4),
            ]
        );
        // The entry was gone when its notification was sent.
        assert!(cache.get(k(1, 1)).is_none());
    }

    #[test]
    fn a_suspended_cache_holds_nothing_stores_nothing_and_no_ticket_is_current() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let mut rx = cache.subscribe();
        assert!(fill(&cache, k(1, 1), &[1]));
        let early = cache.begin_fill(k(2, 1));
        assert!(cache.is_current(&early));
        assert!(cache.suspend());
        assert!(!cache.suspend(), "suspending twice reports it was already");
        assert!(cache.is_suspended());
        assert!(cache.get(k(1, 1)).is_none());
        assert_eq!(rx.try_recv().ok(), Some(Invalidation::All));
        // A fill begun before or during the suspension stores nothing.
        assert!(!cache.is_current(&early));
        assert!(!cache.complete_fill(early, set(&[2])));
        let during = cache.begin_fill(k(3, 1));
        assert!(!cache.complete_fill(during, set(&[3])));
        assert!(!fill(&cache, k(3, 1), &[3]));
        assert_eq!(cache.entry_count(), 0);
        // Resuming drops once more: a ticket taken while suspended stays stale.
        let stale = cache.begin_fill(k(4, 1));
        assert!(cache.resume());
        assert!(!cache.resume());
        assert!(!cache.complete_fill(stale, set(&[4])));
        assert!(fill(&cache, k(4, 1), &[4]));
        assert!(cache.get(k(4, 1)).is_some());
    }

    #[test]
    fn hit_and_miss() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        assert!(cache.get(k(1, 1)).is_none());
        assert_eq!(cache.contains(k(1, 1), 3), None);
        assert!(fill(&cache, k(1, 1), &[3, 1, 2]));
        assert!(fill(&cache, k(1, 2), &[9]));
        let got = cache.get(k(1, 1)).unwrap();
        assert_eq!(got.ids(), &[1, 2, 3]);
        assert_eq!(cache.contains(k(1, 1), 3), Some(true));
        assert_eq!(cache.contains(k(1, 1), 9), Some(false));
        assert_eq!(cache.contains(k(1, 2), 9), Some(true));
        assert_eq!(cache.with_set(k(1, 2), |s| s.len()), Some(1));
        assert!(cache.get(k(2, 1)).is_none());
        assert!(cache.get(k(1, 3)).is_none());
        assert_eq!(cache.entry_count(), 2);
        let stats = cache.stats();
        assert_eq!(stats.hits, 5);
        assert_eq!(stats.misses, 4);
        // Refilling a key replaces it.
        assert!(fill(&cache, k(1, 1), &[7]));
        assert_eq!(cache.get(k(1, 1)).unwrap().ids(), &[7]);
        assert_eq!(cache.entry_count(), 2);
    }

    /// The thread-local hot-key memo never outlives an invalidation, a
    /// replacement or the TTL, and never mixes two caches.
    #[test]
    fn hot_key_memo_is_voided() {
        let a = L1Cache::new(1000, Duration::from_secs(10));
        let b = L1Cache::new(1000, Duration::from_secs(10));
        let key = k(1, 1);
        fill(&a, key, &[1]);
        fill(&b, key, &[2]);
        for _ in 0..3 {
            assert_eq!(a.contains(key, 1), Some(true));
            assert_eq!(b.contains(key, 2), Some(true));
        }
        // Now memoised on this thread (same key twice in a row).
        for _ in 0..3 {
            assert_eq!(a.contains(key, 1), Some(true));
        }
        assert_eq!(b.contains(key, 1), Some(false), "caches mixed");
        for _ in 0..3 {
            assert_eq!(a.contains(key, 1), Some(true));
        }
        // Invalidation from another thread voids this thread's memo.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(a.invalidate_user(1), 1));
        });
        assert_eq!(a.contains(key, 1), None);
        assert!(a.get(key).is_none());
        // Refill, memoise, replace by a fill: the new set is seen.
        fill(&a, key, &[1]);
        for _ in 0..3 {
            assert_eq!(a.contains(key, 1), Some(true));
        }
        fill(&a, key, &[5]);
        assert_eq!(a.contains(key, 1), Some(false));
        assert_eq!(a.get(key).unwrap().ids(), &[5]);
        // Expiry applies to the memo too.
        for _ in 0..3 {
            assert!(a.get(key).is_some());
        }
        a.advance_clock_for_testing(10);
        assert!(a.get(key).is_none());
        assert_eq!(a.contains(key, 5), None);
        // Every other scope voids it as well.
        type Inv = fn(&L1Cache) -> u64;
        let scopes: [Inv; 4] = [
            |c| c.invalidate_key(k(1, 1)),
            |c| c.invalidate_keys(&[k(1, 1)]),
            |c| c.invalidate_company(1),
            |c| c.invalidate_all(),
        ];
        for invalidate in scopes {
            fill(&a, key, &[1]);
            for _ in 0..3 {
                assert_eq!(a.contains(key, 1), Some(true));
            }
            assert_eq!(invalidate(&a), 1);
            assert_eq!(a.contains(key, 1), None);
        }
    }

    /// The codename memo answers exactly what the catalogue would: unknown codenames
    /// are misses until learned, each catalogue keeps its own ids, and codenames too
    /// long for the memo are still resolved.
    #[test]
    fn contains_codename_off_the_memo_resolves_after_the_probe_and_counts_hits_and_misses() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let (a, b, absent) = (k(1, 1), k(2, 1), k(3, 1));
        fill(&cache, a, &[1]);
        fill(&cache, b, &[2]);
        let catalog = Catalog::default();
        catalog.learn([(1, "user.read"), (2, "user.delete")]);
        // Alternating keys are never memoised: every check takes the shard probe.
        for _ in 0..3 {
            assert_eq!(
                cache.contains_codename(a, "user.read", &catalog),
                Some(true)
            );
            assert_eq!(
                cache.contains_codename(b, "user.read", &catalog),
                Some(false)
            );
            assert_eq!(
                cache.contains_codename(a, "user.delete", &catalog),
                Some(false)
            );
            assert_eq!(
                cache.contains_codename(b, "user.delete", &catalog),
                Some(true)
            );
            // A codename the catalogue does not know is held by no cached set.
            assert_eq!(cache.contains_codename(a, "nope.nope", &catalog), None);
            assert_eq!(cache.contains_codename(absent, "user.read", &catalog), None);
        }
        let stats = cache.stats();
        // Five lookups found their entry and one missed, three times over.
        assert_eq!((stats.hits, stats.misses), (15, 3));
    }

    #[test]
    fn off_the_memo_the_threads_catalogue_copy_follows_learning_and_switches_catalogues() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let (a, b) = (k(1, 1), k(2, 1));
        fill(&cache, a, &[1, 3]);
        fill(&cache, b, &[2]);
        let catalog = Catalog::default();
        catalog.learn([(1, "user.read")]);
        // Alternating keys: every check resolves its codename through the memo's copy.
        for _ in 0..2 {
            assert_eq!(
                cache.contains_codename(a, "user.read", &catalog),
                Some(true)
            );
            assert_eq!(cache.contains_codename(b, "role.read", &catalog), None);
        }
        // The copy was taken before "role.read" and the long codename were learned: the
        // next checks must see them.
        let long = format!("report_{}.export", "x".repeat(40));
        catalog.learn([(2, "role.read"), (3, long.as_str())]);
        for _ in 0..2 {
            assert_eq!(
                cache.contains_codename(a, "user.read", &catalog),
                Some(true)
            );
            assert_eq!(
                cache.contains_codename(b, "role.read", &catalog),
                Some(true)
            );
            assert_eq!(cache.contains_codename(a, &long, &catalog), Some(true));
            assert_eq!(cache.contains_codename(b, &long, &catalog), Some(false));
        }
        // Another catalogue maps the same codenames to other ids; checks that switch
        // between the two answer from each one's own mapping.
        let other = Catalog::default();
        other.learn([(2, "user.read"), (1, "role.read")]);
        for _ in 0..2 {
            assert_eq!(cache.contains_codename(a, "user.read", &other), Some(false));
            assert_eq!(
                cache.contains_codename(b, "user.read", &catalog),
                Some(false)
            );
            assert_eq!(cache.contains_codename(a, "role.read", &other), Some(true));
            assert_eq!(cache.contains_codename(b, "user.read", &other), Some(true));
        }
    }

    #[test]
    fn contains_codename_answers_what_the_catalogue_maps() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let key = k(1, 1);
        fill(&cache, key, &[1, 2, 7]);
        let catalog = Catalog::default();
        for _ in 0..3 {
            assert_eq!(cache.contains_codename(key, "user.read", &catalog), None);
        }
        catalog.learn([(1, "user.read"), (3, "user.delete")]);
        for _ in 0..3 {
            assert_eq!(
                cache.contains_codename(key, "user.read", &catalog),
                Some(true)
            );
        }
        for _ in 0..3 {
            assert_eq!(
                cache.contains_codename(key, "user.delete", &catalog),
                Some(false)
            );
        }
        let other = Catalog::default();
        other.learn([(5, "user.read"), (2, "user.delete")]);
        for _ in 0..3 {
            assert_eq!(
                cache.contains_codename(key, "user.read", &other),
                Some(false)
            );
            assert_eq!(
                cache.contains_codename(key, "user.read", &catalog),
                Some(true)
            );
        }
        // On the memoised key, an unknown codename is remembered as unknown under the
        // catalogue's stamp; learning it moves the stamp, so the memo does not keep
        // answering "unknown".
        for _ in 0..3 {
            assert_eq!(cache.contains_codename(key, "role.read", &catalog), None);
        }
        catalog.learn([(2, "role.read")]);
        assert_eq!(
            cache.contains_codename(key, "role.read", &catalog),
            Some(true)
        );
        // Codenames shorter than a word, and of exactly one word, are compared byte for
        // byte: a name differing in its last byte from the remembered one is not taken
        // for it. Each is asked twice in a row (the second answer comes from the memo).
        catalog.learn([(4, "a.b"), (5, "abc.defg")]);
        let expected = [
            ("a.b", Some(false)),
            ("a.c", None),
            ("abc.defg", Some(false)),
            ("abc.defh", None),
            ("user.read", Some(true)),
        ];
        for (name, held) in expected.into_iter().cycle().take(15) {
            for _ in 0..2 {
                assert_eq!(cache.contains_codename(key, name, &catalog), held, "{name}");
            }
        }
        let long = format!("{}.{}", "r".repeat(50), "a".repeat(NAME_MEMO_BYTES));
        catalog.learn([(7, long.as_str())]);
        for _ in 0..3 {
            assert_eq!(cache.contains_codename(key, &long, &catalog), Some(true));
        }
        assert_eq!(
            cache.contains_codename(k(2, 1), "user.read", &catalog),
            None
        );
    }

    #[test]
    fn identical_sets_are_shared() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        fill(&cache, k(1, 1), &[1, 2, 3]);
        fill(&cache, k(2, 5), &[3, 2, 1]);
        let a = cache.get(k(1, 1)).unwrap();
        let b = cache.get(k(2, 5)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn many_companies_per_user_sorted_lookup() {
        let cache = L1Cache::new(10_000, Duration::from_secs(60));
        // Insert in a scrambled order, more than LINEAR_SCAN_MAX companies.
        for i in 0..100i64 {
            let c = (i * 37) % 100;
            assert!(fill(&cache, k(7, c), &[c as u32]));
        }
        for c in 0..100i64 {
            assert_eq!(cache.contains(k(7, c), c as u32), Some(true), "company {c}");
        }
        assert!(cache.get(k(7, 100)).is_none());
        assert_eq!(cache.entry_count(), 100);
    }

    #[test]
    fn ttl_expiry_uses_the_coarse_clock() {
        let cache = L1Cache::new(1000, Duration::from_secs(10));
        fill(&cache, k(1, 1), &[1]);
        cache.advance_clock_for_testing(5);
        fill(&cache, k(1, 2), &[2]);
        assert!(cache.get(k(1, 1)).is_some());
        cache.advance_clock_for_testing(5);
        // k(1,1) is 10 s old: expired. k(1,2) is 5 s old.
        assert!(cache.get(k(1, 1)).is_none());
        assert_eq!(cache.contains(k(1, 1), 1), None);
        assert!(cache.get(k(1, 2)).is_some());
        cache.advance_clock_for_testing(5);
        assert!(cache.get(k(1, 2)).is_none());
        // A refill after expiry works, and prunes the expired slots.
        assert!(fill(&cache, k(1, 3), &[3]));
        assert_eq!(cache.entry_count(), 1);
        assert!(cache.get(k(1, 3)).is_some());
    }

    #[test]
    fn capacity_bound_holds() {
        let max = 100;
        let cache = L1Cache::new(max, Duration::from_secs(600));
        for u in 0..150i64 {
            fill(&cache, k(u, 1), &[1]);
            fill(&cache, k(u, 2), &[2]);
        }
        cache.run_pending_tasks();
        cache.run_pending_tasks();
        let n = cache.entry_count();
        assert!(n <= max, "entry_count {n} > {max}");
        assert!(n >= max / 2, "evicted far too much: {n}");
        // The most recently filled users survive (LRU over fills).
        assert!(cache.get(k(149, 1)).is_some());
        assert!(cache.get(k(149, 2)).is_some());
        assert!(cache.get(k(0, 1)).is_none());
        // Fast map and moka agree.
        let slots = consistent_total(&cache);
        assert_eq!(slots, n);
        assert!(cache.index.weighted_size() <= max);
    }

    #[test]
    fn a_user_bigger_than_the_cache_is_not_kept() {
        let cache = L1Cache::new(3, Duration::from_secs(600));
        for c in 0..5 {
            fill(&cache, k(1, c), &[1]);
        }
        cache.run_pending_tasks();
        assert!(cache.entry_count() <= 3);
    }

    fn populate(cache: &L1Cache) {
        // users 1..=3, companies 10..=12: 9 entries.
        for u in 1..=3 {
            for c in 10..=12 {
                assert!(fill(cache, k(u, c), &[u as u32, c as u32]));
            }
        }
        assert_eq!(cache.entry_count(), 9);
    }

    fn present(cache: &L1Cache) -> Vec<(i64, i64)> {
        let mut v = Vec::new();
        for u in 1..=3 {
            for c in 10..=12 {
                if cache.get(k(u, c)).is_some() {
                    v.push((u, c));
                }
            }
        }
        v
    }

    #[test]
    fn invalidate_key_and_keys() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        populate(&cache);
        assert_eq!(cache.invalidate_key(k(1, 10)), 1);
        assert_eq!(cache.invalidate_key(k(1, 10)), 0);
        assert_eq!(cache.invalidate_key(k(9, 9)), 0);
        assert_eq!(
            cache.invalidate_keys(&[k(2, 11), k(3, 12), k(3, 99), k(2, 11)]),
            2
        );
        assert_eq!(cache.entry_count(), 6);
        let p = present(&cache);
        assert!(!p.contains(&(1, 10)) && !p.contains(&(2, 11)) && !p.contains(&(3, 12)));
        assert_eq!(p.len(), 6);
        // Removing a user's last slot drops the user from moka too.
        assert_eq!(cache.invalidate_keys(&[k(1, 11), k(1, 12)]), 2);
        cache.run_pending_tasks();
        assert!(!cache.index.contains_key(&1));
        assert_eq!(cache.index.get(&2), Some(2));
    }

    #[test]
    fn invalidate_user() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        populate(&cache);
        assert_eq!(cache.invalidate_user(2), 3);
        assert_eq!(cache.invalidate_user(2), 0);
        let p = present(&cache);
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|&(u, _)| u != 2));
        assert_eq!(cache.entry_count(), 6);
    }

    #[test]
    fn invalidate_company() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        populate(&cache);
        fill(&cache, k(4, 11), &[1]); // a user whose only slot goes
        assert_eq!(cache.invalidate_company(11), 4);
        assert_eq!(cache.invalidate_company(11), 0);
        let p = present(&cache);
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|&(_, c)| c != 11));
        assert!(cache.get(k(4, 11)).is_none());
        assert_eq!(cache.entry_count(), 6);
        cache.run_pending_tasks();
        assert!(!cache.index.contains_key(&4));
        assert_eq!(cache.index.get(&1), Some(2));
    }

    #[test]
    fn invalidate_all() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        populate(&cache);
        assert_eq!(cache.invalidate_all(), 9);
        assert_eq!(cache.invalidate_all(), 0);
        assert!(present(&cache).is_empty());
        assert_eq!(cache.entry_count(), 0);
        // The cache is usable afterwards.
        assert!(fill(&cache, k(1, 10), &[1]));
        cache.run_pending_tasks();
        assert!(cache.get(k(1, 10)).is_some());
        assert_eq!(cache.index.get(&1), Some(1));
    }

    #[test]
    fn invalidate_by_scope_enum() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        populate(&cache);
        assert_eq!(cache.invalidate(&Invalidation::Keys(vec![k(1, 10)])), 1);
        assert_eq!(cache.invalidate(&Invalidation::User(2)), 3);
        // users 1 and 3 still have company 12
        assert_eq!(cache.invalidate(&Invalidation::Company(12)), 2);
        assert_eq!(cache.invalidate(&Invalidation::All), 3);
    }

    /// begin_fill, invalidation, complete_fill: the stale set is refused.
    #[test]
    fn fill_racing_an_invalidation_is_not_stored() {
        type Inv = fn(&L1Cache) -> u64;
        let scopes: [(&str, Inv); 5] = [
            ("key", |c| c.invalidate_key(k(1, 10))),
            ("keys", |c| c.invalidate_keys(&[k(1, 10)])),
            ("user", |c| c.invalidate_user(1)),
            ("company", |c| c.invalidate_company(10)),
            ("all", |c| c.invalidate_all()),
        ];
        for (name, invalidate) in scopes {
            let cache = L1Cache::new(1000, Duration::from_secs(60));
            let ticket = cache.begin_fill(k(1, 10));
            // ... the slow database read happens here; meanwhile a write
            // commits and invalidates:
            let _ = invalidate(&cache);
            assert!(
                !cache.complete_fill(ticket, set(&[1, 2])),
                "{name}: stale fill stored"
            );
            assert!(cache.get(k(1, 10)).is_none(), "{name}: stale set served");
            assert_eq!(cache.entry_count(), 0, "{name}");
            // A fill that begins after the invalidation is stored.
            assert!(fill(&cache, k(1, 10), &[1]), "{name}: fresh fill refused");
            assert!(cache.get(k(1, 10)).is_some());
        }
    }

    /// Unrelated invalidations do not block a fill.
    #[test]
    fn unrelated_invalidation_does_not_block_fill() {
        let cache = L1Cache::new(1000, Duration::from_secs(60));
        let ticket = cache.begin_fill(k(1, 10));
        cache.invalidate_user(2);
        cache.invalidate_company(11);
        cache.invalidate_key(k(2, 10));
        // (a stripe collision would only cause a harmless refusal; these
        // ids do not collide)
        assert!(cache.complete_fill(ticket, set(&[1])));
        assert!(cache.get(k(1, 10)).is_some());
    }

    /// The interleaving "generation check passed, then an invalidation
    /// lands, then the insert": the invalidation bumps its generation while
    /// the fill sits between check and insert (held there by a hook); it
    /// then blocks on the shard lock and removes the slot right after the
    /// insert. Whatever the interleaving, the stale set is never served
    /// once the invalidation has returned.
    #[test]
    fn invalidation_between_check_and_insert_removes_the_stale_set() {
        type Inv = fn(&L1Cache) -> u64;
        let scopes: [(&str, Inv); 4] = [
            ("key", |c| c.invalidate_key(k(1, 10))),
            ("user", |c| c.invalidate_user(1)),
            ("company", |c| c.invalidate_company(10)),
            ("all", |c| c.invalidate_all()),
        ];
        for (name, invalidate) in scopes {
            let cache = L1Cache::new(1000, Duration::from_secs(60));
            let before = cache.begin_fill(k(1, 10));
            let (checked_tx, checked_rx) = mpsc::channel::<()>();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let go_rx = Mutex::new(go_rx);
            cache.set_fill_hook(Some(Box::new(move || {
                checked_tx.send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            })));
            std::thread::scope(|s| {
                let filler = s.spawn(|| cache.complete_fill(before, set(&[1, 2])));
                checked_rx.recv().unwrap(); // check passed, lock held
                let invalidator = s.spawn(|| invalidate(&cache));
                // Wait until the invalidation has bumped its generation
                // (it then blocks on the shard lock held by the filler).
                while cache.generations.unchanged(&before) {
                    std::thread::yield_now();
                }
                go_tx.send(()).unwrap(); // let the insert happen
                assert!(filler.join().unwrap(), "{name}: fill had passed its check");
                let dropped = invalidator.join().unwrap();
                assert_eq!(
                    dropped, 1,
                    "{name}: invalidation must drop the racing insert"
                );
            });
            cache.set_fill_hook(None);
            assert!(cache.get(k(1, 10)).is_none(), "{name}: stale set served");
            assert_eq!(cache.entry_count(), 0, "{name}");
        }
    }

    #[test]
    fn ticker_stops_when_cache_dropped() {
        let cache = L1Cache::new(10, Duration::from_secs(60));
        let weak = Arc::downgrade(&cache);
        drop(cache);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn ticker_advances_clock() {
        let cache = L1Cache::new(10, Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.clock.load(Ordering::Relaxed) == 0 {
            assert!(
                Instant::now() < deadline,
                "ticker did not advance the clock"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn concurrent_fills_and_invalidations_keep_index_consistent() {
        let cache = L1Cache::new(50, Duration::from_secs(600));
        std::thread::scope(|s| {
            for t in 0..4i64 {
                let cache = &cache;
                s.spawn(move || {
                    for i in 0..2000i64 {
                        let u = (i * 7 + t) % 40;
                        let c = i % 5;
                        match i % 11 {
                            0 => {
                                cache.invalidate_user(u);
                            }
                            1 if t == 0 => {
                                cache.invalidate_company(c);
                            }
                            _ => {
                                fill(cache, k(u, c), &[c as u32]);
                            }
                        }
                        let _ = cache.get(k(u, c));
                    }
                });
            }
        });
        cache.run_pending_tasks();
        cache.run_pending_tasks();
        let slots = consistent_total(&cache);
        assert_eq!(slots, cache.entry_count());
        assert!(cache.entry_count() <= 50, "{}", cache.entry_count());
        // Every user in the shards is indexed by moka with its slot count
        // (no orphan escapes the capacity bound).
        for shard in cache.store.shards.iter() {
            for (user, v) in shard.read().users.iter() {
                assert_eq!(cache.index.get(user), Some(v.len() as u32), "user {user}");
            }
        }
    }
}
