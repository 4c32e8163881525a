//! `email_tokens`: single-use links sent by mail (password reset; later email
//! verification), stored as keyed hashes.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `email_tokens`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EmailTokens::Table)
                    .col(big_pk_auto(EmailTokens::Id))
                    // Hex HMAC-SHA256 of the token under SECRET_KEY.
                    .col(string_len(EmailTokens::TokenHash, 64))
                    .col(big_integer(EmailTokens::UserId))
                    // `reset` (password reset) or `verify` (email verification).
                    .col(string_len(EmailTokens::Purpose, 16))
                    // The address the link was sent to.
                    .col(string_len(EmailTokens::Email, 255))
                    .col(timestamp_with_time_zone(EmailTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(EmailTokens::UsedAt))
                    .col(timestamp_with_time_zone(EmailTokens::CreatedAt))
                    .index(
                        Index::create()
                            .name("uq_email_tokens_token_hash")
                            .col(EmailTokens::TokenHash)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_tokens_user_id")
                            .from(EmailTokens::Table, EmailTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_tokens_user_id")
                    .table(EmailTokens::Table)
                    .col(EmailTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum EmailTokens {
    Table,
    Id,
    TokenHash,
    UserId,
    Purpose,
    Email,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}
