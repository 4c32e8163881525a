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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
    by_name: HashMap<Arc<str>, u32, Hasher>,
    by_id: HashMap<u32, Arc<str>, Hasher>,
}

/// The snapshot this thread used last: (catalogue id, version, maps).
type Snapshot = (u64, u64, Arc<Maps>);

static NEXT_CATALOG_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static SNAPSHOT: RefCell<Option<Snapshot>> = const { RefCell::new(None) };
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
        self.with_maps(|maps| maps.by_name.get(codename).copied())
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
        self.with_maps(|maps| {
            codenames
                .iter()
                .map(|c| maps.by_name.get(c.as_str()).copied())
                .collect()
        })
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
        let mut maps = Maps {
            by_name: current.by_name.clone(),
            by_id: current.by_id.clone(),
        };
        for (id, codename) in unknown {
            if !maps.by_id.contains_key(&id) {
                let name: Arc<str> = Arc::from(codename);
                maps.by_name.insert(name.clone(), id);
                maps.by_id.insert(id, name);
            }
        }
        *current = Arc::new(maps);
        // Under the mutex: a reader that takes the mutex sees snapshot and version agree.
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Runs `f` on the current snapshot.
    ///
    /// The version is bumped after the snapshot is replaced, so a thread whose copy
    /// carries the version it just loaded (Acquire) holds the snapshot published with
    /// it; any other thread refreshes its copy under the mutex.
    #[inline]
    fn with_maps<R>(&self, f: impl Fn(&Maps) -> R) -> R {
        let version = self.version.load(Ordering::Acquire);
        SNAPSHOT
            .try_with(|slot| {
                let Ok(mut slot) = slot.try_borrow_mut() else {
                    return f(&self.lock());
                };
                let fresh = matches!(&*slot, Some((id, v, _)) if *id == self.id && *v == version);
                if !fresh {
                    let current = self.lock();
                    let v = self.version.load(Ordering::Relaxed);
                    *slot = Some((self.id, v, Arc::clone(&current)));
                }
                match &*slot {
                    Some((_, _, maps)) => f(maps),
                    None => f(&self.lock()),
                }
            })
            // The thread-local is gone only while this thread exits.
            .unwrap_or_else(|_| f(&self.lock()))
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
    fn ids_beyond_u32_are_not_interned() {
        assert_eq!(intern_id(i64::from(u32::MAX) + 1), None);
        assert_eq!(intern_id(42), Some(42));
    }
}
