//! `/users/{id}/roles`: a user's role assignments (list, assign, remove).

use fastvue_core::service::assignments::NewAssignment;
use salvo::http::StatusCode;
use salvo::prelude::*;

use super::{AssignRole, AssignmentOut};
use crate::auth::actor;
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{json_body, path_id};
use crate::state::app;

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
