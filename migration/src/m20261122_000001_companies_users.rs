//! `companies` (the tenants, optionally nested) and `users`.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `companies` and `users`.
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
                    .table(Companies::Table)
                    .col(big_pk_auto(Companies::Id))
                    .col(string_len(Companies::Name, 200))
                    .col(string_len(Companies::Code, 50))
                    .col(big_integer_null(Companies::ParentId))
                    .col(boolean(Companies::IsActive).default(true))
                    .col(timestamp_with_time_zone(Companies::CreatedAt))
                    .col(timestamp_with_time_zone(Companies::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Companies::DeletedAt))
                    .index(
                        Index::create()
                            .name("uq_companies_code")
                            .col(Companies::Code)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_companies_parent_id")
                            .from(Companies::Table, Companies::ParentId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_companies_parent_id")
                    .table(Companies::Table)
                    .col(Companies::ParentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(string_len(Users::Email, 255))
                    .col(string_len(Users::Username, 100))
                    .col(text_null(Users::PasswordHash))
                    .col(string_len_null(Users::FullName, 200))
                    .col(boolean(Users::IsActive).default(true))
                    .col(boolean(Users::IsSuperuser).default(false))
                    .col(big_integer_null(Users::CurrentCompanyId))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::DeletedAt))
                    .index(
                        Index::create()
                            .name("uq_users_email")
                            .col(Users::Email)
                            .unique(),
                    )
                    .index(
                        Index::create()
                            .name("uq_users_username")
                            .col(Users::Username)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_current_company_id")
                            .from(Users::Table, Users::CurrentCompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Companies::Table).to_owned())
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
    Name,
    Code,
    ParentId,
    IsActive,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Username,
    PasswordHash,
    FullName,
    IsActive,
    IsSuperuser,
    CurrentCompanyId,
    LastLoginAt,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}
