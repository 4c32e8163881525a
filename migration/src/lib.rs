//! Schema migrations for fastvue-rs (sea-orm-migration).
//!
//! The schema is documented in `docs/schema.md`; this crate is its source of
//! truth. Every migration runs unchanged on SQLite and PostgreSQL and is
//! applied inside a transaction on both backends.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_companies_users;
mod m20261122_000002_permissions_roles;
mod m20261122_000003_groups;
mod m20261122_000004_auth_tokens;
mod m20261122_000005_audit_logs;
mod m20261122_000006_oauth_states;
mod m20261122_000007_api_keys;
mod m20261122_000008_users_id_index;
mod m20261204_000009_users_email_unconfirmed;
mod m20261205_000010_two_factor;
mod m20261205_000011_email_tokens;
mod m20261205_000012_sessions_sign_ins;
mod m20261205_000013_invitations;
mod m20261205_000014_subtree_scope;
mod m20261206_000015_menus;
mod m20261207_000016_row_versions;

/// Runs the fastvue-rs migrations, in order.
///
/// Use it through [`MigratorTrait`], e.g. `Migrator::up(&db, None)` to apply
/// every pending migration or `Migrator::down(&db, None)` to roll them all
/// back.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_companies_users::Migration),
            Box::new(m20261122_000002_permissions_roles::Migration),
            Box::new(m20261122_000003_groups::Migration),
            Box::new(m20261122_000004_auth_tokens::Migration),
            Box::new(m20261122_000005_audit_logs::Migration),
            Box::new(m20261122_000006_oauth_states::Migration),
            Box::new(m20261122_000007_api_keys::Migration),
            Box::new(m20261122_000008_users_id_index::Migration),
            Box::new(m20261204_000009_users_email_unconfirmed::Migration),
            Box::new(m20261205_000010_two_factor::Migration),
            Box::new(m20261205_000011_email_tokens::Migration),
            Box::new(m20261205_000012_sessions_sign_ins::Migration),
            Box::new(m20261205_000013_invitations::Migration),
            Box::new(m20261205_000014_subtree_scope::Migration),
            Box::new(m20261206_000015_menus::Migration),
            Box::new(m20261207_000016_row_versions::Migration),
        ]
    }
}
