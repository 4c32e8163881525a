//! `/permissions`: the global `resource.action` catalogue, and `POST /permissions/check`.
//!
//! Permissions are global (not per company): the catalogue every company shares is
//! written by superusers only (403 for everyone else, whatever they hold), so no action
//! in one company can change grants in another; every change of a permission's activity
//! or existence is audited in each company whose roles or groups grant it. System
//! (seeded) permissions are never deleted (409). Decided by
//! `fastvue_core::service::permissions`.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fastvue_core::entity::permission;
use fastvue_core::service::permissions::{
    self as core_permissions, NewPermission, PermissionFilter, PermissionPatch,
};
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

/// A permission.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionOut {
    /// Id.
    pub id: i64,
    /// Unique `resource.action` codename.
    pub codename: String,
    /// Display name.
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// The part before the dot.
    pub resource: String,
    /// The part after the dot.
    pub action: String,
    /// Free grouping for UIs.
    pub category: Option<String>,
    /// Seeded permissions: changed by superusers only, never deleted.
    pub is_system: bool,
    /// Inactive permissions are granted to nobody.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl From<permission::Model> for PermissionOut {
    fn from(p: permission::Model) -> Self {
        Self {
            id: p.id,
            codename: p.codename,
            name: p.name,
            description: p.description,
            resource: p.resource,
            action: p.action,
            category: p.category,
            is_system: p.is_system,
            is_active: p.is_active,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Filters of `GET /permissions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PermissionQuery {
    /// Only this resource (the part before the dot).
    pub resource: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Substring of codename or name.
    pub search: Option<String>,
    /// Only active (true) or inactive (false) permissions.
    pub is_active: Option<bool>,
}

/// Body of `POST /permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePermission {
    /// `resource.action`: two parts of 1-50 lower-case letters, digits or `_`; unique.
    pub codename: String,
    /// Display name (1-200 characters).
    pub name: String,
    /// Longer description.
    pub description: Option<String>,
    /// Grouping for UIs (default: the resource).
    pub category: Option<String>,
}

/// Body of `PATCH /permissions/{id}` (the codename never changes).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePermission {
    /// New name.
    pub name: Option<String>,
    /// New description (an empty string clears it).
    pub description: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// Activate or deactivate (for everyone who could hold it, at once).
    pub is_active: Option<bool>,
}

/// How `POST /permissions/check` combines the results.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckMode {
    /// `allowed` when every permission is held.
    #[default]
    All,
    /// `allowed` when at least one is held.
    Any,
}

/// Body of `POST /permissions/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The user to check (default: the caller).
    pub user_id: Option<i64>,
    /// The company to check in (default: the active company).
    pub company_id: Option<i64>,
    /// Codenames to check (1 to 100); unknown ones are simply not held.
    pub permissions: Vec<String>,
    /// `all` (default) or `any`.
    #[serde(default)]
    pub mode: CheckMode,
}

/// Answer of `POST /permissions/check`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// The combined answer under `mode`.
    pub allowed: bool,
    /// Each codename asked about, and whether it is held.
    pub results: BTreeMap<String, bool>,
}

