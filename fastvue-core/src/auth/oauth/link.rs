//! The linking rules: which fastvue user a provider identity signs in, and the links and
//! sign-ups they write.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use super::{Failure, Outcome, Profile, SignInError};
use crate::Fastvue;
use crate::config::ProviderSettings;
use crate::domain::{Email, Name, Username};
use crate::entity::{company, role, social_account, user};
use crate::error::{Error, Result, map_unique};
use crate::permission::Change;
use crate::policy::Actor;
use crate::service::assignments::NewAssignment;
use crate::service::audit::{self, AuditContext, Entry, snapshot};
use crate::service::users::{self, NewUser, NewUserAudit};

/// Tries at a free username before giving up.
const USERNAME_TRIES: usize = 5;

const LINK_UNIQUE: &[(&str, &[&str])] = &[(
    "provider_user_id",
    &[
        "uq_social_accounts_provider_uid",
        "social_accounts.provider",
    ],
)];

/// Applies the linking rules of provider `p` (see the [module docs](super)) in one write
/// transaction.
pub(super) async fn resolve(
    fv: &Fastvue,
    p: &ProviderSettings,
    ctx: &AuditContext,
    profile: &Profile,
    target: Option<&str>,
) -> Result<(user::Model, Outcome), Failure> {
    let fail = |error, reason: &str| Failure::new(error, target, reason);
    let email = match (&profile.email, profile.email_verified) {
        (Some(email), true) => Email::parse(email)
            .map_err(|_| fail(SignInError::UserinfoFailed, "userinfo email is malformed"))?,
        _ => {
            return Err(fail(
                SignInError::EmailNotVerified,
                "the provider has not verified the email",
            ));
        }
    };
    if !p.allows_email(email.as_str()) {
        return Err(fail(
            SignInError::DomainNotAllowed,
            "the email is outside the provider's ALLOWED_DOMAINS",
        ));
    }
    let core = |e: Error| Failure::from_core(&e, target);
    let g = p;
    let txn = fv.begin_write().await.map_err(core)?;
    let link = social_account::Entity::find()
        .filter(social_account::Column::Provider.eq(p.name.as_str()))
        .filter(social_account::Column::ProviderUserId.eq(profile.sub.as_str()))
        .one(&txn)
        .await
        .map_err(|e| core(e.into()))?;
    let (found, outcome, company_id) = if let Some(link) = link {
        let found = crate::service::lookup::user(&txn, link.user_id)
            .await
            .map_err(core)?;
        (found, Outcome::Linked, None)
    } else if let Some(found) = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(&txn)
        .await
        .map_err(|e| core(e.into()))?
    {
        if !g.auto_link {
            return Err(fail(
                SignInError::AccountNotLinked,
                "a user has this email and the provider's AUTO_LINK is off",
            ));
        }
        if !is_active(&found) {
            return Err(fail(SignInError::AccountInactive, "the user is inactive"));
        }
        if found.email_unconfirmed {
            return Err(fail(
                SignInError::AccountNotLinked,
                "a user has this email, but it was set by someone else and is unconfirmed",
            ));
        }
        // The sign-in flow links (no user is signed in yet): the audit row names no
        // actor; the link row itself names the user and the provider account.
        insert_link(&txn, ctx, found.id, &p.name, profile, &email)
            .await
            .map_err(core)?;
        (found, Outcome::NewLink, None)
    } else {
        if !g.allow_signup {
            return Err(fail(
                SignInError::SignupDisabled,
                "no user has this account or email and the provider's ALLOW_SIGNUP is off",
            ));
        }
        let (created, company_id) =
            sign_up(fv, &txn, ctx, profile, &email, g)
                .await
                .map_err(|e| match e {
                    SignUpError::Config(reason) => fail(SignInError::ServerError, reason.as_str()),
                    SignUpError::Core(e) => core(e),
                })?;
        (created, Outcome::SignedUp, Some(company_id))
    };
    if !is_active(&found) {
        return Err(fail(SignInError::AccountInactive, "the user is inactive"));
    }
    let user = users::record_sign_in(&txn, &found, None)
        .await
        .map_err(core)?;
    let changes: Vec<Change> = company_id
        .map(|company_id| Change::Key {
            user_id: found.id,
            company_id,
        })
        .into_iter()
        .collect();
    fv.commit_changes(txn, &changes).await.map_err(core)?;
    Ok((user, outcome))
}

fn is_active(u: &user::Model) -> bool {
    u.is_active && u.deleted_at.is_none()
}

