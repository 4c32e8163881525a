//! Test harness: a fresh database per test (SQLite by default, PostgreSQL with
//! `FASTVUE_TEST_DATABASE_URL`), Redis when `FASTVUE_TEST_REDIS_URL` is set, a core
//! handle for fixtures, the `fastvue` binary with a clean environment, and running
//! `fastvue serve` processes.
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use fastvue_core::Actor;
use fastvue_core::Fastvue;
use fastvue_core::entity::{role, user};
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::companies::NewCompany;
use fastvue_core::service::roles::NewRole;
use fastvue_core::service::users::NewUser;
use fastvue_core::testing::{self, Backend, REDIS_VAR, TestDatabase};
use tokio::runtime::Runtime;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_fastvue");

/// Password of every user made by [`Env::user_with_role`].
pub const PASSWORD: &str = "user-password-123";

/// The cheapest argon2 the configuration allows, so hashing never slows a test.
const CHEAP_ARGON2: [(&str, &str); 3] = [
    ("ARGON2_MEMORY_KIB", "8"),
    ("ARGON2_ITERATIONS", "1"),
    ("ARGON2_PARALLELISM", "1"),
];

/// One test's world. Fields drop in order: the handle, then the database, then the
/// runtime its background tasks run on.
pub struct Env {
    /// A bootstrapped core handle on the test database, without Redis (its writes are
    /// seen by no other process until they are invalidated).
    pub fv: Fastvue,
    db: TestDatabase,
    /// `FASTVUE_TEST_REDIS_URL`, when set.
    pub redis: Option<String>,
    /// The Redis key prefix of this test (shared by every process of the test).
    pub prefix: String,
    rt: Runtime,
}

impl Env {
    /// A fresh, migrated and bootstrapped database.
    pub fn new() -> Self {
        Self::create(true)
    }

    /// A fresh database without any table (the handle is not usable for fixtures).
    pub fn unmigrated() -> Self {
        Self::create(false)
    }

