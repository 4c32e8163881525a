//! The OpenAPI document (`GET /openapi.json`) and Swagger UI (`GET /docs/`, offline).
//!
//! # Documenting a route (utoipa + salvo)
//!
//! Put `#[utoipa::path]` ABOVE `#[handler]`; utoipa keeps the function (salvo then turns it
//! into its handler type) and emits a `__path_<fn>` type that the module's `Api` lists:
//!
//! ```ignore
//! /// `GET /api/v1/users/{id}`.
//! #[utoipa::path(
//!     get,
//!     path = "/api/v1/users/{id}",               // full path, salvo's `{param}` syntax
//!     tag = "users",
//!     description = "Requires `user.read`.",     // the permission, always
//!     params(("id" = i64, Path, description = "User id"), PageQuery),
//!     request_body = UserCreate,                  // POST/PATCH/PUT: a ToSchema DTO
//!     responses(
//!         (status = 200, description = "The user", body = UserOut),
//!         (status = 401, description = "Missing or invalid token", body = ErrorBody),
//!         (status = 403, description = "Lacks `user.read`", body = ErrorBody),
//!         (status = 404, description = "Unknown user", body = ErrorBody),
//!     ),
//!     security(("bearer" = [])),                  // every authenticated route
//! )]
//! #[handler]
//! pub async fn get_user(req: &mut Request, depot: &mut Depot, res: &mut Response)
//!     -> Result<(), ApiError> { ... }
//!
//! /// The OpenAPI paths and schemas of this module.
//! #[derive(utoipa::OpenApi)]
//! #[openapi(paths(get_user, ...), components(schemas(UserOut, UserCreate)))]
//! pub struct Api;
//! ```
//!
//! Then add ONE line `routes::users::Api::openapi(),` to the list in [`spec`]. Query
//! structs derive `utoipa::IntoParams` (`#[into_params(parameter_in = Query)]`) and are
//! named in `params(...)` (see [`crate::extract::PageQuery`]); bodies and responses derive
//! `utoipa::ToSchema`; error responses use [`ErrorBody`] (import it from
//! [`crate::error_body`], not from here). `routes/health.rs` is the working example.
//! Routes without `security(...)` are public and must be listed as such in the
//! `every_path_but_the_public_ones_requires_the_bearer_token` test.
use std::sync::{Arc, LazyLock, OnceLock};

use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::prelude::*;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;
use crate::error_body::{ErrorBody, ErrorInfo, FieldErrorBody};
use crate::routes;

