//! Groups: sets of users inside a company that grant permissions to their members.
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Deserialize;

use crate::Fastvue;
use crate::codenames;
use crate::entity::grant_scope::GrantScope;
use crate::entity::{group, permission, user, user_group};
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::policy::Actor;
use crate::policy::escalation::{Guard, Watch};
use crate::service::audit::{self, Entry};
use crate::service::bundle::admin::{self, NewBundle};
use crate::service::bundle::{Bundle, BundlePatch, sorted_codenames};
use crate::service::search::contains_any;
use crate::validation::{self, MAX_DESCRIPTION};
use validator::Validate;

/// Input for creating a group.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Owning company.
    pub company_id: i64,
    /// Display name.
    #[validate(custom(function = validation::name_100))]
    pub name: String,
    /// Codename, unique within the company.
    #[validate(custom(function = validation::slug))]
    pub codename: String,
    /// Longer description (at most [`MAX_DESCRIPTION`] characters).
    #[validate(length(max = MAX_DESCRIPTION))]
    pub description: Option<String>,
    /// Initial permission codenames (at most [`crate::service::permissions::MAX_CODENAMES`]).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A group with the codenames of the permissions it grants, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDetail {
    /// The group.
    pub group: group::Model,
    /// The codenames of the permissions it grants (active or not), sorted.
    pub permissions: Vec<String>,
}

/// Changes to a group.
pub type GroupPatch = BundlePatch;

/// Filters for listing groups.
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    /// Only this company's groups.
    pub company_id: Option<i64>,
    /// Substring of name or codename.
    pub search: Option<String>,
    /// Only active or inactive groups.
    pub is_active: Option<bool>,
}

