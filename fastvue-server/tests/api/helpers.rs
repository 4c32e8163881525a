//! `spawn_app`: a real server on a random port with its own fresh database.
use std::collections::HashMap;
use std::sync::LazyLock;

use fastvue_core::config::Settings;
use fastvue_server::startup::Application;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    }
});

/// The database a test runs on: a fresh PostgreSQL database when
/// FASTVUE_TEST_DATABASE_URL names a server, else a fresh SQLite file.
pub struct TestDatabase {
    pub url: String,
    cleanup: Option<(String, String)>,
    sqlite_path: Option<std::path::PathBuf>,
}

impl TestDatabase {
    async fn create() -> Self {
        let name = format!("fastvue_api_{}", uuid::Uuid::new_v4().simple());
        match std::env::var("FASTVUE_TEST_DATABASE_URL") {
            Ok(server) if !server.is_empty() => {
                use fastvue_core::db::admin;
                admin::create_database(&server, &name)
                    .await
                    .expect("create test database");
                Self {
                    url: admin::database_url(&server, &name),
                    cleanup: Some((server, name)),
                    sqlite_path: None,
                }
            }
            _ => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: None,
                    sqlite_path: Some(path),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = self.cleanup.take() {
            // Drop the database on a fresh runtime: the test's runtime may be shutting down.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(fastvue_core::db::admin::drop_database(&server, &name));
                }
            })
            .join();
        }
        if let Some(path) = self.sqlite_path.take() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    _db: TestDatabase,
}

/// Settings for a test server: cheap argon2, any free port, the given database.
pub fn test_settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("ARGON2_MEMORY_KIB", "64"),
        ("ARGON2_ITERATIONS", "1"),
        ("ARGON2_PARALLELISM", "1"),
        ("DB_POOL_SIZE", "1"),
        ("DB_MAX_OVERFLOW", "4"),
        ("FASTVUE_ADMIN_EMAIL", "root@example.com"),
        ("FASTVUE_ADMIN_PASSWORD", "root-password-123"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut settings =
        Settings::from_source(|k| vars.get(k).cloned()).expect("valid test settings");
    settings.port = 0; // any free port; PORT itself must be 1-65535
    settings
}

/// Redis for tests: FASTVUE_TEST_REDIS_URL when set (the PostgreSQL + Redis CI run).
pub fn test_redis_url() -> Option<String> {
    std::env::var("FASTVUE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Starts a server on a fresh database (and Redis when FASTVUE_TEST_REDIS_URL is set).
pub async fn spawn_app() -> TestApp {
    let redis = test_redis_url();
    let extra: Vec<(&str, &str)> = redis.iter().map(|u| ("REDIS_URL", u.as_str())).collect();
    spawn_app_with(&extra).await
}

/// Starts a server with extra configuration variables.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    LazyLock::force(&TRACING);
    let db = TestDatabase::create().await;
    let app = Application::build(test_settings(&db.url, extra))
        .await
        .expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        _db: db,
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }
}
