//! `fastvue cache invalidate | stats | show`.
//!
//! How an invalidation reaches the running servers:
//!
//! * on PostgreSQL or with `REDIS_URL` (production), through the core invalidation: it
//!   is announced on the database's invalidation feed every server listens to (see
//!   `fastvue_core::permission::feed`), the sets are deleted from Redis and the
//!   invalidation is published on the Redis channel, so each server drops its
//!   in-process copies on receipt;
//! * on SQLite without Redis (the embedded default) each server only has its in-process cache,
//!   so the command asks the server itself: `--server URL` with an access token
//!   (`--token` or `FASTVUE_TOKEN`) calls `POST /api/v1/admin/cache/invalidate`.
use clap::{Args, Subcommand};
use fastvue_core::config::Settings;
use fastvue_core::permission::CacheKey;
use fastvue_core::permission::{CacheTarget, RedisEntry, RedisOverview};
use serde_json::{Value, json};

use crate::admin_api::AdminApi;
use crate::output::{self, Failure, yes_no};

/// The permission cache.
#[derive(Debug, Subcommand)]
pub enum Cache {
    /// Drop cached permission sets in every running server: --all, --user ID
    /// [--company ID], --role ID, --group ID or --company ID.
    Invalidate(Invalidate),
    /// Cache configuration and the Redis tier; with --server, that server's counters.
    Stats(Server),
    /// What Redis holds for a user in a company, what the database grants now, and the
    /// difference.
    Show {
        /// The user id.
        #[arg(long, value_name = "ID")]
        user: i64,
        /// The company id.
        #[arg(long, value_name = "ID")]
        company: i64,
    },
}

/// What to invalidate, and where.
#[derive(Debug, Args)]
pub struct Invalidate {
    /// Every cached set.
    #[arg(long, conflicts_with_all = ["user", "role", "group", "company"])]
    all: bool,
    /// The sets of this user (in every company, or only in --company).
    #[arg(long, value_name = "ID")]
    user: Option<i64>,
    /// The sets of every holder of this role.
    #[arg(long, value_name = "ID", conflicts_with_all = ["user", "group", "company"])]
    role: Option<i64>,
    /// The sets of every member of this group.
    #[arg(long, value_name = "ID", conflicts_with_all = ["user", "role", "company"])]
    group: Option<i64>,
    /// Every set in this company (with --user: only that user's set there).
    #[arg(long, value_name = "ID")]
    company: Option<i64>,
    #[command(flatten)]
    server: Server,
}

