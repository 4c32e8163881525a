//! The one error type of fastvue-core; the server maps each variant to an HTTP status.
use sea_orm::DbErr;
use serde::Serialize;
use serde_json::{Map, Value};

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field name as the client sent it (`email`, `permissions[2]`, ...).
    pub field: String,
    /// What is wrong, for a program (a UI translating it): see [`Problem::code`].
    pub code: &'static str,
    /// What is wrong, for a person to read (English).
    pub message: String,
    /// The values the message names (`{"min": 2, "max": 100}`), for a translation.
    pub params: Map<String, Value>,
}

impl FieldError {
    /// A problem with `field`: a [`Problem`], or a message (code `invalid`).
    pub fn new(field: impl Into<String>, problem: impl Into<Problem>) -> Self {
        let problem = problem.into();
        Self {
            field: field.into(),
            code: problem.code,
            message: problem.message,
            params: problem.params,
        }
    }
}

/// What is wrong with one value: a machine code with its parameters, and the English
/// message they make. Parsers return it; [`FieldError`] puts it on a field.
///
/// Codes: `required` (missing or empty), `length` (`min`, `max` characters),
/// `characters` (`allowed`: a character class such as `a-z0-9_-`),
/// `control_characters`, `format` (`expected`: a pattern such as `resource.action`),
/// `email`, `range` (`min`, `max`), `too_many` (`max` items), `unknown` (`value`: a name
/// that refers to nothing; `allowed`: the names that would, when they are few), `taken`
/// (a unique value in use: 409), `unknown_field`, `type` (JSON of the wrong type),
/// `invalid` (anything else: only the message says what).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The machine code.
    pub code: &'static str,
    /// The English message.
    pub message: String,
    /// The code's parameters.
    pub params: Map<String, Value>,
}

impl Problem {
    /// A problem `code` described by `message`, without parameters.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            params: Map::new(),
        }
    }

    /// The same problem with the parameter `key`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }

    /// `required`: the value is missing or empty.
    pub fn required() -> Self {
        Self::new("required", "is required")
    }

    /// `length`: `min` to `max` characters.
    pub fn length(min: usize, max: usize) -> Self {
        Self::new("length", format!("must be {min} to {max} characters"))
            .with("min", min)
            .with("max", max)
    }

    /// `length` with no lower bound than 1: at most `max` characters.
    pub fn at_most(max: usize) -> Self {
        Self::new("length", format!("must be at most {max} characters")).with("max", max)
    }

    /// `characters`: only the characters of `class` (a character class such as
    /// `a-zA-Z0-9_.-`, the same in every language), described in English by `words`.
    pub fn characters(words: &str, class: &str) -> Self {
        Self::new("characters", format!("may contain only {words}")).with("allowed", class)
    }

    /// `format`: the value should look like `expected`.
    pub fn format(message: impl Into<String>, expected: &str) -> Self {
        Self::new("format", message).with("expected", expected)
    }

    /// `range`: a number from `min` to `max`.
    pub fn range(min: i64, max: i64) -> Self {
        Self::new("range", format!("must be between {min} and {max}"))
            .with("min", min)
            .with("max", max)
    }

    /// `too_many`: at most `max` items.
    pub fn too_many(max: usize, what: &str) -> Self {
        Self::new("too_many", format!("at most {max} {what}")).with("max", max)
    }

    /// `unknown`: `value` names no `what`.
    pub fn unknown(what: &str, value: &str) -> Self {
        Self::new("unknown", format!("unknown {what} {value}")).with("value", value)
    }
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Self::new("invalid", message)
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Self {
        Self::new("invalid", message)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything a core service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; every bad field is listed.
    #[error("validation failed: {}", summarize(.0))]
    Validation(Vec<FieldError>),
    /// The row does not exist (or the caller may not know it exists).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `user`.
        entity: &'static str,
    },
    /// A unique value is taken, or the write conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// The field holding the conflicting value, when there is one.
        field: Option<&'static str>,
        /// What conflicts.
        message: String,
    },
    /// The caller is not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown user or wrong password (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many attempts of this kind from this client; try again in `retry_after` seconds.
    #[error("{message}")]
    RateLimited {
        /// What was limited, for a person to read.
        message: String,
        /// Seconds until an attempt may succeed again.
        retry_after: u64,
    },
    /// A bounded resource is at its limit (password hashing slots): the work was not
    /// started; try again in `retry_after` seconds.
    #[error("{message}")]
    Busy {
        /// What is busy, for a person to read.
        message: String,
        /// Seconds after which a retry is likely to be served.
        retry_after: u64,
    },
    /// A service outside fastvue that this step needs (a sign-in provider) could not be
    /// reached; try again in `retry_after` seconds.
    #[error("{message}")]
    Upstream {
        /// What is unreachable, for a person to read.
        message: String,
        /// Seconds after which a retry may succeed.
        retry_after: u64,
    },
    /// The database could not be reached or did not answer in time.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// A bug or an unexpected database failure; details are logged, never shown to clients.
    #[error("internal error")]
    Internal(String),
}

fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Shorthand for results of core services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A validation error on a single field (a [`Problem`], or a message: `invalid`).
    pub fn invalid(field: impl Into<String>, problem: impl Into<Problem>) -> Self {
        Error::Validation(vec![FieldError::new(field, problem)])
    }

    /// A unique conflict on `field`.
    pub fn conflict(field: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            field: Some(field),
            message: message.into(),
        }
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return Error::Unavailable(err);
        }
        // Logged once, with the request id, where it is turned into a 500.
        Error::Internal(format!("database: {err}"))
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => {
            matches!(
                e.as_ref(),
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
            ) || is_admin_shutdown(e.as_ref())
        }
        _ => false,
    }
}

/// PostgreSQL answers `57P01 admin_shutdown` to a backend killed by `pg_terminate_backend`.
fn is_admin_shutdown(e: &sea_orm::sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code.starts_with("57P") || code.starts_with("08"))
}

/// Maps unique-constraint violations to [`Error::Conflict`] naming the field.
///
/// `rules` pairs a field with the needles that identify its constraint in the driver's
/// message: the PostgreSQL constraint name and the SQLite `table.column` list.
pub(crate) fn map_unique(err: DbErr, rules: &[(&'static str, &[&str])]) -> Error {
    if let Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        for (field, needles) in rules {
            if needles.iter().any(|n| message.contains(n)) {
                return Error::conflict(field, format!("{field} is already taken"));
            }
        }
        return Error::Conflict {
            field: None,
            message: "a row with these values already exists".into(),
        };
    }
    err.into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

    use super::*;

    #[test]
    fn pool_timeouts_and_lost_connections_are_unavailable() {
        let timeout = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        assert!(matches!(Error::from(timeout), Error::Unavailable(_)));
        let io = DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        ))));
        assert!(matches!(Error::from(io), Error::Unavailable(_)));
    }

    #[test]
    fn other_database_errors_are_internal_and_hide_nothing_in_display() {
        let err = Error::from(DbErr::Custom("syntax error at SELECT secret".into()));
        assert!(matches!(&err, Error::Internal(_)));
        assert_eq!(err.to_string(), "internal error");
    }

    #[test]
    fn non_unique_errors_pass_through_map_unique() {
        let err = map_unique(
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            &[("email", &["users.email"])],
        );
        assert!(matches!(err, Error::Unavailable(_)));
    }
}
