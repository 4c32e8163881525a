//! Users: create, read, list, update, deactivate, passwords and sign-in verification.
use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};
use serde::Deserialize;

use crate::Fastvue;
use crate::domain::{Checker, Email, Name, Password, Username};
use crate::entity::{company, user, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
use crate::permission::query::statement;
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, AuditContext, Entry, snapshot};
use crate::service::search::contains_any;

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
    /// Superuser (default false). Only superusers may set it; the caller checks.
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
    /// Grant or revoke superuser. Only superusers may set it; the caller checks.
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
    /// Only members of these companies (visibility scope of a non-superuser).
    pub company_ids: Option<Vec<i64>>,
}

/// User administration.
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Users<'_> {
    /// Creates a user; the password is hashed with argon2id.
    pub async fn create(&self, ctx: &AuditContext, input: NewUser) -> Result<user::Model> {
        Ok(self.create_with_role(ctx, input, None).await?.0)
    }

    /// Creates a user and, in the same transaction, assigns it a role (so a failed
    /// assignment leaves no half-made account). Without a `current_company_id` the
    /// assignment's company becomes the user's current company. Does not check who is
    /// asking: see [`Users::ensure_may_create`] and
    /// [`crate::service::assignments::Assignments::ensure_grantable`].
    pub async fn create_with_role(
        &self,
        ctx: &AuditContext,
        input: NewUser,
        assignment: Option<NewAssignment>,
    ) -> Result<(user::Model, Option<user_company_role::Model>)> {
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
        let txn = self.fv.begin_write().await?;
        if let Some(company_id) = input.current_company_id {
            ensure_company_exists(&txn, company_id).await?;
        }
        let current_company_id = input
            .current_company_id
            .or(assignment.as_ref().map(|a| a.company_id));
        let now = Utc::now();
        let model = user::ActiveModel {
            email: Set(email.into_inner()),
            username: Set(username.into_inner()),
            password_hash: Set(password_hash),
            full_name: Set(full_name.map(Name::into_inner)),
            is_active: Set(input.is_active.unwrap_or(true)),
            is_superuser: Set(input.is_superuser.unwrap_or(false)),
            current_company_id: Set(current_company_id),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| map_unique(e, UNIQUE))?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "create",
                entity_type: "user",
                entity_id: Some(model.id),
                company_id: model.current_company_id,
                old_values: None,
                new_values: snapshot(&model),
            },
        )
        .await?;
        let assigned = match &assignment {
            Some(a) => Some(assignments::insert(&txn, ctx, model.id, a).await?),
            None => None,
        };
        txn.commit().await?;
        if model.is_superuser {
            self.fv.permissions_changed(Change::User(model.id)).await;
        }
        if let Some(a) = &assigned {
            self.fv
                .permissions_changed(Change::Key {
                    user_id: model.id,
                    company_id: a.company_id,
                })
                .await;
        }
        Ok((model, assigned))
    }

    /// The user with this id.
    pub async fn get(&self, id: i64) -> Result<user::Model> {
        find(self.fv.db(), id).await
    }

    /// The user with this id if it belongs (through an active assignment) to one of
    /// `companies`; `None` means every user is visible (a superuser's scope). Users outside
    /// the scope are [`Error::NotFound`], exactly like ids that do not exist.
    pub async fn get_in(&self, id: i64, companies: Option<&[i64]>) -> Result<user::Model> {
        let user = find(self.fv.db(), id).await?;
        let Some(ids) = companies else {
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

    /// The escalation rule of account creation: only superusers create superusers.
    pub fn ensure_may_create(&self, actor: &user::Model, input: &NewUser) -> Result<()> {
        if input.is_superuser == Some(true) && !actor.is_superuser {
            return Err(Error::Forbidden(
                "only superusers may set is_superuser".into(),
            ));
        }
        Ok(())
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
    ///
    /// Every refusal is [`Error::Forbidden`].
    pub async fn ensure_may_change(
        &self,
        actor: &user::Model,
        target: &user::Model,
        patch: Option<&UserPatch>,
    ) -> Result<()> {
        if actor.is_superuser {
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
        if actor.id == target.id {
            return Ok(());
        }
        let mut by_company: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (company_id, codename) in potential_grants(self.fv.db(), target.id).await? {
            by_company.entry(company_id).or_default().push(codename);
        }
        for (company_id, codenames) in by_company {
            if !assignments::not_held(self.fv, actor.id, company_id, &codenames)
                .await?
                .is_empty()
            {
                return Err(Error::Forbidden(
                    "this account holds permissions you do not hold yourself".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether every permission `user_id` could hold through a role or a group (counting
    /// inactive assignments, roles and groups, as [`Users::ensure_may_change`] does) is
    /// in `company_id` and among `codenames`: the account is no more powerful than an
    /// API key of that company with those scopes.
    pub async fn grants_only_within(
        &self,
        user_id: i64,
        company_id: i64,
        codenames: &[String],
    ) -> Result<bool> {
        Ok(potential_grants(self.fv.db(), user_id)
            .await?
            .iter()
            .all(|(c, codename)| *c == company_id && codenames.contains(codename)))
    }

    /// The active superuser created first, if any (the default creator of keys made by the CLI).
    pub async fn oldest_active_superuser(&self) -> Result<Option<user::Model>> {
        Ok(user::Entity::find()
            .filter(user::Column::IsSuperuser.eq(true))
            .filter(user::Column::IsActive.eq(true))
            .order_by_asc(user::Column::Id)
            .one(self.fv.db())
            .await?)
    }

    /// Finds a user by username or email (case-insensitive for emails).
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

    /// Lists users, newest first.
    pub async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<user::Model>> {
        let mut q = user::Entity::find();
        if let Some(term) = filter.search.as_deref().filter(|t| !t.trim().is_empty()) {
            q = q.filter(contains_any(
                &[
                    user::Column::Email,
                    user::Column::Username,
                    user::Column::FullName,
                ],
                term,
            ));
        }
        if let Some(active) = filter.is_active {
            q = q.filter(user::Column::IsActive.eq(active));
        }
        if let Some(su) = filter.is_superuser {
            q = q.filter(user::Column::IsSuperuser.eq(su));
        }
        let member_of = |ids: Vec<i64>| {
            user::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(user_company_role::Column::UserId)
                    .from(user_company_role::Entity)
                    .and_where(user_company_role::Column::CompanyId.is_in(ids))
                    .and_where(user_company_role::Column::IsActive.eq(true))
                    .to_owned(),
            )
        };
        if let Some(id) = filter.company_id {
            q = q.filter(member_of(vec![id]));
        }
        if let Some(ids) = &filter.company_ids {
            q = q.filter(member_of(ids.clone()));
        }
        let db = self.fv.db();
        // A plain COUNT(*) over the filtered rows: sea-orm's `count()` wraps the query
        // in a subquery of every column, several times slower on SQLite.
        let total: i64 = q
            .clone()
            .select_only()
            .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
            .into_tuple()
            .one(db)
            .await?
            .unwrap_or(0);
        let total = u64::try_from(total).unwrap_or(0);
        // A deferred join: the OFFSET walks ids only (an index-only scan of the primary
        // key on PostgreSQL, the compact `idx_users_id` on SQLite, whose rows live in the
        // table b-tree), then the page's rows are read by id. Deep pages skip thousands of
        // ids instead of thousands of full rows.
        let page_ids = q
            .select_only()
            .column(user::Column::Id)
            .order_by_asc(user::Column::Id)
            .offset(page.offset())
            .limit(page.page_size())
            .into_query();
        let items = user::Entity::find()
            .filter(user::Column::Id.in_subquery(page_ids))
            .order_by_asc(user::Column::Id)
            .all(db)
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// Applies a patch. Deactivation and superuser changes drop the user's cached permissions;
    /// deactivation and a new password revoke the user's refresh tokens (every session).
    /// An actor cannot deactivate itself ([`Error::Conflict`]). Does not check who is
    /// asking: see [`Users::ensure_may_change`].
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: i64,
        patch: UserPatch,
    ) -> Result<user::Model> {
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
        let password_hash = match password {
            Some(p) => Some(self.fv.hasher().hash_async(p.expose().to_owned()).await?),
            None => None,
        };
        if patch.is_active == Some(false) {
            ensure_not_self(ctx, id)?;
        }
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        if let Some(company_id) = patch.current_company_id {
            ensure_company_exists(&txn, company_id).await?;
        }
        let mut am = old.clone().into_active_model();
        if let Some(v) = email {
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
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await.map_err(|e| map_unique(e, UNIQUE))?;
        audit::record(
            &txn,
            ctx,
            Entry {
                action: "update",
                entity_type: "user",
                entity_id: Some(id),
                company_id: new.current_company_id,
                old_values: snapshot(&old),
                new_values: snapshot(&new),
            },
        )
        .await?;
        txn.commit().await?;
        // Also for profile-only changes: the user's scope guards the cache of
        // authenticated users (`auth::active_users`) on every replica.
        self.fv.permissions_changed(Change::User(id)).await;
        if !new.is_active || patch.password.is_some() {
            self.fv.tokens().revoke_all(id).await?;
        }
        Ok(new)
    }

    /// Deactivates a user (the row is kept); their permissions are dropped at once and
    /// their refresh tokens revoked (access tokens of an inactive user are refused). An
    /// actor cannot deactivate itself ([`Error::Conflict`]): it would lock itself out.
    pub async fn deactivate(&self, ctx: &AuditContext, id: i64) -> Result<user::Model> {
        ensure_not_self(ctx, id)?;
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut am = old.clone().into_active_model();
        am.is_active = Set(false);
        am.deleted_at = Set(old.deleted_at.or(Some(Utc::now())));
        am.updated_at = Set(Utc::now());
        let new = am.update(&txn).await?;
        audit::record(
            &txn,
            ctx,
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
        txn.commit().await?;
        self.fv.permissions_changed(Change::User(id)).await;
        self.fv.tokens().revoke_all(id).await?;
        Ok(new)
    }

    /// Sets a new password (validated and hashed) and revokes the user's refresh tokens.
    /// The audit row records the event, not the hash.
    pub async fn set_password(&self, ctx: &AuditContext, id: i64, password: &str) -> Result<()> {
        let password = Password::parse(password).map_err(|m| Error::invalid("password", m))?;
        let hash = self
            .fv
            .hasher()
            .hash_async(password.expose().to_owned())
            .await?;
        let txn = self.fv.begin_write().await?;
        let old = find(&txn, id).await?;
        let mut am = old.into_active_model();
        am.password_hash = Set(Some(hash));
        am.updated_at = Set(Utc::now());
        am.update(&txn).await?;
        audit::record(
            &txn,
            ctx,
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
        self.fv.tokens().revoke_all(id).await?;
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

fn ensure_not_self(ctx: &AuditContext, id: i64) -> Result<()> {
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

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

pub(crate) async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound { entity: "user" })
}

pub(crate) async fn ensure_company_exists<C: ConnectionTrait>(db: &C, id: i64) -> Result<()> {
    match company::Entity::find_by_id(id).one(db).await? {
        Some(_) => Ok(()),
        None => Err(Error::invalid("current_company_id", "no such company")),
    }
}
