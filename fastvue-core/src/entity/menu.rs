//! Menu entries: the navigation tree of an admin frontend, global (no company) or per
//! company, each shown to the users who hold its permissions.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of `menus`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "menus")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning company; `None` for a global entry (shown in every company).
    pub company_id: Option<i64>,
    /// Parent entry: of the same company, or a global one.
    pub parent_id: Option<i64>,
    /// Name, unique within its company (a route name for the frontend).
    pub name: String,
    /// Route path (`/users`); `None` for a section that only groups its children.
    pub path: Option<String>,
    /// Title shown.
    pub title: String,
    /// Translation key of the title.
    pub i18n_key: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// Position among its siblings (ascending, then by id).
    pub sort_order: i32,
    /// The permission codenames that show it, separated by spaces (empty: shown to
    /// every member of the company).
    pub permissions: String,
    /// Whether any or all of `permissions` must be held.
    pub permission_mode: PermissionMode,
    /// Inactive entries (and their children) are shown to no one.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// The codenames of `permissions`.
    pub fn codenames(&self) -> impl Iterator<Item = &str> {
        self.permissions.split_ascii_whitespace()
    }
}

/// How an entry's permissions show it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "snake_case")]
pub enum PermissionMode {
    /// Shown to holders of any one of them.
    #[default]
    #[sea_orm(string_value = "any")]
    Any,
    /// Shown to holders of all of them.
    #[sea_orm(string_value = "all")]
    All,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
