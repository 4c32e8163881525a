//! Typed application configuration, loaded once from environment variables.
//!
//! [`Settings::from_env`] reads the process environment, layered over an
//! optional `.env` file in the current directory (variables already present
//! in the process environment win). [`Settings::from_source`] is the pure
//! core: it takes any lookup function, which makes configuration testable
//! without touching the process environment.
//!
//! Every variable is validated and *all* problems are reported together in a
//! [`ConfigError`], one [`ConfigProblem`] per offending variable. Messages
//! never contain secret values.
//!
//! Conventions shared by all variables:
//!
//! * a variable set to the empty string (or only whitespace) counts as unset;
//! * surrounding whitespace is trimmed from non-secret values (secret values
//!   are taken verbatim);
//! * booleans accept `true/false`, `1/0`, `yes/no` and `on/off`, in any case;
//! * enumerated values (`ENVIRONMENT`, `LOG_FORMAT`, `JWT_ALGORITHM`) are
//!   matched case-insensitively;
//! * durations are whole numbers of seconds (unless the variable name says
//!   minutes or days).

use std::collections::HashMap;
use std::env::VarError;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::proxy::{IpNet, TrustedProxies};

mod oauth;

pub use oauth::{
    GITHUB_API_URL, GITHUB_AUTH_URL, GITHUB_TOKEN_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL, JWKS_MIN_REFRESH, MAX_PROVIDERS, OAUTH_STATE_TTL, OAuthSettings, Protocol,
    ProviderSettings,
};

/// Insecure signing key used for `SECRET_KEY` outside production when the
/// variable is unset. Never use it for a deployed system: production refuses
/// to start with it.
pub const DEV_SECRET_KEY: &str = "INSECURE-development-only-secret-key-do-not-deploy";

/// Insecure signing key used for `JWT_SECRET_KEY` outside production when the
/// variable is unset. Never use it for a deployed system: production refuses
/// to start with it.
pub const DEV_JWT_SECRET_KEY: &str = "INSECURE-development-only-jwt-secret-key-do-not-deploy";

/// Minimum length, in bytes, of `SECRET_KEY` and `JWT_SECRET_KEY` in
/// production and staging.
pub const MIN_SECRET_BYTES: usize = 32;

const DEFAULT_DATABASE_URL: &str = "sqlite://fastvue.db?mode=rwc";
const DOTENV_FILE: &str = ".env";

/// Placeholder printed instead of secret material.
const REDACTED: &str = "[redacted]";

/// Deployment environment, from `ENVIRONMENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Environment {
    /// Local development (the default): shipped development secrets allowed.
    #[default]
    Development,
    /// Pre-production: like development, but explicitly set secrets must be
    /// at least [`MIN_SECRET_BYTES`] long.
    Staging,
    /// Production: strong secrets are mandatory and `DEBUG` must be off.
    Production,
}

impl Environment {
    /// Whether this is the production environment.
    pub fn is_production(self) -> bool {
        self == Self::Production
    }

    /// The lowercase name as accepted in `ENVIRONMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Log output format, from `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Human-readable, multi-line output (default outside production).
    Pretty,
    /// One JSON object per line (default in production).
    Json,
}

impl LogFormat {
    /// The lowercase name as accepted in `LOG_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HMAC algorithm used to sign JWTs, from `JWT_ALGORITHM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 (the default).
    #[default]
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl JwtAlgorithm {
    /// The JOSE name of the algorithm (`"HS256"`, `"HS384"` or `"HS512"`),
    /// as used in a JWT header's `alg` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string (key, password, client secret).
///
/// Its [`Debug`](fmt::Debug) and [`Display`](fmt::Display) output is always
/// `[redacted]`, so it can sit inside structs that are logged. Use
/// [`Secret::expose`] to get at the value where it is really needed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Database connection pool sizing, mirroring the `SQLAlchemy` pool options of the former Python backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbPoolSettings {
    /// Connections kept open permanently (`DB_POOL_SIZE`, at least 1, default 5).
    pub pool_size: u32,
    /// Extra connections allowed above `pool_size` under load
    /// (`DB_MAX_OVERFLOW`, default 10).
    pub max_overflow: u32,
    /// How long to wait for a free connection (`DB_POOL_TIMEOUT` seconds,
    /// at least 1, default 30).
    pub pool_timeout: Duration,
    /// Maximum lifetime of a connection before it is replaced
    /// (`DB_POOL_RECYCLE` seconds, at least 1, default 3600).
    pub pool_recycle: Duration,
}

impl DbPoolSettings {
    /// Minimum number of open connections: `pool_size`.
    pub fn min_connections(&self) -> u32 {
        self.pool_size
    }

    /// Maximum number of open connections: `pool_size + max_overflow`
    /// (saturating at `u32::MAX`).
    pub fn max_connections(&self) -> u32 {
        self.pool_size.saturating_add(self.max_overflow)
    }
}

/// Redis connection settings. Redis is optional: without a URL the
/// application runs with in-process caching only.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `REDIS_URL`, a `redis://` or `rediss://` URL; `None` when unset. May
    /// contain a password: this struct's `Debug` output masks it.
    pub url: Option<String>,
    /// Maximum pooled connections (`REDIS_POOL_SIZE`, at least 1, default 16).
    pub pool_size: u32,
    /// How long to wait for a pooled connection (`REDIS_POOL_TIMEOUT` seconds,
    /// at least 1, default 5).
    pub pool_timeout: Duration,
    /// Prefix of every Redis key and channel (`REDIS_KEY_PREFIX`, default empty:
    /// the documented names). Letters, digits and `:_.-` only.
    pub key_prefix: String,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("pool_size", &self.pool_size)
            .field("pool_timeout", &self.pool_timeout)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// Caching settings. Its `Debug` output hides the password of `listen_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Master switch for caching (`CACHE_ENABLED`, default true).
    pub enabled: bool,
    /// Default time-to-live of general cache entries (`CACHE_DEFAULT_TTL`
    /// seconds, default 300; zero is accepted and its meaning is left to the
    /// cache layer).
    pub default_ttl: Duration,
    /// Time-to-live of cached permission sets (`PERMISSION_CACHE_TTL`
    /// seconds, at least 1, default 3600).
    pub permission_ttl: Duration,
    /// Capacity of the in-process permission cache
    /// (`PERMISSION_CACHE_MAX_ENTRIES`, at least 1, default 1 000 000).
    pub permission_max_entries: u64,
    /// `MAX_STALENESS_MS`: on PostgreSQL, the longest a change committed through any
    /// replica may go unheeded by another (200 to 60 000 ms, default 1 000): past it a
    /// replica that cannot prove it hears every change stops caching.
    pub max_staleness: Duration,
    /// `DATABASE_LISTEN_URL`: the PostgreSQL session the invalidation feed listens on
    /// (default: `DATABASE_URL`; set it to a direct connection when `DATABASE_URL` goes
    /// through a transaction-pooling PgBouncer, which cannot `LISTEN`).
    pub listen_url: Option<String>,
}

impl fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheSettings")
            .field("enabled", &self.enabled)
            .field("default_ttl", &self.default_ttl)
            .field("permission_ttl", &self.permission_ttl)
            .field("permission_max_entries", &self.permission_max_entries)
            .field("max_staleness", &self.max_staleness)
            .field("listen_url", &self.listen_url.as_deref().map(redact_url))
            .finish()
    }
}

/// Server-Sent Events settings of `GET /api/v1/auth/me/permissions/stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseSettings {
    /// `SSE_MAX_STREAMS_PER_USER`: open streams one user may hold on one server
    /// process (at least 1, default 5); opening one more closes the oldest.
    pub max_streams_per_user: usize,
    /// `SSE_HEARTBEAT_SECONDS`: interval of the comment heartbeat (at least 1,
    /// default 15).
    pub heartbeat: Duration,
    /// `SSE_QUEUE_SIZE`: change notifications queued per stream before it falls back
    /// to a resync (at least 1, default 16).
    pub queue_size: usize,
}

/// Argon2id password-hashing cost parameters. Defaults are the OWASP
/// recommendation (19 MiB, 2 iterations, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    /// Memory cost in KiB (`ARGON2_MEMORY_KIB`, default 19456; at least
    /// 8 × `parallelism`).
    pub memory_kib: u32,
    /// Time cost (`ARGON2_ITERATIONS`, at least 1, default 2).
    pub iterations: u32,
    /// Degree of parallelism (`ARGON2_PARALLELISM`, 1 to 16, default 1).
    pub parallelism: u32,
}

