//! The PostgreSQL invalidation feed: how every replica hears every committed change
//! within `MAX_STALENESS`, whatever the state of Redis, and knows when it cannot.
//!
//! # Delivery
//!
//! A write announces what it changed with `pg_notify` **inside its transaction**
//! ([`PgFeed::announce`]): PostgreSQL delivers the notification to every listening
//! session when (and only if) the transaction commits, in commit order, whether or not
//! Redis works, and even if the writer dies right after the commit. Operator
//! invalidations (`fastvue cache invalidate`, the admin endpoint) are announced the same
//! way, outside a transaction.
//!
//! Each replica keeps one listening connection (`DATABASE_LISTEN_URL`, else
//! `DATABASE_URL`: it must be a direct session, not a PgBouncer transaction pool). For a
//! notification from another process it first keeps the scope out of its own L2 reads,
//! drops it from its L1, and then deletes it from Redis in the background (lifting the
//! quarantine when done; a failure owes a full repair of Redis, as a local write's
//! failure does). So a reader on this replica never refills its L1 from a Redis value
//! older than the change, even while the writer's own Redis delete is late or lost.
//!
//! # Knowing when it cannot hear
//!
//! Every `MAX_STALENESS / 5` the replica notifies a tick on a channel of its own (through
//! the ordinary pool) and records when it sent it. Receiving its own tick back proves
//! that every change committed before that tick was sent has been delivered and applied
//! (PostgreSQL delivers in commit order, and this loop applies in order). So the cache may
//! serve until `sent + MAX_STALENESS`. A watchdog suspends the L1 when that moment passes
//! without a newer tick ([`super::l1::L1Cache::suspend`]: nothing cached, every check
//! reads the database, `/health` says `degraded`); the next tick resumes it after one more
//! clear. A lost listening connection (reconnected by sqlx) clears the L1 too: whatever
//! was notified meanwhile is lost.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sea_orm::sqlx::Connection;
use sea_orm::sqlx::postgres::{PgConnection, PgListener};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::{Notify, watch};

use super::bus::{InvalidationMessage, new_origin};
use super::change::Affected;
use super::l1::{Invalidation, L1Cache};
use super::metrics::{self as m, LogLimiter};
use super::remote::RemoteShared;
use crate::error::Result;

/// The channel every replica listens on for invalidations.
pub const CHANNEL: &str = "fastvue_invalidate";

/// Keys per notification: a `pg_notify` payload must stay under 8,000 bytes, and a key
/// takes at most 42 (`[i64::MAX,i64::MAX],`), so 180 keys take at most 7,560.
const KEYS_PER_MESSAGE: usize = 180;
/// Ticks per bound: a tick every `MAX_STALENESS / 5`.
const TICKS_PER_BOUND: u32 = 5;
/// How long to wait before reconnecting a listener that failed.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// A listener that hears no own tick for this many bounds (and at least
/// [`QUIET_MIN_MS`]) is replaced by a new connection.
const QUIET_BOUNDS: u32 = 3;
/// See [`QUIET_BOUNDS`].
const QUIET_MIN_MS: u64 = 3_000;
/// How long connecting and subscribing the listener may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many sent ticks are remembered (older ones cannot prove anything newer).
const SENT_TICKS_KEPT: usize = 64;

/// The feed's state as `/health` and `/metrics` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedHealth {
    /// Whether the replica has proved, within the bound, that it hears every change.
    pub live: bool,
    /// Milliseconds since the last own tick came back; `None` before the first one.
    pub last_tick_age_ms: Option<u64>,
}

/// A running feed; dropping the last [`crate::Fastvue`] clone stops its tasks.
#[derive(Debug, Clone)]
pub struct PgFeed {
    shared: Arc<FeedShared>,
}

