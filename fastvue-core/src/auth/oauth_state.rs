//! Where started sign-ins wait for their callback: the `state`, the PKCE verifier and
//! the redirect target, for at most [`GoogleSettings::state_ttl`] (10 minutes), taken
//! exactly once.
//!
//! - With Redis (`REDIS_URL`), so that any replica can finish a flow another started:
//!   key `{REDIS_KEY_PREFIX}fastvue:oauth:state:{state}`, written with
//!   `SET ... PX ttl NX` and taken with `GETDEL` (atomic: of two callbacks presenting one
//!   state, exactly one gets it). The pool, round-trip bound and prefix are the
//!   permission cache's.
//! - Without Redis, in the `oauth_states` table: taking is a `SELECT` then a `DELETE`
//!   whose affected-row count must be 1, in one write transaction, so a replayed state
//!   fails even when both callbacks run at once (PostgreSQL makes the second `DELETE`
//!   wait for the first and then find nothing; SQLite serializes the transactions).
//!   Expired rows are purged whenever a sign-in starts.
//!
//! The expiry is also stored in the value and checked on take, so a state is refused
//! after its lifetime whatever the store's own clock does.
//!
//! [`GoogleSettings::state_ttl`]: crate::config::GoogleSettings::state_ttl
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use crate::entity::oauth_state;
use crate::error::{Error, Result};
use crate::redis::{KeySpace, Redis, RedisPool};

/// Longest `state` accepted from a client (ours are 43 characters).
const MAX_STATE_LEN: usize = 128;

/// A started sign-in, as the callback needs it.
pub(crate) struct PendingLogin {
    /// The provider it was started with (`google`).
    pub provider: String,
    /// The PKCE code verifier (secret until the code is exchanged).
    pub verifier: String,
    /// Where the browser goes when the sign-in ends.
    pub redirect_to: String,
    /// After this the state is refused.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("redirect_to", &self.redirect_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    /// Whether the state is past its lifetime at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// The Redis value of a pending sign-in.
#[derive(Serialize, Deserialize)]
struct Stored {
    provider: String,
    verifier: String,
    redirect_to: String,
    /// Unix milliseconds.
    expires_at: i64,
}

/// Whether `state` can be one of ours: 1 to 128 URL-safe base64 characters. Anything
/// else is refused before it reaches a Redis key or a query.
pub(crate) fn is_well_formed(state: &str) -> bool {
    !state.is_empty()
        && state.len() <= MAX_STATE_LEN
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The store of pending sign-ins (see the [module docs](self)).
pub(crate) enum StateStore {
    /// In Redis, shared by every replica.
    Redis {
        pool: RedisPool,
        timeout: Duration,
        keys: KeySpace,
    },
    /// In the `oauth_states` table.
    Database,
}

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Redis { .. } => "StateStore::Redis",
            Self::Database => "StateStore::Database",
        })
    }
}

impl StateStore {
    /// Redis when the permission cache has a Redis tier, the database otherwise.
    pub fn new(redis: Option<&Redis>) -> Self {
        match redis {
            Some(r) => Self::Redis {
                pool: r.pool.clone(),
                timeout: r.timeout,
                keys: r.keys.clone(),
            },
            None => Self::Database,
        }
    }

    /// Keeps `pending` under `state` until it expires.
    pub async fn put(
        &self,
        db: &DatabaseConnection,
        state: &str,
        pending: &PendingLogin,
    ) -> Result<()> {
        let now = Utc::now();
        match self {
            Self::Redis {
                pool,
                timeout,
                keys,
            } => {
                let value = serde_json::to_string(&Stored {
                    provider: pending.provider.clone(),
                    verifier: pending.verifier.clone(),
                    redirect_to: pending.redirect_to.clone(),
                    expires_at: pending.expires_at.timestamp_millis(),
                })
                .map_err(|e| Error::Internal(format!("cannot encode a sign-in state: {e}")))?;
                // PX needs at least 1 ms; the stored expiry is what is enforced.
                let ttl_ms = (pending.expires_at - now).num_milliseconds().max(1);
                let mut cmd = redis::cmd("SET");
                cmd.arg(keys.oauth_state(state))
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .arg("NX");
                let stored: Option<String> = run(pool, *timeout, &cmd).await?;
                if stored.is_none() {
                    return Err(Error::Internal(
                        "a sign-in state was generated twice".into(),
                    ));
                }
                Ok(())
            }
            Self::Database => {
                oauth_state::Entity::delete_many()
                    .filter(oauth_state::Column::ExpiresAt.lte(now))
                    .exec(db)
                    .await?;
                oauth_state::ActiveModel {
                    state: Set(state.to_owned()),
                    provider: Set(pending.provider.clone()),
                    pkce_verifier: Set(pending.verifier.clone()),
                    redirect_to: Set(pending.redirect_to.clone()),
                    expires_at: Set(pending.expires_at),
                    created_at: Set(now),
                }
                .insert(db)
                .await?;
                Ok(())
            }
        }
    }

