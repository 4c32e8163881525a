//! `cargo bench -p fastvue-core --bench authz`: the permission check against casbin-rs
//! and a plain `HashMap`, on one policy of 100k users, 1k companies, 10k roles, 200
//! permissions and 1M assignments (see docs/performance.md for the figures).
//!
//! In one run it measures, with criterion:
//! * `fastvue_hit_random` / `fastvue_hit_hot`: `Authorizer::has` answered from the L1
//!   cache holding 1M (user, company) sets, on random keys and on one key; the future is
//!   polled once in place, as the `async fn` awaiting it does;
//! * `fastvue_cached_has_random` / `fastvue_cached_has_hot`: the same checks through
//!   `Authorizer::cached_has`, the synchronous hit path `has` runs before it builds its
//!   future;
//! * `hashmap_random` / `hashmap_hot`: a `HashMap<(user, company), Arc<[u32]>>` lookup
//!   plus membership test of the same keys (the physical floor);
//! * `casbin_enforce` / `casbin_cached_hot`: casbin-rs `Enforcer::enforce` on random
//!   requests and a `CachedEnforcer` hit, on the equivalent RBAC-with-domains policy;
//!
//! and, sampled by hand (criterion's estimate is a mean, the target is a median), a
//! cache miss (`Authorizer::permissions` with the cache disabled: the one SQL statement
//! plus building the set) on SQLite and, when `FASTVUE_TEST_DATABASE_URL` is set, on
//! PostgreSQL. It also reports the resident memory added per cached entry. It ends
//! with one table of medians and ratios.
//!
//! Then the company tree ([`tree`]): 10,000 companies six levels deep with subtree
//! assignments, its miss, the closure-table alternative and `companies_where`, on the
//! same backends.
//!
//! `AUTHZ_BENCH_SCALE` (default 1.0) shrinks users, companies, roles and assignments
//! together, for a quick run. `AUTHZ_BENCH_ONLY=tree` runs the tree part alone; `AUTHZ_BENCH_KEEP_DB=1` keeps its
//! PostgreSQL database (for `EXPLAIN`).
#[path = "authz/tree.rs"]
mod tree;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use casbin::prelude::*;
use criterion::Criterion;
use fastvue_core::Fastvue;
use fastvue_core::db::{self, admin};
use fastvue_core::permission::CacheKey;
use fastvue_core::permission::PermissionSet;
use fastvue_core::testing::{self, DATABASE_VAR};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

const PERMISSIONS: usize = 200;
const PERMS_PER_ROLE: usize = 20;
const ROLES_PER_COMPANY: usize = 10;
const COMPANIES_PER_USER: usize = 10;
const ACTIONS: [&str; 5] = ["read", "create", "update", "delete", "export"];
/// Probes cycled through by the random-key benchmarks (a power of two).
const PROBES: usize = 1 << 20;
/// Hand-timed misses per backend.
const MISS_SAMPLES: usize = 2_000;

/// The policy, identical for fastvue, the floor and casbin.
struct Policy {
    users: usize,
    companies: usize,
    /// Codename of permission id `i + 1`.
    codenames: Vec<String>,
    /// Permission ids of role `j + 1`; role `j + 1` belongs to company `j / 10 + 1`.
    role_perms: Vec<Vec<u32>>,
    /// (user, company, role), user-major.
    assignments: Vec<(i64, i64, i64)>,
}

impl Policy {
    fn generate(scale: f64) -> Self {
        let users = ((100_000.0 * scale) as usize).max(100);
        let companies = ((1_000.0 * scale) as usize).max(COMPANIES_PER_USER);
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let codenames = (0..PERMISSIONS)
            .map(|i| format!("res{:02}.{}", i / ACTIONS.len(), ACTIONS[i % ACTIONS.len()]))
            .collect();
        let role_perms = role_perms(&mut rng, companies * ROLES_PER_COMPANY);
        let company_ids: Vec<i64> = (1..=companies as i64).collect();
        let mut assignments = Vec::with_capacity(users * COMPANIES_PER_USER);
        for user in 1..=users as i64 {
            for &company in company_ids.choose_multiple(&mut rng, COMPANIES_PER_USER) {
                let role = (company - 1) * ROLES_PER_COMPANY as i64
                    + rng.random_range(0..ROLES_PER_COMPANY as i64)
                    + 1;
                assignments.push((user, company, role));
            }
        }
        Self {
            users,
            companies,
            codenames,
            role_perms,
            assignments,
        }
    }
}

