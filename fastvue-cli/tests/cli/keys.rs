//! `fastvue keys`.
use fastvue_core::auth::TokenError;
use fastvue_core::pagination::PageRequest;
use fastvue_core::service::audit::AuditFilter;

use crate::helpers::{Env, fails, json, stdout};

#[test]
fn keys_create_prints_the_key_once_then_list_shows_the_prefix_and_revoke_stops_it() {
    let env = Env::new();
    let company = env.company("KEYS-CLI");
    let out = stdout(env.fastvue().args([
        "keys",
        "create",
        "--company",
        &company.to_string(),
        "--name",
        "billing sync",
        "--scopes",
        "user.read,group.read",
        "--expires-in",
        "90d",
        "--rate",
        "600",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("created API key "), "{out}");
    assert!(
        lines[0].contains("acting as admin"),
        "oldest superuser: {out}"
    );
    let key = lines[1].to_owned();
    assert!(key.starts_with("fv_live_"), "{out}");
    let prefix = &key[8..16];

    let found = env
        .block_on(env.fv.api_keys().authenticate(&key))
        .expect("the printed key authenticates");
    assert_eq!(found.key.company_id, company);
    assert_eq!(found.key.scope_codenames(), ["group.read", "user.read"]);
    assert_eq!(found.key.rate_limit_per_minute, Some(600));
    assert!(found.key.expires_at.is_some());

    let listed =
        json(
            env.fastvue()
                .args(["--json", "keys", "list", "--company", &company.to_string()]),
        );
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["prefix"], prefix);
    assert_eq!(
        listed[0]["scopes"],
        serde_json::json!(["group.read", "user.read"])
    );
    let text = listed.to_string();
    assert!(!text.contains(&key[17..]), "no secret in the list: {text}");
    assert!(!text.contains("secret_hash"), "{text}");

    let out = stdout(env.fastvue().args(["keys", "revoke", prefix]));
    assert!(out.contains("revoked"), "{out}");
    assert!(matches!(
        env.block_on(env.fv.api_keys().authenticate(&key)),
        Err(TokenError::Invalid)
    ));
    let out = stdout(env.fastvue().args(["keys", "revoke", prefix]));
    assert!(out.contains("already revoked"), "{out}");
    let table = stdout(env.fastvue().args(["keys", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(prefix) && table.contains("revoked"),
        "{table}"
    );

    let audit = env
        .block_on(env.fv.audit_logs().list(
            &fastvue_core::Actor::system(),
            &AuditFilter {
                entity_type: Some("api_key".into()),
                ..Default::default()
            },
            PageRequest::default(),
        ))
        .unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["revoke", "create"]);
    let trail = serde_json::to_string(&audit.items).unwrap();
    assert!(!trail.contains(&key[17..]), "no secret in the audit trail");
}

#[test]
fn keys_create_as_json_includes_the_key_and_acts_as_the_named_creator() {
    let env = Env::new();
    let company = env.company("KEYS-JSON");
    let role = env.role(company, "reader", &["user.read"]);
    let reader = env.user_with_role("reader", company, role.id);
    let created = json(env.fastvue().args([
        "--json",
        "keys",
        "create",
        "--company",
        &company.to_string(),
        "--name",
        "reader key",
        "--scopes",
        "user.read",
        "--created-by",
        "reader",
    ]));
    assert_eq!(created["created_by"], reader.id);
    assert!(created["key"].as_str().unwrap().starts_with("fv_live_"));
    assert!(created.get("secret_hash").is_none());
}

#[test]
fn keys_commands_refuse_bad_input_with_the_documented_exit_codes() {
    let env = Env::new();
    let company = env.company("KEYS-BAD");
    let role = env.role(company, "reader", &["user.read"]);
    env.user_with_role("reader", company, role.id);
    let c = company.to_string();
    let create = |extra: &[&str]| {
        let mut cmd = env.fastvue();
        cmd.args(["keys", "create", "--company", &c, "--name", "k"])
            .args(extra);
        cmd
    };
    let err = fails(
        &mut create(&["--scopes", "user.delete", "--created-by", "reader"]),
        1,
    );
    assert!(err.contains("user.delete"), "wider than the creator: {err}");
    let err = fails(&mut create(&["--scopes", "no.such"]), 1);
    assert!(err.contains("no.such"), "{err}");
    let err = fails(
        &mut create(&["--scopes", "user.read", "--created-by", "ghost"]),
        1,
    );
    assert!(err.contains("ghost"), "{err}");
    // A clap usage error: exit code 2.
    create(&["--scopes", "user.read", "--expires-in", "3w"])
        .assert()
        .code(2);
    fails(&mut create(&["--scopes", "user.read", "--rate", "0"]), 1);
    let err = fails(env.fastvue().args(["keys", "revoke", "zzzzzzzz"]), 1);
    assert!(err.contains("zzzzzzzz"), "{err}");
    let listed = json(env.fastvue().args(["--json", "keys", "list"]));
    assert_eq!(listed, serde_json::json!([]), "nothing was created");
}
