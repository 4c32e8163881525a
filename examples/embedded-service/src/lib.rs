//! A reports service that embeds `fastvue-core`: it shares fastvue's database (users,
//! companies, roles, permissions), accepts the access tokens fastvue-server issues, and
//! asks the same permission engine (and cache) whether a caller may read reports.
//!
//! Routes (all take `Authorization: Bearer <fastvue access token>` and `X-Company-ID`):
//! - `GET /reports`: the company's reports; needs `report.read`.
//! - `POST /reports/access` `{user_id, grant}`: gives or takes the company's
//!   `report-reader` role; needs `role.assign`. Core services check the rest (the caller
//!   must hold what the role grants; see fastvue's escalation rule) and invalidate the
//!   cache.
//! - `POST /cache/invalidate` `{user_id}`: drops a user's cached permissions after a
//!   change made outside fastvue-core (SQL, another tool); needs `cache.manage`.
//!
//! Every request becomes a core [`Actor`] (`fv.actors().from_access_token`), and every
//! core call takes it: the service gets exactly the rules of fastvue-server.
use fastvue_core::pagination::PageRequest;
use fastvue_core::service::assignments::NewAssignment;
use fastvue_core::service::permissions::NewPermission;
use fastvue_core::service::roles::{NewRole, RoleFilter};
use fastvue_core::{Actor, Fastvue};
use salvo::affix_state;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Deserialize;
use serde_json::json;

/// The permission this service defines and checks.
pub const REPORT_READ: &str = "report.read";
/// The role it creates (per company) to hand out [`REPORT_READ`].
pub const READER_ROLE: &str = "report-reader";

