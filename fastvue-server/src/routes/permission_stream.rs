//! `GET /api/v1/auth/me/permissions/stream`: the caller's effective permissions in one
//! company as Server-Sent Events, pushed again whenever they change.
//!
//! # Protocol
//!
//! * On connect: `retry: 3000`, then an event `permissions` whose `id:` is the set's
//!   `ETag` (the one `GET /auth/me/permissions` answers) and whose data is
//!   [`PermissionsEvent`]. With a `Last-Event-ID` equal to the current `ETag` (a
//!   reconnect that missed nothing) that first event is left out.
//! * Then a `menus` event ([`MenusEvent`]) with the `ETag` of the caller's menu
//!   (`GET /auth/me/menus`): a client holding another tag fetches it again.
//! * Afterwards a `permissions` event whenever the set's `ETag` changes and a `menus`
//!   event whenever the menu's does (a permission change, or an administrator editing
//!   the company's or the global entries), on whichever replica the change was made (see
//!   [`crate::streams`]); a `: heartbeat` comment every `SSE_HEARTBEAT_SECONDS`.
//! * Final events, after which the server closes the stream (the client must call
//!   `close()`, or `EventSource` reconnects): `revoked` when the user was deactivated or
//!   deleted, `expired` at the access token's `exp`, `closed` when the user opened more
//!   than `SSE_MAX_STREAMS_PER_USER` streams on this process (the oldest is closed).
//!
//! # Tokens
//!
//! `Authorization: Bearer` as everywhere, or `?access_token=` because a browser's
//! `EventSource` cannot send headers. Access tokens are stateless JWTs: revoking a
//! user's sessions (`revoke_all`, a password change) ends their refresh tokens, not the
//! access tokens already issued. The token is verified once, at connect; its expiry is a
//! timer, and on every wake-up the stream re-reads its user the way every request does
//! (active, not deleted; through the cache of authenticated users), so a deactivated or
//! deleted user gets `revoked` at once. A revoked session ends with `expired` at the
//! token's `exp`, and the refresh that follows fails.
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use fastvue_core::Fastvue;
use fastvue_core::auth::TokenKind;
use salvo::http::StatusCode;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, token_error};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::query;
use crate::routes::auth::{MyPermissions, permissions_etag};
use crate::state::app;
use crate::streams::{Streams, Subscription, Wake};

/// The reconnection delay sent in `retry:`, milliseconds.
pub const RETRY_MS: u64 = 3000;

/// Query of `GET /auth/me/permissions/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The company to follow (default: the active company: `X-Company-ID` or the
    /// current company). `EventSource` cannot send headers, so browsers pass it here.
    pub company_id: Option<i64>,
    /// The access token, for clients that cannot send `Authorization` (browsers'
    /// `EventSource`). Ignored when the header is present. Never logged.
    pub access_token: Option<String>,
}

/// One event of the stream as an `EventSource` client receives it (the schema of the
/// `text/event-stream` items; its `data` is JSON).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEvent {
    /// `permissions`, `menus`, or the final `revoked`, `expired` or `closed`.
    #[schema(pattern = "^(permissions|menus|revoked|expired|closed)$")]
    pub event: String,
    /// JSON text: a [`PermissionsEvent`] for `permissions`, a [`MenusEvent`] for `menus`,
    /// a [`StreamEnd`] otherwise.
    pub data: String,
    /// The set's ETag, on `permissions` events (what `Last-Event-ID` sends back).
    pub id: Option<String>,
}

/// Data of a `permissions` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsEvent {
    /// The set, as `GET /auth/me/permissions` answers it.
    #[serde(flatten)]
    pub set: MyPermissions,
    /// The set's `ETag` (also the event's `id`).
    pub etag: String,
}

/// Data of a `menus` event: fetch `GET /auth/me/menus` when `etag` is not the one held.
#[derive(Debug, Serialize, ToSchema)]
pub struct MenusEvent {
    /// The company followed.
    pub company_id: i64,
    /// The menu's `ETag`.
    pub etag: String,
}

