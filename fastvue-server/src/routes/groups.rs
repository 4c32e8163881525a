//! `/groups`: sets of users inside a company granting permissions to their members.
//!
//! Scoping (decided by `fastvue_core::service::groups`): a non-superuser sees and changes
//! only groups of companies where it holds the route's permission (others answer 404),
//! adds only members of the group's company, grants only permissions it holds itself in
//! that company, and never changes the permissions of someone holding more than itself
//! there (403).
use chrono::{DateTime, Utc};
use fastvue_core::entity::group;
use fastvue_core::service::groups::{self, GroupFilter, GroupPatch, Member, NewGroup};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{PageQuery, json_body, path_id, query};
use crate::grant_scope::Scope;
use crate::pages::PageOf;
use crate::routes::roles::PermissionSetIn;
use crate::state::app;

/// A group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    /// Id.
    pub id: i64,
    /// Owning company.
    pub company_id: i64,
    /// Display name.
    pub name: String,
    /// Codename, unique within the company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Inactive groups grant nothing.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl From<group::Model> for GroupOut {
    fn from(g: group::Model) -> Self {
        Self {
            id: g.id,
            company_id: g.company_id,
            name: g.name,
            codename: g.codename,
            description: g.description,
            is_active: g.is_active,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

/// A group with the codenames of the permissions it grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDetail {
    /// The group.
    #[serde(flatten)]
    pub group: GroupOut,
    /// Granted permission codenames, sorted.
    pub permissions: Vec<String>,
}

/// A member of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    /// User id.
    pub id: i64,
    /// Username.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Full name.
    pub full_name: Option<String>,
    /// Whether the account is active.
    pub is_active: bool,
    /// Where the membership holds: the group's company only, or also every company
    /// below it.
    pub scope: Scope,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        let u = m.user;
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            is_active: u.is_active,
            scope: m.scope.into(),
        }
    }
}

/// Filters of `GET /groups`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// Only this company's groups; 404 outside the caller's scope.
    pub company_id: Option<i64>,
    /// Substring of name or codename.
    pub search: Option<String>,
    /// Only active (true) or inactive (false) groups.
    pub is_active: Option<bool>,
}

/// Body of `POST /groups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Owning company (default: the active company; the caller needs `group.create` there).
    pub company_id: Option<i64>,
    /// Display name (1-100 characters).
    pub name: String,
    /// Codename: 2-100 lower-case letters, digits, `_` or `-`; unique within the company.
    pub codename: String,
    /// Longer description.
    pub description: Option<String>,
    /// Initial permission codenames (only ones the caller holds in that company).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Body of `PATCH /groups/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    /// New name.
    pub name: Option<String>,
    /// New description (an empty string clears it).
    pub description: Option<String>,
    /// Activate or deactivate (changes every member's permissions at once).
    pub is_active: Option<bool>,
}

/// Body of `POST /groups/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user to add: a member of the group's company (any user for superusers).
    pub user_id: i64,
    /// `company` (default): the group's permissions hold in its company; `subtree`: also
    /// in every company below it (a non-superuser needs the group's permissions over that
    /// whole subtree, else 403). Adding an existing member changes its scope.
    #[serde(default)]
    pub scope: Scope,
}

impl From<groups::GroupDetail> for GroupDetail {
    fn from(d: groups::GroupDetail) -> Self {
        Self {
            group: d.group.into(),
            permissions: d.permissions,
        }
    }
}

/// List groups
///
/// Requires `group.read`. Groups of the companies where the caller holds `group.read`, by name.
#[utoipa::path(
    get,
    path = "/api/v1/groups",
    tag = "groups",
    params(PageQuery, GroupQuery),
    responses(
        (status = 200, description = "A page of groups", body = PageOf<GroupOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.read`", body = ErrorBody),
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
    let q = query::<GroupQuery>(req)?;
    let filter = GroupFilter {
        company_id: q.company_id,
        search: q.search,
        is_active: q.is_active,
    };
    let found = fv.groups().list(a, &filter, page).await?;
    res.render(Json(PageOf::from(found.map(GroupOut::from))));
    Ok(())
}

/// Create a group
///
/// Requires `group.create` (in the active company, and in `company_id`, else 403). Initial
/// permissions must be held by the caller in that company (403 otherwise).
#[utoipa::path(
    post,
    path = "/api/v1/groups",
    tag = "groups",
    request_body = CreateGroup,
    responses(
        (status = 201, description = "The new group", body = GroupDetail),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.create` there, or escalation", body = ErrorBody),
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
    let body: CreateGroup = json_body(req).await?;
    let company_id = match body.company_id {
        Some(c) => c,
        None => a.active_company()?,
    };
    let created = fv
        .groups()
        .create(
            a,
            NewGroup {
                company_id,
                name: body.name,
                codename: body.codename,
                description: body.description,
                permissions: body.permissions,
            },
        )
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(GroupDetail::from(created)));
    Ok(())
}

