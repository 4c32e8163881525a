//! HTTP API tests: one binary, one module per area, each test against its own server.
mod attacks;
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
mod permissions;
mod roles;
mod users;
