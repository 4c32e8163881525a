//! `/roles`: company roles and global templates (`company_id` null), and their permission sets.
//!
//! Scoping (decided by `fastvue_core::service::roles`): a non-superuser sees the roles of
//! companies where it holds `role.read` plus every global template, and changes only roles
//! of companies where it holds the route's permission (other roles answer 404). Global
//! templates and system (seeded) roles are changed by superusers only (403). Nobody but a
//! superuser grants a permission it does not hold itself in the role's company, or changes
//! the permissions of someone holding more than itself there (403).
use chrono::{DateTime, Utc};
use fastvue_core::entity::role;
use fastvue_core::service::roles::{self, NewRole, RoleFilter, RolePatch};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{PageQuery, json_body, path_id, query};
use crate::pages::PageOf;
use crate::state::app;

/// A role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleOut {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Codename, unique within its company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Owning company; null for a global template.
    pub company_id: Option<i64>,
    /// Seeded roles: changed by superusers only, never deleted.
    pub is_system: bool,
    /// Inactive roles grant nothing.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl From<role::Model> for RoleOut {
    fn from(r: role::Model) -> Self {
        Self {
            id: r.id,
            name: r.name,
            codename: r.codename,
            description: r.description,
            company_id: r.company_id,
            is_system: r.is_system,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A role with the codenames of the permissions it grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDetail {
    /// The role.
    #[serde(flatten)]
    pub role: RoleOut,
    /// Granted permission codenames, sorted.
    pub permissions: Vec<String>,
}

/// Filters of `GET /roles`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleQuery {
    /// Only this company's roles (plus the global templates); 404 outside the caller's scope.
    pub company_id: Option<i64>,
    /// Substring of name or codename.
    pub search: Option<String>,
    /// Only active (true) or inactive (false) roles.
    pub is_active: Option<bool>,
}

/// Body of `POST /roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Display name (1-100 characters).
    pub name: String,
    /// Codename: 2-100 lower-case letters, digits, `_` or `-`; unique within the company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Owning company (the caller needs `role.create` there); omitted or null makes a
    /// global template (superusers only).
    pub company_id: Option<i64>,
    /// Initial permission codenames (only ones the caller holds in that company).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Body of `PATCH /roles/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    /// New name.
    pub name: Option<String>,
    /// New description (an empty string clears it).
    pub description: Option<String>,
    /// Activate or deactivate (changes every holder's permissions at once).
    pub is_active: Option<bool>,
}

/// Body of `PUT /roles/{id}/permissions` and `PUT /groups/{id}/permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionSetIn {
    /// The complete new set of permission codenames (at most 2,000).
    pub permissions: Vec<String>,
}

impl From<roles::RoleDetail> for RoleDetail {
    fn from(d: roles::RoleDetail) -> Self {
        Self {
            role: d.role.into(),
            permissions: d.permissions,
        }
    }
}

/// List roles
///
/// Requires `role.read`. Roles of the companies where the caller holds `role.read`, plus
/// the global templates, by name.
#[utoipa::path(
    get,
    path = "/api/v1/roles",
    tag = "roles",
    params(PageQuery, RoleQuery),
    responses(
        (status = 200, description = "A page of roles", body = PageOf<RoleOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.read`", body = ErrorBody),
        (status = 404, description = "company_id outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Bad page or page_size", body = ErrorBody),
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
    let page = query::<PageQuery>(req)?.page()?;
    let q = query::<RoleQuery>(req)?;
    let filter = RoleFilter {
        company_id: q.company_id,
        include_global: true,
        search: q.search,
        is_active: q.is_active,
    };
    let found = fv.roles().list(a, &filter, page).await?;
    res.render(Json(PageOf::from(found.map(RoleOut::from))));
    Ok(())
}

/// Create a role
///
/// Requires `role.create` (in the active company, and in `company_id`, else 403). A global
/// template (no `company_id`) is created by superusers only. Initial permissions must be
/// held by the caller in that company (403 otherwise).
#[utoipa::path(
    post,
    path = "/api/v1/roles",
    tag = "roles",
    request_body = CreateRole,
    responses(
        (status = 201, description = "The new role", body = RoleDetail),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.create` there, global role, or escalation", body = ErrorBody),
        (status = 409, description = "Codename taken in that company", body = ErrorBody),
        (status = 422, description = "Invalid fields or unknown permission", body = ErrorBody),
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
    let body: CreateRole = json_body(req).await?;
    let created = fv
        .roles()
        .create(
            a,
            NewRole {
                name: body.name,
                codename: body.codename,
                description: body.description,
                company_id: body.company_id,
                permissions: body.permissions,
            },
        )
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(RoleDetail::from(created)));
    Ok(())
}