/// Get a group
///
/// Requires `group.read` in the group's company. Includes the granted permission codenames.
#[utoipa::path(
    get,
    path = "/api/v1/groups/{id}",
    tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group", body = GroupDetail),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.read`", body = ErrorBody),
        (status = 404, description = "Unknown group or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let found = fv.groups().get(a, path_id(req, "id")?).await?;
    res.render(Json(GroupDetail::from(found)));
    Ok(())
}

/// Update a group
///
/// Requires `group.update` in the group's company. Deactivating a group removes its
/// permissions from every member at once.
#[utoipa::path(
    patch,
    path = "/api/v1/groups/{id}",
    tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "The updated group", body = GroupDetail),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.update`", body = ErrorBody),
        (status = 404, description = "Unknown group or outside the caller's scope", body = ErrorBody),
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
    let body: UpdateGroup = json_body(req).await?;
    let updated = fv
        .groups()
        .update(
            a,
            id,
            GroupPatch {
                name: body.name,
                description: body.description,
                is_active: body.is_active,
            },
        )
        .await?;
    res.render(Json(GroupDetail::from(updated)));
    Ok(())
}

/// Replace a group's permissions
///
/// Requires `group.update` in the group's company. Replaces the whole set; every member
/// sees the new set on its next request. A non-superuser may add only permissions it
/// holds itself in that company (403 naming the others). Unknown codenames: 422.
#[utoipa::path(
    put,
    path = "/api/v1/groups/{id}/permissions",
    tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = PermissionSetIn,
    responses(
        (status = 200, description = "The group with its new set", body = GroupDetail),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.update`, or escalation", body = ErrorBody),
        (status = 404, description = "Unknown group or outside the caller's scope", body = ErrorBody),
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
    let updated = fv
        .groups()
        .set_permissions(a, id, &body.permissions)
        .await?;
    res.render(Json(GroupDetail::from(updated)));
    Ok(())
}

/// Delete a group
///
/// Requires `group.delete` in the group's company. Members lose its permissions at once.
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}",
    tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.delete`", body = ErrorBody),
        (status = 404, description = "Unknown group or outside the caller's scope", body = ErrorBody),
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
    fv.groups().delete(a, path_id(req, "id")?).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// List a group's members
///
/// Requires `group.read` in the group's company. Active memberships, by user id.
#[utoipa::path(
    get,
    path = "/api/v1/groups/{id}/members",
    tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, description = "The members", body = Vec<MemberOut>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.read`", body = ErrorBody),
        (status = 404, description = "Unknown group or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn members(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let found: Vec<MemberOut> = fv
        .groups()
        .members(a, path_id(req, "id")?)
        .await?
        .into_iter()
        .map(MemberOut::from)
        .collect();
    res.render(Json(found));
    Ok(())
}

/// Add a member
///
/// Requires `group.update` in the group's company. The user must be a member (hold a role)
/// of that company, except for superusers; anyone else is 422 `user_id` like an unknown
/// user. Adding a member again re-activates the membership.
#[utoipa::path(
    post,
    path = "/api/v1/groups/{id}/members",
    tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = AddMember,
    responses(
        (status = 204, description = "Added"),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.update`, or escalation", body = ErrorBody),
        (status = 404, description = "Unknown group or outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Unknown user, or not a member of the company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn add_member(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let body: AddMember = json_body(req).await?;
    fv.groups()
        .add_member(a, id, body.user_id, body.scope.into())
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// Remove a member
///
/// Requires `group.update` in the group's company. 404 when the user is not a member.
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{id}/members/{user_id}",
    tag = "groups",
    params(
        ("id" = i64, Path, description = "Group id"),
        ("user_id" = i64, Path, description = "User id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `group.update`", body = ErrorBody),
        (status = 404, description = "Unknown group, outside the caller's scope, or not a member", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn remove_member(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let user_id = path_id(req, "user_id")?;
    fv.groups().remove_member(a, id, user_id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The `/groups` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("groups")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(
            Router::with_path("{id}")
                .get(get)
                .patch(update)
                .delete(delete)
                .push(Router::with_path("permissions").put(set_permissions))
                .push(
                    Router::with_path("members")
                        .get(members)
                        .post(add_member)
                        .push(Router::with_path("{user_id}").delete(remove_member)),
                ),
        )
}

/// OpenAPI of the `/groups` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list,
        create,
        get,
        update,
        set_permissions,
        delete,
        members,
        add_member,
        remove_member
    ),
    components(schemas(GroupOut, GroupDetail, MemberOut, CreateGroup, UpdateGroup, AddMember))
)]
pub struct Api;
