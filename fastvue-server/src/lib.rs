//! fastvue-server: the REST API of fastvue-rs over salvo.
pub mod admin_ui;
pub mod auth;
pub mod conditional;
pub mod error;
pub mod error_body;
pub mod extract;
pub mod grant_scope;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod state;
pub mod streams;
pub mod telemetry;
