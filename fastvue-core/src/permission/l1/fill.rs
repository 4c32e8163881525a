//! The fill path (tickets and race-free fills) and suspension.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::generations::K_USER;
use super::shard::Entry;
use super::{CacheKey, FillTicket, Invalidation, L1Cache, SYNC_STRIPES, stripe};
use crate::permission::metrics as m;
use crate::permission::reach::{Companies, ReachCache, ReachTicket};
use crate::permission::set::PermissionSet;

impl L1Cache {
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
    pub(super) fn sync_index(&self, user_id: i64) {
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
}