    /// Removes and returns the sign-in kept under `state` for `provider`; `None` when it
    /// is unknown, was already taken, or belongs to another provider. An expired one is
    /// returned (and removed): check [`PendingLogin::is_expired`].
    pub async fn take(
        &self,
        db: &DatabaseConnection,
        provider: &str,
        state: &str,
    ) -> Result<Option<PendingLogin>> {
        if !is_well_formed(state) {
            return Ok(None);
        }
        let pending = match self {
            Self::Redis {
                pool,
                timeout,
                keys,
            } => {
                let mut cmd = redis::cmd("GETDEL");
                cmd.arg(keys.oauth_state(state));
                let raw: Option<String> = run(pool, *timeout, &cmd).await?;
                let Some(raw) = raw else {
                    return Ok(None);
                };
                let stored: Stored = serde_json::from_str(&raw).map_err(|e| {
                    Error::Internal(format!("unreadable sign-in state in Redis: {e}"))
                })?;
                PendingLogin {
                    provider: stored.provider,
                    verifier: stored.verifier,
                    redirect_to: stored.redirect_to,
                    expires_at: DateTime::from_timestamp_millis(stored.expires_at)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC),
                }
            }
            Self::Database => {
                let txn = crate::db::begin_write(db).await?;
                let Some(row) = oauth_state::Entity::find_by_id(state.to_owned())
                    .one(&txn)
                    .await?
                else {
                    return Ok(None);
                };
                let deleted = oauth_state::Entity::delete_many()
                    .filter(oauth_state::Column::State.eq(state))
                    .exec(&txn)
                    .await?
                    .rows_affected;
                if deleted != 1 {
                    // A concurrent callback took it first.
                    return Ok(None);
                }
                txn.commit().await?;
                PendingLogin {
                    provider: row.provider,
                    verifier: row.pkce_verifier,
                    redirect_to: row.redirect_to,
                    expires_at: row.expires_at,
                }
            }
        };
        Ok((pending.provider == provider).then_some(pending))
    }
}

/// One Redis command, pool checkout included, bounded by `timeout`.
async fn run<T: redis::FromRedisValue>(
    pool: &RedisPool,
    timeout: Duration,
    cmd: &redis::Cmd,
) -> Result<T> {
    let work = async {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        cmd.query_async::<T>(&mut *conn)
            .await
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
        .map_err(|e| Error::Internal(format!("Redis (sign-in states): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_url_safe_states_of_sane_length_are_well_formed() {
        assert!(is_well_formed("abcXYZ012-_"));
        assert!(is_well_formed(&"a".repeat(128)));
        for bad in ["", "a b", "a:b", "a*", "ä", "a/b", "a%2F", &"a".repeat(129)] {
            assert!(!is_well_formed(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_pending_login_expires_at_its_deadline_and_hides_its_verifier() {
        let now = Utc::now();
        let p = PendingLogin {
            provider: "google".into(),
            verifier: "the-verifier-secret".into(),
            redirect_to: "https://app.example.com".into(),
            expires_at: now,
        };
        assert!(p.is_expired(now));
        assert!(!p.is_expired(now - chrono::Duration::seconds(1)));
        assert!(!format!("{p:?}").contains("the-verifier-secret"));
    }
}
