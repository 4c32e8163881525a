//! Runs the migrations against SQLite and PostgreSQL with the same test bodies.
//!
//! Every case is an `async fn(DatabaseConnection)` and runs once per backend:
//! `sqlite::<case>` on a fresh temporary SQLite file (foreign keys enforced),
//! and `postgres::<case>` on a fresh database `fastvue_test_<uuid>` created on
//! the server given by `FASTVUE_TEST_DATABASE_URL` and dropped afterwards.
//! Without that variable the PostgreSQL cases print that they were not run.

use std::future::Future;
use std::panic::resume_unwind;

use migration::sea_orm::prelude::Json;
use migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
    Statement, TryGetable,
};
use migration::{Migrator, MigratorTrait, SchemaManager};
use uuid::Uuid;

/// Server URL for the PostgreSQL runs, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
const PG_URL_VAR: &str = "FASTVUE_TEST_DATABASE_URL";

/// Every table of docs/schema.md with every one of its columns.
const TABLES: &[(&str, &[&str])] = &[
    (
        "companies",
        &[
            "id",
            "name",
            "code",
            "parent_id",
            "is_active",
            "created_at",
            "updated_at",
            "deleted_at",
        ],
    ),
    (
        "users",
        &[
            "id",
            "email",
            "username",
            "password_hash",
            "full_name",
            "is_active",
            "is_superuser",
            "current_company_id",
            "last_login_at",
            "created_at",
            "updated_at",
            "deleted_at",
            "email_unconfirmed",
        ],
    ),
    (
        "permissions",
        &[
            "id",
            "codename",
            "name",
            "description",
            "resource",
            "action",
            "category",
            "is_system",
            "is_active",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "roles",
        &[
            "id",
            "name",
            "codename",
            "description",
            "company_id",
            "is_system",
            "is_active",
            "created_at",
            "updated_at",
        ],
    ),
    ("role_permissions", &["role_id", "permission_id"]),
    (
        "user_company_roles",
        &[
            "id",
            "user_id",
            "company_id",
            "role_id",
            "is_default",
            "is_active",
            "assigned_at",
            "assigned_by",
        ],
    ),
    (
        "groups",
        &[
            "id",
            "company_id",
            "name",
            "codename",
            "description",
            "is_active",
            "created_at",
            "updated_at",
        ],
    ),
    ("group_permissions", &["group_id", "permission_id"]),
    (
        "user_groups",
        &["user_id", "group_id", "is_active", "joined_at"],
    ),
    (
        "social_accounts",
        &[
            "id",
            "user_id",
            "provider",
            "provider_user_id",
            "email",
            "created_at",
        ],
    ),
    (
        "refresh_tokens",
        &[
            "id",
            "user_id",
            "family_id",
            "expires_at",
            "created_at",
            "revoked_at",
            "replaced_by",
        ],
    ),
    (
        "audit_logs",
        &[
            "id",
            "actor_id",
            "company_id",
            "action",
            "entity_type",
            "entity_id",
            "old_values",
            "new_values",
            "ip_address",
            "request_id",
            "created_at",
        ],
    ),
    (
        "oauth_states",
        &[
            "state",
            "provider",
            "pkce_verifier",
            "redirect_to",
            "expires_at",
            "created_at",
        ],
    ),
    (
        "api_keys",
        &[
            "id",
            "company_id",
            "name",
            "prefix",
            "secret_hash",
            "scopes",
            "created_by",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "rate_limit_per_minute",
        ],
    ),
    (
        "menus",
        &[
            "id",
            "company_id",
            "parent_id",
            "name",
            "path",
            "title",
            "i18n_key",
            "icon",
            "sort_order",
            "permissions",
            "permission_mode",
            "is_active",
            "created_at",
            "updated_at",
        ],
    ),
];

/// The named indexes of docs/schema.md (the named UNIQUE constraints are
/// checked by behaviour instead: SQLite does not keep constraint names as
/// index names).
const INDEXES: &[(&str, &str)] = &[
    ("companies", "idx_companies_parent_id"),
    ("permissions", "idx_permissions_resource"),
    ("roles", "uq_roles_global_codename"),
    ("role_permissions", "idx_role_permissions_permission_id"),
    ("user_company_roles", "idx_ucr_role_id"),
    ("user_company_roles", "idx_ucr_company_id"),
    ("group_permissions", "idx_group_permissions_permission_id"),
    ("user_groups", "idx_user_groups_group_id"),
    ("social_accounts", "idx_social_accounts_user_id"),
    ("refresh_tokens", "idx_refresh_tokens_user_id"),
    ("refresh_tokens", "idx_refresh_tokens_family_id"),
    ("audit_logs", "idx_audit_logs_entity"),
    ("audit_logs", "idx_audit_logs_actor_id"),
    ("audit_logs", "idx_audit_logs_company_id"),
    ("audit_logs", "idx_audit_logs_created_at"),
    ("oauth_states", "idx_oauth_states_expires_at"),
    ("api_keys", "idx_api_keys_company_id"),
    ("api_keys", "idx_api_keys_created_by"),
    ("menus", "uq_menus_global_name"),
    ("menus", "idx_menus_parent_id"),
];

const TS: &str = "'2026-11-22T10:00:00Z'";

// ---------------------------------------------------------------- harness --

/// Runs `case` on a fresh SQLite file with foreign keys enforced, then deletes it.
async fn run_on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let path = std::env::temp_dir().join(format!("fastvue_test_{}.db", Uuid::new_v4().simple()));
    let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
    options.map_sqlx_sqlite_opts(|o| o.foreign_keys(true));
    let db = Database::connect(options)
        .await
        .expect("open the SQLite test database");

    let outcome = tokio::spawn(case(db.clone())).await;

    db.close().await.expect("close the SQLite test database");
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        // The journal files usually do not exist.
        let _ = std::fs::remove_file(file);
    }
    propagate(outcome);
}

