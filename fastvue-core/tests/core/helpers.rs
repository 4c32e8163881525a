//! Test harness: a fresh database per test ([`TestDatabase`]: a SQLite file by default,
//! a PostgreSQL database when `FASTVUE_TEST_DATABASE_URL` names a server), a
//! bootstrapped [`Fastvue`] over it, and small factories.

use std::sync::{Arc, Mutex};

use fastvue_core::Actor;
use fastvue_core::entity::grant_scope::GrantScope;
use fastvue_core::entity::{company, group, permission, role, user, user_company_role};
use fastvue_core::error::FieldError;
use fastvue_core::pagination::PageRequest;
use fastvue_core::permission::CacheKey;
use fastvue_core::seed::BootstrapReport;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::audit::AuditFilter;
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::groups::NewGroup;
use fastvue_core::service::permissions::NewPermission;
use fastvue_core::service::roles::NewRole;
use fastvue_core::service::users::NewUser;
pub use fastvue_core::testing::Backend;
pub use fastvue_core::testing::{TestDatabase, settings};
use fastvue_core::{Error, Fastvue};
use sea_orm::{EntityTrait, PaginatorTrait};

/// The SQL statements a connection ran, in order (see [`TestDb::counted_handle`]).
#[derive(Debug, Clone, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    fn push(&self, sql: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(sql);
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The statements recorded since the last [`StatementLog::clear`].
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Password given to every user made by [`create_user`].
pub const PASSWORD: &str = "correct horse battery";

/// One test's database and the bootstrapped handle over it.
#[derive(Debug)]
pub struct TestDb {
    /// The handle under test. Declared first so the pool closes before the database goes.
    pub fv: Fastvue,
    /// What the first `bootstrap()` reported (`None` for [`TestDb::unseeded`]).
    pub report: Option<BootstrapReport>,
    /// The engine in use.
    pub backend: Backend,
    db: TestDatabase,
}

impl TestDb {
    /// A fresh, migrated and bootstrapped database with default test settings.
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    /// Like [`TestDb::new`] with extra configuration variables.
    pub async fn with(overrides: &[(&str, &str)]) -> Self {
        let mut db = Self::unseeded(overrides).await;
        db.report = Some(db.fv.bootstrap().await.expect("bootstrap"));
        db
    }

    /// A fresh, migrated database that has not been bootstrapped.
    pub async fn unseeded(overrides: &[(&str, &str)]) -> Self {
        let db = TestDatabase::create("fastvue_core").await;
        let fv = Fastvue::connect(settings(db.url(), overrides))
            .await
            .expect("connect and migrate");
        Self {
            fv,
            report: None,
            backend: db.backend(),
            db,
        }
    }

    /// A second handle on the same database whose connection records every SQL
    /// statement it runs (sea-orm's metric callback) into the returned log.
    pub async fn counted_handle(&self) -> (Fastvue, StatementLog) {
        let s = settings(self.db.url(), &[]);
        let mut conn = fastvue_core::db::connect(&s).await.expect("connect");
        let log = StatementLog::default();
        let sink = log.clone();
        conn.set_metric_callback(move |info| sink.push(info.statement.sql.clone()));
        let fv = Fastvue::with_database(s, conn).await.expect("handle");
        (fv, log)
    }

    /// A second, independent handle (own pool and cache) on the same database.
    pub async fn connect_again(&self, overrides: &[(&str, &str)]) -> Fastvue {
        Fastvue::connect(settings(self.db.url(), overrides))
            .await
            .expect("connect again")
    }
}

/// The system acting (passes every rule).
pub fn sys() -> Actor {
    Actor::system()
}

/// The active user `user_id` acting in `company_id` (membership checked as for a request).
pub async fn acting(fv: &Fastvue, user_id: i64, company_id: Option<i64>) -> Actor {
    fv.actors()
        .for_user(user_id, company_id)
        .await
        .expect("an actor for the user")
}

