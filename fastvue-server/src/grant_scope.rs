//! Where a role assignment or a group membership holds, as the API spells it.
use fastvue_core::entity::grant_scope::GrantScope;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `company`: in that company only (the default). `subtree`: in that company and every
/// company below it, including companies created later, as long as the companies on the
/// way down are active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// In that company only.
    #[default]
    Company,
    /// In that company and every company below it.
    Subtree,
}

impl From<Scope> for GrantScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Company => GrantScope::Company,
            Scope::Subtree => GrantScope::Subtree,
        }
    }
}

impl From<GrantScope> for Scope {
    fn from(s: GrantScope) -> Self {
        match s {
            GrantScope::Company => Scope::Company,
            GrantScope::Subtree => Scope::Subtree,
        }
    }
}
