//! Role assignments: which user holds which role in which company.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::Fastvue;
use crate::codenames;
pub use crate::entity::grant_scope::GrantScope;
use crate::entity::{company, permission, role, role_permission, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::permission::Change;
use crate::policy::Actor;
use crate::policy::escalation::{Guard, Watch};
use crate::service::audit::{self, AuditContext, Entry, snapshot};

const UNIQUE: &[(&str, &[&str])] = &[(
    "role_id",
    &[
        "uq_ucr_user_company_role",
        "user_company_roles.user_id, user_company_roles.company_id",
    ],
)];

/// Input for assigning a role to a user in a company.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    /// The company the role is held in.
    pub company_id: i64,
    /// The role: a role of that company or a global template.
    pub role_id: i64,
    /// Marks the user's default assignment.
    #[serde(default)]
    pub is_default: bool,
    /// Where the role holds: in that company only (the default), or there and in every
    /// company below it, including companies created later (`subtree`).
    #[serde(default)]
    pub scope: GrantScope,
}

/// An assignment with its role and company names, for listing a user's roles.
#[derive(Debug, Clone, Serialize)]
pub struct AssignmentView {
    /// The assignment.
    #[serde(flatten)]
    pub assignment: user_company_role::Model,
    /// The role's codename.
    pub role_codename: String,
    /// The role's name.
    pub role_name: String,
    /// The company's name.
    pub company_name: String,
}

/// Role assignment administration.
#[derive(Debug, Clone, Copy)]
pub struct Assignments<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Role assignments.
    pub fn assignments(&self) -> Assignments<'_> {
        Assignments { fv: self }
    }
}

