//! `fastvue migrate` end to end, through the real binary.
use assert_cmd::Command;
use fastvue_core::testing::TestDatabase;

struct Db(TestDatabase);

impl Db {
    fn new() -> Self {
        Self(TestDatabase::create_blocking("fastvue_cli"))
    }

    fn fastvue(&self) -> Command {
        let mut cmd = Command::cargo_bin("fastvue").unwrap();
        cmd.env("DATABASE_URL", self.0.url())
            .env_remove("REDIS_URL")
            .current_dir(std::env::temp_dir());
        cmd
    }
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn migrate_up_applies_all_then_status_shows_them_applied() {
    let db = Db::new();
    let out = stdout(db.fastvue().args(["migrate", "up"]));
    assert!(
        out.contains("applied m20261122_000001_companies_users"),
        "{out}"
    );
    let status = stdout(db.fastvue().args(["--json", "migrate", "status"]));
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["applied"] == true)
    );
    assert_eq!(
        stdout(db.fastvue().args(["migrate", "up"])).trim(),
        "nothing to do"
    );
}

#[test]
fn migrate_down_rolls_back_the_last_n_and_up_reapplies_them() {
    let db = Db::new();
    db.fastvue().args(["migrate", "up"]).assert().success();
    let out = stdout(db.fastvue().args(["migrate", "down", "-n", "2"]));
    assert!(
        out.contains("rolled back m20261122_000005_audit_logs"),
        "{out}"
    );
    assert!(
        out.contains("rolled back m20261122_000004_auth_tokens"),
        "{out}"
    );
    let status = stdout(db.fastvue().args(["migrate", "status"]));
    assert_eq!(status.matches("pending").count(), 2, "{status}");
    let again = stdout(db.fastvue().args(["migrate", "up"]));
    assert_eq!(again.lines().count(), 2, "{again}");
}

#[test]
fn migrate_fresh_without_force_is_refused_with_exit_code_2() {
    let db = Db::new();
    let out = db
        .fastvue()
        .args(["migrate", "fresh"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("--force"));
}

#[test]
fn migrate_fresh_with_force_rebuilds_the_schema() {
    let db = Db::new();
    db.fastvue().args(["migrate", "up"]).assert().success();
    let out = stdout(db.fastvue().args(["migrate", "fresh", "--force"]));
    assert_eq!(out.lines().count(), 5, "{out}");
}

#[test]
fn unreachable_database_fails_with_one_clear_line_and_exit_code_1() {
    let mut cmd = Command::cargo_bin("fastvue").unwrap();
    cmd.env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("DB_POOL_TIMEOUT", "2")
        .current_dir(std::env::temp_dir())
        .args(["migrate", "status"]);
    let out = cmd.assert().code(1).get_output().stderr.clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn invalid_configuration_names_the_variable_and_exits_2() {
    let mut cmd = Command::cargo_bin("fastvue").unwrap();
    cmd.env("PORT", "not-a-port")
        .current_dir(std::env::temp_dir())
        .args(["migrate", "status"]);
    let out = cmd.assert().code(2).get_output().stderr.clone();
    assert!(String::from_utf8(out).unwrap().contains("PORT"));
}
