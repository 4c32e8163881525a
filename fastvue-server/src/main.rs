//! `fastvue-server`: loads the configuration, seeds the database and serves the API.
use std::process::ExitCode;

use fastvue_core::config::Settings;
use fastvue_server::startup::serve;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fastvue-server: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    match serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastvue-server: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}
