//! When this process last wrote each API key's `last_used_at` (see
//! [`crate::service::api_keys`]); held by the [`crate::Fastvue`] handle.
use std::time::Duration;

/// `last_used_at` is written at most this often per key and process.
pub(crate) const USAGE_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// When each key last had its `last_used_at` written by this process.
#[derive(Debug)]
pub(crate) struct KeyUsage {
    written: moka::sync::Cache<i64, ()>,
}

impl KeyUsage {
    /// Remembers up to `capacity` keys for [`USAGE_WRITE_INTERVAL`].
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            written: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(USAGE_WRITE_INTERVAL)
                .build(),
        }
    }

    /// Whether `key_id` is due for a write now (and records that it is being written).
    pub(crate) fn due(&self, key_id: i64) -> bool {
        self.written.entry(key_id).or_insert(()).is_fresh()
    }
}
