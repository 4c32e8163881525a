//! `fastvue`: operations CLI for fastvue-rs. All logic lives in fastvue-core (and, for
//! `serve`, in fastvue-server); this crate parses arguments and prints results.
//!
//! Exit codes: 0 success, 1 the command failed, 2 invalid usage or configuration.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fastvue_core::config::Settings;

mod admin_api;
mod commands;
mod input;
mod output;

use commands::{cache, data, keys, migrate, users};
use output::Failure;

/// The allocator `fastvue-server` uses, so `fastvue serve` performs the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// fastvue-rs operations: migrations, the server, users, the permission cache, a
/// deployment check, bulk data and service API keys. Configured like the server (environment variables,
/// or a .env file in the current directory).
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
    Migrate(migrate::Migrate),
    /// Run the HTTP server (the same server as `fastvue-server`).
    Serve,
    /// User administration.
    #[command(subcommand)]
    Users(users::Users),
    /// The permission cache: invalidate, statistics, inspect one entry.
    #[command(subcommand)]
    Cache(cache::Cache),
    /// Check the configuration, the database, Redis, the connection budget and secrets.
    Check,
    /// Load or export companies, users, roles, groups, permissions and assignments.
    #[command(subcommand)]
    Data(data::Data),
    /// Service API keys: create (shown once), list, revoke.
    #[command(subcommand)]
    Keys(keys::Keys),
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { json, command } = Cli::parse();
    let settings = Settings::from_env();
    let result = match (command, settings) {
        // The check reports an invalid configuration itself, like any other finding.
        (Command::Check, settings) => commands::check::run(json, settings).await,
        (command, Ok(settings)) => run(json, settings, command).await,
        (_, Err(e)) => Err(Failure::Usage(format!("invalid configuration: {e}"))),
    };
    output::finish(result)
}

async fn run(json: bool, settings: Settings, command: Command) -> Result<(), Failure> {
    match command {
        Command::Migrate(cmd) => migrate::run(json, settings, cmd).await,
        Command::Serve => commands::serve::run(settings).await,
        Command::Users(cmd) => users::run(json, settings, cmd).await,
        Command::Cache(cmd) => cache::run(json, settings, cmd).await,
        Command::Check => commands::check::run(json, Ok(settings)).await,
        Command::Data(cmd) => data::run(json, settings, cmd).await,
        Command::Keys(cmd) => keys::run(json, settings, cmd).await,
    }
}
