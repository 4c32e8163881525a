//! Cross-process invalidation over Redis pub/sub.
//!
//! Every replica publishes each invalidation on [`CHANNEL`](crate::redis::CHANNEL) and runs one
//! subscriber ([`spawn_subscriber`]) that applies the invalidations of
//! *other* replicas to its L1. A subscriber that loses its connection may
//! have missed messages, so after every re-subscription it clears its whole
//! L1 (on the first subscription only if the L1 already holds entries).
//!
//! # Wire format
//!
//! One JSON object per message ([`InvalidationMessage`]):
//!
//! ```json
//! {"origin": "6f1c…", "scope": "keys", "keys": [[1, 10], [2, 10]]}
//! {"origin": "6f1c…", "scope": "user", "user_id": 7}
//! {"origin": "6f1c…", "scope": "company", "company_id": 3}
//! {"origin": "6f1c…", "scope": "all"}
//! ```
//!
//! `keys` is an array of `[user_id, company_id]` pairs. Fields a scope does
//! not use are omitted on output and ignored on input. A message that cannot
//! be understood is applied as `all` (dropping too much is safe, dropping
//! too little is not).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::l1::{CacheKey, Invalidation, L1Cache};
use super::l2::L2Error;
use super::metrics::{self as m, LogLimiter};
use crate::redis::RedisPool;

const LOG_EVERY: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The subscriber pings its connection this often to notice silent drops.
const PING_EVERY: Duration = Duration::from_secs(15);
/// Bound on connecting + subscribing, and on each ping.
const SUBSCRIBER_TIMEOUT: Duration = Duration::from_secs(5);

