//! Core services: each is a thin borrow of [`crate::Fastvue`] with the operations of one resource.
pub mod api_keys;
pub mod assignments;
pub mod audit;
/// [`crate::Fastvue::roles`] and [`crate::Fastvue::groups`], built outside `roles.rs` and
/// `groups.rs`.
mod builders;
pub(crate) mod bundle;
pub mod cache;
pub mod companies;
pub mod groups;
pub mod invitations;
pub(crate) mod key_usage;
pub(crate) mod lookup;
pub mod menus;
pub mod permissions;
pub mod roles;
pub(crate) mod search;
pub mod social_accounts;
pub(crate) mod totals;
pub mod users;

pub use bundle::BundlePatch;
