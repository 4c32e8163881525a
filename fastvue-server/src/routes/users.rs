//! `/users`: accounts, their role assignments and their effective permissions.
//!
//! Every rule below is decided by `fastvue_core::service::users` and `::assignments`;
//! the handlers only adapt requests.
//!
//! Scoping: every route first needs its permission in the active company (403). A
//! non-superuser then sees and changes only users who hold an active role in a company
//! where the caller holds that same permission; any other id answers 404, like an unknown
//! one. A company named in a body (`company_id` of an assignment) outside the caller's
//! scope answers 403; one named in a query (`?company_id=`) answers 404.
//!
//! Escalation rules (403):
//! - only superusers set `is_superuser` on a new user, or change it on an existing one
//!   (sending the current value is accepted as a no-op);
//! - a superuser's account is changed or deactivated by superusers only (it is usually
//!   invisible to others, 404; a superuser who also holds a role in the caller's company
//!   is visible and answers 403);
//! - a non-superuser changes or deactivates only accounts whose permissions (through roles
//!   and groups, in every company) it holds itself in those companies, so a password
//!   reset cannot take over a more powerful account, here or in another company;
//! - assigning or removing a role needs `role.assign` in that company and every permission
//!   the role grants (a role of another company is 422);
//! - your own password changes only through `POST /auth/change-password`, which asks for
//!   the current one (a `password` in `PATCH /users/{your id}` is 403);
//! - an email changed by someone else unlinks the account's Google links and cannot be
//!   used by Google sign-in to link itself to the account.
//!
//! A non-superuser creating a user must give `role_id` (and optionally `company_id`,
//! default the active company): an account without a role in the caller's companies would
//! be invisible to its creator. The account and its assignment are created atomically.
use chrono::{DateTime, Utc};
use fastvue_core::entity::user;
use fastvue_core::permission::{Explanation, GrantPath};
use fastvue_core::service::assignments::{AssignmentView, NewAssignment};
use fastvue_core::service::users::{NewUser, UserFilter, UserPatch, UserSort};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::extract::{CursorQuery, PageQuery, Paging, json_body, paging, path_id, query};
use crate::grant_scope::Scope;
use crate::openapi::ErrorBody;
use crate::pages::{CursorOf, ListOf, PageOf};
use crate::state::app;

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

/// List users
///
/// Requires `user.read`. A non-superuser sees the users holding an active role in a
/// company where it holds `user.read`. Ordered by id, or by `sort`.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(PageQuery, CursorQuery, UserQuery),
    responses(
        (status = 200, description = "A page of users (a keyset page with `cursor`)", body = ListOf<UserOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 422, description = "Bad page, page_size, cursor or sort", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn list(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let paging = paging(req)?;
    let q = query::<UserQuery>(req)?;
    let filter = UserFilter {
        search: q.search,
        is_active: q.is_active,
        is_superuser: q.is_superuser,
        company_id: q.company_id,
        company_ids: None,
        sort: q
            .sort
            .as_deref()
            .map(UserSort::parse)
            .transpose()?
            .unwrap_or_default(),
    };
    let users = fv.users();
    let body = match paging {
        Paging::Numbered(page) => ListOf::Numbered(PageOf::from(
            users.list(a, &filter, page).await?.map(UserOut::from),
        )),
        Paging::Scrolled(cursor) => ListOf::Scrolled(CursorOf::from(
            users
                .list_after(a, &filter, cursor)
                .await?
                .map(UserOut::from),
        )),
    };
    res.render(Json(body));
    Ok(())
}

/// Create a user
///
/// Requires `user.create`. The user gets the role `role_id` in `company_id` (default: the
/// active company), atomically; a non-superuser must name a role, needs `user.create` and
/// `role.assign` in that company and may not grant a permission it lacks there (403).
/// Only superusers set `is_superuser` (403).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The new user", body = UserOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.create` or `role.assign` there, is_superuser, or escalation", body = ErrorBody),
        (status = 409, description = "Email or username taken", body = ErrorBody),
        (status = 422, description = "Invalid fields, missing role_id, or a role of another company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn create(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let body: CreateUser = json_body(req).await?;
    let new = NewUser {
        email: body.email,
        username: body.username,
        password: body.password,
        full_name: body.full_name,
        is_active: body.is_active,
        is_superuser: body.is_superuser,
        current_company_id: None,
    };
    let assignment = match (body.role_id, body.company_id.or(a.company_id())) {
        (Some(role_id), Some(company_id)) => Some(NewAssignment {
            company_id,
            role_id,
            is_default: body.is_default,
            scope: body.scope.into(),
        }),
        (Some(_), None) => {
            return Err(fastvue_core::Error::invalid(
                "company_id",
                fastvue_core::error::Problem::new(
                    "required",
                    "is required without an active company",
                ),
            )
            .into());
        }
        (None, Some(_)) if body.company_id.is_some() => {
            return Err(fastvue_core::Error::invalid(
                "role_id",
                fastvue_core::error::Problem::new("required", "is required with company_id"),
            )
            .into());
        }
        (None, _) => None,
    };
    let (created, _) = fv.users().create_with_role(a, new, assignment).await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(UserOut::from(created)));
    Ok(())
}

/// Get a user
///
/// Requires `user.read` (in the active company and in one of the user's companies).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserOut),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let found = fv.users().get(a, path_id(req, "id")?).await?;
    res.render(Json(UserOut::from(found)));
    Ok(())
}