#[derive(Debug)]
struct FeedShared {
    origin: String,
    tick_channel: String,
    bound: Duration,
    started: Instant,
    /// Milliseconds since `started` until which the cache may serve (0: never proved).
    live_until: AtomicU64,
    /// Milliseconds since `started` of the last own tick received (0: none).
    last_tick: AtomicU64,
    /// (sequence, milliseconds since `started` when sent) of recent ticks.
    sent: Mutex<VecDeque<(u64, u64)>>,
    seq: AtomicU64,
    /// Woken by every received tick.
    ticked: Notify,
    /// Whether the listener is subscribed now (ticks sent before would be lost).
    listening: AtomicBool,
    /// Woken when the listener subscribes.
    subscribed: Notify,
    suspensions: AtomicU64,
    /// Dropped with the feed: closes the listening connection at once.
    _stop: watch::Sender<()>,
}

impl FeedShared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl PgFeed {
    /// Starts the feed of this process: the listener and the ticker, each on its own
    /// connection to `listen_url`, and the watchdog, keeping `l1` suspended until the feed is proved live.
    /// `remote` is the Redis tier, whose values the feed keeps coherent.
    pub(crate) fn spawn(
        listen_url: &str,
        bound: Duration,
        l1: Arc<L1Cache>,
        remote: Option<Arc<RemoteShared>>,
    ) -> Self {
        let origin = new_origin();
        let (stop, stopped) = watch::channel(());
        let shared = Arc::new(FeedShared {
            tick_channel: format!("fastvue_tick_{}", origin.replace('-', "")),
            origin,
            bound,
            started: Instant::now(),
            live_until: AtomicU64::new(0),
            last_tick: AtomicU64::new(0),
            sent: Mutex::new(VecDeque::with_capacity(SENT_TICKS_KEPT)),
            seq: AtomicU64::new(0),
            ticked: Notify::new(),
            listening: AtomicBool::new(false),
            subscribed: Notify::new(),
            suspensions: AtomicU64::new(0),
            _stop: stop,
        });
        // Nothing is served from memory until the first tick proves the feed.
        l1.suspend();
        metrics::gauge!(m::FEED_LIVE).set(0.0);
        tokio::spawn(listen_loop(
            listen_url.to_owned(),
            stopped,
            Arc::downgrade(&shared),
            Arc::downgrade(&l1),
            remote.as_ref().map(Arc::downgrade),
        ));
        tokio::spawn(tick_loop(listen_url.to_owned(), Arc::downgrade(&shared)));
        tokio::spawn(watchdog_loop(Arc::downgrade(&shared), Arc::downgrade(&l1)));
        Self { shared }
    }

    /// The origin id this process's notifications carry.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The staleness bound this feed keeps.
    pub fn bound(&self) -> Duration {
        self.shared.bound
    }

    /// Waits until the feed is proved live, at most `timeout`; returns whether it is.
    pub async fn wait_live(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.ticked.notified();
            if self.health().live {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.health().live;
            }
        }
    }

    /// Whether the replica hears every change now, and how old its last proof is.
    pub fn health(&self) -> FeedHealth {
        let s = &self.shared;
        let now = s.now_ms();
        let last = s.last_tick.load(Ordering::SeqCst);
        FeedHealth {
            live: now < s.live_until.load(Ordering::SeqCst),
            last_tick_age_ms: (last > 0).then(|| now.saturating_sub(last)),
        }
    }

    /// How many times the feed fell silent and suspended the cache.
    pub fn suspensions(&self) -> u64 {
        self.shared.suspensions.load(Ordering::SeqCst)
    }

    /// Announces `affected` on `db`: inside a transaction it is delivered to every
    /// replica when (and if) the transaction commits; on a plain connection (operator
    /// invalidations) at once.
    pub async fn announce<C: ConnectionTrait>(&self, db: &C, affected: &Affected) -> Result<()> {
        for payload in payloads(&self.shared.origin, affected) {
            notify(db, CHANNEL, &payload).await?;
        }
        Ok(())
    }
}

async fn notify<C: ConnectionTrait>(db: &C, channel: &str, payload: &str) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}

/// The notification payloads of `affected`, each small enough for `pg_notify`.
fn payloads(origin: &str, affected: &Affected) -> Vec<String> {
    affected
        .scopes()
        .into_iter()
        .flat_map(|scope| match scope {
            Invalidation::Keys(keys) if keys.len() > KEYS_PER_MESSAGE => keys
                .chunks(KEYS_PER_MESSAGE)
                .map(|c| Invalidation::Keys(c.to_vec()))
                .collect(),
            other => vec![other],
        })
        .map(|scope| InvalidationMessage::new(origin, &scope).to_json())
        .collect()
}

