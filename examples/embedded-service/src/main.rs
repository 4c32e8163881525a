//! `reports-service`: reads the same configuration variables as fastvue-server
//! (DATABASE_URL, REDIS_URL, JWT_SECRET_KEY, ...) and listens on HOST:PORT.
use std::process::ExitCode;

use embedded_service::{register_permission, router};
use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use salvo::prelude::*;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reports-service: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    let bind = settings.bind_address();
    // Connects and applies fastvue's migrations (a no-op when fastvue-server already did).
    let fv = match Fastvue::connect(settings).await {
        Ok(fv) => fv,
        Err(e) => {
            eprintln!("reports-service: database: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = register_permission(&fv).await {
        eprintln!("reports-service: cannot register report.read: {e}");
        return ExitCode::FAILURE;
    }
    println!("reports-service listening on http://{bind}");
    let acceptor = TcpListener::new(bind).bind().await;
    Server::new(acceptor).serve(router(fv)).await;
    ExitCode::SUCCESS
}
