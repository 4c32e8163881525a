//! `/admin/cache`: drop cached permission sets, and read the cache counters.
//!
//! Invalidation drops the sets in this process, in Redis and (through the bus) in every
//! other replica; `invalidated` counts the entries this process dropped. A non-superuser
//! acts only inside companies where it holds `cache.manage` (others answer 404), and only
//! superusers flush everything or the holders of a global template role (403): decided by
//! `fastvue_core::service::cache`.
use fastvue_core::permission::authorizer::CacheTarget;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::json_body;
use crate::state::app;

/// What to invalidate.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// Every cached set (superusers only).
    All,
    /// A user's sets (`id` = user id; in `company_id` only, when given).
    User,
    /// The sets of every holder of a role (`id` = role id).
    Role,
    /// The sets of every member of a group (`id` = group id).
    Group,
    /// Every set in a company (`id` or `company_id` = company id).
    Company,
}

/// Body of `POST /admin/cache/invalidate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateRequest {
    /// What to invalidate.
    pub scope: CacheScope,
    /// The user, role, group or company id (required except for `all`).
    pub id: Option<i64>,
    /// For `user`: only this company (a non-superuser defaults to its active company);
    /// for `company`: the company, when `id` is not given. Ignored otherwise.
    pub company_id: Option<i64>,
}

/// Answer of `POST /admin/cache/invalidate`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidateResponse {
    /// The scope invalidated.
    pub scope: CacheScope,
    /// Entries dropped from this process's cache.
    pub invalidated: u64,
}

/// Answer of `GET /admin/cache/stats` (this process's in-memory tier).
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStats {
    /// Whether permission caching is on (`CACHE_ENABLED`).
    pub enabled: bool,
    /// Lookups answered from the in-process cache since start.
    pub hits: u64,
    /// Lookups that had to go to Redis or the database.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 before the first lookup.
    pub hit_ratio: f64,
    /// (user, company) sets held now.
    pub entries: u64,
    /// Users with at least one set held (approximate).
    pub users: u64,
    /// Capacity (`PERMISSION_CACHE_MAX_ENTRIES`).
    pub max_entries: u64,
    /// Time-to-live of a set, seconds (`PERMISSION_CACHE_TTL`).
    pub ttl_seconds: u64,
    /// The Redis tier: `disabled` (no REDIS_URL), `ok`, or `degraded` (recent failures;
    /// the cache answers from this process and the database meanwhile).
    pub redis: &'static str,
}

fn required(id: Option<i64>) -> Result<i64, ApiError> {
    id.ok_or_else(|| fastvue_core::Error::invalid("id", "required unless scope is \"all\"").into())
}

/// The core target `body` names (422 without an `id` where one is needed).
fn target(body: &InvalidateRequest) -> Result<CacheTarget, ApiError> {
    Ok(match body.scope {
        CacheScope::All => CacheTarget::All,
        CacheScope::User => CacheTarget::User {
            user_id: required(body.id)?,
            company_id: body.company_id,
        },
        CacheScope::Role => CacheTarget::Role(required(body.id)?),
        CacheScope::Group => CacheTarget::Group(required(body.id)?),
        CacheScope::Company => CacheTarget::Company(required(body.id.or(body.company_id))?),
    })
}

/// Invalidate cached permissions
///
/// Requires `cache.manage`. Drops cached permission sets everywhere (this process, Redis,
/// other replicas). Non-superusers act only in companies where they hold `cache.manage`
/// (404 otherwise); `all` and global roles are superuser-only (403). `id` is required
/// except for `all` (422).
#[utoipa::path(
    post,
    path = "/api/v1/admin/cache/invalidate",
    tag = "cache",
    request_body = InvalidateRequest,
    responses(
        (status = 200, description = "Invalidated", body = InvalidateResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `cache.manage`, or superuser-only scope", body = ErrorBody),
        (status = 404, description = "Unknown id or outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Unknown scope or missing id", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn invalidate(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let a = actor(depot)?;
    let body: InvalidateRequest = json_body(req).await?;
    let summary = fv.cache_admin().invalidate(a, target(&body)?).await?;
    res.render(Json(InvalidateResponse {
        scope: body.scope,
        invalidated: summary.local,
    }));
    Ok(())
}

/// Cache statistics
///
/// Requires `cache.manage`. Counters of this process's in-memory permission cache (each
/// replica has its own) and the state of the Redis tier.
#[utoipa::path(
    get,
    path = "/api/v1/admin/cache/stats",
    tag = "cache",
    responses(
        (status = 200, description = "The counters", body = CacheStats),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `cache.manage`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn stats(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let c = fv.cache_admin().counters(actor(depot)?).await?;
    let s = c.l1;
    let lookups = s.hits + s.misses;
    res.render(Json(CacheStats {
        enabled: c.enabled,
        hits: s.hits,
        misses: s.misses,
        hit_ratio: if lookups == 0 {
            0.0
        } else {
            s.hits as f64 / lookups as f64
        },
        entries: s.entries,
        users: s.users,
        max_entries: c.max_entries,
        ttl_seconds: c.ttl_seconds,
        redis: c.redis,
    }));
    Ok(())
}

/// The `/admin/cache` routes (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("admin/cache")
        .hoop(auth::authenticate)
        .push(Router::with_path("invalidate").post(invalidate))
        .push(Router::with_path("stats").get(stats))
}

/// OpenAPI of the `/admin/cache` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(invalidate, stats),
    components(schemas(CacheScope, InvalidateRequest, InvalidateResponse, CacheStats))
)]
pub struct Api;
