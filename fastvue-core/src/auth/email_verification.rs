//! [`EmailVerification`]: proving that an account's holder reads its address.
//!
//! A changed address (by its holder or by an administrator) is unproven
//! (`users.email_unconfirmed`) and a link to `{PUBLIC_URL}/verify-email?token=...` is
//! mailed to it (valid [`TOKEN_TTL`], once). Until the link is followed the address is
//! never used for a password-reset link or to link a Google account by email. The holder
//! can ask for a new link ([`EmailVerification::request`], under the mail limits);
//! following it ([`EmailVerification::confirm`]) proves the address, audited as
//! `verify_email`. Accounts made by an administrator, the CLI or `data load` start
//! proven, as before (the administrator vouches); Google sign-up and accepted
//! invitations prove theirs on the way in.
use std::time::Duration;

use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};

use crate::Fastvue;
use crate::auth::email_links;
use crate::entity::user;
use crate::error::{Error, Result};
use crate::mail::Mail;
use crate::permission::Change;
use crate::policy::{Actor, Origin};
use crate::service::audit::{self, AuditContext, Entry};

/// How long a verification link works.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
const PURPOSE: &str = "verify";

/// Email verification; reach it through [`Fastvue::email_verification`].
#[derive(Debug, Clone, Copy)]
pub struct EmailVerification<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Email verification.
    pub fn email_verification(&self) -> EmailVerification<'_> {
        EmailVerification { fv: self }
    }
}

impl EmailVerification<'_> {
    /// Mails a verification link to `user`'s address.
    pub(crate) async fn send(&self, user: &user::Model) -> Result<()> {
        let fv = self.fv;
        let token = email_links::issue(fv, user.id, PURPOSE, &user.email, TOKEN_TTL).await?;
        let link = format!(
            "{}/verify-email?token={token}",
            fv.settings().mail.public_url
        );
        fv.mailer().send(Mail {
            to: user.email.clone(),
            subject: "Confirm your email address".into(),
            body: format!(
                "Hello {},\n\nPlease confirm that this is your address by opening this link within {} hours:\n\n{link}\n\n\
                 Until then it is not used for password resets or to link other sign-in accounts.\n",
                user.username,
                TOKEN_TTL.as_secs() / 3600
            ),
        })
    }

    /// Mails the caller a new link for its unproven address, from `origin` (the mail
    /// limits apply). [`Error::Conflict`] when the address is already proven.
    pub async fn request(&self, actor: &Actor, origin: &Origin) -> Result<()> {
        let fv = self.fv;
        let user = actor.session_user()?;
        if !user.email_unconfirmed {
            // A state, not a taken value: no field detail (whose code would be `taken`).
            return Err(Error::Conflict {
                field: None,
                message: "this address is already confirmed".into(),
            });
        }
        let limits = &fv.settings().limits;
        if let Some(retry_after) = fv
            .request_limiter()
            .mail(origin.ip(), &user.email, limits)
            .await
        {
            return Err(Error::RateLimited {
                message: "too many verification mails asked for; try again later".into(),
                retry_after,
            });
        }
        self.send(user).await
    }

    /// Proves the address a link was sent to, if it is still the account's.
    ///
    /// Errors: [`Error::Validation`] on `token` for an unknown, expired or used link, or
    /// one sent to an address the account no longer has.
    pub async fn confirm(&self, origin: &Origin, token: &str) -> Result<()> {
        let fv = self.fv;
        let row = email_links::find(fv, token, PURPOSE).await?;
        let txn = fv.begin_write().await?;
        email_links::spend(&txn, &row).await?;
        let found = crate::service::lookup::user(&txn, row.user_id).await?;
        if found.email != row.email || !found.is_active {
            return Err(email_links::bad_link());
        }
        let mut am = found.into_active_model();
        am.email_unconfirmed = Set(false);
        am.updated_at = Set(chrono::Utc::now());
        am.update(&txn).await?;
        audit::record(
            &txn,
            &AuditContext::of(row.user_id, origin),
            Entry {
                action: "verify_email",
                entity_type: "user",
                entity_id: Some(row.user_id),
                company_id: None,
                old_values: None,
                new_values: Some(serde_json::json!({ "email": row.email })),
            },
        )
        .await?;
        fv.commit_changes(txn, &[Change::User(row.user_id)]).await
    }
}
