//! The registry of open permission streams (`GET /api/v1/auth/me/permissions/stream`)
//! of one server process, and the task that wakes them.
//!
//! One router task per registry reads [`Authorizer::subscribe_changes`] (every
//! permission-cache invalidation this process applies: its own writes, other replicas'
//! writes received over the Redis bus, operator invalidations) and wakes the streams a
//! scope covers: a (user, company) key or a user through the per-user index, a company
//! or everything by walking the registry. Before waking them it loads the woken
//! streams' sets together ([`Authorizer::prefetch`]: one statement per company rather
//! than one per stream). Waking is a `try_send` of a unit into the
//! stream's bounded queue (`SSE_QUEUE_SIZE`): the router never waits for a stream. When
//! the queue is full (the client reads too slowly for the stream to drain it) the stream
//! is marked *resync* instead: it has a wake-up pending anyway, and when it gets to it,
//! it sends its current set whether or not the `ETag` changed.
//!
//! Each user may hold `SSE_MAX_STREAMS_PER_USER` streams per process; opening one more
//! tells the oldest to close. The `fastvue_sse_streams` gauge counts the open streams
//! of the process.
//!
//! [`Authorizer::subscribe_changes`]: fastvue_core::permission::Authorizer::subscribe_changes
//! [`Authorizer::prefetch`]: fastvue_core::permission::Authorizer::prefetch
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use fastvue_core::Fastvue;
use fastvue_core::config::SseSettings;
use fastvue_core::permission::Invalidation;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, mpsc};

use crate::metrics::SSE_STREAMS;

/// The open streams of one server (cheap to clone; one per [`crate::startup::service`]).
#[derive(Clone)]
pub struct Streams {
    registry: Arc<Registry>,
}

struct Registry {
    fv: Fastvue,
    settings: SseSettings,
    next_id: AtomicU64,
    /// Open streams by user, oldest first.
    by_user: Mutex<HashMap<i64, Vec<Arc<Slot>>>>,
    /// Set once the router task runs (started by the first stream: it needs a runtime).
    router: OnceLock<()>,
    /// Set by [`Streams::close_all`]: the server is shutting down.
    closing: AtomicBool,
}

/// The router's handle on one stream.
struct Slot {
    id: u64,
    company_id: i64,
    wake: mpsc::Sender<()>,
    resync: AtomicBool,
    evicted: Notify,
}

impl Slot {
    fn wake(&self) {
        if let Err(mpsc::error::TrySendError::Full(())) = self.wake.try_send(()) {
            self.resync.store(true, Ordering::Release);
        }
    }
}

/// What an open stream should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Its set may have changed: recompute it; with `resync`, send it even when the
    /// `ETag` did not change (wake-ups were dropped while the queue was full).
    Changed {
        /// Whether wake-ups were dropped.
        resync: bool,
    },
    /// Too many streams of its user: close with `closed`.
    Evicted,
    /// The server is shutting down: close with `closed` (the client reconnects, through
    /// the proxy, to another replica).
    ShuttingDown,
}

/// One open stream's registration; dropping it unregisters the stream.
pub struct Subscription {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
    user_id: i64,
    wakes: mpsc::Receiver<()>,
}

impl Streams {
    /// An empty registry for the server of `fv`.
    pub fn new(fv: Fastvue) -> Self {
        let settings = fv.settings().sse.clone();
        Self {
            registry: Arc::new(Registry {
                fv,
                settings,
                next_id: AtomicU64::new(1),
                by_user: Mutex::new(HashMap::new()),
                router: OnceLock::new(),
                closing: AtomicBool::new(false),
            }),
        }
    }

    /// The `SSE_*` settings.
    pub fn settings(&self) -> &SseSettings {
        &self.registry.settings
    }

