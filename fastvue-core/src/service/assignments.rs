//! Role assignments: which user holds which role in which company.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use crate::Fastvue;
use crate::entity::{company, permission, role, role_permission, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::permission::Change;
use crate::service::audit::{self, AuditContext, Entry, snapshot};

const UNIQUE: &[(&str, &[&str])] = &[(
    "role_id",
    &[
        "uq_ucr_user_company_role",
        "user_company_roles.user_id, user_company_roles.company_id",
    ],
)];

/// Input for assigning a role to a user in a company.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    /// The company the role is held in.
    pub company_id: i64,
    /// The role: a role of that company or a global template.
    pub role_id: i64,
    /// Marks the user's default assignment.
    #[serde(default)]
    pub is_default: bool,
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

impl Assignments<'_> {
    /// Assigns a role. The role must belong to that company or be a global template.
    /// Does not check who is asking: see [`Assignments::ensure_grantable`].
    pub async fn assign(
        &self,
        ctx: &AuditContext,
        user_id: i64,
        input: NewAssignment,
    ) -> Result<user_company_role::Model> {
        let txn = self.fv.begin_write().await?;
        crate::service::users::find(&txn, user_id).await?;
        let model = insert(&txn, ctx, user_id, &input).await?;
        txn.commit().await?;
        self.fv
            .permissions_changed(Change::Key {
                user_id,
                company_id: input.company_id,
            })
            .await;
        Ok(model)
    }

    /// The escalation rule of role assignment: `actor_id` may assign (or remove) `role_id`
    /// in `company_id` only if it holds, in that company, every active permission the role
    /// grants. A role that does not exist or belongs to another company is a validation
    /// error on `role_id`; a role granting more than the actor holds is
    /// [`Error::Forbidden`]. Superusers hold every active permission, so they always pass.
    /// Returns the role.
    pub async fn ensure_grantable(
        &self,
        actor_id: i64,
        company_id: i64,
        role_id: i64,
    ) -> Result<role::Model> {
        let db = self.fv.db();
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
        let granted = active_codenames_of_role(db, role_id).await?;
        let missing = not_held(self.fv, actor_id, company_id, &granted).await?;
        if missing.is_empty() {
            Ok(r)
        } else {
            Err(Error::Forbidden(format!(
                "the role grants permissions you do not hold in this company: {}",
                missing.join(", ")
            )))
        }
    }

    /// The assignment with this id, which must belong to `user_id`.
    pub async fn get(&self, user_id: i64, assignment_id: i64) -> Result<user_company_role::Model> {
        user_company_role::Entity::find_by_id(assignment_id)
            .filter(user_company_role::Column::UserId.eq(user_id))
            .one(self.fv.db())
            .await?
            .ok_or(Error::NotFound {
                entity: "assignment",
            })
    }

    /// Removes an assignment of `user_id`.
    pub async fn unassign(
        &self,
        ctx: &AuditContext,
        user_id: i64,
        assignment_id: i64,
    ) -> Result<()> {
        let txn = self.fv.begin_write().await?;
        let old = user_company_role::Entity::find_by_id(assignment_id)
            .filter(user_company_role::Column::UserId.eq(user_id))
            .one(&txn)
            .await?
            .ok_or(Error::NotFound {
                entity: "assignment",
            })?;
        old.clone().delete(&txn).await?;
        audit::record(
            &txn,
            ctx,
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
        txn.commit().await?;
        self.fv
            .permissions_changed(Change::Key {
                user_id,
                company_id: old.company_id,
            })
            .await;
        Ok(())
    }

    /// A user's assignments with role and company names; optionally in one company only.
    pub async fn of_user(
        &self,
        user_id: i64,
        company_id: Option<i64>,
    ) -> Result<Vec<AssignmentView>> {
        let db = self.fv.db();
        crate::service::users::find(db, user_id).await?;
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

    /// A user's assignments in the given companies only (`None`: all of them), for a
    /// caller who may see only some companies.
    pub async fn of_user_in(
        &self,
        user_id: i64,
        companies: Option<&[i64]>,
    ) -> Result<Vec<AssignmentView>> {
        let mut views = self.of_user(user_id, None).await?;
        if let Some(ids) = companies {
            views.retain(|v| ids.contains(&v.assignment.company_id));
        }
        Ok(views)
    }

    /// Whether the user holds an active assignment in the company. Cached, and dropped
    /// by any change of that (user, company), user or company (see
    /// [`crate::auth::active_users`]): this is the per-request `X-Company-ID` check.
    pub async fn is_member(&self, user_id: i64, company_id: i64) -> Result<bool> {
        let fv = self.fv;
        fv.active_users()
            .member(fv.authorizer().l1(), user_id, company_id, async || {
                let found: Option<i64> = user_company_role::Entity::find()
                    .select_only()
                    .column(user_company_role::Column::Id)
                    .filter(user_company_role::Column::UserId.eq(user_id))
                    .filter(user_company_role::Column::CompanyId.eq(company_id))
                    .filter(user_company_role::Column::IsActive.eq(true))
                    .into_tuple()
                    .one(fv.db())
                    .await?;
                Ok(found.is_some())
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

/// Inserts an assignment of `user_id` (which the caller has checked exists) and its audit
/// row on `txn`. The caller commits, then reports `Change::Key` for the pair.
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
    let model = user_company_role::ActiveModel {
        user_id: Set(user_id),
        company_id: Set(input.company_id),
        role_id: Set(input.role_id),
        is_default: Set(input.is_default),
        is_active: Set(true),
        assigned_at: Set(Utc::now()),
        assigned_by: Set(ctx.actor_id),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| map_unique(e, UNIQUE))?;
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

/// The codenames of `wanted` that `actor_id` does not hold in `company_id`.
pub(crate) async fn not_held(
    fv: &Fastvue,
    actor_id: i64,
    company_id: i64,
    wanted: &[String],
) -> Result<Vec<String>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let held = fv.authorizer().codenames(actor_id, company_id).await?;
    Ok(wanted
        .iter()
        .filter(|w| !held.iter().any(|h| h.as_ref() == w.as_str()))
        .cloned()
        .collect())
}
