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
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::Fastvue;
use crate::domain::{Codename, CompanyCode, Email, Name, Password, Slug, Username};
use crate::entity::{
    company, group, group_permission, permission, refresh_token, role, role_permission,
    social_account, user, user_company_role, user_group,
};
use crate::error::{Error, FieldError, Result};
use crate::permission::Change;
use crate::service::audit::{self, AuditContext, Entry};
use crate::system::{ensure_company_roles, ensure_system_permissions};

/// The document format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// At most this many problems are reported for one document (then a count of the rest).
pub const MAX_REPORTED_PROBLEMS: usize = 20;

const ID_CHUNK: usize = 500;

fn format_version() -> u32 {
    FORMAT_VERSION
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// A whole data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Format version, [`FORMAT_VERSION`].
    #[serde(default = "format_version")]
    pub version: u32,
    /// Free text for people reading the file; ignored by [`load`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Companies.
    #[serde(default)]
    pub companies: Vec<CompanyRecord>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserRecord>,
    /// Permissions (the system permissions exist anyway; list them to rename them).
    #[serde(default)]
    pub permissions: Vec<PermissionRecord>,
    /// Roles with their permissions.
    #[serde(default)]
    pub roles: Vec<RoleRecord>,
    /// Groups with their permissions and members.
    #[serde(default)]
    pub groups: Vec<GroupRecord>,
    /// Role assignments.
    #[serde(default)]
    pub assignments: Vec<AssignmentRecord>,
}

impl Default for Document {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            description: None,
            companies: Vec::new(),
            users: Vec::new(),
            permissions: Vec::new(),
            roles: Vec::new(),
            groups: Vec::new(),
            assignments: Vec::new(),
        }
    }
}

/// A company, by `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyRecord {
    /// Unique code (stored upper-case).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Code of the parent company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
}

/// A user, by `username`. Its `Debug` output never shows the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// Unique username.
    pub username: String,
    /// Unique email.
    pub email: String,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
    /// Default false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_superuser: bool,
    /// Code of the company used when a request names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_company: Option<String>,
    /// Plaintext password (8 to 128 characters), hashed on load. For demo and test data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// An argon2 PHC string stored as is (what an export with hashes writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("current_company", &self.current_company)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// A permission, by `codename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionRecord {
    /// `resource.action`.
    pub codename: String,
    /// Human-readable name.
    pub name: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Grouping for UIs (default: the resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
}

/// A role, by (`company`, `codename`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    /// Code of the owning company; absent for a global template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Codename, unique within the company.
    pub codename: String,
    /// Display name.
    pub name: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
    /// Every permission the role grants (replaces the stored set).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A group, by (`company`, `codename`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRecord {
    /// Code of the owning company.
    pub company: String,
    /// Codename, unique within the company.
    pub codename: String,
    /// Display name.
    pub name: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
    /// Every permission the group grants (replaces the stored set).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Usernames of every active member (replaces the stored members).
    #[serde(default)]
    pub members: Vec<String>,
}

/// A role assignment, by (`user`, `company`, `role`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRecord {
    /// Username.
    pub user: String,
    /// Code of the company the role is held in.
    pub company: String,
    /// Codename of a role of that company (or, with `global_role`, of a global template).
    pub role: String,
    /// The role is a global template (default false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub global_role: bool,
    /// The user's default assignment (default false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_default: bool,
    /// Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
}

impl Document {
    /// Parses a document. A malformed one is a validation error naming the JSON path
    /// (`users[3].email: invalid type: integer ...`); an unknown version too.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(text);
        let doc: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "document".to_owned()
            } else {
                path
            };
            Error::invalid(field, e.into_inner().to_string())
        })?;
        de.end()
            .map_err(|e| Error::invalid("document", e.to_string()))?;
        if doc.version != FORMAT_VERSION {
            return Err(Error::invalid(
                "version",
                format!(
                    "unsupported version {}; expected {FORMAT_VERSION}",
                    doc.version
                ),
            ));
        }
        Ok(doc)
    }

    /// The document as pretty-printed JSON (with a final newline).
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("a document always serializes to JSON");
        text.push('\n');
        text
    }

    /// How many records the document holds (group members and role or group
    /// permissions are part of their record).
    pub fn records(&self) -> u64 {
        [
            self.companies.len(),
            self.users.len(),
            self.permissions.len(),
            self.roles.len(),
            self.groups.len(),
            self.assignments.len(),
        ]
        .iter()
        .sum::<usize>() as u64
    }
}

/// How [`load`] treats what is already in the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Delete every company, user, role, group, assignment and non-system permission
    /// first (in the same transaction), so the database ends up holding exactly the
    /// document. The audit trail is kept.
    pub clear: bool,
}

/// What [`load`] did to one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows created.
    pub created: u64,
    /// Rows changed to match the document.
    pub updated: u64,
    /// Rows that already matched.
    pub unchanged: u64,
}

impl Counts {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// What [`load`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Whether the database was cleared first.
    pub cleared: bool,
    /// Companies.
    pub companies: Counts,
    /// Users.
    pub users: Counts,
    /// Permissions.
    pub permissions: Counts,
    /// Roles.
    pub roles: Counts,
    /// Groups.
    pub groups: Counts,
    /// Assignments.
    pub assignments: Counts,
}

impl LoadReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.cleared
            || [
                self.companies,
                self.users,
                self.permissions,
                self.roles,
                self.groups,
                self.assignments,
            ]
            .iter()
            .any(|c| c.created + c.updated > 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// What [`export`] includes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// Write every user's password hash, so that a load elsewhere keeps the passwords.
    /// The file then holds credentials material: protect it like a database backup.
    pub include_password_hashes: bool,
}

