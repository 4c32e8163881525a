//! The in-process cache of [`Authorizer::companies_where`](super::Authorizer::companies_where):
//! for a (user, codename), the sorted ids of the companies where the user holds it.
//!
//! It rides the permission cache's invalidations ([`super::l1::L1Cache`] calls it from
//! every scope it applies, local or received from another process): a scope naming
//! users (keys or a user) drops those users' entries; a company scope or everything
//! drops all entries, since a company's place or state can change any user's reach.
//!
//! Race-free like the sets: an invalidation bumps a generation (the user's stripe, or the
//! epoch) before it removes entries under the write lock; a fill takes a ticket of the
//! generations before reading the database and stores its answer, under the same write
//! lock, only if neither moved. Bounded: at most `max_entries` entries (a full cache is
//! cleared before the next insert) and each for the permission cache's time to live.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const USER_STRIPES: usize = 1024;

/// Sorted company ids.
pub(crate) type Companies = Arc<[i64]>;

/// The generations a fill of one user's reach started from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReachTicket {
    user_id: i64,
    epoch: u64,
    user_gen: u64,
}

struct Entry {
    companies: Companies,
    stored: Instant,
}

/// See the [module docs](self).
pub(crate) struct ReachCache {
    epoch: AtomicU64,
    users: Box<[AtomicU64]>,
    map: RwLock<Map>,
    max_entries: usize,
    ttl: Duration,
}

#[derive(Default)]
struct Map {
    by_user: HashMap<i64, HashMap<Box<str>, Entry>>,
    entries: usize,
}

impl ReachCache {
    /// A cache of at most `max_entries` (user, codename) entries, each kept for `ttl`.
    pub(crate) fn new(max_entries: usize, ttl: Duration) -> Self {
        Self {
            epoch: AtomicU64::new(0),
            users: (0..USER_STRIPES).map(|_| AtomicU64::new(0)).collect(),
            map: RwLock::new(Map::default()),
            max_entries: max_entries.max(1),
            ttl,
        }
    }

    fn stripe(&self, user_id: i64) -> &AtomicU64 {
        &self.users[(user_id as u64 as usize) % USER_STRIPES]
    }

    /// The cached companies of (`user_id`, `codename`), unless absent or expired.
    pub(crate) fn get(&self, user_id: i64, codename: &str) -> Option<Companies> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let entry = map.by_user.get(&user_id)?.get(codename)?;
        (entry.stored.elapsed() < self.ttl).then(|| entry.companies.clone())
    }

    /// Starts a fill for `user_id`: take it before reading the database.
    pub(crate) fn ticket(&self, user_id: i64) -> ReachTicket {
        ReachTicket {
            user_id,
            epoch: self.epoch.load(Ordering::SeqCst),
            user_gen: self.stripe(user_id).load(Ordering::SeqCst),
        }
    }

    /// Stores `companies` for the ticket's user and `codename` unless an invalidation
    /// that could affect it started since the ticket, or `suspended` is set (checked
    /// under the write lock). Returns whether it stored.
    pub(crate) fn complete(
        &self,
        ticket: ReachTicket,
        codename: &str,
        companies: Companies,
        suspended: &AtomicBool,
    ) -> bool {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if suspended.load(Ordering::SeqCst)
            || self.epoch.load(Ordering::SeqCst) != ticket.epoch
            || self.stripe(ticket.user_id).load(Ordering::SeqCst) != ticket.user_gen
        {
            return false;
        }
        if map.entries >= self.max_entries {
            *map = Map::default();
        }
        let previous = map.by_user.entry(ticket.user_id).or_default().insert(
            codename.into(),
            Entry {
                companies,
                stored: Instant::now(),
            },
        );
        if previous.is_none() {
            map.entries += 1;
        }
        true
    }

    /// Drops every entry of these users.
    pub(crate) fn forget_users(&self, users: impl IntoIterator<Item = i64> + Clone) {
        for u in users.clone() {
            self.stripe(u).fetch_add(1, Ordering::SeqCst);
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for u in users {
            if let Some(gone) = map.by_user.remove(&u) {
                map.entries -= gone.len();
            }
        }
    }

    /// Drops everything.
    pub(crate) fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let old = std::mem::take(&mut *self.map.write().unwrap_or_else(|e| e.into_inner()));
        drop(old);
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ReachCache {
        ReachCache::new(4, Duration::from_secs(60))
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_of_its_user_is_not_stored() {
        let c = cache();
        let off = AtomicBool::new(false);
        let t = c.ticket(7);
        c.forget_users([7]);
        assert!(!c.complete(t, "a.read", Arc::from([1]), &off));
        assert!(c.get(7, "a.read").is_none());
        let t = c.ticket(7);
        assert!(c.complete(t, "a.read", Arc::from([1, 2]), &off));
        assert_eq!(c.get(7, "a.read").as_deref(), Some(&[1, 2][..]));
    }

    #[test]
    fn clearing_everything_refuses_earlier_fills_and_other_users_stay_cached() {
        let c = cache();
        let off = AtomicBool::new(false);
        assert!(c.complete(c.ticket(1), "x", Arc::from([1]), &off));
        assert!(c.complete(c.ticket(2), "x", Arc::from([2]), &off));
        c.forget_users([1]);
        assert!(c.get(1, "x").is_none());
        assert!(c.get(2, "x").is_some());
        let t = c.ticket(3);
        c.forget_all();
        assert!(!c.complete(t, "x", Arc::from([3]), &off));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn the_cache_stays_within_its_bound_and_stores_nothing_while_suspended() {
        let c = cache();
        let off = AtomicBool::new(false);
        for u in 0..10 {
            assert!(c.complete(c.ticket(u), "x", Arc::from([u]), &off));
            assert!(c.len() <= 4);
        }
        let on = AtomicBool::new(true);
        assert!(!c.complete(c.ticket(99), "x", Arc::from([1]), &on));
    }
}
