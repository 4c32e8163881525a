//! Who may do what. Every core service that a non-superuser can reach takes an
//! [`Actor`] and decides itself whether that actor may act, so the REST server, the CLI
//! and an embedding service get the same answers:
//!
//! - [`Actor`]: the system (bootstrap, `data load`, operator commands), a user acting in
//!   a company, or an API key's grant (its company and scopes, never more than its
//!   creator holds). [`Actors`] builds one from an access token, an API key or a user id.
//! - [`Held`]: the permissions an actor holds in a company; [`Scope`]: the companies
//!   where it holds a permission (what it may see and change).
//! - [`escalation`]: the one escalation invariant every write that can change someone's
//!   effective permissions is checked against (see `docs/security.md`).
pub mod actor;
pub(crate) mod escalation;
mod held;

pub use actor::{Actor, Actors, KeyGrant, Origin};
pub use held::{Held, Scope};
