//! Users. The password hash never leaves fastvue-core (it is skipped on serialization).
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique, lower-cased email.
    pub email: String,
    /// Unique username.
    pub username: String,
    /// argon2id PHC string; `None` for accounts that sign in only through a provider.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Inactive users cannot sign in and hold no permissions.
    pub is_active: bool,
    /// Superusers hold every active permission in every company.
    pub is_superuser: bool,
    /// The company used when a request names none.
    pub current_company_id: Option<i64>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// Deactivation time (rows are kept).
    pub deleted_at: Option<DateTimeUtc>,
    /// The email was set by someone other than the account holder and not confirmed
    /// since: provider sign-ins never link themselves to this account by email.
    pub email_unconfirmed: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
