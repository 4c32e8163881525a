//! What authenticating a request reads, cached: the users that recently presented a
//! valid access token ([`ActiveUsers::user`]) and their company memberships
//! ([`ActiveUsers::member`], for `X-Company-ID`), so a request does not query the
//! database for them every time.
//!
//! An entry is only as fresh as the permission cache's invalidations: with each value
//! the cache keeps the L1 [`FillTicket`] of a key — (user, 0) for a user, (user,
//! company) for a membership — taken *before* the value was read, and an entry answers
//! only while [`L1Cache::is_current`] says no invalidation of that key, user, company or
//! everything happened since. Every write that matters here invalidates such a scope,
//! locally and, through the Redis bus, on every replica: user writes (deactivation,
//! superuser flag, profile, current company) the user's, assignments their (user,
//! company) key, company deactivation the company's. So a deactivated user's token or a
//! removed membership stops working at once everywhere. Entries also expire after
//! [`TTL`] as a bound. Reads race writes as permission fills do: a write that commits
//! after the read bumps a generation the ticket captured, so the stale value is never
//! served.
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crate::entity::user;
use crate::permission::l1::{CacheKey, FillTicket, L1Cache};

/// Longest time an entry is used without re-reading it.
pub const TTL: Duration = Duration::from_secs(60);

/// The caches of authenticated users and of their memberships.
#[derive(Debug)]
pub struct ActiveUsers {
    users: Guarded<i64, user::Model>,
    members: Guarded<(i64, i64), bool>,
}

impl ActiveUsers {
    /// Caches of at most `capacity` entries each; `enabled = false`
    /// (CACHE_ENABLED=false) makes every lookup miss.
    pub fn new(enabled: bool, capacity: u64) -> Self {
        Self {
            users: Guarded::new(enabled, capacity),
            members: Guarded::new(enabled, capacity),
        }
    }

    /// The active user `user_id`: cached, else read by `load` (which returns `None` for
    /// an unknown or inactive user, which is not cached).
    pub async fn user<E>(
        &self,
        l1: &L1Cache,
        user_id: i64,
        load: impl AsyncFnOnce() -> Result<Option<user::Model>, E>,
    ) -> Result<Option<user::Model>, E> {
        let key = CacheKey::new(user_id, 0);
        if let Some(user) = self.users.get(l1, &user_id) {
            return Ok(Some(user));
        }
        let ticket = l1.begin_fill(key);
        let user = load().await?;
        if let Some(u) = &user {
            self.users.put(user_id, u.clone(), ticket);
        }
        Ok(user)
    }

    /// Whether `user_id` belongs to `company_id`: cached, else read by `load`.
    pub async fn member<E>(
        &self,
        l1: &L1Cache,
        user_id: i64,
        company_id: i64,
        load: impl AsyncFnOnce() -> Result<bool, E>,
    ) -> Result<bool, E> {
        if let Some(member) = self.members.get(l1, &(user_id, company_id)) {
            return Ok(member);
        }
        let ticket = l1.begin_fill(CacheKey::new(user_id, company_id));
        let member = load().await?;
        self.members.put((user_id, company_id), member, ticket);
        Ok(member)
    }
}

/// A bounded, TTL'd map whose entries are valid while their L1 ticket is current.
struct Guarded<K, V> {
    cache: Option<moka::sync::Cache<K, Arc<(V, FillTicket)>>>,
}

impl<K, V> std::fmt::Debug for Guarded<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("enabled", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V> Guarded<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(enabled: bool, capacity: u64) -> Self {
        Self {
            cache: enabled.then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(TTL)
                    .build()
            }),
        }
    }

    fn get(&self, l1: &L1Cache, key: &K) -> Option<V> {
        let entry = self.cache.as_ref()?.get(key)?;
        l1.is_current(&entry.1).then(|| entry.0.clone())
    }

    fn put(&self, key: K, value: V, ticket: FillTicket) {
        if let Some(cache) = &self.cache {
            cache.insert(key, Arc::new((value, ticket)));
        }
    }
}
