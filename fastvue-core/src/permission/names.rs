//! Codename -> id lookup for the hit path of a permission check.
//!
//! A check on a random key resolves its codename through the catalogue while the key's
//! cache line is on its way from memory. The CPU overlaps the misses of consecutive
//! checks only while their instructions fit in its reorder window, so every instruction
//! of a check counts, not only the cache misses. A `HashMap<Arc<str>, u32>` costs about
//! 125 instructions per lookup (foldhash over the string's bytes, the group probe, the
//! `Arc` dereference and a call to `bcmp`). [`NameTable`] is open addressing with
//! linear probing over slots that keep the length and the first and last eight bytes
//! of the codename. A codename of up to 16 bytes (`user.read`, `company.update`) is
//! then hashed with one multiply and compared in the slot itself, without touching its
//! string; a longer one costs one more multiply and one word comparison per eight bytes.
//!
//! The table is immutable: the catalogue builds a new one each time it learns a
//! codename, which happens once per permission.
use std::hash::BuildHasher;
use std::sync::Arc;

/// The multiplier of the hash (a 64-bit odd constant with well-mixed bits).
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Codenames up to this length are compared through their [`ends`] alone.
const SHORT: usize = 16;

/// `len` of an empty slot.
const EMPTY: u32 = u32::MAX;

/// One slot of the table.
#[derive(Clone)]
struct Slot {
    /// Length of the codename, or [`EMPTY`].
    len: u32,
    id: u32,
    /// [`ends`] of the codename: for a short one, the codename itself.
    head: u64,
    tail: u64,
    /// The codename, compared byte for byte when it is longer than [`SHORT`].
    name: Option<Arc<str>>,
}

const EMPTY_SLOT: Slot = Slot {
    len: EMPTY,
    id: 0,
    head: 0,
    tail: 0,
    name: None,
};

/// An immutable map from codename to permission id. See the [module docs](self).
#[derive(Clone)]
pub(crate) struct NameTable {
    seed: u64,
    /// `slots.len() - 1`; the length is a power of two, at least twice the entries.
    mask: usize,
    slots: Box<[Slot]>,
}

impl Default for NameTable {
    fn default() -> Self {
        Self::build(std::iter::empty())
    }
}

impl std::fmt::Debug for NameTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.slots.iter().filter(|s| s.len != EMPTY).count();
        f.debug_struct("NameTable")
            .field("entries", &entries)
            .finish()
    }
}

