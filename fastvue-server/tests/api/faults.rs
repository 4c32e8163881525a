//! Fault injection over HTTP (issue 8): a real Redis process killed and restarted under
//! load, PostgreSQL backends terminated under load, SIGTERM to the server binary under
//! load, and a multi-row write failing midway.
//!
//! Every load here counts each request by phase and status; the tests print those
//! figures (run with `--nocapture` to see them) and fail on any 5xx that the contract
//! does not allow, on any wrong answer, and on any broken response.
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{ROOT_LOGIN, ROOT_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::roles::{call, company, role_in};

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// Polls `cond` every 100 ms, at most `tries` times (a hang guard, not a speed check).
pub(crate) async fn eventually(tries: u32, mut cond: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..tries {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// What a load request is allowed to answer besides a correct 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allow {
    /// Only correct 200 answers.
    Ok,
    /// Also the API.md 503 body (`service_unavailable`): the database is down.
    Unavailable,
}

/// Requests sent and answers received, by phase.
#[derive(Debug, Default)]
struct Tally {
    /// (phase, status) -> count; status 0 means no response (transport error).
    counts: BTreeMap<(&'static str, u16), u64>,
    /// Every answer the load did not accept, with its phase.
    failures: Vec<String>,
}

impl Tally {
    fn sent(&self, phase: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((p, _), _)| *p == phase)
            .map(|(_, n)| n)
            .sum()
    }

    fn with_status(&self, phase: &str, pred: impl Fn(u16) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|((p, s), _)| *p == phase && pred(*s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Concurrent authenticated reads until stopped: `GET /auth/me/permissions` and
/// `POST /permissions/check` as a user holding `user.read`, and `GET /users` (a
/// database read on every call) as the superuser.
struct Load {
    phase: Arc<Mutex<&'static str>>,
    stop: Arc<AtomicBool>,
    total: Arc<AtomicU64>,
    tally: Arc<Mutex<Tally>>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(
        app: &TestApp,
        user_token: &str,
        root_token: &str,
        company_id: i64,
        workers: usize,
        allow: Allow,
    ) -> Self {
        let load = Self {
            phase: Arc::new(Mutex::new("before")),
            stop: Arc::default(),
            total: Arc::default(),
            tally: Arc::default(),
            workers: Vec::new(),
        };
        let workers = (0..workers)
            .map(|w| {
                let (client, base) = (app.client.clone(), app.address.clone());
                let (user, root) = (user_token.to_owned(), root_token.to_owned());
                let (phase, stop, total, tally) = (
                    load.phase.clone(),
                    load.stop.clone(),
                    load.total.clone(),
                    load.tally.clone(),
                );
                tokio::spawn(async move {
                    let mut i = w;
                    while !stop.load(Ordering::SeqCst) {
                        let at = *phase.lock().unwrap();
                        let req = match i % 3 {
                            0 => client
                                .get(format!(
                                    "{base}/api/v1/auth/me/permissions?company_id={company_id}"
                                ))
                                .bearer_auth(&user),
                            1 => client
                                .post(format!("{base}/api/v1/permissions/check"))
                                .bearer_auth(&user)
                                .json(&json!({
                                    "permissions": ["user.read"],
                                    "company_id": company_id,
                                })),
                            _ => client
                                .get(format!("{base}/api/v1/users?page_size=5"))
                                .bearer_auth(&root),
                        };
                        let kind = i % 3;
                        i += 1;
                        let (status, verdict) = match req.send().await {
                            Ok(res) => {
                                let status = res.status().as_u16();
                                let body: Option<Value> = res.json().await.ok();
                                (status, judge(kind, status, body.as_ref(), allow))
                            }
                            Err(e) => (0, Err(format!("no response: {e}"))),
                        };
                        total.fetch_add(1, Ordering::SeqCst);
                        let mut t = tally.lock().unwrap();
                        *t.counts.entry((at, status)).or_default() += 1;
                        if let Err(why) = verdict {
                            t.failures.push(format!("[{at}] {why}"));
                        }
                    }
                })
            })
            .collect();
        Self { workers, ..load }
    }

    fn set_phase(&self, phase: &'static str) {
        *self.phase.lock().unwrap() = phase;
    }

    /// Waits until `n` more requests have completed (a count, not a duration).
    async fn run_for(&self, n: u64) {
        let target = self.total.load(Ordering::SeqCst) + n;
        let done = eventually(1200, async || self.total.load(Ordering::SeqCst) >= target).await;
        assert!(done, "the load stalled");
    }

    /// Stops the workers and returns what they saw.
    async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            tokio::time::timeout(Duration::from_secs(120), w)
                .await
                .expect("a load worker hung")
                .expect("a load worker panicked");
        }
        Arc::try_unwrap(self.tally)
            .expect("workers finished")
            .into_inner()
            .unwrap()
    }
}

/// Whether one load answer is acceptable.
fn judge(kind: usize, status: u16, body: Option<&Value>, allow: Allow) -> Result<(), String> {
    let Some(body) = body else {
        return Err(format!("{status} without a JSON body"));
    };
    if status == 503 && allow == Allow::Unavailable {
        return if body["error"]["code"] == "service_unavailable"
            && body["error"]["request_id"].is_string()
        {
            Ok(())
        } else {
            Err(format!("503 without the API.md error body: {body}"))
        };
    }
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let correct = match kind {
        0 => body["permissions"]
            .as_array()
            .is_some_and(|p| p.iter().any(|c| c == "user.read")),
        1 => body["allowed"] == true && body["results"]["user.read"] == true,
        _ => body["items"].as_array().is_some_and(|i| !i.is_empty()),
    };
    if correct {
        Ok(())
    } else {
        Err(format!("wrong answer: {body}"))
    }
}

/// The codenames `POST /permissions/check` reports as held, of `codenames`.
pub(crate) async fn held(
    app: &TestApp,
    token: &str,
    company_id: i64,
    codenames: &[&str],
) -> Vec<String> {
    let (status, body) = call(
        app,
        Method::POST,
        "/permissions/check",
        Some(token),
        Some(json!({ "permissions": codenames, "company_id": company_id })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    codenames
        .iter()
        .filter(|c| body["results"][**c] == true)
        .map(|c| (*c).to_owned())
        .collect()
}

/// Replaces the permissions of `role_id` as the superuser.
pub(crate) async fn set_role_permissions(
    app: &TestApp,
    root: &str,
    role_id: i64,
    codenames: &[&str],
) {
    let (status, body) = call(
        app,
        Method::PUT,
        &format!("/roles/{role_id}/permissions"),
        Some(root),
        Some(json!({ "permissions": codenames })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

pub(crate) async fn health(app: &TestApp) -> (u16, Value) {
    let res = app.get("/health").await;
    (
        res.status().as_u16(),
        res.json().await.expect("health body"),
    )
}

/// A private `redis-server` process on its own port, killed on drop.
pub(crate) struct RedisProcess {
    pub(crate) port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts one on a free port; `None` when `redis-server` is not installed.
    pub(crate) fn start() -> Option<Self> {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.spawn().ok()?;
        Some(redis)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        for _ in 0..100 {
            if self.answers_ping() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {port} did not answer PING");
    }

    pub(crate) fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL: no goodbye to the clients.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub(crate) fn restart(&mut self) {
        self.spawn().expect("restart redis-server");
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_load_degrades_health_never_answers_5xx_and_recovers_on_restart() {
    let Some(mut redis) = RedisProcess::start() else {
        eprintln!("redis-server is not installed; the Redis fault test did not run");
        return;
    };
    let app = spawn_app_with(&[("REDIS_URL", &redis.url()), ("REDIS_POOL_TIMEOUT", "1")]).await;
    let subscriber = app
        .fastvue
        .authorizer()
        .cache()
        .subscriber()
        .expect("a subscriber with REDIS_URL");
    assert!(
        subscriber
            .wait_subscriptions(1, Duration::from_secs(30))
            .await
    );
    let acme = company(&app, "ACME").await;
    let role = role_in(&app, Some(acme), "reader", &["user.read"]).await;
    let (_, user) = app.user_with_role(acme, "reader").await;
    let root = app.root_token().await;
    assert_eq!(health(&app).await.1["status"], "healthy");

    let load = Load::start(&app, &user, &root, acme, 8, Allow::Ok);
    load.run_for(200).await;

    // Redis dies (SIGKILL) under load.
    load.set_phase("outage");
    redis.kill();
    assert!(
        eventually(600, async || {
            let (status, body) = health(&app).await;
            status == 200 && body["status"] == "degraded" && body["redis"] == "unavailable"
        })
        .await,
        "/health never reported degraded while Redis was down"
    );
    load.run_for(300).await;
    // Role changes while Redis is down reach the holder on this instance at once.
    set_role_permissions(&app, &root, role.id, &["user.read", "user.update"]).await;
    assert_eq!(
        held(&app, &user, acme, &["user.read", "user.update"]).await,
        ["user.read", "user.update"],
        "a grant made while Redis is down is not served"
    );
    load.run_for(200).await;
    set_role_permissions(&app, &root, role.id, &["user.read"]).await;
    assert_eq!(
        held(&app, &user, acme, &["user.read", "user.update"]).await,
        ["user.read"],
        "a revoke made while Redis is down is not served"
    );
    load.run_for(300).await;
    let (status, body) = health(&app).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("degraded")),
        "{body}"
    );
    let outage = load.finish().await;

    // Redis returns: the subscriber subscribes again and clears the L1 it kept.
    let l1 = app.fastvue.authorizer().l1();
    l1.run_pending_tasks();
    assert!(l1.entry_count() > 0, "checks during the outage fill the L1");
    let subscribed = subscriber.subscriptions();
    redis.restart();
    assert!(
        subscriber
            .wait_subscriptions(subscribed + 1, Duration::from_secs(60))
            .await,
        "the subscriber did not subscribe again after Redis came back"
    );
    l1.run_pending_tasks();
    assert_eq!(l1.entry_count(), 0, "L1 not cleared on resubscribe");
    assert!(
        eventually(600, async || health(&app).await.1["status"] == "healthy").await,
        "/health never reported healthy again"
    );
    assert!(
        eventually(600, async || !app
            .fastvue
            .authorizer()
            .cache()
            .repair_pending())
        .await,
        "the repair owed for writes during the outage never ran"
    );

    let load = Load::start(&app, &user, &root, acme, 8, Allow::Ok);
    load.set_phase("after");
    load.run_for(300).await;
    let after = load.finish().await;
    assert_eq!(
        held(&app, &user, acme, &["user.read", "user.update"]).await,
        ["user.read"]
    );

    let during = outage.sent("outage");
    println!(
        "redis fault: {} requests before, {during} during the outage ({} failed, {} 5xx), {} after restart ({} failed)",
        outage.sent("before"),
        outage
            .failures
            .iter()
            .filter(|f| f.starts_with("[outage]"))
            .count(),
        outage.with_status("outage", |s| s >= 500),
        after.sent("after"),
        after.failures.len(),
    );
    assert!(during > 0);
    assert!(outage.failures.is_empty(), "{:#?}", outage.failures);
    assert!(after.failures.is_empty(), "{:#?}", after.failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backends_killed_under_load_answer_503_or_success_and_the_pool_recovers() {
    let Some(server) = fastvue_core::testing::server_url(fastvue_core::testing::DATABASE_VAR)
    else {
        eprintln!("FASTVUE_TEST_DATABASE_URL is not set; the PostgreSQL fault test did not run");
        return;
    };
    use sea_orm::{ConnectionTrait, Database};
    let app = spawn_app().await;
    let url = &app.fastvue.settings().database_url;
    let db_name = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("a database name in the URL")
        .to_owned();
    let killer = Database::connect(server.as_str())
        .await
        .expect("a separate connection");
    let acme = company(&app, "ACME").await;
    role_in(&app, Some(acme), "reader", &["user.read"]).await;
    let (_, user) = app.user_with_role(acme, "reader").await;
    let root = app.root_token().await;

    let load = Load::start(&app, &user, &root, acme, 8, Allow::Unavailable);
    load.run_for(100).await;
    load.set_phase("kills");
    let mut terminated = 0;
    for _ in 0..5 {
        let res = killer
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{db_name}' AND pid <> pg_backend_pid()"
            ))
            .await
            .expect("pg_terminate_backend");
        terminated += res.rows_affected();
        load.run_for(100).await;
    }
    load.set_phase("after");
    // The pool replaces the dead connections by itself: no restart, no manual step.
    load.run_for(300).await;
    let tally = load.finish().await;

    let sent = tally.sent("kills");
    let unavailable = tally.with_status("kills", |s| s == 503);
    println!(
        "postgres fault: {terminated} backends terminated in 5 rounds; {sent} requests during the kills \
         ({unavailable} answered 503, {} other failures); {} after ({} not 200)",
        tally.failures.len(),
        tally.sent("after"),
        tally.with_status("after", |s| s != 200),
    );
    assert!(terminated > 0, "no backend of {db_name} was terminated");
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    // Requests that were in flight while the last kill ran may still see a 503; the last
    // of them completes within the first round of the "after" load, so by then all succeed.
    for _ in 0..30 {
        assert_eq!(app.get("/health").await.status(), 200);
        let (status, body) = call(&app, Method::GET, "/users?page_size=5", Some(&root), None).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(held(&app, &user, acme, &["user.read"]).await, ["user.read"]);
}

/// A request's status and JSON body, or why none arrived.
type Outcome = Result<(u16, Value), reqwest::Error>;

/// The `fastvue-server` binary of this build.
pub(crate) const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fastvue-server");

/// The real `fastvue-server` binary on `port`, in a clean environment and the temp
/// directory (no .env), signed-in as the tests' root, logging warnings to nowhere;
/// `vars` come last and win.
pub(crate) fn server_process(
    database_url: &str,
    port: u16,
    vars: &[(&str, &str)],
) -> std::process::Child {
    Command::new(SERVER_BIN)
        .env_clear()
        .envs([
            ("DATABASE_URL", database_url),
            ("HOST", "127.0.0.1"),
            ("PORT", &port.to_string()),
            ("LOG_LEVEL", "warn"),
            ("FASTVUE_ADMIN_EMAIL", ROOT_LOGIN),
            ("FASTVUE_ADMIN_PASSWORD", ROOT_PASSWORD),
            ("RATE_LIMIT_LOGIN_PER_MINUTE", "100000"),
        ])
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn fastvue-server")
}

/// [`server_process`] with argon2 costly enough (about 0.1 s a hash, argon2 being built
/// optimised even in debug builds) that sign-ins queue on the hashing threads when a
/// signal arrives (the requests of the tests below stay within the hashing queue).
fn start_server_process(database_url: &str, port: u16) -> std::process::Child {
    server_process(
        database_url,
        port,
        &[
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "6"),
            ("ARGON2_PARALLELISM", "1"),
        ],
    )
}

/// Waits until the server process at `base` answers `/health/live`; fails the test when
/// it never does.
pub(crate) async fn assert_starts(client: &reqwest::Client, base: &str) {
    assert!(
        eventually(1200, async || client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200))
        .await,
        "the server did not start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_completes_every_accepted_request_and_exits_zero() {
    let db = fastvue_core::testing::TestDatabase::create("fastvue_sigterm").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_server_process(db.url(), port);
    // One connection per request, so each request's connection is its own.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert_starts(&client, &base).await;

    let seq = Arc::new(AtomicU64::new(0));
    let requests: Vec<JoinHandle<(Outcome, u64)>> = (0..24)
        .map(|i| {
            let (client, base, seq) = (client.clone(), base.clone(), seq.clone());
            tokio::spawn(async move {
                let req = if i % 3 == 2 {
                    client.get(format!("{base}/health"))
                } else {
                    client
                        .post(format!("{base}/api/v1/auth/login"))
                        .json(&json!({ "username": ROOT_LOGIN, "password": ROOT_PASSWORD }))
                };
                let res = async {
                    let res = req.send().await?;
                    let status = res.status().as_u16();
                    Ok((status, res.json::<Value>().await?))
                }
                .await;
                (res, seq.fetch_add(1, Ordering::SeqCst))
            })
        })
        .collect();
    // Connections are accepted in order: once a later one is answered, the earlier ones
    // are being served. The pause only lets the requests above reach the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .expect("probe")
            .status(),
        200
    );
    let signalled_at = seq.fetch_add(1, Ordering::SeqCst);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());

    let (mut completed_after_signal, mut refused, mut answered) = (0, 0, 0);
    let mut broken = Vec::new();
    for r in requests {
        let (res, done_at) = tokio::time::timeout(Duration::from_secs(120), r)
            .await
            .expect("a request hung")
            .expect("request task");
        match res {
            Ok((status, body)) if (200..500).contains(&status) => {
                answered += 1;
                if done_at > signalled_at {
                    completed_after_signal += 1;
                }
                if status == 200
                    && body.get("access_token").is_none()
                    && body.get("status").is_none()
                {
                    broken.push(format!("{status} with an unexpected body {body}"));
                }
            }
            Ok((status, body)) => broken.push(format!("{status}: {body}")),
            Err(e) if e.is_connect() => refused += 1,
            Err(e) => broken.push(format!("accepted, then no complete response: {e}")),
        }
    }
    let exit = tokio::task::spawn_blocking(move || {
        for _ in 0..600 {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        None
    })
    .await
    .unwrap()
    .expect("the server did not exit after SIGTERM");
    println!(
        "sigterm: 24 requests, {answered} answered ({completed_after_signal} completed after the signal), \
         {refused} refused, {} broken; server {exit}",
        broken.len()
    );
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(
        completed_after_signal > 0,
        "no request was in flight when the signal arrived; the test proved nothing"
    );
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test]
async fn a_role_create_whose_grants_fail_midway_leaves_no_role_and_no_grants() {
    use fastvue_core::entity::{role, role_permission};
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
    let app = spawn_app().await;
    let root = app.root_token().await;
    let acme = company(&app, "ACME").await;
    let db = app.fastvue.db();
    // The second grant of any statement fails inside the database, after the role row
    // and the first grant were written.
    let trigger: &[&str] = if app.fastvue.settings().database_url.starts_with("sqlite:") {
        &[
            "CREATE TRIGGER fail_second_grant BEFORE INSERT ON role_permissions \
           WHEN (SELECT count(*) FROM role_permissions WHERE role_id = NEW.role_id) >= 1 \
           BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ]
    } else {
        &[
            "CREATE FUNCTION fail_second_grant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF (SELECT count(*) FROM role_permissions WHERE role_id = NEW.role_id) >= 1 THEN \
             RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER fail_second_grant BEFORE INSERT ON role_permissions \
             FOR EACH ROW EXECUTE FUNCTION fail_second_grant()",
        ]
    };
    for sql in trigger {
        db.execute_unprepared(sql).await.expect("install trigger");
    }
    let counts = async || {
        (
            role::Entity::find().count(db).await.unwrap(),
            role_permission::Entity::find().count(db).await.unwrap(),
        )
    };
    let before = counts().await;

    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&root),
        Some(json!({
            "name": "Editors",
            "codename": "editors",
            "company_id": acme,
            "permissions": ["user.read", "user.update", "role.read"],
        })),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal_error", "{body}");
    assert!(
        !body.to_string().contains("injected"),
        "database details leak: {body}"
    );
    assert_eq!(counts().await, before, "a partial role is left behind");

    // A single grant passes the trigger: the write path itself works.
    let (status, body) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&root),
        Some(json!({
            "name": "Readers",
            "codename": "readers",
            "company_id": acme,
            "permissions": ["user.read"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(counts().await, (before.0 + 1, before.1 + 1));
}

#[tokio::test]
async fn sigterm_ends_open_permission_streams_with_closed_and_the_server_exits() {
    let db = fastvue_core::testing::TestDatabase::create("fastvue_sigterm_sse").await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_server_process(db.url(), port);
    let client = reqwest::Client::new();
    assert_starts(&client, &base).await;
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": ROOT_LOGIN, "password": ROOT_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let res = client
        .get(format!("{base}/api/v1/auth/me/permissions/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut res = res;
    let mut text = String::new();
    // The opening `permissions` event, then the signal.
    while !text.contains("event: permissions") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), res.chunk())
            .await
            .expect("the opening event")
            .expect("bytes")
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    // Read to the end: the stream must finish with `closed` / shutting_down (without the
    // fix it would be cut when the drain timeout ends, with no final event).
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(60), res.chunk()).await
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains("event: closed") && text.contains("shutting_down"),
        "{text}"
    );
    let exit = tokio::task::spawn_blocking(move || child.wait().expect("wait"))
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit}");
}
