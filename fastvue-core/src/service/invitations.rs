//! [`Invitations`]: joining a company by a mailed link.
//!
//! An administrator invites an address with a role ([`Invitations::create`]): the rules
//! are those of creating a user with that role (`user.create` and `role.assign` in the
//! company, and a role granting nothing the inviter lacks there). A link to
//! `{PUBLIC_URL}/accept-invitation?token=...` is mailed (valid [`TOKEN_TTL`], once; the
//! token is stored as a keyed hash). Accepting it ([`Invitations::accept`]) checks the
//! same rules again with the inviter's rights at that moment (a demoted inviter's
//! invitations stop working), then creates the account with the role (the address is
//! proven by the link) or, when an account has the address, gives it the role. Pending
//! invitations are capped per company ([`MAX_PENDING`]).
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::Fastvue;
use crate::auth::keyed;
use crate::codenames;
use crate::domain::Email;
use crate::entity::{company, invitation, role, user};
use crate::error::{Error, Result};
use crate::mail::Mail;
use crate::policy::{Actor, Origin};
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, AuditContext, Entry};
use crate::service::users::NewUser;

/// How long an invitation link works.
pub const TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Pending invitations one company may have at once.
pub const MAX_PENDING: u64 = 1_000;

/// Input for an invitation.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// The address to invite.
    pub email: String,
    /// The role the new member gets in the company.
    pub role_id: i64,
}

/// The account made or completed by an accepted invitation.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// Username, for a new account (ignored when the address has one).
    pub username: Option<String>,
    /// Password, for a new account.
    pub password: Option<String>,
    /// Full name, for a new account.
    pub full_name: Option<String>,
}

/// What an invitation link offers, for the page that accepts it.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The invited address.
    pub email: String,
    /// The company's name.
    pub company_name: String,
    /// The role's name.
    pub role_name: String,
    /// Whether an account has the address (then no username or password is asked).
    pub account_exists: bool,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// The result of accepting.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The member.
    pub user: user::Model,
    /// The company joined.
    pub company_id: i64,
    /// Whether the account was created now.
    pub created: bool,
}

/// Invitations; reach them through [`Fastvue::invitations`].
#[derive(Debug, Clone, Copy)]
pub struct Invitations<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Invitations to join a company.
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations { fv: self }
    }
}

