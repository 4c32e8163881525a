//! Roles: per-company (or global template) permission bundles.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;

use crate::Fastvue;
use crate::codenames;
use crate::domain::{Name, Slug};
use crate::entity::{permission, role};
use crate::error::{Error, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::policy::Actor;
use crate::policy::escalation::{Guard, Watch};
use crate::service::audit::{self, Entry, snapshot};
use crate::service::bundle::{Bundle, codenames_json, sorted_codenames, with_permissions};
use crate::service::lookup;
use crate::service::permissions::resolve_codenames;
use crate::service::search::contains_any;
use crate::validation::{self, MAX_DESCRIPTION, normalised};
use validator::Validate;

pub use crate::service::permissions::MAX_CODENAMES;

const UNIQUE: &[(&str, &[&str])] = &[(
    "codename",
    &[
        "uq_roles_company_codename",
        "uq_roles_global_codename",
        "roles.codename",
    ],
)];

/// Input for creating a role.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Display name.
    #[validate(custom(function = validation::name_100))]
    pub name: String,
    /// Codename, unique within the company.
    #[validate(custom(function = validation::slug))]
    pub codename: String,
    /// Longer description (at most [`MAX_DESCRIPTION`] characters).
    #[validate(length(max = MAX_DESCRIPTION))]
    pub description: Option<String>,
    /// Owning company; `None` makes a global template (superusers only).
    pub company_id: Option<i64>,
    /// Initial permission codenames (at most [`MAX_CODENAMES`]).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A role with the codenames of the permissions it grants, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDetail {
    /// The role.
    pub role: role::Model,
    /// The codenames of the permissions it grants (active or not), sorted.
    pub permissions: Vec<String>,
}

