//! `/api-keys`: service API keys of a company (see `fastvue_core::service::api_keys`).
//!
//! Scoping: a non-superuser sees and revokes only keys of companies where it holds the
//! route's permission (others answer 404). A key is created in the caller's active
//! company, with scopes the caller holds there. The full key is answered once, by the
//! creation; lists and reads show its prefix only.
use std::fmt;

use chrono::{DateTime, Utc};
use fastvue_core::entity::api_key;
use fastvue_core::error::FieldError;
use fastvue_core::service::api_keys::{ApiKeyFilter, MAX_EXPIRY_DAYS, NewApiKey};
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

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    /// Id.
    pub id: i64,
    /// The company the key acts in.
    pub company_id: i64,
    /// Label.
    pub name: String,
    /// The 8 characters after `fv_live_`: the key is `fv_live_<prefix>_<secret>`.
    pub prefix: String,
    /// Permission codenames the key may use, sorted.
    pub scopes: Vec<String>,
    /// The user the key acts as.
    pub created_by: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Requests allowed per minute, if limited.
    pub rate_limit_per_minute: Option<i32>,
}

impl From<api_key::Model> for ApiKeyOut {
    fn from(k: api_key::Model) -> Self {
        Self {
            scopes: k.scope_codenames(),
            id: k.id,
            company_id: k.company_id,
            name: k.name,
            prefix: k.prefix,
            created_by: k.created_by,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            rate_limit_per_minute: k.rate_limit_per_minute,
        }
    }
}

/// A key just created, with the full key: shown this once, never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key.
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The full key `fv_live_<prefix>_<secret>`: store it now, it cannot be read again.
    pub key: String,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("api_key", &self.api_key)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Filters of `GET /api-keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyQuery {
    /// Only this company's keys; 404 outside the caller's scope.
    pub company_id: Option<i64>,
    /// Only revoked (true) or not revoked (false) keys.
    pub revoked: Option<bool>,
}

/// Body of `POST /api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Label (1-100 characters).
    pub name: String,
    /// Permission codenames the key may use: existing, active, and held by the caller in
    /// the active company (a superuser may give any).
    pub scopes: Vec<String>,
    /// Life of the key in days (1-3650); or give `expires_at`; neither: no expiry.
    pub expires_in_days: Option<i64>,
    /// Expiry time (in the future); or give `expires_in_days`.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests allowed per minute (1-1000000); absent: no per-key limit.
    pub rate_limit_per_minute: Option<u32>,
}

impl CreateApiKey {
    /// The expiry the body asks for (422 for both fields or a bad number of days).
    fn expiry(&self) -> Result<Option<DateTime<Utc>>, ApiError> {
        match (self.expires_in_days, self.expires_at) {
            (Some(_), Some(_)) => Err(ApiError::unprocessable(
                "the request body is invalid",
                vec![FieldError::new(
                    "expires_in_days",
                    "give expires_in_days or expires_at, not both",
                )],
            )),
            (Some(days), None) if !(1..=MAX_EXPIRY_DAYS).contains(&days) => {
                Err(ApiError::unprocessable(
                    "the request body is invalid",
                    vec![FieldError::new(
                        "expires_in_days",
                        format!("must be between 1 and {MAX_EXPIRY_DAYS}"),
                    )],
                ))
            }
            (Some(days), None) => Ok(Some(Utc::now() + chrono::Duration::days(days))),
            (None, at) => Ok(at),
        }
    }
}

/// List API keys
///
/// Requires `apikey.read`. Keys of the companies where the caller holds `apikey.read`,
/// newest first; prefixes only, never the key.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    params(PageQuery, ApiKeyQuery),
    responses(
        (status = 200, description = "A page of keys", body = PageOf<ApiKeyOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `apikey.read`", body = ErrorBody),
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
    let q = query::<ApiKeyQuery>(req)?;
    let filter = ApiKeyFilter {
        company_id: q.company_id,
        company_ids: None,
        revoked: q.revoked,
    };
    let found = fv.api_keys().list(a, &filter, page).await?;
    res.render(Json(PageOf::from(found.map(ApiKeyOut::from))));
    Ok(())
}

/// Create an API key
///
/// Requires `apikey.create` in the active company, where the key will act. Every scope
/// must be held by the caller there (403 otherwise). Answers the full key once, in
/// `key`. An API key cannot create keys.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The new key, with the full key (shown once)", body = CreatedApiKey),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `apikey.create`, a scope the caller does not hold, or called with a key", body = ErrorBody),
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
    let body: CreateApiKey = json_body(req).await?;
    let expires_at = body.expiry()?;
    let company_id = a.active_company()?;
    let issued = fv
        .api_keys()
        .create(
            a,
            NewApiKey {
                company_id,
                name: body.name,
                scopes: body.scopes,
                expires_at,
                rate_limit_per_minute: body.rate_limit_per_minute,
                created_by: None,
            },
        )
        .await?;
    let key = issued.plaintext().to_owned();
    res.status_code(StatusCode::CREATED);
    res.render(Json(CreatedApiKey {
        api_key: issued.key.into(),
        key,
    }));
    Ok(())
}

/// Get an API key
///
/// Requires `apikey.read` in the key's company. The prefix only, never the key.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = i64, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyOut),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `apikey.read`", body = ErrorBody),
        (status = 404, description = "Unknown key or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let key = fv.api_keys().get(a, path_id(req, "id")?).await?;
    res.render(Json(ApiKeyOut::from(key)));
    Ok(())
}

/// Revoke an API key
///
/// Requires `apikey.revoke` in the key's company. The key stops working at once on every
/// replica. Revoking a revoked key answers 204 again.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = i64, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `apikey.revoke`", body = ErrorBody),
        (status = 404, description = "Unknown key or outside the caller's scope", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn revoke(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    fv.api_keys().revoke(a, path_id(req, "id")?).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The `/api-keys` routes, relative to `/api/v1`.
pub fn router() -> Router {
    Router::with_path("api-keys")
        .hoop(auth::authenticate)
        .get(list)
        .post(create)
        .push(Router::with_path("{id}").get(get).delete(revoke))
}

/// OpenAPI of the `/api-keys` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get, revoke),
    components(schemas(ApiKeyOut, CreatedApiKey, CreateApiKey))
)]
pub struct Api;
