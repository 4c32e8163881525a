//! HTTP API tests: one binary, one module per area, each test against its own server.
mod health;
mod helpers;
