//! Role assignments: a user holds a role in a company.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `user_company_roles`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "user_company_roles")]
pub struct Model {
    /// Primary key (the assignment id).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The user.
    pub user_id: i64,
    /// The company the role is held in.
    pub company_id: i64,
    /// The role.
    pub role_id: i64,
    /// Marks the default assignment of the user.
    pub is_default: bool,
    /// Inactive assignments grant nothing.
    pub is_active: bool,
    /// When it was assigned.
    pub assigned_at: DateTimeUtc,
    /// Who assigned it.
    pub assigned_by: Option<i64>,
    /// Where it holds: this company, or this company and every company below it.
    pub scope: super::grant_scope::GrantScope,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
