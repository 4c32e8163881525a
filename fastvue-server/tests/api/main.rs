//! HTTP API tests: one binary, one module per area, each test against its own server.
mod audit;
mod auth;
mod cache;
mod companies;
mod errors;
mod groups;
mod health;
mod helpers;
mod metrics;
mod middleware;
mod oauth;
mod openapi;
mod permission_stream;
mod permissions;
mod roles;
mod users;