/// Changes to a role.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    /// New name.
    #[validate(custom(function = validation::name_100))]
    pub name: Option<String>,
    /// New description (an empty string clears it; at most [`MAX_DESCRIPTION`] characters).
    #[validate(length(max = MAX_DESCRIPTION))]
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
    ///
    /// Rules: `role.create` in the active company and in `company_id`
    /// ([`Error::Forbidden`]); a global template (no `company_id`) is created by
    /// superusers only; the initial permissions must be held by the actor in that company.
    pub async fn create(&self, actor: &Actor, input: NewRole) -> Result<RoleDetail> {
        let fv = self.fv;
        actor.require(fv, codenames::ROLE_CREATE).await?;
        match input.company_id {
            Some(c) => actor.require_in(fv, c, codenames::ROLE_CREATE).await?,
            None if !actor.is_superuser() => {
                return Err(Error::Forbidden(
                    "global templates can be created by superusers only".into(),
                ));
            }
            None => {}
        }
        let perms = resolve_codenames(fv.db(), "permissions", &input.permissions).await?;
        if let Some(company_id) = input.company_id {
            actor
                .ensure_holds_all(
                    fv,
                    company_id,
                    perms.iter().map(|p| p.codename.as_str()),
                    "grant",
                )
                .await?;
        }
        input.validate()?;
        let name = normalised("name", Name::parse(&input.name, 100))?;
        let codename = normalised("codename", Slug::parse(&input.codename))?;
        let txn = fv.begin_write().await?;
        if let Some(company_id) = input.company_id {
            crate::service::lookup::company(&txn, company_id)
                .await
                .map_err(|_| Error::invalid("company_id", "no such company"))?;
        }
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
        Bundle::Role
            .link(&txn, model.id, perms.iter().map(|p| p.id))
            .await?;
        audit::record(
            &txn,
            &actor.audit(),
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
        Ok(detail(model, perms))
    }

    /// The role `id` with its permissions: roles of companies where the actor holds
    /// `role.read` (needed in its active company too), and every global template.
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<RoleDetail> {
        let fv = self.fv;
        actor.require(fv, codenames::ROLE_READ).await?;
        let r = lookup::role(fv.db(), id).await?;
        if let Some(c) = r.company_id {
            actor
                .ensure_visible(fv, c, codenames::ROLE_READ, "role")
                .await?;
        }
        let perms = Bundle::Role.permissions_of(fv.db(), id).await?;
        Ok(detail(r, perms))
    }

    /// Lists roles by name: those of companies where the actor holds `role.read` (a
    /// `company_id` filter outside them is [`Error::NotFound`]), plus, with
    /// `include_global`, the global templates.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &RoleFilter,
        page: PageRequest,
    ) -> Result<Page<role::Model>> {
        actor.require(self.fv, codenames::ROLE_READ).await?;
        let scope = actor
            .list_scope(self.fv, codenames::ROLE_READ, filter.company_id)
            .await?;
        let mut q = role::Entity::find();
        if let Some(company_id) = filter.company_id {
            let mut cond = Condition::any().add(role::Column::CompanyId.eq(company_id));
            if filter.include_global {
                cond = cond.add(role::Column::CompanyId.is_null());
            }
            q = q.filter(cond);
        } else if let Some(ids) = scope.ids() {
            let mut cond = Condition::any().add(role::Column::CompanyId.is_in(ids.iter().copied()));
            if filter.include_global {
                cond = cond.add(role::Column::CompanyId.is_null());
            }
            q = q.filter(cond);
        } else if !filter.include_global {
            q = q.filter(role::Column::CompanyId.is_not_null());
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

    /// The role `id` as `actor` may change it with `codename`: [`Error::NotFound`] when
    /// unknown or in a company outside the actor's scope, [`Error::Forbidden`] for a
    /// global template or a system role unless the actor is a superuser.
    async fn writable(&self, actor: &Actor, id: i64, codename: &str) -> Result<role::Model> {
        let fv = self.fv;
        actor.require(fv, codename).await?;
        let r = lookup::role(fv.db(), id).await?;
        if let Some(c) = r.company_id {
            actor.ensure_visible(fv, c, codename, "role").await?;
        }
        if !actor.is_superuser() && (r.company_id.is_none() || r.is_system) {
            return Err(Error::Forbidden(
                "global templates and system roles can be changed by superusers only".into(),
            ));
        }
        Ok(r)
    }

    /// Applies a patch; (de)activation changes every holder's permissions at once.
    /// Rules: `role.update` in the role's company; global and system roles: superusers
    /// only; the [escalation invariant](crate::policy::escalation) for (de)activation.
    pub async fn update(&self, actor: &Actor, id: i64, patch: RolePatch) -> Result<RoleDetail> {
        let fv = self.fv;
        self.writable(actor, id, codenames::ROLE_UPDATE).await?;
        patch.validate()?;
        let name = (patch.name.as_deref())
            .map(|n| normalised("name", Name::parse(n, 100)))
            .transpose()?;
        let txn = fv.begin_write().await?;
        let old = lookup::role(&txn, id).await?;
        let guard = Guard::before(actor, &txn, holders(actor, &txn, &old).await?).await?;
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
            &actor.audit(),
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
        guard.check(&txn).await?;
        let perms = Bundle::Role.permissions_of(&txn, id).await?;
        let changes = if old.is_active == new.is_active {
            Vec::new()
        } else {
            vec![Change::Role(id)]
        };
        fv.commit_changes(txn, &changes).await?;
        Ok(detail(new, perms))
    }

    /// Replaces the role's permission set; every holder sees the new set at once.
    /// Rules: `role.update` in the role's company; global and system roles: superusers
    /// only; a non-superuser adds only permissions it holds there (keeping one is not
    /// granting it), and the [escalation invariant](crate::policy::escalation) holds
    /// for every holder. At most [`MAX_CODENAMES`] codenames.
    pub async fn set_permissions(
        &self,
        actor: &Actor,
        id: i64,
        codenames: &[String],
    ) -> Result<RoleDetail> {
        let fv = self.fv;
        let r = self.writable(actor, id, codenames::ROLE_UPDATE).await?;
        let perms = resolve_codenames(fv.db(), "permissions", codenames).await?;
        if let Some(c) = r.company_id {
            let kept = Bundle::Role.permissions_of(fv.db(), id).await?;
            let added = perms
                .iter()
                .filter(|p| !kept.iter().any(|k| k.id == p.id))
                .map(|p| p.codename.as_str());
            actor.ensure_holds_all(fv, c, added, "grant").await?;
        }
        let txn = fv.begin_write().await?;
        let role = lookup::role(&txn, id).await?;
        let guard = Guard::before(actor, &txn, holders(actor, &txn, &role).await?).await?;
        let before = Bundle::Role.permissions_of(&txn, id).await?;
        Bundle::Role
            .replace(&txn, id, perms.iter().map(|p| p.id))
            .await?;
        audit::record(
            &txn,
            &actor.audit(),
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
        guard.check(&txn).await?;
        fv.commit_changes(txn, &[Change::Role(id)]).await?;
        Ok(detail(role, perms))
    }

    /// Deletes a role that is not a system role, with its assignments. Rules:
    /// `role.delete` in the role's company; global roles: superusers only; the
    /// [escalation invariant](crate::policy::escalation) for every holder.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        let fv = self.fv;
        let found = self.writable(actor, id, codenames::ROLE_DELETE).await?;
        if found.is_system {
            return Err(Error::Conflict {
                field: None,
                message: "system roles cannot be deleted".into(),
            });
        }
        let txn = fv.begin_write().await?;
        let old = lookup::role(&txn, id).await?;
        let guard = Guard::before(actor, &txn, holders(actor, &txn, &old).await?).await?;
        let affected = crate::permission::resolve(&txn, Change::Role(id)).await?;
        old.clone().delete(&txn).await?;
        audit::record(
            &txn,
            &actor.audit(),
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
        guard.check(&txn).await?;
        fv.commit(txn, affected).await?;
        Ok(())
    }
}

/// The holders of a company role, in every company where it holds, watched by the
/// escalation guard (a global role is changed by superusers only, whose writes are not
/// checked).
async fn holders<C: ConnectionTrait>(actor: &Actor, db: &C, r: &role::Model) -> Result<Vec<Watch>> {
    match r.company_id {
        Some(_) => Watch::role_holders(actor, db, r.id).await,
        None => Ok(Vec::new()),
    }
}

fn detail(role: role::Model, perms: Vec<permission::Model>) -> RoleDetail {
    let permissions = sorted_codenames(perms);
    RoleDetail { role, permissions }
}