/// Makes sure [`REPORT_READ`] exists (idempotent: run at every start).
pub async fn register_permission(fv: &Fastvue) -> Result<(), fastvue_core::Error> {
    let created = fv
        .permissions()
        .create(
            &Actor::system(),
            NewPermission {
                codename: REPORT_READ.to_owned(),
                name: "Read reports".to_owned(),
                description: Some("See the reports of the reports service".to_owned()),
                category: Some("reports".to_owned()),
            },
        )
        .await;
    match created {
        Ok(_) | Err(fastvue_core::Error::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The service's routes over a connected [`Fastvue`] handle.
pub fn router(fv: Fastvue) -> Router {
    Router::new()
        .hoop(affix_state::inject(fv))
        .push(Router::with_path("reports").get(list_reports))
        .push(Router::with_path("reports/access").post(change_access))
        .push(Router::with_path("cache/invalidate").post(invalidate))
}

/// An error answer: a status and the `{"error": {"code", "message"}}` body fastvue uses.
#[derive(Debug)]
struct Failure(StatusCode, &'static str, String);

impl From<fastvue_core::Error> for Failure {
    fn from(e: fastvue_core::Error) -> Self {
        use fastvue_core::Error as E;
        match e {
            E::NotFound { .. } => Self(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            E::Validation(_) => Self(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                e.to_string(),
            ),
            E::Conflict { .. } => Self(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::Forbidden(m) => Self(StatusCode::FORBIDDEN, "forbidden", m),
            E::RateLimited { message, .. } => {
                Self(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            }
            E::Unavailable(_) => Self(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database unavailable".into(),
            ),
            _ => Self(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error".into(),
            ),
        }
    }
}

#[async_trait]
impl Writer for Failure {
    async fn write(self, _: &mut Request, _: &mut Depot, res: &mut Response) {
        res.status_code(self.0);
        res.render(Json(
            json!({ "error": { "code": self.1, "message": self.2 } }),
        ));
    }
}

fn state(depot: &Depot) -> Result<Fastvue, Failure> {
    depot.get_typed::<Fastvue>().cloned().map_err(|_| {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "no state".into(),
        )
    })
}

/// The caller (from fastvue's access token, acting in `X-Company-ID`), once it is known
/// to hold `codename` there: the core decides both.
async fn authorize(fv: &Fastvue, req: &Request, codename: &str) -> Result<Actor, Failure> {
    let unauthorized = |m: &str| Failure(StatusCode::UNAUTHORIZED, "unauthorized", m.to_owned());
    let token = req
        .header::<String>("authorization")
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned))
        .ok_or_else(|| unauthorized("a Bearer access token is required"))?;
    let company = req
        .header::<String>("x-company-id")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            Failure(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "X-Company-ID must be a positive integer".into(),
            )
        })?;
    let actor = fv
        .actors()
        .from_access_token(&token, Some(company))
        .await
        .map_err(|e| match e {
            fastvue_core::auth::TokenError::Core(e) => Failure::from(e),
            _ => unauthorized("the token is invalid or expired"),
        })?;
    // The same engine and cache as fastvue-server: a hit costs a hash lookup.
    actor.require(fv, codename).await?;
    Ok(actor)
}

#[handler]
async fn list_reports(
    req: &mut Request,
    depot: &mut Depot,
) -> Result<Json<serde_json::Value>, Failure> {
    let fv = state(depot)?;
    let actor = authorize(&fv, req, REPORT_READ).await?;
    Ok(Json(json!({
        "company_id": actor.company_id(),
        "requested_by": actor.user_model().map(|u| u.username.clone()),
        "reports": [
            { "id": 1, "title": "Monthly revenue" },
            { "id": 2, "title": "Active users" }
        ]
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessChange {
    user_id: i64,
    grant: bool,
}

#[handler]
async fn change_access(req: &mut Request, depot: &mut Depot) -> Result<StatusCode, Failure> {
    let fv = state(depot)?;
    let actor = authorize(&fv, req, "role.assign").await?;
    let company = actor.active_company()?;
    let body: AccessChange = req
        .parse_json()
        .await
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let role = reader_role(&fv, company).await?;
    let held = fv.assignments().of_user(&actor, body.user_id).await?;
    let current = held
        .iter()
        .find(|a| a.assignment.role_id == role && a.assignment.company_id == company);
    match (body.grant, current) {
        (true, None) => {
            // The core checks the actor may hand out what the role grants, then assigns;
            // the assignment invalidates the user's cached set, here and on every replica.
            let input = NewAssignment {
                company_id: company,
                role_id: role,
                is_default: false,
                scope: Default::default(),
            };
            fv.assignments().assign(&actor, body.user_id, input).await?;
        }
        (false, Some(view)) => {
            fv.assignments()
                .unassign(&actor, body.user_id, view.assignment.id)
                .await?;
        }
        _ => {} // already as asked
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The company's `report-reader` role, created on first use by the service itself (the
/// system actor: setting up its own role is not something a caller does).
async fn reader_role(fv: &Fastvue, company: i64) -> Result<i64, Failure> {
    let system = Actor::system();
    let filter = RoleFilter {
        company_id: Some(company),
        search: Some(READER_ROLE.to_owned()),
        ..Default::default()
    };
    let page = PageRequest::new(Some(1), Some(50))?;
    let roles = fv.roles().list(&system, &filter, page).await?;
    if let Some(role) = roles.items.iter().find(|r| r.codename == READER_ROLE) {
        return Ok(role.id);
    }
    let role = fv
        .roles()
        .create(
            &system,
            NewRole {
                name: "Report reader".to_owned(),
                codename: READER_ROLE.to_owned(),
                description: Some("Reads the reports service".to_owned()),
                company_id: Some(company),
                permissions: vec![REPORT_READ.to_owned()],
            },
        )
        .await?;
    Ok(role.role.id)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateUser {
    user_id: i64,
}

#[handler]
async fn invalidate(
    req: &mut Request,
    depot: &mut Depot,
) -> Result<Json<serde_json::Value>, Failure> {
    let fv = state(depot)?;
    authorize(&fv, req, "cache.manage").await?;
    let body: InvalidateUser = req
        .parse_json()
        .await
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    // Every company of the user, in this process and (with REDIS_URL) on every replica.
    let dropped = fv.authorizer().invalidate_user(body.user_id, None).await;
    Ok(Json(json!({ "invalidated": dropped })))
}