/// `roles` random sets of [`PERMS_PER_ROLE`] of the [`PERMISSIONS`] ids, each sorted.
fn role_perms(rng: &mut StdRng, roles: usize) -> Vec<Vec<u32>> {
    let all: Vec<u32> = (1..=PERMISSIONS as u32).collect();
    (0..roles)
        .map(|_| {
            let mut p: Vec<u32> = all.choose_multiple(rng, PERMS_PER_ROLE).copied().collect();
            p.sort_unstable();
            p
        })
        .collect()
}

/// One lookup: a key, a codename and its id.
#[derive(Clone, Copy)]
struct Probe {
    user: i64,
    company: i64,
    perm: u32,
}

fn probes(policy: &Policy, rng: &mut StdRng) -> Vec<Probe> {
    (0..PROBES)
        .map(|_| {
            let &(user, company, _) = policy.assignments.choose(rng).expect("assignments");
            Probe {
                user,
                company,
                perm: rng.random_range(1..=PERMISSIONS as u32),
            }
        })
        .collect()
}

// --- database -------------------------------------------------------------------

/// Writes the policy with multi-row inserts in one transaction (explicit ids).
async fn seed(db: &DatabaseConnection, p: &Policy) {
    const TS: &str = "'2026-01-01T00:00:00+00:00'";
    let tx = db.begin().await.expect("begin");
    let mut rows = Vec::new();
    let flush = |table: &str, cols: &str, rows: &mut Vec<String>, force: bool| {
        if rows.is_empty() || (!force && rows.len() < 1_000) {
            return None;
        }
        let sql = format!("INSERT INTO {table} ({cols}) VALUES {}", rows.join(","));
        rows.clear();
        Some(sql)
    };
    macro_rules! insert_all {
        ($table:expr, $cols:expr, $iter:expr) => {
            for row in $iter {
                rows.push(row);
                if let Some(sql) = flush($table, $cols, &mut rows, false) {
                    tx.execute_unprepared(&sql).await.expect($table);
                }
            }
            if let Some(sql) = flush($table, $cols, &mut rows, true) {
                tx.execute_unprepared(&sql).await.expect($table);
            }
        };
    }
    insert_all!(
        "companies",
        "id, name, code, is_active, created_at, updated_at",
        (1..=p.companies).map(|c| format!("({c}, 'Company {c}', 'C{c}', TRUE, {TS}, {TS})"))
    );
    insert_all!(
        "permissions",
        "id, codename, name, resource, action, is_system, is_active, created_at, updated_at",
        p.codenames.iter().enumerate().map(|(i, code)| {
            let (res, act) = code.split_once('.').expect("resource.action");
            format!(
                "({}, '{code}', '{code}', '{res}', '{act}', FALSE, TRUE, {TS}, {TS})",
                i + 1
            )
        })
    );
    insert_all!(
        "roles",
        "id, name, codename, company_id, is_system, is_active, created_at, updated_at",
        (1..=p.role_perms.len()).map(|r| {
            let company = (r - 1) / ROLES_PER_COMPANY + 1;
            format!("({r}, 'Role {r}', 'role{r}', {company}, FALSE, TRUE, {TS}, {TS})")
        })
    );
    insert_all!(
        "role_permissions",
        "role_id, permission_id",
        p.role_perms
            .iter()
            .enumerate()
            .flat_map(|(r, perms)| perms.iter().map(move |id| format!("({}, {id})", r + 1)))
    );
    insert_all!(
        "users",
        "id, email, username, is_active, is_superuser, created_at, updated_at",
        (1..=p.users).map(|u| format!("({u}, 'u{u}@bench.test', 'u{u}', TRUE, FALSE, {TS}, {TS})"))
    );
    insert_all!(
        "user_company_roles",
        "user_id, company_id, role_id, is_default, is_active, assigned_at",
        p.assignments
            .iter()
            .map(|(u, c, r)| format!("({u}, {c}, {r}, FALSE, TRUE, {TS})"))
    );
    tx.commit().await.expect("commit");
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("ANALYZE").await.expect("analyze");
    }
}

