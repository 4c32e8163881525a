//! The Redis side of the permission cache as the tiered cache, its repair task and the
//! PostgreSQL feed share it: the L2, the bus, the repair debt and the quarantine.
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::bus::InvalidationBus;
use super::l1::{CacheKey, Invalidation};
use super::l2::RedisTier;

const REPAIR_BACKOFF_MIN: Duration = Duration::from_millis(500);
const REPAIR_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The Redis tier and its bookkeeping, shared with the repair task and the
/// PostgreSQL feed.
pub(crate) struct RemoteShared {
    pub(super) l2: RedisTier,
    pub(super) bus: InvalidationBus,
    /// Bumped by every failed remote invalidation.
    pub(super) owed: AtomicU64,
    /// Highest `owed` value a successful repair has covered.
    pub(super) repaired: AtomicU64,
    pub(super) repairing: AtomicBool,
    /// Scopes another process changed whose Redis values this process has not deleted
    /// yet: not read from Redis meanwhile (see [`feed`]).
    pub(super) quarantine: Mutex<Vec<(u64, Invalidation)>>,
    /// `quarantine.len()`, read without the lock on every L2 lookup.
    pub(super) quarantined: AtomicUsize,
    pub(super) next_quarantine: AtomicU64,
}

impl RemoteShared {
    pub(super) fn repair_pending(&self) -> bool {
        self.owed.load(Ordering::SeqCst) > self.repaired.load(Ordering::SeqCst)
    }

    /// Keeps `scope` out of L2 reads until [`release`](Self::release) of the returned id.
    pub(crate) fn quarantine(&self, scope: Invalidation) -> u64 {
        let id = self.next_quarantine.fetch_add(1, Ordering::SeqCst);
        let mut q = self.quarantine.lock().unwrap_or_else(|e| e.into_inner());
        q.push((id, scope));
        self.quarantined.store(q.len(), Ordering::SeqCst);
        id
    }

    /// Ends the quarantine `id`.
    pub(crate) fn release(&self, id: u64) {
        let mut q = self.quarantine.lock().unwrap_or_else(|e| e.into_inner());
        q.retain(|(n, _)| *n != id);
        self.quarantined.store(q.len(), Ordering::SeqCst);
    }

    pub(super) fn is_quarantined(&self, key: CacheKey) -> bool {
        if self.quarantined.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let q = self.quarantine.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().any(|(_, scope)| scope.covers(key))
    }

    /// Deletes `scope` from Redis; a failure (or Redis known down) owes a full repair.
    pub(crate) async fn invalidate_l2_or_owe_repair(self: &Arc<Self>, scope: &Invalidation) {
        if self.l2.is_degraded() || self.l2.invalidate(scope).await.is_err() {
            schedule_repair(self);
        }
    }
}

/// Records a debt and makes sure one repair task is running.
pub(super) fn schedule_repair(shared: &Arc<RemoteShared>) {
    shared.owed.fetch_add(1, Ordering::SeqCst);
    if shared.repairing.swap(true, Ordering::SeqCst) {
        return;
    }
    let weak = Arc::downgrade(shared);
    tokio::spawn(repair_loop(weak));
}

async fn repair_loop(weak: Weak<RemoteShared>) {
    let mut backoff = REPAIR_BACKOFF_MIN;
    loop {
        tokio::time::sleep(backoff).await;
        let Some(shared) = weak.upgrade() else { return };
        let target = shared.owed.load(Ordering::SeqCst);
        if shared.l2.invalidate_all().await.is_ok() && shared.bus.publish(&Invalidation::All).await
        {
            shared.repaired.fetch_max(target, Ordering::SeqCst);
            tracing::info!(
                "permission cache: Redis reachable again; L2 and other replicas cleared"
            );
            backoff = REPAIR_BACKOFF_MIN;
        } else {
            backoff = (backoff * 2).min(REPAIR_BACKOFF_MAX);
        }
        if !shared.repair_pending() {
            shared.repairing.store(false, Ordering::SeqCst);
            // A debt recorded between the check and the store would have
            // found `repairing` still set: take it over.
            if !shared.repair_pending() || shared.repairing.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }
}