/// A page request.
pub fn page(page: u64, size: u64) -> PageRequest {
    PageRequest::new(Some(page), Some(size)).expect("valid page")
}

/// The biggest page.
pub fn all() -> PageRequest {
    page(1, 100)
}

/// Creates an active company with `code` (name = code).
pub async fn create_company(fv: &Fastvue, code: &str) -> company::Model {
    company_under(fv, code, None).await
}

/// Creates company `code` under `parent` (by the system).
pub async fn create_child(fv: &Fastvue, code: &str, parent: i64) -> company::Model {
    company_under(fv, code, Some(parent)).await
}

async fn company_under(fv: &Fastvue, code: &str, parent_id: Option<i64>) -> company::Model {
    fv.companies()
        .create(
            &sys(),
            NewCompany {
                name: format!("{code} Inc"),
                code: code.to_owned(),
                parent_id,
                ..Default::default()
            },
        )
        .await
        .expect("create company")
}

/// Gives `user_id` role `role_id` over the subtree of `company_id` (by the system).
pub async fn assign_subtree(
    fv: &Fastvue,
    user_id: i64,
    company_id: i64,
    role_id: i64,
) -> user_company_role::Model {
    assign_scoped(fv, user_id, company_id, role_id, GrantScope::Subtree).await
}

/// Creates an active user `name` (`name@example.com`, password [`PASSWORD`]).
pub async fn create_user(fv: &Fastvue, name: &str) -> user::Model {
    fv.users()
        .create(
            &sys(),
            NewUser {
                email: format!("{name}@example.com"),
                username: name.to_owned(),
                password: Some(PASSWORD.to_owned()),
                ..Default::default()
            },
        )
        .await
        .expect("create user")
}

