//! [`Sessions`]: a user's live sessions (refresh-token families) and ending them.
//!
//! A session starts at a sign-in and lives while its latest refresh token is neither
//! revoked nor expired; each refresh rotates the token and records the client's IP and
//! user agent. Access tokens carry their session's id (`sid`), so the caller's own
//! session is marked `current`. Ending a session revokes its refresh tokens: no new
//! access tokens come from it (those already issued expire within
//! `ACCESS_TOKEN_EXPIRE_MINUTES`, as after a logout).
//!
//! Rules: anyone lists and ends their own sessions; listing another user's needs
//! `user.read` over one of the user's companies, ending them `user.update` and the
//! account rules of [`crate::service::Users::update`].
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Fastvue;
use crate::auth::TokenKind;
use crate::entity::refresh_token;
use crate::error::{Error, Result};
use crate::policy::Actor;
use crate::service::audit::{self, Entry};

/// Sessions listed, at most (the newest first).
pub const MAX_LISTED: u64 = 200;

/// One live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id (the refresh-token family).
    pub id: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Time of the last sign-in or refresh.
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// Client IP of the last sign-in or refresh.
    pub ip_address: Option<String>,
    /// User agent of the last sign-in or refresh.
    pub user_agent: Option<String>,
    /// The session of the access token that asked.
    pub current: bool,
}

/// Sessions; reach them through [`Fastvue::sessions`].
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Live sessions and ending them.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { fv: self }
    }
}

impl Sessions<'_> {
    /// The caller's live sessions, newest first; `access_token` (the caller's own)
    /// marks the current one.
    pub async fn own(&self, actor: &Actor, access_token: Option<&str>) -> Result<Vec<Session>> {
        let user = actor.session_user()?;
        let current = access_token.and_then(|t| self.session_of(t));
        self.live(user.id, current.as_deref()).await
    }

    /// Ends one of the caller's sessions ([`Error::NotFound`] when it is not a live
    /// session of the caller).
    pub async fn end_own(&self, actor: &Actor, id: &str) -> Result<()> {
        let user = actor.session_user()?;
        self.end(actor, user.id, id).await
    }

    /// Ends every session of the caller but the one of `access_token`; how many ended.
    pub async fn end_others(&self, actor: &Actor, access_token: &str) -> Result<u64> {
        let user = actor.session_user()?;
        let keep = self.session_of(access_token);
        let mut ended = 0;
        for s in self.live(user.id, None).await? {
            if Some(&s.id) != keep.as_ref() {
                ended +=
                    crate::auth::tokens::revoke_family(self.fv.db(), &s.id, Utc::now()).await?;
            }
        }
        Ok(ended)
    }

    /// `user_id`'s live sessions (needs `user.read` over the user).
    pub async fn of_user(&self, actor: &Actor, user_id: i64) -> Result<Vec<Session>> {
        self.fv.users().get(actor, user_id).await?;
        self.live(user_id, None).await
    }

    /// Ends `user_id`'s session `id`, or all of them with `None` (needs `user.update` over
    /// the user and the account rules); audited.
    pub async fn end_of_user(&self, actor: &Actor, user_id: i64, id: Option<&str>) -> Result<u64> {
        if !actor.is_system() {
            self.fv.users().get_for_change(actor, user_id).await?;
        }
        match id {
            Some(id) => {
                self.end(actor, user_id, id).await?;
                Ok(1)
            }
            None => {
                let ended = self.fv.tokens().revoke_all(user_id).await?;
                self.audit(actor, user_id, None).await?;
                Ok(ended)
            }
        }
    }

    async fn end(&self, actor: &Actor, user_id: i64, id: &str) -> Result<()> {
        if id.len() > 64 || !self.live(user_id, None).await?.iter().any(|s| s.id == id) {
            return Err(Error::NotFound { entity: "session" });
        }
        crate::auth::tokens::revoke_family(self.fv.db(), id, Utc::now()).await?;
        self.audit(actor, user_id, Some(id)).await
    }

    async fn audit(&self, actor: &Actor, user_id: i64, id: Option<&str>) -> Result<()> {
        audit::record(
            self.fv.db(),
            &actor.audit(),
            Entry {
                action: "end_session",
                entity_type: "user",
                entity_id: Some(user_id),
                company_id: None,
                old_values: None,
                new_values: Some(serde_json::json!({ "session": id.unwrap_or("all") })),
            },
        )
        .await
    }

    async fn live(&self, user_id: i64, current: Option<&str>) -> Result<Vec<Session>> {
        let now = Utc::now();
        let rows = refresh_token::Entity::find()
            .filter(refresh_token::Column::UserId.eq(user_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .filter(refresh_token::Column::ExpiresAt.gt(now))
            .order_by_desc(refresh_token::Column::CreatedAt)
            .limit(MAX_LISTED)
            .all(self.fv.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Session {
                current: current == Some(r.family_id.as_str()),
                id: r.family_id,
                created_at: r.started_at.unwrap_or(r.created_at),
                last_used_at: r.created_at,
                expires_at: r.expires_at,
                ip_address: r.ip_address,
                user_agent: r.user_agent,
            })
            .collect())
    }

    /// The session id of a valid access token.
    fn session_of(&self, access_token: &str) -> Option<String> {
        self.fv
            .jwt()
            .verify(access_token, TokenKind::Access)
            .ok()
            .and_then(|c| c.sid)
    }
}
