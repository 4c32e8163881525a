//! Single-use recovery codes of a two-factor enrolment (stored as keyed hashes).
use sea_orm::entity::prelude::*;

/// A row of `recovery_codes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recovery_codes")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The owner.
    pub user_id: i64,
    /// Hex HMAC-SHA256 of the code under `SECRET_KEY`.
    pub code_hash: String,
    /// When it was spent.
    pub used_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
