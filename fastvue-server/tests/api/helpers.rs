//! `spawn_app`: a real server on a random port with its own fresh database.
use std::sync::LazyLock;

use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::testing::{self, REDIS_VAR, TestDatabase};
use fastvue_server::startup::Application;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    }
});

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The server's own core handle, for arranging fixtures directly.
    pub fastvue: Fastvue,
    _db: TestDatabase,
}

/// Settings for a test server: the core test settings, a known superuser, any free port.
pub fn test_settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("FASTVUE_ADMIN_EMAIL", "root@example.com"),
        ("FASTVUE_ADMIN_PASSWORD", "root-password-123"),
    ];
    vars.extend_from_slice(extra);
    let mut settings = testing::settings(database_url, &vars);
    settings.port = 0; // any free port; PORT itself must be 1-65535
    settings
}

/// Redis for tests: FASTVUE_TEST_REDIS_URL when set (the PostgreSQL + Redis CI run).
pub fn test_redis_url() -> Option<String> {
    testing::server_url(REDIS_VAR)
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
    let db = TestDatabase::create("fastvue_api").await;
    let app = Application::build(test_settings(db.url(), extra))
        .await
        .expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let fastvue = app.fastvue().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        fastvue,
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
