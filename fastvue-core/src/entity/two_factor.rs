//! TOTP enrolments, one per user (the secret encrypted at rest).
use sea_orm::entity::prelude::*;

/// A row of `two_factors`. Not `Serialize`: the secret never leaves the core.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "two_factors")]
pub struct Model {
    /// The enrolled user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// base64 of the nonce and the XChaCha20-Poly1305 ciphertext of the secret.
    pub secret_enc: String,
    /// When the first code was accepted; `None` while enrolment is pending.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last accepted time step (codes are accepted once).
    pub last_used_step: Option<i64>,
    /// Wrong codes in the current window.
    pub failures: i32,
    /// Start of the current failure window.
    pub failures_since: Option<DateTimeUtc>,
    /// Enrolment start.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