/// The document's root: info, the `bearer` security scheme, the operational routes.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "fastvue-rs",
        description = "Multi-tenant RBAC administration API. Authenticate with \
            `POST /api/v1/auth/login` and send `Authorization: Bearer <access_token>`; \
            `X-Company-ID` selects the active company. Services send an API key instead: \
            `Authorization: Bearer fv_live_...` or `X-API-Key: fv_live_...`."
    ),
    paths(openapi_json, docs, crate::metrics::prometheus),
    components(schemas(ErrorBody, ErrorInfo, FieldErrorBody)),
    modifiers(&BearerSecurity),
    tags(
        (name = "operations", description = "Health, metrics and API documentation (no auth)")
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` (HTTP bearer, JWT) security scheme that routes name in `security(...)`.
#[derive(Debug)]
pub struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from /api/v1/auth/login, or a service API key \
                         (fv_live_..., also accepted in the X-API-Key header)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document: [`ApiDoc`] merged with every route module's `Api`.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    for part in [
        routes::health::Api::openapi(),
        routes::auth::Api::openapi(),
        routes::two_factor::Api::openapi(),
        routes::password::Api::openapi(),
        routes::sessions::Api::openapi(),
        routes::email::Api::openapi(),
        routes::invitations::Api::openapi(),
        routes::permission_stream::Api::openapi(),
        routes::oauth::Api::openapi(),
        routes::users::Api::openapi(),
        routes::companies::Api::openapi(),
        routes::roles::Api::openapi(),
        routes::menus::Api::openapi(),
        routes::permissions::Api::openapi(),
        routes::groups::Api::openapi(),
        routes::cache::Api::openapi(),
        routes::audit::Api::openapi(),
        routes::api_keys::Api::openapi(),
        // One line per route module, e.g. `routes::users::Api::openapi(),`.
    ] {
        doc.merge(part);
    }
    unique_operation_ids(&mut doc);
    doc
}

/// Makes every `operationId` unique, as OpenAPI requires (client generators refuse
/// repeats): utoipa names an operation after its handler, and several modules have a
/// `list` or a `get`. A repeated id becomes `{tag}_{id}` (`roles_list`), and one still
/// repeated (two `auth` handlers of one name) gets its path's last segment too.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    fn operations(
        doc: &mut utoipa::openapi::OpenApi,
    ) -> impl Iterator<Item = (&String, &mut utoipa::openapi::path::Operation)> {
        doc.paths.paths.iter_mut().flat_map(|(path, item)| {
            [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            .map(move |op| (path, op))
        })
    }
    fn counts(doc: &mut utoipa::openapi::OpenApi) -> std::collections::HashMap<String, usize> {
        let mut seen = std::collections::HashMap::new();
        for (_, op) in operations(doc) {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_insert(0) += 1;
            }
        }
        seen
    }
    let seen = counts(doc);
    for (_, op) in operations(doc) {
        if let Some(id) = op.operation_id.as_mut()
            && seen.get(id.as_str()).copied().unwrap_or(0) > 1
        {
            let tag = op
                .tags
                .as_ref()
                .and_then(|t| t.first())
                .map_or("api", String::as_str);
            *id = format!("{tag}_{id}");
        }
    }
    let seen = counts(doc);
    for (path, op) in operations(doc) {
        if let Some(id) = op.operation_id.as_mut()
            && seen.get(id.as_str()).copied().unwrap_or(0) > 1
        {
            let last = path
                .rsplit('/')
                .find(|s| !s.is_empty() && !s.starts_with('{'))
                .unwrap_or("root")
                .replace('-', "_");
            *id = format!("{id}_{last}");
        }
    }
}

/// The serialized document, built on first use.
fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        spec()
            .to_json()
            .expect("the OpenAPI document serializes to JSON")
    })
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    description = "The OpenAPI 3.1 document of this API. No authentication.",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
#[handler]
pub async fn openapi_json(res: &mut Response) {
    res.render(Text::Json(spec_json()));
}

/// Swagger UI configuration: it loads `/openapi.json`.
static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")));

/// `GET /docs/{**rest}`: Swagger UI from assets compiled into the binary (works offline);
/// `/docs` redirects to `/docs/` so the page's relative asset links resolve.
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "operations",
    description = "Swagger UI for this API (no internet needed). No authentication.",
    responses((status = 200, description = "The Swagger UI page", content_type = "text/html"))
)]
#[handler]
pub async fn docs(req: &mut Request, res: &mut Response) -> Result<(), ApiError> {
    if req.uri().path() == "/docs" {
        res.render(Redirect::found("/docs/"));
        return Ok(());
    }
    let rest = req.param::<String>("rest").unwrap_or_default();
    match utoipa_swagger_ui::serve(&rest, SWAGGER.clone()) {
        Ok(Some(file)) => {
            if let Ok(value) = HeaderValue::from_str(&file.content_type) {
                res.headers_mut().insert(CONTENT_TYPE, value);
            }
            res.write_body(file.bytes.into_owned())
                .map_err(|_| internal())?;
            Ok(())
        }
        Ok(None) => Err(ApiError::not_found("no such documentation file")),
        Err(e) => {
            tracing::error!(error = %e, "cannot serve a Swagger UI file");
            Err(internal())
        }
    }
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error",
    )
}
