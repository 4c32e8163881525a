//! Deployment self-check (`fastvue check`): configuration, database, migrations, Redis,
//! connection budget and secrets.
//!
//! [`run`] never fails: every problem becomes a [`Finding`] with [`Status::Failed`]
//! (something is broken) or [`Status::Warning`] (it works, but should be looked at).
//! It never changes anything: it does not migrate, seed or write.
use std::collections::BTreeSet;
use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::Serialize;

use crate::config::{ConfigError, Environment, MIN_SECRET_BYTES, Secret, Settings};
use crate::error::Error;
use crate::permission::l2::RedisTier;
use crate::redis::KeySpace;

/// Connections kept free for administration on top of every replica's pool.
pub const ADMIN_CONNECTIONS: u64 = 10;
/// Sessions of the invalidation feed per process (listening, heartbeat).
pub const FEED_CONNECTIONS: u64 = 2;

/// Fewer distinct characters than this makes a secret look hand-made (`aaaa...`,
/// `1234...`); generated secrets of 32+ bytes have far more.
pub const MIN_DISTINCT_SECRET_CHARS: usize = 12;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but should be looked at.
    Warning,
    /// Broken: the deployment will not work (or not safely) like this.
    Failed,
    /// Not applicable here, or impossible because an earlier check failed.
    Skipped,
}

impl Status {
    /// `ok`, `warning`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked: `configuration`, `database`, `migrations`, `redis`,
    /// `connection budget` or `secrets`.
    pub check: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found, for a person to read. Never contains a secret.
    pub message: String,
}

/// Every finding, in the order the checks ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.status == Status::Failed)
    }

    fn push(&mut self, check: &'static str, status: Status, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            status,
            message: message.into(),
        });
    }
}

/// The report when the configuration itself does not load: one failed finding per
/// invalid variable.
pub fn configuration_failed(err: &ConfigError) -> Report {
    let mut report = Report::default();
    for problem in &err.problems {
        report.push("configuration", Status::Failed, problem.to_string());
    }
    report
}

/// Runs every check against `settings`.
pub async fn run(settings: &Settings) -> Report {
    let mut report = Report::default();
    report.push(
        "configuration",
        Status::Ok,
        format!(
            "valid ({} environment, {})",
            settings.environment,
            if settings.is_sqlite() {
                "SQLite"
            } else {
                "PostgreSQL"
            }
        ),
    );
    database(settings, &mut report).await;
    feed(settings, &mut report).await;
    redis(settings, &mut report).await;
    report.findings.extend(secret_findings(settings));
    report
}

/// The connections PostgreSQL must accept:
/// `(DB_POOL_SIZE + DB_MAX_OVERFLOW + 2) x FASTVUE_REPLICAS + 10`, the 2 being the
/// invalidation feed's listening and heartbeat sessions (none with `CACHE_ENABLED=false`).
pub fn connections_needed(settings: &Settings) -> u64 {
    let pool = &settings.db_pool;
    (u64::from(pool.pool_size) + u64::from(pool.max_overflow) + feed_connections(settings))
        * u64::from(settings.replicas)
        + ADMIN_CONNECTIONS
}

/// Sessions each process keeps for the invalidation feed (PostgreSQL, cache enabled).
fn feed_connections(settings: &Settings) -> u64 {
    if settings.feed_url().is_some() {
        FEED_CONNECTIONS
    } else {
        0
    }
}

/// Whether the invalidation feed can listen (PostgreSQL with the cache enabled).
async fn feed(settings: &Settings, report: &mut Report) {
    const CHECK: &str = "invalidation feed";
    let Some((url, var)) = settings.feed_url() else {
        report.push(
            CHECK,
            Status::Skipped,
            "SQLite or CACHE_ENABLED=false: no invalidation feed",
        );
        return;
    };
    let database_down = report
        .findings
        .iter()
        .any(|f| f.check == "database" && f.status == Status::Failed);
    if database_down {
        report.push(CHECK, Status::Skipped, "database unreachable");
        return;
    }
    match crate::permission::feed::probe(url, std::time::Duration::from_secs(5)).await {
        Ok(rtt) => report.push(
            CHECK,
            Status::Ok,
            format!(
                "LISTEN/NOTIFY works on {var}, round trip {:.1} ms; MAX_STALENESS_MS {}",
                rtt.as_secs_f64() * 1000.0,
                settings.cache.max_staleness.as_millis()
            ),
        ),
        Err(e) => report.push(
            CHECK,
            Status::Failed,
            format!(
                "{var} cannot carry the invalidation feed: {e}; replicas would read every permission check from the database"
            ),
        ),
    }
}

