//! The system permissions and the roles every company is seeded with: what bootstrap,
//! company creation and `data load` all ensure, through the functions here.
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use crate::codenames;
use crate::entity::{permission, role, role_permission};
use crate::error::Result;

/// Resources that get `read`, `create`, `update` and `delete` system permissions.
pub use crate::codenames::CRUD_RESOURCES;

/// Every system permission codename ([`codenames::ALL`]), seeded at start.
pub fn system_permissions() -> Vec<String> {
    codenames::ALL.map(String::from).to_vec()
}

/// A role seeded into every new company.
#[derive(Debug, Clone, Copy)]
pub struct RoleTemplate {
    /// Codename, unique within the company.
    pub codename: &'static str,
    /// Display name.
    pub name: &'static str,
    grants: fn(&str) -> bool,
}

impl RoleTemplate {
    /// Whether this role holds the system permission `codename`.
    pub fn grants(&self, codename: &str) -> bool {
        (self.grants)(codename)
    }
}

/// `admin` (all), `manager` (read all, user.create/update, role.assign), `viewer` (all `*.read`).
pub const COMPANY_ROLES: [RoleTemplate; 3] = [
    RoleTemplate {
        codename: "admin",
        name: "Administrator",
        grants: |_| true,
    },
    RoleTemplate {
        codename: "manager",
        name: "Manager",
        grants: |c| {
            c.ends_with(".read")
                || matches!(
                    c,
                    codenames::USER_CREATE | codenames::USER_UPDATE | codenames::ROLE_ASSIGN
                )
        },
    },
    RoleTemplate {
        codename: "viewer",
        name: "Viewer",
        grants: |c| c.ends_with(".read"),
    },
];

/// Inserts the system permissions that are missing (safe to run concurrently).
pub(crate) async fn ensure_system_permissions<C: ConnectionTrait>(db: &C) -> Result<()> {
    let now = Utc::now();
    let rows = system_permissions().into_iter().map(|codename| {
        let (resource, action) = codename.split_once('.').unwrap_or((codename.as_str(), ""));
        permission::ActiveModel {
            name: Set(format!("Can {action} {resource}")),
            resource: Set(resource.to_owned()),
            action: Set(action.to_owned()),
            category: Set(Some(resource.to_owned())),
            description: Set(None),
            is_system: Set(true),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            codename: Set(codename),
            ..Default::default()
        }
    });
    permission::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(permission::Column::Codename)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Creates the roles of [`COMPANY_ROLES`] that `company_id` lacks, with their system permissions.
pub(crate) async fn ensure_company_roles<C: ConnectionTrait>(
    db: &C,
    company_id: i64,
) -> Result<()> {
    let perms = permission::Entity::find()
        .filter(permission::Column::IsSystem.eq(true))
        .all(db)
        .await?;
    let now = Utc::now();
    for template in COMPANY_ROLES {
        let exists = role::Entity::find()
            .filter(role::Column::CompanyId.eq(company_id))
            .filter(role::Column::Codename.eq(template.codename))
            .count(db)
            .await?
            > 0;
        if exists {
            continue;
        }
        let r = role::ActiveModel {
            name: Set(template.name.to_owned()),
            codename: Set(template.codename.to_owned()),
            description: Set(None),
            company_id: Set(Some(company_id)),
            is_system: Set(true),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let links: Vec<_> = perms
            .iter()
            .filter(|p| template.grants(&p.codename))
            .map(|p| role_permission::ActiveModel {
                role_id: Set(r.id),
                permission_id: Set(p.id),
            })
            .collect();
        if !links.is_empty() {
            role_permission::Entity::insert_many(links)
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok(())
}
