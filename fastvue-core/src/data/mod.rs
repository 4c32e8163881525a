//! Bulk data (`fastvue data load | export`): companies, users, permissions, roles, groups
//! (with their members) and role assignments as one JSON [`Document`].
//!
//! Records name each other by natural keys, never by database ids, so a document moves
//! between databases: company `code`, user `username`, permission `codename`, role
//! (`company` code, or none for a global template, plus `codename`), group (`company`,
//! `codename`) and assignment (`user`, `company`, `role`).
//!
//! [`load`] is idempotent and transactional:
//!
//! * every record is created or brought to the state the document describes; loading
//!   the same document again changes nothing. A listed role's or group's permissions and
//!   a listed group's members are replaced by the document's lists; rows the document
//!   does not mention are left alone (unless `clear` is asked for);
//! * the whole load is one write transaction: a bad document changes nothing, and the
//!   error names the bad record (`users[3].email: must be an email address ...`);
//! * a user's `password` is hashed on load; when the stored hash already matches it, it
//!   is kept (so a reload neither re-hashes nor signs the user out). `password_hash`
//!   (what [`export`] writes on request) is stored verbatim.
mod document;
mod export;
mod load;
mod parse;

pub use document::{
    AssignmentRecord, CompanyRecord, Document, GroupRecord, MenuRecord, PermissionRecord,
    RoleRecord, UserRecord,
};
pub use export::{ExportOptions, export};
pub use load::{Counts, LoadOptions, LoadReport, load};

/// The document format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// At most this many problems are reported for one document (then a count of the rest).
pub const MAX_REPORTED_PROBLEMS: usize = 20;

const ID_CHUNK: usize = 500;
