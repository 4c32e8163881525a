//! Seeds the data set of `scripts/bench-http.sh`: `BENCH_COMPANIES` companies (default
//! 100) and `BENCH_USERS` users (default 100000) spread over them round-robin, each
//! holding its company's seeded `manager` role and signing in as `loaduser<n>` with
//! `BENCH_PASSWORD`. Uses the usual configuration (`DATABASE_URL`, `FASTVUE_ADMIN_*`, ...),
//! migrates and bootstraps first. Idempotent: a database that already holds the bench
//! users is left alone.
//!
//! Users are inserted in bulk with one precomputed password hash (hashing 100k passwords
//! would take most of an hour); companies go through the core service so that their
//! roles are seeded as in production.
use std::collections::HashMap;
use std::error::Error;

use fastvue_core::Actor;
use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::entity::{role, user, user_company_role};
use fastvue_core::service::companies::NewCompany;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Rows per INSERT (users have 11 columns; SQLite allows 32766 bound parameters).
const BATCH: usize = 1000;
/// Prefix of every bench username.
const PREFIX: &str = "loaduser";

fn env_or(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(v) => Ok(v.parse().map_err(|e| format!("{name}={v}: {e}"))?),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let users = env_or("BENCH_USERS", 100_000)?;
    let companies = env_or("BENCH_COMPANIES", 100)?.max(1);
    let password =
        std::env::var("BENCH_PASSWORD").unwrap_or_else(|_| "bench-password-123".to_string());
    let settings = Settings::from_env().map_err(|e| format!("configuration: {e}"))?;
    let fv = Fastvue::connect(settings).await?;
    fv.bootstrap().await?;
    let db = fv.db();

    let existing = user::Entity::find()
        .filter(user::Column::Username.starts_with(PREFIX))
        .count(db)
        .await?;
    if existing >= users as u64 {
        println!("seed_bench: {existing} bench users already present");
        return Ok(());
    }
    if existing > 0 {
        return Err(format!(
            "{existing} of {users} bench users present (an interrupted seed?); use a fresh database"
        )
        .into());
    }

    let ctx = Actor::system();
    let mut company_ids = Vec::with_capacity(companies);
    for n in 1..=companies {
        let company = fv
            .companies()
            .create(
                &ctx,
                NewCompany {
                    name: format!("Bench company {n}"),
                    code: format!("BENCH{n:04}"),
                    parent_id: None,
                    is_active: None,
                    require_2fa: None,
                },
            )
            .await?;
        company_ids.push(company.id);
    }
    let manager: HashMap<i64, i64> = role::Entity::find()
        .filter(role::Column::CompanyId.is_in(company_ids.clone()))
        .filter(role::Column::Codename.eq("manager"))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| r.company_id.map(|c| (c, r.id)))
        .collect();
    if manager.len() != company_ids.len() {
        return Err("a bench company has no seeded `manager` role".into());
    }

    let hash = fv.hasher().hash(&password)?;
    let now = chrono::Utc::now();
    let numbers: Vec<usize> = (1..=users).collect();
    for chunk in numbers.chunks(BATCH) {
        let rows = chunk.iter().map(|&n| user::ActiveModel {
            email: Set(format!("{PREFIX}{n}@bench.local")),
            username: Set(format!("{PREFIX}{n}")),
            password_hash: Set(Some(hash.clone())),
            full_name: Set(Some(format!("Bench User {n}"))),
            is_active: Set(true),
            is_superuser: Set(false),
            current_company_id: Set(Some(company_ids[(n - 1) % companies])),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        user::Entity::insert_many(rows).exec(db).await?;
    }

    let seeded: Vec<(i64, Option<i64>)> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::CurrentCompanyId])
        .filter(user::Column::Username.starts_with(PREFIX))
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for chunk in seeded.chunks(BATCH) {
        let rows = chunk.iter().filter_map(|&(user_id, company)| {
            let company_id = company?;
            Some(user_company_role::ActiveModel {
                user_id: Set(user_id),
                company_id: Set(company_id),
                role_id: Set(manager[&company_id]),
                is_default: Set(true),
                is_active: Set(true),
                assigned_at: Set(now),
                assigned_by: Set(None),
                ..Default::default()
            })
        });
        user_company_role::Entity::insert_many(rows)
            .exec(db)
            .await?;
    }
    // As after any bulk load: statistics for the planner and, on PostgreSQL, a visibility
    // map, so that the id walks of deep pages are index-only scans from the first request
    // rather than after autovacuum gets round to it.
    let statement = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "VACUUM ANALYZE",
        _ => "ANALYZE",
    };
    db.execute_unprepared(statement).await?;
    println!(
        "seed_bench: {} users in {} companies (password from BENCH_PASSWORD)",
        seeded.len(),
        company_ids.len()
    );
    Ok(())
}
