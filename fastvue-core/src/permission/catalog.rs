//! The permission catalogue: codename <-> interned id, learned from every fill.
//!
//! A cached [`PermissionSet`](super::set::PermissionSet) holds permission ids (the
//! database ids, which are never reused); checks name codenames. Every id that enters
//! a cached set passes through [`Catalog::learn`] first, so a codename the catalogue does
//! not know cannot be in any cached set, and an unknown codename is simply "not held".
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Codename <-> id map shared by all checks.
#[derive(Debug, Default)]
pub struct Catalog {
    inner: RwLock<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    by_name: HashMap<Arc<str>, u32>,
    by_id: HashMap<u32, Arc<str>>,
}

/// Narrows a database id to the interned width; ids beyond `u32::MAX` are not supported.
pub(crate) fn intern_id(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

impl Catalog {
    /// The id of `codename`, if any cached set could hold it.
    pub fn id(&self, codename: &str) -> Option<u32> {
        self.read().by_name.get(codename).copied()
    }

    /// Codenames of `ids`, in the order given (unknown ids are skipped).
    pub fn codenames(&self, ids: &[u32]) -> Vec<Arc<str>> {
        let maps = self.read();
        ids.iter()
            .filter_map(|id| maps.by_id.get(id).cloned())
            .collect()
    }

    /// Ids of `codenames`; `None` when one of them is unknown.
    pub fn ids(&self, codenames: &[String]) -> Option<Vec<u32>> {
        let maps = self.read();
        codenames
            .iter()
            .map(|c| maps.by_name.get(c.as_str()).copied())
            .collect()
    }

    /// Records (id, codename) pairs read from the database.
    pub fn learn<'a>(&self, grants: impl IntoIterator<Item = (u32, &'a str)>) {
        let unknown: Vec<(u32, &str)> = {
            let maps = self.read();
            grants
                .into_iter()
                .filter(|(id, _)| !maps.by_id.contains_key(id))
                .collect()
        };
        if unknown.is_empty() {
            return;
        }
        let mut maps = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for (id, codename) in unknown {
            if !maps.by_id.contains_key(&id) {
                let name: Arc<str> = Arc::from(codename);
                maps.by_name.insert(name.clone(), id);
                maps.by_id.insert(id, name);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
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
