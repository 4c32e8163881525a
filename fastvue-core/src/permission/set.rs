//! Immutable permission sets and their interner.
//!
//! A [`PermissionSet`] is a sorted, deduplicated slice of interned permission
//! ids (the `u32` ids handed out by the permission catalog), plus a bitmap of its
//! ids below 256. Membership is one bit test for those ids (permission tables of a
//! few hundred rows have no others) and a binary search over the slice above
//! them: no allocation, no hashing, no `String`.
//!
//! Most users share a handful of role combinations, so a cache of a million
//! `(user, company)` entries holds only a few thousand *distinct* sets.
//! [`SetInterner`] makes identical sets share one allocation: every entry of
//! the cache then costs a pointer, not a copy of the ids.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, Weak};

/// Sets of at most this many ids keep them inline, in the set itself: behind an
/// `Arc` the ids then sit in the same allocation as the reference counts, so a
/// membership test on a cold set costs one memory access instead of two.
const INLINE: usize = 30;

/// Ids below this are also held in the set's bitmap.
const LOW_IDS: u32 = 256;

/// An immutable set of interned permission ids, sorted and deduplicated.
///
/// Cheap to share behind an [`Arc`]; compare and hash by content.
// `repr(C)`: the bitmap comes first, so behind an `Arc` it shares a cache line with the
// reference counts and a membership test on a cold set touches one line.
#[derive(Clone)]
#[repr(C)]
pub struct PermissionSet {
    /// Bit `i` is set when id `i` (< `LOW_IDS`) is in the set.
    low: [u64; (LOW_IDS / 64) as usize],
    ids: Ids,
}

#[derive(Clone)]
enum Ids {
    Inline { len: u8, ids: [u32; INLINE] },
    Heap(Box<[u32]>),
}

impl Default for PermissionSet {
    fn default() -> Self {
        Self {
            low: [0; (LOW_IDS / 64) as usize],
            ids: Ids::Inline {
                len: 0,
                ids: [0; INLINE],
            },
        }
    }
}

impl PartialEq for PermissionSet {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids()
    }
}

impl Eq for PermissionSet {}

impl std::hash::Hash for PermissionSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ids().hash(state);
    }
}

impl PartialOrd for PermissionSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PermissionSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ids().cmp(other.ids())
    }
}

impl PermissionSet {
    /// Builds a set from any ids, in any order, with or without duplicates.
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut sorted: Vec<u32> = ids.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut low = [0u64; (LOW_IDS / 64) as usize];
        for &id in sorted.iter().take_while(|&&id| id < LOW_IDS) {
            low[(id / 64) as usize] |= 1 << (id % 64);
        }
        let ids = if sorted.len() <= INLINE {
            let mut ids = [0; INLINE];
            ids[..sorted.len()].copy_from_slice(&sorted);
            Ids::Inline {
                len: sorted.len() as u8,
                ids,
            }
        } else {
            Ids::Heap(sorted.into_boxed_slice())
        };
        Self { low, ids }
    }

    /// The empty set (no allocation).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether `id` is in the set: a bit test below 256, else a binary search; no
    /// allocation.
    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        match self.low.get((id / 64) as usize) {
            Some(word) => (word >> (id % 64)) & 1 != 0,
            None => self.ids().binary_search(&id).is_ok(),
        }
    }

    /// Whether every id of `ids` is in the set (true for an empty `ids`).
    pub fn contains_all(&self, ids: &[u32]) -> bool {
        ids.iter().all(|&id| self.contains(id))
    }

    /// Whether at least one id of `ids` is in the set (false for an empty `ids`).
    pub fn contains_any(&self, ids: &[u32]) -> bool {
        ids.iter().any(|&id| self.contains(id))
    }

    /// The ids, sorted ascending, without duplicates.
    #[inline]
    pub fn ids(&self) -> &[u32] {
        match &self.ids {
            Ids::Inline { len, ids } => &ids[..usize::from(*len)],
            Ids::Heap(ids) => ids,
        }
    }

    /// Number of ids in the set.
    #[inline]
    pub fn len(&self) -> usize {
        self.ids().len()
    }

    /// Whether the set holds no id.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ids().is_empty()
    }

    /// Heap bytes owned by this set besides itself (ids of a large set).
    pub fn heap_bytes(&self) -> usize {
        match &self.ids {
            Ids::Inline { .. } => 0,
            Ids::Heap(ids) => std::mem::size_of_val::<[u32]>(ids),
        }
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.ids().iter()).finish()
    }
}