/// Runs `case` on a fresh PostgreSQL database, then drops it; skipped (with a
/// message) when `FASTVUE_TEST_DATABASE_URL` is unset.
async fn run_on_postgres<F, Fut>(case: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(server_url) = std::env::var(PG_URL_VAR) else {
        println!("{PG_URL_VAR} is not set: PostgreSQL test not run");
        return;
    };
    let name = format!("fastvue_test_{}", Uuid::new_v4().simple());
    let admin = Database::connect(server_url.as_str())
        .await
        .expect("connect to the PostgreSQL server");
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .expect("create the PostgreSQL test database");
    let db = Database::connect(with_database(&server_url, &name))
        .await
        .expect("connect to the PostgreSQL test database");

    let outcome = tokio::spawn(case(db.clone())).await;

    db.close()
        .await
        .expect("close the PostgreSQL test database");
    admin
        .execute_unprepared(&format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#))
        .await
        .expect("drop the PostgreSQL test database");
    admin.close().await.expect("close the server connection");
    propagate(outcome);
}

/// Re-raises the panic of a failed test case after the cleanup is done.
fn propagate(outcome: Result<(), tokio::task::JoinError>) {
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
        Err(e) => panic!("test case did not finish: {e}"),
    }
}

/// `server_url` with its database (path) replaced by `database`, query kept.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Declares each case as a test on both backends: `sqlite::<case>` and `postgres::<case>`.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::run_on_sqlite(crate::$case).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::run_on_postgres(crate::$case).await;
                }
            )+
        }
    };
}

on_both_backends!(
    up_creates_every_table_column_and_index,
    down_drops_everything_and_up_works_again,
    unique_company_code_is_enforced,
    foreign_keys_are_enforced,
    defaults_and_auto_increment_ids,
    role_codenames_are_unique_per_company_and_globally,
    on_delete_actions,
    json_columns_hold_json_values,
    the_user_id_index_exists_only_where_the_rows_are_not_already_ordered_by_an_index,
    menus_are_seeded_once_and_a_new_database_gets_no_permissions_from_the_migration,
    an_upgraded_database_gives_the_menu_permissions_to_its_seeded_roles_only,
);

// ---------------------------------------------------------------- helpers --

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(drop)
}

