//! The request and response bodies and query parameters of the `/users` routes.

use chrono::{DateTime, Utc};
use fastvue_core::entity::user;
use fastvue_core::permission::{Explanation, GrantPath};
use fastvue_core::service::assignments::AssignmentView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::grant_scope::Scope;

/// A user account (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// Id.
    pub id: i64,
    /// Email (lower-cased, unique).
    pub email: String,
    /// Username (unique).
    pub username: String,
    /// Full name.
    pub full_name: Option<String>,
    /// Inactive users cannot sign in and hold no permissions.
    pub is_active: bool,
    /// Superusers hold every permission in every company.
    pub is_superuser: bool,
    /// The company used when a request sends no `X-Company-ID`.
    pub current_company_id: Option<i64>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
    /// Deactivation time (the row is kept).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<user::Model> for UserOut {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            username: u.username,
            full_name: u.full_name,
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            current_company_id: u.current_company_id,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
            deleted_at: u.deleted_at,
        }
    }
}

/// Filters of `GET /users` (and `GET /companies/{id}/users`, without `company_id`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Substring of email, username or full name (case-insensitive).
    pub search: Option<String>,
    /// Only active (true) or inactive (false) users.
    pub is_active: Option<bool>,
    /// Only superusers (true) or regular users (false).
    pub is_superuser: Option<bool>,
    /// Only users holding an active role in this company (empty outside the caller's scope).
    pub company_id: Option<i64>,
    /// The order of numbered pages: `id` (default), `username`, `email`, `full_name`,
    /// `created_at` or `last_login_at`, prefixed with `-` for descending (then by id).
    /// Keyset pages (`cursor`) are by id only (422 otherwise).
    #[param(example = "-created_at")]
    pub sort: Option<String>,
}

/// Body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email address (unique).
    pub email: String,
    /// Username: 3-100 letters, digits, `_`, `.` or `-` (unique).
    pub username: String,
    /// Password (8-128 characters); omitted for accounts that sign in only through Google.
    pub password: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Active from the start (default true).
    pub is_active: Option<bool>,
    /// Superuser (default false). Only superusers may set it (403).
    pub is_superuser: Option<bool>,
    /// The company of the initial role (default: the active company). Needs `role.assign`
    /// and `user.create` there (403).
    pub company_id: Option<i64>,
    /// The initial role: a role of that company or a global template, granting nothing the
    /// caller lacks there (403). Required with `company_id`, and for every caller but a
    /// superuser (who may create a user without any role by leaving both out).
    pub role_id: Option<i64>,
    /// Marks the initial assignment as the user's default.
    #[serde(default)]
    pub is_default: bool,
    /// Where the initial role holds: `company` (default) or `subtree` (also in every
    /// company below `company_id`; a non-superuser needs the role's permissions over
    /// that whole subtree, else 403).
    #[serde(default)]
    pub scope: Scope,
}

/// Body of `PATCH /users/{id}`; absent fields are left as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New email.
    pub email: Option<String>,
    /// New username.
    pub username: Option<String>,
    /// New full name (an empty string clears it).
    pub full_name: Option<String>,
    /// New password (revokes the user's refresh tokens).
    pub password: Option<String>,
    /// Activate or deactivate (deactivation revokes the user's refresh tokens).
    pub is_active: Option<bool>,
    /// Grant or revoke superuser: superusers only (403).
    pub is_superuser: Option<bool>,
    /// New current company (a non-superuser: one where it holds `user.update`, else 403).
    pub current_company_id: Option<i64>,
}

/// A role held by a user in a company.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentOut {
    /// The assignment id (for `DELETE /users/{id}/roles/{assignment_id}`).
    pub id: i64,
    /// The user.
    pub user_id: i64,
    /// The company the role is held in.
    pub company_id: i64,
    /// The company's name.
    pub company_name: String,
    /// The role.
    pub role_id: i64,
    /// The role's codename.
    pub role_codename: String,
    /// The role's name.
    pub role_name: String,
    /// The user's default assignment.
    pub is_default: bool,
    /// Inactive assignments grant nothing.
    pub is_active: bool,
    /// When it was assigned.
    pub assigned_at: DateTime<Utc>,
    /// Who assigned it.
    pub assigned_by: Option<i64>,
    /// Where the role holds: in `company_id` only, or also in every company below it.
    pub scope: Scope,
}

