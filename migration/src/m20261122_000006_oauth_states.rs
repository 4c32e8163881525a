//! `oauth_states`: Google sign-ins in progress, when no Redis is configured.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the store of started OAuth sign-ins (state, PKCE verifier, redirect target).
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

// `MigrationTrait` declares `manager: &SchemaManager` with an elided lifetime;
// writing `SchemaManager<'_>` here makes async-trait turn it into an early-bound
// lifetime that no longer matches the trait (E0195).
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .col(string_len(OauthStates::State, 128).primary_key())
                    .col(string_len(OauthStates::Provider, 50))
                    .col(string_len(OauthStates::PkceVerifier, 128))
                    .col(text(OauthStates::RedirectTo))
                    .col(timestamp_with_time_zone(OauthStates::ExpiresAt))
                    .col(timestamp_with_time_zone(OauthStates::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_oauth_states_expires_at")
                    .table(OauthStates::Table)
                    .col(OauthStates::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthStates::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    State,
    Provider,
    PkceVerifier,
    RedirectTo,
    ExpiresAt,
    CreatedAt,
}
