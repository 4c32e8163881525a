//! `groups`, `group_permissions` and `user_groups`.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates per-company user groups, their permissions and their members.
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
                    .table(Groups::Table)
                    .col(big_pk_auto(Groups::Id))
                    .col(big_integer(Groups::CompanyId))
                    .col(string_len(Groups::Name, 100))
                    .col(string_len(Groups::Codename, 100))
                    .col(text_null(Groups::Description))
                    .col(boolean(Groups::IsActive).default(true))
                    .col(timestamp_with_time_zone(Groups::CreatedAt))
                    .col(timestamp_with_time_zone(Groups::UpdatedAt))
                    .index(
                        Index::create()
                            .name("uq_groups_company_codename")
                            .col(Groups::CompanyId)
                            .col(Groups::Codename)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_groups_company_id")
                            .from(Groups::Table, Groups::CompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GroupPermissions::Table)
                    .col(big_integer(GroupPermissions::GroupId))
                    .col(big_integer(GroupPermissions::PermissionId))
                    .primary_key(
                        Index::create()
                            .col(GroupPermissions::GroupId)
                            .col(GroupPermissions::PermissionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_permissions_group_id")
                            .from(GroupPermissions::Table, GroupPermissions::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_group_permissions_permission_id")
                            .from(GroupPermissions::Table, GroupPermissions::PermissionId)
                            .to(Permissions::Table, Permissions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_group_permissions_permission_id")
                    .table(GroupPermissions::Table)
                    .col(GroupPermissions::PermissionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserGroups::Table)
                    .col(big_integer(UserGroups::UserId))
                    .col(big_integer(UserGroups::GroupId))
                    .col(boolean(UserGroups::IsActive).default(true))
                    .col(timestamp_with_time_zone(UserGroups::JoinedAt))
                    .primary_key(
                        Index::create()
                            .col(UserGroups::UserId)
                            .col(UserGroups::GroupId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_groups_user_id")
                            .from(UserGroups::Table, UserGroups::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_groups_group_id")
                            .from(UserGroups::Table, UserGroups::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_groups_group_id")
                    .table(UserGroups::Table)
                    .col(UserGroups::GroupId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserGroups::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(GroupPermissions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Groups::Table).to_owned())
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
enum Permissions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    CompanyId,
    Name,
    Codename,
    Description,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupPermissions {
    Table,
    GroupId,
    PermissionId,
}

#[derive(DeriveIden)]
enum UserGroups {
    Table,
    UserId,
    GroupId,
    IsActive,
    JoinedAt,
}
