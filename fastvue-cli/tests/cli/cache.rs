//! `fastvue cache` (the cross-process invalidation tests are in `serve.rs`).
use std::time::{Duration, Instant};

use fastvue_core::Fastvue;
use fastvue_core::permission::CacheKey;
use fastvue_core::testing;

use crate::helpers::{Env, fails, free_port, json, stdout};

#[test]
fn invalidate_on_sqlite_without_redis_and_without_a_server_is_a_usage_error() {
    let env = Env::new();
    if !env.url().starts_with("sqlite:") {
        // On PostgreSQL the database's invalidation feed reaches every server.
        return;
    }
    let err = fails(
        env.fastvue_without_redis()
            .args(["cache", "invalidate", "--all"]),
        2,
    );
    assert!(err.contains("--server"), "{err}");
}

#[test]
fn invalidate_needs_exactly_one_target() {
    let env = Env::new();
    let err = fails(env.fastvue().args(["cache", "invalidate"]), 2);
    assert!(err.contains("--all, --user ID"), "{err}");
    let out = env
        .fastvue()
        .args(["cache", "invalidate", "--role", "1", "--group", "2"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("cannot be used with"));
}

#[test]
fn invalidate_through_a_server_needs_a_token_and_reports_refusals() {
    let env = Env::new();
    let err = fails(
        env.fastvue_without_redis().args([
            "cache",
            "invalidate",
            "--all",
            "--server",
            "http://127.0.0.1:1",
        ]),
        2,
    );
    assert!(err.contains("FASTVUE_TOKEN"), "{err}");
    let server = env.serve(false);
    let err = fails(
        env.fastvue_without_redis()
            .env("FASTVUE_TOKEN", "not-a-token")
            .args(["cache", "invalidate", "--all", "--server", &server.url]),
        1,
    );
    assert!(err.contains("answered 401"), "{err}");
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let err = fails(
        env.fastvue_without_redis().args([
            "cache",
            "invalidate",
            "--all",
            "--server",
            &unreachable,
            "--token",
            "t",
        ]),
        1,
    );
    assert!(err.contains("cannot reach"), "{err}");
}

#[test]
fn invalidate_with_redis_deletes_the_role_holders_sets_and_tells_other_processes() {
    let env = Env::new();
    let Some(redis) = env.redis.clone() else {
        eprintln!("FASTVUE_TEST_REDIS_URL is not set; this Redis test did not run");
        return;
    };
    let acme = env.company("ACME");
    let role = env.role(acme, "staff", &["user.read"]);
    let user = env.user_with_role("staffer", acme, role.id);
    // Another process of this deployment, with the test's Redis key space: it caches
    // the set in memory and in Redis.
    let other = env.block_on(async {
        Fastvue::connect(testing::settings(env.url(), &[("REDIS_URL", &redis)]))
            .await
            .expect("second handle")
    });
    let subscribed = env.block_on(
        other
            .authorizer()
            .cache()
            .subscriber()
            .expect("a subscriber")
            .wait_subscriptions(1, Duration::from_secs(5)),
    );
    assert!(subscribed);
    env.block_on(other.authorizer().codenames(user.id, acme))
        .expect("fill the cache");
    let key = CacheKey::new(user.id, acme);
    assert!(other.authorizer().l1().get(key).is_some());

    let (uid, cid) = (user.id.to_string(), acme.to_string());
    let show = || {
        json(
            env.fastvue()
                .args(["--json", "cache", "show", "--user", &uid, "--company", &cid]),
        )
    };
    let before = show();
    assert_eq!(before["redis"]["state"], "cached", "{before}");
    assert_eq!(
        before["redis"]["permissions"],
        serde_json::json!(["user.read"])
    );
    env.grant_behind_the_cache(role.id, "group.read");
    let stale = show();
    assert_eq!(
        stale["missing"],
        serde_json::json!(["group.read"]),
        "{stale}"
    );
    let text = stdout(
        env.fastvue()
            .args(["cache", "show", "--user", &uid, "--company", &cid]),
    );
    assert!(text.contains("differs"), "{text}");

    let out = stdout(
        env.fastvue()
            .args(["cache", "invalidate", "--role", &role.id.to_string()]),
    );
    assert!(out.contains("1 cached set deleted from Redis"), "{out}");
    assert_eq!(show()["redis"]["state"], "absent");
    let deadline = Instant::now() + Duration::from_secs(1);
    while other.authorizer().l1().get(key).is_some() {
        assert!(
            Instant::now() < deadline,
            "the other process kept its set for 1 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn invalidate_on_postgres_without_redis_reaches_the_other_processes_through_the_database() {
    let env = Env::new();
    if env.url().starts_with("sqlite:") {
        eprintln!("SQLite: no invalidation feed; this PostgreSQL test did not run");
        return;
    }
    let acme = env.company("ACME");
    let role = env.role(acme, "staff", &["user.read"]);
    let user = env.user_with_role("staffer", acme, role.id);
    // A server process of this deployment without Redis: only the feed reaches it.
    let other = env.block_on(async {
        Fastvue::connect(testing::settings(env.url(), &[]))
            .await
            .expect("second handle")
    });
    let key = CacheKey::new(user.id, acme);
    let deadline = Instant::now() + Duration::from_secs(20);
    while other.authorizer().l1().get(key).is_none() {
        assert!(Instant::now() < deadline, "the other process never cached");
        env.block_on(other.authorizer().codenames(user.id, acme))
            .expect("fill the cache");
    }
    let out = json(env.fastvue_without_redis().args([
        "--json",
        "cache",
        "invalidate",
        "--user",
        &user.id.to_string(),
    ]));
    assert_eq!(out["announced"], true, "{out}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while other.authorizer().l1().get(key).is_some() {
        assert!(
            Instant::now() < deadline,
            "the other process kept its set beyond the bound"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn show_without_redis_compares_nothing_and_reports_the_database() {
    let env = Env::new();
    let acme = env.company("ACME");
    let role = env.role(acme, "staff", &["user.read", "role.read"]);
    let user = env.user_with_role("staffer", acme, role.id);
    let out = json(env.fastvue_without_redis().args([
        "--json",
        "cache",
        "show",
        "--user",
        &user.id.to_string(),
        "--company",
        &acme.to_string(),
    ]));
    assert_eq!(out["redis"]["state"], "disabled");
    assert_eq!(
        out["database"],
        serde_json::json!(["role.read", "user.read"])
    );
}

#[test]
fn show_and_invalidate_of_unknown_ids_fail_with_exit_1() {
    let env = Env::new();
    let err = fails(
        env.fastvue()
            .args(["cache", "show", "--user", "4242", "--company", "1"]),
        1,
    );
    assert!(err.contains("user not found"), "{err}");
    if env.redis.is_some() {
        let err = fails(
            env.fastvue()
                .args(["cache", "invalidate", "--role", "4242"]),
            1,
        );
        assert!(err.contains("role not found"), "{err}");
    }
}

#[test]
fn stats_report_the_cache_configuration_and_the_redis_tier() {
    let env = Env::new();
    let out = json(
        env.fastvue()
            .env("PERMISSION_CACHE_TTL", "120")
            .args(["--json", "cache", "stats"]),
    );
    assert_eq!(out["enabled"], true);
    assert_eq!(out["ttl_seconds"], 120);
    let expected = if env.redis.is_some() {
        "reachable"
    } else {
        "disabled"
    };
    assert_eq!(out["redis"]["state"], expected, "{out}");
    let text = stdout(env.fastvue().args(["cache", "stats"]));
    assert!(text.contains("cache enabled"), "{text}");
}

#[test]
fn stats_through_a_server_show_its_in_process_counters() {
    let env = Env::new();
    let server = env.serve(false);
    let admin = env
        .block_on(env.fv.users().resolve("admin"))
        .expect("bootstrap admin");
    let token = env
        .block_on(env.fv.tokens().issue(&admin))
        .expect("token")
        .access_token;
    let out = json(
        env.fastvue_without_redis()
            .env("FASTVUE_TOKEN", &token)
            .args(["--json", "cache", "stats", "--server", &server.url]),
    );
    assert_eq!(out["redis"], "disabled", "{out}");
    assert!(out["hits"].is_u64(), "{out}");
    let text = stdout(
        env.fastvue_without_redis()
            .env("FASTVUE_TOKEN", &token)
            .args(["cache", "stats", "--server", &server.url]),
    );
    assert!(text.starts_with("server"), "{text}");
}
