//! The value types of the settings: environment, log format, JWT algorithm, secrets.
use std::fmt;

use super::REDACTED;

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