/// A fresh random instance id (UUID v4, hyphenated) to use as `origin`.
pub fn new_origin() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The `scope` field of an [`InvalidationMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The listed `keys`.
    Keys,
    /// Every key of `user_id`.
    User,
    /// Every key of `company_id`.
    Company,
    /// Everything.
    All,
}

/// One invalidation as published on [`CHANNEL`](crate::redis::CHANNEL) (see the
/// [module docs](self) for the JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidationMessage {
    /// Instance id of the publisher; a subscriber ignores its own messages.
    pub origin: String,
    /// What to drop.
    pub scope: Scope,
    /// `[user_id, company_id]` pairs, for [`Scope::Keys`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<(i64, i64)>,
    /// The user, for [`Scope::User`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The company, for [`Scope::Company`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<i64>,
}

impl InvalidationMessage {
    /// The message announcing `scope` from `origin`.
    pub fn new(origin: impl Into<String>, scope: &Invalidation) -> Self {
        let mut msg = Self {
            origin: origin.into(),
            scope: Scope::All,
            keys: Vec::new(),
            user_id: None,
            company_id: None,
        };
        match scope {
            Invalidation::Keys(keys) => {
                msg.scope = Scope::Keys;
                msg.keys = keys.iter().map(|k| (k.user_id, k.company_id)).collect();
            }
            Invalidation::User(u) => {
                msg.scope = Scope::User;
                msg.user_id = Some(*u);
            }
            Invalidation::Company(c) => {
                msg.scope = Scope::Company;
                msg.company_id = Some(*c);
            }
            Invalidation::All => {}
        }
        msg
    }

    /// The invalidation this message asks for; `None` if a field the scope
    /// needs is missing.
    pub fn invalidation(&self) -> Option<Invalidation> {
        Some(match self.scope {
            Scope::Keys => Invalidation::Keys(
                self.keys
                    .iter()
                    .map(|&(u, c)| CacheKey::new(u, c))
                    .collect(),
            ),
            Scope::User => Invalidation::User(self.user_id?),
            Scope::Company => Invalidation::Company(self.company_id?),
            Scope::All => Invalidation::All,
        })
    }

    /// The JSON text published on the channel.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an InvalidationMessage always serialises")
    }
}

// ---------------------------------------------------------------------------
// Publisher

/// Publishes invalidations on [`CHANNEL`](crate::redis::CHANNEL) through the shared pool. Cheap to
/// clone.
#[derive(Clone)]
pub struct InvalidationBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    pool: RedisPool,
    channel: String,
    timeout: Duration,
    origin: String,
    log: LogLimiter,
}

impl InvalidationBus {
    /// A publisher on `channel` (see [`KeySpace::channel`](super::l2::KeySpace::channel))
    /// using `pool`, each publish bounded by `timeout`, stamping messages with `origin`
    /// (see [`new_origin`]).
    pub fn new(
        pool: RedisPool,
        channel: impl Into<String>,
        timeout: Duration,
        origin: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(BusInner {
                pool,
                channel: channel.into(),
                timeout,
                origin: origin.into(),
                log: LogLimiter::new(LOG_EVERY),
            }),
        }
    }

    /// This instance's id, stamped on every message.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// Publishes `scope` from this instance. Returns whether Redis accepted
    /// the message; never errors (a failure is counted and logged).
    pub async fn publish(&self, scope: &Invalidation) -> bool {
        self.publish_message(&InvalidationMessage::new(self.origin(), scope))
            .await
    }

    /// Publishes a prepared message. Returns whether Redis accepted it;
    /// never errors, never waits longer than the timeout.
    pub async fn publish_message(&self, msg: &InvalidationMessage) -> bool {
        let inner = &self.inner;
        let payload = msg.to_json();
        let work = async {
            let mut conn = inner.pool.get().await.map_err(|e| match e {
                bb8_redis::bb8::RunError::User(e) => L2Error::Redis(e),
                bb8_redis::bb8::RunError::TimedOut => L2Error::Timeout(inner.timeout),
            })?;
            let _receivers: i64 = redis::cmd("PUBLISH")
                .arg(&inner.channel)
                .arg(&payload)
                .query_async(&mut *conn)
                .await?;
            Ok::<(), L2Error>(())
        };
        let result = tokio::time::timeout(inner.timeout, work)
            .await
            .unwrap_or(Err(L2Error::Timeout(inner.timeout)));
        match result {
            Ok(()) => true,
            Err(e) => {
                m::redis_error("publish");
                if let Some(suppressed) = inner.log.permit() {
                    tracing::warn!(
                        error = %e,
                        suppressed,
                        scope = ?msg.scope,
                        "permission cache: could not publish an invalidation"
                    );
                }
                false
            }
        }
    }
}

impl fmt::Debug for InvalidationBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationBus")
            .field("origin", &self.inner.origin)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Subscriber

#[derive(Debug, Default)]
struct SubscriberState {
    subscribed: AtomicBool,
    /// Successful (re)subscriptions so far.
    subscriptions: AtomicU64,
    /// Messages from other origins applied to the L1.
    applied: AtomicU64,
}

/// Handle of the subscriber task. Dropping it (or calling
/// [`abort`](Self::abort)) stops the task.
pub struct SubscriberHandle {
    task: JoinHandle<()>,
    state: Arc<SubscriberState>,
    changes: watch::Receiver<u64>,
}

impl SubscriberHandle {
    /// Whether the task currently holds a live subscription.
    pub fn is_subscribed(&self) -> bool {
        self.state.subscribed.load(Ordering::SeqCst)
    }

    /// How many times the task has (re)subscribed since it started.
    pub fn subscriptions(&self) -> u64 {
        self.state.subscriptions.load(Ordering::SeqCst)
    }

    /// How many messages from other instances it has applied.
    pub fn applied(&self) -> u64 {
        self.state.applied.load(Ordering::SeqCst)
    }

    /// Waits until the task has subscribed at least `n` times in total and
    /// is subscribed now, or `timeout` passes. Returns whether it happened.
    /// (`wait_subscriptions(1, …)` waits for the first subscription;
    /// `wait_subscriptions(h.subscriptions() + 1, …)` for the next
    /// re-subscription.) The L1 clear that follows a re-subscription has
    /// already happened when this returns `true`.
    pub async fn wait_subscriptions(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.changes.clone();
        let ready = |s: &SubscriberState| {
            s.subscriptions.load(Ordering::SeqCst) >= n && s.subscribed.load(Ordering::SeqCst)
        };
        tokio::time::timeout(timeout, async {
            loop {
                if ready(&self.state) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return ready(&self.state);
                }
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Stops the task.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Whether the task has ended (aborted or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for SubscriberHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for SubscriberHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberHandle")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Spawns (on the current Tokio runtime) the task that subscribes to
/// `channel` (normally [`CHANNEL`](crate::redis::CHANNEL) under the key prefix) with its own connection and applies every message whose
/// origin is not `origin` to `l1`. On connection loss it retries with
/// capped exponential backoff (100 ms .. 5 s) and, once subscribed again,
/// clears `l1` entirely (which [`L1Cache::subscribe`] receivers see as
/// [`Invalidation::All`]). Fails only on a malformed URL.
pub fn spawn_subscriber(
    client_url: &str,
    channel: impl Into<String>,
    l1: Arc<L1Cache>,
    origin: impl Into<String>,
) -> Result<SubscriberHandle, L2Error> {
    let client = redis::Client::open(client_url)?;
    let state = Arc::new(SubscriberState::default());
    let (tx, rx) = watch::channel(0u64);
    let task = tokio::spawn(subscriber_loop(
        client,
        channel.into(),
        l1,
        origin.into(),
        Arc::clone(&state),
        tx,
    ));
    Ok(SubscriberHandle {
        task,
        state,
        changes: rx,
    })
}

async fn subscriber_loop(
    client: redis::Client,
    channel: String,
    l1: Arc<L1Cache>,
    origin: String,
    state: Arc<SubscriberState>,
    changes: watch::Sender<u64>,
) {
    let log = LogLimiter::new(LOG_EVERY);
    let mut backoff = BACKOFF_MIN;
    let mut first = true;
    let notify = |changes: &watch::Sender<u64>| changes.send_modify(|v| *v += 1);
    loop {
        let connected = tokio::time::timeout(SUBSCRIBER_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await
        .map_err(|_| L2Error::Timeout(SUBSCRIBER_TIMEOUT))
        .and_then(|r| r.map_err(L2Error::Redis));
        match connected {
            Ok(pubsub) => {
                // Subscribed: from here on no message is missed. Anything
                // published while we were not subscribed is lost, so drop
                // the whole L1 — unless this is the start-up subscription
                // and there is nothing to drop.
                if !(first && l1.entry_count() == 0) {
                    let dropped = l1.apply(&Invalidation::All, "resubscribe");
                    tracing::info!(dropped, "permission cache: subscribed again; L1 cleared");
                } else {
                    // Nothing cached to drop, but change subscribers (live permission
                    // streams) opened before now may have missed other processes' writes.
                    l1.announce(Invalidation::All);
                }
                first = false;
                backoff = BACKOFF_MIN;
                state.subscribed.store(true, Ordering::SeqCst);
                state.subscriptions.fetch_add(1, Ordering::SeqCst);
                notify(&changes);
                let reason = listen(pubsub, &l1, &origin, &state, &log).await;
                state.subscribed.store(false, Ordering::SeqCst);
                notify(&changes);
                m::redis_error("subscribe");
                if let Some(suppressed) = log.permit() {
                    tracing::warn!(
                        reason,
                        suppressed,
                        "permission cache: invalidation subscription lost; reconnecting"
                    );
                }
            }
            Err(e) => {
                m::redis_error("subscribe");
                if let Some(suppressed) = log.permit() {
                    tracing::warn!(
                        error = %e,
                        suppressed,
                        "permission cache: cannot subscribe to invalidations; retrying"
                    );
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Applies messages until the connection ends; returns why it ended.
async fn listen(
    pubsub: redis::aio::PubSub,
    l1: &L1Cache,
    origin: &str,
    state: &SubscriberState,
    log: &LogLimiter,
) -> &'static str {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return "connection closed" };
                let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
                apply_payload(&payload, l1, origin, state, log);
            }
            _ = ping.tick() => {
                let pong = tokio::time::timeout(
                    SUBSCRIBER_TIMEOUT,
                    sink.ping::<redis::Value>(),
                ).await;
                if !matches!(pong, Ok(Ok(_))) {
                    return "ping failed";
                }
            }
        }
    }
}

fn apply_payload(
    payload: &[u8],
    l1: &L1Cache,
    origin: &str,
    state: &SubscriberState,
    log: &LogLimiter,
) {
    let scope = match serde_json::from_slice::<InvalidationMessage>(payload) {
        Ok(msg) if msg.origin == origin => return,
        Ok(msg) => msg.invalidation(),
        Err(_) => None,
    };
    let scope = scope.unwrap_or_else(|| {
        if let Some(suppressed) = log.permit() {
            tracing::warn!(
                payload = %String::from_utf8_lossy(payload),
                suppressed,
                "permission cache: unreadable invalidation message; clearing the whole L1"
            );
        }
        Invalidation::All
    });
    l1.apply(&scope, "remote");
    state.applied.fetch_add(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::set::PermissionSet;

    #[test]
    fn message_json_shapes() {
        let keys = Invalidation::Keys(vec![CacheKey::new(1, 10), CacheKey::new(2, 10)]);
        let m = InvalidationMessage::new("a", &keys);
        assert_eq!(
            m.to_json(),
            r#"{"origin":"a","scope":"keys","keys":[[1,10],[2,10]]}"#
        );
        assert_eq!(m.invalidation(), Some(keys));
        let m = InvalidationMessage::new("a", &Invalidation::User(7));
        assert_eq!(m.to_json(), r#"{"origin":"a","scope":"user","user_id":7}"#);
        let m = InvalidationMessage::new("a", &Invalidation::Company(3));
        assert_eq!(
            m.to_json(),
            r#"{"origin":"a","scope":"company","company_id":3}"#
        );
        let m = InvalidationMessage::new("a", &Invalidation::All);
        assert_eq!(m.to_json(), r#"{"origin":"a","scope":"all"}"#);
        // Extra fields are ignored; a missing required field is detected.
        let m: InvalidationMessage = serde_json::from_str(
            r#"{"origin":"b","scope":"user","user_id":5,"company_id":null,"keys":[]}"#,
        )
        .unwrap();
        assert_eq!(m.invalidation(), Some(Invalidation::User(5)));
        let m: InvalidationMessage =
            serde_json::from_str(r#"{"origin":"b","scope":"company"}"#).unwrap();
        assert_eq!(m.invalidation(), None);
    }

    #[test]
    fn apply_payload_semantics() {
        let l1 = L1Cache::new(100, Duration::from_secs(60));
        let fill = |u, c| {
            let t = l1.begin_fill(CacheKey::new(u, c));
            assert!(l1.complete_fill(t, Arc::new(PermissionSet::new([1]))));
        };
        let state = SubscriberState::default();
        let log = LogLimiter::new(LOG_EVERY);
        fill(1, 1);
        fill(1, 2);
        fill(2, 1);
        // Own messages are ignored.
        let own = InvalidationMessage::new("me", &Invalidation::All).to_json();
        apply_payload(own.as_bytes(), &l1, "me", &state, &log);
        assert_eq!(l1.entry_count(), 3);
        let other = InvalidationMessage::new("other", &Invalidation::User(1)).to_json();
        apply_payload(other.as_bytes(), &l1, "me", &state, &log);
        assert_eq!(l1.entry_count(), 1);
        // Garbage clears everything.
        apply_payload(b"not json", &l1, "me", &state, &log);
        assert_eq!(l1.entry_count(), 0);
        assert_eq!(state.applied.load(Ordering::SeqCst), 2);
    }
}
