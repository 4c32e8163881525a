//! Configuration tests: defaults, every problem named, production rules, no secret
//! ever echoed.
use std::collections::HashMap;
use std::env::VarError;
use std::path::Path;
use std::time::Duration;

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
        ("CACHE_DEFAULT_TTL", "120"),
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
    // The older CACHE_DEFAULT_TTL is the permission TTL unless PERMISSION_CACHE_TTL is set.
    assert_eq!(s.cache.permission_ttl, Duration::from_secs(120));
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
fn debug_makes_debug_the_default_log_level_but_an_explicit_level_wins() {
    assert_eq!(settings(&[("DEBUG", "true")]).unwrap().log_level, "debug");
    assert_eq!(
        settings(&[("DEBUG", "true"), ("LOG_LEVEL", "warn")])
            .unwrap()
            .log_level,
        "warn"
    );
    let s = settings(&[("CACHE_DEFAULT_TTL", "60"), ("PERMISSION_CACHE_TTL", "900")]).unwrap();
    assert_eq!(s.cache.permission_ttl, Duration::from_secs(900));
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
        let path =
            std::env::temp_dir().join(format!("fastvue-config-{}-{name}.env", std::process::id()));
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

/// Sign-in provider settings (`OAUTH_PROVIDERS`, `OAUTH_{NAME}_*`, the `GOOGLE_*`
/// aliases), read through [`Settings::from_source`].
mod oauth {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut all = vec![("FRONTEND_URL", "https://app.example.com")];
        all.extend_from_slice(vars);
        Settings::from_source(|k| {
            all.iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    fn variables(err: &ConfigError) -> Vec<&str> {
        err.problems.iter().map(|p| p.variable.as_str()).collect()
    }

    const CORP: &[(&str, &str)] = &[
        ("OAUTH_PROVIDERS", "google, GitHub corp-sso"),
        ("GOOGLE_CLIENT_ID", "g-id"),
        ("GOOGLE_CLIENT_SECRET", "g-secret"),
        (
            "GOOGLE_REDIRECT_URI",
            "https://api.example.com/api/v1/auth/oauth/google/callback",
        ),
        ("OAUTH_GITHUB_CLIENT_ID", "gh-id"),
        ("OAUTH_GITHUB_CLIENT_SECRET", "gh-secret"),
        (
            "OAUTH_GITHUB_REDIRECT_URI",
            "https://api.example.com/api/v1/auth/oauth/github/callback",
        ),
        (
            "OAUTH_CORP_SSO_ISSUER",
            "https://sso.example.com/realms/staff/",
        ),
        ("OAUTH_CORP_SSO_CLIENT_ID", "corp-id"),
        ("OAUTH_CORP_SSO_CLIENT_SECRET", "corp-secret"),
        (
            "OAUTH_CORP_SSO_REDIRECT_URI",
            "https://api.example.com/api/v1/auth/oauth/corp-sso/callback",
        ),
        ("OAUTH_CORP_SSO_DISPLAY_NAME", "Staff SSO"),
        ("OAUTH_CORP_SSO_ALLOW_SIGNUP", "true"),
        ("OAUTH_CORP_SSO_DEFAULT_COMPANY", "staff"),
        ("OAUTH_CORP_SSO_DEFAULT_ROLE", "manager"),
        (
            "OAUTH_CORP_SSO_ALLOWED_DOMAINS",
            "Example.com, @staff.example.com",
        ),
        ("OAUTH_CORP_SSO_AUTO_LINK", "no"),
    ];

    #[test]
    fn providers_are_read_in_order_with_kinds_from_their_names_and_google_aliases() {
        let s = load(CORP).expect("valid providers");
        let names: Vec<&str> = s.oauth.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["google", "github", "corp-sso"]);
        let google = s.oauth.provider("google").unwrap();
        assert_eq!(google.protocol.as_str(), "google");
        assert_eq!(google.client_id, "g-id");
        assert_eq!(google.display_name, "Google");
        assert_eq!(google.scopes, ["openid", "email", "profile"]);
        let github = s.oauth.provider("github").unwrap();
        assert_eq!(
            github.protocol,
            Protocol::GitHub {
                auth_url: GITHUB_AUTH_URL.into(),
                token_url: GITHUB_TOKEN_URL.into(),
                api_url: GITHUB_API_URL.into(),
            }
        );
        assert_eq!(github.scopes, ["read:user", "user:email"]);
        let corp = s.oauth.provider("corp-sso").unwrap();
        assert_eq!(
            corp.protocol,
            Protocol::Oidc {
                issuer: "https://sso.example.com/realms/staff".into()
            }
        );
        assert_eq!(corp.display_name, "Staff SSO");
        assert!(corp.allow_signup && !corp.auto_link);
        assert_eq!(corp.signup_company.as_deref(), Some("STAFF"));
        assert_eq!(corp.signup_role, "manager");
        assert_eq!(corp.allowed_domains, ["example.com", "staff.example.com"]);
        assert!(corp.allows_email("a@EXAMPLE.com"));
        assert!(!corp.allows_email("a@example.com.evil.io"));
        assert!(!corp.allows_email("a@sub.example.com"));
        assert!(github.allows_email("anyone@anywhere.io"));
        assert!(s.oauth.provider("nope").is_none());
    }

    #[test]
    fn each_invalid_google_variable_is_reported_when_google_is_enabled() {
        let base = [
            ("GOOGLE_CLIENT_ID", "g-id"),
            ("GOOGLE_CLIENT_SECRET", "g-secret"),
            ("GOOGLE_REDIRECT_URI", "https://api.example.com/cb"),
        ];
        for (variable, value) in [
            ("GOOGLE_REDIRECT_URI", "ftp://x"),
            ("GOOGLE_AUTH_URL", "accounts.example.com/auth"),
            ("GOOGLE_TOKEN_URL", "ftp://idp.example.com/token"),
            ("GOOGLE_USERINFO_URL", "https://"),
            ("GOOGLE_AUTO_LINK", "maybe"),
            ("GOOGLE_ALLOW_SIGNUP", "2"),
            ("OAUTH_GOOGLE_DISPLAY_NAME", "a\u{7}bell"),
        ] {
            let mut vars = base.to_vec();
            vars.push((variable, value));
            let err = load(&vars).unwrap_err();
            assert_eq!(
                variables(&err),
                [variable],
                "{variable}={value:?} gave {err}"
            );
        }
    }

    #[test]
    fn oauth_variables_win_over_their_google_aliases() {
        let mut vars = CORP.to_vec();
        vars.push(("OAUTH_GOOGLE_CLIENT_ID", "new-id"));
        let s = load(&vars).unwrap();
        assert_eq!(s.oauth.provider("google").unwrap().client_id, "new-id");
    }

    #[test]
    fn each_provider_problem_names_its_own_variable() {
        let err = load(&[("OAUTH_PROVIDERS", "corp,github")]).unwrap_err();
        assert_eq!(
            variables(&err),
            [
                "OAUTH_CORP_ISSUER",
                "OAUTH_CORP_CLIENT_ID",
                "OAUTH_CORP_CLIENT_SECRET",
                "OAUTH_CORP_REDIRECT_URI",
                "OAUTH_GITHUB_CLIENT_ID",
                "OAUTH_GITHUB_CLIENT_SECRET",
                "OAUTH_GITHUB_REDIRECT_URI",
            ]
        );
        assert!(err.to_string().contains("/api/v1/auth/oauth/corp/callback"));
    }

    #[test]
    fn bad_names_types_scopes_domains_and_a_stray_google_id_are_refused() {
        let err = load(&[("OAUTH_PROVIDERS", "9lives,a_b,providers,x,x")]).unwrap_err();
        let text = err.to_string();
        for needle in ["\"9lives\"", "\"a_b\"", "\"providers\"", "listed twice"] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let mut vars = CORP.to_vec();
        vars.extend_from_slice(&[
            ("OAUTH_GITHUB_TYPE", "saml"),
            ("OAUTH_CORP_SSO_SCOPES", "email profile"),
            ("OAUTH_CORP_SSO_ALLOWED_DOMAINS", "not a domain"),
        ]);
        let err = load(&vars).unwrap_err();
        assert_eq!(
            variables(&err),
            [
                "OAUTH_GITHUB_TYPE",
                "OAUTH_CORP_SSO_SCOPES",
                "OAUTH_CORP_SSO_ALLOWED_DOMAINS"
            ]
        );
        let err = load(&[
            ("OAUTH_PROVIDERS", "github"),
            ("GOOGLE_CLIENT_ID", "g"),
            ("OAUTH_GITHUB_CLIENT_ID", "a"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "b"),
            ("OAUTH_GITHUB_REDIRECT_URI", "http://localhost:8000/cb"),
        ])
        .unwrap_err();
        assert_eq!(variables(&err), ["GOOGLE_CLIENT_ID"]);
    }

    #[test]
    fn issuers_and_endpoints_must_be_https_in_production_and_signup_needs_a_company() {
        let strong = "k".repeat(40);
        let jwt = "j".repeat(40);
        let err = load(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", strong.as_str()),
            ("JWT_SECRET_KEY", jwt.as_str()),
            ("OAUTH_PROVIDERS", "corp,github"),
            ("OAUTH_CORP_ISSUER", "http://sso.internal"),
            ("OAUTH_CORP_CLIENT_ID", "a"),
            ("OAUTH_CORP_CLIENT_SECRET", "b"),
            ("OAUTH_CORP_REDIRECT_URI", "https://api.example.com/cb"),
            ("OAUTH_GITHUB_CLIENT_ID", "a"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "b"),
            ("OAUTH_GITHUB_REDIRECT_URI", "https://api.example.com/cb"),
            ("OAUTH_GITHUB_API_URL", "http://ghe.internal/api/v3"),
            ("OAUTH_GITHUB_ALLOW_SIGNUP", "true"),
        ])
        .unwrap_err();
        assert_eq!(
            variables(&err),
            ["OAUTH_CORP_ISSUER", "OAUTH_GITHUB_API_URL"]
        );
        let err = load(&[
            ("OAUTH_PROVIDERS", "github"),
            ("OAUTH_GITHUB_CLIENT_ID", "a"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "b"),
            ("OAUTH_GITHUB_REDIRECT_URI", "https://api.example.com/cb"),
            ("OAUTH_GITHUB_ALLOW_SIGNUP", "true"),
        ])
        .unwrap_err();
        assert_eq!(variables(&err), ["OAUTH_GITHUB_DEFAULT_COMPANY"]);
        let s = load(&[
            ("OAUTH_PROVIDERS", "github"),
            ("OAUTH_GITHUB_CLIENT_ID", "a"),
            ("OAUTH_GITHUB_CLIENT_SECRET", "b"),
            ("OAUTH_GITHUB_REDIRECT_URI", "https://api.example.com/cb"),
            ("OAUTH_GITHUB_ALLOW_SIGNUP", "true"),
            ("DEFAULT_SIGNUP_COMPANY", "default"),
            ("DEFAULT_SIGNUP_ROLE", "editor"),
        ])
        .unwrap();
        let gh = s.oauth.provider("github").unwrap();
        assert_eq!(gh.signup_company.as_deref(), Some("DEFAULT"));
        assert_eq!(gh.signup_role, "editor");
    }
}