/// Applies another process's invalidation on this replica: keeps the scope out of L2
/// reads, drops it from L1, then deletes it from Redis in the background.
fn apply_remote(l1: &L1Cache, remote: Option<&Arc<RemoteShared>>, scope: Invalidation) {
    let Some(shared) = remote else {
        l1.apply(&scope, "pg");
        return;
    };
    let ticket = shared.quarantine(scope.clone());
    l1.apply(&scope, "pg");
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        shared.invalidate_l2_or_owe_repair(&scope).await;
        shared.release(ticket);
    });
}

async fn listen_loop(
    url: String,
    mut stopped: watch::Receiver<()>,
    shared: Weak<FeedShared>,
    l1: Weak<L1Cache>,
    remote: Option<Weak<RemoteShared>>,
) {
    let log = LogLimiter::new(Duration::from_secs(5));
    let mut first = true;
    loop {
        let Some(s) = shared.upgrade() else { return };
        let tick_channel = s.tick_channel.clone();
        let origin = s.origin.clone();
        drop(s);
        let subscribe = async {
            let mut listener = PgListener::connect(&url).await?;
            listener
                .listen_all([CHANNEL, tick_channel.as_str()])
                .await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            l = tokio::time::timeout(CONNECT_TIMEOUT, subscribe) => l,
            _ = stopped.changed() => return,
        };
        let mut listener = match listener {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                if let Some(suppressed) = log.permit() {
                    tracing::warn!(error = %e, suppressed, "invalidation feed: cannot listen; retrying");
                }
                tokio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
            Err(_) => {
                if let Some(suppressed) = log.permit() {
                    tracing::warn!(
                        suppressed,
                        "invalidation feed: cannot listen (timed out); retrying"
                    );
                }
                continue;
            }
        };
        // Listening: nothing is missed from here on. Anything notified before is lost.
        if let Some(l1) = l1.upgrade() {
            if first {
                l1.announce(Invalidation::All);
            } else {
                l1.apply(&Invalidation::All, "resubscribe");
            }
        }
        first = false;
        let Some(listening_since) = shared.upgrade().map(|s| {
            s.listening.store(true, Ordering::SeqCst);
            s.subscribed.notify_waiters();
            s.now_ms()
        }) else {
            return;
        };
        loop {
            // A connection that went quiet without an error (a half-open socket, a stalled
            // proxy) would wait forever: no own tick heard for a while means start over.
            let quiet_for = shared.upgrade().map_or(Duration::ZERO, |s| {
                let heard = s.last_tick.load(Ordering::SeqCst).max(listening_since);
                let deadline =
                    heard.saturating_add(millis(s.bound * QUIET_BOUNDS).max(QUIET_MIN_MS));
                Duration::from_millis(deadline.saturating_sub(s.now_ms()))
            });
            let next = tokio::select! {
                next = listener.try_recv() => Some(next),
                _ = tokio::time::sleep(quiet_for) => None,
                _ = stopped.changed() => return,
            };
            let Some(next) = next else {
                if let Some(s) = shared.upgrade() {
                    s.listening.store(false, Ordering::SeqCst);
                }
                metrics::counter!(m::FEED_RECONNECTS_TOTAL).increment(1);
                if let Some(suppressed) = log.permit() {
                    tracing::warn!(
                        suppressed,
                        "invalidation feed: listening connection quiet (no tick heard); reconnecting"
                    );
                }
                break;
            };
            let (Some(s), Some(l1)) = (shared.upgrade(), l1.upgrade()) else {
                return;
            };
            match next {
                Ok(Some(n)) if n.channel() == CHANNEL => {
                    let Ok(msg) = serde_json::from_str::<InvalidationMessage>(n.payload()) else {
                        // Unreadable: dropping too much is safe.
                        let remote = remote.as_ref().and_then(Weak::upgrade);
                        apply_remote(&l1, remote.as_ref(), Invalidation::All);
                        continue;
                    };
                    if msg.origin == origin {
                        continue; // applied locally already
                    }
                    let scope = msg.invalidation().unwrap_or(Invalidation::All);
                    let remote = remote.as_ref().and_then(Weak::upgrade);
                    apply_remote(&l1, remote.as_ref(), scope);
                }
                Ok(Some(n)) => {
                    if let Ok(seq) = n.payload().parse::<u64>() {
                        on_tick(&s, &l1, seq);
                    }
                }
                Ok(None) | Err(_) => {
                    // The connection was lost or failed: whatever was notified until the
                    // new one listens is lost, so the L1 is cleared once it does. Until
                    // then the watchdog bounds what is served (no tick comes back).
                    s.listening.store(false, Ordering::SeqCst);
                    metrics::counter!(m::FEED_RECONNECTS_TOTAL).increment(1);
                    if let Some(suppressed) = log.permit() {
                        let error = next.err().map(|e| e.to_string());
                        tracing::warn!(
                            ?error,
                            suppressed,
                            "invalidation feed: listening connection lost; reconnecting"
                        );
                    }
                    break;
                }
            }
        }
        // Reconnect on a fresh connection (not sqlx's implicit one, which would listen
        // again before this loop could clear the L1).
        drop(listener);
        tokio::time::sleep(RECONNECT_BACKOFF).await;
    }
}

