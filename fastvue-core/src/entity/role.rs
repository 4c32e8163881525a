//! Roles: named permission bundles, global templates (no company) or per company.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `roles`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Codename, unique within its company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Owning company; `None` for a global template.
    pub company_id: Option<i64>,
    /// Seeded roles cannot be deleted.
    pub is_system: bool,
    /// Inactive roles grant nothing.
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