async fn insert_link<C: ConnectionTrait>(
    txn: &C,
    ctx: &AuditContext,
    user_id: i64,
    provider: &str,
    profile: &Profile,
    email: &Email,
) -> Result<social_account::Model> {
    let link = social_account::ActiveModel {
        user_id: Set(user_id),
        provider: Set(provider.to_owned()),
        provider_user_id: Set(profile.sub.clone()),
        email: Set(Some(email.as_str().to_owned())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| map_unique(e, LINK_UNIQUE))?;
    audit::record(
        txn,
        ctx,
        Entry {
            action: "link",
            entity_type: "social_account",
            entity_id: Some(link.id),
            company_id: None,
            old_values: None,
            new_values: snapshot(&link),
        },
    )
    .await?;
    Ok(link)
}

enum SignUpError {
    /// DEFAULT_SIGNUP_COMPANY / DEFAULT_SIGNUP_ROLE name nothing usable.
    Config(String),
    Core(Error),
}

impl From<Error> for SignUpError {
    fn from(e: Error) -> Self {
        Self::Core(e)
    }
}

impl From<sea_orm::DbErr> for SignUpError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Core(e.into())
    }
}

/// Creates the user (no password), its role in the sign-up company and its link.
/// Returns the user and the company.
async fn sign_up<C: ConnectionTrait>(
    fv: &Fastvue,
    txn: &C,
    ctx: &AuditContext,
    profile: &Profile,
    email: &Email,
    g: &ProviderSettings,
) -> Result<(user::Model, i64), SignUpError> {
    let code = g.signup_company.as_deref().unwrap_or_default();
    let company = company::Entity::find()
        .filter(company::Column::Code.eq(code))
        .one(txn)
        .await?
        .filter(|c| c.is_active && c.deleted_at.is_none())
        .ok_or_else(|| {
            SignUpError::Config(format!(
                "DEFAULT_SIGNUP_COMPANY {code:?} names no active company"
            ))
        })?;
    let roles = role::Entity::find()
        .filter(role::Column::Codename.eq(g.signup_role.as_str()))
        .filter(role::Column::IsActive.eq(true))
        .all(txn)
        .await?;
    let role = roles
        .iter()
        .find(|r| r.company_id == Some(company.id))
        .or_else(|| roles.iter().find(|r| r.company_id.is_none()))
        .ok_or_else(|| {
            SignUpError::Config(format!(
                "DEFAULT_SIGNUP_ROLE {:?} names no active role of company {code:?}",
                g.signup_role
            ))
        })?;
    let username = free_username(txn, email).await?;
    // Through the users service, as every new account: the same checks, audit row,
    // assignment and escalation guard (the system actor; the new user is the actor of
    // its own rows).
    let prepared = fv
        .users()
        .prepare(NewUser {
            email: email.as_str().to_owned(),
            username,
            password: None,
            full_name: profile
                .name
                .as_deref()
                .and_then(|n| Name::parse(n, 200).ok())
                .map(Name::into_inner),
            is_active: Some(true),
            is_superuser: Some(false),
            current_company_id: Some(company.id),
        })
        .await?;
    let (created, _, _) = users::write_new(
        txn,
        &Actor::system(),
        ctx,
        prepared,
        Some(&NewAssignment {
            company_id: company.id,
            role_id: role.id,
            is_default: true,
            scope: Default::default(),
        }),
        NewUserAudit::SignUp,
    )
    .await?;
    let actor = AuditContext {
        actor_id: Some(created.id),
        ..ctx.clone()
    };
    insert_link(txn, &actor, created.id, &g.name, profile, email).await?;
    Ok((created, company.id))
}

/// A username derived from the email's local part (`ann.lee+x` -> `ann.lee_x`), with a
/// random suffix when taken.
async fn free_username<C: ConnectionTrait>(txn: &C, email: &Email) -> Result<String> {
    let base = Username::from_email(email.as_str(), "__").into_inner();
    for attempt in 0..USERNAME_TRIES {
        let candidate = if attempt == 0 {
            base.clone()
        } else {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            format!("{base}-{}", &suffix[..6])
        };
        let taken = user::Entity::find()
            .filter(user::Column::Username.eq(candidate.as_str()))
            .count(txn)
            .await?
            > 0;
        if !taken {
            return Ok(candidate);
        }
    }
    Err(Error::Internal("no free username for a sign-up".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_derived_from_emails_are_valid() {
        let base = |e: &str| Username::from_email(e, "__").into_inner();
        assert_eq!(base("ann.lee+x@example.com"), "ann.lee_x");
        assert_eq!(base("a@example.com"), "a__");
        assert!(Username::parse(&base(&format!("{}@x.io", "é".repeat(200)))).is_ok());
    }
}