/// First column of the single row returned by `sql`.
async fn scalar<T: TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
        .try_get_by_index(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(db: &DatabaseConnection, table: &str, filter: &str) -> i64 {
    scalar(db, &format!("SELECT COUNT(*) FROM {table} WHERE {filter}")).await
}

async fn migrate_up(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("migrate up");
}

/// Asserts that `result` failed with the constraint violation `kind` accepts.
fn assert_violation(result: Result<(), DbErr>, kind: fn(&SqlErr) -> bool, what: &str) {
    let err = result.expect_err(what);
    assert!(
        err.sql_err().as_ref().is_some_and(kind),
        "{what}: unexpected error {err:?}"
    );
}

fn is_unique(e: &SqlErr) -> bool {
    matches!(e, SqlErr::UniqueConstraintViolation(_))
}

fn is_foreign_key(e: &SqlErr) -> bool {
    matches!(e, SqlErr::ForeignKeyConstraintViolation(_))
}

async fn insert_company(db: &DatabaseConnection, code: &str, parent: &str) -> i64 {
    exec(
        db,
        &format!(
            "INSERT INTO companies (name, code, parent_id, created_at, updated_at) \
             VALUES ('{code} inc', '{code}', {parent}, {TS}, {TS})"
        ),
    )
    .await
    .expect("insert company");
    scalar(
        db,
        &format!("SELECT id FROM companies WHERE code = '{code}'"),
    )
    .await
}

async fn insert_user(db: &DatabaseConnection, username: &str, company: &str) -> i64 {
    exec(
        db,
        &format!(
            "INSERT INTO users (email, username, current_company_id, created_at, updated_at) \
             VALUES ('{username}@example.com', '{username}', {company}, {TS}, {TS})"
        ),
    )
    .await
    .expect("insert user");
    scalar(
        db,
        &format!("SELECT id FROM users WHERE username = '{username}'"),
    )
    .await
}

async fn insert_role(db: &DatabaseConnection, codename: &str, company: &str) -> Result<(), DbErr> {
    exec(
        db,
        &format!(
            "INSERT INTO roles (name, codename, company_id, created_at, updated_at) \
             VALUES ('{codename}', '{codename}', {company}, {TS}, {TS})"
        ),
    )
    .await
}

// ------------------------------------------------------------------ cases --

async fn up_creates_every_table_column_and_index(db: DatabaseConnection) {
    migrate_up(&db).await;
    let manager = SchemaManager::new(&db);
    for (table, columns) in TABLES {
        assert!(manager.has_table(table).await.unwrap(), "table {table}");
        for column in *columns {
            assert!(
                manager.has_column(table, column).await.unwrap(),
                "column {table}.{column}"
            );
        }
    }
    for (table, index) in INDEXES {
        assert!(
            manager.has_index(table, index).await.unwrap(),
            "index {index} on {table}"
        );
    }
    let applied = Migrator::get_applied_migrations(&db).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_user_id_index_exists_only_where_the_rows_are_not_already_ordered_by_an_index(
    db: DatabaseConnection,
) {
    migrate_up(&db).await;
    let manager = SchemaManager::new(&db);
    let sqlite = db.get_database_backend() == DbBackend::Sqlite;
    assert_eq!(
        manager.has_index("users", "idx_users_id").await.unwrap(),
        sqlite
    );
    if sqlite {
        // The deep-page scan walks the compact index, not the table's rows.
        let plan: Vec<String> = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "EXPLAIN QUERY PLAN SELECT id FROM users ORDER BY id LIMIT 20 OFFSET 9980",
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("COVERING INDEX idx_users_id")),
            "{plan:?}"
        );
    }
    // Roll back down to (and including) the migration that made the index.
    let since_index = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261122_000008_users_id_index")
        .expect("the index migration")
        + 1;
    Migrator::down(&db, Some(since_index as u32))
        .await
        .expect("roll back to before the index migration");
    assert!(!manager.has_index("users", "idx_users_id").await.unwrap());
}

