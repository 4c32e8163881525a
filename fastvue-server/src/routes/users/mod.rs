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
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::users::{NewUser, UserFilter, UserPatch, UserSort};
use salvo::http::StatusCode;
use salvo::prelude::*;

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{CursorQuery, PageQuery, Paging, json_body, paging, path_id, query};
use crate::pages::{CursorOf, ListOf, PageOf};
use crate::state::app;

mod assignments;
mod permissions;
mod types;

pub use types::{
    AssignRole, AssignmentOut, CreateUser, ExplainOut, ExplainQuery, GrantOut, PathStep,
    PermissionsQuery, UpdateUser, UserOut, UserPermissions, UserQuery,
};

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
                        .get(assignments::roles)
                        .post(assignments::assign)
                        .push(Router::with_path("{assignment_id}").delete(assignments::unassign)),
                )
                .push(
                    Router::with_path("permissions")
                        .get(permissions::permissions)
                        .push(Router::with_path("explain").get(permissions::explain)),
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
        assignments::roles,
        assignments::assign,
        assignments::unassign,
        permissions::permissions,
        permissions::explain
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
