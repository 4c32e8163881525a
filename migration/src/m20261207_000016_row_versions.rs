//! `row_versions`: a number per table group that every committed change of those rows
//! increases, kept by triggers, so a reader can tell whether anything changed since it
//! last looked without reading the rows.
//!
//! One group today, `users`: inserts and deletes of `users` and `user_company_roles`,
//! and updates of the columns a users list filters on (`email`, `username`, `full_name`,
//! `is_active`, `is_superuser`; `user_id`, `company_id`, `is_active` of an assignment).
//! Signing in (`last_login_at`) and password changes do not count. The users list keeps
//! the exact `total` of a filter under the version it was counted at, so a deep numbered
//! page no longer counts 100k rows per request.
//!
//! The triggers cover every writer, fastvue's services, `data load`, foreign-key
//! cascades and an operator's own SQL alike.
//! - PostgreSQL: deferred constraint triggers, so the version row is locked only while
//!   the transaction commits (it waits on no other lock after taking it: no deadlock),
//!   and bumped once per transaction (a transaction-local setting remembers it), plus a
//!   statement trigger for `TRUNCATE`.
//! - SQLite: row triggers (one writer at a time, so nothing to defer).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `row_versions` with the `users` row and the triggers that keep it.
#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

/// The watched tables and the updated columns that count, per table.
const WATCHED: [(&str, &str); 2] = [
    (
        "users",
        "email, username, full_name, is_active, is_superuser",
    ),
    ("user_company_roles", "user_id, company_id, is_active"),
];

const BUMP: &str = "UPDATE row_versions SET version = version + 1 WHERE name = 'users'";

// See m20261122_000007_api_keys for the lifetime allowance.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE row_versions (name VARCHAR(32) NOT NULL PRIMARY KEY, \
             version BIGINT NOT NULL DEFAULT 0)",
        )
        .await?;
        db.execute_unprepared("INSERT INTO row_versions (name, version) VALUES ('users', 0)")
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION fastvue_bump_users_version() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     IF current_setting('fastvue.users_version_bumped', true) \
                        IS DISTINCT FROM txid_current()::text THEN \
                       PERFORM set_config('fastvue.users_version_bumped', \
                                          txid_current()::text, true); \
                       {BUMP}; \
                     END IF; \
                     RETURN NULL; END $$"
                ))
                .await?;
                for (table, columns) in WATCHED {
                    db.execute_unprepared(&format!(
                        "CREATE CONSTRAINT TRIGGER {table}_version \
                         AFTER INSERT OR DELETE OR UPDATE OF {columns} ON {table} \
                         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
                         EXECUTE FUNCTION fastvue_bump_users_version()"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_version_truncate AFTER TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION fastvue_bump_users_version()"
                    ))
                    .await?;
                }
            }
            _ => {
                for (table, columns) in WATCHED {
                    for (suffix, event) in [
                        ("insert", "INSERT".to_owned()),
                        ("delete", "DELETE".to_owned()),
                        ("update", format!("UPDATE OF {columns}")),
                    ] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_version_{suffix} AFTER {event} ON {table} \
                             BEGIN {BUMP}; END"
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for (table, _) in WATCHED {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS {table}_version ON {table}"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS {table}_version_truncate ON {table}"
                    ))
                    .await?;
                }
                db.execute_unprepared("DROP FUNCTION IF EXISTS fastvue_bump_users_version()")
                    .await?;
            }
            _ => {
                for (table, _) in WATCHED {
                    for suffix in ["insert", "delete", "update"] {
                        db.execute_unprepared(&format!(
                            "DROP TRIGGER IF EXISTS {table}_version_{suffix}"
                        ))
                        .await?;
                    }
                }
            }
        }
        db.execute_unprepared("DROP TABLE row_versions").await?;
        Ok(())
    }
}