/// A running server to talk to (deployments without Redis).
#[derive(Debug, Args)]
pub struct Server {
    /// Base URL of a running server, e.g. http://127.0.0.1:8000: act through its admin
    /// endpoint (needed without REDIS_URL, where each server has only its own cache).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Access token of a user holding cache.manage (a superuser for --all).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "FASTVUE_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

/// Runs `cmd`.
pub async fn run(json: bool, settings: Settings, cmd: Cache) -> Result<(), Failure> {
    match cmd {
        Cache::Invalidate(args) => invalidate(json, settings, args).await,
        Cache::Stats(server) => stats(json, settings, server).await,
        Cache::Show { user, company } => show(json, settings, user, company).await,
    }
}

fn target(args: &Invalidate) -> Result<CacheTarget, Failure> {
    Ok(match args {
        Invalidate { all: true, .. } => CacheTarget::All,
        Invalidate {
            user: Some(user_id),
            company,
            ..
        } => CacheTarget::User {
            user_id: *user_id,
            company_id: *company,
        },
        Invalidate { role: Some(id), .. } => CacheTarget::Role(*id),
        Invalidate {
            group: Some(id), ..
        } => CacheTarget::Group(*id),
        Invalidate {
            company: Some(id), ..
        } => CacheTarget::Company(*id),
        _ => {
            return Err(Failure::Usage(
                "say what to invalidate: --all, --user ID [--company ID], --role ID, --group ID or --company ID"
                    .into(),
            ));
        }
    })
}

/// The admin endpoint's body for `target`.
fn request_body(target: CacheTarget) -> Value {
    match target {
        CacheTarget::All => json!({ "scope": "all" }),
        CacheTarget::User {
            user_id,
            company_id,
        } => json!({ "scope": "user", "id": user_id, "company_id": company_id }),
        CacheTarget::Role(id) => json!({ "scope": "role", "id": id }),
        CacheTarget::Group(id) => json!({ "scope": "group", "id": id }),
        CacheTarget::Company(id) => json!({ "scope": "company", "id": id }),
    }
}

fn describe(target: CacheTarget) -> String {
    match target {
        CacheTarget::All => "every cached permission set".into(),
        CacheTarget::User {
            user_id,
            company_id: None,
        } => format!("user {user_id}"),
        CacheTarget::User {
            user_id,
            company_id: Some(c),
        } => format!("user {user_id} in company {c}"),
        CacheTarget::Role(id) => format!("the holders of role {id}"),
        CacheTarget::Group(id) => format!("the members of group {id}"),
        CacheTarget::Company(id) => format!("company {id}"),
    }
}

fn cached_sets(n: u64) -> String {
    if n == 1 {
        "1 cached set".into()
    } else {
        format!("{n} cached sets")
    }
}

async fn invalidate(json: bool, settings: Settings, args: Invalidate) -> Result<(), Failure> {
    let target = target(&args)?;
    let mut body = request_body(target);
    if let Some(server) = &args.server.server {
        let api = AdminApi::new(server, args.server.token.clone())?;
        let invalidated = api.invalidate(&body).await?;
        if json {
            body["invalidated"] = json!(invalidated);
            body["server"] = json!(api.base());
            output::json(&body);
        } else {
            println!(
                "{}: invalidated {} ({} dropped)",
                api.base(),
                describe(target),
                cached_sets(invalidated)
            );
        }
        return Ok(());
    }
    if settings.redis.url.is_none() && settings.is_sqlite() {
        return Err(Failure::Usage(
            "the database is SQLite and REDIS_URL is not set, so each running server keeps its own cache: pass --server URL (and --token) to invalidate through the server"
                .into(),
        ));
    }
    let fv = super::connect(settings).await?;
    let summary = fv.authorizer().invalidate_target(target).await?;
    if !summary.reached_other_processes() {
        return Err(Failure::Failed(format!(
            "the invalidation of {} did not reach the servers; they may keep stale sets until they repair themselves or the TTL ends",
            describe(target)
        )));
    }
    let dropped = summary.redis.unwrap_or_default();
    if json {
        body["invalidated"] = json!(dropped);
        body["published"] = json!(summary.published);
        body["announced"] = json!(summary.announced);
        output::json(&body);
    } else if summary.redis.is_some() {
        println!(
            "invalidated {}: {} deleted from Redis; every server drops its copies on receipt",
            describe(target),
            cached_sets(dropped)
        );
    } else {
        println!(
            "invalidated {}: announced on the database; every server drops its copies on receipt",
            describe(target)
        );
    }
    Ok(())
}

async fn stats(json: bool, settings: Settings, server: Server) -> Result<(), Failure> {
    if let Some(url) = &server.server {
        let api = AdminApi::new(url, server.token)?;
        let s = api.stats().await?;
        if json {
            output::json(&s);
        } else {
            let mut rows = vec![("server", api.base().to_owned())];
            for (label, key) in [
                ("cache enabled", "enabled"),
                ("entries", "entries"),
                ("users", "users"),
                ("hits", "hits"),
                ("misses", "misses"),
                ("hit ratio", "hit_ratio"),
                ("max entries", "max_entries"),
                ("ttl seconds", "ttl_seconds"),
                ("redis", "redis"),
            ] {
                let value = match &s[key] {
                    Value::Bool(b) => yes_no(*b),
                    Value::String(v) => v.clone(),
                    Value::Number(n) if key == "hit_ratio" => {
                        format!("{:.3}", n.as_f64().unwrap_or_default())
                    }
                    other => other.to_string(),
                };
                rows.push((label, value));
            }
            output::pairs(&rows);
        }
        return Ok(());
    }
    let fv = super::connect(settings).await?;
    let overview = fv.authorizer().overview().await;
    if json {
        output::json(&overview);
        return Ok(());
    }
    let redis = match &overview.redis {
        RedisOverview::Disabled => {
            "not configured (each server has only its in-process cache)".to_owned()
        }
        RedisOverview::Reachable {
            round_trip_ms,
            entries,
        } => format!(
            "reachable, round trip {round_trip_ms:.1} ms, {} held",
            cached_sets(*entries)
        ),
        RedisOverview::Unavailable { error } => format!("unavailable: {error}"),
    };
    output::pairs(&[
        ("cache enabled", yes_no(overview.enabled)),
        ("ttl", format!("{} s", overview.ttl_seconds)),
        (
            "max entries",
            format!("{} per server process", overview.max_entries),
        ),
        ("redis", redis),
        (
            "hits, misses, entries",
            "kept by each server: fastvue cache stats --server URL".to_owned(),
        ),
    ]);
    if let RedisOverview::Unavailable { error } = overview.redis {
        return Err(Failure::Failed(format!("Redis is unavailable: {error}")));
    }
    Ok(())
}

async fn show(json: bool, settings: Settings, user: i64, company: i64) -> Result<(), Failure> {
    let fv = super::connect(settings).await?;
    let inspection = fv.authorizer().inspect(user, company).await?;
    if json {
        output::json(&inspection);
        return Ok(());
    }
    let list = |names: &[String]| {
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        }
    };
    let key = fv
        .authorizer()
        .cache()
        .l2()
        .map(|l2| l2.keys().value(CacheKey::new(user, company)));
    let redis = match &inspection.redis {
        RedisEntry::Disabled => "not configured (no REDIS_URL)".to_owned(),
        RedisEntry::Absent => "nothing cached".to_owned(),
        RedisEntry::Cached { permissions } => list(permissions),
        RedisEntry::Unreadable { raw } => format!("unreadable value {raw:?}"),
        RedisEntry::Unavailable { error } => format!("unavailable: {error}"),
    };
    let mut rows = vec![("user", format!("{user} in company {company}"))];
    if let Some(key) = key {
        rows.push(("redis key", key));
    }
    rows.push(("redis", redis));
    rows.push(("database", list(&inspection.database)));
    if let RedisEntry::Cached { .. } = inspection.redis {
        rows.push(("stale (cached, no longer granted)", list(&inspection.stale)));
        rows.push(("missing (granted, not cached)", list(&inspection.missing)));
        rows.push((
            "verdict",
            if inspection.differs() {
                format!("differs: run fastvue cache invalidate --user {user} --company {company}")
            } else {
                "in sync".to_owned()
            },
        ));
    }
    output::pairs(&rows);
    if let RedisEntry::Unavailable { error } = inspection.redis {
        return Err(Failure::Failed(format!("Redis is unavailable: {error}")));
    }
    Ok(())
}
