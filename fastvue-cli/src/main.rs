//! `fastvue`: operations CLI for fastvue-rs. All logic lives in fastvue-core.
//!
//! Exit codes: 0 success, 1 the command failed, 2 invalid usage or configuration.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fastvue_core::config::Settings;
use fastvue_core::db;

/// fastvue-rs operations: database migrations.
#[derive(Debug, Parser)]
#[command(name = "fastvue", version, about)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Database schema migrations.
    #[command(subcommand)]
    Migrate(Migrate),
}

#[derive(Debug, Subcommand)]
enum Migrate {
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    match run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Failed(String),
}

impl From<fastvue_core::Error> for Failure {
    fn from(e: fastvue_core::Error) -> Self {
        match e {
            fastvue_core::Error::Unavailable(inner) => {
                Failure::Failed(format!("database unavailable: {inner}"))
            }
            // An operator needs the cause, which HTTP clients never see.
            fastvue_core::Error::Internal(detail) => {
                Failure::Failed(format!("internal error: {detail}"))
            }
            other => Failure::Failed(other.to_string()),
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> Result<(), Failure> {
    let Command::Migrate(cmd) = cli.command;
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
            report(cli.json, "applied", &pending);
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
            report(cli.json, "rolled back", &rolled);
        }
        Migrate::Status => {
            let status = db::migration_status(&conn).await?;
            if cli.json {
                let rows: Vec<_> = status
                    .iter()
                    .map(|(name, applied)| serde_json::json!({ "name": name, "applied": applied }))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!("{:<45} STATUS", "MIGRATION");
                for (name, applied) in status {
                    println!("{name:<45} {}", if applied { "applied" } else { "pending" });
                }
            }
        }
        Migrate::Fresh { .. } => {
            db::fresh(&conn).await?;
            let all: Vec<String> = db::migration_status(&conn)
                .await?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            report(cli.json, "applied", &all);
        }
    }
    Ok(())
}

fn report(json: bool, verb: &str, names: &[String]) {
    if json {
        println!("{}", serde_json::json!({ verb.replace(' ', "_"): names }));
    } else if names.is_empty() {
        println!("nothing to do");
    } else {
        for name in names {
            println!("{verb} {name}");
        }
    }
}