impl NameTable {
    /// A table of `(codename, id)` pairs, each codename given once (codenames longer
    /// than `u32::MAX` bytes are left out). Its hash seed is random, so colliding
    /// codenames cannot be chosen in advance.
    pub(crate) fn build<'a>(entries: impl ExactSizeIterator<Item = (&'a Arc<str>, u32)>) -> Self {
        let capacity = (entries.len() * 2).next_power_of_two().max(8);
        let mut table = Self {
            seed: foldhash::fast::RandomState::default().hash_one(K),
            mask: capacity - 1,
            slots: vec![EMPTY_SLOT; capacity].into_boxed_slice(),
        };
        for (name, id) in entries {
            let bytes = name.as_bytes();
            let Ok(len) = u32::try_from(bytes.len()) else {
                continue;
            };
            let (head, tail) = ends(bytes);
            let mut i = table.hash(bytes, head, tail) as usize & table.mask;
            while table.slots[i].len != EMPTY {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = Slot {
                len,
                id,
                head,
                tail,
                name: Some(Arc::clone(name)),
            };
        }
        table
    }

    /// The id of `codename`, if the table holds it.
    #[inline(always)]
    pub(crate) fn get(&self, codename: &str) -> Option<u32> {
        let name = codename.as_bytes();
        let len = u32::try_from(name.len()).ok()?;
        let (head, tail) = ends(name);
        let mut i = self.hash(name, head, tail) as usize & self.mask;
        loop {
            let slot = self.slots.get(i)?;
            if slot.len == len
                && slot.head == head
                && slot.tail == tail
                && (name.len() <= SHORT
                    || slot
                        .name
                        .as_deref()
                        .is_some_and(|stored| same_bytes(stored.as_bytes(), name)))
            {
                return Some(slot.id);
            }
            if slot.len == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// A seeded hash of `bytes`, whose [`ends`] are `head` and `tail`: one folded
    /// multiply for a short codename, one more per eight bytes beyond.
    #[inline(always)]
    fn hash(&self, bytes: &[u8], head: u64, tail: u64) -> u64 {
        let n = bytes.len();
        let mut h = fold(head ^ self.seed, tail ^ K ^ n as u64);
        if n > SHORT {
            for at in (8..n - 8).step_by(8) {
                h = fold(h ^ word(bytes, at), K);
            }
        }
        h
    }
}

/// The high and low halves of the 128-bit product, folded together.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The eight bytes of `b` at `at` (`at + 8 <= b.len()`).
#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Two words that, with the length, determine a codename of up to [`SHORT`] bytes:
/// its first and last eight bytes (overlapping when it is shorter than 16), or for a
/// codename under eight bytes, its two overlapping halves (or its first, middle and
/// last byte) and zero.
#[inline(always)]
fn ends(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        (word(b, 0), word(b, n - 8))
    } else if n >= 4 {
        let half = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&b[at..at + 4]);
            u64::from(u32::from_le_bytes(w))
        };
        (half(0) | (half(n - 4) << 32), 0)
    } else if n > 0 {
        let byte = |at: usize| u64::from(b[at]);
        (byte(0) | (byte(n / 2) << 8) | (byte(n - 1) << 16), 0)
    } else {
        (0, 0)
    }
}

/// Whether `a` and `b` hold the same bytes; compared a word at a time (codenames are
/// short, and a call to `memcmp` costs more than the comparison).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return ends(a) == ends(b);
    }
    // Whole words, then the last (possibly overlapping) word for the tail.
    (0..n / 8).all(|i| word(a, i * 8) == word(b, i * 8)) && word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[(&str, u32)]) -> NameTable {
        let owned: Vec<(Arc<str>, u32)> = names.iter().map(|&(n, id)| (Arc::from(n), id)).collect();
        NameTable::build(owned.iter().map(|(n, id)| (n, *id)))
    }

    #[test]
    fn every_codename_maps_to_its_id_and_others_to_none() {
        // Lengths around the word boundaries, shared prefixes and suffixes.
        let names: Vec<String> = (1..=40)
            .flat_map(|len| {
                ["a", "b"].map(|c| {
                    let mut s = "x".repeat(len - 1);
                    s.insert_str(len / 2, c);
                    s
                })
            })
            .chain((0..300).map(|i| format!("resource{i}.read")))
            .collect();
        let pairs: Vec<(&str, u32)> = names
            .iter()
            .zip(1..)
            .map(|(n, id)| (n.as_str(), id))
            .collect();
        let t = table(&pairs);
        for &(name, id) in &pairs {
            assert_eq!(t.get(name), Some(id), "{name}");
        }
        for missing in [
            "",
            "x",
            "resource300.read",
            "resource1.rea",
            "resource1.readd",
            "Resource1.read",
        ] {
            assert_eq!(t.get(missing), None, "{missing}");
        }
    }

    #[test]
    fn an_empty_table_holds_nothing() {
        assert_eq!(NameTable::default().get("user.read"), None);
        assert_eq!(NameTable::default().get(""), None);
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        for len in 0..=40 {
            let a = vec![7u8; len];
            assert!(same_bytes(&a, &a.clone()));
            for at in 0..len {
                let mut b = a.clone();
                b[at] = 8;
                assert!(!same_bytes(&a, &b), "len {len}, byte {at}");
            }
        }
        assert!(!same_bytes(b"abc", b"abcd"));
    }
}
