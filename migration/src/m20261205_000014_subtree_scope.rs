//! `user_company_roles.scope` and `user_groups.scope`: where an assignment or a group
//! membership holds. `company` (the default, and every row written before) holds in the
//! assignment's (the group's) company only; `subtree` holds there and in every company
//! below it, including companies created later.

use sea_orm_migration::prelude::*;

/// Adds `scope` (text, not null, default `company`) to both tables.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One statement per table: SQLite alters one column per statement.
        for table in [Tables::UserCompanyRoles, Tables::UserGroups] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(Tables::Scope)
                                .string_len(16)
                                .not_null()
                                .default("company"),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Tables::UserCompanyRoles, Tables::UserGroups] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Tables::Scope)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tables {
    UserCompanyRoles,
    UserGroups,
    Scope,
}