/// Group administration.
#[derive(Debug, Clone, Copy)]
pub struct Groups<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Groups<'_> {
    /// Creates a group with its initial permissions in one transaction. Rules:
    /// `group.create` in the active company and in `company_id`; the initial permissions
    /// must be held by the actor there.
    pub async fn create(&self, actor: &Actor, input: NewGroup) -> Result<GroupDetail> {
        let fv = self.fv;
        actor.require(fv, codenames::GROUP_CREATE).await?;
        actor
            .require_in(fv, input.company_id, codenames::GROUP_CREATE)
            .await?;
        let checked = input.validate();
        let new = NewBundle {
            company_id: Some(input.company_id),
            name: &input.name,
            codename: &input.codename,
            description: input.description,
            permissions: &input.permissions,
            checked,
        };
        let (model, perms) = admin::create::<group::Entity>(fv, actor, new).await?;
        Ok(detail(model, perms))
    }

    /// The group `id` if the actor holds `codename` in its company (needed in its active
    /// company too); [`Error::NotFound`] otherwise.
    async fn scoped(&self, actor: &Actor, id: i64, codename: &str) -> Result<group::Model> {
        let fv = self.fv;
        actor.require(fv, codename).await?;
        let g = find(fv.db(), id).await?;
        actor
            .ensure_visible(fv, g.company_id, codename, "group")
            .await?;
        Ok(g)
    }

    /// The group `id` with its permissions (`group.read` in its company).
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<GroupDetail> {
        let g = self.scoped(actor, id, codenames::GROUP_READ).await?;
        let perms = Bundle::Group.permissions_of(self.fv.db(), id).await?;
        Ok(detail(g, perms))
    }

    /// Lists groups by name: those of companies where the actor holds `group.read` (a
    /// `company_id` filter outside them is [`Error::NotFound`]).
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<group::Model>> {
        actor.require(self.fv, codenames::GROUP_READ).await?;
        let scope = actor
            .list_scope(self.fv, codenames::GROUP_READ, filter.company_id)
            .await?;
        let mut q = group::Entity::find();
        if let Some(id) = filter.company_id {
            q = q.filter(group::Column::CompanyId.eq(id));
        } else if let Some(ids) = scope.ids() {
            q = q.filter(group::Column::CompanyId.is_in(ids.iter().copied()));
        }
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[group::Column::Name, group::Column::Codename],
                term,
            ));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(group::Column::IsActive.eq(active));
        }
        let db = self.fv.db();
        page.fetch(db, q, |q| {
            q.order_by_asc(group::Column::Name)
                .order_by_asc(group::Column::Id)
        })
        .await
    }

    /// The group's active members, by id (`group.read` in its company).
    pub async fn members(&self, actor: &Actor, id: i64) -> Result<Vec<Member>> {
        self.scoped(actor, id, codenames::GROUP_READ).await?;
        let db = self.fv.db();
        let scopes: std::collections::HashMap<i64, GrantScope> = user_group::Entity::find()
            .filter(user_group::Column::GroupId.eq(id))
            .filter(user_group::Column::IsActive.eq(true))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.user_id, m.scope))
            .collect();
        let users = user::Entity::find()
            .filter(user::Column::Id.is_in(scopes.keys().copied()))
            .order_by_asc(user::Column::Id)
            .all(db)
            .await?;
        Ok(users
            .into_iter()
            .map(|user| Member {
                scope: scopes.get(&user.id).copied().unwrap_or_default(),
                user,
            })
            .collect())
    }

    /// Applies a patch; (de)activation changes every member's permissions at once. Rules:
    /// `group.update` in its company, and the
    /// [escalation invariant](crate::policy::escalation) for every member.
    pub async fn update(&self, actor: &Actor, id: i64, patch: GroupPatch) -> Result<GroupDetail> {
        self.scoped(actor, id, codenames::GROUP_UPDATE).await?;
        let (group, perms) = admin::update::<group::Entity>(self.fv, actor, id, patch).await?;
        Ok(detail(group, perms))
    }

    /// Replaces the group's permission set; every member sees the new set at once.
    /// Rules: `group.update` in its company; a non-superuser adds only permissions it
    /// holds there, and the [escalation invariant](crate::policy::escalation) holds for
    /// every member.
    pub async fn set_permissions(
        &self,
        actor: &Actor,
        id: i64,
        codenames: &[String],
    ) -> Result<GroupDetail> {
        let g = self.scoped(actor, id, codenames::GROUP_UPDATE).await?;
        let company_id = Some(g.company_id);
        let (group, perms) =
            admin::set_permissions::<group::Entity>(self.fv, actor, id, company_id, codenames)
                .await?;
        Ok(detail(group, perms))
    }

    /// Adds (or re-activates) a member, holding in the group's company only
    /// ([`GrantScope::Company`]) or there and in every company below it
    /// ([`GrantScope::Subtree`]); adding an existing member changes its scope. Rules:
    /// `group.update` in the group's company; the user must hold an active role there
    /// (superusers may add anyone; [`Error::Validation`] on `user_id` otherwise, like an
    /// unknown user); and the [escalation invariant](crate::policy::escalation): nobody
    /// joins a group that grants what the actor does not hold, and nobody who holds more
    /// than the actor is changed. A `subtree` membership also needs the actor to hold the
    /// group's permissions over that whole subtree.
    pub async fn add_member(
        &self,
        actor: &Actor,
        id: i64,
        user_id: i64,
        scope: GrantScope,
    ) -> Result<()> {
        let fv = self.fv;
        let g = self.scoped(actor, id, codenames::GROUP_UPDATE).await?;
        if !actor.is_superuser() && !fv.assignments().is_member(user_id, g.company_id).await? {
            return Err(Error::invalid("user_id", "no such user"));
        }
        if scope == GrantScope::Subtree {
            let perms = Bundle::Group.permissions_of(fv.db(), id).await?;
            actor
                .ensure_holds_over_subtree(
                    fv,
                    g.company_id,
                    perms.iter().map(|p| p.codename.as_str()),
                )
                .await?;
        }
        let txn = fv.begin_write().await?;
        let g = find(&txn, id).await?;
        crate::service::lookup::user(&txn, user_id)
            .await
            .map_err(|_| Error::invalid("user_id", "no such user"))?;
        let old = user_group::Entity::find_by_id((user_id, id))
            .one(&txn)
            .await?;
        // Below the company too when the old or the new scope is `subtree`.
        let widest = old.as_ref().map_or(scope, |m| m.scope.max(scope));
        let change = Change::of_grant(user_id, g.company_id, widest);
        let guard =
            Guard::before(actor, &txn, Watch::of_change(actor, &txn, change).await?).await?;
        user_group::Entity::insert(membership(user_id, id, scope, Utc::now()))
            .on_conflict(
                OnConflict::columns([user_group::Column::UserId, user_group::Column::GroupId])
                    .update_columns([user_group::Column::IsActive, user_group::Column::Scope])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        audit::record(
            &txn,
            &actor.audit(),
            Entry {
                action: "add_member",
                entity_type: "group",
                entity_id: Some(id),
                company_id: Some(g.company_id),
                old_values: old
                    .map(|m| serde_json::json!({ "user_id": user_id, "scope": m.scope })),
                new_values: Some(serde_json::json!({ "user_id": user_id, "scope": scope })),
            },
        )
        .await?;
        guard.check(&txn).await?;
        fv.commit_changes(txn, &[change]).await?;
        Ok(())
    }

    /// Removes a member; [`Error::NotFound`] when the user is not one. Rules:
    /// `group.update` in the group's company and the
    /// [escalation invariant](crate::policy::escalation).
    pub async fn remove_member(&self, actor: &Actor, id: i64, user_id: i64) -> Result<()> {
        let fv = self.fv;
        self.scoped(actor, id, codenames::GROUP_UPDATE).await?;
        let txn = fv.begin_write().await?;
        let g = find(&txn, id).await?;
        let old = user_group::Entity::find_by_id((user_id, id))
            .one(&txn)
            .await?
            .ok_or(Error::NotFound {
                entity: "group member",
            })?;
        let change = Change::of_grant(user_id, g.company_id, old.scope);
        let guard =
            Guard::before(actor, &txn, Watch::of_change(actor, &txn, change).await?).await?;
        user_group::Entity::delete_many()
            .filter(user_group::Column::GroupId.eq(id))
            .filter(user_group::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            &actor.audit(),
            Entry {
                action: "remove_member",
                entity_type: "group",
                entity_id: Some(id),
                company_id: Some(g.company_id),
                old_values: Some(serde_json::json!({ "user_id": user_id, "scope": old.scope })),
                new_values: None,
            },
        )
        .await?;
        guard.check(&txn).await?;
        fv.commit_changes(txn, &[change]).await?;
        Ok(())
    }

    /// Deletes a group with its memberships. Rules: `group.delete` in its company and the
    /// [escalation invariant](crate::policy::escalation) for every member.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        self.scoped(actor, id, codenames::GROUP_DELETE).await?;
        admin::delete::<group::Entity>(self.fv, actor, id).await
    }
}

