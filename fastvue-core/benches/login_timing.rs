//! `cargo bench -p fastvue-core --bench login_timing`: the login timing side channel.
//!
//! Times `Users::authenticate` (the check behind `POST /auth/login`) for an unknown
//! login and for a known user with a wrong password, with the production argon2
//! parameters (the `ARGON2_*` defaults: 19456 KiB, 2 iterations, 1 lane), on a fresh
//! SQLite database (or PostgreSQL when `FASTVUE_TEST_DATABASE_URL` is set). Samples of
//! the two cases alternate so that drift of the machine hits both alike. It prints both
//! medians and their ratio; an attacker must not tell the cases apart, so the medians
//! must lie within 10% of each other.
//!
//! `LOGIN_BENCH_SAMPLES` (default 101) sets the number of samples per case.
use std::time::{Duration, Instant};

use fastvue_core::Actor;
use fastvue_core::Fastvue;
use fastvue_core::service::users::NewUser;
use fastvue_core::testing::{self, TestDatabase};

const WARMUP: usize = 5;

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn time(fv: &Fastvue, login: &str, password: &str) -> Duration {
    let start = Instant::now();
    let outcome = fv.users().authenticate(login, password).await;
    let elapsed = start.elapsed();
    assert!(
        matches!(outcome, Err(fastvue_core::Error::InvalidCredentials)),
        "the login must fail as invalid credentials: {outcome:?}"
    );
    elapsed
}

fn main() {
    let samples: usize = std::env::var("LOGIN_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(101);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let db = TestDatabase::create("fastvue_login_bench").await;
        // The test settings with the production argon2 parameters (the defaults).
        let settings = testing::settings(
            db.url(),
            &[
                ("ARGON2_MEMORY_KIB", "19456"),
                ("ARGON2_ITERATIONS", "2"),
                ("ARGON2_PARALLELISM", "1"),
            ],
        );
        let argon2 = format!("{:?}", settings.argon2);
        let fv = Fastvue::connect(settings).await.expect("connect");
        fv.bootstrap().await.expect("bootstrap");
        fv.users()
            .create(
                &Actor::system(),
                NewUser {
                    email: "known@example.com".into(),
                    username: "known-user".into(),
                    password: Some("the-right-password-123".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("create the known user");

        for _ in 0..WARMUP {
            time(&fv, "nobody-at-all", "a-wrong-password-1").await;
            time(&fv, "known-user", "a-wrong-password-1").await;
        }
        let (mut unknown, mut known) = (Vec::new(), Vec::new());
        for i in 0..samples {
            // Alternate which case goes first, too.
            if i % 2 == 0 {
                unknown.push(time(&fv, &format!("nobody-{i}"), "a-wrong-password-1").await);
                known.push(time(&fv, "known-user", "a-wrong-password-1").await);
            } else {
                known.push(time(&fv, "known-user", "a-wrong-password-1").await);
                unknown.push(time(&fv, &format!("nobody-{i}"), "a-wrong-password-1").await);
            }
        }
        let (mu, mk) = (median(&mut unknown), median(&mut known));
        let ratio = mk.as_secs_f64() / mu.as_secs_f64();
        println!("login timing: Users::authenticate, {samples} samples per case, {argon2}");
        println!(
            "  unknown user:                median {:8.3} ms  (p10 {:.3}, p90 {:.3})",
            ms(mu),
            ms(percentile(&unknown, 10)),
            ms(percentile(&unknown, 90))
        );
        println!(
            "  known user, wrong password:  median {:8.3} ms  (p10 {:.3}, p90 {:.3})",
            ms(mk),
            ms(percentile(&known, 10)),
            ms(percentile(&known, 90))
        );
        let within = (ratio - 1.0).abs() <= 0.10;
        println!(
            "  ratio known/unknown: {ratio:.3} -> {}",
            if within {
                "within 10%"
            } else {
                "NOT within 10%"
            }
        );
    });
}
