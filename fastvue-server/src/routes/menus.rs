//! `/menus`: the menu entries an admin frontend builds its navigation from (global ones
//! and each company's), and `GET /auth/me/menus`, the caller's own tree.
//!
//! Rules (decided by `fastvue_core::service::menus`): `menu.*` in the entry's company;
//! global entries are written by superusers only; a non-superuser gates entries only on
//! permissions it holds there and changes only entries gated on permissions it holds
//! (403). An entry with children is not deleted (409). Menus decide what a frontend
//! shows, never what a caller may do: every route checks its own permission.
use chrono::{DateTime, Utc};
use fastvue_core::entity::menu::{self, PermissionMode};
use fastvue_core::service::menus::{MenuFilter, MenuPatch, MenuTree, NewMenu};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor};
use crate::conditional::answered_unchanged;
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{PageQuery, json_body, path_id, query};
use crate::pages::PageOf;
use crate::state::app;

/// How an entry's permissions show it: `any` one of them, or `all`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Holders of any one of the permissions.
    Any,
    /// Holders of all of them.
    All,
}

impl From<Mode> for PermissionMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Any => PermissionMode::Any,
            Mode::All => PermissionMode::All,
        }
    }
}

impl From<PermissionMode> for Mode {
    fn from(m: PermissionMode) -> Self {
        match m {
            PermissionMode::Any => Mode::Any,
            PermissionMode::All => Mode::All,
        }
    }
}

/// A menu entry, as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MenuOut {
    /// Id.
    pub id: i64,
    /// Owning company; null for a global entry (shown in every company).
    pub company_id: Option<i64>,
    /// Parent entry (null at the top).
    pub parent_id: Option<i64>,
    /// Name, unique within its company (a route name).
    pub name: String,
    /// Route path; null for a section that only groups its children.
    pub path: Option<String>,
    /// Title shown.
    pub title: String,
    /// Translation key of the title.
    pub i18n_key: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// Position among siblings (ascending, then by id).
    pub order: i32,
    /// Permission codenames that show it, sorted (empty: every member).
    pub permissions: Vec<String>,
    /// Whether any or all of them must be held.
    pub permission_mode: Mode,
    /// Inactive entries (and their children) are shown to no one.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl From<menu::Model> for MenuOut {
    fn from(m: menu::Model) -> Self {
        Self {
            permissions: m.codenames().map(str::to_owned).collect(),
            id: m.id,
            company_id: m.company_id,
            parent_id: m.parent_id,
            name: m.name,
            path: m.path,
            title: m.title,
            i18n_key: m.i18n_key,
            icon: m.icon,
            order: m.sort_order,
            permission_mode: m.permission_mode.into(),
            is_active: m.is_active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The caller's menu in one company (`GET /auth/me/menus`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MyMenus {
    /// The company.
    pub company_id: i64,
    /// Visible top-level entries by order, each with its visible children.
    pub items: Vec<MenuNodeOut>,
}

/// One visible entry of [`MyMenus`].
#[derive(Debug, Serialize, ToSchema)]
pub struct MenuNodeOut {
    /// Entry id.
    pub id: i64,
    /// Name (a route name).
    pub name: String,
    /// Route path; null for a section.
    pub path: Option<String>,
    /// Title.
    pub title: String,
    /// Translation key of the title.
    pub i18n_key: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// Position among siblings.
    pub order: i32,
    /// Visible children, by order.
    #[schema(no_recursion)]
    pub children: Vec<MenuNodeOut>,
}

impl From<fastvue_core::service::menus::MenuNode> for MenuNodeOut {
    fn from(n: fastvue_core::service::menus::MenuNode) -> Self {
        Self {
            id: n.id,
            name: n.name,
            path: n.path,
            title: n.title,
            i18n_key: n.i18n_key,
            icon: n.icon,
            order: n.order,
            children: n.children.into_iter().map(Self::from).collect(),
        }
    }
}

impl From<MenuTree> for MyMenus {
    fn from(t: MenuTree) -> Self {
        Self {
            company_id: t.company_id,
            items: t.items.into_iter().map(MenuNodeOut::from).collect(),
        }
    }
}

/// Filters of `GET /menus`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MenuQuery {
    /// Only this company's entries (plus the global ones); 404 outside the caller's scope.
    pub company_id: Option<i64>,
    /// Substring of name, title or path.
    pub search: Option<String>,
}