/// An own tick came back: everything committed before it was sent has been applied.
fn on_tick(s: &FeedShared, l1: &L1Cache, seq: u64) {
    let sent_at = {
        let sent = s.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.iter().find(|(n, _)| *n == seq).map(|(_, at)| *at)
    };
    let Some(sent_at) = sent_at else { return };
    let bound = millis(s.bound);
    s.live_until
        .fetch_max(sent_at.saturating_add(bound), Ordering::SeqCst);
    s.last_tick.store(s.now_ms().max(1), Ordering::SeqCst);
    let now = s.now_ms();
    if now < s.live_until.load(Ordering::SeqCst) && l1.resume() {
        metrics::gauge!(m::FEED_LIVE).set(1.0);
        tracing::info!("invalidation feed: live; permission caching resumed");
    }
    s.ticked.notify_waiters();
}

async fn tick_loop(url: String, shared: Weak<FeedShared>) {
    let log = LogLimiter::new(Duration::from_secs(5));
    // A connection of its own: a pool saturated by reads (as while suspended) must not
    // delay the proof that would end the suspension.
    let mut conn: Option<PgConnection> = None;
    loop {
        let Some(s) = shared.upgrade() else { return };
        let every = s.bound / TICKS_PER_BOUND;
        let subscribed = s.subscribed.notified();
        if !s.listening.load(Ordering::SeqCst) {
            // A tick sent before the listener subscribes is never heard: wait for it
            // (holding the handle at most one tick period).
            let _ = tokio::time::timeout(every, subscribed).await;
            continue;
        }
        drop(subscribed);
        let seq = s.seq.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut sent = s.sent.lock().unwrap_or_else(|e| e.into_inner());
            if sent.len() == SENT_TICKS_KEPT {
                sent.pop_front();
            }
            sent.push_back((seq, s.now_ms()));
        }
        let channel = s.tick_channel.clone();
        drop(s);
        let attempt = tokio::time::timeout(every, async {
            if conn.is_none() {
                conn = Some(PgConnection::connect(&url).await?);
            }
            let c = conn.as_mut().expect("connected above");
            sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&channel)
                .bind(seq.to_string())
                .execute(c)
                .await
                .map(drop)
        })
        .await;
        if !matches!(attempt, Ok(Ok(()))) {
            // Start over on a new connection: the old one may be stuck mid-statement.
            conn = None;
            if let Some(suppressed) = log.permit() {
                let error = match attempt {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(error, suppressed, "invalidation feed: cannot send a tick");
            }
        }
        tokio::time::sleep(every).await;
    }
}

