//! Groups of users inside a company, granting permissions to their members.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `groups`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning company.
    pub company_id: i64,
    /// Display name.
    pub name: String,
    /// Codename, unique within the company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Inactive groups grant nothing.
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
