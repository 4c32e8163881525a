//! `/audit-logs`: the audit trail of administrative writes, newest first.
//!
//! A non-superuser sees only rows of companies where it holds `audit.read`; rows without a
//! company (global changes such as permissions) are visible to superusers only.
use chrono::{DateTime, Utc};
use fastvue_core::entity::audit_log;
use fastvue_core::service::audit::AuditFilter;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{CursorQuery, PageQuery, Paging, paging, query};
use crate::pages::{CursorOf, ListOf, PageOf};
use crate::state::app;

/// One audit row.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogOut {
    /// Id.
    pub id: i64,
    /// Who did it (null for the system).
    pub actor_id: Option<i64>,
    /// The company concerned (null for global changes).
    pub company_id: Option<i64>,
    /// What was done: `create`, `update`, `delete`, `set_permissions`, `add_member`, ...
    pub action: String,
    /// What kind of row: `user`, `company`, `role`, `permission`, `group`, ...
    pub entity_type: String,
    /// Which row.
    pub entity_id: Option<i64>,
    /// Values before the change.
    #[schema(value_type = Option<Object>)]
    pub old_values: Option<serde_json::Value>,
    /// Values after the change.
    #[schema(value_type = Option<Object>)]
    pub new_values: Option<serde_json::Value>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Request id of the HTTP request that made the change.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<audit_log::Model> for AuditLogOut {
    fn from(a: audit_log::Model) -> Self {
        Self {
            id: a.id,
            actor_id: a.actor_id,
            company_id: a.company_id,
            action: a.action,
            entity_type: a.entity_type,
            entity_id: a.entity_id,
            old_values: a.old_values,
            new_values: a.new_values,
            ip_address: a.ip_address,
            request_id: a.request_id,
            created_at: a.created_at,
        }
    }
}

/// Filters of `GET /audit-logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only rows about this kind of entity (`user`, `role`, ...).
    pub entity_type: Option<String>,
    /// Only rows about this entity id.
    pub entity_id: Option<i64>,
    /// Only rows by this actor.
    pub actor_id: Option<i64>,
    /// Only rows of this company; 404 outside the caller's scope.
    pub company_id: Option<i64>,
}

/// List audit logs
///
/// Requires `audit.read`. Rows of the companies where the caller holds `audit.read`
/// (superusers: every row, including global ones without a company), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit-logs",
    tag = "audit",
    params(PageQuery, CursorQuery, AuditQuery),
    responses(
        (status = 200, description = "A page of audit rows (a keyset page with `cursor`)", body = ListOf<AuditLogOut>),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `audit.read`", body = ErrorBody),
        (status = 404, description = "company_id outside the caller's scope", body = ErrorBody),
        (status = 422, description = "Bad page, page_size or cursor", body = ErrorBody),
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
    let q = query::<AuditQuery>(req)?;
    let filter = AuditFilter {
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        actor_id: q.actor_id,
        company_id: q.company_id,
        company_ids: None,
    };
    let logs = fv.audit_logs();
    let body = match paging {
        Paging::Numbered(page) => ListOf::Numbered(PageOf::from(
            logs.list(a, &filter, page).await?.map(AuditLogOut::from),
        )),
        Paging::Scrolled(cursor) => ListOf::Scrolled(CursorOf::from(
            logs.list_after(a, &filter, cursor)
                .await?
                .map(AuditLogOut::from),
        )),
    };
    res.render(Json(body));
    Ok(())
}

/// The `/audit-logs` route (relative to `/api/v1`), behind authentication.
pub fn router() -> Router {
    Router::with_path("audit-logs")
        .hoop(auth::authenticate)
        .get(list)
}

/// OpenAPI of the `/audit-logs` route.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(list), components(schemas(AuditLogOut)))]
pub struct Api;
