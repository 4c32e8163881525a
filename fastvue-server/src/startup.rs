//! Building and running the server: router, middleware, listener, graceful shutdown.
use std::time::Duration;

use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::seed::BootstrapReport;
use salvo::catcher::Catcher;
use salvo::conn::{Acceptor, TcpListener};
use salvo::prelude::*;
use salvo::server::ServerHandle;

use crate::error::catch_status;
use crate::request_id::request_id;
use crate::routes::health;

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound, seeded server ready to run.
#[derive(Debug)]
pub struct Application {
    port: u16,
    fastvue: Fastvue,
    acceptor: salvo::conn::tcp::TcpAcceptor,
    bootstrap: BootstrapReport,
}

impl Application {
    /// Connects, migrates and seeds the database, then binds HOST:PORT (port 0 picks a
    /// free port; see [`Application::port`]).
    pub async fn build(settings: Settings) -> Result<Self, String> {
        let bind = settings.bind_address();
        let fastvue = Fastvue::connect(settings)
            .await
            .map_err(|e| format!("database: {e}"))?;
        let bootstrap = fastvue
            .bootstrap()
            .await
            .map_err(|e| format!("bootstrap: {e}"))?;
        let acceptor = TcpListener::new(bind.clone())
            .try_bind()
            .await
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        let port = acceptor
            .holdings()
            .first()
            .and_then(|h| h.local_addr.clone().into_std())
            .map(|a| a.port())
            .ok_or_else(|| format!("cannot read the bound address of {bind}"))?;
        Ok(Self {
            port,
            fastvue,
            acceptor,
            bootstrap,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The core handle the server uses.
    pub fn fastvue(&self) -> &Fastvue {
        &self.fastvue
    }

    /// What start-up seeding did (a generated admin password to show once).
    pub fn bootstrap_report(&self) -> &BootstrapReport {
        &self.bootstrap
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
    pub async fn run_until_stopped(self) {
        let service = service(self.fastvue.clone());
        let server = Server::new(self.acceptor);
        let handle = server.handle();
        tokio::spawn(shutdown_on_signal(handle));
        server.serve(service).await;
    }
}

/// The router with its middleware and JSON catcher.
pub fn service(fastvue: Fastvue) -> Service {
    let router = Router::new().hoop(affix_state::inject(fastvue)).push(
        Router::with_path("health")
            .get(health::health)
            .push(Router::with_path("live").get(health::live)),
    );
    Service::new(router)
        .hoop(request_id)
        .catcher(Catcher::default().hoop(catch_status))
}

async fn shutdown_on_signal(handle: ServerHandle) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
    handle.stop_graceful(DRAIN_TIMEOUT);
}
