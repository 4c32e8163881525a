//! Changing accounts: updates, company switches, deactivation and password resets, with
//! the escalation rules every change of an account obeys.
use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;

use crate::codenames;
use crate::domain::{Email, Name, Password, Username};
use crate::entity::user;
use crate::error::{Error, Result};
use crate::permission::Change;
use crate::policy::Actor;
use crate::policy::escalation::{Guard, Watch};
use crate::service::audit::{self, Entry, snapshot};
use crate::service::lookup;
use crate::sql::statement;
use crate::validation::normalised;
use validator::Validate;

use super::write::{UserChanges, UserUpdated, write_update};
use super::{UserPatch, Users, ensure_company_exists, non_empty};

impl Users<'_> {
    /// The escalation rules of changing (or, without a patch, deactivating) an account:
    ///
    /// - only superusers set or change `is_superuser` (sending the current value is a no-op);
    /// - only superusers change a superuser's account;
    /// - a non-superuser changes only accounts whose permissions it holds itself: for every
    ///   company where the target holds a permission through a role or a group (counting
    ///   inactive assignments, roles and groups, which a reactivation would restore), the
    ///   actor must hold it there too. Otherwise resetting a password or an email would
    ///   take over an account more powerful than the actor, in its company or in another.
    ///   An API key holds nothing outside its company and scopes, so it changes only
    ///   accounts that hold nothing more.
    ///
    /// Every refusal is [`Error::Forbidden`].
    async fn ensure_may_change(
        &self,
        actor: &Actor,
        target: &user::Model,
        patch: Option<&UserPatch>,
    ) -> Result<()> {
        if actor.is_superuser() {
            return Ok(());
        }
        if patch
            .and_then(|p| p.is_superuser)
            .is_some_and(|v| v != target.is_superuser)
        {
            return Err(Error::Forbidden(
                "only superusers may change is_superuser".into(),
            ));
        }
        if target.is_superuser {
            return Err(Error::Forbidden(
                "only superusers may change a superuser's account".into(),
            ));
        }
        if actor.user_id() == Some(target.id) && actor.key().is_none() {
            return Ok(());
        }
        let mut by_company: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (company_id, codename) in potential_grants(self.fv.db(), target.id).await? {
            by_company.entry(company_id).or_default().push(codename);
        }
        for (company_id, codenames) in by_company {
            let held = actor.held(self.fv, company_id).await?;
            if !held
                .missing(codenames.iter().map(String::as_str))
                .is_empty()
            {
                return Err(Error::Forbidden(
                    "this account holds permissions you do not hold yourself".into(),
                ));
            }
        }
        Ok(())
    }

    /// Applies a patch.
    ///
    /// Rules: the actor needs `user.update` (in its active company and in one of the
    /// user's companies, else [`Error::NotFound`]), and [the account rules](Self::ensure_may_change);
    /// a new `current_company_id` must be a company where it holds `user.update`. Your
    /// own password changes only through [`crate::auth::Tokens::change_password`], with
    /// the current one ([`Error::Forbidden`] here); nobody deactivates itself
    /// ([`Error::Conflict`]).
    ///
    /// Effects: deactivation and superuser changes drop the user's cached permissions;
    /// deactivation and a new password revoke the user's refresh tokens (every session).
    /// A new email set by someone else unlinks the user's provider accounts (Google...)
    /// and marks the address unconfirmed, so a provider sign-in with it never links
    /// itself to this account.
    pub async fn update(&self, actor: &Actor, id: i64, patch: UserPatch) -> Result<user::Model> {
        let fv = self.fv;
        actor.require(fv, codenames::USER_UPDATE).await?;
        let scope = actor.scope(fv, codenames::USER_UPDATE).await?;
        let target = self.get_in(id, &scope).await?;
        self.ensure_may_change(actor, &target, Some(&patch)).await?;
        let by_self = actor.key().is_none() && actor.user_id() == Some(id);
        if patch.password.is_some() && by_self {
            return Err(Error::Forbidden(
                "change your own password with POST /auth/change-password, which asks for the current one"
                    .into(),
            ));
        }
        if let Some(c) = patch.current_company_id
            && !scope.contains(c)
        {
            return Err(Error::Forbidden(format!(
                "you lack `user.update` in company {c}"
            )));
        }
        self.apply(actor, id, patch, by_self).await
    }

    /// Sets a user's current company (the company used when a request names none): the
    /// actor's own, where it holds an active role (a superuser: any existing company).
    pub async fn switch_company(&self, actor: &Actor, company_id: i64) -> Result<user::Model> {
        let user = actor.session_user()?;
        self.fv.actors().ensure_may_act_in(user, company_id).await?;
        let patch = UserPatch {
            current_company_id: Some(company_id),
            ..Default::default()
        };
        self.apply(actor, user.id, patch, true).await
    }

    /// Applies a patch whose rules were checked.
    async fn apply(
        &self,
        actor: &Actor,
        id: i64,
        patch: UserPatch,
        by_self: bool,
    ) -> Result<user::Model> {
        let fv = self.fv;
        patch.validate()?;
        let email = (patch.email.as_deref())
            .map(|v| normalised("email", Email::parse(v)))
            .transpose()?;
        let username = (patch.username.as_deref())
            .map(|v| normalised("username", Username::parse(v)))
            .transpose()?;
        let password = (patch.password.as_deref())
            .map(|v| normalised("password", Password::parse(v)))
            .transpose()?;
        let full_name = non_empty(&patch.full_name)
            .map(|n| normalised("full_name", Name::parse(n, 200)))
            .transpose()?;
        let ctx = actor.audit();
        if patch.is_active == Some(false) {
            ensure_not_self(&ctx, id)?;
        }
        let password_hash = match password {
            Some(p) => Some(fv.hasher().hash_async(p.expose().to_owned()).await?),
            None => None,
        };
        let txn = fv.begin_write().await?;
        let old = lookup::user(&txn, id).await?;
        if let Some(company_id) = patch.current_company_id {
            ensure_company_exists(&txn, company_id).await?;
        }
        let changes_grants = patch.is_active.is_some_and(|v| v != old.is_active)
            || patch.is_superuser.is_some_and(|v| v != old.is_superuser);
        let guard = if changes_grants {
            Guard::before(actor, &txn, Watch::user_everywhere(actor, &txn, id).await?).await?
        } else {
            Guard::before(actor, &txn, Vec::new()).await?
        };
        let changes = UserChanges {
            email: email.map(Email::into_inner),
            username: username.map(Username::into_inner),
            // An empty string parsed to `None`, which clears the name.
            full_name: patch
                .full_name
                .is_some()
                .then(|| full_name.map(Name::into_inner)),
            password_hash: password_hash.map(Some),
            is_active: patch.is_active,
            is_superuser: patch.is_superuser,
            current_company_id: patch.current_company_id.map(Some),
        };
        let UserUpdated {
            model: new,
            email_changed,
            unlinked,
            signs_out,
        } = write_update(&txn, &ctx, &old, changes, by_self).await?;
        let mut new_values = snapshot(&new);
        if unlinked > 0
            && let Some(obj) = new_values.as_mut().and_then(|v| v.as_object_mut())
        {
            obj.insert("unlinked_accounts".into(), unlinked.into());
        }
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "update",
                entity_type: "user",
                entity_id: Some(id),
                company_id: new.current_company_id,
                old_values: snapshot(&old),
                new_values,
            },
        )
        .await?;
        guard.check(&txn).await?;
        // Also for profile-only changes: the user's scope guards the cache of
        // authenticated users (`auth::active_users`) on every replica.
        fv.commit_changes(txn, &[Change::User(id)]).await?;
        if signs_out {
            fv.tokens().revoke_all(id).await?;
        }
        if email_changed && new.is_active {
            // The change stands even when the mail cannot be queued: the holder can ask
            // for another link.
            if let Err(e) = fv.email_verification().send(&new).await {
                tracing::warn!(user_id = id, error = %e, "cannot mail an email verification link");
            }
        }
        Ok(new)
    }

    /// Deactivates a user (the row is kept); their permissions are dropped at once and
    /// their refresh tokens revoked (access tokens of an inactive user are refused).
    /// Needs `user.delete` (as [`Users::update`] needs `user.update`) and the account
    /// rules; nobody deactivates itself ([`Error::Conflict`]): it would lock itself out.
    pub async fn deactivate(&self, actor: &Actor, id: i64) -> Result<user::Model> {
        let fv = self.fv;
        actor.require(fv, codenames::USER_DELETE).await?;
        let scope = actor.scope(fv, codenames::USER_DELETE).await?;
        let target = self.get_in(id, &scope).await?;
        self.ensure_may_change(actor, &target, None).await?;
        let ctx = actor.audit();
        ensure_not_self(&ctx, id)?;
        let txn = fv.begin_write().await?;
        let guard =
            Guard::before(actor, &txn, Watch::user_everywhere(actor, &txn, id).await?).await?;
        let old = lookup::user(&txn, id).await?;
        let deactivate = UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        };
        let new = write_update(&txn, &ctx, &old, deactivate, false)
            .await?
            .model;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "deactivate",
                entity_type: "user",
                entity_id: Some(id),
                company_id: new.current_company_id,
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        guard.check(&txn).await?;
        fv.commit_changes(txn, &[Change::User(id)]).await?;
        fv.tokens().revoke_all(id).await?;
        Ok(new)
    }

    /// `id` when the actor may change that account: `user.update` over one of its
    /// companies ([`Error::NotFound`] otherwise) and the account rules of
    /// [`Users::update`] (superusers only by superusers; dominance).
    pub(crate) async fn get_for_change(&self, actor: &Actor, id: i64) -> Result<user::Model> {
        let fv = self.fv;
        actor.require(fv, codenames::USER_UPDATE).await?;
        let scope = actor.scope(fv, codenames::USER_UPDATE).await?;
        let target = self.get_in(id, &scope).await?;
        self.ensure_may_change(actor, &target, None).await?;
        Ok(target)
    }

    /// Sets another user's password (validated and hashed) and revokes the user's
    /// refresh tokens: the rules of [`Users::update`] with a `password`. The audit row
    /// records the event, not the hash.
    pub async fn set_password(&self, actor: &Actor, id: i64, password: &str) -> Result<()> {
        let fv = self.fv;
        if !actor.is_system() {
            self.get_for_change(actor, id).await?;
            if actor.key().is_none() && actor.user_id() == Some(id) {
                return Err(Error::Forbidden(
                    "change your own password with POST /auth/change-password, which asks for the current one"
                        .into(),
                ));
            }
        }
        let password = Password::parse(password).map_err(|m| Error::invalid("password", m))?;
        let hash = fv.hasher().hash_async(password.expose().to_owned()).await?;
        let txn = fv.begin_write().await?;
        let old = lookup::user(&txn, id).await?;
        let ctx = actor.audit();
        let new_password = UserChanges {
            password_hash: Some(Some(hash)),
            ..UserChanges::default()
        };
        write_update(&txn, &ctx, &old, new_password, false).await?;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "set_password",
                entity_type: "user",
                entity_id: Some(id),
                company_id: None,
                old_values: None,
                new_values: None,
            },
        )
        .await?;
        txn.commit().await?;
        fv.tokens().revoke_all(id).await?;
        Ok(())
    }
}