/// Update a user
///
/// Requires `user.update` (in the active company and in one of the user's companies).
/// Only superusers change `is_superuser` or a superuser's account; a non-superuser changes
/// only accounts whose permissions it holds itself in each of their companies (403). A new
/// password or deactivation revokes the user's refresh tokens; nobody deactivates itself
/// (409).
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The updated user", body = UserOut),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.update`, is_superuser, escalation, or your own password (use /auth/change-password)", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "Email or username taken, or deactivating oneself", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn update(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let body: UpdateUser = json_body(req).await?;
    let patch = UserPatch {
        email: body.email,
        username: body.username,
        full_name: body.full_name,
        password: body.password,
        is_active: body.is_active,
        is_superuser: body.is_superuser,
        current_company_id: body.current_company_id,
    };
    let updated = fv.users().update(a, id, patch).await?;
    res.render(Json(UserOut::from(updated)));
    Ok(())
}

/// Deactivate a user
///
/// Requires `user.delete` (in the active company and in one of the user's companies). The
/// account is kept but can no longer sign in; its permissions are dropped and its refresh
/// tokens revoked at once. Same escalation rules as `PATCH`; nobody deactivates itself (409).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.delete`, or escalation", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "Deactivating oneself", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn delete(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    fv.users().deactivate(a, path_id(req, "id")?).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// List a user's roles
///
/// Requires `user.read`. A non-superuser sees only the assignments in companies where it
/// holds `user.read`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/roles",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user's role assignments", body = Vec<AssignmentOut>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn roles(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let views = fv.assignments().of_user(a, path_id(req, "id")?).await?;
    let out: Vec<AssignmentOut> = views.into_iter().map(AssignmentOut::from).collect();
    res.render(Json(out));
    Ok(())
}

/// Assign a role
///
/// Requires `role.assign` in the active company, in `company_id` (403 otherwise, also for
/// a company the caller cannot see) and in one of the user's companies (404 otherwise).
/// The role must belong to `company_id` or be a global template (422), and grant nothing
/// the caller lacks in that company (403).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/roles",
    tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = AssignRole,
    responses(
        (status = 201, description = "The new assignment", body = AssignmentOut),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.assign` there, or escalation", body = ErrorBody),
        (status = 404, description = "Unknown user or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "The user already holds this role there", body = ErrorBody),
        (status = 422, description = "Unknown company or role, or a role of another company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn assign(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let body: AssignRole = json_body(req).await?;
    let made = fv
        .assignments()
        .assign(
            a,
            id,
            NewAssignment {
                company_id: body.company_id,
                role_id: body.role_id,
                is_default: body.is_default,
                scope: body.scope.into(),
            },
        )
        .await?;
    let view = fv.assignments().view(made).await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(AssignmentOut::from(view)));
    Ok(())
}

/// Remove a role assignment
///
/// Requires `role.assign` in the active company and in the assignment's company (404
/// otherwise); removing a role that grants something the caller lacks there is 403.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/roles/{assignment_id}",
    tag = "users",
    params(
        ("id" = i64, Path, description = "User id"),
        ("assignment_id" = i64, Path, description = "Assignment id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.assign`, or escalation", body = ErrorBody),
        (status = 404, description = "Unknown user or assignment, or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn unassign(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let assignment_id = path_id(req, "assignment_id")?;
    fv.assignments().unassign(a, id, assignment_id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// A user's permissions
///
/// Requires `user.read` (in the active company, in `company_id` and in one of the user's
/// companies; 404 otherwise). The user's effective permission codenames in `company_id`
/// (default: the caller's active company).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/permissions",
    tag = "users",
    params(("id" = i64, Path, description = "User id"), PermissionsQuery),
    responses(
        (status = 200, description = "The effective permissions", body = UserPermissions),
        (status = 400, description = "Malformed id or parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown user or company, or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn permissions(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let q = query::<PermissionsQuery>(req)?;
    let (target, company_id, codenames) = fv.users().permissions(a, id, q.company_id).await?;
    res.render(Json(UserPermissions {
        user_id: id,
        company_id,
        is_superuser: target.is_superuser,
        permissions: codenames.iter().map(|c| c.to_string()).collect(),
    }));
    Ok(())
}

/// Explain a permission
///
/// Requires `user.read` (as for `GET /users/{id}/permissions`). Whether the user holds
/// `permission` in `company_id` and through which roles, groups or superuser flag, and
/// what blocks it (an inactive user, company or permission).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/permissions/explain",
    tag = "users",
    params(("id" = i64, Path, description = "User id"), ExplainQuery),
    responses(
        (status = 200, description = "The grant paths", body = ExplainOut),
        (status = 400, description = "Malformed id or parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown user or company, or outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Missing or malformed permission", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn explain(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let q = query::<ExplainQuery>(req)?;
    let explanation = fv
        .users()
        .explain(
            a,
            id,
            q.company_id,
            q.permission.as_deref().unwrap_or_default(),
        )
        .await?;
    res.render(Json(ExplainOut::from(explanation)));
    Ok(())
}

/// The `/users` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("users")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(
            Router::with_path("{id}")
                .get(get)
                .patch(update)
                .delete(delete)
                .push(
                    Router::with_path("roles")
                        .get(roles)
                        .post(assign)
                        .push(Router::with_path("{assignment_id}").delete(unassign)),
                )
                .push(
                    Router::with_path("permissions")
                        .get(permissions)
                        .push(Router::with_path("explain").get(explain)),
                )
                .push(crate::routes::two_factor::user_router())
                .push(crate::routes::sessions::user_router()),
        )
}

/// OpenAPI of the `/users` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list,
        create,
        get,
        update,
        delete,
        roles,
        assign,
        unassign,
        permissions,
        explain
    ),
    components(schemas(
        UserOut,
        CreateUser,
        UpdateUser,
        AssignmentOut,
        AssignRole,
        UserPermissions,
        GrantOut,
        ExplainOut
    ))
)]
pub struct Api;