/// Data of the final `revoked`, `expired` and `closed` events.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEnd {
    /// `user_inactive` (revoked), `token_expired` (expired), `too_many_streams` or
    /// `shutting_down` (closed).
    pub reason: &'static str,
}

/// Live permission changes of the caller in one company (Server-Sent Events).
#[utoipa::path(
    get,
    path = "/api/v1/auth/me/permissions/stream",
    tag = "auth",
    description = "Requires a valid access token (Authorization header, or `access_token` \
        in the query for EventSource); no permission. A text/event-stream of `permissions` \
        events (data: PermissionsEvent, id: its ETag), a comment heartbeat, and a final \
        `revoked`, `expired` or `closed` event (data: StreamEnd). Honours Last-Event-ID.",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The ETag of the set the client holds (sent by EventSource on reconnect)"),
    ),
    responses(
        (status = 200, description = "The event stream (each item a StreamEvent; data of `permissions`: PermissionsEvent, of the others: StreamEnd)", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Malformed company_id or X-Company-ID", body = ErrorBody),
        (status = 401, description = "No, invalid or expired token", body = ErrorBody),
        (status = 403, description = "Not a member of that company, or no active company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn permission_stream(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let streams = depot
        .get_typed::<Streams>()
        .map_err(|_| {
            tracing::error!("stream registry missing from the depot");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
        })?
        .clone();
    let q: StreamQuery = query(req)?;
    let token = match auth::bearer_header(req)? {
        Some(token) => token.to_owned(),
        None => q
            .access_token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(auth::missing_token)?,
    };
    let me = auth::resolve_token(req, depot, &fv, &token).await?;
    depot.insert_typed(me.clone());
    let user = me.session_user()?;
    // Checked before registering: the company must be one the caller may act in.
    let (company_id, _) = fv.users().own_permissions(&me, q.company_id).await?;
    let expires_at = fv
        .jwt()
        .verify(&token, TokenKind::Access)
        .map_err(token_error)?
        .exp;
    // Registered before the first read: a change committed after this point wakes it.
    let sub = streams.open(user.id, company_id);
    let (_, codenames) = fv.users().own_permissions(&me, Some(company_id)).await?;
    let set = MyPermissions::new(user, company_id, codenames);
    let etag = permissions_etag(&set);
    let mut first = format!("retry: {RETRY_MS}\n\n");
    if last_event_id(req) != Some(etag.as_str()) {
        first.push_str(&permissions_event(set, &etag));
    }
    let menus_etag = fv.menus().visible(&me, Some(company_id)).await?.etag;
    first.push_str(&menus_event(company_id, &menus_etag));
    let heartbeat_every = streams.settings().heartbeat;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = StreamState {
        fv,
        sub,
        user_id: user.id,
        company_id,
        last_etag: etag,
        last_menus: menus_etag,
        heartbeat,
        expires: Box::pin(tokio::time::sleep(until(expires_at))),
        first: Some(first),
        done: false,
        retry: false,
    };
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res.stream(futures_util::stream::unfold(
        state,
        |mut state| async move {
            let chunk = state.next_chunk().await?;
            Some((Ok::<_, Infallible>(chunk), state))
        },
    ));
    Ok(())
}

/// The `Last-Event-ID` header, when present and readable.
fn last_event_id(req: &Request) -> Option<&str> {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Time from now until the Unix time `exp` (zero when past).
fn until(exp: i64) -> Duration {
    let left = exp.saturating_sub(chrono::Utc::now().timestamp());
    Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

/// One event: `event:`, optional `id:`, one `data:` line (JSON has no raw newlines).
fn event(name: &str, id: Option<&str>, data: &str) -> String {
    let mut out = format!("event: {name}\n");
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
    out
}

fn permissions_event(set: MyPermissions, etag: &str) -> String {
    let data = serde_json::to_string(&PermissionsEvent {
        set,
        etag: etag.to_owned(),
    })
    .unwrap_or_else(|_| "{}".to_owned());
    event("permissions", Some(etag), &data)
}

fn menus_event(company_id: i64, etag: &str) -> String {
    let data = serde_json::to_string(&MenusEvent {
        company_id,
        etag: etag.to_owned(),
    })
    .unwrap_or_else(|_| "{}".to_owned());
    event("menus", None, &data)
}

fn end_event(name: &str, reason: &'static str) -> String {
    let data = serde_json::to_string(&StreamEnd { reason }).unwrap_or_else(|_| "{}".to_owned());
    event(name, None, &data)
}

/// One open stream (polled by the connection only while the client reads).
struct StreamState {
    fv: Fastvue,
    sub: Subscription,
    user_id: i64,
    company_id: i64,
    /// `ETag` of the last set sent (or of the client's, per `Last-Event-ID`).
    last_etag: String,
    /// `ETag` of the last menu announced.
    last_menus: String,
    heartbeat: Interval,
    expires: Pin<Box<Sleep>>,
    /// `retry:` and the initial event, not sent yet.
    first: Option<String>,
    /// A final event was sent: end the body.
    done: bool,
    /// A recomputation failed (database unavailable): retry at the next heartbeat.
    retry: bool,
}

impl StreamState {
    /// The next bytes to send; `None` ends the body. Waiting here is the state of every
    /// idle stream, so the recomputation (user and permission reads, whose futures are
    /// large) is boxed: allocated while it runs, not carried by each waiting stream.
    async fn next_chunk(&mut self) -> Option<String> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                biased;
                () = &mut self.expires => {
                    return Some(self.finish("expired", "token_expired"));
                }
                wake = self.sub.next() => match wake {
                    Wake::Evicted => return Some(self.finish("closed", "too_many_streams")),
                    Wake::ShuttingDown => return Some(self.finish("closed", "shutting_down")),
                    Wake::Changed { resync } => {
                        if let Some(chunk) = Box::pin(self.recompute(resync)).await {
                            return Some(chunk);
                        }
                    }
                },
                _ = self.heartbeat.tick() => {
                    if self.retry && let Some(chunk) = Box::pin(self.recompute(false)).await {
                        return Some(chunk);
                    }
                    return Some(": heartbeat\n\n".to_owned());
                }
            }
        }
    }

    fn finish(&mut self, name: &str, reason: &'static str) -> String {
        self.done = true;
        end_event(name, reason)
    }

    /// Re-reads the user, recomputes the set and returns the event to send: `revoked`
    /// when the user may no longer act, the set and the menu tag when their `ETag`s changed
    /// (both with `resync`), else nothing.
    async fn recompute(&mut self, resync: bool) -> Option<String> {
        self.retry = false;
        let user = match self.fv.active_user(self.user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return Some(self.finish("revoked", "user_inactive")),
            Err(e) => {
                tracing::warn!(error = %e, user_id = self.user_id, "permission stream: cannot re-read the user; retrying");
                self.retry = true;
                return None;
            }
        };
        let set = match self
            .fv
            .authorizer()
            .codenames(user.id, self.company_id)
            .await
        {
            Ok(codenames) => MyPermissions::new(&user, self.company_id, codenames),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    user_id = self.user_id,
                    "permission stream: cannot recompute the set; retrying"
                );
                self.retry = true;
                return None;
            }
        };
        let menus = match self.fv.menus().tree_for(&user, self.company_id).await {
            Ok(tree) => tree.etag,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    user_id = self.user_id,
                    "permission stream: cannot recompute the menu; retrying"
                );
                self.retry = true;
                return None;
            }
        };
        let mut chunk = String::new();
        let etag = permissions_etag(&set);
        if etag != self.last_etag || resync {
            chunk.push_str(&permissions_event(set, &etag));
            self.last_etag = etag;
        }
        if menus != self.last_menus || resync {
            chunk.push_str(&menus_event(self.company_id, &menus));
            self.last_menus = menus;
        }
        (!chunk.is_empty()).then_some(chunk)
    }
}

/// OpenAPI of the permission stream.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(permission_stream),
    components(schemas(StreamEvent, PermissionsEvent, MenusEvent, StreamEnd))
)]
pub struct Api;