async fn watchdog_loop(shared: Weak<FeedShared>, l1: Weak<L1Cache>) {
    // While silent, the change subscribers (open permission streams) are told that
    // anything may have changed once per bound: they re-read instead of waiting for a
    // change nobody can hear.
    let mut told = Instant::now();
    loop {
        let (Some(s), Some(l1)) = (shared.upgrade(), l1.upgrade()) else {
            return;
        };
        let now = s.now_ms();
        let until = s.live_until.load(Ordering::SeqCst);
        if now >= until {
            if l1.suspend() {
                s.suspensions.fetch_add(1, Ordering::SeqCst);
                metrics::gauge!(m::FEED_LIVE).set(0.0);
                tracing::warn!(
                    silent_ms = now.saturating_sub(s.last_tick.load(Ordering::SeqCst)),
                    "invalidation feed: silent longer than MAX_STALENESS; permission caching suspended, reading through to the database"
                );
                told = Instant::now();
            } else if told.elapsed() >= s.bound {
                l1.announce(Invalidation::All);
                told = Instant::now();
            }
            // Wake on the next tick (or look again shortly); the handles are held 50 ms
            // at most, so dropping the cache is never delayed longer.
            drop(l1);
            let _ = tokio::time::timeout(Duration::from_millis(50), s.ticked.notified()).await;
        } else {
            let wait = Duration::from_millis(until - now);
            drop((s, l1));
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether `listen_url` can carry the feed: listens on a fresh channel, notifies it on
/// the same session and waits for the notification, at most `timeout` in all. Returns
/// the time from the notify to its delivery (`fastvue check` reports it). A PgBouncer transaction pool, for one, never
/// delivers it.
pub async fn probe(listen_url: &str, timeout: Duration) -> std::result::Result<Duration, String> {
    let channel = format!("fastvue_probe_{}", new_origin().replace('-', ""));
    let round_trip = async {
        // A plain connection first: a refused connection or a bad password fails at
        // once with its own message (the listener's pool would retry until the timeout).
        PgConnection::connect(listen_url).await?.close().await?;
        let mut listener = PgListener::connect(listen_url).await?;
        listener.listen(&channel).await?;
        let sent = Instant::now();
        sea_orm::sqlx::query("SELECT pg_notify($1, 'probe')")
            .bind(&channel)
            .execute(&mut listener)
            .await?;
        listener.recv().await?;
        Ok::<_, sea_orm::sqlx::Error>(sent.elapsed())
    };
    match tokio::time::timeout(timeout, round_trip).await {
        Ok(Ok(rtt)) => Ok(rtt),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no notification within {} s (a connection pool in transaction mode cannot LISTEN)",
            timeout.as_secs()
        )),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::l1::CacheKey;

    #[test]
    fn large_key_sets_are_split_into_notifications_that_fit_pg_notify() {
        let keys: Vec<(i64, i64)> = (0..1_000).map(|u| (i64::MAX - u, i64::MAX)).collect();
        let affected = Affected {
            keys,
            users: vec![7],
            companies: vec![3],
            all: false,
        };
        let p = payloads("6f1c0000-0000-0000-0000-000000000000", &affected);
        assert_eq!(p.len(), 2 + 1_000usize.div_ceil(KEYS_PER_MESSAGE));
        assert!(
            p.iter().all(|m| m.len() < 8_000),
            "{:?}",
            p.iter().map(String::len).max()
        );
        let back: usize = p
            .iter()
            .map(|m| {
                serde_json::from_str::<InvalidationMessage>(m)
                    .unwrap()
                    .keys
                    .len()
            })
            .sum();
        assert_eq!(back, 1_000);
    }

    #[test]
    fn a_scope_covers_exactly_its_keys() {
        let k = CacheKey::new(1, 2);
        assert!(Invalidation::All.covers(k));
        assert!(Invalidation::User(1).covers(k));
        assert!(!Invalidation::User(2).covers(k));
        assert!(Invalidation::Company(2).covers(k));
        assert!(Invalidation::Keys(vec![k]).covers(k));
        assert!(!Invalidation::Keys(vec![CacheKey::new(1, 3)]).covers(k));
    }
}