async fn database(settings: &Settings, report: &mut Report) {
    let url = settings.redacted_database_url();
    let conn = match crate::db::connect(settings).await {
        Ok(conn) => conn,
        Err(e) => {
            report.push(
                "database",
                Status::Failed,
                format!("{url}: unreachable: {}", cause(&e)),
            );
            report.push("migrations", Status::Skipped, "database unreachable");
            report.push("connection budget", Status::Skipped, "database unreachable");
            return;
        }
    };
    let start = Instant::now();
    if let Err(e) = conn.execute_unprepared("SELECT 1").await {
        report.push(
            "database",
            Status::Failed,
            format!("{url}: does not answer: {e}"),
        );
        report.push("migrations", Status::Skipped, "database does not answer");
        report.push(
            "connection budget",
            Status::Skipped,
            "database does not answer",
        );
        return;
    }
    report.push(
        "database",
        Status::Ok,
        format!(
            "{url}: reachable, round trip {:.1} ms",
            start.elapsed().as_secs_f64() * 1000.0
        ),
    );
    match crate::db::migration_status(&conn).await {
        Ok(status) => {
            let pending: Vec<&str> = status
                .iter()
                .filter(|(_, applied)| !applied)
                .map(|(name, _)| name.as_str())
                .collect();
            if pending.is_empty() {
                report.push(
                    "migrations",
                    Status::Ok,
                    format!("all {} applied", status.len()),
                );
            } else {
                report.push(
                    "migrations",
                    Status::Warning,
                    format!(
                        "{} of {} pending: {} (the server applies them at start; or run `fastvue migrate up`)",
                        pending.len(),
                        status.len(),
                        pending.join(", ")
                    ),
                );
            }
        }
        Err(e) => report.push("migrations", Status::Failed, cause(&e)),
    }
    connection_budget(settings, &conn, report).await;
    let _ = conn.close().await;
}

async fn connection_budget(settings: &Settings, conn: &DatabaseConnection, report: &mut Report) {
    const CHECK: &str = "connection budget";
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        report.push(
            CHECK,
            Status::Skipped,
            "SQLite has no server connection limit",
        );
        return;
    }
    let stmt = Statement::from_string(DatabaseBackend::Postgres, "SHOW max_connections");
    let max = match conn.query_one_raw(stmt).await {
        Ok(Some(row)) => row
            .try_get::<String>("", "max_connections")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok()),
        Ok(None) => None,
        Err(e) => {
            report.push(
                CHECK,
                Status::Failed,
                format!("SHOW max_connections failed: {e}"),
            );
            return;
        }
    };
    let Some(max) = max else {
        report.push(
            CHECK,
            Status::Failed,
            "SHOW max_connections returned no number",
        );
        return;
    };
    let needed = connections_needed(settings);
    let formula = format!(
        "(DB_POOL_SIZE {} + DB_MAX_OVERFLOW {} + feed {}) x FASTVUE_REPLICAS {} + {ADMIN_CONNECTIONS} = {needed}",
        settings.db_pool.pool_size,
        settings.db_pool.max_overflow,
        feed_connections(settings),
        settings.replicas
    );
    if needed > max {
        report.push(
            CHECK,
            Status::Warning,
            format!(
                "{formula} > max_connections {max}: lower the pools, raise max_connections or put PgBouncer in front"
            ),
        );
    } else {
        report.push(
            CHECK,
            Status::Ok,
            format!("{formula} <= max_connections {max}"),
        );
    }
}

async fn redis(settings: &Settings, report: &mut Report) {
    let Some(url) = &settings.redis.url else {
        if settings.replicas > 1 {
            report.push(
                "redis",
                Status::Failed,
                if settings.is_sqlite() {
                    format!(
                        "REDIS_URL is not set but FASTVUE_REPLICAS is {}: permission changes would not reach the other replicas' caches",
                        settings.replicas
                    )
                } else {
                    format!(
                        "REDIS_URL is not set but FASTVUE_REPLICAS is {}: each replica would count failed sign-ins on its own, multiplying the limits",
                        settings.replicas
                    )
                },
            );
        } else {
            report.push(
                "redis",
                Status::Skipped,
                "REDIS_URL is not set: in-process cache only (run a single server process)",
            );
        }
        return;
    };
    let tier = match RedisTier::new(
        url,
        1,
        settings.redis.pool_timeout,
        settings.cache.permission_ttl,
    ) {
        Ok(tier) => tier.with_keys(KeySpace::new(&settings.redis.key_prefix)),
        Err(e) => {
            report.push("redis", Status::Failed, format!("REDIS_URL: {e}"));
            return;
        }
    };
    match tier.ping().await {
        Ok(rtt) => report.push(
            "redis",
            Status::Ok,
            format!("reachable, round trip {:.1} ms", rtt.as_secs_f64() * 1000.0),
        ),
        Err(e) => report.push("redis", Status::Failed, format!("unreachable: {e}")),
    }
}

