//! `fastvue data load | export`.
use std::path::PathBuf;

use fastvue_core::service::users::UserFilter;
use serde_json::{Value, json};

use crate::helpers::{Env, bare, fails, json as run_json, stdout};

/// The password of every demo user (documented in data/demo.json).
const DEMO_PASSWORD: &str = "demo-password-123";

/// A file in the temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> Self {
        let path = std::env::temp_dir().join(format!("fastvue-cli-{}-{name}", uuid_like()));
        std::fs::write(&path, content).expect("write temp file");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn counts(report: &Value, kind: &str) -> (u64, u64, u64) {
    let c = &report["report"][kind];
    (
        c["created"].as_u64().unwrap(),
        c["updated"].as_u64().unwrap(),
        c["unchanged"].as_u64().unwrap(),
    )
}

fn usernames(env: &Env) -> Vec<String> {
    let page = fastvue_core::pagination::PageRequest::new(Some(1), Some(100)).unwrap();
    let mut names: Vec<String> = env
        .block_on(
            env.fv
                .users()
                .list(&fastvue_core::Actor::system(), &UserFilter::default(), page),
        )
        .unwrap()
        .items
        .into_iter()
        .map(|u| u.username)
        .collect();
    names.sort();
    names
}

#[test]
fn loading_the_demo_twice_creates_everything_once_then_changes_nothing() {
    let env = Env::unmigrated();
    let first = run_json(env.fastvue().args(["--json", "data", "load"]));
    assert_eq!(counts(&first, "companies"), (6, 0, 0), "{first}");
    assert_eq!(counts(&first, "users"), (6, 0, 0), "{first}");
    assert_eq!(counts(&first, "groups"), (6, 0, 0), "{first}");
    assert_eq!(counts(&first, "assignments"), (9, 0, 0), "{first}");
    // Created: editor, finance_manager, hr_admin, project_manager. Updated: the seeded
    // admin and manager of DEFAULT gain demo permissions. Unchanged: its viewer.
    assert_eq!(counts(&first, "roles"), (4, 2, 1), "{first}");
    let second = run_json(env.fastvue().args(["--json", "data", "load"]));
    for kind in [
        "companies",
        "users",
        "permissions",
        "roles",
        "groups",
        "assignments",
    ] {
        let (created, updated, _) = counts(&second, kind);
        assert_eq!((created, updated), (0, 0), "{kind}: {second}");
    }

    let fv = &env.fv;
    let alice = env
        .block_on(fv.users().authenticate("alicejohnson", DEMO_PASSWORD))
        .expect("demo users sign in with the documented password");
    let globaltech = env
        .block_on(fv.companies().find_by_code("GLOBALTECH"))
        .unwrap()
        .unwrap();
    let held = env
        .block_on(fv.authorizer().codenames(alice.id, globaltech.id))
        .unwrap();
    for p in ["document.publish", "project.manage", "project.read"] {
        assert!(
            held.iter().any(|h| h.as_ref() == p),
            "{p} missing: {held:?}"
        );
    }
    let east = env
        .block_on(fv.companies().find_by_code("ACME-EAST"))
        .unwrap()
        .unwrap();
    let acme = env
        .block_on(fv.companies().find_by_code("ACME"))
        .unwrap()
        .unwrap();
    assert_eq!(east.parent_id, Some(acme.id));
    // ACME is a holding: johndoe administers it and every subsidiary (a subtree role),
    // and janesmith's Finance membership reaches below ACME too.
    let boston = env
        .block_on(fv.companies().find_by_code("ACME-EAST-BOS"))
        .unwrap()
        .unwrap();
    assert_eq!(boston.parent_id, Some(east.id));
    let john = env
        .block_on(fv.users().authenticate("johndoe", DEMO_PASSWORD))
        .unwrap();
    let jane = env
        .block_on(fv.users().authenticate("janesmith", DEMO_PASSWORD))
        .unwrap();
    let reach = |user: i64, codename: &str| {
        env.block_on(fv.authorizer().companies_where(user, codename))
            .unwrap()
            .to_vec()
    };
    assert!(reach(john.id, "user.update").contains(&boston.id));
    assert!(reach(jane.id, "invoice.read").contains(&boston.id));
    assert!(!reach(john.id, "user.update").contains(&globaltech.id));
    let text = stdout(env.fastvue().args(["data", "load"]));
    assert!(
        text.starts_with("loaded data/demo.json (built in)"),
        "{text}"
    );
}

