//! One module per top-level command.
pub mod cache;
pub mod check;
pub mod data;
pub mod keys;
pub mod migrate;
pub mod serve;
pub mod users;

use fastvue_core::Fastvue;
use fastvue_core::config::Settings;

use crate::output::Failure;

/// The core handle the data commands use: connects, applies pending migrations (as the
/// server does at start) and, with REDIS_URL, joins the cache invalidation channel.
pub async fn connect(settings: Settings) -> Result<Fastvue, Failure> {
    Ok(Fastvue::connect(settings).await?)
}
