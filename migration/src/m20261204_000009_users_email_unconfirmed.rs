//! `users.email_unconfirmed`: the address was set by someone other than the account
//! holder (an administrator's `PATCH /users/{id}`), and the holder has not confirmed it.
//!
//! Google sign-in never links itself to such an account by email: otherwise whoever may
//! edit a user's email could point it at an address they control, sign in with Google,
//! and keep a permanent login into that account after setting the email back.

use sea_orm_migration::prelude::*;

/// Adds `users.email_unconfirmed` (boolean, not null, default false).
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::EmailUnconfirmed)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailUnconfirmed)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    EmailUnconfirmed,
}
