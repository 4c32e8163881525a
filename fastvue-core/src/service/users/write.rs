//! The one place an existing user row changes: the API's updates and deactivations,
//! password changes and resets, and `data load` all go through [`write_update`], so the
//! rules of the row itself hold whoever writes; sign-ins are recorded by
//! [`record_sign_in`].
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};

use crate::entity::{social_account, user};
use crate::error::{Result, map_unique};
use crate::service::audit::{self, AuditContext, Entry, snapshot};

use super::UNIQUE;

/// Changes to a user row, already parsed; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserChanges {
    /// New email address, normalised.
    pub(crate) email: Option<String>,
    /// New username, normalised.
    pub(crate) username: Option<String>,
    /// New full name (`Some(None)` clears it).
    pub(crate) full_name: Option<Option<String>>,
    /// New password hash (`Some(None)`: no password, provider sign-in only).
    pub(crate) password_hash: Option<Option<String>>,
    /// Activate or deactivate.
    pub(crate) is_active: Option<bool>,
    /// Grant or withdraw superuser rights.
    pub(crate) is_superuser: Option<bool>,
    /// New current company.
    pub(crate) current_company_id: Option<Option<i64>>,
}

impl UserChanges {
    /// Whether applying these changes to `old` would change anything.
    pub(crate) fn differ_from(&self, old: &user::Model) -> bool {
        fn differs<T: PartialEq>(new: &Option<T>, old: &T) -> bool {
            new.as_ref().is_some_and(|v| v != old)
        }
        differs(&self.email, &old.email)
            || differs(&self.username, &old.username)
            || differs(&self.full_name, &old.full_name)
            || differs(&self.password_hash, &old.password_hash)
            || differs(&self.is_active, &old.is_active)
            || differs(&self.is_superuser, &old.is_superuser)
            || differs(&self.current_company_id, &old.current_company_id)
    }
}

/// What [`write_update`] did.
#[derive(Debug)]
pub(crate) struct UserUpdated {
    /// The row as written.
    pub(crate) model: user::Model,
    /// Whether the email address changed (it is then unconfirmed).
    pub(crate) email_changed: bool,
    /// How many provider links the email change removed.
    pub(crate) unlinked: u64,
    /// Whether the user's sessions must end once committed: deactivated, or a new
    /// password.
    pub(crate) signs_out: bool,
}

/// When an account or company stopped being active: kept from the first deactivation,
/// cleared on reactivation.
pub(crate) fn deactivated_at(
    active: bool,
    was: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if active { None } else { was.or(Some(now)) }
}

/// Applies `changes` to the row `old` inside `txn`. The rules of the row live here:
/// `deleted_at` follows `is_active`; a new email address is unconfirmed until its holder
/// follows the link mailed to it and, unless the holder changed it itself (`by_self`),
/// removes the provider links that vouched for the old address (one audit row each, as
/// `ctx`); a taken email or username is a 409 on that field. The caller records its own
/// audit row, checks the escalation guard and publishes the cache change.
pub(crate) async fn write_update<C: ConnectionTrait>(
    txn: &C,
    ctx: &AuditContext,
    old: &user::Model,
    changes: UserChanges,
    by_self: bool,
) -> Result<UserUpdated> {
    let now = Utc::now();
    let mut am = old.clone().into_active_model();
    let email_changed = changes.email.as_ref().is_some_and(|e| *e != old.email);
    let password_changed = changes
        .password_hash
        .as_ref()
        .is_some_and(|h| *h != old.password_hash);
    if let Some(v) = changes.email {
        am.email = Set(v);
    }
    if let Some(v) = changes.username {
        am.username = Set(v);
    }
    if let Some(v) = changes.full_name {
        am.full_name = Set(v);
    }
    if let Some(v) = changes.password_hash {
        am.password_hash = Set(v);
    }
    if let Some(v) = changes.is_active {
        am.is_active = Set(v);
        am.deleted_at = Set(deactivated_at(v, old.deleted_at, now));
    }
    if let Some(v) = changes.is_superuser {
        am.is_superuser = Set(v);
    }
    if let Some(v) = changes.current_company_id {
        am.current_company_id = Set(v);
    }
    if email_changed {
        am.email_unconfirmed = Set(true);
    }
    let unlinked = if email_changed && !by_self {
        unlink_all(txn, ctx, old.id).await?
    } else {
        0
    };
    am.updated_at = Set(now);
    let model = am.update(txn).await.map_err(|e| map_unique(e, UNIQUE))?;
    let signs_out = (old.is_active && !model.is_active) || password_changed;
    Ok(UserUpdated {
        model,
        email_changed,
        unlinked,
        signs_out,
    })
}

/// Records a sign-in on the row of `user`: `last_login_at`, and `rehash` when the stored
/// hash was made with outdated parameters. The one writer of `last_login_at`, whatever
/// the way in (password or provider); it leaves `updated_at` alone.
pub(crate) async fn record_sign_in<C: ConnectionTrait>(
    db: &C,
    user: &user::Model,
    rehash: Option<String>,
) -> Result<user::Model> {
    let mut am = user.clone().into_active_model();
    if let Some(hash) = rehash {
        am.password_hash = Set(Some(hash));
    }
    am.last_login_at = Set(Some(Utc::now()));
    Ok(am.update(db).await?)
}

/// Removes every provider link of `user_id` (audited, one row per link); returns how many.
async fn unlink_all<C: ConnectionTrait>(txn: &C, ctx: &AuditContext, user_id: i64) -> Result<u64> {
    let links = social_account::Entity::find()
        .filter(social_account::Column::UserId.eq(user_id))
        .all(txn)
        .await?;
    for link in &links {
        social_account::Entity::delete_by_id(link.id)
            .exec(txn)
            .await?;
        audit::record(
            txn,
            ctx,
            Entry {
                action: "unlink",
                entity_type: "social_account",
                entity_id: Some(link.id),
                company_id: None,
                old_values: snapshot(link),
                new_values: Some(serde_json::json!({ "reason": "email changed by someone else" })),
            },
        )
        .await?;
    }
    Ok(links.len() as u64)
}
