//! Building and running the server: router, middleware, listener, graceful shutdown.
use std::time::Duration;

use fastvue_core::Fastvue;
use fastvue_core::config::Settings;
use fastvue_core::seed::BootstrapReport;
use salvo::catch_panic::CatchPanic;
use salvo::catcher::Catcher;
use salvo::conn::{Acceptor, TcpListener};
use salvo::prelude::*;
use salvo::server::ServerHandle;
use salvo::timeout::Timeout;

use crate::error::catch_status;
use crate::middleware::access_log::access_log;
use crate::middleware::allowed_hosts::AllowedHosts;
use crate::middleware::body_limit::body_limit;
use crate::middleware::cors;
use crate::middleware::security_headers::SecurityHeaders;
use crate::request_id::request_id;
use crate::routes::health;
use crate::streams::Streams;
use crate::{metrics, openapi};

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
        metrics::install();
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
        let streams = Streams::new(self.fastvue.clone());
        let service = service_with(self.fastvue.clone(), streams.clone());
        let server = Server::new(self.acceptor);
        let handle = server.handle();
        tokio::spawn(shutdown_on_signal(handle, streams));
        server.serve(service).await;
    }
}

/// Runs the server the way every binary does (`fastvue-server`, `fastvue serve`):
/// installs logging, warns about development secrets, builds the [`Application`]
/// (connect, migrate, seed, bind), prints a generated first-superuser password once on
/// standard output (never through the logger), then serves until SIGTERM or Ctrl-C.
///
/// # Errors
///
/// Why the server cannot start, for the console.
pub async fn serve(settings: Settings) -> Result<(), String> {
    crate::telemetry::init(&settings);
    if settings.uses_default_secrets() {
        tracing::warn!(
            "SECRET_KEY/JWT_SECRET_KEY use the shipped development defaults; set real secrets before exposing this server"
        );
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            crate::telemetry::flush();
            return Err(e);
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
    crate::telemetry::flush();
    Ok(())
}

/// The router with its middleware and JSON catcher.
///
/// Service middleware, outermost first: request id, access log + metrics, panic catcher
/// (a panicking handler answers the JSON 500, and the process and connection live on),
/// request timeout (`REQUEST_TIMEOUT_SECONDS`: a JSON 503 `timeout`; a stream's body is
/// not timed, only the handler that opens it), security headers, allowed hosts, CORS
/// (answers preflights), body limit. They run for unmatched routes too, so 404/405
/// answers carry the same headers.
pub fn service(fastvue: Fastvue) -> Service {
    let streams = Streams::new(fastvue.clone());
    service_with(fastvue, streams)
}

/// [`service`] over a given permission-stream registry (so shutdown can close its streams).
fn service_with(fastvue: Fastvue, streams: Streams) -> Service {
    let settings = fastvue.settings().clone();
    let router = Router::new()
        .hoop(affix_state::inject(streams).inject(fastvue))
        .push(
            Router::with_path("health")
                .get(health::health)
                .push(Router::with_path("live").get(health::live)),
        )
        .push(Router::with_path("metrics").get(metrics::prometheus))
        .push(Router::with_path("openapi.json").get(openapi::openapi_json))
        .push(Router::with_path("docs/{**rest}").get(openapi::docs))
        .push(api());
    let router = match &settings.admin_ui_dir {
        Some(dir) => router.push(crate::admin_ui::router(dir)),
        None => router,
    };
    with_middleware(router, &settings)
}

/// `router` inside the service middleware of [`service`], with the JSON catcher.
fn with_middleware(router: Router, settings: &Settings) -> Service {
    let allowed_hosts = AllowedHosts::from_settings(settings);
    let cors = cors::from_settings(settings);
    let security_headers = SecurityHeaders::new(settings);
    let timeout = Timeout::new(settings.limits.request_timeout);
    let mut service = Service::new(router)
        .hoop(request_id)
        .hoop(access_log)
        .hoop(CatchPanic::new())
        .hoop(timeout)
        .hoop(security_headers);
    if let Some(allowed_hosts) = allowed_hosts {
        service = service.hoop(allowed_hosts);
    }
    if let Some(cors) = cors {
        service = service.hoop(cors);
    }
    service
        .hoop(body_limit)
        .catcher(Catcher::default().hoop(catch_status))
}

/// The `/api/v1` routes: one `.push(routes::<module>::router())` line per route module.
fn api() -> Router {
    Router::with_path("api/v1")
        .push(crate::routes::auth_router())
        .push(crate::routes::oauth::router())
        .push(crate::routes::users::router())
        .push(crate::routes::companies::router())
        .push(crate::routes::roles::router())
        .push(crate::routes::menus::router())
        .push(crate::routes::permissions::router())
        .push(crate::routes::groups::router())
        .push(crate::routes::cache::router())
        .push(crate::routes::audit::router())
        .push(crate::routes::api_keys::router())
}

async fn shutdown_on_signal(handle: ServerHandle, streams: Streams) {
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
    // Open permission streams never finish by themselves: end them with `closed`.
    streams.close_all();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use salvo::conn::{Acceptor, TcpListener};
    use salvo::prelude::*;

    use super::with_middleware;

    #[handler]
    async fn panics() -> &'static str {
        panic!("a handler bug");
    }

    #[handler]
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "late"
    }

    #[handler]
    async fn fine() -> &'static str {
        "fine"
    }

    /// The production middleware around a router with a panicking and a slow route.
    async fn serve() -> String {
        let settings =
            fastvue_core::testing::settings("sqlite::memory:", &[("REQUEST_TIMEOUT_SECONDS", "1")]);
        let router = Router::new()
            .push(Router::with_path("panics").get(panics))
            .push(Router::with_path("slow").get(slow))
            .push(Router::with_path("fine").get(fine));
        let service = with_middleware(router, &settings);
        let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
        let port = acceptor.holdings()[0]
            .local_addr
            .clone()
            .into_std()
            .expect("tcp address")
            .port();
        tokio::spawn(Server::new(acceptor).serve(service));
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_the_json_500_and_the_server_keeps_serving() {
        let base = serve().await;
        let client = reqwest::Client::new();
        let res = client.get(format!("{base}/panics")).send().await.unwrap();
        assert_eq!(res.status(), 500);
        assert!(res.headers().contains_key("x-request-id"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(!body.to_string().contains("a handler bug"), "{body}");
        let again = client.get(format!("{base}/fine")).send().await.unwrap();
        assert_eq!(again.status(), 200, "the process and its listener live on");
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_answers_the_json_503_timeout() {
        let base = serve().await;
        let started = std::time::Instant::now();
        let res = reqwest::get(format!("{base}/slow")).await.unwrap();
        assert_eq!(res.status(), 503);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "timeout");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
