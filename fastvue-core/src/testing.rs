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
/// The variable naming the SMTP server (`host:port`) tests send mail to
/// (`scripts/smtp-sink.sh start` prints it); without it mail goes to a per-test outbox.
pub const SMTP_VAR: &str = "FASTVUE_TEST_SMTP";
/// The Maildir where that SMTP server stores what it receives.
pub const SMTP_MAILDIR_VAR: &str = "FASTVUE_TEST_SMTP_MAILDIR";

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
/// a small pool, no Redis, a Redis key prefix derived from the database URL, mail to the
/// SMTP server of [`SMTP_VAR`] (else to a fresh outbox directory) with 1-second retries;
/// then `overrides`.
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
        ("MAIL_RETRY_SECONDS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    match server_url(SMTP_VAR) {
        Some(host_port) => {
            let (host, port) = host_port
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{SMTP_VAR} must be host:port, got {host_port:?}"));
            vars.insert("SMTP_HOST".into(), host.to_owned());
            vars.insert("SMTP_PORT".into(), port.to_owned());
            vars.insert("SMTP_TLS".into(), "none".into());
        }
        None => {
            let dir = std::env::temp_dir()
                .join("fastvue-test-outbox")
                .join(uuid::Uuid::new_v4().simple().to_string());
            vars.insert("MAIL_OUTBOX_DIR".into(), dir.display().to_string());
        }
    }
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_source(|k| vars.get(k).cloned()).expect("valid test settings")
}

/// The newest message to `to` that `settings` delivered (through the SMTP server of
/// [`SMTP_VAR`], read back from [`SMTP_MAILDIR_VAR`], or from the outbox), waiting up to
/// `timeout` for it; its headers and decoded (quoted-printable) body as text.
pub async fn wait_for_mail(
    settings: &Settings,
    to: &str,
    timeout: std::time::Duration,
) -> Option<String> {
    let dirs: Vec<PathBuf> = match &settings.mail.smtp {
        Some(_) => {
            let maildir = std::env::var(SMTP_MAILDIR_VAR)
                .unwrap_or_else(|_| panic!("{SMTP_MAILDIR_VAR} must be set with {SMTP_VAR}"));
            vec![
                PathBuf::from(&maildir).join("new"),
                PathBuf::from(maildir).join("cur"),
            ]
        }
        None => vec![settings.mail.outbox_dir.clone()],
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let needle = format!("to: {}", to.to_lowercase());
    loop {
        let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                let text = decode_quoted_printable(&raw);
                if text.lines().any(|l| l.trim_end().to_lowercase() == needle) {
                    let when = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    found.push((when, text));
                }
            }
        }
        if let Some((_, text)) = found.into_iter().max_by_key(|(when, _)| *when) {
            return Some(text);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// How many messages to `to` were delivered so far (see [`wait_for_mail`]).
pub fn mail_count(settings: &Settings, to: &str) -> usize {
    let dirs: Vec<PathBuf> = match &settings.mail.smtp {
        Some(_) => {
            let maildir = std::env::var(SMTP_MAILDIR_VAR).unwrap_or_default();
            vec![
                PathBuf::from(&maildir).join("new"),
                PathBuf::from(maildir).join("cur"),
            ]
        }
        None => vec![settings.mail.outbox_dir.clone()],
    };
    let needle = format!("to: {}", to.to_lowercase());
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|raw| raw.lines().any(|l| l.trim_end().to_lowercase() == needle))
        .count()
}

/// Soft line breaks joined and `=XX` escapes decoded (the body of a plain-text mail).
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first `http(s)://...` link in `text` whose path contains `path` (e.g.
/// `/reset-password?token=`), up to the next whitespace.
pub fn link_in(text: &str, path: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .map(str::to_owned)
}