/// Creates a superuser `name`.
pub async fn create_superuser(fv: &Fastvue, name: &str) -> user::Model {
    fv.users()
        .create(
            &sys(),
            NewUser {
                email: format!("{name}@example.com"),
                username: name.to_owned(),
                password: Some(PASSWORD.to_owned()),
                is_superuser: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("create superuser")
}

/// Owned codenames.
pub fn names(codenames: &[&str]) -> Vec<String> {
    codenames.iter().map(|c| (*c).to_owned()).collect()
}

/// Creates a role of `company_id` (or a global template) granting `perms`.
pub async fn create_role(
    fv: &Fastvue,
    company_id: Option<i64>,
    codename: &str,
    perms: &[&str],
) -> role::Model {
    fv.roles()
        .create(
            &sys(),
            NewRole {
                name: format!("Role {codename}"),
                codename: codename.to_owned(),
                company_id,
                permissions: names(perms),
                ..Default::default()
            },
        )
        .await
        .expect("create role")
        .role
}

/// Creates a group of `company_id` granting `perms`.
pub async fn create_group(
    fv: &Fastvue,
    company_id: i64,
    codename: &str,
    perms: &[&str],
) -> group::Model {
    fv.groups()
        .create(
            &sys(),
            NewGroup {
                company_id,
                name: format!("Group {codename}"),
                codename: codename.to_owned(),
                permissions: names(perms),
                ..Default::default()
            },
        )
        .await
        .expect("create group")
        .group
}

/// Creates a non-system permission.
pub async fn create_permission(fv: &Fastvue, codename: &str) -> permission::Model {
    fv.permissions()
        .create(
            &sys(),
            NewPermission {
                codename: codename.to_owned(),
                name: format!("Can {codename}"),
                ..Default::default()
            },
        )
        .await
        .expect("create permission")
}

/// Assigns `role_id` to `user_id` in `company_id`.
pub async fn assign(
    fv: &Fastvue,
    user_id: i64,
    company_id: i64,
    role_id: i64,
) -> user_company_role::Model {
    assign_scoped(fv, user_id, company_id, role_id, GrantScope::Company).await
}

async fn assign_scoped(
    fv: &Fastvue,
    user_id: i64,
    company_id: i64,
    role_id: i64,
    scope: GrantScope,
) -> user_company_role::Model {
    fv.assignments()
        .assign(
            &sys(),
            user_id,
            NewAssignment {
                company_id,
                role_id,
                scope,
                ..Default::default()
            },
        )
        .await
        .expect("assign role")
}

/// Gives `user_id` the seeded role `codename` of `company_id`.
pub async fn grant_role(fv: &Fastvue, user_id: i64, company_id: i64, codename: &str) {
    let r = company_role(fv, company_id, codename).await;
    assign(fv, user_id, company_id, r.id).await;
}

/// The role `codename` of `company_id`.
pub async fn company_role(fv: &Fastvue, company_id: i64, codename: &str) -> role::Model {
    use sea_orm::{ColumnTrait, QueryFilter};
    role::Entity::find()
        .filter(role::Column::CompanyId.eq(company_id))
        .filter(role::Column::Codename.eq(codename))
        .one(fv.db())
        .await
        .expect("query roles")
        .unwrap_or_else(|| panic!("company {company_id} has no role {codename}"))
}

/// The effective permissions of a user in a company, as owned sorted codenames.
pub async fn effective(fv: &Fastvue, user_id: i64, company_id: i64) -> Vec<String> {
    fv.authorizer()
        .codenames(user_id, company_id)
        .await
        .expect("effective permissions")
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Whether the user holds `codename` in the company (through the cache).
pub async fn has(fv: &Fastvue, user_id: i64, company_id: i64, codename: &str) -> bool {
    fv.authorizer()
        .has(user_id, company_id, codename)
        .await
        .expect("permission check")
}

/// Asserts that the user's set in the company sits in the in-process cache, so the
/// next check is answered from it unless a write invalidated it.
pub fn assert_cached(fv: &Fastvue, user_id: i64, company_id: i64) {
    assert!(
        fv.authorizer()
            .l1()
            .get(CacheKey::new(user_id, company_id))
            .is_some(),
        "the set of user {user_id} in company {company_id} should be cached"
    );
}

/// The field errors of a validation error; panics on anything else.
#[track_caller]
pub fn validation<T: std::fmt::Debug>(result: Result<T, Error>) -> Vec<FieldError> {
    match result {
        Err(Error::Validation(errors)) => errors,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// The fields named by a validation error; panics on anything else.
#[track_caller]
pub fn invalid_fields<T: std::fmt::Debug>(result: Result<T, Error>) -> Vec<String> {
    validation(result).into_iter().map(|e| e.field).collect()
}

/// Asserts a conflict on `field` (`None`: a conflict not tied to a field).
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, Error>, field: Option<&str>) {
    match result {
        Err(Error::Conflict { field: f, .. }) => {
            assert_eq!(f, field, "conflict on the wrong field")
        }
        other => panic!("expected a conflict on {field:?}, got {other:?}"),
    }
}

/// Asserts a not-found error about `entity`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>, entity: &str) {
    match result {
        Err(Error::NotFound { entity: e }) => assert_eq!(e, entity),
        other => panic!("expected {entity} not found, got {other:?}"),
    }
}

/// Number of rows of an entity.
pub async fn count<E: EntityTrait>(fv: &Fastvue, _entity: E) -> u64
where
    E::Model: Sync,
{
    E::find().count(fv.db()).await.expect("count rows")
}

/// Every audit row, oldest first.
pub async fn audit_rows(
    fv: &Fastvue,
    filter: AuditFilter,
) -> Vec<fastvue_core::entity::audit_log::Model> {
    let mut rows = Vec::new();
    let mut n = 1;
    loop {
        let p = fv
            .audit_logs()
            .list(&sys(), &filter, page(n, 100))
            .await
            .expect("list audit logs");
        let done = n >= p.pages;
        rows.extend(p.items);
        if done {
            break;
        }
        n += 1;
    }
    rows.reverse();
    rows
}
