//! Unauthenticated floods against the real `fastvue-server` binary (debug build): the
//! memory a sign-in flood can take is bounded by the hashing limit, not by the number of
//! requests.
//!
//! Before the limit, every `POST /auth/login` ran an argon2 verification (19 MiB each
//! with the default parameters) on an unbounded blocking pool: 800 concurrent bogus
//! logins took the release server to 14.8 GiB. Now at most `PASSWORD_HASH_CONCURRENCY`
//! (one per core) run at once and `PASSWORD_HASH_QUEUE` wait; the rest answer 503 with
//! `Retry-After` at once.
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::faults::{SERVER_BIN, assert_starts, free_port};
use crate::helpers::{ROOT_LOGIN, ROOT_PASSWORD, test_redis_url};

/// Concurrent bogus sign-ins of the flood.
const FLOOD: usize = 300;
/// argon2 memory cost of the flood (the production default), KiB.
const ARGON2_MEMORY_KIB: u64 = 19_456;

/// The documented bound on the server's peak resident memory growth during the flood
/// (docs/security.md): one argon2 working memory per hashing thread (one thread per
/// core), plus 48 MiB for connections, buffers and allocator slack. Without the limit the
/// same flood needed about 300 x 19 MiB.
fn peak_growth_bound_kib() -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    cores * ARGON2_MEMORY_KIB + 48 * 1024
}

/// `VmRSS` and `VmHWM` (peak) of a process, KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Kills the child when the test ends, whatever happens.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_bogus_sign_ins_is_answered_in_full_within_a_fixed_memory_bound() {
    let db = fastvue_core::testing::TestDatabase::create("fastvue_flood").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("DATABASE_URL".to_owned(), db.url().to_owned()),
        ("HOST".to_owned(), "127.0.0.1".to_owned()),
        ("PORT".to_owned(), port.to_string()),
        ("LOG_LEVEL".to_owned(), "error".to_owned()),
        ("FASTVUE_ADMIN_EMAIL".to_owned(), ROOT_LOGIN.to_owned()),
        (
            "FASTVUE_ADMIN_PASSWORD".to_owned(),
            ROOT_PASSWORD.to_owned(),
        ),
        // The production argon2 cost (19 MiB, 2 passes) and hashing limit (one per
        // core, 16 waiting): what a real deployment runs.
        (
            "ARGON2_MEMORY_KIB".to_owned(),
            ARGON2_MEMORY_KIB.to_string(),
        ),
        ("ARGON2_ITERATIONS".to_owned(), "2".to_owned()),
        // Lifted so that every request reaches the password check: the bound proved here
        // is the hashing limit's, not the per-IP limiter's (tested on its own).
        (
            "RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE".to_owned(),
            "1000000".to_owned(),
        ),
        (
            "RATE_LIMIT_LOGIN_PER_MINUTE".to_owned(),
            "1000000".to_owned(),
        ),
    ];
    if let Some(redis) = test_redis_url() {
        env.push(("REDIS_URL".to_owned(), redis));
        env.push((
            "REDIS_KEY_PREFIX".to_owned(),
            format!("flood:{}:", uuid::Uuid::new_v4().simple()),
        ));
    }
    let child = Command::new(SERVER_BIN)
        .env_clear()
        .envs(env)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn fastvue-server");
    let pid = child.id();
    let _reaper = Reaper(child);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    assert_starts(&client, &base).await;
    // Warm up: one real sign-in, so the baseline includes a hash's working memory.
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": ROOT_LOGIN, "password": ROOT_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (baseline, _) = memory_kib(pid);

    let requests: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let res = client
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({ "username": format!("nobody-{i}"), "password": "wrong-password-1" }))
                    .send()
                    .await
                    .expect("every request is answered");
                let status = res.status().as_u16();
                let retry_after = res.headers().get("retry-after").is_some();
                let body: serde_json::Value = res.json().await.expect("a JSON error body");
                (status, retry_after, body)
            })
        })
        .collect();
    // The process answers probes while the flood runs.
    let live = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .expect("/health/live answers during the flood");
    assert_eq!(live.status(), 200);

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for r in requests {
        let (status, retry_after, body) = r.await.unwrap();
        *by_status.entry(status).or_default() += 1;
        match status {
            401 => assert_eq!(body["error"]["code"], "invalid_credentials"),
            503 => {
                assert_eq!(body["error"]["code"], "service_busy", "{body}");
                assert!(retry_after, "a 503 carries Retry-After");
            }
            429 => assert!(retry_after, "a 429 carries Retry-After"),
            other => panic!("unexpected answer {other}: {body}"),
        }
    }
    let (_, peak) = memory_kib(pid);
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "flood of {FLOOD} bogus sign-ins: answers {by_status:?}; RSS baseline {} MiB, peak {} MiB, growth {} MiB",
        baseline / 1024,
        peak / 1024,
        growth / 1024
    );
    assert_eq!(by_status.values().sum::<usize>(), FLOOD);
    assert!(
        by_status.get(&503).copied().unwrap_or(0) > 0,
        "past the hashing slots and queue, requests are refused at once: {by_status:?}"
    );
    let bound = peak_growth_bound_kib();
    assert!(
        growth <= bound,
        "peak RSS grew by {} MiB (bound {} MiB)",
        growth / 1024,
        bound / 1024
    );
}
