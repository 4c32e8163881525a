//! `menus`: the navigation tree a Vue admin frontend shows, global entries (no company)
//! and per-company entries, each shown to the users who hold its permissions. Seeds the
//! entries of the built-in admin pages once, and gives the `menu.*` system permissions to
//! the seeded roles of companies that existed before (new companies get them from the
//! role templates).

use sea_orm_migration::sea_orm::prelude::ChronoUtc;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

/// Creates `menus`, seeds the built-in entries and the `menu.*` permissions.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

/// A seeded global entry: name, parent name, path, title, icon, order, permission.
type Seed = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    &'static str,
    i32,
    &'static str,
);

/// The seeded global entries.
const SEEDED: [Seed; 12] = [
    (
        "dashboard",
        None,
        Some("/"),
        "Dashboard",
        "HomeFilled",
        0,
        "",
    ),
    (
        "users",
        None,
        Some("/users"),
        "Users",
        "User",
        10,
        "user.read",
    ),
    (
        "companies",
        None,
        Some("/companies"),
        "Companies",
        "OfficeBuilding",
        20,
        "company.read",
    ),
    (
        "roles",
        None,
        Some("/roles"),
        "Roles",
        "Avatar",
        30,
        "role.read",
    ),
    (
        "groups",
        None,
        Some("/groups"),
        "Groups",
        "Collection",
        40,
        "group.read",
    ),
    (
        "permissions",
        None,
        Some("/permissions"),
        "Permissions",
        "Key",
        50,
        "permission.read",
    ),
    (
        "menus",
        None,
        Some("/menus"),
        "Menus",
        "Menu",
        60,
        "menu.read",
    ),
    (
        "audit",
        None,
        Some("/audit"),
        "Audit log",
        "Document",
        70,
        "audit.read",
    ),
    (
        "api-keys",
        None,
        Some("/api-keys"),
        "API keys",
        "Connection",
        80,
        "apikey.read",
    ),
    ("account", None, None, "Account", "Setting", 90, ""),
    (
        "sessions",
        Some("account"),
        Some("/account/sessions"),
        "My sessions",
        "Tickets",
        0,
        "",
    ),
    (
        "profile",
        Some("account"),
        Some("/account/profile"),
        "Profile",
        "User",
        10,
        "",
    ),
];