/// Bounds on the work any request can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// `PASSWORD_HASH_CONCURRENCY`: argon2 hashes run at once (0, the default: one per
    /// CPU core). Each takes `ARGON2_MEMORY_KIB` of memory.
    pub hash_concurrency: u32,
    /// `PASSWORD_HASH_QUEUE`: hashes waiting for a slot (default 16); past it sign-ins
    /// and password changes answer 503 with `Retry-After` at once.
    pub hash_queue: u32,
    /// `RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE`: sign-in attempts (any username, any outcome)
    /// allowed per client IP per minute (default 60).
    pub login_per_ip_per_minute: u32,
    /// `RATE_LIMIT_OAUTH_PER_IP_PER_MINUTE`: provider sign-ins started per client IP per
    /// minute (default 30).
    pub oauth_per_ip_per_minute: u32,
    /// `RATE_LIMIT_MAIL_PER_IP_PER_MINUTE`: password-reset and verification mails asked
    /// for per client IP per minute (default 10).
    pub mail_per_ip_per_minute: u32,
    /// `RATE_LIMIT_MAIL_PER_ADDRESS_PER_MINUTE`: such mails asked for per email address
    /// per minute (default 3), whether or not an account has that address.
    pub mail_per_address_per_minute: u32,
    /// `REQUEST_TIMEOUT_SECONDS`: longest time a request may take before it is answered
    /// 503 (default 30; the permission stream is exempt).
    pub request_timeout: Duration,
}

/// The complete, validated application configuration.
///
/// Build it once at start-up with [`Settings::from_env`] (or
/// [`Settings::from_source`] in tests) and share it. The fields are public
/// for reading; its `Debug` output masks secrets and URL passwords.
#[derive(Clone)]
pub struct Settings {
    /// `ENVIRONMENT`: development (default), staging or production.
    pub environment: Environment,
    /// `DEBUG` (default false; refused in production).
    pub debug: bool,
    /// `LOG_LEVEL`: a `tracing_subscriber::EnvFilter` directive string such as
    /// `info` or `fastvue=debug,sea_orm=warn` (default `info`; not validated
    /// here).
    pub log_level: String,
    /// `LOG_FORMAT`: json in production by default, pretty otherwise.
    pub log_format: LogFormat,
    /// `HOST` to bind the HTTP server to (default `127.0.0.1`).
    pub host: String,
    /// `PORT` to bind the HTTP server to (1 to 65535, default 8000).
    pub port: u16,
    /// `DATABASE_URL`, starting with `sqlite:`, `postgres://` or
    /// `postgresql://` (default `sqlite://fastvue.db?mode=rwc`). May contain a
    /// password; see [`Settings::redacted_database_url`] for logging.
    pub database_url: String,
    /// `SECRET_KEY`, the general application signing key.
    pub secret_key: Secret,
    /// `JWT_SECRET_KEY`, the key used to sign JWTs.
    pub jwt_secret_key: Secret,
    /// `JWT_ALGORITHM`: HS256 (default), HS384 or HS512.
    pub jwt_algorithm: JwtAlgorithm,
    /// `ACCESS_TOKEN_EXPIRE_MINUTES` (at least 1, default 30).
    pub access_token_expire_minutes: u32,
    /// `REFRESH_TOKEN_EXPIRE_DAYS` (at least 1, default 7).
    pub refresh_token_expire_days: u32,
    /// Database pool sizing (`DB_POOL_*`, `DB_MAX_OVERFLOW`).
    pub db_pool: DbPoolSettings,
    /// `FASTVUE_REPLICAS`: how many server processes share the database (at least 1,
    /// default 1). Only `fastvue check` reads it, to size the connection budget
    /// `(DB_POOL_SIZE + DB_MAX_OVERFLOW) x FASTVUE_REPLICAS + 10` against PostgreSQL's
    /// `max_connections`.
    pub replicas: u32,
    /// Redis settings (`REDIS_*`).
    pub redis: RedisSettings,
    /// Cache settings (`CACHE_*`, `PERMISSION_CACHE_*`).
    pub cache: CacheSettings,
    /// `BACKEND_CORS_ORIGINS`: allowed CORS origins such as
    /// `https://app.example.com`, without trailing slash. Empty means no
    /// cross-origin access.
    pub backend_cors_origins: Vec<String>,
    /// `ALLOWED_HOSTS`: accepted `Host` header values; empty means any host.
    /// Patterns such as `*` or `*.example.com` are passed through unchanged.
    pub allowed_hosts: Vec<String>,
    /// `FRONTEND_URL`: the http(s) URL of the web frontend, if known.
    pub frontend_url: Option<String>,
    /// Outgoing mail (`SMTP_*`, `MAIL_*`, `PUBLIC_URL`).
    pub mail: MailSettings,
    /// `SIGN_IN_HISTORY_DAYS`: how long sign-in successes and failures are kept (1 to
    /// 3650, default 90).
    pub sign_in_history_days: u32,
    /// `TOTP_ISSUER`: the name authenticator apps show beside a two-factor entry
    /// (default `fastvue-rs`; no `:`).
    pub totp_issuer: String,
    /// `TRUSTED_PROXIES`: comma-separated addresses or networks (`127.0.0.1`,
    /// `10.0.0.0/8`) of reverse proxies whose `X-Forwarded-For` names the client.
    /// Empty (the default): the client is the connection's peer.
    pub trusted_proxies: TrustedProxies,
    /// Sign-in providers (`OAUTH_PROVIDERS`, `OAUTH_{NAME}_*`, the `GOOGLE_*` aliases).
    pub oauth: OAuthSettings,
    /// `RATE_LIMIT_LOGIN_PER_MINUTE`: login attempts allowed per minute
    /// (at least 1, default 5).
    pub rate_limit_login_per_minute: u32,
    /// Live permission streams (`SSE_*`).
    pub sse: SseSettings,
    /// `FASTVUE_ADMIN_EMAIL`: e-mail of the initial administrator to create.
    pub admin_email: Option<String>,
    /// `FASTVUE_ADMIN_PASSWORD`: password of the initial administrator.
    pub admin_password: Option<Secret>,
    /// Argon2id cost parameters (`ARGON2_*`).
    pub argon2: Argon2Settings,
    /// Bounds on the work of a request (`PASSWORD_HASH_*`, `RATE_LIMIT_*_PER_IP_*`,
    /// `REQUEST_TIMEOUT_SECONDS`).
    pub limits: LimitSettings,
    /// Variables (`SECRET_KEY`, `JWT_SECRET_KEY`) holding a shipped
    /// development default.
    default_secrets: Vec<&'static str>,
}

impl Settings {
    /// Loads settings from the process environment, layered over an optional
    /// `.env` file in the current directory.
    ///
    /// Variables already set in the process environment take precedence over
    /// the file; within the file the first definition of a variable wins. The
    /// file is read with `dotenvy` but the process environment is not
    /// modified. A missing `.env` is fine; an unreadable or malformed one is
    /// reported as a problem naming the file (without showing its content).
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] listing every invalid variable, or the single
    /// `.env` problem when that file cannot be read or parsed.
    pub fn from_env() -> Result<Self, ConfigError> {
        let path = std::env::current_dir()
            .map_or_else(|_| DOTENV_FILE.into(), |dir| dir.join(DOTENV_FILE));
        Self::from_env_and_file(&path, |name| std::env::var(name))
    }

    /// Loads settings from an arbitrary lookup function mapping a variable
    /// name to its value (`None` when unset).
    ///
    /// This is the pure core of [`Settings::from_env`]; tests use it with a
    /// map, e.g. `Settings::from_source(|name| vars.get(name).cloned())`.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] listing every invalid variable.
    pub fn from_source(source: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        load(|name| source(name).map_or(Raw::Missing, Raw::Value))
    }

    /// Every variable the loader reads, in the order it reads them (for checking
    /// deployment files: a variable not listed here is ignored by the loader).
    pub fn variables() -> Vec<String> {
        let seen = std::cell::RefCell::new(Vec::<String>::new());
        let _ = load(|name| {
            let mut seen = seen.borrow_mut();
            if !seen.iter().any(|s| s == name) {
                seen.push(name.to_owned());
            }
            Raw::Missing
        });
        seen.into_inner()
    }

    /// `host:port`, suitable for binding a listener. IPv6 hosts are put in
    /// brackets (`[::1]:8000`).
    pub fn bind_address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether `DATABASE_URL` points at `SQLite` (as opposed to `PostgreSQL`).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Where the invalidation feed listens, and the variable that named it
    /// (`DATABASE_LISTEN_URL`, else `DATABASE_URL`); `None` without a feed (SQLite, or
    /// `CACHE_ENABLED=false`). See `fastvue_core::permission::feed`.
    pub fn feed_url(&self) -> Option<(&str, &'static str)> {
        if self.is_sqlite() || !self.cache.enabled {
            return None;
        }
        Some(match &self.cache.listen_url {
            Some(url) => (url.as_str(), "DATABASE_LISTEN_URL"),
            None => (self.database_url.as_str(), "DATABASE_URL"),
        })
    }

    /// Whether `SECRET_KEY` or `JWT_SECRET_KEY` holds a shipped, insecure
    /// development default. The server should log a warning when it does.
    pub fn uses_default_secrets(&self) -> bool {
        !self.default_secrets.is_empty()
    }

    /// Names of the variables holding a shipped development default, for use
    /// in a warning (empty when [`Settings::uses_default_secrets`] is false).
    pub fn default_secret_variables(&self) -> &[&'static str] {
        &self.default_secrets
    }

    /// Lifetime of access tokens (`ACCESS_TOKEN_EXPIRE_MINUTES`).
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.access_token_expire_minutes) * 60)
    }

    /// Lifetime of refresh tokens (`REFRESH_TOKEN_EXPIRE_DAYS`).
    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.refresh_token_expire_days) * 86_400)
    }

    /// `DATABASE_URL` with any password (in the user-info part or in a
    /// `password` query parameter) replaced by `[redacted]`, for logging.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database_url)
    }

    /// [`Settings::from_env`] with the `.env` path and the environment lookup
    /// injected, so that it can be tested without touching the process.
    fn from_env_and_file(
        dotenv_path: &Path,
        env: impl Fn(&str) -> Result<String, VarError>,
    ) -> Result<Self, ConfigError> {
        let file_vars = read_dotenv(dotenv_path).map_err(|problem| ConfigError {
            problems: vec![problem],
        })?;
        load(|name| match env(name) {
            Ok(value) => Raw::Value(value),
            Err(VarError::NotUnicode(_)) => Raw::NotUnicode,
            Err(VarError::NotPresent) => file_vars
                .get(name)
                .map_or(Raw::Missing, |value| Raw::Value(value.clone())),
        })
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("debug", &self.debug)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &self.redacted_database_url())
            .field("secret_key", &self.secret_key)
            .field("jwt_secret_key", &self.jwt_secret_key)
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field(
                "access_token_expire_minutes",
                &self.access_token_expire_minutes,
            )
            .field("refresh_token_expire_days", &self.refresh_token_expire_days)
            .field("db_pool", &self.db_pool)
            .field("replicas", &self.replicas)
            .field("redis", &self.redis)
            .field("cache", &self.cache)
            .field("backend_cors_origins", &self.backend_cors_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("frontend_url", &self.frontend_url)
            .field("mail", &self.mail)
            .field("sign_in_history_days", &self.sign_in_history_days)
            .field("totp_issuer", &self.totp_issuer)
            .field("oauth", &self.oauth)
            .field(
                "rate_limit_login_per_minute",
                &self.rate_limit_login_per_minute,
            )
            .field("sse", &self.sse)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &self.admin_password)
            .field("argon2", &self.argon2)
            .field("default_secrets", &self.default_secrets)
            .finish()
    }
}

