//! `fastvue-server`: loads the configuration, seeds the database and serves the API.
use std::process::ExitCode;

use fastvue_core::config::Settings;
use fastvue_server::startup::Application;
use fastvue_server::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fastvue-server: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    if settings.uses_default_secrets() {
        tracing::warn!(
            "SECRET_KEY/JWT_SECRET_KEY use the shipped development defaults; set real secrets before exposing this server"
        );
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("fastvue-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some((username, password)) = &app.bootstrap_report().generated_admin {
        // Printed once on the console, deliberately not through the logger.
        println!(
            "\n  First start: created superuser '{username}' with password: {password}\n  Change it after signing in (or set FASTVUE_ADMIN_EMAIL/FASTVUE_ADMIN_PASSWORD).\n"
        );
    }
    tracing::info!(port = app.port(), "fastvue-server listening");
    app.run_until_stopped().await;
    ExitCode::SUCCESS
}
