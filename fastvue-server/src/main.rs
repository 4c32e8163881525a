//! `fastvue-server`: loads the configuration, seeds the database and serves the API.
//!
//! `fastvue-server healthcheck` instead asks the server running on this machine's PORT
//! for `/health/live` and exits 0 when it answers 200 (container HEALTHCHECKs, which
//! have no curl in a slim image).
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use fastvue_core::config::Settings;
use fastvue_server::startup::serve;

/// mimalloc rather than the system allocator: a request allocates and frees dozens of
/// small buffers, and glibc's malloc took a quarter of a cached request's CPU
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fastvue-server: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("healthcheck") => return healthcheck(settings.port),
        Some(other) => {
            eprintln!("fastvue-server: unknown argument {other:?} (expected none, or healthcheck)");
            return ExitCode::from(2);
        }
    }
    match serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastvue-server: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// GET http://127.0.0.1:{port}/health/live: success when the status is 200.
fn healthcheck(port: u16) -> ExitCode {
    let probe = || -> std::io::Result<bool> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(
            b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )?;
        let mut head = [0_u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("fastvue-server: /health/live did not answer 200");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("fastvue-server: cannot reach 127.0.0.1:{port}: {e}");
            ExitCode::FAILURE
        }
    }
}
