//! The fast map behind the hit path: the entry, the shard (entries plus each user's
//! companies) and the store of shards shared with moka's eviction listener.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{CacheKey, shard_index};
use crate::permission::set::PermissionSet;

pub(super) struct Entry {
    pub(super) set: Arc<PermissionSet>,
    /// Coarse-clock second at which the entry stops answering.
    pub(super) expires_at: u32,
}

type Hasher = foldhash::fast::RandomState;

/// One shard: the entries, and per user the companies it has entries for
/// (always exactly the keys of `entries` with that user).
#[derive(Default)]
pub(super) struct ShardData {
    pub(super) entries: HashMap<CacheKey, Entry, Hasher>,
    pub(super) users: HashMap<i64, Box<[i64]>, Hasher>,
}

impl ShardData {
    fn user_len(&self, user_id: i64) -> usize {
        self.users.get(&user_id).map_or(0, |c| c.len())
    }

    /// Inserts or replaces `key`, dropping the user's other expired
    /// entries on the way. Returns the change in the number of entries and
    /// whether an entry of `key` was replaced.
    pub(super) fn insert(&mut self, key: CacheKey, entry: Entry, now: u32) -> (i64, bool) {
        let user = key.user_id;
        let old = self.users.remove(&user).unwrap_or_default();
        let mut kept = Vec::with_capacity(old.len() + 1);
        let mut removed = 0i64;
        for &c in old.iter().filter(|&&c| c != key.company_id) {
            let k = CacheKey::new(user, c);
            if self.entries.get(&k).is_some_and(|e| now < e.expires_at) {
                kept.push(c);
            } else {
                self.entries.remove(&k);
                removed += 1;
            }
        }
        kept.push(key.company_id);
        let replaced = self.entries.insert(key, entry).is_some();
        self.users.insert(user, kept.into_boxed_slice());
        (1 - removed - i64::from(replaced), replaced)
    }

    /// Removes `key`; returns whether it was present.
    pub(super) fn remove_key(&mut self, key: CacheKey) -> bool {
        if self.entries.remove(&key).is_none() {
            return false;
        }
        if let Some(companies) = self.users.get_mut(&key.user_id) {
            if companies.len() <= 1 {
                self.users.remove(&key.user_id);
            } else {
                *companies = companies
                    .iter()
                    .copied()
                    .filter(|&c| c != key.company_id)
                    .collect();
            }
        }
        true
    }

    /// Removes every entry of `user_id`; returns how many.
    fn remove_user(&mut self, user_id: i64) -> u64 {
        let Some(companies) = self.users.remove(&user_id) else {
            return 0;
        };
        for &c in companies.iter() {
            self.entries.remove(&CacheKey::new(user_id, c));
        }
        companies.len() as u64
    }

    /// Removes every entry of `company_id`; returns the users touched.
    pub(super) fn remove_company(&mut self, company_id: i64) -> Vec<i64> {
        let ShardData { entries, users } = self;
        let mut touched = Vec::new();
        users.retain(|&user_id, companies| {
            if !companies.contains(&company_id) {
                return true;
            }
            entries.remove(&CacheKey::new(user_id, company_id));
            touched.push(user_id);
            *companies = companies
                .iter()
                .copied()
                .filter(|&c| c != company_id)
                .collect();
            !companies.is_empty()
        });
        touched
    }
}

#[repr(align(128))]
pub(super) struct Shard(pub(super) RwLock<ShardData>);

impl Shard {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, ShardData> {
        // Every mutation keeps `entries` and `users` consistent before it
        // can panic (allocation failure aborts), so ignore poisoning.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, ShardData> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The shards plus the entry counter: shared with moka's eviction listener.
pub(super) struct Store {
    pub(super) shards: Box<[Shard]>,
    pub(super) entries: AtomicI64,
}

impl Store {
    pub(super) fn shard(&self, user_id: i64) -> &Shard {
        &self.shards[shard_index(user_id)]
    }

    pub(super) fn slot_count(&self, user_id: i64) -> u32 {
        self.shard(user_id).read().user_len(user_id) as u32
    }

    pub(super) fn remove_user(&self, user_id: i64) -> u64 {
        let n = self.shard(user_id).write().remove_user(user_id);
        self.entries.fetch_sub(n as i64, Ordering::Relaxed);
        n
    }
}