impl From<AssignmentView> for AssignmentOut {
    fn from(v: AssignmentView) -> Self {
        let a = v.assignment;
        Self {
            id: a.id,
            user_id: a.user_id,
            company_id: a.company_id,
            company_name: v.company_name,
            role_id: a.role_id,
            role_codename: v.role_codename,
            role_name: v.role_name,
            is_default: a.is_default,
            is_active: a.is_active,
            assigned_at: a.assigned_at,
            assigned_by: a.assigned_by,
            scope: a.scope.into(),
        }
    }
}

/// Body of `POST /users/{id}/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRole {
    /// The company the role is held in (the caller needs `role.assign` there, else 403).
    pub company_id: i64,
    /// A role of that company or a global template (another company's role: 422).
    pub role_id: i64,
    /// Marks the assignment as the user's default.
    #[serde(default)]
    pub is_default: bool,
    /// `company` (default) or `subtree`: the role also holds in every company below
    /// `company_id`. A non-superuser needs the role's permissions over that whole subtree
    /// (through its own subtree-scoped grants), else 403.
    #[serde(default)]
    pub scope: Scope,
}

/// `?company_id=` of `GET /users/{id}/permissions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PermissionsQuery {
    /// The company (default: the caller's active company); 404 outside the caller's scope.
    pub company_id: Option<i64>,
}

/// A user's effective permissions in one company.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPermissions {
    /// The user.
    pub user_id: i64,
    /// The company.
    pub company_id: i64,
    /// Superusers hold every active permission.
    pub is_superuser: bool,
    /// Effective permission codenames, sorted.
    pub permissions: Vec<String>,
}

/// `?company_id=&permission=` of `GET /users/{id}/permissions/explain`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// The company (default: the caller's active company); 404 outside the caller's scope.
    pub company_id: Option<i64>,
    /// The permission codename to explain (required; 422 when missing or malformed).
    pub permission: Option<String>,
}

/// One way a user holds a permission.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantOut {
    /// `superuser`, `role` or `group`.
    #[serde(rename = "type")]
    #[schema(example = "role")]
    pub kind: &'static str,
    /// The role or group id (null for `superuser`).
    pub id: Option<i64>,
    /// The role or group name (null for `superuser`).
    pub name: Option<String>,
    /// From the company of the assignment (the group's company) down to the company
    /// asked about: one step when held there, more when inherited from above through a
    /// `subtree` grant; empty for `superuser`.
    pub path: Vec<PathStep>,
    /// Whether it is inherited from an ancestor company.
    pub inherited: bool,
    /// The path in words: `role Admin assigned on Holding, inherited by Holding › Retail ›
    /// Shop 12`.
    pub description: String,
}

/// A company on a grant's path.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathStep {
    /// Company id.
    pub id: i64,
    /// Company name.
    pub name: String,
}

impl From<GrantPath> for GrantOut {
    fn from(g: GrantPath) -> Self {
        let description = g.describe();
        let inherited = g.is_inherited();
        let (kind, id, name, path) = match g {
            GrantPath::Superuser => ("superuser", None, None, Vec::new()),
            GrantPath::Role { id, name, path } => ("role", Some(id), Some(name), path),
            GrantPath::Group { id, name, path } => ("group", Some(id), Some(name), path),
        };
        Self {
            kind,
            id,
            name,
            path: (path.into_iter())
                .map(|c| PathStep {
                    id: c.id,
                    name: c.name,
                })
                .collect(),
            inherited,
            description,
        }
    }
}

/// Why a user holds (or does not hold) a permission in a company.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainOut {
    /// The user.
    pub user_id: i64,
    /// The company.
    pub company_id: i64,
    /// The permission.
    pub permission: String,
    /// Whether the user holds it.
    pub granted: bool,
    /// Every grant path: the superuser flag, roles and groups.
    pub grants: Vec<GrantOut>,
    /// Why nothing is granted despite grant paths: `unknown permission`, `permission
    /// inactive`, `user inactive` or `company inactive`.
    pub blocked_by: Option<String>,
}

impl From<Explanation> for ExplainOut {
    fn from(e: Explanation) -> Self {
        Self {
            user_id: e.user_id,
            company_id: e.company_id,
            permission: e.permission,
            granted: e.granted,
            grants: e.grants.into_iter().map(GrantOut::from).collect(),
            blocked_by: e.blocked_by.map(str::to_owned),
        }
    }
}
