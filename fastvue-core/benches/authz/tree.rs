//! The company-tree part of the authz bench: 10,000 companies six levels deep
//! (1 / 3 / 12 / 84 / 900 / 9,000 per level), 20,000 users each holding a global role
//! in two companies, and 2,000 of them a global role over the subtree of a level-2 or
//! level-3 company (750 to 3,334 companies each). Sampled by hand, cache off:
//!
//! * the miss (`Authorizer::permissions`: the one statement with its recursive walk up
//!   the tree, plus building the set), half on inherited keys five levels below the
//!   subtree assignment, half on direct keys;
//! * the same sets read through a maintained closure table (`company_closure(ancestor,
//!   descendant, depth)`, the alternative design), statement only;
//! * `Authorizer::companies_where` for subtree holders: a miss (cache off) and a hit.
use std::time::{Duration, Instant};

use fastvue_core::Fastvue;
use fastvue_core::db;
use fastvue_core::testing;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

const LEVELS: [usize; 6] = [1, 3, 12, 84, 900, 9_000];
const USERS: usize = 20_000;
const SUBTREE_USERS: usize = 2_000;
const ROLES: usize = 50;
use crate::PERMISSIONS;
const SAMPLES: usize = 2_000;

/// The generated tree and grants.
pub struct TreePolicy {
    /// Parent of company `i + 1` (0 for the root).
    parents: Vec<i64>,
    /// Companies of each level, ids.
    levels: Vec<Vec<i64>>,
    /// Children of company `i + 1`.
    children: Vec<Vec<i64>>,
    role_perms: Vec<Vec<u32>>,
    /// (user, company, role, subtree).
    assignments: Vec<(i64, i64, i64, bool)>,
}

impl TreePolicy {
    /// The fixed, seeded policy.
    pub fn generate() -> Self {
        let mut rng = StdRng::seed_from_u64(0x7ee);
        let mut parents = Vec::new();
        let mut levels: Vec<Vec<i64>> = Vec::new();
        let mut next = 1i64;
        for (depth, &n) in LEVELS.iter().enumerate() {
            let mut level = Vec::with_capacity(n);
            for k in 0..n {
                let parent = if depth == 0 {
                    0
                } else {
                    let above = &levels[depth - 1];
                    above[k * above.len() / n]
                };
                parents.push(parent);
                level.push(next);
                next += 1;
            }
            levels.push(level);
        }
        let mut children = vec![Vec::new(); parents.len()];
        for (i, &p) in parents.iter().enumerate() {
            if p > 0 {
                children[p as usize - 1].push(i as i64 + 1);
            }
        }
        let role_perms = crate::role_perms(&mut rng, ROLES);
        let companies = parents.len() as i64;
        let mut assignments = Vec::new();
        for user in 1..=USERS as i64 {
            let mut mine: Vec<i64> = Vec::new();
            while mine.len() < 2 {
                let c = rng.random_range(1..=companies);
                if !mine.contains(&c) {
                    mine.push(c);
                }
            }
            for c in mine {
                assignments.push((user, c, rng.random_range(1..=ROLES as i64), false));
            }
            if user as usize <= SUBTREE_USERS {
                let level = &levels[1 + (user as usize % 2)];
                let top = *level.choose(&mut rng).expect("level");
                assignments.push((user, top, rng.random_range(1..=ROLES as i64), true));
            }
        }
        Self {
            parents,
            levels,
            children,
            role_perms,
            assignments,
        }
    }

    /// Companies at or below `c`.
    fn below(&self, c: i64) -> Vec<i64> {
        let mut out = vec![c];
        let mut i = 0;
        while i < out.len() {
            out.extend_from_slice(&self.children[out[i] as usize - 1]);
            i += 1;
        }
        out
    }

    /// Probe keys: half (subtree holder, a leaf below its subtree), half direct keys.
    fn probes(&self, rng: &mut StdRng, n: usize) -> Vec<(i64, i64)> {
        let subtree: Vec<&(i64, i64, i64, bool)> =
            self.assignments.iter().filter(|a| a.3).collect();
        let direct: Vec<&(i64, i64, i64, bool)> =
            self.assignments.iter().filter(|a| !a.3).collect();
        let leaves = &self.levels[LEVELS.len() - 1];
        (0..n)
            .map(|k| {
                if k % 2 == 0 {
                    let a = subtree.choose(rng).expect("subtree");
                    let below: Vec<i64> = self
                        .below(a.1)
                        .into_iter()
                        .filter(|c| leaves.binary_search(c).is_ok())
                        .collect();
                    (a.0, *below.choose(rng).expect("a leaf below"))
                } else {
                    let a = direct.choose(rng).expect("direct");
                    (a.0, a.1)
                }
            })
            .collect()
    }
}

