//! Hit / miss counters (per-thread stripes), the stats snapshot and the metrics
//! the ticker publishes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::memo::Memo;
use super::{COUNTER_STRIPES, L1Cache};
use crate::permission::metrics as m;

/// Hit / miss / size counters of an [`L1Cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L1Stats {
    /// Lookups answered from the cache (approximate under more than 64
    /// threads: the counters are per-thread stripes updated without a
    /// read-modify-write).
    pub hits: u64,
    /// Lookups that found nothing, or only an expired entry.
    pub misses: u64,
    /// Entries (user, company) currently held, expired ones included until
    /// they are evicted or replaced.
    pub entries: u64,
    /// Users currently indexed by moka (approximate, as moka reports it).
    pub users: u64,
}

// ---------------------------------------------------------------------------
// Lookup / miss counters: per-thread stripes, written with a plain load + store
// (no lock-prefixed instruction on the hit path). Two threads share a stripe
// only beyond COUNTER_STRIPES threads, where an increment may rarely be lost.
//
// Every lookup bumps `lookups`, and only a miss also bumps `misses` (hits are the
// difference). A hit thus writes one counter whose address does not depend on the
// lookup's outcome. Counting into `hits` or `misses` by outcome made the store's
// address wait for the entry's cache miss, and the next lookup's shard lock (a
// locked instruction, which drains the store buffer) wait for that store: random
// lookups could no longer overlap their memory accesses and took about 3x longer.

#[repr(align(128))]
#[derive(Default)]
pub(super) struct CounterStripe {
    lookups: AtomicU64,
    misses: AtomicU64,
}

static NEXT_THREAD_STRIPE: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Out of line, so that the compiler keeps a branch on the outcome (predicted: hit)
/// rather than a store whose address or value waits for the lookup.
#[cold]
#[inline(never)]
fn count_miss(stripe: &CounterStripe) {
    bump(&stripe.misses);
}

impl L1Cache {
    #[inline]
    pub(super) fn count(&self, memo: &mut Memo, hit: bool) {
        if memo.stripe >= COUNTER_STRIPES {
            memo.stripe = NEXT_THREAD_STRIPE.fetch_add(1, Ordering::Relaxed) % COUNTER_STRIPES;
        }
        let c = &self.counters[memo.stripe];
        bump(&c.lookups);
        if !hit {
            count_miss(c);
        }
    }

    /// Entries (user, company) currently held.
    pub fn entry_count(&self) -> u64 {
        self.store.entries.load(Ordering::Relaxed).max(0) as u64
    }

    /// Hit / miss counters and sizes.
    pub fn stats(&self) -> L1Stats {
        let (lookups, misses) = self.counters.iter().fold((0u64, 0u64), |(l, mi), c| {
            (
                l + c.lookups.load(Ordering::Relaxed),
                mi + c.misses.load(Ordering::Relaxed),
            )
        });
        L1Stats {
            hits: lookups.saturating_sub(misses),
            misses,
            entries: self.entry_count(),
            users: self.index.entry_count(),
        }
    }

    pub(super) fn publish_metrics(&self) {
        let stats = self.stats();
        let dh = stats
            .hits
            .saturating_sub(self.published_hits.swap(stats.hits, Ordering::Relaxed));
        let dm = stats
            .misses
            .saturating_sub(self.published_misses.swap(stats.misses, Ordering::Relaxed));
        if dh > 0 {
            metrics::counter!(m::HITS_TOTAL, "tier" => m::TIER_L1).increment(dh);
        }
        if dm > 0 {
            metrics::counter!(m::MISSES_TOTAL, "tier" => m::TIER_L1).increment(dm);
        }
        metrics::gauge!(m::L1_ENTRIES).set(stats.entries as f64);
    }
}
