//! Users: create, read, list, update, deactivate, passwords and sign-in verification.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;

use crate::Fastvue;
use crate::domain::{Checker, Email, Name, Password, Username};
use crate::entity::{company, user, user_company_role};
use crate::error::{Error, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::permission::Change;
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
        let now = Utc::now();
        let model = user::ActiveModel {
            email: Set(email.into_inner()),
            username: Set(username.into_inner()),
            password_hash: Set(password_hash),
            full_name: Set(full_name.map(Name::into_inner)),
            is_active: Set(input.is_active.unwrap_or(true)),
            is_superuser: Set(input.is_superuser.unwrap_or(false)),
            current_company_id: Set(input.current_company_id),
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
        txn.commit().await?;
        if model.is_superuser {
            self.fv.permissions_changed(Change::User(model.id)).await;
        }
        Ok(model)
    }

    /// The user with this id.
    pub async fn get(&self, id: i64) -> Result<user::Model> {
        find(self.fv.db(), id).await
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
        let total = q.clone().count(db).await?;
        let items = q
            .order_by_asc(user::Column::Id)
            .offset(page.offset())
            .limit(page.page_size())
            .all(db)
            .await?;
        Ok(Page::new(items, total, page))
    }

    /// Applies a patch. Deactivation and superuser changes drop the user's cached permissions.
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
        if old.is_active != new.is_active || old.is_superuser != new.is_superuser {
            self.fv.permissions_changed(Change::User(id)).await;
        }
        Ok(new)
    }

    /// Deactivates a user (the row is kept); their permissions are dropped at once.
    pub async fn deactivate(&self, ctx: &AuditContext, id: i64) -> Result<user::Model> {
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
        Ok(new)
    }

    /// Sets a new password (validated and hashed). The audit row records the event, not the hash.
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
