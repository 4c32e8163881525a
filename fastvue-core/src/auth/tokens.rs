//! [`Tokens`]: issuing token pairs, refresh-token rotation with reuse detection,
//! logout and revocation.
//!
//! Every refresh token has a row in `refresh_tokens` keyed by its `jti`. A sign-in
//! starts a new *family* (one per session). Refreshing rotates: inside one write
//! transaction the presented row gets `revoked_at` and `replaced_by`, and the new
//! token's row joins the same family. Presenting a token that was already rotated or
//! revoked is treated as theft: the whole family is revoked and the call fails with
//! [`TokenError::Reused`]. Two concurrent refreshes of one token are the same case:
//! the rotation is a conditional `UPDATE ... WHERE revoked_at IS NULL`, so at most one
//! succeeds and the other revokes the family. Clients must serialize their refreshes.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;

use super::TokenError;
use super::jwt::{Claims, TokenKind};
use crate::Fastvue;
use crate::domain::Password;
use crate::entity::{refresh_token, user};
use crate::error::{Error, Result};
use crate::policy::{Actor, Origin};
use crate::service::audit::{self, Entry};
use crate::service::users::{UserChanges, write_update};

/// A freshly issued access + refresh token pair.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Token for `/auth/refresh` and `/auth/logout`.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
}

/// Sessions: token pairs, rotation, logout, revocation and password changes.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Sessions: token pairs, refresh rotation, logout, revocation, password changes.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { fv: self }
    }
}