/// Collects problems with their record paths, at most [`MAX_REPORTED_PROBLEMS`].
#[derive(Debug, Default)]
struct Problems {
    list: Vec<FieldError>,
    more: usize,
}

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        if self.list.len() < MAX_REPORTED_PROBLEMS {
            self.list.push(FieldError::new(field, message));
        } else {
            self.more += 1;
        }
    }

    fn check<T>(
        &mut self,
        field: impl Into<String>,
        r: std::result::Result<T, String>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.add(field, m);
                None
            }
        }
    }

    fn into_result(mut self) -> Result<()> {
        if self.list.is_empty() {
            return Ok(());
        }
        if self.more > 0 {
            self.list.push(FieldError::new(
                "document",
                format!("and {} more problems", self.more),
            ));
        }
        Err(Error::Validation(self.list))
    }
}

/// The document with every value parsed (what the write phase uses).
struct Parsed {
    companies: Vec<PCompany>,
    users: Vec<PUser>,
    permissions: Vec<PPermission>,
    roles: Vec<PRole>,
    groups: Vec<PGroup>,
    assignments: Vec<PAssignment>,
}

struct PCompany {
    code: String,
    name: String,
    parent: Option<String>,
    is_active: bool,
}

struct PUser {
    username: String,
    email: String,
    full_name: Option<String>,
    is_active: bool,
    is_superuser: bool,
    current_company: Option<String>,
    password: Option<String>,
    password_hash: Option<String>,
}

struct PPermission {
    codename: Codename,
    name: String,
    description: Option<String>,
    category: Option<String>,
    is_active: bool,
}

struct PRole {
    company: Option<String>,
    codename: String,
    name: String,
    description: Option<String>,
    is_active: bool,
    permissions: Vec<String>,
}

struct PGroup {
    company: String,
    codename: String,
    name: String,
    description: Option<String>,
    is_active: bool,
    permissions: Vec<String>,
    members: Vec<String>,
}

