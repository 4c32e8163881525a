//! [`Settings`] and the groups of settings it holds. Its constructors
//! ([`Settings::from_env`], [`Settings::from_source`], [`Settings::variables`]) run the
//! loader and live beside it, in `load.rs`.
use std::fmt;
use std::time::Duration;

use super::loader::redact_url;
use super::{Environment, JwtAlgorithm, LogFormat, MailSettings, OAuthSettings, Secret};
use crate::proxy::TrustedProxies;

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
    /// Time-to-live of cached permission sets (`PERMISSION_CACHE_TTL` seconds, at
    /// least 1; default `CACHE_DEFAULT_TTL`, the older name, else 3600).
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
    /// `ADMIN_UI_DIR`: a built admin frontend (a folder holding `index.html`, such as
    /// `examples/vue-admin/dist`) that the server serves under `/admin`; unset: none.
    pub admin_ui_dir: Option<std::path::PathBuf>,
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
    pub(super) default_secrets: Vec<&'static str>,
}

impl Settings {
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
