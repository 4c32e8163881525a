//! `api_keys`: per-company keys that other services use to call the API.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the service API keys (prefix and keyed hash of the secret, never the secret).
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
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(big_integer(ApiKeys::CompanyId))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Prefix, 8))
                    // Hex HMAC-SHA256 of the whole key under SECRET_KEY.
                    .col(string_len(ApiKeys::SecretHash, 64))
                    // JSON array of permission codenames (jsonb on PostgreSQL, text on SQLite).
                    .col(json_binary(ApiKeys::Scopes))
                    .col(big_integer(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(integer_null(ApiKeys::RateLimitPerMinute))
                    .index(
                        Index::create()
                            .name("uq_api_keys_prefix")
                            .col(ApiKeys::Prefix)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_company_id")
                            .from(ApiKeys::Table, ApiKeys::CompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_created_by")
                            .from(ApiKeys::Table, ApiKeys::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_company_id")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::CompanyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_created_by")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::CreatedBy)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    CompanyId,
    Name,
    Prefix,
    SecretHash,
    Scopes,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RateLimitPerMinute,
}