/// One invalid or missing configuration variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable at fault (or `.env` for a problem with that file).
    pub variable: String,
    /// What is wrong, e.g. `expected an integer between 1 and 65535, got "abc"`.
    /// Never contains a secret value.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Configuration could not be loaded; lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// All problems, in the order the variables were read. Never empty.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// The problem reported for `variable`, if any.
    pub fn problem(&self, variable: &str) -> Option<&ConfigProblem> {
        self.problems.iter().find(|p| p.variable == variable)
    }
}

impl fmt::Display for ConfigError {
    /// One line per problem, `VARIABLE: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The result of looking a variable up.
enum Raw {
    Missing,
    Value(String),
    NotUnicode,
}

/// Reads variables through a lookup function and accumulates problems.
struct Loader<F> {
    lookup: F,
    problems: Vec<ConfigProblem>,
}

impl<F: Fn(&str) -> Raw> Loader<F> {
    fn problem(&mut self, variable: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    /// The untrimmed value; `None` when unset, blank or not valid UTF-8 (the
    /// latter is recorded as a problem).
    fn raw(&mut self, var: &str) -> Option<String> {
        match (self.lookup)(var) {
            Raw::Missing => None,
            Raw::Value(value) if value.trim().is_empty() => None,
            Raw::Value(value) => Some(value),
            Raw::NotUnicode => {
                self.problem(var, "value is not valid UTF-8");
                None
            }
        }
    }

    /// The trimmed value, `None` when unset.
    fn text(&mut self, var: &str) -> Option<String> {
        self.raw(var).map(|value| value.trim().to_owned())
    }

    fn text_or(&mut self, var: &str, default: &str) -> String {
        self.text(var).unwrap_or_else(|| default.to_owned())
    }

    fn secret(&mut self, var: &str) -> Option<Secret> {
        self.raw(var).map(Secret)
    }

    fn flag(&mut self, var: &str, default: bool) -> bool {
        let Some(value) = self.text(var) else {
            return default;
        };
        match parse_bool(&value) {
            Some(flag) => flag,
            None => {
                self.problem(
                    var,
                    format!("expected a boolean (true/false, 1/0, yes/no, on/off), got {value:?}"),
                );
                default
            }
        }
    }

    /// A number in `min..=max`: `Some(default)` when unset, `None` (and a
    /// problem) when invalid.
    fn bounded<T>(&mut self, var: &str, default: T, min: T, max: T, what: &str) -> Option<T>
    where
        T: FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(value) = self.text(var) else {
            return Some(default);
        };
        match value.parse::<T>() {
            Ok(number) if number >= min && number <= max => Some(number),
            _ => {
                self.problem(
                    var,
                    format!("expected {what} between {min} and {max}, got {value:?}"),
                );
                None
            }
        }
    }

    fn integer<T>(&mut self, var: &str, default: T, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Copy + fmt::Display,
    {
        self.bounded(var, default, min, max, "an integer")
            .unwrap_or(default)
    }

    /// Whole seconds in `min..=u32::MAX` (the cap keeps `Instant + timeout`
    /// arithmetic far from overflow).
    fn seconds(&mut self, var: &str, default: u32, min: u32) -> Duration {
        let secs = self
            .bounded(var, default, min, u32::MAX, "a whole number of seconds")
            .unwrap_or(default);
        Duration::from_secs(u64::from(secs))
    }

    fn choice<T: Copy>(&mut self, var: &str, default: T, options: &[(&str, T)]) -> T {
        let Some(value) = self.text(var) else {
            return default;
        };
        if let Some((_, choice)) = options
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&value))
        {
            return *choice;
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        self.problem(
            var,
            format!("expected one of {}, got {value:?}", names.join(", ")),
        );
        default
    }

    fn list(&mut self, var: &str) -> Vec<String> {
        self.text(var)
            .map(|value| split_list(&value))
            .unwrap_or_default()
    }

