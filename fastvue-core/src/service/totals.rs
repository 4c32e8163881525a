//! Exact totals of numbered list pages, remembered under a row version.
//!
//! A numbered page answers its filter's exact `total`. Counting it is the costly part of
//! a deep page on a large table (a `COUNT(*)` over 100k users is ~10 ms on PostgreSQL),
//! and it rarely changes between two pages. The `row_versions` table holds a number per
//! group of tables that triggers increase with every committed change of those rows,
//! whoever writes them (see the migration `m20261207_000016_row_versions`). A total is
//! remembered with the version it was counted at and served while that version is
//! current: one primary-key read instead of a count, and never a stale number.
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::{Error, Result};
use crate::sql::statement;

/// Bytes of keys remembered at most (a key names a filter and the reader's scope).
const MAX_BYTES: u64 = 4 << 20;
/// A total nobody asked for in this long is dropped.
const IDLE: Duration = Duration::from_secs(600);

/// Remembered totals: filter key → (version counted at, total).
pub(crate) struct Totals {
    cache: Option<moka::sync::Cache<String, (i64, u64)>>,
}

impl std::fmt::Debug for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totals")
            .field("entries", &self.cache.as_ref().map(|c| c.entry_count()))
            .finish()
    }
}

impl Totals {
    /// Remembers totals when `enabled` (the permission cache's switch: with caching off,
    /// every page counts).
    pub(crate) fn new(enabled: bool) -> Self {
        let cache = enabled.then(|| {
            moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|key: &String, _| u32::try_from(key.len() + 48).unwrap_or(u32::MAX))
                .time_to_idle(IDLE)
                .build()
        });
        Self { cache }
    }

    /// The total of the rows `key` names in the row group `group` (a `row_versions`
    /// name): the remembered one while `group`'s version is unchanged, else `count()`.
    ///
    /// A count is remembered only when the version read before it equals the one read
    /// after it: no change committed in between, so the count belongs to that version.
    pub(crate) async fn get_or_count<F>(
        &self,
        db: &DatabaseConnection,
        group: &str,
        key: String,
        count: F,
    ) -> Result<u64>
    where
        F: AsyncFnOnce() -> Result<u64>,
    {
        let Some(cache) = &self.cache else {
            return count().await;
        };
        let before = version(db, group).await?;
        if let Some((at, total)) = cache.get(&key)
            && at == before
        {
            return Ok(total);
        }
        let total = count().await?;
        if version(db, group).await? == before {
            cache.insert(key, (before, total));
        }
        Ok(total)
    }
}

/// The current version of the row group `group`.
async fn version(db: &DatabaseConnection, group: &str) -> Result<i64> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "SELECT version FROM row_versions WHERE name = $1",
            vec![group.into()],
        ))
        .await?
        .ok_or_else(|| Error::Internal(format!("row_versions has no row {group}")))?;
    Ok(row.try_get::<i64>("", "version")?)
}