/// Query of `GET /auth/me/menus`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyMenusQuery {
    /// The company (default: the active company).
    pub company_id: Option<i64>,
}

/// Body of `POST /menus`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMenu {
    /// Owning company (the caller needs `menu.create` there); omitted or null makes a
    /// global entry (superusers only).
    pub company_id: Option<i64>,
    /// Parent entry: of the same company, or global. Menus nest at most 4 levels.
    pub parent_id: Option<i64>,
    /// Name: 2-100 lower-case letters, digits, `_` or `-`; unique within the company.
    pub name: String,
    /// Route path (`/users`, `/reports/:id`): starts with one `/`; letters, digits and
    /// `/ _ - . : ~`; at most 200. Omitted or empty: a section.
    pub path: Option<String>,
    /// Title (1-100 characters).
    pub title: String,
    /// Translation key (`menu.users`): letters, digits, `_ - .`; at most 100.
    pub i18n_key: Option<String>,
    /// Icon name: letters, digits, `_ - :`; at most 64.
    pub icon: Option<String>,
    /// Position among siblings (default 0; within ±100000).
    pub order: Option<i32>,
    /// Permission codenames that show it (at most 16, only ones the caller holds there);
    /// empty: every member of the company.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// `any` (default) or `all` of the permissions.
    pub permission_mode: Option<Mode>,
    /// Active (default true).
    pub is_active: Option<bool>,
}

/// Body of `PATCH /menus/{id}` (an empty string clears `path`, `i18n_key`, `icon`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMenu {
    /// New parent; 0 makes it a top-level entry.
    pub parent_id: Option<i64>,
    /// New name.
    pub name: Option<String>,
    /// New path.
    pub path: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New translation key.
    pub i18n_key: Option<String>,
    /// New icon.
    pub icon: Option<String>,
    /// New position.
    pub order: Option<i32>,
    /// New permissions, replacing the old.
    pub permissions: Option<Vec<String>>,
    /// New mode.
    pub permission_mode: Option<Mode>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
}

