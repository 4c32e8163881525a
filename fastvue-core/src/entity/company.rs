//! Companies (tenants), optionally nested under a parent company.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `companies`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "companies")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique short code.
    pub code: String,
    /// Parent company, if any.
    pub parent_id: Option<i64>,
    /// Inactive companies grant no permissions.
    pub is_active: bool,
    /// Members must sign in with a second factor (they enrol before getting tokens).
    #[sea_orm(column_name = "require_2fa")]
    pub require_2fa: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
