//! `fastvue serve`: the HTTP server, started exactly as `fastvue-server` starts it.
use fastvue_core::config::Settings;

use crate::output::Failure;

/// Serves until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings) -> Result<(), Failure> {
    fastvue_server::startup::serve(settings)
        .await
        .map_err(|e| Failure::Failed(format!("cannot start: {e}")))
}