/// List menu entries
///
/// Requires `menu.read`. The entries of the companies where the caller holds `menu.read`,
/// and the global ones, by company, order and id.
#[utoipa::path(
    get,
    path = "/api/v1/menus",
    tag = "menus",
    params(PageQuery, MenuQuery),
    responses(
        (status = 200, description = "A page of entries", body = PageOf<MenuOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `menu.read`", body = ErrorBody),
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
    let q = query::<MenuQuery>(req)?;
    let filter = MenuFilter {
        company_id: q.company_id,
        include_global: true,
        search: q.search,
    };
    let found = fv.menus().list(a, &filter, page).await?;
    res.render(Json(PageOf::from(found.map(MenuOut::from))));
    Ok(())
}

/// Create a menu entry
///
/// Requires `menu.create` (in the active company and in `company_id`). Global entries:
/// superusers only. A non-superuser gates an entry only on permissions it holds there
/// (403 naming the others). Every member's open permission stream gets a `menus` event.
#[utoipa::path(
    post,
    path = "/api/v1/menus",
    tag = "menus",
    request_body = CreateMenu,
    responses(
        (status = 201, description = "The new entry", body = MenuOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `menu.create` there, a global entry, or permissions not held", body = ErrorBody),
        (status = 409, description = "Name taken in that company, or 500 entries already", body = ErrorBody),
        (status = 422, description = "Invalid fields, unknown permission, or a parent that cannot hold it", body = ErrorBody),
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
    let body: CreateMenu = json_body(req).await?;
    let created = fv
        .menus()
        .create(
            a,
            NewMenu {
                company_id: body.company_id,
                parent_id: body.parent_id,
                name: body.name,
                path: body.path,
                title: body.title,
                i18n_key: body.i18n_key,
                icon: body.icon,
                order: body.order,
                permissions: body.permissions,
                permission_mode: body.permission_mode.map(Into::into),
                is_active: body.is_active,
            },
        )
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(MenuOut::from(created)));
    Ok(())
}

/// Get a menu entry
///
/// Requires `menu.read` (in the entry's company; global entries are visible to every
/// holder of `menu.read`).
#[utoipa::path(
    get,
    path = "/api/v1/menus/{id}",
    tag = "menus",
    params(("id" = i64, Path, description = "Entry id")),
    responses(
        (status = 200, description = "The entry", body = MenuOut),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `menu.read`", body = ErrorBody),
        (status = 404, description = "Unknown entry or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let id = path_id(req, "id")?;
    res.render(Json(MenuOut::from(fv.menus().get(a, id).await?)));
    Ok(())
}

/// Update a menu entry
///
/// Requires `menu.update` in the entry's company; global entries: superusers only. A
/// non-superuser changes only entries gated on permissions it holds, and gates them only
/// on such. A new parent keeps the tree acyclic and at most 4 levels deep (422).
#[utoipa::path(
    patch,
    path = "/api/v1/menus/{id}",
    tag = "menus",
    params(("id" = i64, Path, description = "Entry id")),
    request_body = UpdateMenu,
    responses(
        (status = 200, description = "The updated entry", body = MenuOut),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `menu.update`, a global entry, or permissions not held", body = ErrorBody),
        (status = 404, description = "Unknown entry or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "Name taken in that company", body = ErrorBody),
        (status = 422, description = "Invalid fields, unknown permission, or a parent that cannot hold it", body = ErrorBody),
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
    let body: UpdateMenu = json_body(req).await?;
    let patch = MenuPatch {
        parent_id: body.parent_id,
        name: body.name,
        path: body.path,
        title: body.title,
        i18n_key: body.i18n_key,
        icon: body.icon,
        order: body.order,
        permissions: body.permissions,
        permission_mode: body.permission_mode.map(Into::into),
        is_active: body.is_active,
    };
    let updated = fv.menus().update(a, id, patch).await?;
    res.render(Json(MenuOut::from(updated)));
    Ok(())
}

/// Delete a menu entry
///
/// Requires `menu.delete` in the entry's company; global entries: superusers only. An
/// entry with children is kept (409): move or delete them first.
#[utoipa::path(
    delete,
    path = "/api/v1/menus/{id}",
    tag = "menus",
    params(("id" = i64, Path, description = "Entry id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `menu.delete`, a global entry, or permissions not held", body = ErrorBody),
        (status = 404, description = "Unknown entry or outside the caller's scope", body = ErrorBody),
        (status = 409, description = "The entry has children", body = ErrorBody),
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
    fv.menus().delete(a, id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The caller's menu in a company: the active entries (global and the company's) whose
/// permissions it holds there, as a tree. Answers a strong `ETag`; with a matching
/// `If-None-Match` it answers 304 without a body. The permission stream sends a `menus`
/// event when it changes.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me/menus",
    tag = "auth",
    description = "Requires a valid access token; no permission (the caller's own menu).",
    params(MyMenusQuery),
    responses(
        (status = 200, description = "The caller's menu tree", body = MyMenus,
            headers(("ETag" = String, description = "Strong validator of this answer"))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "Malformed company_id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Not a member of that company, or no active company", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn my_menus(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let caller = actor(depot)?;
    let q: MyMenusQuery = query(req)?;
    let tree = fv.menus().visible(caller, q.company_id).await?;
    if !answered_unchanged(req, res, &tree.etag) {
        res.render(Json(MyMenus::from(tree)));
    }
    Ok(())
}

/// The `/menus` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("menus")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(
            Router::with_path("{id}")
                .get(get)
                .patch(update)
                .delete(delete),
        )
}

/// OpenAPI of the menu routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get, update, delete, my_menus),
    components(schemas(MenuOut, MyMenus, MenuNodeOut, CreateMenu, UpdateMenu, Mode))
)]
pub struct Api;
