//! `fastvue check`: is this deployment sound? Exit code 0 when nothing failed
//! (warnings allowed), 1 when a check failed, 2 when the configuration is invalid.
use fastvue_core::check::{self, Report, Status};
use fastvue_core::config::{ConfigError, Settings};

use crate::output::{self, Failure, Table};

/// Runs every check and prints the report.
pub async fn run(json: bool, settings: Result<Settings, ConfigError>) -> Result<(), Failure> {
    let (report, config_ok) = match &settings {
        Ok(s) => (check::run(s).await, true),
        Err(e) => (check::configuration_failed(e), false),
    };
    print(json, &report);
    let failed = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Failed)
        .count();
    if !config_ok {
        Err(Failure::Usage("invalid configuration".into()))
    } else if failed > 0 {
        Err(Failure::Failed(format!(
            "{failed} check{} failed",
            if failed == 1 { "" } else { "s" }
        )))
    } else {
        Ok(())
    }
}

fn print(json: bool, report: &Report) {
    if json {
        output::json(&serde_json::json!({
            "ok": !report.failed(),
            "findings": report.findings,
        }));
        return;
    }
    let mut table = Table::new(&["check", "status", "details"]);
    for f in &report.findings {
        table.row(vec![
            f.check.to_owned(),
            f.status.as_str().to_owned(),
            f.message.clone(),
        ]);
    }
    table.print();
}