impl Tokens<'_> {
    /// Starts a session for `user`: a new refresh-token family and a token pair.
    pub async fn issue(&self, user: &user::Model) -> Result<TokenPair> {
        self.issue_from(user, &Origin::default()).await
    }

    /// [`Tokens::issue`] for a client: the session records its IP and user agent.
    pub async fn issue_from(&self, user: &user::Model, origin: &Origin) -> Result<TokenPair> {
        let now = Utc::now();
        let family = uuid::Uuid::new_v4().simple().to_string();
        let (pair, refresh) = self.pair(user.id, now, &family)?;
        insert_row(self.fv.db(), &refresh, family, now, now, origin).await?;
        Ok(pair)
    }

    /// The active user an access token belongs to. Fails with [`TokenError::Invalid`]
    /// for a bad token or an inactive or deleted user, [`TokenError::Expired`] after `exp`.
    pub async fn verify_access(&self, token: &str) -> Result<user::Model, TokenError> {
        let id = self.fv.jwt().verify_access(token)?;
        self.fv.active_user(id).await?.ok_or(TokenError::Invalid)
    }

    /// Exchanges a refresh token for a new pair (rotation; see the [module docs](self)).
    /// Returns the pair and the user it was issued to.
    pub async fn refresh(&self, token: &str) -> Result<(TokenPair, user::Model), TokenError> {
        self.refresh_from(token, &Origin::default()).await
    }

    /// [`Tokens::refresh`] for a client: the session records its IP and user agent as
    /// the last ones used.
    pub async fn refresh_from(
        &self,
        token: &str,
        origin: &Origin,
    ) -> Result<(TokenPair, user::Model), TokenError> {
        let claims = self.fv.jwt().verify(token, TokenKind::Refresh)?;
        let now = Utc::now();
        let txn = self.fv.begin_write().await?;
        let row = refresh_token::Entity::find_by_id(claims.jti.clone())
            .one(&txn)
            .await?
            .filter(|r| Some(r.user_id) == claims.user_id())
            .ok_or(TokenError::Invalid)?;
        if row.revoked_at.is_some() {
            revoke_family(&txn, &row.family_id, now).await?;
            txn.commit().await?;
            return Err(TokenError::Reused);
        }
        if row.expires_at <= now {
            return Err(TokenError::Expired);
        }
        let user = match active_user(&txn, &claims).await {
            Ok(u) => u,
            Err(e) => {
                revoke_family(&txn, &row.family_id, now).await?;
                txn.commit().await?;
                return Err(e);
            }
        };
        let (pair, next) = self.pair(user.id, now, &row.family_id)?;
        let rotated = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .col_expr(
                refresh_token::Column::ReplacedBy,
                Expr::value(next.jti.clone()),
            )
            .filter(refresh_token::Column::Id.eq(row.id.as_str()))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if rotated.rows_affected != 1 {
            // A concurrent refresh rotated it first: this is a second use.
            revoke_family(&txn, &row.family_id, now).await?;
            txn.commit().await?;
            return Err(TokenError::Reused);
        }
        let started = row.started_at.unwrap_or(row.created_at);
        insert_row(&txn, &next, row.family_id, started, now, origin).await?;
        txn.commit().await?;
        Ok((pair, user))
    }

    /// Ends the session of a refresh token: revokes its whole family. Idempotent: an
    /// already revoked or unknown (but correctly signed) token succeeds, and so does an
    /// expired one. A malformed or forged token fails with [`TokenError::Invalid`].
    pub async fn logout(&self, token: &str) -> Result<(), TokenError> {
        let claims = self
            .fv
            .jwt()
            .verify_ignoring_expiry(token, TokenKind::Refresh)?;
        let db = self.fv.db();
        if let Some(row) = refresh_token::Entity::find_by_id(claims.jti.clone())
            .one(db)
            .await?
            .filter(|r| Some(r.user_id) == claims.user_id())
        {
            revoke_family(db, &row.family_id, Utc::now()).await?;
        }
        Ok(())
    }

    /// Revokes every refresh token of a user (all sessions). Returns how many were live.
    /// Access tokens already issued stay valid until they expire, unless the user is
    /// deactivated (then [`Tokens::verify_access`] refuses them at once).
    pub async fn revoke_all(&self, user_id: i64) -> Result<u64> {
        revoke_user(self.fv.db(), user_id, Utc::now()).await
    }

    /// Changes the acting user's own password after checking the current one, and
    /// revokes all their refresh tokens, in one transaction: the only way to change
    /// one's own password. A wrong current password is a validation error on
    /// `current_password` (counted as a failed sign-in of the user from the actor's IP:
    /// [`Error::RateLimited`] past `RATE_LIMIT_LOGIN_PER_MINUTE`); a weak new one on
    /// `new_password`; an API key is [`Error::Forbidden`].
    pub async fn change_password(
        &self,
        actor: &Actor,
        current_password: &str,
        new_password: &str,
    ) -> Result<()> {
        let user = actor.session_user()?;
        let ip = actor.origin().ip_address.as_deref().unwrap_or("unknown");
        let limiter = self.fv.login_limiter();
        if let Some(retry_after) = limiter.check(ip, &user.username).await {
            return Err(super::rate_limit::failures_limited(retry_after));
        }
        let result = self
            .set_own_password(actor, user.id, current_password, new_password)
            .await;
        match &result {
            Ok(()) => limiter.clear(ip, &user.username).await,
            Err(Error::Validation(details))
                if details.iter().any(|d| d.field == "current_password") =>
            {
                limiter.record_failure(ip, &user.username).await;
            }
            Err(_) => {}
        }
        result
    }

    async fn set_own_password(
        &self,
        actor: &Actor,
        user_id: i64,
        current_password: &str,
        new_password: &str,
    ) -> Result<()> {
        let ctx = actor.audit();
        let new = Password::parse(new_password).map_err(|m| Error::invalid("new_password", m))?;
        let found = crate::service::lookup::user(self.fv.db(), user_id).await?;
        let hasher = self.fv.hasher();
        if !hasher
            .verify_async(current_password.to_owned(), found.password_hash.clone())
            .await?
        {
            return Err(Error::invalid("current_password", "is incorrect"));
        }
        let hash = hasher.hash_async(new.expose().to_owned()).await?;
        let now = Utc::now();
        let txn = self.fv.begin_write().await?;
        let old = crate::service::lookup::user(&txn, user_id).await?;
        let new_password = UserChanges {
            password_hash: Some(Some(hash)),
            ..UserChanges::default()
        };
        write_update(&txn, &ctx, &old, new_password, true).await?;
        revoke_user(&txn, user_id, now).await?;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "change_password",
                entity_type: "user",
                entity_id: Some(user_id),
                company_id: None,
                old_values: None,
                new_values: None,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    fn pair(&self, user_id: i64, now: DateTime<Utc>, family: &str) -> Result<(TokenPair, Claims)> {
        let jwt = self.fv.jwt();
        let (access_token, _) =
            jwt.issue_in_session(user_id, TokenKind::Access, now, Some(family))?;
        let (refresh_token, refresh) = jwt.issue(user_id, TokenKind::Refresh, now)?;
        Ok((
            TokenPair {
                access_token,
                refresh_token,
                token_type: "bearer",
                expires_in: jwt.access_ttl().num_seconds(),
                refresh_expires_in: jwt.refresh_ttl().num_seconds(),
            },
            refresh,
        ))
    }
}

async fn active_user<C: ConnectionTrait>(
    db: &C,
    claims: &Claims,
) -> Result<user::Model, TokenError> {
    let id = claims.user_id().ok_or(TokenError::Invalid)?;
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|u| u.is_active && u.deleted_at.is_none())
        .ok_or(TokenError::Invalid)
}

async fn insert_row<C: ConnectionTrait>(
    db: &C,
    refresh: &Claims,
    family_id: String,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    origin: &Origin,
) -> Result<()> {
    let user_id = refresh
        .user_id()
        .ok_or_else(|| Error::Internal("refresh token without a user id".into()))?;
    refresh_token::ActiveModel {
        id: Set(refresh.jti.clone()),
        user_id: Set(user_id),
        family_id: Set(family_id),
        expires_at: Set(refresh.expires_at()),
        created_at: Set(now),
        revoked_at: Set(None),
        replaced_by: Set(None),
        started_at: Set(Some(started)),
        ip_address: Set(origin.ip_address.clone()),
        user_agent: Set(origin.user_agent.clone()),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub(crate) async fn revoke_family<C: ConnectionTrait>(
    db: &C,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

async fn revoke_user<C: ConnectionTrait>(db: &C, user_id: i64, now: DateTime<Utc>) -> Result<u64> {
    Ok(refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}
