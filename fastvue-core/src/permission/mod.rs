//! Permission engine: sets, the two-tier cache and the authorizer.
//!
//! Embedders use [`Authorizer`] (through [`crate::Fastvue::authorizer`]),
//! [`PermissionSet`], [`Change`] and the cache keys; the cache tiers themselves
//! (`l1`, `l2`, `bus`, `tiered`, `feed`) are internal, public only with the
//! `test-support` feature for the crate's own tests.
pub mod authorizer;
#[cfg(feature = "test-support")]
pub mod bus;
#[cfg(not(feature = "test-support"))]
pub(crate) mod bus;
pub mod catalog;
pub mod change;
#[cfg(feature = "test-support")]
pub mod feed;
#[cfg(not(feature = "test-support"))]
pub(crate) mod feed;
#[cfg(feature = "test-support")]
pub mod l1;
#[cfg(not(feature = "test-support"))]
pub(crate) mod l1;
#[cfg(feature = "test-support")]
pub mod l2;
#[cfg(not(feature = "test-support"))]
pub(crate) mod l2;
pub mod metrics;
mod names;
pub(crate) mod query;
pub(crate) mod reach;
mod remote;
pub mod set;
#[cfg(feature = "test-support")]
pub mod tiered;
#[cfg(not(feature = "test-support"))]
pub(crate) mod tiered;
pub(crate) mod tree;

pub use authorizer::{
    Authorizer, CacheInspection, CacheOverview, CacheTarget, Explanation, InvalidationSummary,
    RedisEntry, RedisOverview,
};
pub use change::{Affected, Change, resolve};
pub use l1::{CacheKey, Invalidation};
pub use query::{CompanyStep, GrantPath};
pub use set::PermissionSet;
