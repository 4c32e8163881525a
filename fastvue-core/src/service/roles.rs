//! Roles: per-company (or global template) permission bundles.
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use crate::Fastvue;
use crate::codenames;
use crate::entity::{permission, role};
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::policy::Actor;
use crate::service::bundle::admin::{self, NewBundle};
use crate::service::bundle::{Bundle, BundlePatch, sorted_codenames};
use crate::service::lookup;
use crate::service::search::contains_any;
use crate::validation::{self, MAX_DESCRIPTION};
use validator::Validate;

pub use crate::service::permissions::MAX_CODENAMES;

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
pub type RolePatch = BundlePatch;

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
        let checked = input.validate();
        let new = NewBundle {
            company_id: input.company_id,
            name: &input.name,
            codename: &input.codename,
            description: input.description,
            permissions: &input.permissions,
            checked,
        };
        let (model, perms) = admin::create::<role::Entity>(fv, actor, new).await?;
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
        page.fetch(db, q, |q| {
            q.order_by_asc(role::Column::Name)
                .order_by_asc(role::Column::Id)
        })
        .await
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
        self.writable(actor, id, codenames::ROLE_UPDATE).await?;
        let (role, perms) = admin::update::<role::Entity>(self.fv, actor, id, patch).await?;
        Ok(detail(role, perms))
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
        let r = self.writable(actor, id, codenames::ROLE_UPDATE).await?;
        let (role, perms) =
            admin::set_permissions::<role::Entity>(self.fv, actor, id, r.company_id, codenames)
                .await?;
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
        admin::delete::<role::Entity>(fv, actor, id).await
    }
}

fn detail(role: role::Model, perms: Vec<permission::Model>) -> RoleDetail {
    let permissions = sorted_codenames(perms);
    RoleDetail { role, permissions }
}
