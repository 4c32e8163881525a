//! Users: create, read, list, update, deactivate, passwords and sign-in verification.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use crate::Fastvue;
use crate::codenames;
use crate::domain::{Checker, Email, Name, Password, Username};
use crate::entity::{social_account, user, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::permission::Change;
use crate::policy::escalation::{Guard, Watch};
use crate::policy::{Actor, Scope};
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, Entry, snapshot};
use crate::service::lookup;
use crate::sql::statement;

mod list;
mod new;

pub(crate) use new::{NewUserAudit, PreparedUser, ensure_company_exists, write_new};

const UNIQUE: &[(&str, &[&str])] = &[
    ("email", &["uq_users_email", "users.email"]),
    ("username", &["uq_users_username", "users.username"]),
];

/// Input for creating a user.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Email address (unique).
    pub email: String,
    /// Username (unique).
    pub username: String,
    /// Password; `None` for accounts that only sign in through a provider.
    pub password: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Active from the start (default true).
    pub is_active: Option<bool>,
    /// Superuser (default false). Only superusers may set it.
    pub is_superuser: Option<bool>,
    /// The company used when a request names none.
    pub current_company_id: Option<i64>,
}

/// Changes to a user; absent fields are left as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New email.
    pub email: Option<String>,
    /// New username.
    pub username: Option<String>,
    /// New full name (an empty string clears it).
    pub full_name: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Grant or revoke superuser. Only superusers may set it.
    pub is_superuser: Option<bool>,
    /// New current company.
    pub current_company_id: Option<i64>,
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Substring of email, username or full name.
    pub search: Option<String>,
    /// Only active or only inactive users.
    pub is_active: Option<bool>,
    /// Only superusers or only regular users.
    pub is_superuser: Option<bool>,
    /// Only members (active role holders) of this company.
    pub company_id: Option<i64>,
    /// Only members of these companies (intersected with the actor's scope).
    pub company_ids: Option<Vec<i64>>,
    /// The order of numbered pages (keyset pages are always by id).
    pub sort: UserSort,
}

/// The order of a users list: a column, ascending or descending, then the id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserSort {
    /// The column.
    pub by: SortBy,
    /// Largest first.
    pub descending: bool,
}

/// The columns a users list sorts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Id (creation order); the default.
    #[default]
    Id,
    /// Username.
    Username,
    /// Email.
    Email,
    /// Full name.
    FullName,
    /// Creation time.
    CreatedAt,
    /// Last sign-in.
    LastLoginAt,
}

impl UserSort {
    /// The words [`UserSort::parse`] takes, each optionally prefixed with `-`.
    pub const FIELDS: [&'static str; 6] = [
        "id",
        "username",
        "email",
        "full_name",
        "created_at",
        "last_login_at",
    ];

    /// Parses `username`, `-created_at`, ...: a column of [`UserSort::FIELDS`], with a
    /// leading `-` for descending.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let by = match name {
            "id" => SortBy::Id,
            "username" => SortBy::Username,
            "email" => SortBy::Email,
            "full_name" => SortBy::FullName,
            "created_at" => SortBy::CreatedAt,
            "last_login_at" => SortBy::LastLoginAt,
            _ => {
                return Err(Error::invalid(
                    "sort",
                    crate::error::Problem::new(
                        "unknown",
                        format!(
                            "must be one of {}, each optionally prefixed with '-'",
                            Self::FIELDS.join(", ")
                        ),
                    )
                    .with("value", raw)
                    .with("allowed", Self::FIELDS.to_vec()),
                ));
            }
        };
        Ok(Self { by, descending })
    }
}

