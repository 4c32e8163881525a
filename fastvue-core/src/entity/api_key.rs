//! Service API keys: per-company keys with permission scopes (see `service::api_keys`).
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of `api_keys`. The secret itself is never stored; `secret_hash` is never
/// serialized (so it stays out of audit snapshots and JSON output).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The company the key acts in.
    pub company_id: i64,
    /// Label, for people.
    pub name: String,
    /// The 8 characters after `fv_live_`, unique, shown in lists.
    #[sea_orm(unique)]
    pub prefix: String,
    /// Hex HMAC-SHA256 of the whole key under `SECRET_KEY`.
    #[serde(skip)]
    pub secret_hash: String,
    /// JSON array of the permission codenames the key may use.
    #[sea_orm(column_type = "JsonBinary")]
    pub scopes: Json,
    /// The user who created the key; the key acts as this user, within its scopes.
    pub created_by: i64,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last time the key authenticated a request (updated at most once a minute per process).
    pub last_used_at: Option<DateTimeUtc>,
    /// Expiry; `None` for a key that does not expire.
    pub expires_at: Option<DateTimeUtc>,
    /// Revocation time.
    pub revoked_at: Option<DateTimeUtc>,
    /// Requests allowed per minute; `None` for no per-key limit.
    pub rate_limit_per_minute: Option<i32>,
}

impl Model {
    /// The scope codenames, sorted.
    pub fn scope_codenames(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .scopes
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        scopes.sort();
        scopes
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
