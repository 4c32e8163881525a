//! Roles: per-company (or global template) permission bundles.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;

use crate::Fastvue;
use crate::domain::{Checker, Name, Slug};
use crate::entity::{permission, role, role_permission};
use crate::error::{Error, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::service::audit::{self, AuditContext, Entry, snapshot};
use crate::service::permissions::resolve_codenames;
use crate::service::search::contains_any;

const UNIQUE: &[(&str, &[&str])] = &[(
    "codename",
    &[
        "uq_roles_company_codename",
        "uq_roles_global_codename",
        "roles.codename",
    ],
)];

/// Input for creating a role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Display name.
    pub name: String,
    /// Codename, unique within the company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Owning company; `None` makes a global template (superusers only; the caller checks).
    pub company_id: Option<i64>,
    /// Initial permission codenames.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Changes to a role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    /// New name.
    pub name: Option<String>,
    /// New description (an empty string clears it).
    pub description: Option<String>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
}

/// Filters for listing roles.
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    /// Roles of this company (and, with `include_global`, the global templates).
    pub company_id: Option<i64>,
    /// Also list global templates.
    pub include_global: bool,
    /// Only roles of these companies (visibility scope of a non-superuser).
    pub company_ids: Option<Vec<i64>>,
    /// Substring of name or codename.
    pub search: Option<String>,
    /// Only active or inactive roles.
    pub is_active: Option<bool>,
}

/// Role administration.
#[derive(Debug, Clone, Copy)]
pub struct Roles<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Roles<'_> {
    /// Creates a role with its initial permissions in one transaction.
    pub async fn create(&self, ctx: &AuditContext, input: NewRole) -> Result<role::Model> {
        let mut c = Checker::default();
        let name = c.check("name", Name::parse(&input.name, 100));
        let codename = c.check("codename", Slug::parse(&input.codename));
        let (Some(name), Some(codename)) = (name, codename) else {
            return Err(c.into_error());
        };
        let txn = self.fv.begin_write().await?;
        if let Some(company_id) = input.company_id {
            crate::service::companies::find(&txn, company_id)
                .await
                .map_err(|_| Error::invalid("company_id", "no such company"))?;
        }
        let perms = resolve_codenames(&txn, "permissions", &input.permissions).await?;
        let now = Utc::now();
        let model = role::ActiveModel {
            name: Set(name.into_inner()),
            codename: Set(codename.into_inner()),
            description: Set(input.description.filter(|d| !d.trim().is_empty())),
            company_id: Set(input.company_id),
            is_system: Set(false),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| map_unique(e, UNIQUE))?;
        link(&txn, model.id, &perms).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "create",
                entity_type: "role",
                entity_id: Some(model.id),
                company_id: model.company_id,
                old_values: None,
                new_values: with_permissions(&model, &perms),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(model)
    }

    /// The role with this id.
    pub async fn get(&self, id: i64) -> Result<role::Model> {
        find(self.fv.db(), id).await
    }

    /// The permissions a role grants, by codename.
    pub async fn permissions(&self, id: i64) -> Result<Vec<permission::Model>> {
        find(self.fv.db(), id).await?;
        permissions_of(self.fv.db(), id).await
    }

    /// Lists roles by name.
    pub async fn list(&self, filter: &RoleFilter, page: PageRequest) -> Result<Page<role::Model>> {
        let mut q = role::Entity::find();
        if let Some(company_id) = filter.company_id {
            let mut cond = Condition::any().add(role::Column::CompanyId.eq(company_id));
            if filter.include_global {
                cond = cond.add(role::Column::CompanyId.is_null());
            }
            q = q.filter(cond);
        }
        if let Some(ids) = &filter.company_ids {
            let mut cond = Condition::any().add(role::Column::CompanyId.is_in(ids.iter().copied()));
            if filter.include_global {
                cond = cond.add(role::Column::CompanyId.is_null());
            }
            q = q.filter(cond);
        }
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[role::Column::Name, role::Column::Codename],
                term,
            ));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(role::Column::IsActive.eq(active));
        }
        let db = self.fv.db();
        let total = q.clone().count(db).await?;
        let items = q
            .order_by_asc(role::Column::Name)
            .order_by_asc(role::Column::Id)
            .offset(page.offset())
            .limit(page.page_size())
            .all(db)
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// Applies a patch; (de)activation changes every holder's permissions at once.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: i64,
        patch: RolePatch,
    ) -> Result<role::Model> {
        let name = patch
            .name
            .as_deref()
            .map(|n| Name::parse(n, 100))
            .transpose()
            .map_err(|m| Error::invalid("name", m))?;
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut am = old.clone().into_active_model();
        if let Some(v) = name {
            am.name = Set(v.into_inner());
        }
        if let Some(d) = patch.description {
            am.description = Set(Some(d).filter(|d| !d.trim().is_empty()));
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
        }
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "update",
                entity_type: "role",
                entity_id: Some(id),
                company_id: new.company_id,
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        txn.commit().await?;
        if old.is_active != new.is_active {
            self.fv.permissions_changed(Change::Role(id)).await;
        }
        Ok(new)
    }

    /// Replaces the role's permission set; every holder sees the new set at once.
    pub async fn set_permissions(
        &self,
        ctx: &AuditContext,
        id: i64,
        codenames: &[String],
    ) -> Result<Vec<permission::Model>> {
        let txn = self.fv.begin_write().await?;
        let role = find(&txn, id).await?;
        let perms = resolve_codenames(&txn, "permissions", codenames).await?;
        let before = permissions_of(&txn, id).await?;
        role_permission::Entity::delete_many()
            .filter(role_permission::Column::RoleId.eq(id))
            .exec(&txn)
            .await?;
        link(&txn, id, &perms).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "set_permissions",
                entity_type: "role",
                entity_id: Some(id),
                company_id: role.company_id,
                old_values: Some(codenames_json(&before)),
                new_values: Some(codenames_json(&perms)),
            },
        )
        .await?;
        txn.commit().await?;
        self.fv.permissions_changed(Change::Role(id)).await;
        let mut perms = perms;
        perms.sort_by(|a, b| a.codename.cmp(&b.codename));
        Ok(perms)
    }

    /// Deletes a role that is not a system role, with its assignments.
    pub async fn delete(&self, ctx: &AuditContext, id: i64) -> Result<()> {
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        if old.is_system {
            return Err(Error::Conflict {
                field: None,
                message: "system roles cannot be deleted".into(),
            });
        }
        let affected = crate::permission::resolve(&txn, Change::Role(id)).await?;
        old.clone().delete(&txn).await?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "delete",
                entity_type: "role",
                entity_id: Some(id),
                company_id: old.company_id,
                old_values: snapshot(&old),
                new_values: None,
            },
        )
        .await?;
        txn.commit().await?;
        self.fv.apply_invalidation(affected).await;
        Ok(())
    }
}

