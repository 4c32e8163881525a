//! `permissions`, `roles`, `role_permissions` and `user_company_roles`.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the permission catalogue, roles (global templates and per-company
/// roles), the role/permission link and the per-company role assignments of
/// users.
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
                    .table(Permissions::Table)
                    .col(big_pk_auto(Permissions::Id))
                    .col(string_len(Permissions::Codename, 100))
                    .col(string_len(Permissions::Name, 200))
                    .col(text_null(Permissions::Description))
                    .col(string_len(Permissions::Resource, 50))
                    .col(string_len(Permissions::Action, 50))
                    .col(string_len_null(Permissions::Category, 50))
                    .col(boolean(Permissions::IsSystem).default(false))
                    .col(boolean(Permissions::IsActive).default(true))
                    .col(timestamp_with_time_zone(Permissions::CreatedAt))
                    .col(timestamp_with_time_zone(Permissions::UpdatedAt))
                    .index(
                        Index::create()
                            .name("uq_permissions_codename")
                            .col(Permissions::Codename)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_permissions_resource")
                    .table(Permissions::Table)
                    .col(Permissions::Resource)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(big_pk_auto(Roles::Id))
                    .col(string_len(Roles::Name, 100))
                    .col(string_len(Roles::Codename, 100))
                    .col(text_null(Roles::Description))
                    .col(big_integer_null(Roles::CompanyId))
                    .col(boolean(Roles::IsSystem).default(false))
                    .col(boolean(Roles::IsActive).default(true))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .col(timestamp_with_time_zone(Roles::UpdatedAt))
                    .index(
                        Index::create()
                            .name("uq_roles_company_codename")
                            .col(Roles::CompanyId)
                            .col(Roles::Codename)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_roles_company_id")
                            .from(Roles::Table, Roles::CompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in UNIQUE(company_id, codename), so global role
        // templates (company_id IS NULL) need their own partial unique index.
        manager
            .create_index(
                Index::create()
                    .name("uq_roles_global_codename")
                    .table(Roles::Table)
                    .col(Roles::Codename)
                    .unique()
                    .and_where(Expr::col(Roles::CompanyId).is_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RolePermissions::Table)
                    .col(big_integer(RolePermissions::RoleId))
                    .col(big_integer(RolePermissions::PermissionId))
                    .primary_key(
                        Index::create()
                            .col(RolePermissions::RoleId)
                            .col(RolePermissions::PermissionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_permissions_role_id")
                            .from(RolePermissions::Table, RolePermissions::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_permissions_permission_id")
                            .from(RolePermissions::Table, RolePermissions::PermissionId)
                            .to(Permissions::Table, Permissions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_role_permissions_permission_id")
                    .table(RolePermissions::Table)
                    .col(RolePermissions::PermissionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserCompanyRoles::Table)
                    .col(big_pk_auto(UserCompanyRoles::Id))
                    .col(big_integer(UserCompanyRoles::UserId))
                    .col(big_integer(UserCompanyRoles::CompanyId))
                    .col(big_integer(UserCompanyRoles::RoleId))
                    .col(boolean(UserCompanyRoles::IsDefault).default(false))
                    .col(boolean(UserCompanyRoles::IsActive).default(true))
                    .col(timestamp_with_time_zone(UserCompanyRoles::AssignedAt))
                    .col(big_integer_null(UserCompanyRoles::AssignedBy))
                    .index(
                        Index::create()
                            .name("uq_ucr_user_company_role")
                            .col(UserCompanyRoles::UserId)
                            .col(UserCompanyRoles::CompanyId)
                            .col(UserCompanyRoles::RoleId)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ucr_user_id")
                            .from(UserCompanyRoles::Table, UserCompanyRoles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ucr_company_id")
                            .from(UserCompanyRoles::Table, UserCompanyRoles::CompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ucr_role_id")
                            .from(UserCompanyRoles::Table, UserCompanyRoles::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ucr_assigned_by")
                            .from(UserCompanyRoles::Table, UserCompanyRoles::AssignedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ucr_role_id")
                    .table(UserCompanyRoles::Table)
                    .col(UserCompanyRoles::RoleId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ucr_company_id")
                    .table(UserCompanyRoles::Table)
                    .col(UserCompanyRoles::CompanyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserCompanyRoles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RolePermissions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Roles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Permissions::Table).to_owned())
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
    Codename,
    Name,
    Description,
    Resource,
    Action,
    Category,
    IsSystem,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Codename,
    Description,
    CompanyId,
    IsSystem,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    RoleId,
    PermissionId,
}

#[derive(DeriveIden)]
enum UserCompanyRoles {
    Table,
    Id,
    UserId,
    CompanyId,
    RoleId,
    IsDefault,
    IsActive,
    AssignedAt,
    AssignedBy,
}
