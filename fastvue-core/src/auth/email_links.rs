//! Single-use links sent by mail (`email_tokens`): a token of 32 random bytes in the
//! link, its keyed hash (HMAC-SHA256 under `SECRET_KEY`) in the database, a purpose, the
//! address it was sent to, and an expiry. Used by password reset and email verification.
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::Fastvue;
use crate::auth::keyed;
use crate::entity::email_token;
use crate::error::{Error, Result};

/// Longest token looked at; longer input is refused unread.
const MAX_TOKEN: usize = 128;

/// Stores a new link of `purpose` for `user_id` sent to `email`, valid `ttl`; answers
/// the token to put in the link.
pub(crate) async fn issue(
    fv: &Fastvue,
    user_id: i64,
    purpose: &str,
    email: &str,
    ttl: Duration,
) -> Result<String> {
    let token = keyed::random_token(32);
    let now = Utc::now();
    email_token::ActiveModel {
        token_hash: Set(hash(fv, &token)),
        user_id: Set(user_id),
        purpose: Set(purpose.to_owned()),
        email: Set(email.to_owned()),
        expires_at: Set(now + chrono::Duration::from_std(ttl).unwrap_or_default()),
        used_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(fv.db())
    .await?;
    Ok(token)
}

/// The live (unused, unexpired) link of `purpose` that `token` names; a validation error
/// on `token` otherwise.
pub(crate) async fn find(fv: &Fastvue, token: &str, purpose: &str) -> Result<email_token::Model> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(bad_link());
    }
    email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(hash(fv, token)))
        .one(fv.db())
        .await?
        .filter(|t| t.purpose == purpose && t.used_at.is_none() && t.expires_at > Utc::now())
        .ok_or_else(bad_link)
}

/// Spends every live link of `purpose` of `row`'s user on `txn`; a validation error on
/// `token` when `row` itself was spent meanwhile (another request used it first).
pub(crate) async fn spend<C: ConnectionTrait>(txn: &C, row: &email_token::Model) -> Result<()> {
    email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Utc::now().into())
        .filter(email_token::Column::UserId.eq(row.user_id))
        .filter(email_token::Column::Purpose.eq(row.purpose.as_str()))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::Id.ne(row.id))
        .exec(txn)
        .await?;
    let this = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Utc::now().into())
        .filter(email_token::Column::Id.eq(row.id))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(txn)
        .await?
        .rows_affected;
    if this == 1 { Ok(()) } else { Err(bad_link()) }
}

/// The refusal of an unknown, expired or used link.
pub(crate) fn bad_link() -> Error {
    Error::invalid("token", "this link is unknown, expired or used")
}

fn hash(fv: &Fastvue, token: &str) -> String {
    keyed::stored_hash(fv, "email", token)
}
