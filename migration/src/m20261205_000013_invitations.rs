//! `invitations`: a mailed link that makes its recipient a member of a company with a
//! role (creating the account when the address has none).

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `invitations`.
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
                    .table(Invitations::Table)
                    .col(big_pk_auto(Invitations::Id))
                    .col(big_integer(Invitations::CompanyId))
                    .col(big_integer(Invitations::RoleId))
                    .col(string_len(Invitations::Email, 255))
                    // Hex HMAC-SHA256 of the token under SECRET_KEY.
                    .col(string_len(Invitations::TokenHash, 64))
                    .col(big_integer(Invitations::InvitedBy))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitations::AcceptedAt))
                    .col(big_integer_null(Invitations::AcceptedBy))
                    .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .index(
                        Index::create()
                            .name("uq_invitations_token_hash")
                            .col(Invitations::TokenHash)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitations_company_id")
                            .from(Invitations::Table, Invitations::CompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitations_role_id")
                            .from(Invitations::Table, Invitations::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitations_invited_by")
                            .from(Invitations::Table, Invitations::InvitedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invitations_company_id")
                    .table(Invitations::Table)
                    .col(Invitations::CompanyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Invitations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    CompanyId,
    RoleId,
    Email,
    TokenHash,
    InvitedBy,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
    CreatedAt,
}
