//! `/roles`: company roles and global templates (`company_id` null), and their permission sets.
//!
//! Scoping: a non-superuser sees the roles of companies where it holds `role.read` plus every
//! global template, and changes only roles of companies where it holds the route's
//! permission (other roles answer 404). Global templates and system (seeded) roles are
//! changed by superusers only (403). Nobody but a superuser grants a permission it does not
//! hold itself in the role's company (403).
use chrono::{DateTime, Utc};
use fastvue_core::Fastvue;
use fastvue_core::entity::role;
use fastvue_core::pagination::Page;
use fastvue_core::service::roles::{NewRole, RoleFilter, RolePatch};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, Principal, audit_context, principal};
use crate::error::ApiError;
use crate::extract::{PageQuery, json_body, path_id, query};
use crate::openapi::ErrorBody;
use crate::state::app;

/// One page of a list: `{items, total, page, page_size, pages}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching the filters, over all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// Requested page size.
    pub page_size: u64,
    /// Number of pages.
    pub pages: u64,
}

impl<T> From<Page<T>> for PageOf<T> {
    fn from(p: Page<T>) -> Self {
        Self {
            items: p.items,
            total: p.total,
            page: p.page,
            page_size: p.page_size,
            pages: p.pages,
        }
    }
}

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
    /// The complete new set of permission codenames.
    pub permissions: Vec<String>,
}

/// 404 unless the caller holds `codename` in `company_id` (superusers always do).
pub(crate) async fn ensure_visible(
    p: &Principal,
    fv: &Fastvue,
    company_id: i64,
    codename: &str,
    entity: &str,
) -> Result<(), ApiError> {
    if p.can(fv, company_id, codename).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("{entity} not found")))
    }
}

/// 403 unless the caller holds `codename` in `company_id`, for a company named in a body.
pub(crate) async fn ensure_allowed_in(
    p: &Principal,
    fv: &Fastvue,
    company_id: i64,
    codename: &str,
) -> Result<(), ApiError> {
    if p.can(fv, company_id, codename).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "you lack `{codename}` in company {company_id}"
        )))
    }
}

/// The role `id` as the caller may change it with `codename`: 404 when unknown or in a
/// company outside the caller's scope, 403 for a global or system role unless superuser.
async fn writable(
    p: &Principal,
    fv: &Fastvue,
    id: i64,
    codename: &str,
) -> Result<role::Model, ApiError> {
    let r = fv.roles().get(id).await?;
    if let Some(c) = r.company_id {
        ensure_visible(p, fv, c, codename, "role").await?;
    }
    if !p.is_superuser() && (r.company_id.is_none() || r.is_system) {
        return Err(ApiError::forbidden(
            "global templates and system roles can be changed by superusers only",
        ));
    }
    Ok(r)
}

async fn detail(fv: &Fastvue, r: role::Model) -> Result<RoleDetail, ApiError> {
    let permissions = fv
        .roles()
        .permissions(r.id)
        .await?
        .into_iter()
        .map(|p| p.codename)
        .collect();
    Ok(RoleDetail {
        role: r.into(),
        permissions,
    })
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
    let p = principal(depot)?;
    p.require(&fv, "role.read").await?;
    let page = query::<PageQuery>(req)?.page()?;
    let q = query::<RoleQuery>(req)?;
    let scope = p.list_scope(&fv, "role.read", q.company_id).await?;
    let filter = RoleFilter {
        company_id: q.company_id,
        include_global: true,
        company_ids: if q.company_id.is_some() { None } else { scope },
        search: q.search,
        is_active: q.is_active,
    };
    let found = fv.roles().list(&filter, page).await?;
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
    let p = principal(depot)?;
    p.require(&fv, "role.create").await?;
    let body: CreateRole = json_body(req).await?;
    match body.company_id {
        Some(c) => {
            ensure_allowed_in(p, &fv, c, "role.create").await?;
            p.ensure_grantable(&fv, c, &body.permissions, &[]).await?;
        }
        None if !p.is_superuser() => {
            return Err(ApiError::forbidden(
                "global templates can be created by superusers only",
            ));
        }
        None => {}
    }
    let created = fv
        .roles()
        .create(
            &audit_context(req, depot),
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
    res.render(Json(detail(&fv, created).await?));
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
    let p = principal(depot)?;
    p.require(&fv, "role.read").await?;
    let id = path_id(req, "id")?;
    let r = fv.roles().get(id).await?;
    if let Some(c) = r.company_id {
        ensure_visible(p, &fv, c, "role.read", "role").await?;
    }
    res.render(Json(detail(&fv, r).await?));
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
    let p = principal(depot)?;
    p.require(&fv, "role.update").await?;
    let id = path_id(req, "id")?;
    let body: UpdateRole = json_body(req).await?;
    writable(p, &fv, id, "role.update").await?;
    let updated = fv
        .roles()
        .update(
            &audit_context(req, depot),
            id,
            RolePatch {
                name: body.name,
                description: body.description,
                is_active: body.is_active,
            },
        )
        .await?;
    res.render(Json(detail(&fv, updated).await?));
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
    let p = principal(depot)?;
    p.require(&fv, "role.update").await?;
    let id = path_id(req, "id")?;
    let body: PermissionSetIn = json_body(req).await?;
    let r = writable(p, &fv, id, "role.update").await?;
    if let Some(c) = r.company_id {
        let kept = fv.roles().permissions(id).await?;
        p.ensure_grantable(&fv, c, &body.permissions, &kept).await?;
    }
    let perms = fv
        .roles()
        .set_permissions(&audit_context(req, depot), id, &body.permissions)
        .await?;
    res.render(Json(RoleDetail {
        role: r.into(),
        permissions: perms.into_iter().map(|p| p.codename).collect(),
    }));
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
    let p = principal(depot)?;
    p.require(&fv, "role.delete").await?;
    let id = path_id(req, "id")?;
    writable(p, &fv, id, "role.delete").await?;
    fv.roles().delete(&audit_context(req, depot), id).await?;
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
