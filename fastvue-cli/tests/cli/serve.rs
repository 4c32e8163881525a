//! `fastvue serve`, and `fastvue cache invalidate` reaching running servers: through
//! Redis (two server processes) and through the admin endpoint (the embedded default).
use std::time::{Duration, Instant};

use fastvue_core::entity::user;
use fastvue_core::redis::KeySpace;

use crate::helpers::{Env, ServerProcess, serve_and_capture, stdout};

/// What `GET /api/v1/auth/me/permissions?company_id=` answers `token` on `server`.
fn permissions(env: &Env, server: &ServerProcess, token: &str, company_id: i64) -> Vec<String> {
    env.block_on(async {
        let res = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/auth/me/permissions?company_id={company_id}",
                server.url
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.expect("JSON body");
        body["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    })
}

/// An access token of `user`, signed with the key the servers use.
fn token(env: &Env, user: &user::Model) -> String {
    env.block_on(env.fv.tokens().issue(user))
        .expect("issue a token")
        .access_token
}

/// Polls every server until it answers `codename` for the user, and returns how long
/// that took from `since`.
fn delay_until_granted(
    env: &Env,
    servers: &[&ServerProcess],
    token: &str,
    company_id: i64,
    codename: &str,
    since: Instant,
) -> Duration {
    for server in servers {
        while !permissions(env, server, token, company_id)
            .iter()
            .any(|p| p == codename)
        {
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "{} still serves the old set after 5 s",
                server.url
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    since.elapsed()
}

#[test]
fn serve_prints_the_generated_admin_password_once() {
    let env = Env::unmigrated();
    let first = serve_and_capture(env.url());
    let line = first
        .iter()
        .find(|l| l.contains("created superuser 'admin' with password: "))
        .unwrap_or_else(|| panic!("no password line in {first:?}"));
    let password = line.rsplit(": ").next().unwrap().trim();
    env.block_on(env.fv.users().authenticate("admin", password))
        .expect("the printed password signs in");
    let second = serve_and_capture(env.url());
    assert!(
        !second.iter().any(|l| l.contains("password")),
        "printed again: {second:?}"
    );
}

#[test]
fn invalidation_through_the_admin_endpoint_reaches_the_embedded_server() {
    let env = Env::new();
    let acme = env.company("ACME");
    let role = env.role(acme, "staff", &["user.read"]);
    let staffer = env.user_with_role("staffer", acme, role.id);
    let server = env.serve(false);
    let user_token = token(&env, &staffer);
    let admin = env.block_on(env.fv.users().resolve("admin")).unwrap();
    let admin_token = token(&env, &admin);

    assert_eq!(permissions(&env, &server, &user_token, acme), ["user.read"]);
    env.grant_behind_the_cache(role.id, "group.read");
    assert_eq!(
        permissions(&env, &server, &user_token, acme),
        ["user.read"],
        "the server answers from its cache"
    );
    let out = stdout(
        env.fastvue_without_redis()
            .env("FASTVUE_TOKEN", &admin_token)
            .args([
                "cache",
                "invalidate",
                "--role",
                &role.id.to_string(),
                "--server",
                &server.url,
            ]),
    );
    let returned = Instant::now();
    assert!(out.contains("(1 cached set dropped)"), "{out}");
    let delay = delay_until_granted(&env, &[&server], &user_token, acme, "group.read", returned);
    println!(
        "embedded server served the new set {delay:?} after `fastvue cache invalidate` returned"
    );
    assert!(delay < Duration::from_secs(1), "{delay:?}");
}

#[test]
fn invalidation_through_redis_reaches_two_server_processes() {
    let env = Env::new();
    let Some(redis_url) = env.redis.clone() else {
        eprintln!("FASTVUE_TEST_REDIS_URL is not set; the two-server Redis test did not run");
        return;
    };
    let acme = env.company("ACME");
    let role = env.role(acme, "staff", &["user.read"]);
    let staffer = env.user_with_role("staffer", acme, role.id);
    let a = env.serve(true);
    let b = env.serve(true);
    wait_for_subscribers(&env, &redis_url, 2);
    let user_token = token(&env, &staffer);
    for server in [&a, &b] {
        assert_eq!(permissions(&env, server, &user_token, acme), ["user.read"]);
    }
    env.grant_behind_the_cache(role.id, "group.read");
    for server in [&a, &b] {
        assert_eq!(
            permissions(&env, server, &user_token, acme),
            ["user.read"],
            "{} answers from its cache",
            server.url
        );
    }
    env.fastvue()
        .args(["cache", "invalidate", "--role", &role.id.to_string()])
        .assert()
        .success();
    let returned = Instant::now();
    let delay = delay_until_granted(&env, &[&a, &b], &user_token, acme, "group.read", returned);
    println!("both servers served the new set {delay:?} after `fastvue cache invalidate` returned");
    assert!(delay < Duration::from_secs(1), "{delay:?}");
}

/// Waits until `n` processes subscribe to this test's invalidation channel.
fn wait_for_subscribers(env: &Env, redis_url: &str, n: i64) {
    let channel = KeySpace::new(&env.prefix).channel();
    env.block_on(async {
        let client = redis::Client::open(redis_url).expect("Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, count): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut conn)
                .await
                .expect("PUBSUB NUMSUB");
            if count >= n {
                return;
            }
            assert!(Instant::now() < deadline, "servers did not subscribe");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
