//! sea-orm entities, one module per table (see `docs/schema.md`).
pub mod api_key;
pub mod audit_log;
pub mod company;
pub mod group;
pub mod group_permission;
pub mod mfa_challenge;
pub mod oauth_state;
pub mod permission;
pub mod recovery_code;
pub mod refresh_token;
pub mod role;
pub mod role_permission;
pub mod social_account;
pub mod two_factor;
pub mod user;
pub mod user_company_role;
pub mod user_group;