async fn seed(db: &DatabaseConnection, p: &TreePolicy) {
    const TS: &str = "'2026-01-01T00:00:00+00:00'";
    let tx = db.begin().await.expect("begin");
    async fn insert(
        tx: &sea_orm::DatabaseTransaction,
        table: &str,
        cols: &str,
        rows: impl Iterator<Item = String>,
    ) {
        let rows: Vec<String> = rows.collect();
        for chunk in rows.chunks(1_000) {
            let sql = format!("INSERT INTO {table} ({cols}) VALUES {}", chunk.join(","));
            tx.execute_unprepared(&sql).await.expect(table);
        }
    }
    // Parents first: ids ascend by level.
    insert(
        &tx,
        "companies",
        "id, name, code, parent_id, is_active, created_at, updated_at",
        p.parents.iter().enumerate().map(|(i, &parent)| {
            let id = i + 1;
            let parent = if parent == 0 {
                "NULL".to_owned()
            } else {
                parent.to_string()
            };
            format!("({id}, 'Company {id}', 'T{id}', {parent}, TRUE, {TS}, {TS})")
        }),
    )
    .await;
    insert(
        &tx,
        "permissions",
        "id, codename, name, resource, action, is_system, is_active, created_at, updated_at",
        (1..=PERMISSIONS).map(|i| {
            format!(
                "({i}, 'tree{i}.read', 'tree{i}.read', 'tree{i}', 'read', FALSE, TRUE, {TS}, {TS})"
            )
        }),
    )
    .await;
    insert(
        &tx,
        "roles",
        "id, name, codename, company_id, is_system, is_active, created_at, updated_at",
        (1..=ROLES).map(|r| format!("({r}, 'Role {r}', 'role{r}', NULL, FALSE, TRUE, {TS}, {TS})")),
    )
    .await;
    insert(
        &tx,
        "role_permissions",
        "role_id, permission_id",
        p.role_perms
            .iter()
            .enumerate()
            .flat_map(|(r, perms)| perms.iter().map(move |id| format!("({}, {id})", r + 1))),
    )
    .await;
    insert(
        &tx,
        "users",
        "id, email, username, is_active, is_superuser, created_at, updated_at",
        (1..=USERS).map(|u| format!("({u}, 'u{u}@tree.test', 'u{u}', TRUE, FALSE, {TS}, {TS})")),
    )
    .await;
    insert(
        &tx,
        "user_company_roles",
        "user_id, company_id, role_id, is_default, is_active, assigned_at, scope",
        p.assignments.iter().map(|(u, c, r, subtree)| {
            let scope = if *subtree { "subtree" } else { "company" };
            format!("({u}, {c}, {r}, FALSE, TRUE, {TS}, '{scope}')")
        }),
    )
    .await;
    // The alternative design: a closure table of every (ancestor, descendant, depth).
    tx.execute_unprepared(
        "CREATE TABLE company_closure (ancestor BIGINT NOT NULL, descendant BIGINT NOT NULL, \
         depth INTEGER NOT NULL, PRIMARY KEY (descendant, ancestor))",
    )
    .await
    .expect("closure table");
    let mut closure = Vec::new();
    for id in 1..=p.parents.len() as i64 {
        let (mut at, mut depth) = (id, 0);
        while at > 0 {
            closure.push(format!("({at}, {id}, {depth})"));
            at = p.parents[at as usize - 1];
            depth += 1;
        }
    }
    insert(
        &tx,
        "company_closure",
        "ancestor, descendant, depth",
        closure.into_iter(),
    )
    .await;
    tx.commit().await.expect("commit");
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ANALYZE").await.expect("analyze");
    }
}

