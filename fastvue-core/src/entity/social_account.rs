//! Links between users and external identity providers.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `social_accounts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "social_accounts")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The linked user.
    pub user_id: i64,
    /// Provider name, e.g. `google`.
    pub provider: String,
    /// The provider's stable subject id.
    pub provider_user_id: String,
    /// Email reported by the provider.
    pub email: Option<String>,
    /// Link time.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