/// List permissions
///
/// Requires `permission.read`. The global catalogue, by codename.
#[utoipa::path(
    get,
    path = "/api/v1/permissions",
    tag = "permissions",
    params(PageQuery, PermissionQuery),
    responses(
        (status = 200, description = "A page of permissions", body = PageOf<PermissionOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `permission.read`", body = ErrorBody),
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
    let q = query::<PermissionQuery>(req)?;
    let filter = PermissionFilter {
        resource: q.resource,
        category: q.category,
        search: q.search,
        is_active: q.is_active,
    };
    let found = fv.permissions().list(a, &filter, page).await?;
    res.render(Json(PageOf::from(found.map(PermissionOut::from))));
    Ok(())
}

/// Create a permission
///
/// Superusers only (the catalogue is shared by every company). The new permission exists
/// for every company (superusers hold it at once; others once a role or group grants it).
#[utoipa::path(
    post,
    path = "/api/v1/permissions",
    tag = "permissions",
    request_body = CreatePermission,
    responses(
        (status = 201, description = "The new permission", body = PermissionOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a superuser", body = ErrorBody),
        (status = 409, description = "Codename taken", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
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
    let body: CreatePermission = json_body(req).await?;
    let created = fv
        .permissions()
        .create(
            a,
            NewPermission {
                codename: body.codename,
                name: body.name,
                description: body.description,
                category: body.category,
            },
        )
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(PermissionOut::from(created)));
    Ok(())
}

/// Get a permission
///
/// Requires `permission.read`.
#[utoipa::path(
    get,
    path = "/api/v1/permissions/{id}",
    tag = "permissions",
    params(("id" = i64, Path, description = "Permission id")),
    responses(
        (status = 200, description = "The permission", body = PermissionOut),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `permission.read`", body = ErrorBody),
        (status = 404, description = "Unknown permission", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    res.render(Json(PermissionOut::from(
        fv.permissions().get(a, id).await?,
    )));
    Ok(())
}

/// Update a permission
///
/// Superusers only (the catalogue is shared by every company). The change is global;
/// deactivating removes the permission from everyone at once and is audited in every
/// company that grants it.
#[utoipa::path(
    patch,
    path = "/api/v1/permissions/{id}",
    tag = "permissions",
    params(("id" = i64, Path, description = "Permission id")),
    request_body = UpdatePermission,
    responses(
        (status = 200, description = "The updated permission", body = PermissionOut),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a superuser", body = ErrorBody),
        (status = 404, description = "Unknown permission", body = ErrorBody),
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
    let body: UpdatePermission = json_body(req).await?;
    let updated = fv
        .permissions()
        .update(
            a,
            id,
            PermissionPatch {
                name: body.name,
                description: body.description,
                category: body.category,
                is_active: body.is_active,
            },
        )
        .await?;
    res.render(Json(PermissionOut::from(updated)));
    Ok(())
}

/// Delete a permission
///
/// Superusers only (the catalogue is shared by every company). System permissions cannot
/// be deleted (409). The deletion is global: every role and group granting it loses it at
/// once, audited in every company that granted it.
#[utoipa::path(
    delete,
    path = "/api/v1/permissions/{id}",
    tag = "permissions",
    params(("id" = i64, Path, description = "Permission id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a superuser", body = ErrorBody),
        (status = 404, description = "Unknown permission", body = ErrorBody),
        (status = 409, description = "System permission", body = ErrorBody),
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
    fv.permissions().delete(a, path_id(req, "id")?).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// Check permissions
///
/// Any authenticated user may check itself in its active company (no permission needed;
/// answered from the permission cache). Checking another user, or another company, requires
/// `permission.read` in the active company and in the company checked; a company outside
/// the caller's scope, or a user who is not a member of it, answers 404 (superusers may
/// check anyone anywhere). Unknown codenames are not held.
#[utoipa::path(
    post,
    path = "/api/v1/permissions/check",
    tag = "permissions",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The answer", body = CheckResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "No active company, or lacks `permission.read` to check others", body = ErrorBody),
        (status = 404, description = "User or company outside the caller's scope", body = ErrorBody),
        (status = 422, description = "No codenames, or more than 100", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn check(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let body: CheckRequest = json_body(req).await?;
    let answer = fv
        .permissions()
        .check(
            a,
            core_permissions::CheckRequest {
                user_id: body.user_id,
                company_id: body.company_id,
                permissions: body.permissions,
                mode: match body.mode {
                    CheckMode::All => core_permissions::CheckMode::All,
                    CheckMode::Any => core_permissions::CheckMode::Any,
                },
            },
        )
        .await?;
    res.render(Json(CheckResponse {
        allowed: answer.allowed,
        results: answer.results,
    }));
    Ok(())
}

/// The `/permissions` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("permissions")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(Router::with_path("check").post(check))
        .push(
            Router::with_path("{id}")
                .get(get)
                .patch(update)
                .delete(delete),
        )
}

/// OpenAPI of the `/permissions` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get, update, delete, check),
    components(schemas(
        PermissionOut,
        CreatePermission,
        UpdatePermission,
        CheckMode,
        CheckRequest,
        CheckResponse
    ))
)]
pub struct Api;