struct PAssignment {
    user: String,
    company: String,
    role: String,
    global_role: bool,
    is_default: bool,
    is_active: bool,
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Flags the second and later occurrences of a key.
fn duplicates<K: std::hash::Hash + Eq>(
    p: &mut Problems,
    section: &str,
    field: &str,
    keys: impl Iterator<Item = Option<K>>,
) {
    let mut seen: HashMap<K, usize> = HashMap::new();
    for (i, key) in keys.enumerate() {
        let Some(key) = key else { continue };
        if let Some(first) = seen.get(&key) {
            p.add(
                format!("{section}[{i}].{field}"),
                format!("duplicate of {section}[{first}]"),
            );
        } else {
            seen.insert(key, i);
        }
    }
}

/// Parses every value of the document; reports every problem with its record path.
fn parse(doc: &Document) -> Result<Parsed> {
    let mut p = Problems::default();
    let code = |p: &mut Problems, field: String, raw: &str| {
        p.check(field, CompanyCode::parse(raw).map(CompanyCode::into_inner))
    };
    let slug = |p: &mut Problems, field: String, raw: &str| {
        p.check(field, Slug::parse(raw).map(Slug::into_inner))
    };
    let username = |p: &mut Problems, field: String, raw: &str| {
        p.check(field, Username::parse(raw).map(Username::into_inner))
    };
    let codenames = |p: &mut Problems, at: String, raw: &[String]| -> Vec<String> {
        raw.iter()
            .enumerate()
            .filter_map(|(k, c)| {
                p.check(
                    format!("{at}.permissions[{k}]"),
                    Codename::parse(c).map(|c| c.as_str().to_owned()),
                )
            })
            .collect()
    };

    let mut companies = Vec::new();
    for (i, r) in doc.companies.iter().enumerate() {
        let at = format!("companies[{i}]");
        let c = code(&mut p, format!("{at}.code"), &r.code);
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 200));
        let parent = match &r.parent {
            Some(raw) => code(&mut p, format!("{at}.parent"), raw).map(Some),
            None => Some(None),
        };
        if let (Some(c), Some(Some(parent))) = (&c, &parent)
            && c == parent
        {
            p.add(format!("{at}.parent"), "a company cannot be its own parent");
        }
        if let (Some(code), Some(name), Some(parent)) = (c, name, parent) {
            companies.push(PCompany {
                code,
                name: name.into_inner(),
                parent,
                is_active: r.is_active,
            });
        }
    }
    duplicates(
        &mut p,
        "companies",
        "code",
        doc.companies
            .iter()
            .map(|r| CompanyCode::parse(&r.code).ok()),
    );

    let mut users = Vec::new();
    for (i, r) in doc.users.iter().enumerate() {
        let at = format!("users[{i}]");
        let name = username(&mut p, format!("{at}.username"), &r.username);
        let email = p.check(
            format!("{at}.email"),
            Email::parse(&r.email).map(Email::into_inner),
        );
        let full_name = match text(&r.full_name) {
            Some(n) => p
                .check(format!("{at}.full_name"), Name::parse(&n, 200))
                .map(|n| Some(n.into_inner())),
            None => Some(None),
        };
        let current = match &r.current_company {
            Some(raw) => code(&mut p, format!("{at}.current_company"), raw).map(Some),
            None => Some(None),
        };
        let password = match &r.password {
            Some(raw) => p
                .check(format!("{at}.password"), Password::parse(raw))
                .map(|pw| Some(pw.expose().to_owned())),
            None => Some(None),
        };
        let hash = match &r.password_hash {
            Some(h) if !h.starts_with("$argon2") => {
                p.add(
                    format!("{at}.password_hash"),
                    "must be an argon2 PHC string ($argon2id$...)",
                );
                None
            }
            other => Some(other.clone()),
        };
        if r.password.is_some() && r.password_hash.is_some() {
            p.add(
                format!("{at}.password"),
                "give password or password_hash, not both",
            );
        }
        if let (Some(username), Some(email), Some(full_name), Some(current), Some(pw), Some(h)) =
            (name, email, full_name, current, password, hash)
        {
            users.push(PUser {
                username,
                email,
                full_name,
                is_active: r.is_active,
                is_superuser: r.is_superuser,
                current_company: current,
                password: pw,
                password_hash: h,
            });
        }
    }
    duplicates(
        &mut p,
        "users",
        "username",
        doc.users
            .iter()
            .map(|r| Username::parse(&r.username).ok().map(Username::into_inner)),
    );
    duplicates(
        &mut p,
        "users",
        "email",
        doc.users
            .iter()
            .map(|r| Email::parse(&r.email).ok().map(Email::into_inner)),
    );

    let mut permissions = Vec::new();
    for (i, r) in doc.permissions.iter().enumerate() {
        let at = format!("permissions[{i}]");
        let codename = p.check(format!("{at}.codename"), Codename::parse(&r.codename));
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 200));
        let category = match text(&r.category) {
            Some(c) => p
                .check(format!("{at}.category"), Name::parse(&c, 50))
                .map(|c| Some(c.into_inner())),
            None => Some(None),
        };
        if let (Some(codename), Some(name), Some(category)) = (codename, name, category) {
            permissions.push(PPermission {
                codename,
                name: name.into_inner(),
                description: text(&r.description),
                category,
                is_active: r.is_active,
            });
        }
    }
    duplicates(
        &mut p,
        "permissions",
        "codename",
        doc.permissions.iter().map(|r| {
            Codename::parse(&r.codename)
                .ok()
                .map(|c| c.as_str().to_owned())
        }),
    );

    let mut roles = Vec::new();
    for (i, r) in doc.roles.iter().enumerate() {
        let at = format!("roles[{i}]");
        let company = match &r.company {
            Some(raw) => code(&mut p, format!("{at}.company"), raw).map(Some),
            None => Some(None),
        };
        let codename = slug(&mut p, format!("{at}.codename"), &r.codename);
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 100));
        let perms = codenames(&mut p, at, &r.permissions);
        if let (Some(company), Some(codename), Some(name)) = (company, codename, name) {
            roles.push(PRole {
                company,
                codename,
                name: name.into_inner(),
                description: text(&r.description),
                is_active: r.is_active,
                permissions: perms,
            });
        }
    }
    duplicates(
        &mut p,
        "roles",
        "codename",
        doc.roles.iter().map(|r| {
            let company = match &r.company {
                Some(c) => Some(CompanyCode::parse(c).ok()?.into_inner()),
                None => None,
            };
            Some((company, Slug::parse(&r.codename).ok()?.into_inner()))
        }),
    );

    let mut groups = Vec::new();
    for (i, r) in doc.groups.iter().enumerate() {
        let at = format!("groups[{i}]");
        let company = code(&mut p, format!("{at}.company"), &r.company);
        let codename = slug(&mut p, format!("{at}.codename"), &r.codename);
        let name = p.check(format!("{at}.name"), Name::parse(&r.name, 100));
        let perms = codenames(&mut p, at.clone(), &r.permissions);
        let members: Vec<String> = r
            .members
            .iter()
            .enumerate()
            .filter_map(|(k, m)| username(&mut p, format!("{at}.members[{k}]"), m))
            .collect();
        if let (Some(company), Some(codename), Some(name)) = (company, codename, name) {
            groups.push(PGroup {
                company,
                codename,
                name: name.into_inner(),
                description: text(&r.description),
                is_active: r.is_active,
                permissions: perms,
                members,
            });
        }
    }
    duplicates(
        &mut p,
        "groups",
        "codename",
        doc.groups.iter().map(|r| {
            Some((
                CompanyCode::parse(&r.company).ok()?.into_inner(),
                Slug::parse(&r.codename).ok()?.into_inner(),
            ))
        }),
    );

    let mut assignments = Vec::new();
    for (i, r) in doc.assignments.iter().enumerate() {
        let at = format!("assignments[{i}]");
        let user = username(&mut p, format!("{at}.user"), &r.user);
        let company = code(&mut p, format!("{at}.company"), &r.company);
        let role = slug(&mut p, format!("{at}.role"), &r.role);
        if let (Some(user), Some(company), Some(role)) = (user, company, role) {
            assignments.push(PAssignment {
                user,
                company,
                role,
                global_role: r.global_role,
                is_default: r.is_default,
                is_active: r.is_active,
            });
        }
    }
    duplicates(
        &mut p,
        "assignments",
        "role",
        doc.assignments.iter().map(|r| {
            Some((
                Username::parse(&r.user).ok()?.into_inner(),
                CompanyCode::parse(&r.company).ok()?.into_inner(),
                Slug::parse(&r.role).ok()?.into_inner(),
                r.global_role,
            ))
        }),
    );

    p.into_result()?;
    Ok(Parsed {
        companies,
        users,
        permissions,
        roles,
        groups,
        assignments,
    })
}

/// Turns a write failure of record `at` into an error naming it.
fn at_record(at: &str, err: Error) -> Error {
    match err {
        Error::Conflict {
            field: Some(f),
            message,
        } => Error::invalid(format!("{at}.{f}"), message),
        Error::Conflict {
            field: None,
            message,
        } => Error::invalid(at, message),
        other => other,
    }
}