impl Invitations<'_> {
    /// Invites `input.email` into `company_id` with `input.role_id` and mails the link.
    /// Audited as `invite`.
    pub async fn create(
        &self,
        actor: &Actor,
        company_id: i64,
        input: NewInvitation,
    ) -> Result<invitation::Model> {
        let fv = self.fv;
        let email = Email::parse(&input.email).map_err(|m| Error::invalid("email", m))?;
        let inviter = actor
            .user_id()
            .filter(|_| actor.key().is_none())
            .ok_or_else(|| {
                Error::Forbidden(
                    "invitations are sent by a person, not by an API key or the system".into(),
                )
            })?;
        ensure_may_invite(fv, actor, company_id, input.role_id).await?;
        let now = Utc::now();
        let pending = invitation::Entity::find()
            .filter(invitation::Column::CompanyId.eq(company_id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(now))
            .count(fv.db())
            .await?;
        if pending >= MAX_PENDING {
            return Err(Error::Conflict {
                field: None,
                message: format!(
                    "the company has {MAX_PENDING} pending invitations; withdraw some first"
                ),
            });
        }
        let token = keyed::random_token(32);
        let txn = fv.begin_write().await?;
        let row = invitation::ActiveModel {
            company_id: Set(company_id),
            role_id: Set(input.role_id),
            email: Set(email.as_str().to_owned()),
            token_hash: Set(hash(fv, &token)),
            invited_by: Set(inviter),
            expires_at: Set(now + chrono::Duration::from_std(TOKEN_TTL).unwrap_or_default()),
            accepted_at: Set(None),
            accepted_by: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        audit::record(&txn, &actor.audit(), entry("invite", &row)).await?;
        txn.commit().await?;
        let company = company::Entity::find_by_id(company_id)
            .one(fv.db())
            .await?
            .ok_or(Error::NotFound { entity: "company" })?;
        let link = format!(
            "{}/accept-invitation?token={token}",
            fv.settings().mail.public_url
        );
        fv.mailer().send(Mail {
            to: row.email.clone(),
            subject: format!("You are invited to {}", company.name),
            body: format!(
                "Hello,\n\nYou are invited to join {} on {}.\nOpen this link within {} days to accept:\n\n{link}\n\n\
                 The link works once. If you did not expect it, ignore this mail.\n",
                company.name,
                fv.settings().totp_issuer,
                TOKEN_TTL.as_secs() / 86_400
            ),
        })?;
        Ok(row)
    }

    /// The company's pending invitations, newest first (needs `user.read` there; at most
    /// [`MAX_PENDING`]).
    pub async fn pending(&self, actor: &Actor, company_id: i64) -> Result<Vec<invitation::Model>> {
        actor
            .require_in(self.fv, company_id, codenames::USER_READ)
            .await?;
        Ok(invitation::Entity::find()
            .filter(invitation::Column::CompanyId.eq(company_id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(Utc::now()))
            .order_by_desc(invitation::Column::Id)
            .limit(MAX_PENDING)
            .all(self.fv.db())
            .await?)
    }

    /// Withdraws a pending invitation (needs `user.create` in the company); audited.
    pub async fn revoke(&self, actor: &Actor, company_id: i64, id: i64) -> Result<()> {
        let fv = self.fv;
        actor
            .require_in(fv, company_id, codenames::USER_CREATE)
            .await?;
        let txn = fv.begin_write().await?;
        let row = invitation::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .filter(|i| {
                i.company_id == company_id && i.accepted_at.is_none() && i.revoked_at.is_none()
            })
            .ok_or(Error::NotFound {
                entity: "invitation",
            })?;
        invitation::Entity::update_many()
            .col_expr(invitation::Column::RevokedAt, Utc::now().into())
            .filter(invitation::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        audit::record(&txn, &actor.audit(), entry("revoke_invitation", &row)).await?;
        txn.commit().await?;
        Ok(())
    }

    /// What the link `token` offers (for the acceptance page).
    pub async fn offer(&self, token: &str) -> Result<Offer> {
        let fv = self.fv;
        let row = self.live(token).await?;
        let company = company::Entity::find_by_id(row.company_id)
            .one(fv.db())
            .await?
            .ok_or_else(bad_link)?;
        let role = role::Entity::find_by_id(row.role_id)
            .one(fv.db())
            .await?
            .ok_or_else(bad_link)?;
        let account_exists = user::Entity::find()
            .filter(user::Column::Email.eq(row.email.as_str()))
            .count(fv.db())
            .await?
            > 0;
        Ok(Offer {
            email: row.email,
            company_name: company.name,
            role_name: role.name,
            account_exists,
            expires_at: row.expires_at,
        })
    }

    /// Accepts the invitation of `token`, from `origin` (see the [module docs](self)).
    ///
    /// Errors: [`Error::Validation`] on `token` for an unknown, expired, used or withdrawn
    /// link, and on `username`/`password` for a new account's bad or missing values;
    /// [`Error::Forbidden`] when the inviter may no longer give that role;
    /// [`Error::Conflict`] when the username is taken or the account already has the role
    /// there.
    pub async fn accept(
        &self,
        origin: &Origin,
        token: &str,
        member: NewMember,
    ) -> Result<Accepted> {
        let fv = self.fv;
        let row = self.live(token).await?;
        let inviter = fv
            .actors()
            .for_user(row.invited_by, Some(row.company_id))
            .await
            .map_err(|_| no_longer_valid())?;
        ensure_may_invite(fv, &inviter, row.company_id, row.role_id)
            .await
            .map_err(|e| match e {
                Error::Forbidden(_) | Error::Validation(_) | Error::NotFound { .. } => {
                    no_longer_valid()
                }
                other => other,
            })?;
        // Spend the link first: of two acceptances at once, one wins.
        let spent = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Utc::now().into())
            .filter(invitation::Column::Id.eq(row.id))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(fv.db())
            .await?
            .rows_affected;
        if spent != 1 {
            return Err(bad_link());
        }
        let assignment = NewAssignment {
            company_id: row.company_id,
            role_id: row.role_id,
            is_default: false,
            scope: Default::default(),
        };
        let system = Actor::system();
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(row.email.as_str()))
            .one(fv.db())
            .await?;
        let result = match existing {
            Some(found) => fv
                .assignments()
                .assign(&system, found.id, assignment)
                .await
                .map(|_| (found, false)),
            None => {
                let input = NewUser {
                    email: row.email.clone(),
                    username: member.username.unwrap_or_default(),
                    password: Some(member.password.unwrap_or_default()),
                    full_name: member.full_name,
                    current_company_id: Some(row.company_id),
                    ..Default::default()
                };
                fv.users()
                    .create_with_role(&system, input, Some(assignment))
                    .await
                    .map(|(u, _)| (u, true))
            }
        };
        let (user, created) = match result {
            Ok(done) => done,
            Err(e) => {
                // Nothing was made: the link works again.
                invitation::Entity::update_many()
                    .col_expr(
                        invitation::Column::AcceptedAt,
                        sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter(invitation::Column::Id.eq(row.id))
                    .exec(fv.db())
                    .await?;
                return Err(e);
            }
        };
        let txn = fv.begin_write().await?;
        invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedBy, user.id.into())
            .filter(invitation::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            &AuditContext::of(user.id, origin),
            entry("accept_invitation", &row),
        )
        .await?;
        txn.commit().await?;
        Ok(Accepted {
            user,
            company_id: row.company_id,
            created,
        })
    }

    async fn live(&self, token: &str) -> Result<invitation::Model> {
        if token.is_empty() || token.len() > 128 {
            return Err(bad_link());
        }
        invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(hash(self.fv, token)))
            .one(self.fv.db())
            .await?
            .filter(|i| {
                i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > Utc::now()
            })
            .ok_or_else(bad_link)
    }
}

/// The rules of creating a user with `role_id` in `company_id`.
async fn ensure_may_invite(
    fv: &Fastvue,
    actor: &Actor,
    company_id: i64,
    role_id: i64,
) -> Result<()> {
    actor
        .require_in(fv, company_id, codenames::USER_CREATE)
        .await?;
    actor
        .require_in(fv, company_id, codenames::ROLE_ASSIGN)
        .await?;
    assignments::grantable_role(fv, actor, company_id, role_id, Default::default()).await?;
    Ok(())
}

fn bad_link() -> Error {
    Error::invalid(
        "token",
        "this invitation is unknown, expired, used or withdrawn",
    )
}

fn no_longer_valid() -> Error {
    Error::Forbidden(
        "the person who invited you may no longer give this role; ask for a new invitation".into(),
    )
}

fn hash(fv: &Fastvue, token: &str) -> String {
    keyed::stored_hash(fv, "invite", token)
}

fn entry<'a>(action: &'a str, row: &invitation::Model) -> Entry<'a> {
    Entry {
        action,
        entity_type: "invitation",
        entity_id: Some(row.id),
        company_id: Some(row.company_id),
        old_values: None,
        new_values: Some(serde_json::json!({ "email": row.email, "role_id": row.role_id })),
    }
}
