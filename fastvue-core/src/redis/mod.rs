//! Redis as every part of fastvue uses it: one connection pool, one bound on round trips,
//! one key space. The permission cache's tier ([`crate::permission`]), its invalidation
//! bus, the rate limits and the pending provider sign-ins all share the handle built from
//! `REDIS_URL`, so they share its connections and its `REDIS_KEY_PREFIX`.
use std::time::Duration;

use bb8_redis::RedisConnectionManager;

mod keys;

pub use keys::{CHANNEL, KeySpace};

/// The Redis connection pool.
pub type RedisPool = bb8_redis::bb8::Pool<RedisConnectionManager>;

/// A pool of at most `pool_size` connections to `url`, opened lazily, each wait bounded
/// by `timeout`. Fails only on a malformed URL. Must be called inside a Tokio runtime.
pub fn pool(
    url: &str,
    pool_size: u32,
    timeout: Duration,
) -> Result<RedisPool, ::redis::RedisError> {
    let manager = RedisConnectionManager::new(url)?;
    Ok(bb8_redis::bb8::Pool::builder()
        .max_size(pool_size.max(1))
        .connection_timeout(timeout)
        .build_unchecked(manager))
}

/// What a user of Redis needs: the pool, the bound on each round trip and the key names.
/// Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    /// The shared pool.
    pub pool: RedisPool,
    /// The bound on every round trip.
    pub timeout: Duration,
    /// The key names.
    pub keys: KeySpace,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("timeout", &self.timeout)
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}
