//! The Redis permission cache tier (L2), shared by every replica.
//!
//! * Value key: `user:{user_id}:company:{company_id}:permissions`, a JSON
//!   array of permission codenames, stored with `EX ttl` (the format
//!   operators already read with `redis-cli`).
//! * Generation keys: `fastvue:permgen:all`, `fastvue:permgen:user:{id}`,
//!   `fastvue:permgen:company:{id}` — integers bumped with `INCR` by every
//!   invalidation *before* it deletes value keys. They have no TTL (one
//!   small key per user / company that was ever invalidated).
//! * A fill reads the three generations of its key ([`RedisTier::begin_fill`]
//!   or [`RedisTier::lookup`]) before reading the database, and stores with a
//!   Lua script that `SET`s only if they are unchanged
//!   ([`RedisTier::store`]). The script runs atomically in Redis, so an
//!   invalidation by any replica either precedes the script (the script sees
//!   the bumped generation and refuses) or follows it (its `DEL` / `SCAN`
//!   removes the value). Note: the script touches several keys, so this
//!   layout needs a single Redis (not Redis Cluster).
//! * Every name above (and the bus channel and login counters) can be put
//!   under a prefix, `REDIS_KEY_PREFIX` (see [`KeySpace`]); without one the
//!   names are exactly as written here.
//!
//! # Failure policy
//!
//! Every Redis round trip (pool checkout included) is bounded by
//! `pool_timeout`. Reads and fills **never** return an error: Redis down or
//! slow reads as a miss, a store that cannot run is skipped; each failure
//! increments `fastvue_permission_cache_redis_errors_total{op}` and logs a
//! warning at most once every 5 s. After a failed read or fill the tier
//! skips reads and fills for one second (a circuit breaker), so a dead Redis
//! costs at most one `pool_timeout` per second instead of one per check.
//!
//! Invalidations return `Result<u64, L2Error>` instead: a failed L2
//! invalidation means Redis may still hold a stale set, which the caller
//! must know about to repair it later (see
//! [`TieredCache`](super::tiered::TieredCache), which does so). They still
//! never hang beyond the timeout per round trip and are not skipped by the
//! circuit breaker. The L1 is a separate object: a local invalidation
//! succeeds whatever Redis does.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::l1::{CacheKey, Invalidation};
use super::metrics::{self as m, LogLimiter};

use crate::redis::Redis;
pub use crate::redis::{KeySpace, RedisPool};

const SCAN_COUNT: usize = 1000;
const BREAKER_OPEN: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Why a Redis operation failed.
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    /// The URL could not be parsed, or Redis answered with an error.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// No pooled connection, or no answer, within the pool timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Generations of a key read before a fill; pass it to [`RedisTier::store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTicket {
    key: CacheKey,
    /// Values of the all / user / company generation keys ("0" if absent).
    gens: [String; 3],
}

impl RemoteTicket {
    /// The key this ticket is for.
    pub fn key(&self) -> CacheKey {
        self.key
    }
}

/// Result of [`RedisTier::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Lookup {
    /// Redis holds the key's codenames.
    Hit(Vec<String>),
    /// Redis holds nothing (or could not be read). The ticket, when
    /// present, allows storing the value computed from the database; it is
    /// `None` when Redis is unavailable (then do not store).
    Miss(Option<RemoteTicket>),
}

/// Lua: SET KEYS[1] = ARGV[4] EX ARGV[5] only if the generation keys
/// KEYS[2..4] still hold ARGV[1..3] (a missing key counts as "0").
const STORE_SCRIPT: &str = r"
local cur = redis.call('MGET', KEYS[2], KEYS[3], KEYS[4])
for i = 1, 3 do
  local v = cur[i]
  if not v then v = '0' end
  if v ~= ARGV[i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[5])
return 1
";

/// The Redis tier. Cheap to share by reference; clone the [`RedisPool`]
/// with [`pool`](Self::pool) to reuse its connections elsewhere (the bus).
pub struct RedisTier {
    pool: RedisPool,
    keys: KeySpace,
    timeout: Duration,
    ttl_secs: u64,
    script: redis::Script,
    log: LogLimiter,
    started: Instant,
    /// Milliseconds since `started` until which reads and fills are skipped.
    breaker_until: AtomicU64,
}

