//! [`LoginLimiter`]: failed sign-ins per client IP and login name; [`RequestLimiter`]:
//! events per minute of one counter: requests of an API key, sign-in attempts of a
//! client IP (all of them, so rotating usernames does not escape it), Google sign-ins
//! started by a client IP.
//!
//! After `RATE_LIMIT_LOGIN_PER_MINUTE` failures for one `(ip, login)` within a window of
//! 60 seconds (counted from the first failure), further attempts are refused until the
//! window ends; a successful sign-in clears the counter.
//!
//! With Redis configured the counters live in Redis, shared by every replica: key
//! `{REDIS_KEY_PREFIX}fastvue:login:fail:{ip}:{login lower-cased}`, created with `SET 0 EX 60 NX` and
//! bumped with `INCR` in one `MULTI`. The limiter reuses the permission cache's
//! connection pool. Redis trouble never fails a sign-in: the limiter then counts in
//! process for a second before trying Redis again. Without Redis it always counts in
//! process (bounded, entries expire with their window).
//!
//! The request limiter counts the same way (fixed windows of 60 seconds from the first
//! event), in `{REDIS_KEY_PREFIX}fastvue:apikey:rate:{key_id}`,
//! `{REDIS_KEY_PREFIX}fastvue:login:ip:{ip}`, `{REDIS_KEY_PREFIX}fastvue:oauth:ip:{ip}`,
//! `{REDIS_KEY_PREFIX}fastvue:mail:ip:{ip}` and `{REDIS_KEY_PREFIX}fastvue:mail:to:{address}`
//! (mails asked for), with the same fallback.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::LimitSettings;
use crate::error::Error;
use crate::permission::metrics::LogLimiter;
use crate::redis::{KeySpace, Redis, RedisPool};

/// Length of a counting window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Longest login name kept in a key; longer ones are cut (they cannot be valid anyway).
const MAX_LOGIN_CHARS: usize = 320;
const LOCAL_CAPACITY: u64 = 100_000;
const REDIS_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Window {
    /// Failed sign-ins (login limiter) or requests (API key limiter) in this window.
    failures: u32,
    started: Instant,
}

struct Remote {
    /// Which limiter, for the logs.
    what: &'static str,
    pool: RedisPool,
    timeout: Duration,
    started: Instant,
    /// Milliseconds since `started` until which Redis is not tried.
    paused_until: AtomicU64,
    log: LogLimiter,
}

/// Counts failed sign-ins and says when to refuse more (see the [module docs](self)).
pub struct LoginLimiter {
    limit: u32,
    window: Duration,
    keys: KeySpace,
    local: moka::sync::Cache<String, Window>,
    remote: Option<Remote>,
}

impl fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("redis", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// A limiter allowing `limit` failures per [`WINDOW`]; with `redis` the counters
    /// are kept there, sharing the tier's pool, round-trip bound and key prefix.
    pub fn new(limit: u32, redis: Option<&Redis>) -> Self {
        Self::with_window(limit, WINDOW, redis)
    }

    /// Like [`LoginLimiter::new`] with another window length.
    pub fn with_window(limit: u32, window: Duration, redis: Option<&Redis>) -> Self {
        Self {
            keys: redis.map(|r| r.keys.clone()).unwrap_or_default(),
            limit: limit.max(1),
            window,
            local: moka::sync::Cache::builder()
                .max_capacity(LOCAL_CAPACITY)
                .time_to_live(window)
                .build(),
            remote: redis.map(|r| Remote::new("login limiter", r)),
        }
    }

    /// Failures allowed per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The counter key of an `(ip, login)` pair (the login trimmed, lower-cased, cut).
    pub fn key(&self, ip: &str, login: &str) -> String {
        let login: String = login
            .trim()
            .to_lowercase()
            .chars()
            .take(MAX_LOGIN_CHARS)
            .collect();
        self.keys.login_failures(ip, &login)
    }

    /// `Some(seconds to wait)` when `(ip, login)` has used up its failures, else `None`.
    pub async fn check(&self, ip: &str, login: &str) -> Option<u64> {
        let k = self.key(ip, login);
        if let Some(remote) = self.remote_available() {
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&k).cmd("TTL").arg(&k);
            match remote.run::<(Option<u32>, i64)>(&pipe).await {
                Ok((count, ttl)) => {
                    return (count.unwrap_or(0) >= self.limit).then(|| {
                        u64::try_from(ttl)
                            .ok()
                            .filter(|t| *t > 0)
                            .unwrap_or(self.window.as_secs())
                    });
                }
                Err(e) => remote.failed("check", &e),
            }
        }
        let w = self.local.get(&k)?;
        let elapsed = w.started.elapsed();
        (elapsed < self.window && w.failures >= self.limit)
            .then(|| (self.window - elapsed).as_secs().max(1))
    }

    /// Counts one failed sign-in of `(ip, login)`.
    pub async fn record_failure(&self, ip: &str, login: &str) {
        let k = self.key(ip, login);
        if let Some(remote) = self.remote_available() {
            match remote.run::<(u64, i64)>(&count_pipe(&k, self.window)).await {
                Ok(_) => return,
                Err(e) => remote.failed("record", &e),
            }
        }
        count_local(&self.local, k, self.window);
    }

    /// Forgets the failures of `(ip, login)` (after a successful sign-in).
    pub async fn clear(&self, ip: &str, login: &str) {
        let k = self.key(ip, login);
        self.local.invalidate(&k);
        if let Some(remote) = self.remote_available() {
            let mut pipe = redis::pipe();
            pipe.cmd("DEL").arg(&k).ignore();
            if let Err(e) = remote.run::<()>(&pipe).await {
                remote.failed("clear", &e);
            }
        }
    }

    fn remote_available(&self) -> Option<&Remote> {
        self.remote.as_ref().filter(|r| !r.paused())
    }
}

