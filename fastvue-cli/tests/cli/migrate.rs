//! `fastvue migrate`.
use crate::helpers::{Env, bare, fails, json, stdout};

#[test]
fn migrate_up_applies_all_then_status_shows_them_applied() {
    let env = Env::unmigrated();
    let out = stdout(env.fastvue().args(["migrate", "up"]));
    assert!(
        out.contains("applied m20261122_000001_companies_users"),
        "{out}"
    );
    let rows = json(env.fastvue().args(["--json", "migrate", "status"]));
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["applied"] == true)
    );
    assert_eq!(
        stdout(env.fastvue().args(["migrate", "up"])).trim(),
        "nothing to do"
    );
}

#[test]
fn migrate_down_rolls_back_the_last_n_and_up_reapplies_them() {
    let env = Env::unmigrated();
    env.fastvue().args(["migrate", "up"]).assert().success();
    let all = json(env.fastvue().args(["--json", "migrate", "status"]));
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let out = stdout(env.fastvue().args(["migrate", "down", "-n", "2"]));
    let expected: Vec<String> = names
        .iter()
        .rev()
        .take(2)
        .map(|n| format!("rolled back {n}"))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
    let status = stdout(env.fastvue().args(["migrate", "status"]));
    assert_eq!(status.matches("pending").count(), 2, "{status}");
    let again = stdout(env.fastvue().args(["migrate", "up"]));
    assert_eq!(again.lines().count(), 2, "{again}");
}

#[test]
fn migrate_fresh_without_force_is_refused_with_exit_code_2() {
    let env = Env::unmigrated();
    let err = fails(env.fastvue().args(["migrate", "fresh"]), 2);
    assert!(err.contains("--force"), "{err}");
}

#[test]
fn migrate_fresh_with_force_rebuilds_the_schema() {
    let env = Env::unmigrated();
    env.fastvue().args(["migrate", "up"]).assert().success();
    let out = stdout(env.fastvue().args(["migrate", "fresh", "--force"]));
    let applied = out.lines().filter(|l| l.starts_with("applied ")).count();
    assert_eq!(
        applied,
        stdout(env.fastvue().args(["migrate", "status"]))
            .matches("applied")
            .count(),
        "{out}"
    );
}

#[test]
fn unreachable_database_fails_with_one_clear_line_and_exit_code_1() {
    let err = fails(
        bare()
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("DB_POOL_TIMEOUT", "2")
            .args(["migrate", "status"]),
        1,
    );
    assert!(err.contains("database unavailable"), "{err}");
}

#[test]
fn invalid_configuration_names_the_variable_and_exits_2() {
    let err = fails(
        bare().env("PORT", "not-a-port").args(["migrate", "status"]),
        2,
    );
    assert!(err.contains("PORT"), "{err}");
}
