//! `idx_users_id` (SQLite only): a compact index of user ids for deep list pages.
//!
//! On SQLite `users.id` is the rowid, so the rows live in the table's b-tree ordered
//! by id and there is no separate index of ids. `GET /users?page=500` skips 9,980 ids
//! before reading its 20 rows (a deferred join), and without this index every skipped
//! id is a full row read page by page; with it the skip walks 8-byte entries. On
//! PostgreSQL the primary key's b-tree already is that index, so nothing is created.

use sea_orm_migration::prelude::*;

/// Creates `idx_users_id` on SQLite.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_users_id";

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm_migration::sea_orm::DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Users::Table)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm_migration::sea_orm::DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .drop_index(Index::drop().name(NAME).table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