/// User administration.
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Users<'_> {
    /// Creates a user; the password is hashed with argon2id. A non-superuser must give
    /// the new account a role ([`Users::create_with_role`]).
    pub async fn create(&self, actor: &Actor, input: NewUser) -> Result<user::Model> {
        Ok(self.create_with_role(actor, input, None).await?.0)
    }

    /// Creates a user and, in the same transaction, assigns it a role (so a failed
    /// assignment leaves no half-made account). Without a `current_company_id` the
    /// assignment's company becomes the user's current company.
    ///
    /// Rules: the actor needs `user.create` (in its active company and, with an
    /// assignment, in the assignment's company, together with `role.assign` there); only
    /// superusers set `is_superuser`; the role must grant nothing the actor lacks there;
    /// a non-superuser must give an assignment (an account without a role in the actor's
    /// companies would be invisible to it: [`Error::Validation`] on `role_id`).
    pub async fn create_with_role(
        &self,
        actor: &Actor,
        input: NewUser,
        assignment: Option<NewAssignment>,
    ) -> Result<(user::Model, Option<user_company_role::Model>)> {
        let fv = self.fv;
        if !actor.is_superuser() {
            actor.require(fv, codenames::USER_CREATE).await?;
            if input.is_superuser == Some(true) {
                return Err(Error::Forbidden(
                    "only superusers may set is_superuser".into(),
                ));
            }
        }
        match &assignment {
            Some(a) => {
                actor
                    .require_in(fv, a.company_id, codenames::USER_CREATE)
                    .await?;
                actor
                    .require_in(fv, a.company_id, codenames::ROLE_ASSIGN)
                    .await?;
                assignments::grantable_role(fv, actor, a.company_id, a.role_id, a.scope).await?;
            }
            None if !actor.is_superuser() => {
                return Err(Error::invalid(
                    "role_id",
                    "is required: a new user must hold a role in a company you manage",
                ));
            }
            None => {}
        }
        let prepared = self.prepare(input).await?;
        let txn = fv.begin_write().await?;
        let (model, assigned, changes) = write_new(
            &txn,
            actor,
            &actor.audit(),
            prepared,
            assignment.as_ref(),
            NewUserAudit::Create,
        )
        .await?;
        fv.commit_changes(txn, &changes).await?;
        Ok((model, assigned))
    }

    /// Checks `input` and hashes its password (outside any transaction: hashing is
    /// slow and bounded by the hashing slots), ready for [`write_new`].
    pub(crate) async fn prepare(&self, input: NewUser) -> Result<PreparedUser> {
        let mut c = Checker::default();
        let email = c.check("email", Email::parse(&input.email));
        let username = c.check("username", Username::parse(&input.username));
        let password = c.check_opt("password", input.password.as_deref().map(Password::parse));
        let full_name = c.check_opt(
            "full_name",
            non_empty(&input.full_name).map(|n| Name::parse(n, 200)),
        );
        let (Some(email), Some(username), Some(password), Some(full_name)) =
            (email, username, password, full_name)
        else {
            return Err(c.into_error());
        };
        let password_hash = match password {
            Some(p) => Some(self.fv.hasher().hash_async(p.expose().to_owned()).await?),
            None => None,
        };
        Ok(PreparedUser {
            email: email.into_inner(),
            username: username.into_inner(),
            password_hash,
            full_name: full_name.map(Name::into_inner),
            is_active: input.is_active.unwrap_or(true),
            is_superuser: input.is_superuser.unwrap_or(false),
            current_company_id: input.current_company_id,
        })
    }

    /// The user `id`, if the actor holds `user.read` in one of the companies where the
    /// user holds an active role (others are [`Error::NotFound`], like unknown ids).
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<user::Model> {
        actor.require(self.fv, codenames::USER_READ).await?;
        let scope = actor.scope(self.fv, codenames::USER_READ).await?;
        self.get_in(id, &scope).await
    }

    /// The user with this id if it belongs (through an active assignment) to a company
    /// of `scope`. Users outside it are [`Error::NotFound`], exactly like unknown ids.
    pub(crate) async fn get_in(&self, id: i64, scope: &Scope) -> Result<user::Model> {
        let user = lookup::user(self.fv.db(), id).await?;
        let Some(ids) = scope.ids() else {
            return Ok(user);
        };
        let member = user_company_role::Entity::find()
            .filter(user_company_role::Column::UserId.eq(id))
            .filter(user_company_role::Column::IsActive.eq(true))
            .filter(user_company_role::Column::CompanyId.is_in(ids.iter().copied()))
            .count(self.fv.db())
            .await?
            > 0;
        if member {
            Ok(user)
        } else {
            Err(Error::NotFound { entity: "user" })
        }
    }

    /// The company a question about `user_id`'s permissions is asked in: `requested` or
    /// the actor's active company. The actor needs `user.read` (in its active company,
    /// in that company and in one of the user's companies: [`Error::NotFound`]
    /// otherwise). Returns the user and the company.
    async fn permission_question(
        &self,
        actor: &Actor,
        user_id: i64,
        requested: Option<i64>,
    ) -> Result<(user::Model, i64)> {
        let fv = self.fv;
        actor.require(fv, codenames::USER_READ).await?;
        let scope = actor.scope(fv, codenames::USER_READ).await?;
        let target = self.get_in(user_id, &scope).await?;
        let company_id = match requested {
            Some(c) => c,
            None => actor.active_company()?,
        };
        if !scope.contains(company_id) {
            return Err(Error::NotFound { entity: "company" });
        }
        crate::service::lookup::company(fv.db(), company_id).await?;
        Ok((target, company_id))
    }

    /// A user's effective permission codenames (sorted) in `company_id` (default: the
    /// actor's active company), with the user; `user.read` as for [`Users::get`], in
    /// that company too.
    pub async fn permissions(
        &self,
        actor: &Actor,
        user_id: i64,
        company_id: Option<i64>,
    ) -> Result<(user::Model, i64, Vec<std::sync::Arc<str>>)> {
        let (target, company_id) = self.permission_question(actor, user_id, company_id).await?;
        let codenames = self.fv.authorizer().codenames(user_id, company_id).await?;
        Ok((target, company_id, codenames))
    }

    /// The acting user's own effective permissions (sorted codenames) in `company_id`
    /// (where it must hold an active role, or be a superuser: [`Error::Forbidden`]
    /// otherwise) or in its active company. A person's session; not for API keys.
    pub async fn own_permissions(
        &self,
        actor: &Actor,
        company_id: Option<i64>,
    ) -> Result<(i64, Vec<std::sync::Arc<str>>)> {
        let user = actor.session_user()?;
        let company_id = match company_id {
            Some(id) => {
                self.fv.actors().ensure_may_act_in(user, id).await?;
                id
            }
            None => actor.active_company()?,
        };
        let codenames = self.fv.authorizer().codenames(user.id, company_id).await?;
        Ok((company_id, codenames))
    }

    /// Why a user holds (or does not hold) `codename` in `company_id` (default: the
    /// actor's active company); `user.read` as for [`Users::permissions`].
    pub async fn explain(
        &self,
        actor: &Actor,
        user_id: i64,
        company_id: Option<i64>,
        codename: &str,
    ) -> Result<crate::permission::Explanation> {
        let codename = crate::domain::Codename::parse(codename)
            .map_err(|m| Error::invalid("permission", m))?;
        let (_, company_id) = self.permission_question(actor, user_id, company_id).await?;
        self.fv
            .authorizer()
            .explain(user_id, company_id, codename.as_str())
            .await
    }

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

    /// The active superuser created first, if any (the default creator of keys made by the
    /// CLI). An operator lookup: no actor, no visibility rule.
    pub async fn oldest_active_superuser(&self) -> Result<Option<user::Model>> {
        Ok(user::Entity::find()
            .filter(user::Column::IsSuperuser.eq(true))
            .filter(user::Column::IsActive.eq(true))
            .order_by_asc(user::Column::Id)
            .one(self.fv.db())
            .await?)
    }

    /// Finds a user by username or email (case-insensitive for emails): the lookup of a
    /// sign-in, with no visibility rule.
    pub async fn find_by_login(&self, login: &str) -> Result<Option<user::Model>> {
        let login = login.trim();
        Ok(user::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(user::Column::Username.eq(login))
                    .add(user::Column::Email.eq(login.to_lowercase())),
            )
            .one(self.fv.db())
            .await?)
    }

    /// The user an operator names: an id, a username or an email. A number is tried as
    /// an id first, then as a username. Anything else unknown is [`Error::NotFound`].
    /// An operator lookup: no actor, no visibility rule.
    pub async fn resolve(&self, reference: &str) -> Result<user::Model> {
        let reference = reference.trim();
        if let Ok(id) = reference.parse::<i64>()
            && let Some(found) = user::Entity::find_by_id(id).one(self.fv.db()).await?
        {
            return Ok(found);
        }
        self.find_by_login(reference)
            .await?
            .ok_or(Error::NotFound { entity: "user" })
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
        let mut c = Checker::default();
        let email = c.check_opt("email", patch.email.as_deref().map(Email::parse));
        let username = c.check_opt("username", patch.username.as_deref().map(Username::parse));
        let password = c.check_opt("password", patch.password.as_deref().map(Password::parse));
        let full_name = c.check_opt(
            "full_name",
            non_empty(&patch.full_name).map(|n| Name::parse(n, 200)),
        );
        let (Some(email), Some(username), Some(password), Some(full_name)) =
            (email, username, password, full_name)
        else {
            return Err(c.into_error());
        };
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
        let mut am = old.clone().into_active_model();
        let mut email_changed = false;
        if let Some(v) = email {
            email_changed = v.as_str() != old.email;
            am.email = Set(v.into_inner());
        }
        if let Some(v) = username {
            am.username = Set(v.into_inner());
        }
        if patch.full_name.is_some() {
            // An empty string parsed to `None`, which clears the name.
            am.full_name = Set(full_name.map(Name::into_inner));
        }
        if let Some(h) = password_hash {
            am.password_hash = Set(Some(h));
        }
        if let Some(v) = patch.is_active {
            am.is_active = Set(v);
            am.deleted_at = Set(if v {
                None
            } else {
                old.deleted_at.or(Some(Utc::now()))
            });
        }
        if let Some(v) = patch.is_superuser {
            am.is_superuser = Set(v);
        }
        if let Some(v) = patch.current_company_id {
            am.current_company_id = Set(Some(v));
        }
        // A new address is unproven until its holder follows the link mailed to it
        // (`auth::email_verification`), whoever set it.
        if email_changed {
            am.email_unconfirmed = Set(true);
        }
        let unlinked = if email_changed && !by_self {
            unlink_all(&txn, &ctx, id).await?
        } else {
            0
        };
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await.map_err(|e| map_unique(e, UNIQUE))?;
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
        if !new.is_active || patch.password.is_some() {
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
        let mut am = old.clone().into_active_model();
        am.is_active = Set(false);
        am.deleted_at = Set(old.deleted_at.or(Some(Utc::now())));
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await?;
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
        let mut am = old.into_active_model();
        am.password_hash = Set(Some(hash));
        am.updated_at = Set(Utc::now());
        am.update(&txn).await?;
        audit::record(
            &txn,
            &actor.audit(),
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

    /// Checks a sign-in. Unknown users, users without a password, inactive users and
    /// wrong passwords all fail with [`Error::InvalidCredentials`] after the same argon2
    /// work. A hash made with outdated parameters is upgraded on success.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<user::Model> {
        let found = self.find_by_login(login).await?;
        let phc = found.as_ref().and_then(|u| u.password_hash.clone());
        let ok = self
            .fv
            .hasher()
            .verify_async(password.to_owned(), phc.clone())
            .await?;
        let user = match found {
            Some(u) if ok && u.is_active => u,
            _ => return Err(Error::InvalidCredentials),
        };
        let mut am = user.clone().into_active_model();
        if phc.is_some_and(|h| self.fv.hasher().needs_rehash(&h)) {
            am.password_hash = Set(Some(
                self.fv.hasher().hash_async(password.to_owned()).await?,
            ));
        }
        am.last_login_at = Set(Some(Utc::now()));
        Ok(am.update(self.fv.db()).await?)
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

/// Removes every provider link of `user_id` (audited, one row per link); returns how many.
async fn unlink_all<C: ConnectionTrait>(
    txn: &C,
    ctx: &audit::AuditContext,
    user_id: i64,
) -> Result<u64> {
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

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}