impl RedisTier {
    /// Builds the tier and its pool (`pool_size` connections at most,
    /// connections opened lazily). Fails only on a malformed URL. Must be
    /// called inside a Tokio runtime (the pool spawns its reaper task).
    pub fn new(
        redis_url: &str,
        pool_size: u32,
        pool_timeout: Duration,
        ttl: Duration,
    ) -> Result<Self, L2Error> {
        let pool = crate::redis::pool(redis_url, pool_size, pool_timeout)?;
        Ok(Self::from_pool(pool, pool_timeout, ttl))
    }

    /// Builds the tier over an existing pool.
    pub fn from_pool(pool: RedisPool, pool_timeout: Duration, ttl: Duration) -> Self {
        Self {
            pool,
            keys: KeySpace::default(),
            timeout: pool_timeout,
            ttl_secs: ttl.as_secs().max(1),
            script: redis::Script::new(STORE_SCRIPT),
            log: LogLimiter::new(LOG_EVERY),
            started: Instant::now(),
            breaker_until: AtomicU64::new(0),
        }
    }

    /// The same tier with its keys under `keys`.
    pub fn with_keys(mut self, keys: KeySpace) -> Self {
        self.keys = keys;
        self
    }

    /// The names of the keys this tier uses.
    pub fn keys(&self) -> &KeySpace {
        &self.keys
    }

