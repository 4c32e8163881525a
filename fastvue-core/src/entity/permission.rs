//! Permissions, named by `resource.action` codenames.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `permissions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "permissions")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique `resource.action` codename.
    pub codename: String,
    /// Human-readable name.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// The resource part of the codename.
    pub resource: String,
    /// The action part of the codename.
    pub action: String,
    /// Free grouping for UIs.
    pub category: Option<String>,
    /// Seeded permissions cannot be deleted.
    pub is_system: bool,
    /// Inactive permissions are granted to nobody.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