#[test]
fn a_bad_record_changes_nothing_and_is_named() {
    let env = Env::new();
    let before = usernames(&env);
    let file = TempFile::new(
        "bad.json",
        &json!({
            "companies": [{"code": "NEWCO", "name": "New Co"}],
            "users": [
                {"username": "okay", "email": "okay@example.com"},
                {"username": "broken", "email": "not-an-email"}
            ]
        })
        .to_string(),
    );
    let err = fails(
        env.fastvue().args(["data", "load", "--file", file.path()]),
        1,
    );
    assert!(
        err.contains("users[1].email: must be an email address"),
        "{err}"
    );
    assert!(err.contains(file.path()), "{err}");
    assert_eq!(usernames(&env), before);
    assert!(
        env.block_on(env.fv.companies().find_by_code("NEWCO"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_dangling_reference_rolls_the_whole_load_back() {
    let env = Env::new();
    let file = TempFile::new(
        "dangling.json",
        &json!({
            "companies": [{"code": "NEWCO", "name": "New Co"}],
            "users": [{"username": "newbie", "email": "newbie@example.com"}],
            "assignments": [{"user": "newbie", "company": "NEWCO", "role": "no_such_role"}]
        })
        .to_string(),
    );
    let err = fails(
        env.fastvue().args(["data", "load", "--file", file.path()]),
        1,
    );
    assert!(
        err.contains("assignments[0].role: company NEWCO has no role \"no_such_role\""),
        "{err}"
    );
    assert!(
        env.block_on(env.fv.companies().find_by_code("NEWCO"))
            .unwrap()
            .is_none(),
        "the company written before the bad record was rolled back"
    );
    assert!(!usernames(&env).contains(&"newbie".to_owned()));
}

#[test]
fn malformed_json_names_the_path_and_unknown_fields_are_refused() {
    let env = Env::new();
    let file = TempFile::new(
        "types.json",
        r#"{"users": [{"username": 5, "email": "a@b.co"}]}"#,
    );
    let err = fails(
        env.fastvue().args(["data", "load", "--file", file.path()]),
        1,
    );
    assert!(err.contains("users[0].username: invalid type"), "{err}");
    let file = TempFile::new(
        "unknown.json",
        r#"{"companies": [{"code": "X1", "name": "X", "colour": "red"}]}"#,
    );
    let err = fails(
        env.fastvue().args(["data", "load", "--file", file.path()]),
        1,
    );
    assert!(err.contains("companies[0].colour"), "{err}");
    let err = fails(
        env.fastvue()
            .args(["data", "load", "--file", "/nonexistent/data.json"]),
        1,
    );
    assert!(err.contains("cannot read /nonexistent/data.json"), "{err}");
}

#[test]
fn export_then_load_elsewhere_reproduces_the_same_document() {
    let source = Env::unmigrated();
    source.fastvue().args(["data", "load"]).assert().success();
    let exported = stdout(source.fastvue().args(["data", "export", "--file", "-"]));
    let doc: Value = serde_json::from_str(&exported).unwrap();
    assert!(
        doc["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("password_hash").is_none()),
        "no hashes unless asked for"
    );
    let file = TempFile::new("export.json", "");
    let out = stdout(source.fastvue().args([
        "data",
        "export",
        "--include-password-hashes",
        "--file",
        file.path(),
    ]));
    assert!(out.starts_with("exported "), "{out}");

    let target = Env::unmigrated();
    target
        .fastvue()
        .args(["data", "load", "--file", file.path()])
        .assert()
        .success();
    let again = stdout(target.fastvue().args(["data", "export", "--file", "-"]));
    assert_eq!(exported, again);
    target
        .block_on(target.fv.users().authenticate("demo", DEMO_PASSWORD))
        .expect("hashes travelled with the export");
}

#[test]
fn load_with_clear_leaves_exactly_the_file() {
    let env = Env::new();
    env.user("leftover");
    let file = TempFile::new(
        "small.json",
        &json!({
            "companies": [{"code": "ONLY", "name": "Only Co"}],
            "users": [{"username": "solo", "email": "solo@example.com", "current_company": "ONLY"}]
        })
        .to_string(),
    );
    let report =
        run_json(
            env.fastvue()
                .args(["--json", "data", "load", "--clear", "--file", file.path()]),
        );
    assert_eq!(report["report"]["cleared"], true);
    assert_eq!(usernames(&env), ["solo"]);
    let exported: Value = serde_json::from_str(&stdout(
        env.fastvue().args(["data", "export", "--file", "-"]),
    ))
    .unwrap();
    let codes: Vec<&str> = exported["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["ONLY"]);
}

#[test]
fn a_file_of_thousands_of_records_loads_in_one_go() {
    let env = Env::new();
    let permissions: Vec<Value> = (0..2_500)
        .map(|i| json!({"codename": format!("bulk.p{i:04}"), "name": format!("Bulk {i}")}))
        .collect();
    let file = TempFile::new(
        "bulk.json",
        &json!({ "permissions": permissions }).to_string(),
    );
    let report = run_json(
        env.fastvue()
            .args(["--json", "data", "load", "--file", file.path()]),
    );
    assert_eq!(counts(&report, "permissions"), (2_500, 0, 0), "{report}");
}

#[test]
fn the_demo_data_is_refused_in_production() {
    let env = Env::new();
    let err = fails(
        env.fastvue()
            .env("ENVIRONMENT", "production")
            .env("SECRET_KEY", "Zq8vN3xR7tLm2KpW9sYd4HcF6jBn1GaE")
            .env("JWT_SECRET_KEY", "pX5wQ8rT2yU7iO4aS1dF9gH3jK6lZ0cV")
            .args(["data", "load"]),
        2,
    );
    assert!(err.contains("production"), "{err}");
}

#[test]
fn data_load_on_an_unreachable_database_fails_with_exit_1() {
    fails(
        bare()
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("DB_POOL_TIMEOUT", "2")
            .args(["data", "load"]),
        1,
    );
}