    /// A handle on this tier's pool, round-trip bound and key space, for the other
    /// users of Redis (rate limits, sign-in state).
    pub fn redis(&self) -> Redis {
        Redis {
            pool: self.pool.clone(),
            timeout: self.timeout,
            keys: self.keys.clone(),
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &RedisPool {
        &self.pool
    }

    /// The bound on every round trip.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The TTL set on stored values.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs)
    }

    /// Whether a Redis operation failed within the last second (the
    /// circuit breaker is open: reads and fills are being skipped).
    pub fn is_degraded(&self) -> bool {
        self.breaker_open()
    }

    // --- plumbing ---------------------------------------------------------

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn breaker_open(&self) -> bool {
        self.now_ms() < self.breaker_until.load(Ordering::Relaxed)
    }

    fn trip_breaker(&self) {
        let until = self.now_ms() + BREAKER_OPEN.as_millis() as u64;
        self.breaker_until.store(until, Ordering::Relaxed);
    }

    fn report(&self, op: &'static str, err: &L2Error) {
        m::redis_error(op);
        if let Some(suppressed) = self.log.permit() {
            tracing::warn!(
                op,
                error = %err,
                suppressed,
                "permission cache: Redis operation failed; continuing without it"
            );
        }
    }

    /// One round trip: checkout + `f`, bounded by the timeout.
    async fn run<T>(
        &self,
        f: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, L2Error> {
        let work = async {
            let mut conn = self.pool.get().await.map_err(|e| match e {
                bb8_redis::bb8::RunError::User(e) => L2Error::Redis(e),
                bb8_redis::bb8::RunError::TimedOut => L2Error::Timeout(self.timeout),
            })?;
            f(&mut conn).await.map_err(L2Error::Redis)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or(Err(L2Error::Timeout(self.timeout)))
    }

    /// A read or fill round trip: skipped while the breaker is open;
    /// failures trip it and are reported. Never errors.
    async fn soft<T>(
        &self,
        op: &'static str,
        f: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        if self.breaker_open() {
            return None;
        }
        match self.run(f).await {
            Ok(v) => Some(v),
            Err(e) => {
                self.trip_breaker();
                self.report(op, &e);
                None
            }
        }
    }

    fn parse(&self, key: CacheKey, raw: &str) -> Option<Vec<String>> {
        match serde_json::from_str::<Vec<String>>(raw) {
            Ok(v) => Some(v),
            Err(e) => {
                m::redis_error("decode");
                if let Some(suppressed) = self.log.permit() {
                    tracing::warn!(
                        user_id = key.user_id,
                        company_id = key.company_id,
                        error = %e,
                        suppressed,
                        "permission cache: unreadable value in Redis; treating it as a miss"
                    );
                }
                None
            }
        }
    }

    fn count(hit: bool) {
        if hit {
            metrics::counter!(m::HITS_TOTAL, "tier" => m::TIER_L2).increment(1);
        } else {
            metrics::counter!(m::MISSES_TOTAL, "tier" => m::TIER_L2).increment(1);
        }
    }

    // --- reads and fills --------------------------------------------------

    /// The codenames cached for `key`; `None` on a miss, an unreadable
    /// value, or any Redis trouble.
    pub async fn get(&self, key: CacheKey) -> Option<Vec<String>> {
        let k = self.keys.value(key);
        let raw: Option<String> = self
            .soft("get", async |c| {
                redis::cmd("GET").arg(&k).query_async(c).await
            })
            .await
            .flatten();
        let v = raw.and_then(|raw| self.parse(key, &raw));
        Self::count(v.is_some());
        v
    }

    /// Reads the generations of `key` (one `MGET`) so that a later
    /// [`store`](Self::store) can refuse a stale value. Call it **before**
    /// the database read. `None` when Redis is unavailable (do not store).
    pub async fn begin_fill(&self, key: CacheKey) -> Option<RemoteTicket> {
        let keys = [
            self.keys.gen_all(),
            self.keys.gen_user(key.user_id),
            self.keys.gen_company(key.company_id),
        ];
        let vals: Vec<Option<String>> = self
            .soft("begin_fill", async |c| {
                redis::cmd("MGET").arg(&keys).query_async(c).await
            })
            .await?;
        ticket_from(key, &vals)
    }

    /// [`get`](Self::get) and [`begin_fill`](Self::begin_fill) in one round
    /// trip (`MGET value, gen_all, gen_user, gen_company`): the miss path's
    /// first Redis call.
    pub async fn lookup(&self, key: CacheKey) -> L2Lookup {
        let keys = [
            self.keys.value(key),
            self.keys.gen_all(),
            self.keys.gen_user(key.user_id),
            self.keys.gen_company(key.company_id),
        ];
        let vals: Option<Vec<Option<String>>> = self
            .soft("get", async |c| {
                redis::cmd("MGET").arg(&keys).query_async(c).await
            })
            .await;
        let Some(vals) = vals else {
            Self::count(false);
            return L2Lookup::Miss(None);
        };
        if let Some(codenames) = vals
            .first()
            .and_then(|v| v.as_deref())
            .and_then(|raw| self.parse(key, raw))
        {
            Self::count(true);
            return L2Lookup::Hit(codenames);
        }
        Self::count(false);
        L2Lookup::Miss(vals.get(1..).and_then(|g| ticket_from(key, g)))
    }

    /// Stores `codenames` for `key` (JSON array, `EX ttl`) unless an
    /// invalidation bumped a generation of the key since `ticket` was taken.
    /// Returns whether the value was stored; never errors.
    pub async fn store<S: AsRef<str>>(
        &self,
        key: CacheKey,
        ticket: &RemoteTicket,
        codenames: &[S],
    ) -> bool {
        if ticket.key != key {
            debug_assert!(false, "RemoteTicket for {:?} used for {key:?}", ticket.key);
            return false;
        }
        let names: Vec<&str> = codenames.iter().map(AsRef::as_ref).collect();
        let json = match serde_json::to_string(&names) {
            Ok(j) => j,
            Err(_) => return false,
        };
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.keys.value(key))
            .key(self.keys.gen_all())
            .key(self.keys.gen_user(key.user_id))
            .key(self.keys.gen_company(key.company_id))
            .arg(&ticket.gens[0])
            .arg(&ticket.gens[1])
            .arg(&ticket.gens[2])
            .arg(json)
            .arg(self.ttl_secs);
        let stored: Option<i64> = self
            .soft("store", async |c| invocation.invoke_async(c).await)
            .await;
        match stored {
            Some(1) => {
                m::fill(m::TIER_L2);
                true
            }
            Some(_) => {
                m::stale_fill(m::TIER_L2);
                false
            }
            None => false,
        }
    }

    // --- invalidation -----------------------------------------------------

    async fn hard<T>(
        &self,
        f: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, L2Error> {
        let r = self.run(f).await;
        if let Err(e) = &r {
            self.trip_breaker();
            self.report("invalidate", e);
        }
        r
    }

    /// Bumps the user generation of every key, then deletes the keys.
    /// Returns the number of Redis keys deleted.
    pub async fn invalidate_keys(&self, keys: &[CacheKey]) -> Result<u64, L2Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut users: Vec<i64> = keys.iter().map(|k| k.user_id).collect();
        users.sort_unstable();
        users.dedup();
        let mut pipe = redis::pipe();
        for u in users {
            pipe.cmd("INCR").arg(self.keys.gen_user(u)).ignore();
        }
        pipe.cmd("DEL")
            .arg(keys.iter().map(|k| self.keys.value(*k)).collect::<Vec<_>>());
        let (deleted,): (u64,) = self.hard(async |c| pipe.query_async(c).await).await?;
        m::invalidation("keys", "local");
        Ok(deleted)
    }

    /// Bumps the user's generation, then deletes every
    /// `user:{user_id}:company:*:permissions` key. Returns the number deleted.
    pub async fn invalidate_user(&self, user_id: i64) -> Result<u64, L2Error> {
        let gen_key = self.keys.gen_user(user_id);
        let _: i64 = self
            .hard(async |c| redis::cmd("INCR").arg(&gen_key).query_async(c).await)
            .await?;
        let n = self.scan_delete(&self.keys.user_pattern(user_id)).await?;
        m::invalidation("user", "local");
        Ok(n)
    }

    /// Bumps the company's generation, then deletes every
    /// `user:*:company:{company_id}:permissions` key. Returns the number
    /// deleted.
    pub async fn invalidate_company(&self, company_id: i64) -> Result<u64, L2Error> {
        let gen_key = self.keys.gen_company(company_id);
        let _: i64 = self
            .hard(async |c| redis::cmd("INCR").arg(&gen_key).query_async(c).await)
            .await?;
        let n = self
            .scan_delete(&self.keys.company_pattern(company_id))
            .await?;
        m::invalidation("company", "local");
        Ok(n)
    }

    /// Bumps the global generation, then deletes every
    /// `user:*:company:*:permissions` key. Returns the number deleted.
    pub async fn invalidate_all(&self) -> Result<u64, L2Error> {
        let gen_key = self.keys.gen_all();
        let _: i64 = self
            .hard(async |c| redis::cmd("INCR").arg(&gen_key).query_async(c).await)
            .await?;
        let n = self.scan_delete(&self.keys.all_pattern()).await?;
        m::invalidation("all", "local");
        Ok(n)
    }

    /// Applies an [`Invalidation`]; returns the number of keys deleted.
    pub async fn invalidate(&self, scope: &Invalidation) -> Result<u64, L2Error> {
        match scope {
            Invalidation::Keys(keys) => self.invalidate_keys(keys).await,
            Invalidation::User(u) => self.invalidate_user(*u).await,
            Invalidation::Company(c) => self.invalidate_company(*c).await,
            Invalidation::All => self.invalidate_all().await,
        }
    }

    /// `SCAN MATCH pattern` + `DEL` batch by batch; each round trip is
    /// bounded by the timeout. SCAN returns every key that exists for the
    /// whole scan, and no matching key can be created meanwhile by a fill
    /// that started before the generation bump (the store script refuses
    /// it), so nothing stale survives.
    async fn scan_delete(&self, pattern: &str) -> Result<u64, L2Error> {
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .hard(async |c| {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(c)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let n: u64 = self
                    .hard(async |c| redis::cmd("DEL").arg(&keys).query_async(c).await)
                    .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    // --- operator views ---------------------------------------------------

    /// The raw value Redis holds for `key` (normally a JSON array of codenames), for
    /// operators comparing the cache with the database. Unlike [`get`](Self::get) it
    /// reports Redis trouble instead of reading it as a miss, and ignores the breaker.
    pub async fn raw_value(&self, key: CacheKey) -> Result<Option<String>, L2Error> {
        let k = self.keys.value(key);
        self.run(async |c| redis::cmd("GET").arg(&k).query_async(c).await)
            .await
    }

    /// How many permission sets Redis holds under this key space (`SCAN` over
    /// `user:*:company:*:permissions`, batch by batch; each round trip bounded by the
    /// timeout). Approximate while Redis resizes its table (`SCAN` may then return a
    /// key twice).
    pub async fn count_values(&self) -> Result<u64, L2Error> {
        let pattern = self.keys.all_pattern();
        let mut cursor: u64 = 0;
        let mut count = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .run(async |c| {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(c)
                        .await
                })
                .await?;
            count += keys.len() as u64;
            if next == 0 {
                return Ok(count);
            }
            cursor = next;
        }
    }

    // --- health -----------------------------------------------------------

    /// Round-trip time of a `PING` (pool checkout included), for health
    /// checks. Not subject to the circuit breaker.
    pub async fn ping(&self) -> Result<Duration, L2Error> {
        let start = Instant::now();
        let r: Result<String, L2Error> = self
            .run(async |c| redis::cmd("PING").query_async(c).await)
            .await;
        match r {
            Ok(_) => Ok(start.elapsed()),
            Err(e) => {
                m::redis_error("ping");
                Err(e)
            }
        }
    }
}

fn ticket_from(key: CacheKey, vals: &[Option<String>]) -> Option<RemoteTicket> {
    if vals.len() != 3 {
        return None;
    }
    let g = |i: usize| vals[i].clone().unwrap_or_else(|| "0".to_owned());
    Some(RemoteTicket {
        key,
        gens: [g(0), g(1), g(2)],
    })
}

impl fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTier")
            .field("timeout", &self.timeout)
            .field("ttl_secs", &self.ttl_secs)
            .field("pool", &self.pool.state())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_formats() {
        let k = KeySpace::default();
        assert_eq!(
            k.value(CacheKey::new(12, 34)),
            "user:12:company:34:permissions"
        );
        assert_eq!(k.gen_all(), "fastvue:permgen:all");
        assert_eq!(k.gen_user(5), "fastvue:permgen:user:5");
        assert_eq!(k.gen_company(6), "fastvue:permgen:company:6");
        assert_eq!(k.channel(), "fastvue:permissions:invalidate");
        assert_eq!(k.user_pattern(5), "user:5:company:*:permissions");
        let t = KeySpace::new("t1:");
        assert_eq!(
            t.value(CacheKey::new(1, 2)),
            "t1:user:1:company:2:permissions"
        );
        assert_eq!(t.company_pattern(2), "t1:user:*:company:2:permissions");
        assert_eq!(t.all_pattern(), "t1:user:*:company:*:permissions");
        assert_eq!(t.channel(), "t1:fastvue:permissions:invalidate");
        assert_eq!(
            t.login_failures("::1", "ann"),
            "t1:fastvue:login:fail:::1:ann"
        );
        assert_eq!(t.oauth_state("abc_-1"), "t1:fastvue:oauth:state:abc_-1");
    }

    #[test]
    fn tickets_treat_missing_generations_as_zero() {
        let t = ticket_from(CacheKey::new(1, 2), &[None, Some("3".into()), None]).unwrap();
        assert_eq!(t.gens, ["0".to_owned(), "3".to_owned(), "0".to_owned()]);
        assert!(ticket_from(CacheKey::new(1, 2), &[None]).is_none());
    }

    #[tokio::test]
    async fn unreachable_redis_is_a_fast_miss() {
        // Port 1 is closed: connections are refused.
        let tier = RedisTier::new(
            "redis://127.0.0.1:1/",
            2,
            Duration::from_millis(200),
            Duration::from_secs(60),
        )
        .unwrap();
        let key = CacheKey::new(1, 1);
        let start = Instant::now();
        assert_eq!(tier.get(key).await, None);
        assert!(start.elapsed() < Duration::from_secs(2));
        // Breaker open: the next calls return at once.
        let start = Instant::now();
        assert_eq!(tier.lookup(key).await, L2Lookup::Miss(None));
        assert!(tier.begin_fill(key).await.is_none());
        assert!(start.elapsed() < Duration::from_millis(100));
        assert!(tier.invalidate_user(1).await.is_err());
        assert!(tier.ping().await.is_err());
    }
}