impl Assignments<'_> {
    /// Assigns a role. The role must belong to that company or be a global template.
    ///
    /// Rules: the actor needs `role.assign` in its active company, in `input.company_id`
    /// ([`Error::Forbidden`]) and in one of the user's companies ([`Error::NotFound`]
    /// otherwise); the role may grant nothing the actor lacks there, and the
    /// [escalation invariant](crate::policy::escalation) holds.
    pub async fn assign(
        &self,
        actor: &Actor,
        user_id: i64,
        input: NewAssignment,
    ) -> Result<user_company_role::Model> {
        let fv = self.fv;
        actor.require(fv, codenames::ROLE_ASSIGN).await?;
        let scope = actor.scope(fv, codenames::ROLE_ASSIGN).await?;
        fv.users().get_in(user_id, &scope).await?;
        actor
            .require_in(fv, input.company_id, codenames::ROLE_ASSIGN)
            .await?;
        grantable_role(fv, actor, input.company_id, input.role_id, input.scope).await?;
        let ctx = actor.audit();
        let txn = fv.begin_write().await?;
        crate::service::lookup::user(&txn, user_id).await?;
        let change = Change::of_grant(user_id, input.company_id, input.scope);
        let guard =
            Guard::before(actor, &txn, Watch::of_change(actor, &txn, change).await?).await?;
        let model = insert(&txn, &ctx, user_id, &input).await?;
        guard.check(&txn).await?;
        fv.commit_changes(txn, &[change]).await?;
        Ok(model)
    }

    /// Removes an assignment of `user_id`. Rules: `role.assign` in the active company and
    /// in the assignment's company (else [`Error::NotFound`]); removing a role that
    /// grants something the actor lacks there is [`Error::Forbidden`], and so is any
    /// removal the [escalation invariant](crate::policy::escalation) refuses.
    pub async fn unassign(&self, actor: &Actor, user_id: i64, assignment_id: i64) -> Result<()> {
        let fv = self.fv;
        actor.require(fv, codenames::ROLE_ASSIGN).await?;
        let scope = actor.scope(fv, codenames::ROLE_ASSIGN).await?;
        fv.users().get_in(user_id, &scope).await?;
        let found = self.find(user_id, assignment_id).await?;
        if !scope.contains(found.company_id) {
            return Err(Error::NotFound {
                entity: "assignment",
            });
        }
        grantable_role(fv, actor, found.company_id, found.role_id, found.scope).await?;
        let ctx = actor.audit();
        let txn = fv.begin_write().await?;
        let old = user_company_role::Entity::find_by_id(assignment_id)
            .filter(user_company_role::Column::UserId.eq(user_id))
            .one(&txn)
            .await?
            .ok_or(Error::NotFound {
                entity: "assignment",
            })?;
        let change = Change::of_grant(user_id, old.company_id, old.scope);
        let guard =
            Guard::before(actor, &txn, Watch::of_change(actor, &txn, change).await?).await?;
        old.clone().delete(&txn).await?;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "unassign_role",
                entity_type: "user",
                entity_id: Some(user_id),
                company_id: Some(old.company_id),
                old_values: snapshot(&old),
                new_values: None,
            },
        )
        .await?;
        guard.check(&txn).await?;
        fv.commit_changes(txn, &[change]).await?;
        Ok(())
    }

    /// The assignment with this id, which must belong to `user_id`.
    async fn find(&self, user_id: i64, assignment_id: i64) -> Result<user_company_role::Model> {
        user_company_role::Entity::find_by_id(assignment_id)
            .filter(user_company_role::Column::UserId.eq(user_id))
            .one(self.fv.db())
            .await?
            .ok_or(Error::NotFound {
                entity: "assignment",
            })
    }

    /// A user's assignments with role and company names: those in companies where the
    /// actor holds `user.read` (which it needs in its active company too, and in one of
    /// the user's companies: [`Error::NotFound`] otherwise).
    pub async fn of_user(&self, actor: &Actor, user_id: i64) -> Result<Vec<AssignmentView>> {
        let fv = self.fv;
        actor.require(fv, codenames::USER_READ).await?;
        let scope = actor.scope(fv, codenames::USER_READ).await?;
        fv.users().get_in(user_id, &scope).await?;
        let mut views = self.views(user_id, None).await?;
        views.retain(|v| scope.contains(v.assignment.company_id));
        Ok(views)
    }

    /// `assignment` with its role and company names.
    pub async fn view(&self, assignment: user_company_role::Model) -> Result<AssignmentView> {
        let db = self.fv.db();
        let r = crate::service::lookup::role(db, assignment.role_id).await?;
        let c = crate::service::lookup::company(db, assignment.company_id).await?;
        Ok(AssignmentView {
            role_codename: r.codename,
            role_name: r.name,
            company_name: c.name,
            assignment,
        })
    }

    /// The acting user's own assignments (a person's session; not for API keys).
    pub async fn own(&self, actor: &Actor) -> Result<Vec<AssignmentView>> {
        let user = actor.session_user()?;
        self.views(user.id, None).await
    }

    /// A user's assignments with role and company names; optionally in one company only.
    pub(crate) async fn views(
        &self,
        user_id: i64,
        company_id: Option<i64>,
    ) -> Result<Vec<AssignmentView>> {
        let db = self.fv.db();
        crate::service::lookup::user(db, user_id).await?;
        let mut q = user_company_role::Entity::find()
            .filter(user_company_role::Column::UserId.eq(user_id))
            .order_by_asc(user_company_role::Column::CompanyId)
            .order_by_asc(user_company_role::Column::Id);
        if let Some(c) = company_id {
            q = q.filter(user_company_role::Column::CompanyId.eq(c));
        }
        let rows = q.all(db).await?;
        let role_ids: Vec<i64> = rows.iter().map(|a| a.role_id).collect();
        let company_ids: Vec<i64> = rows.iter().map(|a| a.company_id).collect();
        let roles = role::Entity::find()
            .filter(role::Column::Id.is_in(role_ids))
            .all(db)
            .await?;
        let companies = company::Entity::find()
            .filter(company::Column::Id.is_in(company_ids))
            .all(db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|a| {
                let r = roles.iter().find(|r| r.id == a.role_id)?;
                let c = companies.iter().find(|c| c.id == a.company_id)?;
                Some(AssignmentView {
                    role_codename: r.codename.clone(),
                    role_name: r.name.clone(),
                    company_name: c.name.clone(),
                    assignment: a,
                })
            })
            .collect())
    }

    /// Whether the user holds an active assignment in the company, or a `subtree` one
    /// above it that reaches it through active companies. Cached, and dropped
    /// by any change of that (user, company), user or company (see
    /// [`crate::auth::active_users`]): this is the per-request `X-Company-ID` check.
    pub async fn is_member(&self, user_id: i64, company_id: i64) -> Result<bool> {
        let fv = self.fv;
        fv.active_users()
            .member(fv.authorizer().l1(), user_id, company_id, async || {
                crate::permission::query::is_member(fv.db(), user_id, company_id).await
            })
            .await
    }

    /// Companies where `user_id` holds an active assignment, ascending.
    pub async fn companies_of(&self, user_id: i64) -> Result<Vec<i64>> {
        let mut ids: Vec<i64> = user_company_role::Entity::find()
            .filter(user_company_role::Column::UserId.eq(user_id))
            .filter(user_company_role::Column::IsActive.eq(true))
            .all(self.fv.db())
            .await?
            .into_iter()
            .map(|a| a.company_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

/// Inserts an assignment row: the one place one is created, by [`insert`] and by
/// `data load` (whose document may hold inactive ones). A second assignment of the same
/// role in the same company is a 409.
pub(crate) async fn insert_row<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    input: &NewAssignment,
    is_active: bool,
    assigned_by: Option<i64>,
) -> Result<user_company_role::Model> {
    user_company_role::ActiveModel {
        user_id: Set(user_id),
        company_id: Set(input.company_id),
        role_id: Set(input.role_id),
        is_default: Set(input.is_default),
        is_active: Set(is_active),
        assigned_at: Set(Utc::now()),
        assigned_by: Set(assigned_by),
        scope: Set(input.scope),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| map_unique(e, UNIQUE))
}

/// Inserts an assignment of `user_id` (which the caller has checked exists) and its audit
/// row on `txn`. The caller commits, then reports [`Change::of_grant`] of the assignment.
pub(crate) async fn insert<C: ConnectionTrait>(
    txn: &C,
    ctx: &AuditContext,
    user_id: i64,
    input: &NewAssignment,
) -> Result<user_company_role::Model> {
    company::Entity::find_by_id(input.company_id)
        .one(txn)
        .await?
        .ok_or_else(|| Error::invalid("company_id", "no such company"))?;
    let r = role::Entity::find_by_id(input.role_id)
        .one(txn)
        .await?
        .ok_or_else(|| Error::invalid("role_id", "no such role"))?;
    if r.company_id.is_some_and(|c| c != input.company_id) {
        return Err(Error::invalid(
            "role_id",
            "the role belongs to another company",
        ));
    }
    let model = insert_row(txn, user_id, input, true, ctx.actor_id).await?;
    audit::record(
        txn,
        ctx,
        Entry {
            action: "assign_role",
            entity_type: "user",
            entity_id: Some(user_id),
            company_id: Some(input.company_id),
            old_values: None,
            new_values: snapshot(&model),
        },
    )
    .await?;
    Ok(model)
}

/// Codenames of the active permissions a role grants.
pub(crate) async fn active_codenames_of_role<C: ConnectionTrait>(
    db: &C,
    role_id: i64,
) -> Result<Vec<String>> {
    Ok(permission::Entity::find()
        .filter(permission::Column::IsActive.eq(true))
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
        .await?
        .into_iter()
        .map(|p| p.codename)
        .collect())
}

/// The role `role_id` if `actor` may assign (or remove) it in `company_id` with `scope`:
/// a role of an existing company (else [`Error::Validation`] on `company_id`), a role of
/// that company or a global template ([`Error::Validation`] on `role_id` otherwise) that
/// grants nothing the actor does not hold there ([`Error::Forbidden`]), nor, for a
/// `subtree` scope, anything the actor does not hold over that whole subtree.
pub(crate) async fn grantable_role(
    fv: &Fastvue,
    actor: &Actor,
    company_id: i64,
    role_id: i64,
    scope: GrantScope,
) -> Result<role::Model> {
    let db = fv.db();
    company::Entity::find_by_id(company_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::invalid("company_id", "no such company"))?;
    let r = role::Entity::find_by_id(role_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::invalid("role_id", "no such role"))?;
    if r.company_id.is_some_and(|c| c != company_id) {
        return Err(Error::invalid(
            "role_id",
            "the role belongs to another company",
        ));
    }
    if actor.is_superuser() {
        return Ok(r);
    }
    let granted = active_codenames_of_role(db, role_id).await?;
    let missing = actor
        .held(fv, company_id)
        .await?
        .missing(granted.iter().map(String::as_str));
    if !missing.is_empty() {
        return Err(Error::Forbidden(format!(
            "the role grants permissions you do not hold in this company: {}",
            missing.join(", ")
        )));
    }
    if scope == GrantScope::Subtree {
        actor
            .ensure_holds_over_subtree(fv, company_id, granted.iter().map(String::as_str))
            .await?;
    }
    Ok(r)
}