/// A migrated, seeded database and a handle with the permission cache switched off.
async fn miss_handle(url: &str, policy: &Policy) -> Fastvue {
    let settings = testing::settings(url, &[("CACHE_ENABLED", "false"), ("DB_POOL_SIZE", "2")]);
    let conn = db::connect(&settings).await.expect("connect");
    db::migrate(&conn).await.expect("migrate");
    let started = Instant::now();
    seed(&conn, policy).await;
    eprintln!(
        "  seeded {} in {:.1?}",
        settings.redacted_database_url(),
        started.elapsed()
    );
    Fastvue::with_database(settings, conn)
        .await
        .expect("handle")
}

/// p50 and p99 of one uncached permission read on random keys.
async fn sample_misses(app: &Fastvue, probes: &[Probe]) -> (Duration, Duration) {
    let authz = app.authorizer();
    for p in &probes[..100] {
        authz
            .permissions(p.user, p.company)
            .await
            .expect("warm-up miss");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(MISS_SAMPLES);
    for p in &probes[100..100 + MISS_SAMPLES] {
        let t = Instant::now();
        let set = authz.permissions(p.user, p.company).await.expect("miss");
        times.push(t.elapsed());
        assert!(!set.is_empty(), "every probed key holds permissions");
    }
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

// --- casbin ---------------------------------------------------------------------

const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
"#;

fn casbin_rules(p: &Policy) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let policies = p
        .role_perms
        .iter()
        .enumerate()
        .flat_map(|(r, perms)| {
            let company = r / ROLES_PER_COMPANY + 1;
            perms.iter().map(move |&id| {
                let (obj, act) = p.codenames[id as usize - 1]
                    .split_once('.')
                    .expect("codename");
                vec![
                    format!("r{}", r + 1),
                    format!("c{company}"),
                    obj.to_owned(),
                    act.to_owned(),
                ]
            })
        })
        .collect();
    let groupings = p
        .assignments
        .iter()
        .map(|(u, c, r)| vec![format!("u{u}"), format!("r{r}"), format!("c{c}")])
        .collect();
    (policies, groupings)
}

async fn casbin_enforcers(p: &Policy) -> (Enforcer, CachedEnforcer) {
    let (policies, groupings) = casbin_rules(p);
    let model = DefaultModel::from_str(CASBIN_MODEL)
        .await
        .expect("casbin model");
    let mut plain = Enforcer::new(model, MemoryAdapter::default())
        .await
        .expect("enforcer");
    plain
        .add_policies(policies.clone())
        .await
        .expect("policies");
    plain
        .add_grouping_policies(groupings.clone())
        .await
        .expect("groupings");
    let model = DefaultModel::from_str(CASBIN_MODEL)
        .await
        .expect("casbin model");
    let mut cached = CachedEnforcer::new(model, MemoryAdapter::default())
        .await
        .expect("cached");
    cached.add_policies(policies).await.expect("policies");
    cached
        .add_grouping_policies(groupings)
        .await
        .expect("groupings");
    (plain, cached)
}

// --- memory -----------------------------------------------------------------------

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

// --- report -----------------------------------------------------------------------

/// Criterion's median estimate (ns) of benchmark `id`.
fn median_ns(dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(id).join("new").join("estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} us", ns / 1_000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn main() {
    if std::env::var("AUTHZ_BENCH_ONLY").as_deref() == Ok("tree") {
        tree_part(&tokio::runtime::Runtime::new().expect("runtime"));
        return;
    }
    let scale: f64 = std::env::var("AUTHZ_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0 && *s <= 1.0)
        .unwrap_or(1.0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let out: PathBuf = std::env::temp_dir().join("fastvue-authz-bench");
    let _ = std::fs::remove_dir_all(&out);
    let mut c = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let t = Instant::now();
    let policy = Policy::generate(scale);
    let mut rng = StdRng::seed_from_u64(42);
    let probes = probes(&policy, &mut rng);
    eprintln!(
        "policy: {} users, {} companies, {} roles, {} permissions, {} assignments ({:.1?})",
        policy.users,
        policy.companies,
        policy.role_perms.len(),
        PERMISSIONS,
        policy.assignments.len(),
        t.elapsed()
    );

    // SQLite: the database of the miss benchmark, and the handle whose L1 we fill.
    let sqlite_path = std::env::temp_dir().join(format!("fastvue_authz_{}.db", std::process::id()));
    let sqlite_url = format!("sqlite://{}?mode=rwc", sqlite_path.display());
    let sqlite_miss = rt.block_on(miss_handle(&sqlite_url, &policy));
    let cached_settings = testing::settings(
        &sqlite_url,
        &[
            ("PERMISSION_CACHE_MAX_ENTRIES", "2000000"),
            ("PERMISSION_CACHE_TTL", "3600"),
        ],
    );
    let app = rt
        .block_on(Fastvue::with_database(
            cached_settings,
            sqlite_miss.db().clone(),
        ))
        .expect("cached handle");
    let authz = app.authorizer();
    authz.catalog().learn(
        policy
            .codenames
            .iter()
            .enumerate()
            .map(|(i, code)| (i as u32 + 1, code.as_str())),
    );

    // Fill L1 with every (user, company) set; identical role sets are interned once.
    let l1 = authz.l1();
    let role_sets: Vec<Arc<PermissionSet>> = policy
        .role_perms
        .iter()
        .map(|ids| {
            l1.interner()
                .intern(PermissionSet::new(ids.iter().copied()))
        })
        .collect();
    let before = rss_bytes();
    for &(user, company, role) in &policy.assignments {
        let key = CacheKey::new(user, company);
        let ticket = l1.begin_fill(key);
        assert!(l1.complete_fill(ticket, role_sets[role as usize - 1].clone()));
    }
    // Let moka's index finish its pending bookkeeping of the fills now, rather than
    // on the ticker thread during the first measurements.
    l1.run_pending_tasks();
    let after = rss_bytes();
    let entries = l1.entry_count();
    let bytes_per_entry = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / entries as f64),
        _ => None,
    };
    eprintln!("L1: {entries} entries");

    let names: Vec<&str> = policy.codenames.iter().map(String::as_str).collect();
    let mask = PROBES - 1;
    // `has()` is polled once in place, as the `async fn` that awaits it in a handler
    // does.
    let mut cx = Context::from_waker(Waker::noop());
    c.bench_function("fastvue_hit_random", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & mask;
            let p = &probes[i];
            black_box(poll_once(
                authz.has(p.user, p.company, names[p.perm as usize - 1]),
                &mut cx,
            ))
        })
    });
    c.bench_function("fastvue_hit_hot", |b| {
        let p = probes[0];
        let name = names[p.perm as usize - 1];
        b.iter(|| {
            black_box(poll_once(
                authz.has(black_box(p.user), black_box(p.company), name),
                &mut cx,
            ))
        })
    });
    c.bench_function("fastvue_cached_has_random", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & mask;
            let p = &probes[i];
            black_box(authz.cached_has(p.user, p.company, names[p.perm as usize - 1]))
        })
    });

    // The same hot check through the synchronous hit path (what `has` runs before it
    // builds its future), comparable with casbin's synchronous `CachedEnforcer`.
    c.bench_function("fastvue_cached_has_hot", |b| {
        let p = probes[0];
        let name = names[p.perm as usize - 1];
        b.iter(|| black_box(authz.cached_has(black_box(p.user), black_box(p.company), name)))
    });

    // The floor: the same keys in a plain HashMap (foldhash) of shared sets.
    let floor: HashMap<(i64, i64), Arc<[u32]>, foldhash::fast::RandomState> = {
        let shared: Vec<Arc<[u32]>> = policy
            .role_perms
            .iter()
            .map(|p| Arc::from(p.as_slice()))
            .collect();
        policy
            .assignments
            .iter()
            .map(|&(u, c, r)| ((u, c), shared[r as usize - 1].clone()))
            .collect()
    };
    c.bench_function("hashmap_random", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & mask;
            let p = &probes[i];
            black_box(
                floor
                    .get(&(p.user, p.company))
                    .map(|s| s.binary_search(&p.perm).is_ok()),
            )
        })
    });
    c.bench_function("hashmap_hot", |b| {
        let p = probes[0];
        b.iter(|| {
            black_box(
                floor
                    .get(&(black_box(p.user), black_box(p.company)))
                    .map(|s| s.binary_search(&p.perm).is_ok()),
            )
        })
    });
    drop(floor);

    // casbin-rs on the same policy.
    let t = Instant::now();
    let (plain, cached) = rt.block_on(casbin_enforcers(&policy));
    eprintln!("casbin: enforcers built in {:.1?}", t.elapsed());
    let requests: Vec<(String, String, String, String)> = probes[..4096]
        .iter()
        .map(|p| {
            let (obj, act) = names[p.perm as usize - 1]
                .split_once('.')
                .expect("codename");
            (
                format!("u{}", p.user),
                format!("c{}", p.company),
                obj.to_owned(),
                act.to_owned(),
            )
        })
        .collect();
    let mut slow = c.benchmark_group("casbin");
    slow.sample_size(10);
    slow.bench_function("enforce", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            let (s, d, o, a) = &requests[i];
            black_box(
                plain
                    .enforce((s.as_str(), d.as_str(), o.as_str(), a.as_str()))
                    .expect("enforce"),
            )
        })
    });
    slow.finish();
    c.bench_function("casbin_cached_hot", |b| {
        let (s, d, o, a) = &requests[0];
        let _ = cached.enforce((s.as_str(), d.as_str(), o.as_str(), a.as_str()));
        b.iter(|| {
            black_box(
                cached
                    .enforce((s.as_str(), d.as_str(), o.as_str(), a.as_str()))
                    .expect("enforce"),
            )
        })
    });
    drop((plain, cached));

    // Misses: the one statement plus building the set, cache off.
    let sqlite = rt.block_on(sample_misses(&sqlite_miss, &probes));
    let postgres = testing::server_url(DATABASE_VAR).map(|server| {
        let name = format!("fastvue_authz_bench_{}", std::process::id());
        rt.block_on(admin::create_database(&server, &name))
            .expect("create bench database");
        let figures = rt.block_on(async {
            let app = miss_handle(&admin::database_url(&server, &name), &policy).await;
            let figures = sample_misses(&app, &probes).await;
            app.db().clone().close().await.ok();
            figures
        });
        if let Err(e) = rt.block_on(admin::drop_database(&server, &name)) {
            eprintln!("cannot drop {name}: {e}");
        }
        figures
    });
    drop((app, sqlite_miss));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
    }

    c.final_summary();
    report(&out, entries, bytes_per_entry, sqlite, postgres);
    tree_part(&rt);
}

