//! Google sign-ins in progress (used when no Redis is configured).
use sea_orm::entity::prelude::*;

/// A row of `oauth_states`: one started sign-in, taken (deleted) by its callback.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    /// The `state` sent to the provider (random, URL-safe).
    #[sea_orm(primary_key, auto_increment = false)]
    pub state: String,
    /// Provider name, e.g. `google`.
    pub provider: String,
    /// The PKCE code verifier of this sign-in (a secret until the code is exchanged).
    pub pkce_verifier: String,
    /// Where the browser goes when the sign-in ends.
    pub redirect_to: String,
    /// After this the state is refused.
    pub expires_at: DateTimeUtc,
    /// When the sign-in started.
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
#[allow(missing_docs)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
