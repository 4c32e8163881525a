//! fastvue-server: the REST API of fastvue-rs over salvo.
pub mod error;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