/// Measures the company tree on SQLite and, when configured, PostgreSQL; prints its table.
fn tree_part(rt: &tokio::runtime::Runtime) {
    let policy = tree::TreePolicy::generate();
    let path = std::env::temp_dir().join(format!("fastvue_tree_{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let sqlite = rt.block_on(tree::measure(&url, &policy));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let postgres = testing::server_url(DATABASE_VAR).map(|server| {
        let name = format!("fastvue_tree_bench_{}", std::process::id());
        rt.block_on(admin::create_database(&server, &name))
            .expect("create bench database");
        let figures = rt.block_on(tree::measure(&admin::database_url(&server, &name), &policy));
        if std::env::var_os("AUTHZ_BENCH_KEEP_DB").is_some() {
            eprintln!("kept database {name}");
        } else if let Err(e) = rt.block_on(admin::drop_database(&server, &name)) {
            eprintln!("cannot drop {name}: {e}");
        }
        figures
    });
    let pair = |(p50, p99): (Duration, Duration)| {
        format!(
            "{} | {}",
            fmt_ns(p50.as_nanos() as f64),
            fmt_ns(p99.as_nanos() as f64)
        )
    };
    println!();
    println!(
        "company tree: 10,000 companies, 6 levels, 20,000 users, 2,000 subtree assignments \
         (mean reach of a subtree holder: {} companies)",
        sqlite.reach
    );
    println!();
    println!("| case | backend | p50 | p99 |");
    println!("|---|---|---:|---:|");
    for (name, f) in [("SQLite", Some(sqlite)), ("PostgreSQL", postgres)] {
        let Some(f) = f else {
            println!("| (all) | {name} | - | set {DATABASE_VAR} to measure |");
            continue;
        };
        println!(
            "| miss, recursive walk up (chosen) | {name} | {} |",
            pair(f.miss)
        );
        println!(
            "| same sets, closure-table statement only | {name} | {} |",
            pair(f.closure)
        );
        println!(
            "| companies_where, miss | {name} | {} |",
            pair(f.where_miss)
        );
        println!("| companies_where, hit | {name} | {} |", pair(f.where_hit));
    }
}