    /// `SECRET_KEY` / `JWT_SECRET_KEY`, with the environment-dependent rules.
    fn signing_secret(
        &mut self,
        var: &'static str,
        dev_default: &'static str,
        environment: Environment,
        defaults_in_use: &mut Vec<&'static str>,
    ) -> Secret {
        let is_shipped = |value: &str| value == DEV_SECRET_KEY || value == DEV_JWT_SECRET_KEY;
        let Some(secret) = self.secret(var) else {
            if environment.is_production() {
                self.problem(
                    var,
                    format!(
                        "must be set in production (at least {MIN_SECRET_BYTES} random bytes, \
                         e.g. from `openssl rand -hex 32`)"
                    ),
                );
            } else {
                defaults_in_use.push(var);
            }
            return Secret::new(dev_default);
        };
        let shipped = is_shipped(secret.expose());
        if shipped && environment.is_production() {
            self.problem(
                var,
                "must not be a shipped development default in production",
            );
        } else if shipped {
            defaults_in_use.push(var);
        } else if environment != Environment::Development
            && secret.expose().len() < MIN_SECRET_BYTES
        {
            self.problem(
                var,
                format!("must be at least {MIN_SECRET_BYTES} bytes long in {environment}"),
            );
        }
        secret
    }
}

/// Validates every variable and builds [`Settings`], or reports all problems.
fn load(lookup: impl Fn(&str) -> Raw) -> Result<Settings, ConfigError> {
    let mut l = Loader {
        lookup,
        problems: Vec::new(),
    };

    let environment = l.choice(
        "ENVIRONMENT",
        Environment::Development,
        &[
            ("development", Environment::Development),
            ("staging", Environment::Staging),
            ("production", Environment::Production),
        ],
    );
    let debug = l.flag("DEBUG", false);
    if debug && environment.is_production() {
        l.problem("DEBUG", "must be false in production");
    }
    let log_level = l.text_or("LOG_LEVEL", "info");
    let log_format = l.choice(
        "LOG_FORMAT",
        if environment.is_production() {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        },
        &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
    );

    let host = l.text_or("HOST", "127.0.0.1");
    if host.contains(|c: char| c.is_whitespace() || c == '/') {
        l.problem(
            "HOST",
            format!("expected a host name or IP address, got {host:?}"),
        );
    }
    let port = l.integer("PORT", 8000_u16, 1, u16::MAX);

    let database_url = l.text_or("DATABASE_URL", DEFAULT_DATABASE_URL);
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|prefix| database_url.starts_with(prefix))
    {
        l.problem(
            "DATABASE_URL",
            format!(
                "expected a URL starting with sqlite:, postgres:// or postgresql://, got {}",
                describe_scheme(&database_url)
            ),
        );
    }
    let redis_url = l.text("REDIS_URL");
    if let Some(url) = &redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        l.problem(
            "REDIS_URL",
            format!(
                "expected a URL starting with redis:// or rediss://, got {}",
                describe_scheme(url)
            ),
        );
    }

    let mut default_secrets = Vec::new();
    let secret_key = l.signing_secret(
        "SECRET_KEY",
        DEV_SECRET_KEY,
        environment,
        &mut default_secrets,
    );
    let jwt_secret_key = l.signing_secret(
        "JWT_SECRET_KEY",
        DEV_JWT_SECRET_KEY,
        environment,
        &mut default_secrets,
    );
    let jwt_algorithm = l.choice(
        "JWT_ALGORITHM",
        JwtAlgorithm::Hs256,
        &[
            ("HS256", JwtAlgorithm::Hs256),
            ("HS384", JwtAlgorithm::Hs384),
            ("HS512", JwtAlgorithm::Hs512),
        ],
    );
    let access_token_expire_minutes = l.integer("ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, u32::MAX);
    let refresh_token_expire_days = l.integer("REFRESH_TOKEN_EXPIRE_DAYS", 7, 1, u32::MAX);

    let db_pool = DbPoolSettings {
        pool_size: l.integer("DB_POOL_SIZE", 5, 1, u32::MAX),
        max_overflow: l.integer("DB_MAX_OVERFLOW", 10, 0, u32::MAX),
        pool_timeout: l.seconds("DB_POOL_TIMEOUT", 30, 1),
        pool_recycle: l.seconds("DB_POOL_RECYCLE", 3600, 1),
    };
    let replicas = l.integer("FASTVUE_REPLICAS", 1, 1, u32::MAX);
    let key_prefix = l.text_or("REDIS_KEY_PREFIX", "");
    if key_prefix.len() > 64
        || !key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-'))
    {
        l.problem(
            "REDIS_KEY_PREFIX",
            "expected at most 64 letters, digits or the characters : _ . -",
        );
    }
    let redis = RedisSettings {
        url: redis_url,
        pool_size: l.integer("REDIS_POOL_SIZE", 16, 1, u32::MAX),
        pool_timeout: l.seconds("REDIS_POOL_TIMEOUT", 5, 1),
        key_prefix,
    };
    let cache = CacheSettings {
        enabled: l.flag("CACHE_ENABLED", true),
        default_ttl: l.seconds("CACHE_DEFAULT_TTL", 300, 0),
        permission_ttl: l.seconds("PERMISSION_CACHE_TTL", 3600, 1),
        permission_max_entries: l.integer("PERMISSION_CACHE_MAX_ENTRIES", 1_000_000, 1, u64::MAX),
        max_staleness: Duration::from_millis(l.integer("MAX_STALENESS_MS", 1_000, 200, 60_000)),
        listen_url: l.text("DATABASE_LISTEN_URL"),
    };
    if let Some(url) = &cache.listen_url
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        l.problem(
            "DATABASE_LISTEN_URL",
            format!(
                "expected a URL starting with postgres:// or postgresql://, got {}",
                describe_scheme(url)
            ),
        );
    }

    let mut backend_cors_origins = Vec::new();
    for entry in l.list("BACKEND_CORS_ORIGINS") {
        match check_http_url(&entry, true) {
            Ok(origin) => backend_cors_origins.push(origin),
            Err(reason) => l.problem(
                "BACKEND_CORS_ORIGINS",
                format!(
                    "expected a comma-separated list of http(s) origins such as \
                     https://app.example.com; {entry:?} is not one ({reason})"
                ),
            ),
        }
    }
    let allowed_hosts = l.list("ALLOWED_HOSTS");
    for entry in &allowed_hosts {
        if entry.contains(|c: char| c.is_whitespace() || c == '/') {
            l.problem(
                "ALLOWED_HOSTS",
                format!(
                    "expected a comma-separated list of host names such as api.example.com \
                     (no scheme or path); {entry:?} is not one"
                ),
            );
        }
    }
    let mut proxies = Vec::new();
    for entry in l.list("TRUSTED_PROXIES") {
        match IpNet::parse(&entry) {
            Some(net) => proxies.push(net),
            None => l.problem(
                "TRUSTED_PROXIES",
                format!(
                    "expected a comma-separated list of IP addresses or networks such as \
                     127.0.0.1,10.0.0.0/8; {entry:?} is not one"
                ),
            ),
        }
    }
    let trusted_proxies = TrustedProxies::new(proxies);
    let frontend_url = l.text("FRONTEND_URL");
    if let Some(url) = &frontend_url
        && let Err(reason) = check_http_url(url, false)
    {
        l.problem(
            "FRONTEND_URL",
            format!("expected an http(s) URL, got {url:?} ({reason})"),
        );
    }

    if let Some(url) = &frontend_url
        && url.contains('#')
    {
        l.problem(
            "FRONTEND_URL",
            "must not contain a fragment (#): sign-in results are appended as one",
        );
    }

    let mut mail = load_mail(&mut l, environment, frontend_url.as_deref());
    if mail.public_url.is_empty() {
        mail.public_url = format!("http://{host}:{port}");
    }
    let sign_in_history_days = l.integer("SIGN_IN_HISTORY_DAYS", 90, 1, 3650);
    let totp_issuer = l.text_or("TOTP_ISSUER", "fastvue-rs");
    if totp_issuer.is_empty() || totp_issuer.contains(':') || totp_issuer.chars().count() > 100 {
        l.problem(
            "TOTP_ISSUER",
            "expected 1 to 100 characters without ':' (authenticator apps split on it)",
        );
    }

    let oauth = oauth::load(&mut l, environment, frontend_url.is_some());

    let rate_limit_login_per_minute = l.integer("RATE_LIMIT_LOGIN_PER_MINUTE", 5, 1, u32::MAX);
    let sse = SseSettings {
        max_streams_per_user: l.integer("SSE_MAX_STREAMS_PER_USER", 5, 1, 10_000),
        heartbeat: l.seconds("SSE_HEARTBEAT_SECONDS", 15, 1),
        queue_size: l.integer("SSE_QUEUE_SIZE", 16, 1, 65_536),
    };

    let admin_email = l.text("FASTVUE_ADMIN_EMAIL");
    if let Some(email) = &admin_email
        && !looks_like_email(email)
    {
        l.problem(
            "FASTVUE_ADMIN_EMAIL",
            format!("expected an e-mail address, got {email:?}"),
        );
    }
    let admin_password = l.secret("FASTVUE_ADMIN_PASSWORD");

    let memory_kib = l.bounded("ARGON2_MEMORY_KIB", 19_456, 8, u32::MAX, "an integer");
    let iterations = l.integer("ARGON2_ITERATIONS", 2, 1, u32::MAX);
    let parallelism = l.bounded("ARGON2_PARALLELISM", 1, 1, 16, "an integer");
    if let (Some(memory), Some(lanes)) = (memory_kib, parallelism)
        && u64::from(memory) < 8 * u64::from(lanes)
    {
        l.problem(
            "ARGON2_MEMORY_KIB",
            format!(
                "must be at least 8 KiB per lane, i.e. {} for ARGON2_PARALLELISM={lanes}, got {memory}",
                8 * lanes
            ),
        );
    }
    let argon2 = Argon2Settings {
        memory_kib: memory_kib.unwrap_or(19_456),
        iterations,
        parallelism: parallelism.unwrap_or(1),
    };

    let limits = LimitSettings {
        hash_concurrency: l.integer("PASSWORD_HASH_CONCURRENCY", 0, 0, 1024),
        hash_queue: l.integer("PASSWORD_HASH_QUEUE", 16, 0, 100_000),
        login_per_ip_per_minute: l.integer("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", 60, 1, u32::MAX),
        oauth_per_ip_per_minute: l.integer("RATE_LIMIT_OAUTH_PER_IP_PER_MINUTE", 30, 1, u32::MAX),
        mail_per_ip_per_minute: l.integer("RATE_LIMIT_MAIL_PER_IP_PER_MINUTE", 10, 1, u32::MAX),
        mail_per_address_per_minute: l.integer(
            "RATE_LIMIT_MAIL_PER_ADDRESS_PER_MINUTE",
            3,
            1,
            u32::MAX,
        ),
        request_timeout: l.seconds("REQUEST_TIMEOUT_SECONDS", 30, 1),
    };

    if !l.problems.is_empty() {
        return Err(ConfigError {
            problems: l.problems,
        });
    }
    Ok(Settings {
        environment,
        debug,
        log_level,
        log_format,
        host,
        port,
        database_url,
        secret_key,
        jwt_secret_key,
        jwt_algorithm,
        access_token_expire_minutes,
        refresh_token_expire_days,
        db_pool,
        replicas,
        redis,
        cache,
        backend_cors_origins,
        allowed_hosts,
        frontend_url,
        mail,
        sign_in_history_days,
        totp_issuer,
        trusted_proxies,
        oauth,
        rate_limit_login_per_minute,
        sse,
        admin_email,
        admin_password,
        argon2,
        limits,
        default_secrets,
    })
}

/// How `SMTP_HOST` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS on a plain connection (port 587; the default).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS: only for a relay on this machine (refused in production for other hosts).
    None,
}

