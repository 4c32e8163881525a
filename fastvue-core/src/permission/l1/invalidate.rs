//! Change notifications and invalidation by key, user, company or everything.

use std::sync::atomic::Ordering;

use tokio::sync::broadcast;

use super::{CacheKey, Invalidation, L1Cache};
use crate::permission::metrics as m;

impl L1Cache {
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

    pub(super) fn void_memos(&self) {
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
}
