//! Sign-ins waiting for their second step (the token stored as a keyed hash).
use sea_orm::entity::prelude::*;

/// A row of `mfa_challenges`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_challenges")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Hex HMAC-SHA256 of the `mfa_token` under `SECRET_KEY`.
    pub token_hash: String,
    /// Who passed the first step.
    pub user_id: i64,
    /// `verify` (enter a code) or `enrol` (set up two-factor sign-in first).
    pub purpose: String,
    /// How the first step was passed (`password`, `google`).
    pub method: String,
    /// Wrong codes presented with this token.
    pub failures: i32,
    /// After this the token is refused.
    pub expires_at: DateTimeUtc,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