/// Loads `doc` into the database of `fv` (see the [module docs](self)). `progress` is
/// called with (records done, records in all) as the load advances; password hashing
/// counts as work too. Every cached permission set is dropped afterwards.
pub async fn load(
    fv: &Fastvue,
    doc: &Document,
    options: LoadOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<LoadReport> {
    let parsed = parse(doc)?;
    let to_hash = parsed.users.iter().filter(|u| u.password.is_some()).count() as u64;
    let total = doc.records() + to_hash;
    let mut done = 0u64;
    progress(done, total);
    let hashes = password_hashes(fv, &parsed.users, &mut |n| {
        done += n;
        progress(done, total);
    })
    .await?;

    let txn = fv.begin_write().await?;
    let mut report = LoadReport {
        cleared: options.clear,
        ..LoadReport::default()
    };
    if options.clear {
        clear(&txn).await?;
    }
    ensure_system_permissions(&txn).await?;
    let mut problems = Problems::default();
    let mut w = Writer {
        txn: &txn,
        now: Utc::now(),
        problems: &mut problems,
        signed_out: Vec::new(),
        step: &mut |n| {
            done += n;
            progress(done, total);
        },
    };
    let permissions = w.permissions(&parsed, &mut report).await?;
    let companies = w.companies(&parsed, &mut report).await?;
    let users = w.users(&parsed, &hashes, &companies, &mut report).await?;
    let roles = w
        .roles(&parsed, &companies, &permissions, &mut report)
        .await?;
    w.groups(&parsed, &companies, &permissions, &users, &mut report)
        .await?;
    w.assignments(&parsed, &companies, &users, &roles, &mut report)
        .await?;
    let signed_out = std::mem::take(&mut w.signed_out);
    drop(w);
    // Any reference problem: nothing is committed (dropping the transaction rolls it back).
    problems.into_result()?;
    audit::record(
        &txn,
        &AuditContext::system(),
        Entry {
            action: "load",
            entity_type: "data",
            entity_id: None,
            company_id: None,
            old_values: None,
            new_values: serde_json::to_value(report).ok(),
        },
    )
    .await?;
    let changes = if report.changed() {
        vec![Change::All]
    } else {
        Vec::new()
    };
    fv.commit_changes(txn, &changes).await?;
    for id in signed_out {
        fv.tokens().revoke_all(id).await?;
    }
    Ok(report)
}

/// The hash to store for each user with a `password`: the stored hash when it already
/// matches (read before the transaction; a stale read only costs a fresh hash), else a
/// new one.
async fn password_hashes(
    fv: &Fastvue,
    users: &[PUser],
    step: &mut (dyn FnMut(u64) + Send),
) -> Result<Vec<Option<String>>> {
    let names: Vec<&str> = users
        .iter()
        .filter(|u| u.password.is_some())
        .map(|u| u.username.as_str())
        .collect();
    let mut stored: HashMap<String, Option<String>> = HashMap::new();
    for chunk in names.chunks(ID_CHUNK) {
        for u in user::Entity::find()
            .filter(user::Column::Username.is_in(chunk.iter().copied()))
            .all(fv.db())
            .await?
        {
            stored.insert(u.username, u.password_hash);
        }
    }
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let Some(password) = &u.password else {
            out.push(u.password_hash.clone());
            continue;
        };
        let current = stored.get(&u.username).cloned().flatten();
        let keep = match &current {
            Some(phc) => {
                fv.hasher()
                    .verify_async(password.clone(), Some(phc.clone()))
                    .await?
            }
            None => false,
        };
        out.push(Some(if keep {
            current.unwrap_or_default()
        } else {
            fv.hasher().hash_async(password.clone()).await?
        }));
        step(1);
    }
    Ok(out)
}