    fn create(migrate: bool) -> Self {
        let rt = Runtime::new().expect("test runtime");
        let db = rt.block_on(TestDatabase::create("fastvue_cli"));
        let settings = testing::settings(db.url(), &[]);
        let prefix = settings.redis.key_prefix.clone();
        let fv = rt.block_on(async {
            if migrate {
                let fv = Fastvue::connect(settings)
                    .await
                    .expect("connect and migrate");
                fv.bootstrap().await.expect("bootstrap");
                fv
            } else {
                let conn = fastvue_core::db::connect(&settings).await.expect("connect");
                Fastvue::with_database(settings, conn)
                    .await
                    .expect("handle")
            }
        });
        Self {
            fv,
            db,
            redis: testing::server_url(REDIS_VAR),
            prefix,
            rt,
        }
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// `DATABASE_URL` of the test database.
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// Runs a future on the test's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// `fastvue` on the test database, with Redis (and this test's key prefix) when the
    /// run has one, and nothing else from the environment.
    pub fn fastvue(&self) -> Command {
        let mut cmd = self.fastvue_without_redis();
        if let Some(url) = &self.redis {
            cmd.env("REDIS_URL", url)
                .env("REDIS_KEY_PREFIX", &self.prefix);
        }
        cmd
    }

    /// `fastvue` on the test database, never with Redis (the embedded default).
    pub fn fastvue_without_redis(&self) -> Command {
        let mut cmd = bare();
        cmd.env("DATABASE_URL", self.url());
        cmd
    }

    /// A company.
    pub fn company(&self, code: &str) -> i64 {
        self.block_on(self.fv.companies().create(
            &Actor::system(),
            NewCompany {
                name: format!("{code} Inc"),
                code: code.to_owned(),
                ..Default::default()
            },
        ))
        .expect("create company")
        .id
    }

    /// A role of `company_id` granting `permissions`.
    pub fn role(&self, company_id: i64, codename: &str, permissions: &[&str]) -> role::Model {
        self.block_on(self.fv.roles().create(
            &Actor::system(),
            NewRole {
                name: format!("Role {codename}"),
                codename: codename.to_owned(),
                company_id: Some(company_id),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
        ))
        .expect("create role")
        .role
    }

    /// An active user (password [`PASSWORD`]) holding `role_id` in `company_id`, which
    /// is its current company.
    pub fn user_with_role(&self, username: &str, company_id: i64, role_id: i64) -> user::Model {
        self.block_on(self.fv.users().create_with_role(
            &Actor::system(),
            NewUser {
                email: format!("{username}@example.com"),
                username: username.to_owned(),
                password: Some(PASSWORD.to_owned()),
                current_company_id: Some(company_id),
                ..Default::default()
            },
            Some(NewAssignment {
                company_id,
                role_id,
                is_default: true,
                scope: Default::default(),
            }),
        ))
        .expect("create user")
        .0
    }

    /// A user without any role.
    pub fn user(&self, username: &str) -> user::Model {
        self.block_on(self.fv.users().create(
            &Actor::system(),
            NewUser {
                email: format!("{username}@example.com"),
                username: username.to_owned(),
                password: Some(PASSWORD.to_owned()),
                ..Default::default()
            },
        ))
        .expect("create user")
    }

    /// Grants the system permission `codename` to `role_id` with plain SQL, so that no
    /// process learns of it.
    pub fn grant_behind_the_cache(&self, role_id: i64, codename: &str) {
        use sea_orm::ConnectionTrait;
        let inserted = self
            .block_on(self.fv.db().execute_unprepared(&format!(
                "INSERT INTO role_permissions (role_id, permission_id) \
                 SELECT {role_id}, id FROM permissions WHERE codename = '{codename}'"
            )))
            .expect("insert a role_permissions row");
        assert_eq!(inserted.rows_affected(), 1, "no permission {codename}");
    }

    /// Starts `fastvue serve` on this database (with Redis when `redis`), on a free port.
    pub fn serve(&self, redis: bool) -> ServerProcess {
        let port = free_port();
        let mut cmd = std::process::Command::new(BIN);
        cmd.env_clear()
            .envs(CHEAP_ARGON2)
            .env("DATABASE_URL", self.url())
            .env("PORT", port.to_string())
            .env("LOG_LEVEL", "warn")
            .current_dir(std::env::temp_dir())
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if redis {
            let url = self.redis.as_ref().expect("a Redis URL");
            cmd.env("REDIS_URL", url)
                .env("REDIS_KEY_PREFIX", &self.prefix);
        }
        let child = cmd.spawn().expect("spawn fastvue serve");
        let server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        server.wait_until_live();
        server
    }
}

/// `fastvue` with an empty environment apart from cheap argon2, run in the temp
/// directory (so no `.env` file is read).
pub fn bare() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .envs(CHEAP_ARGON2)
        .current_dir(std::env::temp_dir())
        .timeout(Duration::from_secs(120));
    cmd
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// Standard output of a successful run.
#[track_caller]
pub fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("utf-8 output")
}

/// Standard output of a successful `--json` run, parsed.
#[track_caller]
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = stdout(cmd);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Standard error of a run that exits with `code`; asserts it is one `error:` line.
#[track_caller]
pub fn fails(cmd: &mut Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().stderr.clone();
    let err = String::from_utf8(out).expect("utf-8 output");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A running `fastvue serve`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProcess {
    fn wait_until_live(&self) {
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the URL");
        wait_until_live(port);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `fastvue serve` with piped standard output and returns the lines it printed
/// until it listened on `port`.
pub fn serve_and_capture(database_url: &str) -> Vec<String> {
    let port = free_port();
    let mut child = std::process::Command::new(BIN)
        .env_clear()
        .envs(CHEAP_ARGON2)
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "warn")
        .current_dir(std::env::temp_dir())
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fastvue serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    wait_until_live(port);
    let _ = child.kill();
    let _ = child.wait();
    reader.join().expect("stdout reader")
}

/// Waits until `GET /health/live` on `port` answers 200 (the server prints what it
/// prints at start before it serves).
fn wait_until_live(port: u16) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answered = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET /health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
            let mut head = [0u8; 12];
            s.read_exact(&mut head)?;
            Ok(head.ends_with(b"200"))
        });
        if matches!(answered, Ok(true)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fastvue serve did not answer on port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
