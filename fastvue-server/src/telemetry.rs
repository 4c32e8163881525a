//! Logging: one subscriber for the process, pretty in development, JSON in production.
//!
//! Lines are formatted on the thread that logs them and written to standard output in
//! batches by a dedicated thread ([`batch`]): a request never waits for a write, and
//! under load thousands of lines leave in one system call. A line waits at most
//! [`batch::EVERY`] (20 ms); nothing is dropped (past [`batch::PENDING`] waiting bytes,
//! the logging thread writes them out itself). [`flush`] writes out the rest when the
//! server stops. Colours only when standard output is a terminal.
pub mod batch;

use std::io::{IsTerminal, Stdout};
use std::sync::Mutex;

use fastvue_core::config::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use self::batch::Batches;

/// The writer thread of the installed subscriber.
static BATCHES: Mutex<Option<Batches<Stdout>>> = Mutex::new(None);

/// Installs the global tracing subscriber (a second call is a no-op).
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    // Without a thread to spare, each line is written as it comes.
    let (batches, writer) = match Batches::start(std::io::stdout()) {
        Ok((batches, writer)) => (Some(batches), BoxMakeWriter::new(writer)),
        Err(_) => (None, BoxMakeWriter::new(std::io::stdout)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    let installed = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    let Some(mut batches) = batches else { return };
    if installed.is_ok() {
        *BATCHES.lock().unwrap_or_else(|e| e.into_inner()) = Some(batches);
    } else {
        batches.finish();
    }
}

/// Writes out every line still waiting; call once the server has stopped.
pub fn flush() {
    if let Some(mut batches) = BATCHES.lock().unwrap_or_else(|e| e.into_inner()).take() {
        batches.finish();
    }
}