/// The refusal of the failed-attempt limit.
pub(crate) fn failures_limited(retry_after: u64) -> Error {
    Error::RateLimited {
        message: "too many failed attempts; try again later".into(),
        retry_after,
    }
}

/// Counts events per [`WINDOW`] for named counters (see the [module docs](self)).
pub struct RequestLimiter {
    keys: KeySpace,
    local: moka::sync::Cache<String, Window>,
    remote: Option<Remote>,
}

impl fmt::Debug for RequestLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestLimiter")
            .field("redis", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

impl RequestLimiter {
    /// A limiter counting in `redis` when given (sharing the tier's pool, round-trip
    /// bound and key prefix), else in process.
    pub fn new(redis: Option<&Redis>) -> Self {
        Self {
            keys: redis.map(|r| r.keys.clone()).unwrap_or_default(),
            local: moka::sync::Cache::builder()
                .max_capacity(LOCAL_CAPACITY)
                .time_to_live(WINDOW)
                .build(),
            remote: redis.map(|r| Remote::new("API key limiter", r)),
        }
    }

    /// Counts one request of the API key `key_id`: `Some(seconds to wait)` when it goes
    /// over `limit` requests in the current window (the request must then be refused),
    /// else `None`.
    pub async fn hit(&self, key_id: i64, limit: u32) -> Option<u64> {
        self.count(self.keys.api_key_requests(key_id), limit).await
    }

    /// Counts one sign-in attempt from `ip` (whatever the login name and outcome):
    /// `Some(seconds to wait)` past `limit` attempts in the current window.
    pub async fn login_attempt(&self, ip: &str, limit: u32) -> Option<u64> {
        self.count(self.keys.login_attempts(ip), limit).await
    }

    /// Counts one Google sign-in started from `ip`: `Some(seconds to wait)` past `limit`
    /// in the current window.
    pub async fn oauth_start(&self, ip: &str, limit: u32) -> Option<u64> {
        self.count(self.keys.oauth_starts(ip), limit).await
    }

    /// Counts one mail (password reset, verification) asked for from `ip` to `address`
    /// (lower-cased by the caller, whether or not an account has it) against
    /// `RATE_LIMIT_MAIL_PER_IP_PER_MINUTE` and `RATE_LIMIT_MAIL_PER_ADDRESS_PER_MINUTE`:
    /// `Some(seconds to wait)` past either.
    pub async fn mail(&self, ip: &str, address: &str, limits: &LimitSettings) -> Option<u64> {
        let from = self
            .count(self.keys.mail_from(ip), limits.mail_per_ip_per_minute)
            .await;
        let to = self
            .count(
                self.keys.mail_to(address),
                limits.mail_per_address_per_minute,
            )
            .await;
        from.max(to)
    }

    async fn count(&self, k: String, limit: u32) -> Option<u64> {
        let limit = limit.max(1);
        if let Some(remote) = self.remote.as_ref().filter(|r| !r.paused()) {
            match remote.run::<(u64, i64)>(&count_pipe(&k, WINDOW)).await {
                Ok((count, ttl)) => {
                    return (count > u64::from(limit)).then(|| {
                        u64::try_from(ttl)
                            .ok()
                            .filter(|t| *t > 0)
                            .unwrap_or(WINDOW.as_secs())
                    });
                }
                Err(e) => remote.failed("hit", &e),
            }
        }
        let w = count_local(&self.local, k, WINDOW);
        (w.failures > limit).then(|| WINDOW.saturating_sub(w.started.elapsed()).as_secs().max(1))
    }
}

/// One more event in the Redis counter `key`: the window starts (with its expiry) at the
/// first event; answers `(count, seconds left)`.
fn count_pipe(key: &str, window: Duration) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("SET")
        .arg(key)
        .arg(0)
        .arg("EX")
        .arg(window.as_secs().max(1))
        .arg("NX")
        .ignore()
        .cmd("INCR")
        .arg(key)
        .cmd("TTL")
        .arg(key);
    pipe
}

/// One more event in the in-process counter `key` (a new window once the last one ended).
fn count_local<K>(local: &moka::sync::Cache<K, Window>, key: K, window: Duration) -> Window
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    local
        .entry(key)
        .and_upsert_with(|current| match current {
            Some(e) if e.value().started.elapsed() < window => Window {
                failures: e.value().failures.saturating_add(1),
                started: e.value().started,
            },
            _ => Window {
                failures: 1,
                started: Instant::now(),
            },
        })
        .into_value()
}

impl Remote {
    fn new(what: &'static str, redis: &Redis) -> Self {
        Self {
            what,
            pool: redis.pool.clone(),
            timeout: redis.timeout,
            started: Instant::now(),
            paused_until: AtomicU64::new(0),
            log: LogLimiter::new(Duration::from_secs(5)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn paused(&self) -> bool {
        self.now_ms() < self.paused_until.load(Ordering::Relaxed)
    }

    fn failed(&self, op: &'static str, err: &str) {
        let until = self.now_ms().saturating_add(REDIS_PAUSE.as_millis() as u64);
        self.paused_until.store(until, Ordering::Relaxed);
        if let Some(suppressed) = self.log.permit() {
            tracing::warn!(
                limiter = self.what,
                op,
                error = err,
                suppressed,
                "Redis unavailable; counting in process"
            );
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, String> {
        let work = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            pipe.query_async::<T>(&mut *conn)
                .await
                .map_err(|e| e.to_string())
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)))
    }
}
