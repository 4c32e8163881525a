//! Where a role assignment or a group membership holds: the `scope` column of
//! `user_company_roles` and `user_groups`.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where an assignment (a membership) holds.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    /// In its company only (the group's company, for a membership).
    #[default]
    #[sea_orm(string_value = "company")]
    Company,
    /// In its company and every company below it, including companies created later;
    /// inheritance stops at a deactivated company (whose branch inherits nothing).
    #[sea_orm(string_value = "subtree")]
    Subtree,
}

impl GrantScope {
    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Subtree => "subtree",
        }
    }
}
