//! Single-use links sent by mail (stored as keyed hashes).
use sea_orm::entity::prelude::*;

/// A row of `email_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_tokens")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex HMAC-SHA256 of the token under `SECRET_KEY`.
    pub token_hash: String,
    /// Whose link it is.
    pub user_id: i64,
    /// `reset` or `verify`.
    pub purpose: String,
    /// The address the link was sent to.
    pub email: String,
    /// After this the link is refused.
    pub expires_at: DateTimeUtc,
    /// When it was used (links work once).
    pub used_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
