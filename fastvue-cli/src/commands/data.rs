//! `fastvue data load | export`: companies, users, roles, groups, permissions and
//! assignments as one JSON document (format: fastvue-core's `data` module, described
//! in docs/operations.md).
use std::path::{Path, PathBuf};

use clap::Subcommand;
use fastvue_core::config::Settings;
use fastvue_core::data::{self, Document, ExportOptions, LoadOptions, LoadReport};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{self, Failure, Table};

/// The demo data shipped with the CLI (`fastvue-cli/data/demo.json`), loaded when no
/// `--file` is given.
const DEMO: &str = include_str!("../../data/demo.json");

/// Files with more records than this get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 2_000;

/// Bulk data.
#[derive(Debug, Subcommand)]
pub enum Data {
    /// Load a data file: idempotent (records are matched by natural keys) and all or
    /// nothing (a bad record changes nothing and is named in the error).
    Load {
        /// The file to load [default: the demo data shipped as data/demo.json].
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Delete every company, user, role, group, assignment and custom permission
        /// first (in the same transaction), so the database holds exactly the file.
        #[arg(long)]
        clear: bool,
    },
    /// Export every company, user, role, group, permission and assignment.
    Export {
        /// Where to write the JSON (`-` for standard output).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Include password hashes, so that the users keep their passwords when the file
        /// is loaded elsewhere (protect the file like a database backup).
        #[arg(long)]
        include_password_hashes: bool,
    },
}

/// Runs `cmd`.
pub async fn run(json: bool, settings: Settings, cmd: Data) -> Result<(), Failure> {
    match cmd {
        Data::Load { file, clear } => load(json, settings, file.as_deref(), clear).await,
        Data::Export {
            file,
            include_password_hashes,
        } => export(json, settings, &file, include_password_hashes).await,
    }
}

async fn load(
    json: bool,
    settings: Settings,
    file: Option<&Path>,
    clear: bool,
) -> Result<(), Failure> {
    let (name, text) = match file {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path)
                .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", path.display())))?,
        ),
        None if settings.environment.is_production() => {
            return Err(Failure::Usage(
                "refusing to load the demo data (its passwords are public) with ENVIRONMENT=production; pass --file".into(),
            ));
        }
        None => ("data/demo.json (built in)".to_owned(), DEMO.to_owned()),
    };
    let in_file = |e: fastvue_core::Error| match Failure::from(e) {
        Failure::Failed(msg) => Failure::Failed(format!("{name}: {msg}")),
        usage => usage,
    };
    let doc = Document::from_json(&text).map_err(in_file)?;
    let redis = settings.redis.url.is_some();
    let fv = super::connect(settings).await?;
    let mut bar: Option<ProgressBar> = None;
    let show_bar = doc.records() > PROGRESS_THRESHOLD;
    let mut progress = |done: u64, total: u64| {
        if show_bar {
            bar.get_or_insert_with(|| new_bar(total)).set_position(done);
        }
    };
    let result = data::load(&fv, &doc, LoadOptions { clear }, &mut progress).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = result.map_err(in_file)?;
    if json {
        output::json(&serde_json::json!({ "file": name, "report": report }));
        return Ok(());
    }
    print_report(&name, &report);
    if report.changed() && !redis {
        println!(
            "note: without REDIS_URL, running servers keep their cached permissions: run `fastvue cache invalidate --all --server URL --token TOKEN`"
        );
    }
    Ok(())
}

fn new_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} records ({eta} left)") {
        bar.set_style(style);
    }
    bar
}

fn print_report(name: &str, report: &LoadReport) {
    if report.cleared {
        println!("cleared the database, then loaded {name}");
    } else {
        println!("loaded {name}");
    }
    let mut table = Table::new(&["records", "created", "updated", "unchanged"]);
    for (kind, c) in [
        ("companies", report.companies),
        ("users", report.users),
        ("permissions", report.permissions),
        ("roles", report.roles),
        ("groups", report.groups),
        ("assignments", report.assignments),
        ("menus", report.menus),
    ] {
        table.row(vec![
            kind.to_owned(),
            c.created.to_string(),
            c.updated.to_string(),
            c.unchanged.to_string(),
        ]);
    }
    table.print();
}

async fn export(
    json: bool,
    settings: Settings,
    file: &Path,
    include_password_hashes: bool,
) -> Result<(), Failure> {
    let fv = super::connect(settings).await?;
    let doc = data::export(
        &fv,
        ExportOptions {
            include_password_hashes,
        },
    )
    .await?;
    let text = doc.to_json();
    if file == Path::new("-") {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(file, text)
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", file.display())))?;
    if json {
        output::json(&serde_json::json!({
            "file": file.display().to_string(),
            "records": doc.records(),
        }));
    } else {
        println!(
            "exported {} records to {} ({} companies, {} users, {} permissions, {} roles, {} groups, {} assignments, {} menu entries)",
            doc.records(),
            file.display(),
            doc.companies.len(),
            doc.users.len(),
            doc.permissions.len(),
            doc.roles.len(),
            doc.groups.len(),
            doc.assignments.len(),
            doc.menus.len()
        );
    }
    Ok(())
}
