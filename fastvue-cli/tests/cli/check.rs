//! `fastvue check`.
use fastvue_core::testing::Backend;
use serde_json::Value;

use crate::helpers::{Env, bare, free_port};

/// The JSON report and the exit code of `fastvue --json check`.
fn check(cmd: &mut assert_cmd::Command) -> (Value, i32) {
    let output = cmd
        .arg("--json")
        .arg("check")
        .output()
        .expect("run fastvue");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (report, output.status.code().expect("exit code"))
}

/// The status of the finding of `check` (the first one when there are several).
fn status<'a>(report: &'a Value, check: &str) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .and_then(|f| f["status"].as_str())
        .unwrap_or_else(|| panic!("no {check} finding in {report}"))
}

fn message<'a>(report: &'a Value, check: &str) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("no {check} finding in {report}"))
}

#[test]
fn check_passes_on_a_migrated_database() {
    let env = Env::new();
    let (report, code) = check(&mut env.fastvue());
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(status(&report, "configuration"), "ok");
    assert_eq!(status(&report, "database"), "ok");
    assert!(message(&report, "database").contains("round trip"));
    assert_eq!(status(&report, "migrations"), "ok");
    let (redis, budget) = match (env.redis.is_some(), env.backend()) {
        (true, Backend::Postgres) => ("ok", "ok"),
        (true, Backend::Sqlite) => ("ok", "skipped"),
        (false, Backend::Postgres) => ("skipped", "ok"),
        (false, Backend::Sqlite) => ("skipped", "skipped"),
    };
    assert_eq!(status(&report, "redis"), redis, "{report}");
    assert_eq!(status(&report, "connection budget"), budget, "{report}");
    // The connection budget and the invalidation feed follow the backend.
    assert_eq!(status(&report, "invalidation feed"), budget, "{report}");
    if env.backend() == Backend::Postgres {
        assert!(
            message(&report, "connection budget").contains("+ feed 2)"),
            "{report}"
        );
        assert!(message(&report, "invalidation feed").contains("LISTEN/NOTIFY works"));
    }
    // Development with the shipped secrets: a warning, not a failure.
    assert_eq!(status(&report, "secrets"), "warning");
    let text = env
        .fastvue()
        .arg("check")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("CHECK"), "{text}");
}

#[test]
fn check_lists_pending_migrations_as_a_warning() {
    let env = Env::unmigrated();
    let (report, code) = check(&mut env.fastvue());
    assert_eq!(code, 0, "{report}");
    assert_eq!(status(&report, "migrations"), "warning");
    assert!(
        message(&report, "migrations").contains("m20261122_000001_companies_users"),
        "{report}"
    );
}

#[test]
fn check_fails_with_exit_1_when_the_database_is_unreachable() {
    let (report, code) = check(
        bare()
            .env("DATABASE_URL", "postgres://nobody:secret@127.0.0.1:1/none")
            .env("DB_POOL_TIMEOUT", "2"),
    );
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    assert_eq!(status(&report, "database"), "failed");
    assert_eq!(status(&report, "migrations"), "skipped");
    assert!(
        !report.to_string().contains("secret@"),
        "password shown: {report}"
    );
}

#[test]
fn check_fails_when_redis_is_unreachable() {
    let env = Env::new();
    let (report, code) = check(
        env.fastvue_without_redis()
            .env("REDIS_URL", "redis://127.0.0.1:1/")
            .env("REDIS_POOL_TIMEOUT", "1"),
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(status(&report, "redis"), "failed");
}

#[test]
fn check_fails_with_several_replicas_and_no_redis() {
    let env = Env::new();
    let (report, code) = check(env.fastvue_without_redis().env("FASTVUE_REPLICAS", "2"));
    assert_eq!(code, 1, "{report}");
    assert_eq!(status(&report, "redis"), "failed");
}

#[test]
fn check_fails_when_the_listen_url_cannot_listen() {
    let env = Env::new();
    if env.backend() != Backend::Postgres {
        eprintln!("FASTVUE_TEST_DATABASE_URL is not set; the feed check test did not run");
        return;
    }
    let closed = format!("postgres://postgres@127.0.0.1:{}/none", free_port());
    let (report, code) = check(env.fastvue().env("DATABASE_LISTEN_URL", &closed));
    assert_eq!(code, 1, "{report}");
    assert_eq!(status(&report, "invalidation feed"), "failed");
    let text = message(&report, "invalidation feed");
    assert!(
        text.contains("DATABASE_LISTEN_URL cannot carry"),
        "{report}"
    );
}

#[test]
fn check_warns_when_the_pools_exceed_max_connections() {
    let env = Env::new();
    if env.backend() != Backend::Postgres {
        eprintln!("FASTVUE_TEST_DATABASE_URL is not set; the PostgreSQL budget test did not run");
        return;
    }
    let (report, code) = check(env.fastvue().env("FASTVUE_REPLICAS", "100000"));
    assert_eq!(code, 0, "a warning is not a failure: {report}");
    assert_eq!(status(&report, "connection budget"), "warning");
    assert!(
        message(&report, "connection budget").contains("x FASTVUE_REPLICAS 100000"),
        "{report}"
    );
}

#[test]
fn check_fails_on_a_low_variety_production_secret() {
    let env = Env::new();
    let (report, code) = check(
        env.fastvue()
            .env("ENVIRONMENT", "production")
            .env("SECRET_KEY", "ab".repeat(20))
            .env("JWT_SECRET_KEY", "Zq8vN3xR7tLm2KpW9sYd4HcF6jBn1GaE"),
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(status(&report, "secrets"), "failed");
    assert!(!report.to_string().contains("abab"), "secret shown");
}

#[test]
fn check_reports_an_invalid_configuration_and_exits_2() {
    let (report, code) = check(bare().env("PORT", "none").env("DB_POOL_SIZE", "0"));
    assert_eq!(code, 2);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{report}");
    assert!(findings.iter().all(|f| f["status"] == "failed"));
}
