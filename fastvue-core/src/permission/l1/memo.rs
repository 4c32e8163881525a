//! The per-thread hot-key memo, and its memo of the last codename resolved.

use std::cell::RefCell;
use std::sync::Arc;

use super::CacheKey;
use crate::permission::catalog::{Catalog, NameCache};
use crate::permission::names::same_bytes;
use crate::permission::set::PermissionSet;

/// The per-thread hot-key memo.
pub(super) struct Memo {
    /// Id of the cache the memo belongs to (0 = none).
    pub(super) cache: u64,
    pub(super) key: CacheKey,
    /// The cache's version when the entry was read.
    pub(super) version: u64,
    pub(super) expires_at: u32,
    pub(super) set: Option<Arc<PermissionSet>>,
    /// The last key looked up on the full path (memoised when it repeats).
    pub(super) seen_cache: u64,
    pub(super) seen_key: CacheKey,
    /// This thread's counter stripe (`usize::MAX` until assigned).
    pub(super) stripe: usize,
    /// The last codename resolved through [`L1Cache::contains_codename`].
    pub(super) name: NameMemo,
    /// This thread's copy of the catalogue, for codenames off the memo.
    pub(super) names: NameCache,
}

impl Memo {
    /// Whether the memo holds the set of `key` in cache `cache` at `version`, unexpired
    /// at `now`.
    #[inline]
    pub(super) fn holds(&self, cache: u64, key: CacheKey, version: u64, now: u32) -> bool {
        self.cache == cache
            && self.key == key
            && self.version == version
            && now < self.expires_at
            && self.set.is_some()
    }
}

/// Longest codename the memo keeps (a valid codename has at most 101 bytes).
pub(super) const NAME_MEMO_BYTES: usize = 104;

/// The last codename this thread resolved to a permission id, with the catalogue
/// ([`Catalog::stamp`]) it was resolved in. A catalogue's mapping at one version never
/// changes, so a repeated codename needs no hashing.
pub(super) struct NameMemo {
    stamp: (u64, u64),
    len: usize,
    bytes: [u8; NAME_MEMO_BYTES],
    id: Option<u32>,
}

impl NameMemo {
    /// The id of `codename` in `catalog`: from the memo when it holds that codename at
    /// the catalogue's current stamp, else from the catalogue (and remembered).
    #[inline]
    pub(super) fn resolve(
        &mut self,
        catalog: &Catalog,
        names: &mut NameCache,
        codename: &str,
    ) -> Option<u32> {
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
    pub(super) static MEMO: RefCell<Memo> = const {
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
