//! The invalidation generations a fill ticket captures and
//! [`L1Cache::complete_fill`](super::L1Cache::complete_fill) compares.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{CacheKey, FillTicket, GEN_STRIPES, KEY_GEN_STRIPES, stripe};

pub(super) struct Generations {
    pub(super) epoch: AtomicU64,
    users: Box<[AtomicU64]>,
    companies: Box<[AtomicU64]>,
    keys: Box<[AtomicU64]>,
}

pub(super) const K_USER: u64 = 0x9E37_79B9_7F4A_7C15;
const K_COMPANY: u64 = 0xC2B2_AE3D_27D4_EB4F;
const K_KEY: u64 = 0x1656_67B1_9E37_79F9;

impl Generations {
    pub(super) fn new() -> Self {
        let stripes = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            epoch: AtomicU64::new(0),
            users: stripes(GEN_STRIPES),
            companies: stripes(GEN_STRIPES),
            keys: stripes(KEY_GEN_STRIPES),
        }
    }

    pub(super) fn user(&self, user_id: i64) -> &AtomicU64 {
        &self.users[stripe(user_id as u64, K_USER, GEN_STRIPES)]
    }
    pub(super) fn company(&self, company_id: i64) -> &AtomicU64 {
        &self.companies[stripe(company_id as u64, K_COMPANY, GEN_STRIPES)]
    }
    pub(super) fn key(&self, key: CacheKey) -> &AtomicU64 {
        let x = (key.user_id as u64) ^ (key.company_id as u64).rotate_left(29);
        &self.keys[stripe(x, K_KEY, KEY_GEN_STRIPES)]
    }

    pub(super) fn ticket(&self, key: CacheKey) -> FillTicket {
        FillTicket {
            key,
            epoch: self.epoch.load(Ordering::SeqCst),
            user_gen: self.user(key.user_id).load(Ordering::SeqCst),
            company_gen: self.company(key.company_id).load(Ordering::SeqCst),
            key_gen: self.key(key).load(Ordering::SeqCst),
        }
    }

    pub(super) fn unchanged(&self, t: &FillTicket) -> bool {
        *t == self.ticket(t.key)
    }
}
