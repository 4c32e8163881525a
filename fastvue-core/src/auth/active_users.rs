//! [`ActiveUsers`]: the users that recently presented a valid access token, so that
//! authenticating a request does not read the `users` table every time.
//!
//! An entry is only as fresh as the permission cache's invalidations: with each user
//! the cache keeps the L1 [`FillTicket`] taken *before* the row was read, and an entry
//! answers only while [`L1Cache::is_current`] says no invalidation of that user (or of
//! everything) happened since. Every write to a user row that matters to a request
//! (deactivation, superuser flag, profile, current company) invalidates the user's
//! permission scope, locally and, through the Redis bus, on every replica, so a
//! deactivated user's token stops working at once everywhere. Entries also expire after
//! [`TTL`] as a bound. Row reads race writes the same way permission fills do: a write
//! that commits after the read bumps the generation the ticket captured, so the stale
//! row is never served.
use std::sync::Arc;
use std::time::Duration;

use crate::entity::user;
use crate::permission::l1::{CacheKey, FillTicket, L1Cache};

/// Longest time an entry is used without re-reading the row.
pub const TTL: Duration = Duration::from_secs(60);

/// The cache of recently authenticated active users.
#[derive(Debug)]
pub struct ActiveUsers {
    cache: Option<moka::sync::Cache<i64, Arc<Entry>>>,
}

#[derive(Debug)]
struct Entry {
    user: user::Model,
    ticket: FillTicket,
}

impl ActiveUsers {
    /// A cache of at most `capacity` users; `enabled = false` (CACHE_ENABLED=false)
    /// makes every lookup miss.
    pub fn new(enabled: bool, capacity: u64) -> Self {
        Self {
            cache: enabled.then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(TTL)
                    .build()
            }),
        }
    }

    /// The key whose L1 generations guard the entry of `user_id`.
    fn key(user_id: i64) -> CacheKey {
        CacheKey::new(user_id, 0)
    }

    /// The ticket to take before reading the row of `user_id`.
    pub fn begin(&self, l1: &L1Cache, user_id: i64) -> FillTicket {
        l1.begin_fill(Self::key(user_id))
    }

    /// The cached row of `user_id`, if no invalidation touched the user since it was read.
    pub fn get(&self, l1: &L1Cache, user_id: i64) -> Option<user::Model> {
        let entry = self.cache.as_ref()?.get(&user_id)?;
        l1.is_current(&entry.ticket).then(|| entry.user.clone())
    }

    /// Remembers the active `user`, read after `ticket` was taken.
    pub fn put(&self, user: &user::Model, ticket: FillTicket) {
        if let Some(cache) = &self.cache {
            cache.insert(
                user.id,
                Arc::new(Entry {
                    user: user.clone(),
                    ticket,
                }),
            );
        }
    }
}