fn ensure_not_self(ctx: &audit::AuditContext, id: i64) -> Result<()> {
    if ctx.actor_id == Some(id) {
        return Err(Error::Conflict {
            field: Some("is_active"),
            message: "you cannot deactivate your own account".into(),
        });
    }
    Ok(())
}

/// Every (company, active permission) the user holds through a role or a group, whatever
/// the state of the user, its assignments, roles, groups and companies.
const POTENTIAL_GRANTS: &str = "\
SELECT ucr.company_id AS company_id, p.codename AS codename FROM user_company_roles ucr \
JOIN roles r ON r.id = ucr.role_id \
JOIN role_permissions rp ON rp.role_id = r.id \
JOIN permissions p ON p.id = rp.permission_id \
WHERE ucr.user_id = $1 AND p.is_active = TRUE \
  AND (r.company_id IS NULL OR r.company_id = ucr.company_id) \
UNION \
SELECT g.company_id AS company_id, p.codename AS codename FROM user_groups ug \
JOIN groups g ON g.id = ug.group_id \
JOIN group_permissions gp ON gp.group_id = g.id \
JOIN permissions p ON p.id = gp.permission_id \
WHERE ug.user_id = $1 AND p.is_active = TRUE";

async fn potential_grants<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Vec<(i64, String)>> {
    let stmt = statement(
        db.get_database_backend(),
        POTENTIAL_GRANTS,
        vec![user_id.into()],
    );
    let mut out = Vec::new();
    for row in db.query_all_raw(stmt).await? {
        out.push((
            row.try_get::<i64>("", "company_id")?,
            row.try_get::<String>("", "codename")?,
        ));
    }
    Ok(out)
}
