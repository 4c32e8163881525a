//! The [`Document`] format: its records and their JSON.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::FORMAT_VERSION;

fn format_version() -> u32 {
    FORMAT_VERSION
}

fn yes() -> bool {
    true
}

use crate::entity::grant_scope::GrantScope;
use crate::entity::menu::PermissionMode;

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
    /// Menu entries (with `clear`, a document without any keeps the global entries).
    #[serde(default)]
    pub menus: Vec<MenuRecord>,
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
            menus: Vec::new(),
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
    /// Members must sign in with a second factor (default false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_2fa: bool,
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
    /// Usernames of the active members whose membership holds in the group's company
    /// and every company below it (`subtree` scope); a user is listed in `members` or
    /// here, not both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtree_members: Vec<String>,
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
    /// `company` (the default) or `subtree`: the role holds in that company and every
    /// company below it.
    #[serde(default, skip_serializing_if = "is_company_scope")]
    pub scope: GrantScope,
}

fn is_company_scope(s: &GrantScope) -> bool {
    *s == GrantScope::Company
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
            self.menus.len(),
        ]
        .iter()
        .sum::<usize>() as u64
    }
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

fn is_any(m: &PermissionMode) -> bool {
    *m == PermissionMode::Any
}

/// A menu entry, by (`company` code, or none for a global entry, plus `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuRecord {
    /// Owning company's code; omitted for a global entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Name, unique within the company.
    pub name: String,
    /// Name of the parent entry: of the same company, else a global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Route path; omitted for a section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Title.
    pub title: String,
    /// Translation key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i18n_key: Option<String>,
    /// Icon name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Position among siblings.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub order: i32,
    /// Permission codenames that show it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// `any` (default) or `all`.
    #[serde(default, skip_serializing_if = "is_any")]
    pub permission_mode: PermissionMode,
    /// Active (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub is_active: bool,
}
