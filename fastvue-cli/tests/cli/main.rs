//! End-to-end tests of the `fastvue` binary (through `assert_cmd`).
//!
//! Every test runs against a fresh database: an SQLite file by default, or a fresh
//! PostgreSQL database when `FASTVUE_TEST_DATABASE_URL` names a server; with
//! `FASTVUE_TEST_REDIS_URL` the commands also get `REDIS_URL` (and the test's own
//! `REDIS_KEY_PREFIX`). The same test bodies run on both backends.

mod helpers;

mod cache;
mod check;
mod data;
mod keys;
mod migrate;
mod serve;
mod users;