/// An SMTP relay.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `SMTP_HOST`.
    pub host: String,
    /// `SMTP_PORT` (default 587, or 465 with `SMTP_TLS=tls`).
    pub port: u16,
    /// `SMTP_USER` (no authentication when unset).
    pub user: Option<String>,
    /// `SMTP_PASSWORD`.
    pub password: Option<Secret>,
    /// `SMTP_TLS`: `starttls` (default), `tls` or `none`.
    pub tls: SmtpTls,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Outgoing mail.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The relay; `None` (no `SMTP_HOST`, the embedded default): mail is written to
    /// [`MailSettings::outbox_dir`] and announced in the log, like Django's console backend.
    pub smtp: Option<SmtpSettings>,
    /// `SMTP_FROM`: the sender (default `fastvue-rs <no-reply@localhost>`).
    pub from: String,
    /// `MAIL_OUTBOX_DIR`: where mail goes without `SMTP_HOST` (default `outbox`).
    pub outbox_dir: std::path::PathBuf,
    /// `PUBLIC_URL`: the base of the links in mails (the frontend's pages
    /// `/reset-password`, `/verify-email` and `/accept-invitation`); default
    /// `FRONTEND_URL`, else `http://HOST:PORT`.
    pub public_url: String,
    /// `MAIL_RETRY_SECONDS`: first wait before a failed send is retried (doubling, 4
    /// retries; default 5).
    pub retry: Duration,
}

/// The `SMTP_*`, `MAIL_*` and `PUBLIC_URL` variables.
fn load_mail<F: Fn(&str) -> Raw>(
    l: &mut Loader<F>,
    environment: Environment,
    frontend_url: Option<&str>,
) -> MailSettings {
    let tls = match l.text("SMTP_TLS").as_deref() {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Implicit,
        Some("none") => SmtpTls::None,
        Some(other) => {
            l.problem(
                "SMTP_TLS",
                format!("expected starttls, tls or none, got {other:?}"),
            );
            SmtpTls::StartTls
        }
    };
    let default_port = if tls == SmtpTls::Implicit { 465 } else { 587 };
    let port = l.integer("SMTP_PORT", default_port, 1, u16::MAX);
    let user = l.text("SMTP_USER");
    let password = l.secret("SMTP_PASSWORD");
    let smtp = l.text("SMTP_HOST").map(|host| {
        let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
        if tls == SmtpTls::None && environment.is_production() && !local {
            l.problem(
                "SMTP_TLS",
                "none is refused in production for a relay on another host: use starttls or tls",
            );
        }
        SmtpSettings {
            host,
            port,
            user: user.clone(),
            password: password.clone(),
            tls,
        }
    });
    if smtp.is_none() {
        if user.is_some() {
            l.problem("SMTP_USER", "is set without SMTP_HOST");
        }
        if password.is_some() {
            l.problem("SMTP_PASSWORD", "is set without SMTP_HOST");
        }
    }
    let from = l.text_or("SMTP_FROM", "fastvue-rs <no-reply@localhost>");
    if from.parse::<lettre::message::Mailbox>().is_err() {
        l.problem(
            "SMTP_FROM",
            format!("expected an address such as \"Name <x@example.com>\", got {from:?}"),
        );
    }
    let outbox_dir = std::path::PathBuf::from(l.text_or("MAIL_OUTBOX_DIR", "outbox"));
    let public_url = match l.text("PUBLIC_URL") {
        Some(url) => {
            if let Err(reason) = check_http_url(&url, false) {
                l.problem(
                    "PUBLIC_URL",
                    format!("expected an http(s) URL, got {url:?} ({reason})"),
                );
            }
            url
        }
        // FRONTEND_URL is checked where it is read.
        None => frontend_url.map(str::to_owned).unwrap_or_default(),
    }
    .trim_end_matches('/')
    .to_owned();
    let retry = l.seconds("MAIL_RETRY_SECONDS", 5, 1);
    MailSettings {
        smtp,
        from,
        outbox_dir,
        public_url,
        retry,
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Splits a comma-separated list, trimming entries and dropping empty ones.
/// A JSON-style array (`["a", "b"]`, as written for the former pydantic
/// settings) is accepted too: the brackets and quotes around entries are
/// stripped.
fn split_list(value: &str) -> Vec<String> {
    let value = value.trim();
    let inner = value
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(value);
    inner
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            entry
                .strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .or_else(|| entry.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')))
                .unwrap_or(entry)
                .trim()
        })
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks an `http://` or `https://` URL. With `origin_only`, the URL must be
/// a bare origin (`scheme://host[:port]`, a single trailing `/` tolerated);
/// the normalised origin, without trailing slash, is returned. Otherwise the
/// trimmed URL is returned unchanged.
fn check_http_url(url: &str, origin_only: bool) -> Result<String, &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("the scheme must be http:// or https://")?;
    if url.contains(char::is_whitespace) {
        return Err("it contains whitespace");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, remainder) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err("user credentials are not allowed");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or("the IPv6 address is missing its closing bracket")?;
        if address.is_empty() {
            return Err("the host is missing");
        }
        match after.strip_prefix(':') {
            Some(port) => (address, Some(port)),
            None if after.is_empty() => (address, None),
            None => return Err("unexpected characters after the IPv6 address"),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing");
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err("the port must be an integer between 1 and 65535");
    }
    if !origin_only {
        return Ok(url.to_owned());
    }
    if !remainder.is_empty() && remainder != "/" {
        return Err("an origin has no path, query or fragment");
    }
    Ok(url.strip_suffix('/').unwrap_or(url).to_owned())
}

fn looks_like_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Describes a URL that may contain credentials by its scheme only.
fn describe_scheme(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            format!("a URL with scheme {scheme:?} (rest not shown, it may contain a password)")
        }
        _ => "a value without a URL scheme (not shown, it may contain a password)".to_owned(),
    }
}

/// Masks the password in a URL's user-info part and in `password` query
/// parameters (e.g. `postgres://user:[redacted]@db/app`).
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let path_and_query = match path_and_query.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((query, fragment)) => (query, Some(fragment)),
                None => (query, None),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}={REDACTED}")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", params.join("&"))
        }
        None => path_and_query.to_owned(),
    };
    format!("{scheme}{authority}{path_and_query}")
}

