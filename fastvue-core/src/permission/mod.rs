//! Permission engine: sets, the two-tier cache and the authorizer.
pub mod authorizer;
pub mod bus;
pub mod catalog;
pub mod change;
pub mod feed;
pub mod l1;
pub mod l2;
pub mod metrics;
mod names;
pub(crate) mod query;
mod remote;
pub mod set;
pub mod tiered;

pub use authorizer::{
    Authorizer, CacheInspection, CacheOverview, CacheTarget, Explanation, InvalidationSummary,
    RedisEntry, RedisOverview,
};
pub use change::{Affected, Change, resolve};
pub use query::GrantPath;
pub use set::PermissionSet;
