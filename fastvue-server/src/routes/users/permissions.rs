//! `/users/{id}/permissions`: a user's effective permissions, and why it holds one.

use salvo::prelude::*;

use super::{ExplainOut, ExplainQuery, PermissionsQuery, UserPermissions};
use crate::auth::actor;
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{path_id, query};
use crate::state::app;

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
