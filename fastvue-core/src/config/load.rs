//! [`load`]: every variable validated, in one pass, into [`Settings`]: one function per
//! concern, all writing their problems into the same [`Loader`]; and the constructors of
//! [`Settings`] that run it.
use std::env::VarError;
use std::path::Path;
use std::time::Duration;

use super::loader::{
    ConfigError, Loader, Raw, check_http_url, describe_scheme, looks_like_email, read_dotenv,
};
use super::mail::load_mail;
use super::{
    Argon2Settings, CacheSettings, DEFAULT_DATABASE_URL, DEV_JWT_SECRET_KEY, DEV_SECRET_KEY,
    DOTENV_FILE, DbPoolSettings, Environment, JwtAlgorithm, LimitSettings, LogFormat,
    RedisSettings, Settings, SseSettings, oauth,
};
use crate::proxy::{IpNet, TrustedProxies};

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

    /// [`Settings::from_env`] with the `.env` path and the environment lookup
    /// injected, so that it can be tested without touching the process.
    pub(super) fn from_env_and_file(
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

/// Validates every variable and builds [`Settings`], or reports all problems.
pub(super) fn load(lookup: impl Fn(&str) -> Raw) -> Result<Settings, ConfigError> {
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
    let (debug, log_level, log_format) = logging(&mut l, environment);
    let host = l.text_or("HOST", "127.0.0.1");
    if host.contains(|c: char| c.is_whitespace() || c == '/') {
        l.problem(
            "HOST",
            format!("expected a host name or IP address, got {host:?}"),
        );
    }
    let port = l.integer("PORT", 8000_u16, 1, u16::MAX);
    let database_url = database_url(&mut l);
    let redis_url = redis_url(&mut l);
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
    let redis = redis(&mut l, redis_url);
    let cache = cache(&mut l);
    let http = http(&mut l);
    let mut mail = load_mail(&mut l, environment, http.frontend_url.as_deref());
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
    let oauth = oauth::load(&mut l, environment, http.frontend_url.is_some());
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
    let argon2 = argon2(&mut l);
    let limits = limits(&mut l);

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
        backend_cors_origins: http.backend_cors_origins,
        allowed_hosts: http.allowed_hosts,
        frontend_url: http.frontend_url,
        admin_ui_dir: http.admin_ui_dir,
        mail,
        sign_in_history_days,
        totp_issuer,
        trusted_proxies: http.trusted_proxies,
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

/// `DEBUG`, `LOG_LEVEL`, `LOG_FORMAT`. `DEBUG=true` makes `debug` the default level
/// (an explicit `LOG_LEVEL` still wins) and is refused in production.
fn logging<F: Fn(&str) -> Raw>(
    l: &mut Loader<F>,
    environment: Environment,
) -> (bool, String, LogFormat) {
    let debug = l.flag("DEBUG", false);
    if debug && environment.is_production() {
        l.problem("DEBUG", "must be false in production");
    }
    let log_level = l.text_or("LOG_LEVEL", if debug { "debug" } else { "info" });
    let log_format = l.choice(
        "LOG_FORMAT",
        if environment.is_production() {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        },
        &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
    );
    (debug, log_level, log_format)
}

/// `DATABASE_URL`: SQLite or PostgreSQL.
fn database_url<F: Fn(&str) -> Raw>(l: &mut Loader<F>) -> String {
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
    database_url
}

/// `REDIS_URL`.
fn redis_url<F: Fn(&str) -> Raw>(l: &mut Loader<F>) -> Option<String> {
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
    redis_url
}

/// `REDIS_POOL_SIZE`, `REDIS_POOL_TIMEOUT`, `REDIS_KEY_PREFIX`.
fn redis<F: Fn(&str) -> Raw>(l: &mut Loader<F>, url: Option<String>) -> RedisSettings {
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
    RedisSettings {
        url,
        pool_size: l.integer("REDIS_POOL_SIZE", 16, 1, u32::MAX),
        pool_timeout: l.seconds("REDIS_POOL_TIMEOUT", 5, 1),
        key_prefix,
    }
}

/// `CACHE_ENABLED`, `PERMISSION_CACHE_*` (with the older `CACHE_DEFAULT_TTL` as the
/// default of `PERMISSION_CACHE_TTL`), `MAX_STALENESS_MS`, `DATABASE_LISTEN_URL`.
fn cache<F: Fn(&str) -> Raw>(l: &mut Loader<F>) -> CacheSettings {
    let older_ttl = l.seconds("CACHE_DEFAULT_TTL", 3600, 1);
    let cache = CacheSettings {
        enabled: l.flag("CACHE_ENABLED", true),
        permission_ttl: l.seconds(
            "PERMISSION_CACHE_TTL",
            u32::try_from(older_ttl.as_secs()).unwrap_or(u32::MAX),
            1,
        ),
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
    cache
}

/// What the HTTP layer is told about the world around it.
struct Http {
    backend_cors_origins: Vec<String>,
    allowed_hosts: Vec<String>,
    trusted_proxies: TrustedProxies,
    frontend_url: Option<String>,
    admin_ui_dir: Option<std::path::PathBuf>,
}

/// `BACKEND_CORS_ORIGINS`, `ALLOWED_HOSTS`, `TRUSTED_PROXIES`, `FRONTEND_URL`,
/// `ADMIN_UI_DIR`.
fn http<F: Fn(&str) -> Raw>(l: &mut Loader<F>) -> Http {
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
    let frontend_url = l.text("FRONTEND_URL");
    if let Some(url) = &frontend_url {
        if let Err(reason) = check_http_url(url, false) {
            l.problem(
                "FRONTEND_URL",
                format!("expected an http(s) URL, got {url:?} ({reason})"),
            );
        }
        if url.contains('#') {
            l.problem(
                "FRONTEND_URL",
                "must not contain a fragment (#): sign-in results are appended as one",
            );
        }
    }
    let admin_ui_dir = l.text("ADMIN_UI_DIR").map(std::path::PathBuf::from);
    if let Some(dir) = &admin_ui_dir
        && !dir.join("index.html").is_file()
    {
        l.problem(
            "ADMIN_UI_DIR",
            format!(
                "expected a built admin frontend (a folder holding index.html, such as \
                 examples/vue-admin/dist after `npm run build`); {} holds none",
                dir.display()
            ),
        );
    }
    Http {
        backend_cors_origins,
        allowed_hosts,
        trusted_proxies: TrustedProxies::new(proxies),
        frontend_url,
        admin_ui_dir,
    }
}

/// `ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM` (at least 8 KiB per
/// lane).
fn argon2<F: Fn(&str) -> Raw>(l: &mut Loader<F>) -> Argon2Settings {
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
    Argon2Settings {
        memory_kib: memory_kib.unwrap_or(19_456),
        iterations,
        parallelism: parallelism.unwrap_or(1),
    }
}

/// The bounds on work: hashing slots, per-IP and per-address limits, request timeout.
fn limits<F: Fn(&str) -> Raw>(l: &mut Loader<F>) -> LimitSettings {
    LimitSettings {
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
    }
}
