//! The permission catalogue: codename <-> interned id, learned from every fill.
//!
//! A cached [`PermissionSet`](super::set::PermissionSet) holds permission ids (the
//! database ids, which are never reused); checks name codenames. Every id that enters
//! a cached set passes through [`Catalog::learn`] first, so a codename the catalogue does
//! not know cannot be in any cached set, and an unknown codename is simply "not held".
//!
//! Reads take no lock in the steady state: the maps are an immutable snapshot behind an
//! `Arc`, and each thread keeps the snapshot it last used together with the catalogue's
//! version. A read compares one atomic version with the thread's copy and, when they
//! match, probes the snapshot directly; only after a [`Catalog::learn`] that added a
//! codename does a thread take the mutex once to pick up the new snapshot.
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::names::NameTable;

type Hasher = foldhash::fast::RandomState;

/// Codename <-> id map shared by all checks.
#[derive(Debug)]
pub struct Catalog {
    /// Distinguishes catalogues in the per-thread snapshot cache.
    id: u64,
    /// The current snapshot; the mutex also serialises learners.
    current: Mutex<Arc<Maps>>,
    /// Bumped (under the mutex) each time a new snapshot is published.
    version: AtomicU64,
}

#[derive(Debug, Default)]
struct Maps {
    /// Codename -> id as learned: a codename learned again under a new id (the
    /// permission was deleted and created again) maps to the id learned last.
    ids: HashMap<Arc<str>, u32, Hasher>,
    /// The same mapping, for the hit path.
    by_name: NameTable,
    by_id: HashMap<u32, Arc<str>, Hasher>,
}

/// A snapshot of a catalogue: (catalogue id, version, maps).
type Snapshot = (u64, u64, Arc<Maps>);

/// A thread's copy of the catalogue snapshot it used last. The catalogue keeps one per
/// thread; [`L1Cache`](super::l1::L1Cache) keeps another in its own thread-local, so
/// that a check resolves its codename without a second thread-local access.
#[derive(Default)]
pub(crate) struct NameCache(Option<Snapshot>);

impl NameCache {
    /// An empty copy (filled on first use).
    pub(crate) const fn new() -> Self {
        Self(None)
    }
}

static NEXT_CATALOG_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static SNAPSHOT: RefCell<NameCache> = const { RefCell::new(NameCache::new()) };
}

impl Default for Catalog {
    fn default() -> Self {
        Self {
            id: NEXT_CATALOG_ID.fetch_add(1, Ordering::Relaxed),
            current: Mutex::new(Arc::default()),
            version: AtomicU64::new(0),
        }
    }
}