/// The effective-set statement with the closure table in place of the recursive walk
/// (roles only: the bench holds no groups).
const CLOSURE_MISS: &str = "\
SELECT ucr.user_id AS user_id, p.id AS id, p.codename AS codename \
FROM company_closure up CROSS JOIN user_company_roles ucr CROSS JOIN roles r \
  CROSS JOIN role_permissions rp CROSS JOIN permissions p \
WHERE up.descendant = $1 AND ucr.user_id = $2 AND ucr.company_id = up.ancestor \
  AND ucr.is_active = TRUE AND (up.depth = 0 OR ucr.scope = 'subtree') \
  AND r.id = ucr.role_id AND r.is_active = TRUE \
  AND (r.company_id IS NULL OR r.company_id = ucr.company_id) \
  AND rp.role_id = r.id AND p.id = rp.permission_id AND p.is_active = TRUE";

fn quantiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

/// The figures of one backend.
#[derive(Debug, Clone, Copy)]
pub struct TreeFigures {
    /// Miss through the recursive walk (p50, p99).
    pub miss: (Duration, Duration),
    /// The closure-table statement (p50, p99).
    pub closure: (Duration, Duration),
    /// `companies_where` miss (p50, p99).
    pub where_miss: (Duration, Duration),
    /// `companies_where` hit (p50, p99).
    pub where_hit: (Duration, Duration),
    /// Mean companies in a subtree holder's reach.
    pub reach: usize,
}

/// Seeds `url` with the tree and samples it.
pub async fn measure(url: &str, policy: &TreePolicy) -> TreeFigures {
    let settings = testing::settings(url, &[("CACHE_ENABLED", "false"), ("DB_POOL_SIZE", "2")]);
    let conn = db::connect(&settings).await.expect("connect");
    db::migrate(&conn).await.expect("migrate");
    let started = Instant::now();
    seed(&conn, policy).await;
    eprintln!("  tree seeded in {:.1?}", started.elapsed());
    let uncached = Fastvue::with_database(settings, conn.clone())
        .await
        .expect("handle");
    let cached = Fastvue::with_database(testing::settings(url, &[]), conn.clone())
        .await
        .expect("cached handle");
    let names: Vec<String> = (1..=PERMISSIONS).map(|i| format!("tree{i}.read")).collect();
    cached.authorizer().catalog().learn(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u32 + 1, n.as_str())),
    );
    let mut rng = StdRng::seed_from_u64(7);
    let probes = policy.probes(&mut rng, SAMPLES + 100);
    let authz = uncached.authorizer();
    for &(u, c) in &probes[..100] {
        authz.permissions(u, c).await.expect("warm-up");
    }
    let mut times = Vec::with_capacity(SAMPLES);
    for &(u, c) in &probes[100..] {
        let t = Instant::now();
        let set = authz.permissions(u, c).await.expect("miss");
        times.push(t.elapsed());
        assert!(!set.is_empty(), "every probe holds permissions");
    }
    let miss = quantiles(times);

    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => CLOSURE_MISS.replace('$', "?"),
        _ => CLOSURE_MISS.to_owned(),
    };
    let mut times = Vec::with_capacity(SAMPLES);
    for &(u, c) in &probes[100..] {
        let stmt = Statement::from_sql_and_values(backend, &sql, vec![c.into(), u.into()]);
        let t = Instant::now();
        let rows = conn.query_all_raw(stmt).await.expect("closure miss");
        times.push(t.elapsed());
        assert!(!rows.is_empty());
    }
    let closure = quantiles(times);

    // Data scopes: subtree holders and one of the codenames their subtree role grants.
    let holders: Vec<(i64, String)> = policy
        .assignments
        .iter()
        .filter(|a| a.3)
        .take(500)
        .map(|&(u, _, r, _)| {
            (
                u,
                format!("tree{}.read", policy.role_perms[r as usize - 1][0]),
            )
        })
        .collect();
    let (mut misses, mut hits, mut reach) = (Vec::new(), Vec::new(), 0usize);
    for (u, codename) in &holders {
        let t = Instant::now();
        let found = authz.companies_where(*u, codename).await.expect("where");
        misses.push(t.elapsed());
        reach += found.len();
        // Twice on the cached handle: the second is the hit.
        cached
            .authorizer()
            .companies_where(*u, codename)
            .await
            .expect("fill");
        let t = Instant::now();
        let again = cached
            .authorizer()
            .companies_where(*u, codename)
            .await
            .expect("hit");
        hits.push(t.elapsed());
        assert_eq!(again.len(), found.len());
    }
    let figures = TreeFigures {
        miss,
        closure,
        where_miss: quantiles(misses),
        where_hit: quantiles(hits),
        reach: reach / holders.len().max(1),
    };
    uncached.db().clone().close().await.ok();
    figures
}
