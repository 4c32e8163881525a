//! Invitations to join a company with a role (the token stored as a keyed hash).
use sea_orm::entity::prelude::*;

/// A row of `invitations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The company to join.
    pub company_id: i64,
    /// The role the new member gets there.
    pub role_id: i64,
    /// The invited address (lower-cased).
    pub email: String,
    /// Hex HMAC-SHA256 of the token under `SECRET_KEY`.
    pub token_hash: String,
    /// Who invited.
    pub invited_by: i64,
    /// After this the link is refused.
    pub expires_at: DateTimeUtc,
    /// When it was accepted.
    pub accepted_at: Option<DateTimeUtc>,
    /// The account that accepted it.
    pub accepted_by: Option<i64>,
    /// When it was withdrawn.
    pub revoked_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