/// The `menu.*` permissions and which seeded roles get each.
const MENU_PERMISSIONS: [(&str, &str, &[&str]); 4] = [
    ("menu.read", "read", &["admin", "manager", "viewer"]),
    ("menu.create", "create", &["admin"]),
    ("menu.update", "update", &["admin"]),
    ("menu.delete", "delete", &["admin"]),
];

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Menus::Table)
                    .col(big_pk_auto(Menus::Id))
                    .col(big_integer_null(Menus::CompanyId))
                    .col(big_integer_null(Menus::ParentId))
                    .col(string_len(Menus::Name, 100))
                    .col(string_len_null(Menus::Path, 200))
                    .col(string_len(Menus::Title, 100))
                    .col(string_len_null(Menus::I18nKey, 100))
                    .col(string_len_null(Menus::Icon, 64))
                    .col(integer(Menus::SortOrder).default(0))
                    .col(text(Menus::Permissions).default(""))
                    .col(string_len(Menus::PermissionMode, 8).default("any"))
                    .col(boolean(Menus::IsActive).default(true))
                    .col(timestamp_with_time_zone(Menus::CreatedAt))
                    .col(timestamp_with_time_zone(Menus::UpdatedAt))
                    .index(
                        Index::create()
                            .name("uq_menus_company_name")
                            .col(Menus::CompanyId)
                            .col(Menus::Name)
                            .unique(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_menus_company_id")
                            .from(Menus::Table, Menus::CompanyId)
                            .to(Companies::Table, Companies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_menus_parent_id")
                            .from(Menus::Table, Menus::ParentId)
                            .to(Menus::Table, Menus::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in UNIQUE(company_id, name): global entries need their own.
        manager
            .create_index(
                Index::create()
                    .name("uq_menus_global_name")
                    .table(Menus::Table)
                    .col(Menus::Name)
                    .unique()
                    .and_where(Expr::col(Menus::CompanyId).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_menus_parent_id")
                    .table(Menus::Table)
                    .col(Menus::ParentId)
                    .to_owned(),
            )
            .await?;
        seed_menus(manager).await?;
        seed_permissions(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (codename, _, _) in MENU_PERMISSIONS {
            let stmt = Query::delete()
                .from_table(Permissions::Table)
                .and_where(Expr::col(Permissions::Codename).eq(codename))
                .to_owned();
            db.execute(&stmt).await?;
        }
        manager
            .drop_table(Table::drop().table(Menus::Table).to_owned())
            .await
    }
}

/// Inserts the built-in entries, parents first.
async fn seed_menus(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let now = ChronoUtc::now();
    for (name, parent, path, title, icon, order, permission) in SEEDED {
        let parent_id: Option<i64> = match parent {
            None => None,
            Some(parent) => {
                let stmt = Query::select()
                    .column(Menus::Id)
                    .from(Menus::Table)
                    .and_where(Expr::col(Menus::Name).eq(parent))
                    .and_where(Expr::col(Menus::CompanyId).is_null())
                    .to_owned();
                let row = db
                    .query_one(&stmt)
                    .await?
                    .ok_or_else(|| DbErr::Custom(format!("seeded menu {parent} missing")))?;
                Some(row.try_get("", "id")?)
            }
        };
        let stmt = Query::insert()
            .into_table(Menus::Table)
            .columns([
                Menus::CompanyId,
                Menus::ParentId,
                Menus::Name,
                Menus::Path,
                Menus::Title,
                Menus::I18nKey,
                Menus::Icon,
                Menus::SortOrder,
                Menus::Permissions,
                Menus::PermissionMode,
                Menus::IsActive,
                Menus::CreatedAt,
                Menus::UpdatedAt,
            ])
            .values_panic([
                Option::<i64>::None.into(),
                parent_id.into(),
                name.into(),
                path.map(str::to_owned).into(),
                title.into(),
                Some(format!("menu.{name}")).into(),
                Some(icon.to_owned()).into(),
                order.into(),
                permission.into(),
                "any".into(),
                true.into(),
                now.into(),
                now.into(),
            ])
            .to_owned();
        db.execute(&stmt).await?;
    }
    Ok(())
}

/// On a database seeded before (an upgrade): adds the `menu.*` system permissions and
/// links them to the seeded roles of the companies that exist, so its administrators
/// can manage menus at once, as a new database's can. A new database is left to
/// bootstrap, which seeds every system permission.
async fn seed_permissions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let seeded = Query::select()
        .expr(Expr::col(Permissions::Codename).count())
        .from(Permissions::Table)
        .to_owned();
    let existing: i64 = match db.query_one(&seeded).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    if existing == 0 {
        // A new database: bootstrap seeds every system permission, these included.
        return Ok(());
    }
    let now = ChronoUtc::now();
    for (codename, action, roles) in MENU_PERMISSIONS {
        let stmt = Query::insert()
            .into_table(Permissions::Table)
            .columns([
                Permissions::Codename,
                Permissions::Name,
                Permissions::Description,
                Permissions::Resource,
                Permissions::Action,
                Permissions::Category,
                Permissions::IsSystem,
                Permissions::IsActive,
                Permissions::CreatedAt,
                Permissions::UpdatedAt,
            ])
            .values_panic([
                codename.into(),
                format!("Can {action} menu").into(),
                Option::<String>::None.into(),
                "menu".into(),
                action.into(),
                Some("menu".to_owned()).into(),
                true.into(),
                true.into(),
                now.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::column(Permissions::Codename)
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        db.execute(&stmt).await?;
        let list = roles
            .iter()
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // Only the seeded (system) roles of companies; the codenames are constants.
        let sql = format!(
            "INSERT INTO role_permissions (role_id, permission_id) \
             SELECT r.id, p.id FROM roles r, permissions p \
             WHERE r.is_system = {yes} AND r.company_id IS NOT NULL AND r.codename IN ({list}) \
             AND p.codename = '{codename}' \
             ON CONFLICT DO NOTHING",
            yes = if backend == sea_orm_migration::sea_orm::DbBackend::Postgres {
                "TRUE"
            } else {
                "1"
            },
        );
        db.execute_raw(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum Menus {
    Table,
    Id,
    CompanyId,
    ParentId,
    Name,
    Path,
    Title,
    I18nKey,
    Icon,
    SortOrder,
    Permissions,
    PermissionMode,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Companies {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Permissions {
    Table,
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
