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

mod load;
mod loader;
mod mail;
mod oauth;
mod settings;
#[cfg(test)]
mod tests;
mod values;

pub use loader::{ConfigError, ConfigProblem};
use loader::{Loader, Raw, check_http_url, split_list};
pub use mail::{MailSettings, SmtpSettings, SmtpTls};
pub use oauth::{
    GITHUB_API_URL, GITHUB_AUTH_URL, GITHUB_TOKEN_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL, JWKS_MIN_REFRESH, MAX_PROVIDERS, OAUTH_STATE_TTL, OAuthSettings, Protocol,
    ProviderSettings,
};
pub use settings::{
    Argon2Settings, CacheSettings, DbPoolSettings, LimitSettings, RedisSettings, Settings,
    SseSettings,
};
pub use values::{Environment, JwtAlgorithm, LogFormat, Secret};

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
