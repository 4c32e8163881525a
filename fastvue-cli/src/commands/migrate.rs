//! `fastvue migrate up | down [-n N] | status | fresh --force`.
use clap::Subcommand;
use fastvue_core::config::Settings;
use fastvue_core::db;

use crate::output::{self, Failure, Table};

/// Database schema migrations.
#[derive(Debug, Subcommand)]
pub enum Migrate {
    /// Apply every pending migration.
    Up,
    /// Roll back the last N migrations (default 1).
    Down {
        /// How many migrations to roll back.
        #[arg(short = 'n', long = "steps", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and apply all migrations again (destroys all data).
    Fresh {
        /// Required: confirms that all data will be lost.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `cmd`.
pub async fn run(json: bool, settings: Settings, cmd: Migrate) -> Result<(), Failure> {
    if let Migrate::Fresh { force: false } = cmd {
        return Err(Failure::Usage(
            "migrate fresh destroys all data; pass --force to confirm".into(),
        ));
    }
    let conn = db::connect(&settings).await?;
    match cmd {
        Migrate::Up => {
            let pending = db::pending_migrations(&conn).await?;
            db::migrate(&conn).await?;
            report(json, "applied", &pending);
        }
        Migrate::Down { steps } => {
            let applied: Vec<String> = db::migration_status(&conn)
                .await?
                .into_iter()
                .filter(|(_, applied)| *applied)
                .map(|(name, _)| name)
                .collect();
            db::rollback(&conn, Some(steps)).await?;
            let rolled: Vec<String> = applied.into_iter().rev().take(steps as usize).collect();
            report(json, "rolled back", &rolled);
        }
        Migrate::Status => {
            let status = db::migration_status(&conn).await?;
            if json {
                let rows: Vec<_> = status
                    .iter()
                    .map(|(name, applied)| serde_json::json!({ "name": name, "applied": applied }))
                    .collect();
                output::json(&rows);
            } else {
                let mut table = Table::new(&["migration", "status"]);
                for (name, applied) in status {
                    let state = if applied { "applied" } else { "pending" };
                    table.row(vec![name, state.to_owned()]);
                }
                table.print();
            }
        }
        Migrate::Fresh { .. } => {
            db::fresh(&conn).await?;
            let all: Vec<String> = db::migration_status(&conn)
                .await?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            report(json, "applied", &all);
        }
    }
    Ok(())
}

fn report(json: bool, verb: &str, names: &[String]) {
    if json {
        output::json(&serde_json::json!({ verb.replace(' ', "_"): names }));
    } else if names.is_empty() {
        println!("nothing to do");
    } else {
        for name in names {
            println!("{verb} {name}");
        }
    }
}
