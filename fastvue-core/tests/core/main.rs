//! Integration tests of fastvue-core's services and authorizer.
//!
//! Every test runs against a fresh database: an SQLite file by default, or a fresh
//! PostgreSQL database when `FASTVUE_TEST_DATABASE_URL` names a server (see
//! `helpers.rs`). The same test bodies run on both backends.

mod helpers;

mod assignments;
mod audit;
mod authorizer;
mod bootstrap;
mod companies;
mod concurrency;
mod data;
mod escalation;
mod feed;
mod groups;
mod menus;
mod operations;
mod permissions;
mod properties;
mod redis_outage;
mod roles;
mod subtree;
mod tokens;
mod totals;
mod transactions;
mod users;