/// Narrows a database id to the interned width; ids beyond `u32::MAX` are not supported.
pub(crate) fn intern_id(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

impl Catalog {
    /// The id of `codename`, if any cached set could hold it. Lock-free unless the
    /// catalogue changed since this thread last read it.
    #[inline]
    pub fn id(&self, codename: &str) -> Option<u32> {
        self.with_maps(|maps| maps.by_name.get(codename))
    }

    /// [`id`](Self::id) through a snapshot the caller keeps in its own thread-local.
    #[inline(always)]
    pub(crate) fn id_cached(&self, cache: &mut NameCache, codename: &str) -> Option<u32> {
        self.current(cache).by_name.get(codename)
    }

    /// This catalogue's identity and current version: two reads of [`id`](Self::id) under
    /// the same stamp give the same answer (the mapping only changes by growing, and each
    /// growth bumps the version).
    #[inline]
    pub(crate) fn stamp(&self) -> (u64, u64) {
        (self.id, self.version.load(Ordering::Acquire))
    }

    /// Codenames of `ids`, in the order given (unknown ids are skipped).
    pub fn codenames(&self, ids: &[u32]) -> Vec<Arc<str>> {
        self.with_maps(|maps| {
            ids.iter()
                .filter_map(|id| maps.by_id.get(id).cloned())
                .collect()
        })
    }

    /// Ids of `codenames`; `None` when one of them is unknown.
    pub fn ids(&self, codenames: &[String]) -> Option<Vec<u32>> {
        self.with_maps(|maps| codenames.iter().map(|c| maps.by_name.get(c)).collect())
    }

    /// Records (id, codename) pairs read from the database. Publishes a new snapshot
    /// only when one of them is new, which happens once per permission.
    pub fn learn<'a>(&self, grants: impl IntoIterator<Item = (u32, &'a str)>) {
        let grants: Vec<(u32, &str)> = grants.into_iter().collect();
        let unknown: Vec<(u32, &str)> = self.with_maps(|maps| {
            grants
                .iter()
                .filter(|(id, _)| !maps.by_id.contains_key(id))
                .copied()
                .collect()
        });
        if unknown.is_empty() {
            return;
        }
        let mut current = self.lock();
        let mut ids = current.ids.clone();
        let mut by_id = current.by_id.clone();
        for (id, codename) in unknown {
            if let Entry::Vacant(slot) = by_id.entry(id) {
                let name = slot.insert(Arc::from(codename));
                ids.insert(Arc::clone(name), id);
            }
        }
        let by_name = NameTable::build(ids.iter().map(|(name, &id)| (name, id)));
        *current = Arc::new(Maps {
            ids,
            by_name,
            by_id,
        });
        // Under the mutex: a reader that takes the mutex sees snapshot and version agree.
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Runs `f` on the current snapshot, through this thread's copy.
    #[inline(always)]
    fn with_maps<R>(&self, f: impl Fn(&Maps) -> R) -> R {
        SNAPSHOT
            .try_with(|slot| match slot.try_borrow_mut() {
                Ok(mut slot) => f(self.current(&mut slot)),
                Err(_) => f(&self.lock()),
            })
            // The thread-local is gone only while this thread exits.
            .unwrap_or_else(|_| f(&self.lock()))
    }

    /// The current snapshot, from `cache` when it holds it.
    ///
    /// The version is bumped after the snapshot is replaced, so a copy that carries the
    /// version just loaded (Acquire) is the snapshot published with it; any other copy
    /// is refreshed under the mutex.
    #[inline(always)]
    fn current<'c>(&self, cache: &'c mut NameCache) -> &'c Maps {
        let version = self.version.load(Ordering::Acquire);
        if !matches!(&cache.0, Some((id, v, _)) if *id == self.id && *v == version) {
            cache.0 = None;
        }
        &cache.0.get_or_insert_with(|| self.snapshot()).2
    }

    /// The current snapshot, read under the mutex (after a [`learn`](Self::learn), or on
    /// a thread's first read). Out of line, so that the steady-state read stays small.
    #[cold]
    #[inline(never)]
    fn snapshot(&self) -> Snapshot {
        let current = self.lock();
        let version = self.version.load(Ordering::Relaxed);
        (self.id, version, Arc::clone(&current))
    }

    fn lock(&self) -> MutexGuard<'_, Arc<Maps>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_codenames_map_both_ways_and_unknown_is_none() {
        let c = Catalog::default();
        c.learn([(1, "user.read"), (7, "role.assign")]);
        assert_eq!(c.id("role.assign"), Some(7));
        assert_eq!(
            c.codenames(&[1, 7]),
            vec![Arc::from("user.read"), Arc::from("role.assign")]
        );
        assert_eq!(c.id("nope.nope"), None);
        assert_eq!(
            c.ids(&["user.read".into(), "role.assign".into()]),
            Some(vec![1, 7])
        );
        assert_eq!(c.ids(&["user.read".into(), "x.y".into()]), None);
    }

    #[test]
    fn a_codename_learned_again_under_a_new_id_maps_to_the_new_id() {
        // Fresh catalogues, so that no table order can hide a stale mapping.
        for _ in 0..32 {
            let c = Catalog::default();
            c.learn([(3, "report.export"), (4, "report.view")]);
            // report.export deleted and created again: a new id for the same codename.
            c.learn([(9, "report.export")]);
            assert_eq!(c.id("report.export"), Some(9));
            assert_eq!(c.ids(&["report.export".into()]), Some(vec![9]));
            assert_eq!(c.id("report.view"), Some(4));
            // The old id still names its codename (a set cached before the delete).
            assert_eq!(c.codenames(&[3, 9]), vec![Arc::from("report.export"); 2]);
        }
    }

    #[test]
    fn ids_beyond_u32_are_not_interned() {
        assert_eq!(intern_id(i64::from(u32::MAX) + 1), None);
        assert_eq!(intern_id(42), Some(42));
    }
}