impl FromIterator<u32> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        Self::new(iter)
    }
}

/// Deduplicates [`PermissionSet`]s so identical sets share one [`Arc`].
///
/// The interner holds only [`Weak`] references: a set that no cache entry
/// (or caller) holds any more is freed, and its dead slot is pruned on a
/// later intern once dead slots could make up half of the table. Interning
/// takes a mutex; it runs on the cache *fill* path only, never on a hit.
pub struct SetInterner {
    inner: Mutex<InternTable>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Default)]
struct InternTable {
    /// Content hash -> the sets with that hash (almost always exactly one).
    by_hash: HashMap<u64, Vec<Weak<PermissionSet>>, foldhash::fast::RandomState>,
    /// Number of weak references stored in `by_hash`.
    slots: usize,
    /// Prune dead weaks when `slots` reaches this.
    prune_at: usize,
}

const MIN_PRUNE_AT: usize = 1024;

impl SetInterner {
    /// An empty interner.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(InternTable {
                prune_at: MIN_PRUNE_AT,
                ..InternTable::default()
            }),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn hash_of(&self, set: &PermissionSet) -> u64 {
        self.hasher.hash_one(set)
    }

    /// Returns the shared [`Arc`] of a set equal to `set`, creating it if no
    /// live one exists.
    pub fn intern(&self, set: PermissionSet) -> Arc<PermissionSet> {
        self.intern_with(set, Arc::new)
    }

    /// Like [`intern`](Self::intern) for a set that is already in an [`Arc`]:
    /// returns the existing shared `Arc` for an equal set, or registers and
    /// returns `set` itself.
    pub fn intern_arc(&self, set: Arc<PermissionSet>) -> Arc<PermissionSet> {
        let hash = self.hash_of(&set);
        let mut table = self.lock();
        if let Some(existing) = table.find(hash, &set) {
            return existing;
        }
        table.insert(hash, &set);
        set
    }

    fn intern_with(
        &self,
        set: PermissionSet,
        wrap: impl FnOnce(PermissionSet) -> Arc<PermissionSet>,
    ) -> Arc<PermissionSet> {
        let hash = self.hash_of(&set);
        let mut table = self.lock();
        if let Some(existing) = table.find(hash, &set) {
            return existing;
        }
        let arc = wrap(set);
        table.insert(hash, &arc);
        arc
    }

    /// Number of distinct sets currently alive in the interner.
    pub fn live_sets(&self) -> usize {
        let table = self.lock();
        table
            .by_hash
            .values()
            .flat_map(|v| v.iter())
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InternTable> {
        // The table stays consistent even if a holder panicked: every
        // mutation is a single push / retain.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InternTable {
    fn find(&self, hash: u64, set: &PermissionSet) -> Option<Arc<PermissionSet>> {
        self.by_hash
            .get(&hash)?
            .iter()
            .filter_map(Weak::upgrade)
            .find(|candidate| **candidate == *set)
    }

    fn insert(&mut self, hash: u64, set: &Arc<PermissionSet>) {
        if self.slots >= self.prune_at {
            self.prune();
        }
        self.by_hash
            .entry(hash)
            .or_default()
            .push(Arc::downgrade(set));
        self.slots += 1;
    }

    /// Drops dead weak references; amortised O(1) per insert because the
    /// next prune waits until the table has doubled again.
    fn prune(&mut self) {
        self.by_hash.retain(|_, weaks| {
            weaks.retain(|w| w.strong_count() > 0);
            !weaks.is_empty()
        });
        self.slots = self.by_hash.values().map(Vec::len).sum();
        self.prune_at = (self.slots * 2).max(MIN_PRUNE_AT);
    }
}

impl Default for SetInterner {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SetInterner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.lock();
        f.debug_struct("SetInterner")
            .field("slots", &table.slots)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sorts_and_dedups() {
        let s = PermissionSet::new([5, 1, 3, 5, 1]);
        assert_eq!(s.ids(), &[1, 3, 5]);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert!(s.contains(3));
        assert!(!s.contains(2));
        assert!(!s.contains(6));
        assert!(s.contains_all(&[1, 5]));
        assert!(!s.contains_all(&[1, 2]));
        assert!(s.contains_any(&[2, 5]));
        assert!(!s.contains_any(&[]));
        assert!(s.contains_all(&[]));
    }

    #[test]
    fn ids_on_both_sides_of_the_bitmap_are_found() {
        let ids = [0, 1, 63, 64, 127, 128, 200, 255, 256, 257, 1000, u32::MAX];
        let s = PermissionSet::new(ids);
        for id in ids {
            assert!(s.contains(id), "{id} missing");
        }
        for id in [2, 62, 65, 254, 258, 999, 1001, u32::MAX - 1] {
            assert!(!s.contains(id), "{id} present");
        }
        let high = PermissionSet::new([300, 400]);
        assert!((0..LOW_IDS).all(|id| !high.contains(id)));
        assert!(high.contains(300) && high.contains(400) && !high.contains(350));
    }

    #[test]
    fn small_and_large_sets_answer_alike() {
        for n in [0u32, 1, 29, 30, 31, 200] {
            let s = PermissionSet::new((0..n).rev().map(|i| i * 3));
            assert_eq!(s.len(), n as usize);
            assert_eq!(
                s.ids(),
                (0..n).map(|i| i * 3).collect::<Vec<_>>().as_slice()
            );
            assert!((0..n).all(|i| s.contains(i * 3) && !s.contains(i * 3 + 1)));
            assert_eq!(s.heap_bytes(), if n > 30 { 4 * n as usize } else { 0 });
            assert_eq!(s, PermissionSet::new((0..n).map(|i| i * 3)));
        }
    }

    #[test]
    fn empty_set() {
        let s = PermissionSet::empty();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert!(!s.contains(0));
        assert_eq!(s, PermissionSet::new([]));
    }

    #[test]
    fn equality_and_hash_by_content() {
        use std::collections::HashSet;
        let a = PermissionSet::new([3, 2, 1]);
        let b: PermissionSet = [1, 2, 3, 3].into_iter().collect();
        assert_eq!(a, b);
        let mut hs = HashSet::new();
        hs.insert(a);
        assert!(hs.contains(&b));
    }

    #[test]
    fn interner_shares_identical_sets() {
        let interner = SetInterner::new();
        let a = interner.intern(PermissionSet::new([1, 2, 3]));
        let b = interner.intern(PermissionSet::new([3, 2, 1]));
        let c = interner.intern(PermissionSet::new([1, 2]));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        let d = interner.intern_arc(Arc::new(PermissionSet::new([2, 1, 3])));
        assert!(Arc::ptr_eq(&a, &d));
        assert_eq!(interner.live_sets(), 2);
    }

    #[test]
    fn interner_forgets_dropped_sets_and_prunes() {
        let interner = SetInterner::new();
        let keep = interner.intern(PermissionSet::new([42]));
        for i in 0..5000u32 {
            drop(interner.intern(PermissionSet::new([i, i + 100_000])));
        }
        // Dead weaks were pruned along the way: the table stays small.
        let slots = interner.lock().slots;
        assert!(slots <= 2 * MIN_PRUNE_AT, "slots = {slots}");
        assert_eq!(interner.live_sets(), 1);
        let again = interner.intern(PermissionSet::new([42]));
        assert!(Arc::ptr_eq(&keep, &again));
        // A dropped set is re-created, not resurrected.
        let fresh = interner.intern(PermissionSet::new([7, 100_007]));
        assert_eq!(fresh.ids(), &[7, 100_007]);
    }
}
