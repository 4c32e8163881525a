//! `fastvue users`.
use fastvue_core::Error;

use crate::helpers::{Env, PASSWORD, bare, fails, json, stdout};

const NEW_PASSWORD: &str = "fresh-password-456";

#[test]
fn create_superuser_from_flags_and_stdin_then_it_signs_in_and_is_listed() {
    let env = Env::new();
    let out = stdout(
        env.fastvue()
            .args([
                "users",
                "create-superuser",
                "--username",
                "ops",
                "--email",
                "Ops@Example.com",
                "--password-stdin",
                "--no-input",
            ])
            .write_stdin(format!("{NEW_PASSWORD}\n")),
    );
    assert!(out.starts_with("created superuser ops (id "), "{out}");
    let user = env
        .block_on(env.fv.users().authenticate("ops@example.com", NEW_PASSWORD))
        .expect("the new superuser signs in");
    assert!(user.is_superuser);
    assert!(user.current_company_id.is_some(), "default company");
    let listed = json(
        env.fastvue()
            .args(["--json", "users", "list", "--superusers"]),
    );
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"ops"), "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["is_superuser"] == true),
        "{listed}"
    );
    assert!(
        !listed.to_string().contains("argon2"),
        "no hash in the output"
    );
}

#[test]
fn create_superuser_with_no_input_and_missing_values_exits_2_naming_them() {
    let env = Env::new();
    let err = fails(
        env.fastvue().args([
            "users",
            "create-superuser",
            "--username",
            "ops",
            "--no-input",
        ]),
        2,
    );
    assert!(err.contains("--email"), "{err}");
    assert!(err.contains("--password-stdin"), "{err}");
}

#[test]
fn create_superuser_without_flags_and_without_a_terminal_is_a_usage_error() {
    let env = Env::new();
    let err = fails(
        env.fastvue()
            .args(["users", "create-superuser"])
            .write_stdin(""),
        2,
    );
    assert!(err.contains("--username"), "{err}");
    assert!(err.contains("not a terminal"), "{err}");
}

#[test]
fn create_superuser_with_a_taken_username_fails_with_exit_1() {
    let env = Env::new();
    env.user("taken");
    let err = fails(
        env.fastvue()
            .args([
                "users",
                "create-superuser",
                "--username",
                "taken",
                "--email",
                "other@example.com",
                "--password-stdin",
                "--no-input",
            ])
            .write_stdin(format!("{NEW_PASSWORD}\n")),
        1,
    );
    assert!(err.contains("username is already taken"), "{err}");
}

#[test]
fn set_password_by_username_reads_stdin_and_signs_the_user_out() {
    let env = Env::new();
    let user = env.user("carol");
    let pair = env
        .block_on(env.fv.tokens().issue(&user))
        .expect("issue tokens");
    let out = stdout(
        env.fastvue()
            .args(["users", "set-password", "carol", "--password-stdin"])
            .write_stdin(format!("{NEW_PASSWORD}\r\n")),
    );
    assert!(out.contains("password changed"), "{out}");
    env.block_on(env.fv.users().authenticate("carol", NEW_PASSWORD))
        .expect("the new password works");
    assert!(
        env.block_on(env.fv.users().authenticate("carol", PASSWORD))
            .is_err()
    );
    assert!(
        env.block_on(env.fv.tokens().refresh(&pair.refresh_token))
            .is_err(),
        "old sessions are revoked"
    );
}

#[test]
fn set_password_refuses_a_too_short_password_with_exit_1() {
    let env = Env::new();
    env.user("dave");
    let err = fails(
        env.fastvue()
            .args([
                "users",
                "set-password",
                "dave@example.com",
                "--password-stdin",
            ])
            .write_stdin("short\n"),
        1,
    );
    assert!(
        err.contains("password: must be 8 to 128 characters"),
        "{err}"
    );
}

#[test]
fn promote_then_demote_by_id_toggle_the_superuser_flag() {
    let env = Env::new();
    let user = env.user("erin");
    let id = user.id.to_string();
    let out = stdout(env.fastvue().args(["users", "promote", &id]));
    assert!(out.contains("is now a superuser"), "{out}");
    assert!(
        env.block_on(env.fv.users().get(&fastvue_core::Actor::system(), user.id))
            .unwrap()
            .is_superuser
    );
    let promoted = json(env.fastvue().args(["--json", "users", "demote", "erin"]));
    assert_eq!(promoted["is_superuser"], false);
    assert!(
        !env.block_on(env.fv.users().get(&fastvue_core::Actor::system(), user.id))
            .unwrap()
            .is_superuser
    );
}

#[test]
fn deactivate_by_email_blocks_sign_in() {
    let env = Env::new();
    let user = env.user("frank");
    let out = stdout(
        env.fastvue()
            .args(["users", "deactivate", "frank@example.com"]),
    );
    assert!(out.contains("deactivated"), "{out}");
    assert!(
        !env.block_on(env.fv.users().get(&fastvue_core::Actor::system(), user.id))
            .unwrap()
            .is_active
    );
    assert!(matches!(
        env.block_on(env.fv.users().authenticate("frank", PASSWORD)),
        Err(Error::InvalidCredentials)
    ));
}

#[test]
fn reset_2fa_turns_a_users_two_factor_sign_in_off() {
    let env = Env::new();
    let user = env.user("grace");
    let actor = env
        .block_on(env.fv.actors().for_user(user.id, None))
        .expect("session actor");
    let enrolment = env
        .block_on(env.fv.two_factor().setup(&actor))
        .expect("setup");
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&enrolment.secret).expect("base32"))
        .build_noncompliant();
    let now = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
    let code = totp.generate(now).to_string();
    env.block_on(env.fv.two_factor().confirm(&actor, &code))
        .expect("confirm");
    assert!(
        env.block_on(env.fv.two_factor().is_enabled(user.id))
            .unwrap()
    );

    let out = stdout(env.fastvue().args(["users", "reset-2fa", "grace"]));
    assert!(out.contains("two-factor sign-in turned off"), "{out}");
    let status = env
        .block_on(env.fv.two_factor().status_of(user.id))
        .unwrap();
    assert!(!status.enabled && !status.pending, "{status:?}");
    assert_eq!(status.recovery_codes_left, 0);
    let err = fails(env.fastvue().args(["users", "reset-2fa", "nobody"]), 1);
    assert!(err.contains("no user \"nobody\""), "{err}");
}

#[test]
fn an_unknown_user_fails_with_exit_1_naming_it() {
    let env = Env::new();
    for args in [
        ["users", "promote", "nobody"],
        ["users", "demote", "4242"],
        ["users", "deactivate", "ghost@example.com"],
    ] {
        let err = fails(env.fastvue().args(args), 1);
        assert!(err.contains(&format!("no user \"{}\"", args[2])), "{err}");
    }
}

#[test]
fn list_by_company_shows_only_its_members() {
    let env = Env::new();
    let acme = env.company("ACME");
    let role = env.role(acme, "staff", &["user.read"]);
    env.user_with_role("member", acme, role.id);
    env.user("outsider");
    let out = stdout(
        env.fastvue()
            .args(["users", "list", "--company", &acme.to_string()]),
    );
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("ID"), "{out}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].contains("member"), "{out}");
}

#[test]
fn users_list_on_an_unreachable_database_fails_with_exit_1() {
    fails(
        bare()
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("DB_POOL_TIMEOUT", "2")
            .args(["users", "list"]),
        1,
    );
}
