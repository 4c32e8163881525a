//! Database connection: pool sizing from settings, SQLite pragmas, migrations.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    RuntimeErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::Settings;
use crate::error::{Error, Result};

/// How long SQLite waits on a locked database before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The connect options `settings` ask for: minimum = DB_POOL_SIZE, maximum =
/// DB_POOL_SIZE + DB_MAX_OVERFLOW, acquire timeout = DB_POOL_TIMEOUT, max lifetime =
/// DB_POOL_RECYCLE. SQLite gets WAL, `foreign_keys=ON` and a busy timeout.
pub fn connect_options(settings: &Settings) -> ConnectOptions {
    let pool = &settings.db_pool;
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.min_connections(pool.min_connections())
        .max_connections(pool.max_connections())
        .acquire_timeout(pool.pool_timeout)
        .connect_timeout(pool.pool_timeout)
        .max_lifetime(pool.pool_recycle)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    opts
}

/// Connects with [`connect_options`].
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection> {
    Database::connect(connect_options(settings))
        .await
        .map_err(|e| match e {
            sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_) => Error::Unavailable(e),
            other => Error::Internal(format!("cannot connect to the database: {other}")),
        })
}

/// Starts a write transaction on `db` (see [`crate::Fastvue::begin_write`]): on SQLite
/// `BEGIN IMMEDIATE`, which PostgreSQL ignores.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}

/// PostgreSQL advisory-lock key that serialises start-up work (migrations, seeding)
/// across replicas starting at the same time over one database.
pub const STARTUP_LOCK_KEY: i64 = 0x0066_6173_7476_7565; // "fastvue"

/// Applies every pending migration. On PostgreSQL it holds the start-up advisory lock
/// ([`STARTUP_LOCK_KEY`]) meanwhile, so replicas starting together migrate one after the
/// other (the later ones find nothing pending) instead of racing on the same DDL. On
/// SQLite, handles in one process take turns; run one process's migrations at a time.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _turn = IN_PROCESS.lock().await;
        return Migrator::up(db, None).await.map_err(Error::from);
    }
    // A connection taken out of the pool holds the session lock; closing it (or dropping
    // it, should anything panic) ends the session and so releases the lock.
    let mut conn = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(|e| Error::Unavailable(DbErr::Conn(RuntimeErr::SqlxError(e.into()))))?
        .detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(STARTUP_LOCK_KEY)
        .execute(&mut conn)
        .await
        .map_err(|e| Error::from(DbErr::Exec(RuntimeErr::SqlxError(e.into()))))?;
    let result = Migrator::up(db, None).await.map_err(Error::from);
    // Closing ends the session, which releases the lock; a failed close drops the socket.
    let _ = sqlx::Connection::close(conn).await;
    result
}

/// Rolls back the last `steps` migrations (all of them with `None`).
pub async fn rollback(db: &DatabaseConnection, steps: Option<u32>) -> Result<()> {
    Migrator::down(db, steps).await.map_err(Error::from)
}

/// Rolls back every migration (each `down` drops its own tables, in dependency order, so
/// this also works on SQLite with foreign keys on) and applies them all again.
pub async fn fresh(db: &DatabaseConnection) -> Result<()> {
    Migrator::down(db, None).await?;
    Migrator::up(db, None).await.map_err(Error::from)
}

/// Every known migration with whether it is applied, in order.
pub async fn migration_status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>> {
    let pending = pending_migrations(db).await?;
    Ok(Migrator::migrations()
        .iter()
        .map(|m| {
            let name = m.name().to_owned();
            let applied = !pending.contains(&name);
            (name, applied)
        })
        .collect())
}

/// Names of migrations not yet applied.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>> {
    Ok(Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect())
}

/// Creating and dropping whole PostgreSQL databases (test harnesses, `fastvue check`).
pub mod admin {
    use sea_orm::{ConnectionTrait, Database};

    use crate::error::{Error, Result};

    fn checked(name: &str) -> Result<&str> {
        if !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            Ok(name)
        } else {
            Err(Error::invalid(
                "database",
                "must be 1 to 63 letters, digits or '_'",
            ))
        }
    }

    /// `server_url` with its database path replaced by `name`.
    pub fn database_url(server_url: &str, name: &str) -> String {
        let (base, query) = match server_url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (server_url, None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let root = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        match query {
            Some(q) => format!("{root}/{name}?{q}"),
            None => format!("{root}/{name}"),
        }
    }

    /// `CREATE DATABASE name` on the server of `server_url`.
    pub async fn create_database(server_url: &str, name: &str) -> Result<()> {
        let name = checked(name)?;
        let conn = Database::connect(server_url).await?;
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        conn.close().await?;
        Ok(())
    }

    /// `DROP DATABASE IF EXISTS name WITH (FORCE)` on the server of `server_url`.
    pub async fn drop_database(server_url: &str, name: &str) -> Result<()> {
        let name = checked(name)?;
        let conn = Database::connect(server_url).await?;
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
        conn.close().await?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn database_url_replaces_only_the_path() {
            assert_eq!(
                database_url("postgres://u@h:5432/postgres", "x1"),
                "postgres://u@h:5432/x1"
            );
            assert_eq!(
                database_url("postgres://u@h:5432", "x1"),
                "postgres://u@h:5432/x1"
            );
            assert_eq!(
                database_url("postgres://u@h/db?sslmode=disable", "x1"),
                "postgres://u@h/x1?sslmode=disable"
            );
        }

        #[test]
        fn hostile_database_names_are_refused() {
            assert!(checked("a\"; DROP TABLE x; --").is_err());
            assert!(checked("").is_err());
            assert!(checked("fastvue_test_1").is_ok());
        }
    }
}
