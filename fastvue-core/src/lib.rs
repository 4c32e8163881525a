//! fastvue-core: the multi-tenant RBAC engine behind fastvue-rs.
//!
//! Build one [`Fastvue`] handle from [`config::Settings`] and use its services
//! (`users()`, `companies()`, `roles()`, `permissions()`, `groups()`, `assignments()`,
//! `audit_logs()`, `social_accounts()`, `oauth(name)` for provider sign-in (OpenID Connect, Google, GitHub), `sign_in()`,
//! `two_factor()`, `password_reset()`) and its
//! [`permission::Authorizer`]. Every service operation takes an [`Actor`] (built by
//! [`Fastvue::actors`], or [`Actor::system`] for operator work) and decides itself
//! whether that actor may act ([`policy`]). The server and the CLI use exactly this
//! handle, so an embedding service gets identical behaviour. [`data`]
//! loads and exports whole data sets; [`check`] inspects a deployment.
pub mod auth;
pub mod check;
pub mod codenames;
pub mod config;
pub mod data;
pub mod db;
pub mod domain;
pub mod entity;
pub mod error;
pub mod etag;
mod fastvue;
pub mod mail;
pub mod pagination;
pub mod password;
pub mod permission;
pub mod policy;
pub mod proxy;
pub mod redis;
pub mod seed;
pub mod service;
mod sql;
pub mod system;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod validation;

pub use error::{Error, Result};
pub use fastvue::{Fastvue, HealthReport};
pub use policy::{Actor, Origin};
