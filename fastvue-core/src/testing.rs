//! Test support (feature `test-support`): a fresh database per test, removed on drop,
//! and a [`TcpProxy`] to make a real server look down or hung to one process.
//!
//! With `FASTVUE_TEST_DATABASE_URL` naming a PostgreSQL server, each [`TestDatabase`]
//! is a new database on it, dropped `WITH (FORCE)` when the value is dropped (also when
//! the test panics). Otherwise it is a fresh SQLite file in the temp directory. The same
//! test bodies therefore run on either backend.
use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::Settings;
use crate::db::admin;

mod proxy;
pub use proxy::{ProxyMode, TcpProxy};

/// The variable naming the PostgreSQL server tests run against.
pub const DATABASE_VAR: &str = "FASTVUE_TEST_DATABASE_URL";
/// The variable naming the Redis server tests run against.
pub const REDIS_VAR: &str = "FASTVUE_TEST_REDIS_URL";

/// Which engine a test database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A database on the PostgreSQL server of [`DATABASE_VAR`].
    Postgres,
}

/// One test's database; dropping it removes the database.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

impl TestDatabase {
    /// Creates a fresh, empty database named `{prefix}_{uuid}`. Panics when the
    /// PostgreSQL server of [`DATABASE_VAR`] cannot be reached (tests must fail, not skip).
    pub async fn create(prefix: &str) -> Self {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        match server_url(DATABASE_VAR) {
            Some(server) => {
                // Armed before the database exists: whatever fails next, it is dropped.
                let db = Self {
                    url: admin::database_url(&server, &name),
                    backend: Backend::Postgres,
                    cleanup: Cleanup::Postgres {
                        server: server.clone(),
                        name: name.clone(),
                    },
                };
                admin::create_database(&server, &name)
                    .await
                    .unwrap_or_else(|e| panic!("{DATABASE_VAR}: cannot create {name}: {e}"));
                db
            }
            None => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend: Backend::Sqlite,
                    cleanup: Cleanup::Sqlite(path),
                }
            }
        }
    }

    /// [`TestDatabase::create`] for synchronous tests (runs on its own runtime).
    pub fn create_blocking(prefix: &str) -> Self {
        let prefix = prefix.to_owned();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test runtime")
                .block_on(Self::create(&prefix))
        })
        .join()
        .expect("test database creation")
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            Cleanup::Postgres { server, name } => {
                let (server, name) = (server.clone(), name.clone());
                // A fresh runtime on its own thread: the test's runtime may be shutting
                // down, and a panic in drop while unwinding would abort the run.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return eprintln!("cannot drop test database {name}: no runtime");
                    };
                    if let Err(e) = rt.block_on(admin::drop_database(&server, &name)) {
                        eprintln!("cannot drop test database {name}: {e}");
                    }
                })
                .join();
            }
        }
    }
}

/// The URL in `var`, when set and not blank.
pub fn server_url(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Settings for tests: the given database, the cheapest argon2 the validation allows,
/// a small pool, no Redis, a Redis key prefix derived from the database URL; then
/// `overrides`.
pub fn settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    // Handles on one test database share a Redis key space; other tests' do not, so
    // tests running at once on one Redis never see each other's keys or messages.
    let key_prefix = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        database_url.hash(&mut h);
        format!("test:{:016x}:", h.finish())
    };
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("REDIS_KEY_PREFIX", key_prefix.as_str()),
        ("ARGON2_MEMORY_KIB", "8"),
        ("ARGON2_ITERATIONS", "1"),
        ("ARGON2_PARALLELISM", "1"),
        ("DB_POOL_SIZE", "1"),
        ("DB_MAX_OVERFLOW", "4"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_source(|k| vars.get(k).cloned()).expect("valid test settings")
}