/// The `secrets` findings: shipped defaults, length and variety of `SECRET_KEY` and
/// `JWT_SECRET_KEY`, and whether they differ. Problems fail outside development and
/// warn in development. Never shows a secret.
pub fn secret_findings(settings: &Settings) -> Vec<Finding> {
    let strict = settings.environment != Environment::Development;
    let bad = if strict {
        Status::Failed
    } else {
        Status::Warning
    };
    let mut report = Report::default();
    let defaults = settings.default_secret_variables();
    if !defaults.is_empty() {
        report.push(
            "secrets",
            bad,
            format!(
                "{} use the shipped development defaults (refused in production)",
                defaults.join(" and ")
            ),
        );
    }
    for (var, secret) in [
        ("SECRET_KEY", &settings.secret_key),
        ("JWT_SECRET_KEY", &settings.jwt_secret_key),
    ] {
        if defaults.contains(&var) {
            continue;
        }
        if let Some(problem) = weakness(secret) {
            report.push("secrets", bad, format!("{var} {problem}"));
        }
    }
    if settings.secret_key.expose() == settings.jwt_secret_key.expose() && defaults.is_empty() {
        report.push(
            "secrets",
            Status::Warning,
            "SECRET_KEY and JWT_SECRET_KEY are equal; use two independent values",
        );
    }
    if report.findings.is_empty() {
        report.push(
            "secrets",
            Status::Ok,
            format!(
                "SECRET_KEY and JWT_SECRET_KEY are distinct, at least {MIN_SECRET_BYTES} bytes and varied"
            ),
        );
    }
    report.findings
}

fn weakness(secret: &Secret) -> Option<String> {
    let value = secret.expose();
    if value.len() < MIN_SECRET_BYTES {
        return Some(format!(
            "is {} bytes long; use at least {MIN_SECRET_BYTES} random bytes (refused in production)",
            value.len()
        ));
    }
    let distinct = value.chars().collect::<BTreeSet<_>>().len();
    if distinct < MIN_DISTINCT_SECRET_CHARS {
        return Some(format!(
            "has only {distinct} distinct characters; generate it, e.g. `openssl rand -base64 48`"
        ));
    }
    None
}

/// The cause an operator needs (HTTP clients never see these details).
fn cause(e: &Error) -> String {
    match e {
        Error::Unavailable(inner) => inner.to_string(),
        Error::Internal(detail) => detail.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_source(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
    }

    const A: &str = "Zq8vN3xR7tLm2KpW9sYd4HcF6jBn1GaE";
    const B: &str = "pX5wQ8rT2yU7iO4aS1dF9gH3jK6lZ0cV";

    #[test]
    fn connection_budget_follows_the_documented_rule() {
        let s = settings(&[
            ("DB_POOL_SIZE", "5"),
            ("DB_MAX_OVERFLOW", "10"),
            ("FASTVUE_REPLICAS", "4"),
        ]);
        assert_eq!(connections_needed(&s), 70, "SQLite: no feed sessions");
        assert_eq!(connections_needed(&settings(&[])), 25);
        let pg = settings(&[
            ("DATABASE_URL", "postgres://u@db/fastvue"),
            ("DB_POOL_SIZE", "5"),
            ("DB_MAX_OVERFLOW", "10"),
            ("FASTVUE_REPLICAS", "4"),
        ]);
        assert_eq!(connections_needed(&pg), (5 + 10 + 2) * 4 + 10);
        let uncached = settings(&[
            ("DATABASE_URL", "postgres://u@db/fastvue"),
            ("CACHE_ENABLED", "false"),
        ]);
        assert_eq!(connections_needed(&uncached), 25);
    }

    #[test]
    fn shipped_defaults_warn_in_development() {
        let findings = secret_findings(&settings(&[]));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].status, Status::Warning);
        assert!(
            findings[0]
                .message
                .contains("SECRET_KEY and JWT_SECRET_KEY")
        );
    }

    #[test]
    fn strong_distinct_secrets_pass_in_production() {
        let s = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", A),
            ("JWT_SECRET_KEY", B),
        ]);
        let findings = secret_findings(&s);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Ok);
        assert!(!findings[0].message.contains(A));
    }

    #[test]
    fn low_variety_secrets_fail_in_production_without_showing_them() {
        let weak = "abababababababababababababababab";
        let s = settings(&[
            ("ENVIRONMENT", "production"),
            ("SECRET_KEY", weak),
            ("JWT_SECRET_KEY", B),
        ]);
        let findings = secret_findings(&s);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].status, Status::Failed);
        assert!(
            findings[0]
                .message
                .starts_with("SECRET_KEY has only 2 distinct")
        );
        assert!(!findings[0].message.contains(weak));
    }

    #[test]
    fn equal_keys_and_short_development_keys_warn() {
        let s = settings(&[("SECRET_KEY", "short"), ("JWT_SECRET_KEY", "short")]);
        let findings = secret_findings(&s);
        let statuses: Vec<Status> = findings.iter().map(|f| f.status).collect();
        assert_eq!(statuses, [Status::Warning; 3], "{findings:?}");
        assert!(findings[2].message.contains("are equal"));
    }

    #[test]
    fn a_configuration_error_becomes_one_failed_finding_per_variable() {
        let err = Settings::from_source(|k| match k {
            "PORT" => Some("x".into()),
            "DB_POOL_SIZE" => Some("0".into()),
            _ => None,
        })
        .unwrap_err();
        let report = configuration_failed(&err);
        assert!(report.failed());
        assert_eq!(report.findings.len(), 2);
        assert!(report.findings[0].message.starts_with("PORT: "));
    }
}
