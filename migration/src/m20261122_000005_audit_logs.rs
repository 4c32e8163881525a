//! `audit_logs`.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the append-only audit trail.
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
                    .table(AuditLogs::Table)
                    .col(big_pk_auto(AuditLogs::Id))
                    .col(big_integer_null(AuditLogs::ActorId))
                    // No foreign key: the history outlives the companies.
                    .col(big_integer_null(AuditLogs::CompanyId))
                    .col(string_len(AuditLogs::Action, 50))
                    .col(string_len(AuditLogs::EntityType, 50))
                    .col(big_integer_null(AuditLogs::EntityId))
                    // jsonb on PostgreSQL, text on SQLite.
                    .col(json_binary_null(AuditLogs::OldValues))
                    .col(json_binary_null(AuditLogs::NewValues))
                    .col(string_len_null(AuditLogs::IpAddress, 64))
                    .col(string_len_null(AuditLogs::RequestId, 64))
                    .col(timestamp_with_time_zone(AuditLogs::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_logs_actor_id")
                            .from(AuditLogs::Table, AuditLogs::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_logs_entity")
                    .table(AuditLogs::Table)
                    .col(AuditLogs::EntityType)
                    .col(AuditLogs::EntityId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_logs_actor_id")
                    .table(AuditLogs::Table)
                    .col(AuditLogs::ActorId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_logs_company_id")
                    .table(AuditLogs::Table)
                    .col(AuditLogs::CompanyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_logs_created_at")
                    .table(AuditLogs::Table)
                    .col(AuditLogs::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLogs::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AuditLogs {
    Table,
    Id,
    ActorId,
    CompanyId,
    Action,
    EntityType,
    EntityId,
    OldValues,
    NewValues,
    IpAddress,
    RequestId,
    CreatedAt,
}
