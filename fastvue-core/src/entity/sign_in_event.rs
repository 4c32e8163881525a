//! Sign-in successes and failures, kept `SIGN_IN_HISTORY_DAYS`.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `sign_in_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "sign_in_events")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account, when the login named one.
    pub user_id: Option<i64>,
    /// What was typed as the login (cut to 320 characters).
    pub login: String,
    /// `password`, `google`, `totp`, `recovery_code`.
    pub method: String,
    /// Whether the step succeeded.
    pub success: bool,
    /// `signed_in`, `mfa_required`, or why it failed.
    pub outcome: String,
    /// Client IP.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
