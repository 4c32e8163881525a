//! Group membership.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `user_groups`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "user_groups")]
pub struct Model {
    /// The member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// The group.
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    /// Inactive memberships grant nothing.
    pub is_active: bool,
    /// When the user joined.
    pub joined_at: DateTimeUtc,
    /// Where it holds: the group's company, or that company and every company below it.
    pub scope: super::grant_scope::GrantScope,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
