//! `spawn_app`: a real server on a random port with its own fresh database, and the
//! scanning [`Client`] every test talks to it through.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use fastvue_core::Actor;
use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::entity::user;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::roles::RoleFilter;
use fastvue_core::service::users::NewUser;
use fastvue_core::testing::{self, REDIS_VAR, TestDatabase};
use fastvue_server::startup::Application;
use reqwest::Method;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    }
});

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    /// Follows redirects; every response body is scanned for secrets (see [`Client`]).
    pub client: Client,
    /// The server's own core handle, for arranging fixtures directly.
    pub fastvue: Fastvue,
    _db: Option<TestDatabase>,
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
    let secrets = Arc::new(Secrets::of(fastvue.settings()));
    TestApp {
        address,
        client: Client::new(secrets, true),
        fastvue,
        _db: Some(db),
    }
}

impl TestApp {
    /// A client for a server already running at `address` (another process) whose
    /// database `fastvue` opens; keeps `db` (when given) until dropped.
    pub fn attach(address: String, fastvue: Fastvue, db: Option<TestDatabase>) -> Self {
        LazyLock::force(&TRACING);
        let secrets = Arc::new(Secrets::of(fastvue.settings()));
        TestApp {
            address,
            client: Client::new(secrets, true),
            fastvue,
            _db: db,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// A client like [`TestApp::client`] that does not follow redirects.
    pub fn client_without_redirects(&self) -> Client {
        Client::new(self.client.secrets.clone(), false)
    }

    /// Fails the test if `body`, received from this server outside [`Client`] (a raw
    /// connection), holds a secret.
    pub fn scan_body(&self, what: &str, body: &[u8]) {
        self.client.secrets.scan(what, body);
    }
}

// --- the secret scan ---------------------------------------------------------------

/// What no response body may contain: password hashes, the server's signing keys and
/// OAuth client secret, and the passwords the tests sign in with. Tokens are fine: a
/// login answers with them by design, and they reveal no key.
#[derive(Debug)]
pub struct Secrets {
    needles: Vec<(&'static str, String)>,
}

impl Secrets {
    fn of(settings: &Settings) -> Self {
        let mut needles = vec![
            ("an argon2 password hash", "$argon2".to_owned()),
            ("SECRET_KEY", settings.secret_key.expose().to_owned()),
            (
                "JWT_SECRET_KEY",
                settings.jwt_secret_key.expose().to_owned(),
            ),
            ("the superuser's password", ROOT_PASSWORD.to_owned()),
            ("the test users' password", USER_PASSWORD.to_owned()),
        ];
        for p in &settings.oauth.providers {
            needles.push((
                "a provider's client secret",
                p.client_secret.expose().to_owned(),
            ));
        }
        Self { needles }
    }

    /// Panics, naming the request and the kind of secret (never its value), when `body`
    /// contains one.
    fn scan(&self, what: &str, body: &[u8]) {
        let text = String::from_utf8_lossy(body);
        for (name, needle) in &self.needles {
            assert!(
                !text.contains(needle.as_str()),
                "the response to {what} contains {name}"
            );
        }
    }
}

/// A `reqwest` client whose [`RequestBuilder::send`] reads the whole response body and
/// scans it with [`Secrets`] before the test sees it: every request of the API tests goes
/// through here (or, for raw connections, [`TestApp::scan_body`]).
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    secrets: Arc<Secrets>,
}

impl Client {
    /// A scanning client for a server started outside this process with `settings`.
    pub fn for_settings(settings: &Settings) -> Self {
        Self::new(Arc::new(Secrets::of(settings)), true)
    }

    fn new(secrets: Arc<Secrets>, follow_redirects: bool) -> Self {
        let policy = if follow_redirects {
            reqwest::redirect::Policy::default()
        } else {
            reqwest::redirect::Policy::none()
        };
        let inner = reqwest::Client::builder()
            .redirect(policy)
            .build()
            .expect("a client");
        Self { inner, secrets }
    }

    pub fn request(&self, method: Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        RequestBuilder {
            inner: self.inner.request(method, url),
            secrets: self.secrets.clone(),
        }
    }

    pub fn get(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn put(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    pub fn delete(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }
}

/// A request being built; see [`Client`].
#[derive(Debug)]
pub struct RequestBuilder {
    inner: reqwest::RequestBuilder,
    secrets: Arc<Secrets>,
}

impl RequestBuilder {
    fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self {
            inner: f(self.inner),
            secrets: self.secrets,
        }
    }

    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|r| r.json(body))
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|r| r.body(body))
    }

    pub fn header(self, name: &str, value: impl std::fmt::Display) -> Self {
        self.map(|r| r.header(name, value.to_string()))
    }

    pub fn bearer_auth(self, token: impl std::fmt::Display) -> Self {
        self.map(|r| r.bearer_auth(token))
    }

    /// Sends the request, reads the whole body and scans it.
    pub async fn send(self) -> reqwest::Result<Response> {
        let res = self.inner.send().await?;
        let what = format!("{}", res.url());
        let (status, headers, url) = (res.status(), res.headers().clone(), res.url().clone());
        let body = res.bytes().await?.to_vec();
        self.secrets.scan(&what, &body);
        Ok(Response {
            status,
            headers,
            url,
            body,
        })
    }
}

/// A response whose body was read and scanned.
#[derive(Debug)]
pub struct Response {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    url: reqwest::Url,
    body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> reqwest::StatusCode {
        self.status
    }

    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    pub async fn bytes(self) -> Result<Vec<u8>, std::convert::Infallible> {
        Ok(self.body)
    }

    pub async fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body)
    }

    pub async fn json<T: serde::de::DeserializeOwned>(self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
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
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!(status, 200, "login of {login} failed: {body}");
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
        let sys = Actor::system();
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
                &Actor::system(),
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
                    scope: Default::default(),
                },
            )
            .await
            .expect("assign role");
        let token = self.login(&username, USER_PASSWORD).await;
        (created, token)
    }
}

/// The assignments of `user_id` (in `company_id` only, when given), read as the system.
pub async fn assignments_of(
    fv: &Fastvue,
    user_id: i64,
    company_id: Option<i64>,
) -> Vec<fastvue_core::service::assignments::AssignmentView> {
    let mut views = fv
        .assignments()
        .of_user(&Actor::system(), user_id)
        .await
        .expect("assignments");
    if let Some(c) = company_id {
        views.retain(|v| v.assignment.company_id == c);
    }
    views
}
