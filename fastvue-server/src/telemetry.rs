//! Logging: one subscriber for the process, pretty in development, JSON in production.
use fastvue_core::config::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber (a second call is a no-op).
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
