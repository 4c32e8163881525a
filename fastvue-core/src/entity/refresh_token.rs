//! Refresh tokens (by jti), rotated within a family.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// The token id (jti).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The owner.
    pub user_id: i64,
    /// Rotation family: reuse of a rotated token revokes the whole family.
    pub family_id: String,
    /// Expiry.
    pub expires_at: DateTimeUtc,
    /// Issue time.
    pub created_at: DateTimeUtc,
    /// Revocation time.
    pub revoked_at: Option<DateTimeUtc>,
    /// The jti that replaced this one on rotation.
    pub replaced_by: Option<String>,
    /// When the session (the family) began; copied on rotation.
    pub started_at: Option<DateTimeUtc>,
    /// Client IP of the sign-in or refresh that made this token.
    pub ip_address: Option<String>,
    /// User agent of that request (cut to 255 characters).
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
