//! Sessions and sign-in history: where each refresh-token family (session) started and
//! was last used from (`refresh_tokens.started_at`, `ip_address`, `user_agent`), and
//! every sign-in success and failure (`sign_in_events`).

use sea_orm_migration::{prelude::*, schema::*};

/// Adds the session columns and creates `sign_in_events`.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            ColumnDef::new(RefreshTokens::StartedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::IpAddress)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::UserAgent)
                .string_len(255)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SignInEvents::Table)
                    .col(big_pk_auto(SignInEvents::Id))
                    // NULL when the login names no account.
                    .col(big_integer_null(SignInEvents::UserId))
                    // What was typed (cut to 320 characters).
                    .col(string_len(SignInEvents::Login, 320))
                    // `password`, `google`, `totp`, `recovery_code`.
                    .col(string_len(SignInEvents::Method, 32))
                    .col(boolean(SignInEvents::Success))
                    // Why it failed (`invalid_credentials`, `rate_limited`, `wrong_code`, ...)
                    // or what a success led to (`signed_in`, `mfa_required`).
                    .col(string_len(SignInEvents::Outcome, 64))
                    .col(string_len_null(SignInEvents::IpAddress, 64))
                    .col(string_len_null(SignInEvents::UserAgent, 255))
                    .col(timestamp_with_time_zone(SignInEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sign_in_events_user_id")
                            .from(SignInEvents::Table, SignInEvents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_events_user_id")
                    .table(SignInEvents::Table)
                    .col(SignInEvents::UserId)
                    .col(SignInEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_events_created_at")
                    .table(SignInEvents::Table)
                    .col(SignInEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SignInEvents::Table).to_owned())
            .await?;
        for column in [
            RefreshTokens::UserAgent,
            RefreshTokens::IpAddress,
            RefreshTokens::StartedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    StartedAt,
    IpAddress,
    UserAgent,
}

#[derive(DeriveIden)]
enum SignInEvents {
    Table,
    Id,
    UserId,
    Login,
    Method,
    Success,
    Outcome,
    IpAddress,
    UserAgent,
    CreatedAt,
}
