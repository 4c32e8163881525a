//! `/companies`: tenants, their hierarchy and their members.
//!
//! Every rule below is decided by `fastvue_core::service::companies`; the handlers only
//! adapt requests. The hierarchy is at most 32 levels deep (422 beyond).
//!
//! Scoping: every route first needs its permission in the active company (403). A
//! non-superuser then sees and changes only companies where it holds that same permission;
//! any other id answers 404, like an unknown one. A company named in a body (`parent_id`)
//! outside the caller's scope answers 403.
//!
//! Creating a company: a non-superuser creates only sub-companies, under a parent where it
//! holds `company.create` (a top-level company or a foreign parent is 403). It then gets,
//! in the same transaction, the most powerful seeded role of the new company (`admin`, else
//! `manager`, else `viewer`) whose permissions it holds in the parent, so it can manage
//! what it made without gaining a permission it lacked. Superusers get no role (they see
//! every company). Moving a company (`parent_id` in `PATCH`) follows the same rule: a
//! non-superuser needs `company.update` in the new parent and cannot make a company
//! top-level.
use chrono::{DateTime, Utc};
use fastvue_core::entity::company;
use fastvue_core::service::companies::{CompanyFilter, CompanyNode, CompanyPatch, NewCompany};
use fastvue_core::service::users::UserFilter;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{CursorQuery, PageQuery, Paging, json_body, paging, path_id, query};
use crate::pages::{CursorOf, ListOf, PageOf};
use crate::routes::users::UserOut;
use crate::state::app;

/// A company (tenant).
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyOut {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique code (upper-case).
    pub code: String,
    /// Parent company, if any.
    pub parent_id: Option<i64>,
    /// Inactive companies grant no permissions.
    pub is_active: bool,
    /// Members must sign in with a second factor.
    pub require_2fa: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
    /// Deactivation time (the row is kept).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<company::Model> for CompanyOut {
    fn from(c: company::Model) -> Self {
        Self {
            id: c.id,
            name: c.name,
            code: c.code,
            parent_id: c.parent_id,
            is_active: c.is_active,
            require_2fa: c.require_2fa,
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
        }
    }
}

/// A company of `GET /companies/tree` with its visible children.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyTreeNode {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique code (upper-case).
    pub code: String,
    /// Parent company (null for a root, or when the parent is not visible to the caller).
    pub parent_id: Option<i64>,
    /// Inactive companies grant no permissions.
    pub is_active: bool,
    /// Children, by name.
    #[schema(no_recursion)]
    pub children: Vec<CompanyTreeNode>,
}

impl From<CompanyNode> for CompanyTreeNode {
    fn from(n: CompanyNode) -> Self {
        Self {
            id: n.company.id,
            name: n.company.name,
            code: n.company.code,
            parent_id: n.company.parent_id,
            is_active: n.company.is_active,
            children: n.children.into_iter().map(Self::from).collect(),
        }
    }
}

/// Filters of `GET /companies`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyQuery {
    /// Substring of name or code (case-insensitive).
    pub search: Option<String>,
    /// Only active (true) or inactive (false) companies.
    pub is_active: Option<bool>,
    /// Only children of this company.
    pub parent_id: Option<i64>,
}

/// Filters of `GET /companies/{id}/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Substring of email, username or full name (case-insensitive).
    pub search: Option<String>,
    /// Only active (true) or inactive (false) users.
    pub is_active: Option<bool>,
}

/// Body of `POST /companies`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompany {
    /// Display name (1-200 characters).
    pub name: String,
    /// Unique code: 2-50 letters, digits, `_` or `-` (stored upper-case).
    pub code: String,
    /// Parent company. Required for non-superusers, who need `company.create` there (403).
    pub parent_id: Option<i64>,
    /// Active from the start (default true).
    pub is_active: Option<bool>,
    /// Members must sign in with a second factor (they enrol before getting tokens).
    pub require_2fa: Option<bool>,
}

/// Body of `PATCH /companies/{id}`; absent fields are left as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompany {
    /// New name.
    pub name: Option<String>,
    /// New code.
    pub code: Option<String>,
    /// New parent (a non-superuser needs `company.update` there); 0 makes the company
    /// top-level (superusers only). A parent that would make a cycle is 422.
    pub parent_id: Option<i64>,
    /// Activate or deactivate (deactivation drops every permission held in it).
    pub is_active: Option<bool>,
    /// Members must sign in with a second factor (they enrol before getting tokens).
    pub require_2fa: Option<bool>,
}

