//! Invitations: sending and withdrawing them (`/companies/{id}/invitations`) and the
//! public link's two calls (`/auth/invitations/lookup`, `/auth/invitations/accept`). The
//! rules live in `fastvue_core::service::invitations`.
use chrono::{DateTime, Utc};
use fastvue_core::entity::invitation;
use fastvue_core::service::invitations::{NewInvitation, NewMember};
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{actor, origin};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{json_body, path_id};
use crate::state::app;

/// Body of `POST /companies/{id}/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The address to invite.
    pub email: String,
    /// The role the new member gets in the company.
    pub role_id: i64,
}

/// A pending (or just sent) invitation; never its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOut {
    /// Id.
    pub id: i64,
    /// The company to join.
    pub company_id: i64,
    /// The role given on acceptance.
    pub role_id: i64,
    /// The invited address.
    pub email: String,
    /// Who invited.
    pub invited_by: i64,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Sent at.
    pub created_at: DateTime<Utc>,
}

impl From<invitation::Model> for InvitationOut {
    fn from(i: invitation::Model) -> Self {
        Self {
            id: i.id,
            company_id: i.company_id,
            role_id: i.role_id,
            email: i.email,
            invited_by: i.invited_by,
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

/// Body of `POST /auth/invitations/lookup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupIn {
    /// The token of the mailed link (`/accept-invitation?token=...`).
    pub token: String,
}

/// What an invitation offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferOut {
    /// The invited address.
    pub email: String,
    /// The company's name.
    pub company_name: String,
    /// The role's name.
    pub role_name: String,
    /// An account has the address: accepting adds the membership, no username or
    /// password is asked.
    pub account_exists: bool,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /auth/invitations/accept`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptIn {
    /// The token of the mailed link.
    pub token: String,
    /// Username of the new account (3 to 100 letters, digits, `_`, `.`, `-`); not needed
    /// when the address has an account.
    pub username: Option<String>,
    /// Password of the new account (8 to 128 characters).
    pub password: Option<String>,
    /// Full name of the new account.
    pub full_name: Option<String>,
}

/// The result of accepting.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedOut {
    /// The member's id.
    pub user_id: i64,
    /// The company joined.
    pub company_id: i64,
    /// Whether the account was created now (sign in with `POST /auth/login` next).
    pub created: bool,
}

/// Invite an address into a company with a role; a link is mailed to it.
#[utoipa::path(
    post,
    path = "/api/v1/companies/{id}/invitations",
    tag = "companies",
    description = "Requires `user.create` and `role.assign` in the company, and the role may grant nothing the caller lacks there (as for creating a user with that role). A person's token, not an API key.",
    params(("id" = i64, Path, description = "Company id")),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "Sent", body = InvitationOut),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Missing permission, or the role grants more than the caller holds", body = ErrorBody),
        (status = 409, description = "Too many pending invitations", body = ErrorBody),
        (status = 422, description = "Bad email, unknown role or a role of another company", body = ErrorBody),
        (status = 503, description = "Too much mail waiting; see Retry-After", body = ErrorBody),
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
    let company_id = path_id(req, "id")?;
    let body: CreateInvitation = json_body(req).await?;
    let row = fv
        .invitations()
        .create(
            actor(depot)?,
            company_id,
            NewInvitation {
                email: body.email,
                role_id: body.role_id,
            },
        )
        .await?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(InvitationOut::from(row)));
    Ok(())
}

/// The company's pending invitations, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/companies/{id}/invitations",
    tag = "companies",
    description = "Requires `user.read` in the company.",
    params(("id" = i64, Path, description = "Company id")),
    responses(
        (status = 200, description = "Pending invitations (at most 1000)", body = Vec<InvitationOut>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.read` there", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn pending(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let company_id = path_id(req, "id")?;
    let rows = fv.invitations().pending(actor(depot)?, company_id).await?;
    res.render(Json(
        rows.into_iter()
            .map(InvitationOut::from)
            .collect::<Vec<_>>(),
    ));
    Ok(())
}

/// Withdraw a pending invitation; its link stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/companies/{id}/invitations/{invitation_id}",
    tag = "companies",
    description = "Requires `user.create` in the company.",
    params(
        ("id" = i64, Path, description = "Company id"),
        ("invitation_id" = i64, Path, description = "Invitation id"),
    ),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks `user.create` there", body = ErrorBody),
        (status = 404, description = "No such pending invitation of the company", body = ErrorBody),
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
    let company_id = path_id(req, "id")?;
    let id = path_id(req, "invitation_id")?;
    fv.invitations()
        .revoke(actor(depot)?, company_id, id)
        .await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// What an invitation link offers (for the page that accepts it).
#[utoipa::path(
    post,
    path = "/api/v1/auth/invitations/lookup",
    tag = "auth",
    description = "Public (no token): the body carries the link's token.",
    request_body = LookupIn,
    responses(
        (status = 200, description = "The offer", body = OfferOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Unknown, expired, used or withdrawn link", body = ErrorBody),
    )
)]
#[handler]
pub async fn lookup(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: LookupIn = json_body(req).await?;
    let offer = fv.invitations().offer(&input.token).await?;
    res.render(Json(OfferOut {
        email: offer.email,
        company_name: offer.company_name,
        role_name: offer.role_name,
        account_exists: offer.account_exists,
        expires_at: offer.expires_at,
    }));
    Ok(())
}

/// Accept an invitation: create the account with the role, or give the role to the
/// account that has the address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/invitations/accept",
    tag = "auth",
    description = "Public (no token): the link proves the address. Then sign in with `POST /auth/login`.",
    request_body = AcceptIn,
    responses(
        (status = 200, description = "Accepted", body = AcceptedOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "The inviter may no longer give this role", body = ErrorBody),
        (status = 409, description = "Username taken, or the account already has the role there", body = ErrorBody),
        (status = 422, description = "Unknown, expired, used or withdrawn link; bad or missing username or password", body = ErrorBody),
        (status = 503, description = "Too many passwords being hashed at once; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn accept(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let input: AcceptIn = json_body(req).await?;
    let done = fv
        .invitations()
        .accept(
            &origin(req, depot),
            &input.token,
            NewMember {
                username: input.username,
                password: input.password,
                full_name: input.full_name,
            },
        )
        .await?;
    res.render(Json(AcceptedOut {
        user_id: done.user.id,
        company_id: done.company_id,
        created: done.created,
    }));
    Ok(())
}

/// The public routes, under `/auth`.
pub fn public_router() -> Router {
    Router::with_path("invitations")
        .push(Router::with_path("lookup").post(lookup))
        .push(Router::with_path("accept").post(accept))
}

/// The company routes, under `/companies/{id}`.
pub fn company_router() -> Router {
    Router::with_path("invitations")
        .get(pending)
        .post(create)
        .push(Router::with_path("{invitation_id}").delete(revoke))
}

/// OpenAPI of the invitation routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(create, pending, revoke, lookup, accept),
    components(schemas(
        CreateInvitation,
        InvitationOut,
        LookupIn,
        OfferOut,
        AcceptIn,
        AcceptedOut
    ))
)]
pub struct Api;