/// Get a role
///
/// Requires `role.read` (in the role's company; global templates are visible to every
/// holder of `role.read`). Includes the granted permission codenames.
#[utoipa::path(
    get,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    params(("id" = i64, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = RoleDetail),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.read`", body = ErrorBody),
        (status = 404, description = "Unknown role or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    res.render(Json(RoleDetail::from(fv.roles().get(a, id).await?)));
    Ok(())
}

/// Update a role
///
/// Requires `role.update` in the role's company. Global templates and system roles:
/// superusers only. Deactivating a role removes its permissions from every holder at once.
#[utoipa::path(
    patch,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    params(("id" = i64, Path, description = "Role id")),
    request_body = UpdateRole,
    responses(
        (status = 200, description = "The updated role", body = RoleDetail),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.update`, or a global/system role", body = ErrorBody),
        (status = 404, description = "Unknown role or outside the caller's scope", body = ErrorBody),
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
    let body: UpdateRole = json_body(req).await?;
    let updated = fv
        .roles()
        .update(
            a,
            id,
            RolePatch {
                name: body.name,
                description: body.description,
                is_active: body.is_active,
            },
        )
        .await?;
    res.render(Json(RoleDetail::from(updated)));
    Ok(())
}

/// Replace a role's permissions
///
/// Requires `role.update` in the role's company. Replaces the whole set; every holder sees
/// the new set on its next request. A non-superuser may add only permissions it holds
/// itself in that company (403 naming the others); global templates and system roles:
/// superusers only. Unknown codenames: 422.
#[utoipa::path(
    put,
    path = "/api/v1/roles/{id}/permissions",
    tag = "roles",
    params(("id" = i64, Path, description = "Role id")),
    request_body = PermissionSetIn,
    responses(
        (status = 200, description = "The role with its new set", body = RoleDetail),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.update`, global/system role, or escalation", body = ErrorBody),
        (status = 404, description = "Unknown role or outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Malformed or unknown codename", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn set_permissions(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let body: PermissionSetIn = json_body(req).await?;
    let updated = fv.roles().set_permissions(a, id, &body.permissions).await?;
    res.render(Json(RoleDetail::from(updated)));
    Ok(())
}

/// Delete a role
///
/// Requires `role.delete` in the role's company. Removes its assignments; holders lose its
/// permissions at once. System roles cannot be deleted (409); global templates and system
/// roles are superuser business (403 for others).
#[utoipa::path(
    delete,
    path = "/api/v1/roles/{id}",
    tag = "roles",
    params(("id" = i64, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `role.delete`, or a global/system role", body = ErrorBody),
        (status = 404, description = "Unknown role or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "System role", body = ErrorBody),
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
    let id = path_id(req, "id")?;
    fv.roles().delete(a, id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The `/roles` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("roles")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(
            Router::with_path("{id}")
                .get(get)
                .patch(update)
                .delete(delete)
                .push(Router::with_path("permissions").put(set_permissions)),
        )
}

/// OpenAPI of the `/roles` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get, update, set_permissions, delete),
    components(schemas(RoleOut, RoleDetail, CreateRole, UpdateRole, PermissionSetIn))
)]
pub struct Api;