pub(crate) async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<role::Model> {
    role::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "role" })
}

async fn permissions_of<C: ConnectionTrait>(
    db: &C,
    role_id: i64,
) -> Result<Vec<permission::Model>> {
    Ok(permission::Entity::find()
        .filter(
            permission::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(role_permission::Column::PermissionId)
                    .from(role_permission::Entity)
                    .and_where(role_permission::Column::RoleId.eq(role_id))
                    .to_owned(),
            ),
        )
        .order_by_asc(permission::Column::Codename)
        .all(db)
        .await?)
}

async fn link<C: ConnectionTrait>(db: &C, role_id: i64, perms: &[permission::Model]) -> Result<()> {
    if perms.is_empty() {
        return Ok(());
    }
    role_permission::Entity::insert_many(perms.iter().map(|p| role_permission::ActiveModel {
        role_id: Set(role_id),
        permission_id: Set(p.id),
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub(crate) fn codenames_json(perms: &[permission::Model]) -> serde_json::Value {
    let mut names: Vec<&str> = perms.iter().map(|p| p.codename.as_str()).collect();
    names.sort_unstable();
    serde_json::json!({ "permissions": names })
}

fn with_permissions(model: &role::Model, perms: &[permission::Model]) -> Option<serde_json::Value> {
    let mut value = snapshot(model)?;
    if let (Some(obj), serde_json::Value::Object(p)) =
        (value.as_object_mut(), codenames_json(perms))
    {
        obj.extend(p);
    }
    Some(value)
}