    /// Registers a stream of `user_id` in `company_id`. When the user already holds
    /// `SSE_MAX_STREAMS_PER_USER` streams, the oldest ones are told to close. Must be
    /// called inside the Tokio runtime (the first call starts the router task).
    pub fn open(&self, user_id: i64, company_id: i64) -> Subscription {
        let registry = &self.registry;
        registry.router.get_or_init(|| {
            let changes = registry.fv.authorizer().subscribe_changes();
            tokio::spawn(route(Arc::downgrade(registry), changes));
        });
        let (tx, rx) = mpsc::channel(registry.settings.queue_size);
        let slot = Arc::new(Slot {
            id: registry.next_id.fetch_add(1, Ordering::Relaxed),
            company_id,
            wake: tx,
            resync: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        {
            let mut by_user = registry.lock();
            let open = by_user.entry(user_id).or_default();
            let excess = (open.len() + 1).saturating_sub(registry.settings.max_streams_per_user);
            for oldest in open.drain(..excess) {
                oldest.evicted.notify_one();
            }
            open.push(Arc::clone(&slot));
        }
        metrics::gauge!(SSE_STREAMS).increment(1.0);
        Subscription {
            registry: Arc::clone(registry),
            slot,
            user_id,
            wakes: rx,
        }
    }
}

impl Streams {
    /// Tells every open stream to close (graceful shutdown: open streams would otherwise
    /// hold the drain until its timeout). Streams opened afterwards close at once.
    pub fn close_all(&self) {
        self.registry.closing.store(true, Ordering::Release);
        for slot in self.registry.lock().values().flatten() {
            slot.evicted.notify_one();
        }
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Arc<Slot>>>> {
        // Every critical section leaves the map consistent: ignore poisoning.
        self.by_user.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The streams `scope` covers, with their users.
    fn covered(&self, scope: &Invalidation) -> Vec<(i64, Arc<Slot>)> {
        let by_user = self.lock();
        let of_user = |user_id: i64| {
            by_user
                .get(&user_id)
                .into_iter()
                .flatten()
                .map(move |slot| (user_id, Arc::clone(slot)))
        };
        match scope {
            Invalidation::Keys(keys) => keys
                .iter()
                .flat_map(|key| {
                    of_user(key.user_id).filter(move |(_, slot)| slot.company_id == key.company_id)
                })
                .collect(),
            Invalidation::User(user_id) => of_user(*user_id).collect(),
            Invalidation::Company(company_id) => by_user
                .keys()
                .flat_map(|&user_id| of_user(user_id))
                .filter(|(_, slot)| slot.company_id == *company_id)
                .collect(),
            Invalidation::All => by_user
                .keys()
                .flat_map(|&user_id| of_user(user_id))
                .collect(),
        }
    }

    /// Wakes every stream `scope` covers. Their sets were just invalidated and each woken
    /// stream reads its own, so they are first loaded together: one statement per company
    /// (per 500 users) instead of one per stream. When that fails the streams are woken
    /// anyway and read their sets one by one.
    async fn deliver(&self, scope: &Invalidation) {
        let woken = self.covered(scope);
        if woken.is_empty() {
            return;
        }
        let mut by_company: HashMap<i64, Vec<i64>> = HashMap::new();
        for (user_id, slot) in &woken {
            by_company
                .entry(slot.company_id)
                .or_default()
                .push(*user_id);
        }
        for (company_id, users) in by_company {
            if let Err(e) = self.fv.authorizer().prefetch(company_id, &users).await {
                tracing::warn!(error = %e, company_id, "permission streams: batched read failed; streams read their own sets");
            }
        }
        for (_, slot) in woken {
            slot.wake();
        }
    }
}

/// The router task: applied invalidations -> wake-ups, until the registry or the
/// permission cache is gone. A lag (more than the broadcast buffer behind) wakes
/// everything.
async fn route(
    registry: Weak<Registry>,
    mut changes: tokio::sync::broadcast::Receiver<Invalidation>,
) {
    loop {
        let scope = match changes.recv().await {
            Ok(scope) => scope,
            Err(RecvError::Lagged(_)) => Invalidation::All,
            Err(RecvError::Closed) => return,
        };
        let Some(registry) = registry.upgrade() else {
            return;
        };
        registry.deliver(&scope).await;
    }
}

impl Subscription {
    /// Waits for the next thing to do. Wake-ups queued meanwhile are folded into one.
    pub async fn next(&mut self) -> Wake {
        if self.registry.closing.load(Ordering::Acquire) {
            return Wake::ShuttingDown;
        }
        tokio::select! {
            biased;
            () = self.slot.evicted.notified() => {
                if self.registry.closing.load(Ordering::Acquire) {
                    Wake::ShuttingDown
                } else {
                    Wake::Evicted
                }
            }
            // Never `None`: the subscription's own slot holds the sender.
            _ = self.wakes.recv() => {
                while self.wakes.try_recv().is_ok() {}
                Wake::Changed {
                    resync: self.slot.resync.swap(false, Ordering::AcqRel),
                }
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut by_user = self.registry.lock();
        if let Some(open) = by_user.get_mut(&self.user_id) {
            open.retain(|s| s.id != self.slot.id);
            if open.is_empty() {
                by_user.remove(&self.user_id);
            }
        }
        drop(by_user);
        metrics::gauge!(SSE_STREAMS).decrement(1.0);
    }
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("settings", &self.registry.settings)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("user_id", &self.user_id)
            .field("company_id", &self.slot.company_id)
            .finish_non_exhaustive()
    }
}
