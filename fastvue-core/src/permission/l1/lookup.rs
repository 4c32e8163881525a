//! The hit path: lookups through the thread's memo and the shards.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::memo::{MEMO, Memo};
use super::{CacheKey, L1Cache};
use crate::permission::catalog::Catalog;
use crate::permission::set::PermissionSet;

impl L1Cache {
    // --- hit path ---------------------------------------------------------
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
}