/// Reads a `.env` file into a map (first definition wins). A missing file
/// yields an empty map.
fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigProblem> {
    let file_problem = |message: String| ConfigProblem {
        variable: DOTENV_FILE.to_owned(),
        message,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(err) => {
            return Err(file_problem(format!(
                "could not read {}: {err}",
                path.display()
            )));
        }
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| file_problem(format!("{} is not valid UTF-8", path.display())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((key, value)) => {
                vars.entry(key).or_insert(value);
            }
            Err(dotenvy::Error::LineParse(line, _)) => {
                let location = text
                    .find(line.as_str())
                    .map(|offset| {
                        let number = text[..offset].matches('\n').count() + 1;
                        format!(" at line {number}")
                    })
                    .unwrap_or_default();
                return Err(file_problem(format!(
                    "malformed {}{location} (content not shown, it may contain secrets)",
                    path.display()
                )));
            }
            Err(dotenvy::Error::Io(err)) => {
                return Err(file_problem(format!(
                    "could not read {}: {err}",
                    path.display()
                )));
            }
            Err(_) => {
                return Err(file_problem(format!(
                    "could not expand a variable reference in {}",
                    path.display()
                )));
            }
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds settings from `(name, value)` pairs.
    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_source(|name| map.get(name).cloned())
    }

    fn problems(vars: &[(&str, &str)]) -> ConfigError {
        match settings(vars) {
            Ok(s) => panic!("expected a configuration error, got {s:?}"),
            Err(err) => err,
        }
    }

    fn variables(err: &ConfigError) -> Vec<&str> {
        err.problems.iter().map(|p| p.variable.as_str()).collect()
    }

    const STRONG: &str = "0123456789abcdef0123456789abcdef-strong";
    const STRONG_JWT: &str = "fedcba9876543210fedcba9876543210-strong";

    #[test]
    fn the_feed_listens_on_postgresql_with_the_cache_on_preferring_the_listen_url() {
        let pg = "postgres://u@db/fastvue";
        let direct = "postgres://u@db-direct/fastvue";
        assert_eq!(settings(&[]).unwrap().feed_url(), None, "SQLite");
        let s = settings(&[("DATABASE_URL", pg)]).unwrap();
        assert_eq!(s.feed_url(), Some((pg, "DATABASE_URL")));
        let s = settings(&[("DATABASE_URL", pg), ("DATABASE_LISTEN_URL", direct)]).unwrap();
        assert_eq!(s.feed_url(), Some((direct, "DATABASE_LISTEN_URL")));
        let s = settings(&[("DATABASE_URL", pg), ("CACHE_ENABLED", "false")]).unwrap();
        assert_eq!(s.feed_url(), None, "no cache, nothing to keep coherent");
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.environment, Environment::Development);
        assert!(!s.debug);
        assert_eq!(s.log_level, "info");
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.port, 8000);
        assert_eq!(s.bind_address(), "127.0.0.1:8000");
        assert_eq!(s.database_url, "sqlite://fastvue.db?mode=rwc");
        assert!(s.is_sqlite());
        assert_eq!(s.redis.url, None);
        assert_eq!(s.redis.pool_size, 16);
        assert_eq!(s.redis.pool_timeout, Duration::from_secs(5));
        assert_eq!(s.secret_key.expose(), DEV_SECRET_KEY);
        assert_eq!(s.jwt_secret_key.expose(), DEV_JWT_SECRET_KEY);
        assert!(s.uses_default_secrets());
        assert_eq!(
            s.default_secret_variables(),
            &["SECRET_KEY", "JWT_SECRET_KEY"]
        );
        assert_eq!(s.jwt_algorithm, JwtAlgorithm::Hs256);
        assert_eq!(s.access_token_expire_minutes, 30);
        assert_eq!(s.access_token_ttl(), Duration::from_secs(30 * 60));
        assert_eq!(s.refresh_token_expire_days, 7);
        assert_eq!(s.refresh_token_ttl(), Duration::from_secs(7 * 86_400));
        assert_eq!(
            s.db_pool,
            DbPoolSettings {
                pool_size: 5,
                max_overflow: 10,
                pool_timeout: Duration::from_secs(30),
                pool_recycle: Duration::from_secs(3600),
            }
        );
        assert_eq!(
            s.cache,
            CacheSettings {
                enabled: true,
                default_ttl: Duration::from_secs(300),
                permission_ttl: Duration::from_secs(3600),
                permission_max_entries: 1_000_000,
                max_staleness: Duration::from_secs(1),
                listen_url: None,
            }
        );
        assert!(s.backend_cors_origins.is_empty());
        assert!(s.allowed_hosts.is_empty());
        assert_eq!(s.frontend_url, None);
        assert!(s.oauth.providers.is_empty());
        assert_eq!(s.oauth.state_ttl, Duration::from_secs(600));
        assert_eq!(s.oauth.jwks_min_refresh, JWKS_MIN_REFRESH);
        assert_eq!(s.rate_limit_login_per_minute, 5);
        assert_eq!(
            s.sse,
            SseSettings {
                max_streams_per_user: 5,
                heartbeat: Duration::from_secs(15),
                queue_size: 16,
            }
        );
        assert_eq!(s.admin_email, None);
        assert!(s.admin_password.is_none());
        assert_eq!(
            s.argon2,
            Argon2Settings {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1,
            }
        );
        assert_eq!(
            s.limits,
            LimitSettings {
                hash_concurrency: 0,
                hash_queue: 16,
                login_per_ip_per_minute: 60,
                oauth_per_ip_per_minute: 30,
                mail_per_ip_per_minute: 10,
                mail_per_address_per_minute: 3,
                request_timeout: Duration::from_secs(30),
            }
        );
    }

    #[test]
    fn empty_strings_count_as_unset() {
        let s = settings(&[
            ("PORT", ""),
            ("DEBUG", "  "),
            ("REDIS_URL", ""),
            ("SECRET_KEY", ""),
        ])
        .expect("empty values fall back to defaults");
        assert_eq!(s.port, 8000);
        assert!(!s.debug);
        assert_eq!(s.redis.url, None);
        assert_eq!(s.secret_key.expose(), DEV_SECRET_KEY);
    }

    #[test]
    fn explicit_values_are_parsed() {
        let s = settings(&[
            ("ENVIRONMENT", "Staging"),
            ("DEBUG", "YES"),
            ("LOG_LEVEL", "fastvue=debug,sea_orm=warn"),
            ("LOG_FORMAT", "JSON"),
            ("HOST", "::1"),
            ("PORT", " 9000 "),
            ("DATABASE_URL", "postgres://app:pw@db:5432/app"),
            ("REDIS_URL", "rediss://cache:6380/0"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
            ("JWT_ALGORITHM", "hs512"),
            ("CACHE_ENABLED", "off"),
            ("CACHE_DEFAULT_TTL", "0"),
            ("ALLOWED_HOSTS", "api.example.com, *.example.com,"),
            ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8, ::1"),
            ("FRONTEND_URL", "https://app.example.com/admin"),
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "client-secret"),
            ("GOOGLE_REDIRECT_URI", "https://api.example.com/auth/google"),
            ("FASTVUE_ADMIN_EMAIL", "admin@example.com"),
            ("FASTVUE_ADMIN_PASSWORD", "hunter2"),
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_PARALLELISM", "4"),
        ])
        .expect("valid configuration");
        assert_eq!(s.environment, Environment::Staging);
        assert!(s.debug);
        assert!(s.trusted_proxies.is_trusted("10.9.8.7".parse().unwrap()));
        assert!(s.trusted_proxies.is_trusted("::1".parse().unwrap()));
        assert!(!s.trusted_proxies.is_trusted("192.0.2.1".parse().unwrap()));
        assert_eq!(s.log_level, "fastvue=debug,sea_orm=warn");
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.bind_address(), "[::1]:9000");
        assert!(!s.is_sqlite());
        assert_eq!(s.redis.url.as_deref(), Some("rediss://cache:6380/0"));
        assert!(!s.uses_default_secrets());
        assert_eq!(s.jwt_algorithm, JwtAlgorithm::Hs512);
        assert!(!s.cache.enabled);
        assert_eq!(s.cache.default_ttl, Duration::ZERO);
        assert_eq!(s.allowed_hosts, ["api.example.com", "*.example.com"]);
        assert_eq!(
            s.frontend_url.as_deref(),
            Some("https://app.example.com/admin")
        );
        assert!(s.oauth.provider("google").is_some());
        assert_eq!(s.admin_email.as_deref(), Some("admin@example.com"));
        assert_eq!(
            s.admin_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert_eq!(s.argon2.memory_kib, 65_536);
        assert_eq!(s.argon2.parallelism, 4);
    }

    #[test]
    fn booleans_accept_all_documented_spellings() {
        for (value, expected) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("0", false),
            ("No", false),
            ("OFF", false),
        ] {
            let s = settings(&[("CACHE_ENABLED", value)]).expect("valid boolean");
            assert_eq!(s.cache.enabled, expected, "CACHE_ENABLED={value}");
        }
    }

    #[test]
    fn each_invalid_variable_yields_a_problem_naming_it() {
        let cases: &[(&str, &str)] = &[
            ("ENVIRONMENT", "prod"),
            ("DEBUG", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("HOST", "local host"),
            ("PORT", "abc"),
            ("PORT", "0"),
            ("PORT", "70000"),
            ("DATABASE_URL", "mysql://root:pw@db/app"),
            ("REDIS_URL", "http://cache"),
            ("JWT_ALGORITHM", "RS256"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "-1"),
            ("DB_POOL_SIZE", "0"),
            ("DB_MAX_OVERFLOW", "lots"),
            ("DB_POOL_TIMEOUT", "0"),
            ("DB_POOL_RECYCLE", "1.5"),
            ("REDIS_POOL_SIZE", "0"),
            ("REDIS_POOL_TIMEOUT", "0"),
            ("CACHE_ENABLED", "2"),
            ("CACHE_DEFAULT_TTL", "-5"),
            ("PERMISSION_CACHE_TTL", "0"),
            ("PERMISSION_CACHE_MAX_ENTRIES", "0"),
            ("BACKEND_CORS_ORIGINS", "localhost:3000"),
            ("ALLOWED_HOSTS", "https://api.example.com/"),
            ("TRUSTED_PROXIES", "127.0.0.1, proxy.internal"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("FRONTEND_URL", "app.example.com"),
            ("DEFAULT_SIGNUP_COMPANY", "a b"),
            ("DEFAULT_SIGNUP_ROLE", "Viewer!"),
            ("FRONTEND_URL", "https://app.example.com/#/home"),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "0"),
            ("RATE_LIMIT_MAIL_PER_IP_PER_MINUTE", "0"),
            ("RATE_LIMIT_MAIL_PER_ADDRESS_PER_MINUTE", "none"),
            ("SMTP_TLS", "ssl"),
            ("SMTP_PORT", "0"),
            ("SMTP_FROM", "not an address"),
            ("SMTP_USER", "mailer"),
            ("PUBLIC_URL", "example.com"),
            ("MAIL_RETRY_SECONDS", "0"),
            ("SIGN_IN_HISTORY_DAYS", "0"),
            ("TOTP_ISSUER", "Acme: Admin"),
            ("SSE_MAX_STREAMS_PER_USER", "0"),
            ("SSE_HEARTBEAT_SECONDS", "0"),
            ("SSE_QUEUE_SIZE", "0"),
            ("FASTVUE_ADMIN_EMAIL", "admin"),
            ("ARGON2_MEMORY_KIB", "4"),
            ("ARGON2_ITERATIONS", "0"),
            ("ARGON2_PARALLELISM", "17"),
            ("ARGON2_PARALLELISM", "0"),
        ];
        for (variable, value) in cases {
            let err = problems(&[(variable, value)]);
            assert_eq!(
                variables(&err),
                [*variable],
                "{variable}={value:?} gave {err}"
            );
        }
    }

    /// Everything Google sign-in needs, pointing at a loopback identity provider.
    const GOOGLE: &[(&str, &str)] = &[
        ("GOOGLE_CLIENT_ID", "client-id"),
        ("GOOGLE_CLIENT_SECRET", "client-secret"),
        (
            "GOOGLE_REDIRECT_URI",
            "https://api.example.com/api/v1/auth/oauth/google/callback",
        ),
        ("FRONTEND_URL", "https://app.example.com"),
    ];

    #[test]
    fn google_provider_endpoints_and_linking_rules_are_read() {
        let mut vars = GOOGLE.to_vec();
        vars.extend_from_slice(&[
            ("GOOGLE_AUTH_URL", "http://127.0.0.1:9000/authorize"),
            ("GOOGLE_TOKEN_URL", " http://127.0.0.1:9000/token "),
            ("GOOGLE_USERINFO_URL", "http://127.0.0.1:9000/userinfo"),
            ("GOOGLE_AUTO_LINK", "off"),
            ("GOOGLE_ALLOW_SIGNUP", "yes"),
            ("DEFAULT_SIGNUP_COMPANY", "acme-east"),
            ("DEFAULT_SIGNUP_ROLE", "manager"),
        ]);
        let s = settings(&vars).expect("valid Google settings");
        let g = s.oauth.provider("google").expect("google is enabled");
        assert_eq!(
            g.protocol,
            Protocol::Userinfo {
                auth_url: "http://127.0.0.1:9000/authorize".into(),
                token_url: "http://127.0.0.1:9000/token".into(),
                userinfo_url: "http://127.0.0.1:9000/userinfo".into(),
            }
        );
        assert!(!g.auto_link);
        assert!(g.allow_signup);
        assert_eq!(g.signup_company.as_deref(), Some("ACME-EAST"));
        assert_eq!(g.signup_role, "manager");
    }

    #[test]
    fn google_client_id_requires_the_secret_the_redirect_uri_and_the_frontend() {
        let err = problems(&[("GOOGLE_CLIENT_ID", "client-id")]);
        assert_eq!(
            variables(&err),
            [
                "GOOGLE_CLIENT_SECRET",
                "GOOGLE_REDIRECT_URI",
                "FRONTEND_URL"
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("/api/v1/auth/oauth/google/callback"),
            "{text}"
        );
        // Without a client id nothing is required and sign-in is off.
        let s = settings(&[("GOOGLE_CLIENT_SECRET", "client-secret")]).unwrap();
        assert!(s.oauth.providers.is_empty());
    }

    #[test]
    fn google_signup_requires_a_company() {
        let mut vars = GOOGLE.to_vec();
        vars.push(("GOOGLE_ALLOW_SIGNUP", "true"));
        let err = problems(&vars);
        assert_eq!(variables(&err), ["DEFAULT_SIGNUP_COMPANY"]);
        vars.push(("DEFAULT_SIGNUP_COMPANY", "DEFAULT"));
        let s = settings(&vars).expect("signup with a company");
        let g = s.oauth.provider("google").unwrap();
        assert_eq!(g.signup_company.as_deref(), Some("DEFAULT"));
        assert_eq!(g.signup_role, "viewer");
    }

    #[test]
    fn google_endpoints_must_be_https_in_production() {
        let mut vars = GOOGLE.to_vec();
        vars.extend_from_slice(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
        ]);
        let s = settings(&vars).expect("Google's own endpoints are https");
        assert!(matches!(
            &s.oauth.provider("google").unwrap().protocol,
            Protocol::Userinfo { token_url, .. } if token_url == GOOGLE_TOKEN_URL
        ));
        vars.push(("GOOGLE_TOKEN_URL", "http://idp.internal/token"));
        let err = problems(&vars);
        assert_eq!(variables(&err), ["GOOGLE_TOKEN_URL"]);
    }

    #[test]
    fn redis_key_prefix_defaults_to_empty_and_refuses_glob_characters() {
        assert_eq!(settings(&[]).unwrap().redis.key_prefix, "");
        let err = problems(&[("REDIS_KEY_PREFIX", "a*b")]);
        assert!(err.problem("REDIS_KEY_PREFIX").is_some(), "{err}");
        let ok = settings(&[("REDIS_KEY_PREFIX", "tenant-1:")]).unwrap();
        assert_eq!(ok.redis.key_prefix, "tenant-1:");
    }

    #[test]
    fn port_problem_message_is_precise() {
        let err = problems(&[("PORT", "abc")]);
        assert_eq!(
            err.to_string(),
            r#"PORT: expected an integer between 1 and 65535, got "abc""#
        );
    }

    #[test]
    fn non_utf8_value_is_reported() {
        let err = Settings::from_env_and_file(Path::new("/nonexistent/fastvue/.env"), |name| {
            if name == "HOST" {
                Err(VarError::NotUnicode(std::ffi::OsString::new()))
            } else {
                Err(VarError::NotPresent)
            }
        })
        .expect_err("non-UTF-8 HOST is rejected");
        assert_eq!(variables(&err), ["HOST"]);
    }

    #[test]
    fn several_problems_are_reported_together() {
        let err = problems(&[
            ("PORT", "abc"),
            ("DEBUG", "maybe"),
            ("DB_POOL_SIZE", "0"),
            ("JWT_ALGORITHM", "none"),
        ]);
        assert_eq!(
            variables(&err),
            ["DEBUG", "PORT", "JWT_ALGORITHM", "DB_POOL_SIZE"]
        );
        let text = err.to_string();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().any(|l| l.starts_with("DB_POOL_SIZE: ")));
    }

    #[test]
    fn argon2_memory_must_cover_eight_kib_per_lane() {
        let err = problems(&[("ARGON2_MEMORY_KIB", "31"), ("ARGON2_PARALLELISM", "4")]);
        assert_eq!(variables(&err), ["ARGON2_MEMORY_KIB"]);
        let ok = settings(&[("ARGON2_MEMORY_KIB", "32"), ("ARGON2_PARALLELISM", "4")])
            .expect("32 KiB suffices for 4 lanes");
        assert_eq!(ok.argon2.memory_kib, 32);
    }

    #[test]
    fn production_refuses_missing_secrets() {
        let err = problems(&[("ENVIRONMENT", "production")]);
        assert_eq!(variables(&err), ["SECRET_KEY", "JWT_SECRET_KEY"]);
    }

    #[test]
    fn production_refuses_shipped_default_secrets() {
        let err = problems(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", DEV_SECRET_KEY),
            ("JWT_SECRET_KEY", DEV_SECRET_KEY),
        ]);
        assert_eq!(variables(&err), ["SECRET_KEY", "JWT_SECRET_KEY"]);
    }

    #[test]
    fn production_refuses_short_secrets() {
        let err = problems(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", "too-short"),
            ("JWT_SECRET_KEY", STRONG_JWT),
        ]);
        assert_eq!(variables(&err), ["SECRET_KEY"]);
    }

    #[test]
    fn production_refuses_debug() {
        let err = problems(&[
            ("ENVIRONMENT", "production"),
            ("DEBUG", "true"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
        ]);
        assert_eq!(variables(&err), ["DEBUG"]);
    }

    #[test]
    fn production_accepts_strong_secrets() {
        let s = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
        ])
        .expect("strong secrets are accepted");
        assert!(s.environment.is_production());
        assert!(!s.uses_default_secrets());
        assert_eq!(s.secret_key.expose(), STRONG);
        assert_eq!(s.jwt_secret_key.expose(), STRONG_JWT);
    }

    #[test]
    fn problem_messages_never_contain_secret_values() {
        let err = problems(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", "short-secret-value"),
            ("JWT_SECRET_KEY", DEV_JWT_SECRET_KEY),
            ("DATABASE_URL", "mysql://root:db-password@db/app"),
            ("REDIS_URL", "memcached://:redis-password@cache"),
        ]);
        let text = err.to_string();
        assert_eq!(err.problems.len(), 4, "{text}");
        for secret in [
            "short-secret-value",
            DEV_JWT_SECRET_KEY,
            "db-password",
            "redis-password",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn mail_settings_default_to_the_outbox_and_production_refuses_plain_smtp_to_another_host() {
        let s = settings(&[("FRONTEND_URL", "https://app.example.com/")]).unwrap();
        assert!(s.mail.smtp.is_none());
        assert_eq!(s.mail.outbox_dir, std::path::PathBuf::from("outbox"));
        assert_eq!(s.mail.public_url, "https://app.example.com");
        let s = settings(&[]).unwrap();
        assert_eq!(s.mail.public_url, "http://127.0.0.1:8000");
        let s = settings(&[
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_TLS", "tls"),
            ("SMTP_USER", "mailer"),
            ("SMTP_PASSWORD", "smtp-password-value"),
        ])
        .unwrap();
        let smtp = s.mail.smtp.as_ref().unwrap();
        assert_eq!((smtp.port, smtp.tls), (465, SmtpTls::Implicit));
        assert!(!format!("{s:?}").contains("smtp-password-value"));
        let err = problems(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_TLS", "none"),
            ("SMTP_PASSWORD", "smtp-password-value"),
        ]);
        assert_eq!(variables(&err), ["SMTP_TLS"], "{err}");
        assert!(!err.to_string().contains("smtp-password-value"));
        settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_TLS", "none"),
        ])
        .expect("plain SMTP to this machine is allowed");
    }

    #[test]
    fn staging_allows_defaults_but_rejects_short_secrets() {
        let s = settings(&[("ENVIRONMENT", "staging")]).expect("defaults allowed in staging");
        assert!(s.uses_default_secrets());

        let err = problems(&[("ENVIRONMENT", "staging"), ("JWT_SECRET_KEY", "short")]);
        assert_eq!(variables(&err), ["JWT_SECRET_KEY"]);

        let dev = settings(&[("JWT_SECRET_KEY", "short")]).expect("short is fine in development");
        assert_eq!(dev.default_secret_variables(), &["SECRET_KEY"]);
    }

    #[test]
    fn explicitly_set_shipped_default_counts_as_default() {
        let s = settings(&[
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", DEV_JWT_SECRET_KEY),
        ])
        .expect("development accepts shipped defaults");
        assert_eq!(s.default_secret_variables(), &["JWT_SECRET_KEY"]);
    }

    #[test]
    fn shipped_defaults_are_long_enough_for_staging() {
        assert!(DEV_SECRET_KEY.len() >= MIN_SECRET_BYTES);
        assert!(DEV_JWT_SECRET_KEY.len() >= MIN_SECRET_BYTES);
        assert_ne!(DEV_SECRET_KEY, DEV_JWT_SECRET_KEY);
    }

    #[test]
    fn log_format_defaults_to_json_in_production() {
        let prod = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
        ])
        .expect("valid production configuration");
        assert_eq!(prod.log_format, LogFormat::Json);

        let staging = settings(&[("ENVIRONMENT", "staging")]).expect("valid staging");
        assert_eq!(staging.log_format, LogFormat::Pretty);

        let pretty_prod = settings(&[
            ("ENVIRONMENT", "production"),
            ("LOG_FORMAT", "pretty"),
            ("SECRET_KEY", STRONG),
            ("JWT_SECRET_KEY", STRONG_JWT),
        ])
        .expect("explicit format wins");
        assert_eq!(pretty_prod.log_format, LogFormat::Pretty);
    }

    #[test]
    fn secret_debug_and_display_do_not_print_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn settings_debug_masks_secrets_and_url_passwords() {
        let s = settings(&[
            (
                "DATABASE_URL",
                "postgres://app:db-password@db/app?password=qp-pw",
            ),
            ("REDIS_URL", "redis://:redis-password@cache:6379"),
            ("SECRET_KEY", "secret-key-value"),
            ("GOOGLE_CLIENT_SECRET", "google-secret"),
            ("FASTVUE_ADMIN_PASSWORD", "admin-password"),
        ])
        .expect("valid configuration");
        let debug = format!("{s:?}");
        for secret in [
            "db-password",
            "qp-pw",
            "redis-password",
            "secret-key-value",
            "google-secret",
            "admin-password",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert_eq!(
            s.redacted_database_url(),
            "postgres://app:[redacted]@db/app?password=[redacted]"
        );
    }

    #[test]
    fn pool_min_and_max_connections_follow_size_and_overflow() {
        let s = settings(&[("DB_POOL_SIZE", "8"), ("DB_MAX_OVERFLOW", "0")]).expect("valid");
        assert_eq!(s.db_pool.min_connections(), 8);
        assert_eq!(s.db_pool.max_connections(), 8);

        let s = settings(&[("DB_POOL_SIZE", "3"), ("DB_MAX_OVERFLOW", "7")]).expect("valid");
        assert_eq!(s.db_pool.min_connections(), 3);
        assert_eq!(s.db_pool.max_connections(), 10);

        let pool = DbPoolSettings {
            pool_size: u32::MAX,
            max_overflow: 1,
            pool_timeout: Duration::from_secs(1),
            pool_recycle: Duration::from_secs(1),
        };
        assert_eq!(pool.max_connections(), u32::MAX);
    }

    #[test]
    fn replicas_default_to_one_and_must_be_positive() {
        assert_eq!(settings(&[]).expect("defaults").replicas, 1);
        let s = settings(&[("FASTVUE_REPLICAS", "4")]).expect("valid");
        assert_eq!(s.replicas, 4);
        let err = settings(&[("FASTVUE_REPLICAS", "0")]).unwrap_err();
        assert!(err.problem("FASTVUE_REPLICAS").is_some());
    }

    #[test]
    fn cors_origins_are_trimmed_split_and_empties_dropped() {
        let s = settings(&[(
            "BACKEND_CORS_ORIGINS",
            " http://localhost:3000 ,, https://app.example.com/ ,http://[::1]:5173,",
        )])
        .expect("valid origins");
        assert_eq!(
            s.backend_cors_origins,
            [
                "http://localhost:3000",
                "https://app.example.com",
                "http://[::1]:5173"
            ]
        );
    }

    #[test]
    fn cors_origins_accept_json_array_syntax() {
        let s = settings(&[(
            "BACKEND_CORS_ORIGINS",
            r#"["http://localhost:3000", "https://app.example.com"]"#,
        )])
        .expect("valid origins");
        assert_eq!(
            s.backend_cors_origins,
            ["http://localhost:3000", "https://app.example.com"]
        );
    }

    #[test]
    fn cors_origins_reject_each_non_origin_entry() {
        let err = problems(&[(
            "BACKEND_CORS_ORIGINS",
            "https://ok.example.com, ftp://files, https://app.example.com/path, http://:80, \
             http://host:99999, *",
        )]);
        assert_eq!(err.problems.len(), 5, "{err}");
        assert!(
            err.problems
                .iter()
                .all(|p| p.variable == "BACKEND_CORS_ORIGINS")
        );
    }

    /// A `.env` file in the temporary directory, removed on drop.
    struct TempDotenv(std::path::PathBuf);

    impl TempDotenv {
        fn new(name: &str, content: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("fastvue-config-{}-{name}.env", std::process::id()));
            std::fs::write(&path, content).expect("write temporary .env");
            Self(path)
        }
    }

    impl Drop for TempDotenv {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn env_of(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Result<String, VarError> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .ok_or(VarError::NotPresent)
        }
    }

    #[test]
    fn dotenv_values_apply_but_environment_wins() {
        let file = TempDotenv::new(
            "layering",
            "# comment\nPORT=9100\nHOST=0.0.0.0\nexport LOG_LEVEL=debug\nPORT=9200\n",
        );
        let s = Settings::from_env_and_file(&file.0, env_of(&[("HOST", "10.0.0.1")]))
            .expect("valid configuration");
        assert_eq!(s.port, 9100, "first definition in the file wins");
        assert_eq!(s.host, "10.0.0.1", "process environment wins over the file");
        assert_eq!(s.log_level, "debug");
    }

    #[test]
    fn missing_dotenv_is_fine() {
        let s = Settings::from_env_and_file(
            Path::new("/nonexistent/fastvue/.env"),
            env_of(&[("PORT", "8123")]),
        )
        .expect("missing .env is not an error");
        assert_eq!(s.port, 8123);
    }

    #[test]
    fn malformed_dotenv_is_an_error_naming_the_file() {
        let file = TempDotenv::new(
            "malformed",
            "PORT=9100\nSECRET_KEY=\"unterminated-secret-value\n",
        );
        let err = Settings::from_env_and_file(&file.0, env_of(&[])).expect_err("malformed .env");
        assert_eq!(variables(&err), [".env"]);
        let text = err.to_string();
        assert!(text.contains(&file.0.display().to_string()), "{text}");
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("unterminated-secret-value"), "{text}");
    }

    /// The variables documented as table rows (`| \`NAME\` | ...`) in docs/configuration.md.
    fn documented_variables() -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let text = std::fs::read_to_string(path).expect("docs/configuration.md");
        text.lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned())
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .collect()
    }

    #[test]
    fn every_variable_the_loader_reads_is_documented_and_every_documented_one_is_read() {
        let read = Settings::variables();
        let reads = |name: &str| read.iter().any(|r| r == name);
        assert!(reads("DATABASE_URL") && reads("TRUSTED_PROXIES"));
        assert!(reads("GOOGLE_CLIENT_SECRET") && reads("ARGON2_PARALLELISM"));
        assert!(reads("OAUTH_PROVIDERS"));
        let documented = documented_variables();
        let undocumented: Vec<_> = read
            .iter()
            .filter(|v| !documented.iter().any(|d| d == *v))
            .collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/configuration.md: {undocumented:?}"
        );
        let unknown: Vec<_> = documented.iter().filter(|d| !reads(d.as_str())).collect();
        assert!(unknown.is_empty(), "documented but never read: {unknown:?}");
    }
}
