//! `spawn_app`: a real server on a random port with its own fresh database.
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::entity::user;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::audit::AuditContext;
use fastvue_core::service::roles::RoleFilter;
use fastvue_core::service::users::NewUser;
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
    spawn_app_with_settings(extra, |_| {}).await
}

/// Starts a server with extra configuration variables, after `adjust` changed the loaded
/// settings (for settings no variable sets, such as the sign-in state lifetime).
pub async fn spawn_app_with_settings(
    extra: &[(&str, &str)],
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    LazyLock::force(&TRACING);
    let db = TestDatabase::create("fastvue_api").await;
    let mut settings = test_settings(db.url(), extra);
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("server builds");
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

/// The superuser every test server is seeded with.
pub const ROOT_LOGIN: &str = "root@example.com";
/// Its password.
pub const ROOT_PASSWORD: &str = "root-password-123";
/// Password of every user made by [`TestApp::user_with_role`].
pub const USER_PASSWORD: &str = "user-password-123";

static USER_SEQ: AtomicU64 = AtomicU64::new(1);

impl TestApp {
    /// Signs in through `POST /api/v1/auth/login` and returns the access token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let res = self
            .client
            .post(format!("{}/api/v1/auth/login", self.address))
            .json(&serde_json::json!({ "username": login, "password": password }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200, "login of {login} failed");
        let body: serde_json::Value = res.json().await.expect("login body");
        body["access_token"]
            .as_str()
            .expect("access_token in the login body")
            .to_owned()
    }

    /// An access token of the seeded superuser.
    pub async fn root_token(&self) -> String {
        self.login(ROOT_LOGIN, ROOT_PASSWORD).await
    }

    /// Creates an active user (password [`USER_PASSWORD`], current company `company_id`)
    /// holding the seeded role `role_codename` of that company, signs it in and returns
    /// it with its access token.
    pub async fn user_with_role(
        &self,
        company_id: i64,
        role_codename: &str,
    ) -> (user::Model, String) {
        // Unique across test processes too: failed-login counters may live in a shared Redis.
        let n = USER_SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let username = format!("{role_codename}-{company_id}-{n}-{tag}");
        let sys = AuditContext::system();
        let created = self
            .fastvue
            .users()
            .create(
                &sys,
                NewUser {
                    email: format!("{username}@example.com"),
                    username: username.clone(),
                    password: Some(USER_PASSWORD.to_owned()),
                    current_company_id: Some(company_id),
                    ..Default::default()
                },
            )
            .await
            .expect("create user");
        let roles = self
            .fastvue
            .roles()
            .list(
                &RoleFilter {
                    company_id: Some(company_id),
                    search: Some(role_codename.to_owned()),
                    ..Default::default()
                },
                fastvue_core::pagination::PageRequest::new(Some(1), Some(100)).expect("page"),
            )
            .await
            .expect("list roles");
        let role = roles
            .items
            .into_iter()
            .find(|r| r.codename == role_codename && r.company_id == Some(company_id))
            .unwrap_or_else(|| panic!("company {company_id} has no role {role_codename}"));
        self.fastvue
            .assignments()
            .assign(
                &sys,
                created.id,
                NewAssignment {
                    company_id,
                    role_id: role.id,
                    is_default: true,
                },
            )
            .await
            .expect("assign role");
        let token = self.login(&username, USER_PASSWORD).await;
        (created, token)
    }
}