/// A member of a group and where the membership holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Member {
    /// The user.
    #[serde(flatten)]
    pub user: user::Model,
    /// The group's company only, or also every company below it.
    pub scope: GrantScope,
}

fn detail(group: group::Model, perms: Vec<permission::Model>) -> GroupDetail {
    let permissions = sorted_codenames(perms);
    GroupDetail { group, permissions }
}

/// An active membership row: the one shape a membership is written in, by
/// [`Groups::add_member`] and [`replace_members`].
fn membership(
    user_id: i64,
    group_id: i64,
    scope: GrantScope,
    now: chrono::DateTime<Utc>,
) -> user_group::ActiveModel {
    user_group::ActiveModel {
        user_id: Set(user_id),
        group_id: Set(group_id),
        is_active: Set(true),
        joined_at: Set(now),
        scope: Set(scope),
    }
}

/// Makes `members` (user id, scope) exactly the memberships of group `group_id`, all
/// active: for `data load`, inside its transaction.
pub(crate) async fn replace_members<C: ConnectionTrait>(
    db: &C,
    group_id: i64,
    members: impl IntoIterator<Item = (i64, GrantScope)>,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    user_group::Entity::delete_many()
        .filter(user_group::Column::GroupId.eq(group_id))
        .exec(db)
        .await?;
    let rows: Vec<user_group::ActiveModel> = members
        .into_iter()
        .map(|(user_id, scope)| membership(user_id, group_id, scope, now))
        .collect();
    if !rows.is_empty() {
        user_group::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub(crate) async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<group::Model> {
    crate::service::bundle::table::find::<group::Entity, _>(db, id).await
}