/// Polls a check's future once, in place: `Some(held)` when it is ready with an answer.
#[inline(always)]
fn poll_once<E>(
    check: impl Future<Output = std::result::Result<bool, E>>,
    cx: &mut Context<'_>,
) -> Option<bool> {
    match std::pin::pin!(check).poll(cx) {
        Poll::Ready(Ok(held)) => Some(held),
        Poll::Ready(Err(_)) | Poll::Pending => None,
    }
}

fn report(
    out: &Path,
    entries: u64,
    bytes_per_entry: Option<f64>,
    sqlite: (Duration, Duration),
    postgres: Option<(Duration, Duration)>,
) {
    let m = |id: &str| median_ns(out, id);
    let hit_random = m("fastvue_hit_random");
    let hit_hot = m("fastvue_hit_hot");
    let row = |name: &str, v: Option<f64>, base: Option<f64>, note: &str| {
        let ratio = match (v, base) {
            (Some(v), Some(b)) if b > 0.0 => format!("{:.1}x", v / b),
            _ => "-".into(),
        };
        println!(
            "| {name:<42} | {:>10} | {ratio:>9} | {note} |",
            v.map(fmt_ns).unwrap_or_else(|| "-".into())
        );
    };
    println!();
    println!("authz bench: {entries} cached (user, company) sets of {PERMS_PER_ROLE} permissions");
    println!();
    println!("| case | median | ratio | vs |");
    println!("|---|---:|---:|---|");
    row(
        "fastvue has(), L1 hit, random keys",
        hit_random,
        m("hashmap_random"),
        "x HashMap floor",
    );
    row(
        "fastvue has(), L1 hit, hot key",
        hit_hot,
        m("hashmap_hot"),
        "x HashMap floor",
    );
    row(
        "fastvue cached_has() (sync), random keys",
        m("fastvue_cached_has_random"),
        m("hashmap_random"),
        "x HashMap floor",
    );
    row(
        "fastvue cached_has() (sync), hot key",
        m("fastvue_cached_has_hot"),
        m("hashmap_hot"),
        "x HashMap floor",
    );
    row("HashMap floor, random keys", m("hashmap_random"), None, "");
    row("HashMap floor, hot key", m("hashmap_hot"), None, "");
    row(
        "casbin-rs Enforcer::enforce, random",
        m("casbin/enforce"),
        hit_random,
        "x fastvue random hit",
    );
    row(
        "casbin-rs CachedEnforcer hit, hot key",
        m("casbin_cached_hot"),
        hit_hot,
        "x fastvue hot hit",
    );
    row(
        "casbin-rs CachedEnforcer hit, hot key",
        m("casbin_cached_hot"),
        m("fastvue_cached_has_hot"),
        "x fastvue cached_has()",
    );
    let ms = |d: Duration| d.as_nanos() as f64;
    row(
        "miss, SQLite p50 (1 statement)",
        Some(ms(sqlite.0)),
        None,
        &format!("p99 {}", fmt_ns(ms(sqlite.1))),
    );
    match postgres {
        Some((p50, p99)) => row(
            "miss, PostgreSQL p50 (1 statement)",
            Some(ms(p50)),
            None,
            &format!("p99 {}", fmt_ns(ms(p99))),
        ),
        None => println!("| miss, PostgreSQL | - | - | set {DATABASE_VAR} to measure |"),
    }
    match bytes_per_entry {
        Some(b) => println!("| memory per cached entry (RSS delta) | {b:.0} B | - | |"),
        None => println!("| memory per cached entry | - | - | /proc/self/statm unavailable |"),
    }
}
