//! Users: create, read, list, update, deactivate, passwords and sign-in verification.
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use validator::Validate;

use crate::Fastvue;
use crate::codenames;
use crate::domain::{Email, Name, Password, Username};
use crate::entity::{user, user_company_role};
use crate::error::{Error, Result};
use crate::policy::{Actor, Scope};
use crate::service::assignments::{self, NewAssignment};
use crate::service::lookup;
use crate::validation::{self, normalised};

mod list;
mod new;
mod update;
mod write;

pub(crate) use new::{NewUserAudit, PreparedUser, ensure_company_exists, write_new};
pub(crate) use write::{UserChanges, deactivated_at, record_sign_in, write_update};

const UNIQUE: &[(&str, &[&str])] = &[
    ("email", &["uq_users_email", "users.email"]),
    ("username", &["uq_users_username", "users.username"]),
];

/// Input for creating a user.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Email address (unique).
    #[validate(custom(function = validation::email))]
    pub email: String,
    /// Username (unique).
    #[validate(custom(function = validation::username))]
    pub username: String,
    /// Password; `None` for accounts that only sign in through a provider.
    #[validate(custom(function = validation::password))]
    pub password: Option<String>,
    /// Full name (blank: none).
    #[validate(custom(function = validation::blank_or_name_200))]
    pub full_name: Option<String>,
    /// Active from the start (default true).
    pub is_active: Option<bool>,
    /// Superuser (default false). Only superusers may set it.
    pub is_superuser: Option<bool>,
    /// The company used when a request names none.
    pub current_company_id: Option<i64>,
}

/// Changes to a user; absent fields are left as they are.
#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New email.
    #[validate(custom(function = validation::email))]
    pub email: Option<String>,
    /// New username.
    #[validate(custom(function = validation::username))]
    pub username: Option<String>,
    /// New full name (an empty string clears it).
    #[validate(custom(function = validation::blank_or_name_200))]
    pub full_name: Option<String>,
    /// New password.
    #[validate(custom(function = validation::password))]
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

impl Fastvue {
    /// User administration.
    pub fn users(&self) -> Users<'_> {
        Users { fv: self }
    }
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
        if let Some(company_id) = prepared.current_company_id {
            ensure_company_exists(&txn, company_id).await?;
        }
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
        input.validate()?;
        let email = normalised("email", Email::parse(&input.email))?;
        let username = normalised("username", Username::parse(&input.username))?;
        let password = (input.password.as_deref())
            .map(|p| normalised("password", Password::parse(p)))
            .transpose()?;
        let full_name = non_empty(&input.full_name)
            .map(|n| normalised("full_name", Name::parse(n, 200)))
            .transpose()?;
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
        let rehash = match phc {
            Some(h) if self.fv.hasher().needs_rehash(&h) => {
                Some(self.fv.hasher().hash_async(password.to_owned()).await?)
            }
            _ => None,
        };
        record_sign_in(self.fv.db(), &user, rehash).await
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}