/// Deletes what `clear` names, children first.
async fn clear<C: ConnectionTrait>(db: &C) -> Result<()> {
    user_group::Entity::delete_many().exec(db).await?;
    group_permission::Entity::delete_many().exec(db).await?;
    group::Entity::delete_many().exec(db).await?;
    user_company_role::Entity::delete_many().exec(db).await?;
    role_permission::Entity::delete_many().exec(db).await?;
    role::Entity::delete_many().exec(db).await?;
    refresh_token::Entity::delete_many().exec(db).await?;
    social_account::Entity::delete_many().exec(db).await?;
    user::Entity::delete_many().exec(db).await?;
    company::Entity::delete_many().exec(db).await?;
    permission::Entity::delete_many()
        .filter(permission::Column::IsSystem.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

type CompanyIds = HashMap<String, i64>;
type UserIds = HashMap<String, i64>;
type PermissionIds = HashMap<String, i64>;
type RoleIds = HashMap<(Option<i64>, String), i64>;

struct Writer<'a, C> {
    txn: &'a C,
    now: chrono::DateTime<Utc>,
    problems: &'a mut Problems,
    /// Users whose sessions end: deactivated, or given a new password.
    signed_out: Vec<i64>,
    step: &'a mut (dyn FnMut(u64) + Send),
}

impl<C: ConnectionTrait> Writer<'_, C> {
    async fn permissions(&mut self, d: &Parsed, report: &mut LoadReport) -> Result<PermissionIds> {
        let mut existing: HashMap<String, permission::Model> = permission::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|p| (p.codename.clone(), p))
            .collect();
        for r in &d.permissions {
            let category = Some(
                r.category
                    .clone()
                    .unwrap_or_else(|| r.codename.resource().to_owned()),
            );
            let outcome = match existing.get(r.codename.as_str()) {
                None => {
                    let m = permission::ActiveModel {
                        codename: Set(r.codename.as_str().to_owned()),
                        name: Set(r.name.clone()),
                        description: Set(r.description.clone()),
                        resource: Set(r.codename.resource().to_owned()),
                        action: Set(r.codename.action().to_owned()),
                        category: Set(category),
                        is_system: Set(false),
                        is_active: Set(r.is_active),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    existing.insert(m.codename.clone(), m);
                    Outcome::Created
                }
                Some(old)
                    if old.name == r.name
                        && old.description == r.description
                        && old.category == category
                        && old.is_active == r.is_active =>
                {
                    Outcome::Unchanged
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.name = Set(r.name.clone());
                    am.description = Set(r.description.clone());
                    am.category = Set(category);
                    am.is_active = Set(r.is_active);
                    am.updated_at = Set(self.now);
                    let m = am.update(self.txn).await?;
                    existing.insert(m.codename.clone(), m);
                    Outcome::Updated
                }
            };
            report.permissions.count(outcome);
            (self.step)(1);
        }
        Ok(existing.into_iter().map(|(k, v)| (k, v.id)).collect())
    }

    async fn companies(&mut self, d: &Parsed, report: &mut LoadReport) -> Result<CompanyIds> {
        let mut existing: HashMap<String, company::Model> = company::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect();
        let mut outcomes = Vec::with_capacity(d.companies.len());
        for r in &d.companies {
            let outcome = match existing.get(&r.code) {
                None => {
                    let m = company::ActiveModel {
                        name: Set(r.name.clone()),
                        code: Set(r.code.clone()),
                        parent_id: Set(None),
                        is_active: Set(r.is_active),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        deleted_at: Set(None),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    ensure_company_roles(self.txn, m.id).await?;
                    existing.insert(m.code.clone(), m);
                    Outcome::Created
                }
                Some(old) if old.name == r.name && old.is_active == r.is_active => {
                    Outcome::Unchanged
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.name = Set(r.name.clone());
                    am.is_active = Set(r.is_active);
                    am.deleted_at = Set(if r.is_active {
                        None
                    } else {
                        old.deleted_at.or(Some(self.now))
                    });
                    am.updated_at = Set(self.now);
                    let m = am.update(self.txn).await?;
                    existing.insert(m.code.clone(), m);
                    Outcome::Updated
                }
            };
            outcomes.push(outcome);
        }
        // Parents once every company exists, whatever the order of the document.
        let ids: CompanyIds = existing.iter().map(|(k, v)| (k.clone(), v.id)).collect();
        let mut parents: HashMap<i64, Option<i64>> =
            existing.values().map(|c| (c.id, c.parent_id)).collect();
        for (i, r) in d.companies.iter().enumerate() {
            let parent_id = match &r.parent {
                None => None,
                Some(code) => match ids.get(code) {
                    Some(id) => Some(*id),
                    None => {
                        self.problems.add(
                            format!("companies[{i}].parent"),
                            format!("unknown company {code:?}"),
                        );
                        continue;
                    }
                },
            };
            let old = &existing[&r.code];
            if old.parent_id != parent_id {
                let mut am = old.clone().into_active_model();
                am.parent_id = Set(parent_id);
                am.updated_at = Set(self.now);
                am.update(self.txn).await?;
                parents.insert(old.id, parent_id);
                if outcomes[i] == Outcome::Unchanged {
                    outcomes[i] = Outcome::Updated;
                }
            }
        }
        for (i, r) in d.companies.iter().enumerate() {
            let start = ids[&r.code];
            let mut cursor = parents.get(&start).copied().flatten();
            let mut steps = 0;
            while let Some(current) = cursor {
                if current == start || steps > parents.len() {
                    self.problems.add(
                        format!("companies[{i}].parent"),
                        "a company cannot be its own ancestor",
                    );
                    break;
                }
                steps += 1;
                cursor = parents.get(&current).copied().flatten();
            }
        }
        for outcome in outcomes {
            report.companies.count(outcome);
            (self.step)(1);
        }
        Ok(ids)
    }

    async fn users(
        &mut self,
        d: &Parsed,
        hashes: &[Option<String>],
        companies: &CompanyIds,
        report: &mut LoadReport,
    ) -> Result<UserIds> {
        let mut existing: HashMap<String, user::Model> = user::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|u| (u.username.clone(), u))
            .collect();
        // Emails as they will be once the document is applied.
        let listed: HashSet<&str> = d.users.iter().map(|u| u.username.as_str()).collect();
        let mut owners: HashMap<String, String> = existing
            .values()
            .filter(|u| !listed.contains(u.username.as_str()))
            .map(|u| (u.email.clone(), u.username.clone()))
            .collect();
        let mut conflicting = HashSet::new();
        for (i, r) in d.users.iter().enumerate() {
            if let Some(other) = owners.get(&r.email)
                && other != &r.username
            {
                self.problems.add(
                    format!("users[{i}].email"),
                    format!("already used by user {other:?}"),
                );
                conflicting.insert(i);
            }
            owners.insert(r.email.clone(), r.username.clone());
        }
        for (i, (r, hash)) in d.users.iter().zip(hashes).enumerate() {
            let at = format!("users[{i}]");
            if conflicting.contains(&i) {
                (self.step)(1);
                continue;
            }
            let current_company_id = match &r.current_company {
                None => None,
                Some(code) => match companies.get(code) {
                    Some(id) => Some(*id),
                    None => {
                        self.problems.add(
                            format!("{at}.current_company"),
                            format!("unknown company {code:?}"),
                        );
                        (self.step)(1);
                        continue;
                    }
                },
            };
            let outcome = match existing.get(&r.username) {
                None => {
                    let m = user::ActiveModel {
                        email: Set(r.email.clone()),
                        username: Set(r.username.clone()),
                        password_hash: Set(hash.clone()),
                        full_name: Set(r.full_name.clone()),
                        is_active: Set(r.is_active),
                        is_superuser: Set(r.is_superuser),
                        current_company_id: Set(current_company_id),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        deleted_at: Set((!r.is_active).then_some(self.now)),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await
                    .map_err(|e| {
                        at_record(
                            &at,
                            crate::error::map_unique(
                                e,
                                &[
                                    ("email", &["uq_users_email", "users.email"]),
                                    ("username", &["uq_users_username", "users.username"]),
                                ],
                            ),
                        )
                    })?;
                    existing.insert(m.username.clone(), m);
                    Outcome::Created
                }
                Some(old) => {
                    // Without a password in the document, the stored one stays.
                    let password_hash = hash.clone().or_else(|| old.password_hash.clone());
                    if old.email == r.email
                        && old.full_name == r.full_name
                        && old.is_active == r.is_active
                        && old.is_superuser == r.is_superuser
                        && old.current_company_id == current_company_id
                        && old.password_hash == password_hash
                    {
                        Outcome::Unchanged
                    } else {
                        if (old.is_active && !r.is_active) || old.password_hash != password_hash {
                            self.signed_out.push(old.id);
                        }
                        let mut am = old.clone().into_active_model();
                        am.email = Set(r.email.clone());
                        am.full_name = Set(r.full_name.clone());
                        am.is_active = Set(r.is_active);
                        am.deleted_at = Set(if r.is_active {
                            None
                        } else {
                            old.deleted_at.or(Some(self.now))
                        });
                        am.is_superuser = Set(r.is_superuser);
                        am.current_company_id = Set(current_company_id);
                        am.password_hash = Set(password_hash);
                        am.updated_at = Set(self.now);
                        let m = am.update(self.txn).await.map_err(|e| {
                            at_record(
                                &at,
                                crate::error::map_unique(
                                    e,
                                    &[("email", &["uq_users_email", "users.email"])],
                                ),
                            )
                        })?;
                        existing.insert(m.username.clone(), m);
                        Outcome::Updated
                    }
                }
            };
            report.users.count(outcome);
            (self.step)(1);
        }
        Ok(existing.into_iter().map(|(k, v)| (k, v.id)).collect())
    }

    /// The ids of `codenames`, or a problem per unknown one.
    fn permission_ids(
        &mut self,
        at: &str,
        codenames: &[String],
        permissions: &PermissionIds,
    ) -> Option<BTreeSet<i64>> {
        let mut ids = BTreeSet::new();
        let mut ok = true;
        for (k, c) in codenames.iter().enumerate() {
            match permissions.get(c) {
                Some(id) => {
                    ids.insert(*id);
                }
                None => {
                    self.problems.add(
                        format!("{at}.permissions[{k}]"),
                        format!("unknown permission {c:?}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(ids)
    }

    fn company_id(&mut self, field: String, code: &str, companies: &CompanyIds) -> Option<i64> {
        let id = companies.get(code).copied();
        if id.is_none() {
            self.problems
                .add(field, format!("unknown company {code:?}"));
        }
        id
    }

    async fn roles(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        permissions: &PermissionIds,
        report: &mut LoadReport,
    ) -> Result<RoleIds> {
        let mut existing: HashMap<(Option<i64>, String), role::Model> = role::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|r| ((r.company_id, r.codename.clone()), r))
            .collect();
        let mut grants: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for rp in role_permission::Entity::find().all(self.txn).await? {
            grants
                .entry(rp.role_id)
                .or_default()
                .insert(rp.permission_id);
        }
        for (i, r) in d.roles.iter().enumerate() {
            let at = format!("roles[{i}]");
            (self.step)(1);
            let company_id = match &r.company {
                None => None,
                Some(code) => match self.company_id(format!("{at}.company"), code, companies) {
                    Some(id) => Some(id),
                    None => continue,
                },
            };
            let Some(wanted) = self.permission_ids(&at, &r.permissions, permissions) else {
                continue;
            };
            let key = (company_id, r.codename.clone());
            let (id, mut outcome) = match existing.get(&key) {
                None => {
                    let m = role::ActiveModel {
                        name: Set(r.name.clone()),
                        codename: Set(r.codename.clone()),
                        description: Set(r.description.clone()),
                        company_id: Set(company_id),
                        is_system: Set(false),
                        is_active: Set(r.is_active),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    let id = m.id;
                    existing.insert(key, m);
                    (id, Outcome::Created)
                }
                Some(old)
                    if old.name == r.name
                        && old.description == r.description
                        && old.is_active == r.is_active =>
                {
                    (old.id, Outcome::Unchanged)
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.name = Set(r.name.clone());
                    am.description = Set(r.description.clone());
                    am.is_active = Set(r.is_active);
                    am.updated_at = Set(self.now);
                    let m = am.update(self.txn).await?;
                    (m.id, Outcome::Updated)
                }
            };
            if grants.get(&id).cloned().unwrap_or_default() != wanted {
                role_permission::Entity::delete_many()
                    .filter(role_permission::Column::RoleId.eq(id))
                    .exec(self.txn)
                    .await?;
                if !wanted.is_empty() {
                    role_permission::Entity::insert_many(wanted.iter().map(|p| {
                        role_permission::ActiveModel {
                            role_id: Set(id),
                            permission_id: Set(*p),
                        }
                    }))
                    .exec_without_returning(self.txn)
                    .await?;
                }
                if outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            report.roles.count(outcome);
        }
        Ok(existing.into_iter().map(|(k, v)| (k, v.id)).collect())
    }

    async fn groups(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        permissions: &PermissionIds,
        users: &UserIds,
        report: &mut LoadReport,
    ) -> Result<()> {
        let mut existing: HashMap<(i64, String), group::Model> = group::Entity::find()
            .all(self.txn)
            .await?
            .into_iter()
            .map(|g| ((g.company_id, g.codename.clone()), g))
            .collect();
        let mut grants: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for gp in group_permission::Entity::find().all(self.txn).await? {
            grants
                .entry(gp.group_id)
                .or_default()
                .insert(gp.permission_id);
        }
        // Group id -> (user id, active).
        let mut memberships: HashMap<i64, BTreeSet<(i64, bool)>> = HashMap::new();
        for ug in user_group::Entity::find().all(self.txn).await? {
            memberships
                .entry(ug.group_id)
                .or_default()
                .insert((ug.user_id, ug.is_active));
        }
        for (i, r) in d.groups.iter().enumerate() {
            let at = format!("groups[{i}]");
            (self.step)(1);
            let Some(company_id) = self.company_id(format!("{at}.company"), &r.company, companies)
            else {
                continue;
            };
            let wanted = self.permission_ids(&at, &r.permissions, permissions);
            let mut members = BTreeSet::new();
            let mut ok = wanted.is_some();
            for (k, name) in r.members.iter().enumerate() {
                match users.get(name) {
                    Some(id) => {
                        members.insert((*id, true));
                    }
                    None => {
                        self.problems.add(
                            format!("{at}.members[{k}]"),
                            format!("unknown user {name:?}"),
                        );
                        ok = false;
                    }
                }
            }
            let (true, Some(wanted)) = (ok, wanted) else {
                continue;
            };
            let key = (company_id, r.codename.clone());
            let (id, mut outcome) = match existing.get(&key) {
                None => {
                    let m = group::ActiveModel {
                        company_id: Set(company_id),
                        name: Set(r.name.clone()),
                        codename: Set(r.codename.clone()),
                        description: Set(r.description.clone()),
                        is_active: Set(r.is_active),
                        created_at: Set(self.now),
                        updated_at: Set(self.now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    let id = m.id;
                    existing.insert(key, m);
                    (id, Outcome::Created)
                }
                Some(old)
                    if old.name == r.name
                        && old.description == r.description
                        && old.is_active == r.is_active =>
                {
                    (old.id, Outcome::Unchanged)
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.name = Set(r.name.clone());
                    am.description = Set(r.description.clone());
                    am.is_active = Set(r.is_active);
                    am.updated_at = Set(self.now);
                    let m = am.update(self.txn).await?;
                    (m.id, Outcome::Updated)
                }
            };
            if grants.get(&id).cloned().unwrap_or_default() != wanted {
                group_permission::Entity::delete_many()
                    .filter(group_permission::Column::GroupId.eq(id))
                    .exec(self.txn)
                    .await?;
                if !wanted.is_empty() {
                    group_permission::Entity::insert_many(wanted.iter().map(|p| {
                        group_permission::ActiveModel {
                            group_id: Set(id),
                            permission_id: Set(*p),
                        }
                    }))
                    .exec_without_returning(self.txn)
                    .await?;
                }
                if outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            if memberships.get(&id).cloned().unwrap_or_default() != members {
                user_group::Entity::delete_many()
                    .filter(user_group::Column::GroupId.eq(id))
                    .exec(self.txn)
                    .await?;
                if !members.is_empty() {
                    user_group::Entity::insert_many(members.iter().map(|(user_id, _)| {
                        user_group::ActiveModel {
                            user_id: Set(*user_id),
                            group_id: Set(id),
                            is_active: Set(true),
                            joined_at: Set(self.now),
                        }
                    }))
                    .exec_without_returning(self.txn)
                    .await?;
                }
                if outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            report.groups.count(outcome);
        }
        Ok(())
    }

    async fn assignments(
        &mut self,
        d: &Parsed,
        companies: &CompanyIds,
        users: &UserIds,
        roles: &RoleIds,
        report: &mut LoadReport,
    ) -> Result<()> {
        let existing: HashMap<(i64, i64, i64), user_company_role::Model> =
            user_company_role::Entity::find()
                .all(self.txn)
                .await?
                .into_iter()
                .map(|a| ((a.user_id, a.company_id, a.role_id), a))
                .collect();
        for (i, r) in d.assignments.iter().enumerate() {
            let at = format!("assignments[{i}]");
            (self.step)(1);
            let user_id = users.get(&r.user).copied();
            if user_id.is_none() {
                self.problems
                    .add(format!("{at}.user"), format!("unknown user {:?}", r.user));
            }
            let company_id = self.company_id(format!("{at}.company"), &r.company, companies);
            let (Some(user_id), Some(company_id)) = (user_id, company_id) else {
                continue;
            };
            let role_key = (
                if r.global_role {
                    None
                } else {
                    Some(company_id)
                },
                r.role.clone(),
            );
            let Some(role_id) = roles.get(&role_key).copied() else {
                let message = if r.global_role {
                    format!("no global role {:?}", r.role)
                } else {
                    format!("company {} has no role {:?}", r.company, r.role)
                };
                self.problems.add(format!("{at}.role"), message);
                continue;
            };
            let outcome = match existing.get(&(user_id, company_id, role_id)) {
                None => {
                    user_company_role::ActiveModel {
                        user_id: Set(user_id),
                        company_id: Set(company_id),
                        role_id: Set(role_id),
                        is_default: Set(r.is_default),
                        is_active: Set(r.is_active),
                        assigned_at: Set(self.now),
                        assigned_by: Set(None),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    Outcome::Created
                }
                Some(old) if old.is_default == r.is_default && old.is_active == r.is_active => {
                    Outcome::Unchanged
                }
                Some(old) => {
                    let mut am = old.clone().into_active_model();
                    am.is_default = Set(r.is_default);
                    am.is_active = Set(r.is_active);
                    am.update(self.txn).await?;
                    Outcome::Updated
                }
            };
            report.assignments.count(outcome);
        }
        Ok(())
    }
}

/// The whole database as a document, every section sorted by its natural key. Password
/// hashes are left out unless `options` asks for them.
pub async fn export(fv: &Fastvue, options: ExportOptions) -> Result<Document> {
    // One read transaction: a consistent snapshot on PostgreSQL.
    let txn = fv.db().begin().await?;
    let companies = company::Entity::find().all(&txn).await?;
    let users = user::Entity::find().all(&txn).await?;
    let permissions = permission::Entity::find().all(&txn).await?;
    let roles = role::Entity::find().all(&txn).await?;
    let role_perms = role_permission::Entity::find().all(&txn).await?;
    let groups = group::Entity::find().all(&txn).await?;
    let group_perms = group_permission::Entity::find().all(&txn).await?;
    let members = user_group::Entity::find()
        .filter(user_group::Column::IsActive.eq(true))
        .all(&txn)
        .await?;
    let assignments = user_company_role::Entity::find().all(&txn).await?;
    txn.commit().await?;

    let code: HashMap<i64, &str> = companies.iter().map(|c| (c.id, c.code.as_str())).collect();
    let username: HashMap<i64, &str> = users.iter().map(|u| (u.id, u.username.as_str())).collect();
    let codename: HashMap<i64, &str> = permissions
        .iter()
        .map(|p| (p.id, p.codename.as_str()))
        .collect();
    let company_code = |id: Option<i64>| id.and_then(|i| code.get(&i)).map(|c| (*c).to_owned());
    let role_grants = names_by_owner(
        role_perms.iter().map(|rp| (rp.role_id, rp.permission_id)),
        &codename,
    );
    let group_grants = names_by_owner(
        group_perms.iter().map(|gp| (gp.group_id, gp.permission_id)),
        &codename,
    );
    let group_members = names_by_owner(members.iter().map(|m| (m.group_id, m.user_id)), &username);
    let role_by_id: HashMap<i64, &role::Model> = roles.iter().map(|r| (r.id, r)).collect();

    let mut doc = Document {
        companies: companies
            .iter()
            .map(|c| CompanyRecord {
                code: c.code.clone(),
                name: c.name.clone(),
                parent: company_code(c.parent_id),
                is_active: c.is_active,
            })
            .collect(),
        users: users
            .iter()
            .map(|u| UserRecord {
                username: u.username.clone(),
                email: u.email.clone(),
                full_name: u.full_name.clone(),
                is_active: u.is_active,
                is_superuser: u.is_superuser,
                current_company: company_code(u.current_company_id),
                password: None,
                password_hash: u
                    .password_hash
                    .clone()
                    .filter(|_| options.include_password_hashes),
            })
            .collect(),
        permissions: permissions
            .iter()
            .map(|p| PermissionRecord {
                codename: p.codename.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                category: p.category.clone(),
                is_active: p.is_active,
            })
            .collect(),
        roles: roles
            .iter()
            .map(|r| RoleRecord {
                company: company_code(r.company_id),
                codename: r.codename.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                is_active: r.is_active,
                permissions: role_grants.get(&r.id).cloned().unwrap_or_default(),
            })
            .collect(),
        groups: groups
            .iter()
            .map(|g| GroupRecord {
                company: code
                    .get(&g.company_id)
                    .map(|c| (*c).to_owned())
                    .unwrap_or_default(),
                codename: g.codename.clone(),
                name: g.name.clone(),
                description: g.description.clone(),
                is_active: g.is_active,
                permissions: group_grants.get(&g.id).cloned().unwrap_or_default(),
                members: group_members.get(&g.id).cloned().unwrap_or_default(),
            })
            .collect(),
        assignments: assignments
            .iter()
            .filter_map(|a| {
                let role = role_by_id.get(&a.role_id)?;
                Some(AssignmentRecord {
                    user: (*username.get(&a.user_id)?).to_owned(),
                    company: (*code.get(&a.company_id)?).to_owned(),
                    role: role.codename.clone(),
                    global_role: role.company_id.is_none(),
                    is_default: a.is_default,
                    is_active: a.is_active,
                })
            })
            .collect(),
        ..Document::default()
    };
    doc.companies.sort_by(|a, b| a.code.cmp(&b.code));
    doc.users.sort_by(|a, b| a.username.cmp(&b.username));
    doc.permissions.sort_by(|a, b| a.codename.cmp(&b.codename));
    // Global templates first, then by company and codename.
    doc.roles.sort_by(|a, b| {
        (a.company.is_some(), &a.company, &a.codename).cmp(&(
            b.company.is_some(),
            &b.company,
            &b.codename,
        ))
    });
    doc.groups
        .sort_by(|a, b| (&a.company, &a.codename).cmp(&(&b.company, &b.codename)));
    doc.assignments.sort_by(|a, b| {
        (&a.user, &a.company, &a.role, a.global_role).cmp(&(
            &b.user,
            &b.company,
            &b.role,
            b.global_role,
        ))
    });
    Ok(doc)
}

/// Owner id -> sorted names of the linked ids (a role's permissions, a group's members).
fn names_by_owner(
    links: impl Iterator<Item = (i64, i64)>,
    names: &HashMap<i64, &str>,
) -> HashMap<i64, Vec<String>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (owner, linked) in links {
        if let Some(name) = names.get(&linked) {
            out.entry(owner).or_default().push((*name).to_owned());
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}