/// List companies
///
/// Requires `company.read`. A non-superuser sees the companies where it holds
/// `company.read`. Ordered by name.
#[utoipa::path(
    get,
    path = "/api/v1/companies",
    tag = "companies",
    params(PageQuery, CompanyQuery),
    responses(
        (status = 200, description = "A page of companies", body = PageOf<CompanyOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `company.read`", body = ErrorBody),
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
    let q = query::<CompanyQuery>(req)?;
    let filter = CompanyFilter {
        search: q.search,
        is_active: q.is_active,
        parent_id: q.parent_id,
        ids: None,
    };
    let found = fv.companies().list(a, &filter, page).await?;
    res.render(Json(PageOf::from(found.map(CompanyOut::from))));
    Ok(())
}

/// Create a company
///
/// Requires `company.create`. With it come the seeded roles `admin`, `manager` and
/// `viewer`. A non-superuser must name a `parent_id` where it holds `company.create`
/// (403) and gets the most powerful seeded role of the new company whose permissions it
/// holds in the parent.
#[utoipa::path(
    post,
    path = "/api/v1/companies",
    tag = "companies",
    request_body = CreateCompany,
    responses(
        (status = 201, description = "The new company", body = CompanyOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `company.create` here or in the parent, or a top-level company", body = ErrorBody),
        (status = 409, description = "Code taken", body = ErrorBody),
        (status = 422, description = "Invalid fields, unknown parent, or deeper than 32 levels", body = ErrorBody),
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
    let body: CreateCompany = json_body(req).await?;
    let created = fv
        .companies()
        .create(
            a,
            NewCompany {
                name: body.name,
                code: body.code,
                parent_id: body.parent_id,
                is_active: body.is_active,
                require_2fa: body.require_2fa,
            },
        )
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(CompanyOut::from(created)));
    Ok(())
}

/// Company tree
///
/// Requires `company.read`. The companies the caller can see, nested under their parents;
/// a visible company whose parent is not visible is a root.
#[utoipa::path(
    get,
    path = "/api/v1/companies/tree",
    tag = "companies",
    responses(
        (status = 200, description = "The visible companies as a forest", body = Vec<CompanyTreeNode>),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `company.read`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn tree(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let nodes = fv.companies().tree(a).await?;
    let out: Vec<CompanyTreeNode> = nodes.into_iter().map(CompanyTreeNode::from).collect();
    res.render(Json(out));
    Ok(())
}

/// Get a company
///
/// Requires `company.read` (in the active company and in this one).
#[utoipa::path(
    get,
    path = "/api/v1/companies/{id}",
    tag = "companies",
    params(("id" = i64, Path, description = "Company id")),
    responses(
        (status = 200, description = "The company", body = CompanyOut),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `company.read`", body = ErrorBody),
        (status = 404, description = "Unknown company or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let found = fv.companies().get(a, path_id(req, "id")?).await?;
    res.render(Json(CompanyOut::from(found)));
    Ok(())
}

/// Update a company
///
/// Requires `company.update` (in the active company and in this one). A non-superuser
/// moves a company only under a parent where it holds `company.update`, never to the top
/// level (403).
#[utoipa::path(
    patch,
    path = "/api/v1/companies/{id}",
    tag = "companies",
    params(("id" = i64, Path, description = "Company id")),
    request_body = UpdateCompany,
    responses(
        (status = 200, description = "The updated company", body = CompanyOut),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `company.update` here or in the new parent", body = ErrorBody),
        (status = 404, description = "Unknown company or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "Code taken", body = ErrorBody),
        (status = 422, description = "Invalid fields, unknown parent, a cycle, or deeper than 32 levels", body = ErrorBody),
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
    let body: UpdateCompany = json_body(req).await?;
    let updated = fv
        .companies()
        .update(
            a,
            id,
            CompanyPatch {
                name: body.name,
                code: body.code,
                parent_id: body.parent_id,
                is_active: body.is_active,
                require_2fa: body.require_2fa,
            },
        )
        .await?;
    res.render(Json(CompanyOut::from(updated)));
    Ok(())
}

/// Deactivate a company
///
/// Requires `company.delete` (in the active company and in this one). The company and its
/// rows are kept; nobody holds a permission in it any more.
#[utoipa::path(
    delete,
    path = "/api/v1/companies/{id}",
    tag = "companies",
    params(("id" = i64, Path, description = "Company id")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `company.delete`", body = ErrorBody),
        (status = 404, description = "Unknown company or outside the caller's scope", body = ErrorBody),
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
    fv.companies().deactivate(a, path_id(req, "id")?).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// List a company's users
///
/// Requires `user.read` (in the active company and in this one). The users holding an
/// active role in the company, ordered by id.
#[utoipa::path(
    get,
    path = "/api/v1/companies/{id}/users",
    tag = "companies",
    params(("id" = i64, Path, description = "Company id"), PageQuery, CursorQuery, MemberQuery),
    responses(
        (status = 200, description = "A page of the company's users (a keyset page with `cursor`)", body = ListOf<UserOut>),
        (status = 400, description = "Malformed id or parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read`", body = ErrorBody),
        (status = 404, description = "Unknown company or outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Bad page, page_size or cursor", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn users(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    let paging = paging(req)?;
    let q = query::<MemberQuery>(req)?;
    let filter = UserFilter {
        search: q.search,
        is_active: q.is_active,
        ..UserFilter::default()
    };
    let found = fv.users();
    let body = match paging {
        Paging::Numbered(page) => ListOf::Numbered(PageOf::from(
            found
                .of_company(a, id, &filter, page)
                .await?
                .map(UserOut::from),
        )),
        Paging::Scrolled(cursor) => ListOf::Scrolled(CursorOf::from(
            found
                .of_company_after(a, id, &filter, cursor)
                .await?
                .map(UserOut::from),
        )),
    };
    res.render(Json(body));
    Ok(())
}

/// The `/companies` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("companies")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(Router::with_path("tree").get(tree))
        .push(
            Router::with_path("{id}")
                .get(get)
                .patch(update)
                .delete(delete)
                .push(Router::with_path("users").get(users))
                .push(crate::routes::sessions::company_router())
                .push(crate::routes::invitations::company_router()),
        )
}

/// OpenAPI of the `/companies` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, tree, get, update, delete, users),
    components(schemas(CompanyOut, CompanyTreeNode, CreateCompany, UpdateCompany))
)]
pub struct Api;