async fn down_drops_everything_and_up_works_again(db: DatabaseConnection) {
    migrate_up(&db).await;
    Migrator::down(&db, None).await.expect("migrate down");
    let manager = SchemaManager::new(&db);
    for (table, _) in TABLES {
        assert!(
            !manager.has_table(table).await.unwrap(),
            "{table} left behind"
        );
    }
    assert!(
        Migrator::get_applied_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    migrate_up(&db).await;
    for (table, _) in TABLES {
        assert!(
            manager.has_table(table).await.unwrap(),
            "{table} not recreated"
        );
    }
    // The recreated schema is usable.
    insert_company(&db, "again", "NULL").await;
}

async fn unique_company_code_is_enforced(db: DatabaseConnection) {
    migrate_up(&db).await;
    insert_company(&db, "acme", "NULL").await;
    assert_violation(
        exec(
            &db,
            &format!(
                "INSERT INTO companies (name, code, created_at, updated_at) \
                 VALUES ('Other', 'acme', {TS}, {TS})"
            ),
        )
        .await,
        is_unique,
        "a second company with code acme",
    );
    assert_eq!(count(&db, "companies", "code = 'acme'").await, 1);
}

async fn foreign_keys_are_enforced(db: DatabaseConnection) {
    migrate_up(&db).await;
    assert_violation(
        exec(
            &db,
            "INSERT INTO role_permissions (role_id, permission_id) VALUES (4242, 4242)",
        )
        .await,
        is_foreign_key,
        "role_permissions row for a missing role",
    );
    assert_violation(
        exec(
            &db,
            &format!(
                "INSERT INTO refresh_tokens (id, user_id, family_id, expires_at, created_at) \
                 VALUES ('jti', 4242, 'family', {TS}, {TS})"
            ),
        )
        .await,
        is_foreign_key,
        "refresh token of a missing user",
    );
    assert_eq!(count(&db, "role_permissions", "1 = 1").await, 0);
}

async fn defaults_and_auto_increment_ids(db: DatabaseConnection) {
    migrate_up(&db).await;
    let first = insert_company(&db, "first", "NULL").await;
    let second = insert_company(&db, "second", "NULL").await;
    assert!(second > first, "ids increase: {first} then {second}");
    let user = insert_user(&db, "alice", &first.to_string()).await;

    let sql = format!("SELECT is_active FROM companies WHERE id = {first}");
    assert!(scalar::<bool>(&db, &sql).await);
    let sql = format!("SELECT is_active FROM users WHERE id = {user}");
    assert!(scalar::<bool>(&db, &sql).await);
    let sql = format!("SELECT is_superuser FROM users WHERE id = {user}");
    assert!(!scalar::<bool>(&db, &sql).await);

    exec(
        &db,
        &format!(
            "INSERT INTO permissions (codename, name, resource, action, created_at, updated_at) \
             VALUES ('user.read', 'Read users', 'user', 'read', {TS}, {TS})"
        ),
    )
    .await
    .unwrap();
    let sql = "SELECT is_system FROM permissions WHERE codename = 'user.read'";
    assert!(!scalar::<bool>(&db, sql).await);
    let sql = "SELECT is_active FROM permissions WHERE codename = 'user.read'";
    assert!(scalar::<bool>(&db, sql).await);

    insert_role(&db, "admin", &first.to_string()).await.unwrap();
    let role: i64 = scalar(&db, "SELECT id FROM roles WHERE codename = 'admin'").await;
    exec(
        &db,
        &format!(
            "INSERT INTO user_company_roles (user_id, company_id, role_id, assigned_at) \
             VALUES ({user}, {first}, {role}, {TS})"
        ),
    )
    .await
    .unwrap();
    let sql = "SELECT is_default FROM user_company_roles";
    assert!(!scalar::<bool>(&db, sql).await);
    let sql = "SELECT is_active FROM user_company_roles";
    assert!(scalar::<bool>(&db, sql).await);
}

async fn role_codenames_are_unique_per_company_and_globally(db: DatabaseConnection) {
    migrate_up(&db).await;
    let acme = insert_company(&db, "acme", "NULL").await.to_string();
    let globex = insert_company(&db, "globex", "NULL").await.to_string();

    insert_role(&db, "admin", "NULL").await.unwrap();
    assert_violation(
        insert_role(&db, "admin", "NULL").await,
        is_unique,
        "a second global admin template (uq_roles_global_codename)",
    );
    insert_role(&db, "admin", &acme).await.unwrap();
    insert_role(&db, "admin", &globex).await.unwrap();
    assert_violation(
        insert_role(&db, "admin", &acme).await,
        is_unique,
        "a second admin role in acme (uq_roles_company_codename)",
    );
    assert_eq!(count(&db, "roles", "codename = 'admin'").await, 3);
}

async fn on_delete_actions(db: DatabaseConnection) {
    migrate_up(&db).await;
    let parent = insert_company(&db, "parent", "NULL").await;
    let child = insert_company(&db, "child", &parent.to_string()).await;
    let user = insert_user(&db, "bob", &parent.to_string()).await;
    let admin = insert_user(&db, "carol", "NULL").await;
    let member = insert_user(&db, "dave", &parent.to_string()).await;
    insert_role(&db, "editor", &parent.to_string())
        .await
        .unwrap();
    let role: i64 = scalar(&db, "SELECT id FROM roles WHERE codename = 'editor'").await;
    for sql in [
        format!(
            "INSERT INTO user_company_roles (user_id, company_id, role_id, assigned_at, assigned_by) \
             VALUES ({user}, {parent}, {role}, {TS}, {admin})"
        ),
        format!(
            "INSERT INTO groups (company_id, name, codename, created_at, updated_at) \
             VALUES ({parent}, 'Staff', 'staff', {TS}, {TS})"
        ),
        format!(
            "INSERT INTO refresh_tokens (id, user_id, family_id, expires_at, created_at) \
             VALUES ('jti-1', {user}, 'family-1', {TS}, {TS})"
        ),
        format!(
            "INSERT INTO social_accounts (user_id, provider, provider_user_id, created_at) \
             VALUES ({user}, 'github', '12345', {TS})"
        ),
        format!(
            "INSERT INTO audit_logs (actor_id, company_id, action, entity_type, entity_id, created_at) \
             VALUES ({user}, {parent}, 'create', 'company', {child}, {TS})"
        ),
    ] {
        exec(&db, &sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let group: i64 = scalar(&db, "SELECT id FROM groups WHERE codename = 'staff'").await;
    exec(
        &db,
        &format!(
            "INSERT INTO user_groups (user_id, group_id, joined_at) VALUES ({member}, {group}, {TS})"
        ),
    )
    .await
    .unwrap();

    // Deleting the assigning admin keeps the assignment, without its author.
    exec(&db, &format!("DELETE FROM users WHERE id = {admin}"))
        .await
        .unwrap();
    assert_eq!(
        count(&db, "user_company_roles", "assigned_by IS NULL").await,
        1
    );

    // Deleting a user cascades to its tokens and accounts; the audit trail stays.
    exec(&db, &format!("DELETE FROM users WHERE id = {user}"))
        .await
        .unwrap();
    assert_eq!(count(&db, "refresh_tokens", "1 = 1").await, 0);
    assert_eq!(count(&db, "social_accounts", "1 = 1").await, 0);
    assert_eq!(count(&db, "user_company_roles", "1 = 1").await, 0);
    assert_eq!(count(&db, "audit_logs", "actor_id IS NULL").await, 1);

    // Deleting a company cascades to its roles and groups (and their
    // members), orphans its child companies, unsets it as the current company
    // of its users and leaves the audit trail untouched.
    exec(&db, &format!("DELETE FROM companies WHERE id = {parent}"))
        .await
        .unwrap();
    assert_eq!(count(&db, "roles", "1 = 1").await, 0);
    assert_eq!(count(&db, "groups", "1 = 1").await, 0);
    assert_eq!(count(&db, "user_groups", "1 = 1").await, 0);
    assert_eq!(
        count(
            &db,
            "users",
            &format!("id = {member} AND current_company_id IS NULL")
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "companies",
            &format!("id = {child} AND parent_id IS NULL")
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "audit_logs", &format!("company_id = {parent}")).await,
        1
    );
}

async fn json_columns_hold_json_values(db: DatabaseConnection) {
    migrate_up(&db).await;
    exec(
        &db,
        &format!(
            "INSERT INTO audit_logs (action, entity_type, old_values, new_values, created_at) \
             VALUES ('update', 'company', NULL, '{{\"name\": \"Acme\", \"tags\": [1, 2]}}', {TS})"
        ),
    )
    .await
    .unwrap();
    let new_values: Json = scalar(&db, "SELECT new_values FROM audit_logs").await;
    let expected: Json = r#"{"name": "Acme", "tags": [1, 2]}"#.parse().unwrap();
    assert_eq!(new_values, expected);
    let old_values: Option<Json> = scalar(&db, "SELECT old_values FROM audit_logs").await;
    assert_eq!(old_values, None);
}

async fn menus_are_seeded_once_and_a_new_database_gets_no_permissions_from_the_migration(
    db: DatabaseConnection,
) {
    migrate_up(&db).await;
    assert_eq!(count(&db, "menus", "company_id IS NULL").await, 12);
    assert_eq!(
        count(&db, "permissions", "1 = 1").await,
        0,
        "bootstrap seeds them"
    );
    let account: i64 = scalar(&db, "SELECT id FROM menus WHERE name = 'account'").await;
    assert_eq!(
        count(&db, "menus", &format!("parent_id = {account}")).await,
        2,
        "sessions and profile under the account section"
    );
    assert_eq!(
        count(
            &db,
            "menus",
            "name = 'users' AND permissions = 'user.read' AND path = '/users'"
        )
        .await,
        1
    );
    // Names are unique among global entries and within a company, not across them.
    assert_violation(
        exec(
            &db,
            &format!(
                "INSERT INTO menus (name, title, created_at, updated_at) VALUES ('users', 'Again', {TS}, {TS})"
            ),
        )
        .await,
        is_unique,
        "a second global `users` (uq_menus_global_name)",
    );
    let acme = insert_company(&db, "acme", "NULL").await;
    exec(
        &db,
        &format!(
            "INSERT INTO menus (company_id, name, title, created_at, updated_at) \
             VALUES ({acme}, 'users', 'Acme users', {TS}, {TS})"
        ),
    )
    .await
    .unwrap();
}

async fn an_upgraded_database_gives_the_menu_permissions_to_its_seeded_roles_only(
    db: DatabaseConnection,
) {
    // A database seeded before menus existed: up to the migration before, then a
    // system permission, a company and its seeded roles, and a custom role.
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261206_000015_menus")
        .expect("the menus migration") as u32;
    Migrator::up(&db, Some(before))
        .await
        .expect("migrate up to before menus");
    exec(
        &db,
        &format!(
            "INSERT INTO permissions (codename, name, resource, action, is_system, created_at, updated_at) \
             VALUES ('user.read', 'Can read user', 'user', 'read', TRUE, {TS}, {TS})"
        ),
    )
    .await
    .unwrap();
    let acme = insert_company(&db, "acme", "NULL").await;
    for (codename, system) in [
        ("admin", "TRUE"),
        ("manager", "TRUE"),
        ("viewer", "TRUE"),
        ("custom", "FALSE"),
    ] {
        exec(
            &db,
            &format!(
                "INSERT INTO roles (name, codename, company_id, is_system, created_at, updated_at) \
                 VALUES ('{codename}', '{codename}', {acme}, {system}, {TS}, {TS})"
            ),
        )
        .await
        .unwrap();
    }
    migrate_up(&db).await;
    assert_eq!(
        count(
            &db,
            "permissions",
            "codename LIKE 'menu.%' AND is_system = TRUE"
        )
        .await,
        4
    );
    let granted = |role: &'static str| {
        let db = db.clone();
        async move {
            count(
                &db,
                "role_permissions rp JOIN roles r ON r.id = rp.role_id \
                 JOIN permissions p ON p.id = rp.permission_id",
                &format!("r.codename = '{role}' AND p.codename LIKE 'menu.%'"),
            )
            .await
        }
    };
    assert_eq!(granted("admin").await, 4);
    assert_eq!(granted("manager").await, 1);
    assert_eq!(granted("viewer").await, 1);
    assert_eq!(granted("custom").await, 0, "only the seeded roles");
}
