//! HTTP routes.
pub mod health;
