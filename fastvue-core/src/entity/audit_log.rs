//! The audit trail of every administrative write.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `audit_logs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "audit_logs")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who did it (`None` for the system).
    pub actor_id: Option<i64>,
    /// The company concerned.
    pub company_id: Option<i64>,
    /// What was done, e.g. `create`, `update`, `deactivate`.
    pub action: String,
    /// What kind of row, e.g. `user`.
    pub entity_type: String,
    /// Which row.
    pub entity_id: Option<i64>,
    /// Values before the change.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub old_values: Option<Json>,
    /// Values after the change.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub new_values: Option<Json>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Request id of the HTTP request that caused it.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
