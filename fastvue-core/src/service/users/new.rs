//! The one write path of a new user: used by the API, bootstrap, invitations, provider
//! sign-up and `data load`.
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use crate::entity::{company, user, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::permission::Change;
use crate::policy::Actor;
use crate::policy::escalation::{Guard, Watch};
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, AuditContext, Entry, snapshot};

use super::UNIQUE;
use super::write::deactivated_at;

/// A new user that passed [`Users::prepare`] (or `data load`'s parser): parsed fields
/// and the password hash.
#[derive(Debug)]
pub(crate) struct PreparedUser {
    /// Email address, normalised.
    pub(crate) email: String,
    /// Username, normalised.
    pub(crate) username: String,
    /// argon2id hash; none for provider sign-in only.
    pub(crate) password_hash: Option<String>,
    /// Full name.
    pub(crate) full_name: Option<String>,
    /// Whether the account may sign in.
    pub(crate) is_active: bool,
    /// Superuser rights.
    pub(crate) is_superuser: bool,
    /// Current company.
    pub(crate) current_company_id: Option<i64>,
}

/// How a new user's audit row reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewUserAudit {
    /// `create`, by the actor (the API, bootstrap, invitations).
    Create,
    /// `signup`, the new user as actor of its own rows (provider sign-up).
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    SignUp,
    /// No row of its own: `data load` records one row for the whole load.
    Load,
}

/// Writes a prepared user, its audit row and its first assignment inside `txn`: the one
/// place users are inserted. A `current_company_id` from a client is checked by the
/// caller ([`ensure_company_exists`]); the other callers name companies they just read. The actor's rights were checked by the caller; the
/// escalation guard is checked here. Returns the cache changes to publish at commit.
pub(crate) async fn write_new<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    ctx: &AuditContext,
    input: PreparedUser,
    assignment: Option<&NewAssignment>,
    audit_as: NewUserAudit,
) -> Result<(user::Model, Option<user_company_role::Model>, Vec<Change>)> {
    let current_company_id = input
        .current_company_id
        .or(assignment.map(|a| a.company_id));
    let now = Utc::now();
    let model = user::ActiveModel {
        email: Set(input.email),
        username: Set(input.username),
        password_hash: Set(input.password_hash),
        full_name: Set(input.full_name),
        is_active: Set(input.is_active),
        is_superuser: Set(input.is_superuser),
        current_company_id: Set(current_company_id),
        email_unconfirmed: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(deactivated_at(input.is_active, None, now)),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| map_unique(e, UNIQUE))?;
    let ctx = match audit_as {
        NewUserAudit::SignUp => AuditContext {
            actor_id: Some(model.id),
            ..ctx.clone()
        },
        NewUserAudit::Create | NewUserAudit::Load => ctx.clone(),
    };
    let action = match audit_as {
        NewUserAudit::Create => Some("create"),
        NewUserAudit::SignUp => Some("signup"),
        NewUserAudit::Load => None,
    };
    if let Some(action) = action {
        audit::record(
            txn,
            &ctx,
            Entry {
                action,
                entity_type: "user",
                entity_id: Some(model.id),
                company_id: model.current_company_id,
                old_values: None,
                new_values: snapshot(&model),
            },
        )
        .await?;
    }
    let assigned = match assignment {
        Some(a) => {
            let change = Change::of_grant(model.id, a.company_id, a.scope);
            let guard =
                Guard::before(actor, txn, Watch::of_change(actor, txn, change).await?).await?;
            let made = assignments::insert(txn, &ctx, model.id, a).await?;
            guard.check(txn).await?;
            Some(made)
        }
        None => None,
    };
    let mut changes = Vec::new();
    if model.is_superuser {
        changes.push(Change::User(model.id));
    }
    if let Some(a) = &assigned {
        changes.push(Change::of_grant(model.id, a.company_id, a.scope));
    }
    Ok((model, assigned, changes))
}

pub(crate) async fn ensure_company_exists<C: ConnectionTrait>(db: &C, id: i64) -> Result<()> {
    match company::Entity::find_by_id(id).one(db).await? {
        Some(_) => Ok(()),
        None => Err(Error::invalid("current_company_id", "no such company")),
    }
}
