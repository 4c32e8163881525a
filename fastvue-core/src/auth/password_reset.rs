//! [`PasswordReset`]: "forgot password" by email.
//!
//! 1. [`PasswordReset::request`] checks the address's form and two limits
//!    (`RATE_LIMIT_MAIL_PER_IP_PER_MINUTE`, `RATE_LIMIT_MAIL_PER_ADDRESS_PER_MINUTE`,
//!    applied to every address whether or not an account has it), hands the rest to a
//!    background job ([`crate::mail::Mailer`]) that starts after a random pause of up to
//!    a second, and returns. The answer is therefore the same, in the same time, for a
//!    known and an unknown address, and the job's extra work for a known one does not
//!    land on the client's next request.
//! 2. The job looks the address up. Only an active account whose address is proven (not
//!    `email_unconfirmed`: an address an administrator set is not trusted with a reset
//!    link) gets a mail: a link to `{PUBLIC_URL}/reset-password?token=...` with a
//!    single-use token (32 random bytes, stored as a keyed hash, valid [`TOKEN_TTL`]).
//! 3. [`PasswordReset::reset`] takes the token and a new password: the password is set,
//!    the token and every other reset token of the user are spent, every session of the
//!    user ends, and the audit trail records `reset_password`.
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::Fastvue;
use crate::auth::email_links;
use crate::domain::{Email, Password};
use crate::entity::user;
use crate::error::{Error, Result};
use crate::mail::Mail;
use crate::policy::Origin;
use crate::service::audit::{self, AuditContext, Entry};
use crate::service::users::{UserChanges, write_update};

/// How long a reset link works.
pub const TOKEN_TTL: Duration = Duration::from_secs(30 * 60);
const PURPOSE: &str = "reset";
/// Upper bound of the random pause before a request's background job runs.
const JITTER_MS: u64 = 1_000;

/// Password reset by email; reach it through [`Fastvue::password_reset`].
#[derive(Debug, Clone, Copy)]
pub struct PasswordReset<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Password reset by email.
    pub fn password_reset(&self) -> PasswordReset<'_> {
        PasswordReset { fv: self }
    }
}

impl PasswordReset<'_> {
    /// Asks for a reset link for `email`, from `origin`. `Ok(())` whether or not an
    /// account has the address (see the [module docs](self)).
    ///
    /// Errors: [`Error::Validation`] on `email` for something that is not an address;
    /// [`Error::RateLimited`] past either limit; [`Error::Busy`] when the mail jobs are
    /// full.
    pub async fn request(&self, origin: &Origin, email: &str) -> Result<()> {
        let ip = origin.ip();
        let fv = self.fv;
        let email = Email::parse(email).map_err(|m| Error::invalid("email", m))?;
        let address = email.into_inner();
        let limits = &fv.settings().limits;
        if let Some(retry_after) = fv.request_limiter().mail(ip, &address, limits).await {
            return Err(Error::RateLimited {
                message: "too many reset requests; try again later".into(),
                retry_after,
            });
        }
        let owned = fv.clone();
        // The job starts after a random pause: the extra work of a known address (a write
        // and a mail) then slows some later request, never recognisably the next one.
        let pause = Duration::from_millis(rand::random_range(0..JITTER_MS));
        fv.mailer().background(async move {
            tokio::time::sleep(pause).await;
            owned.password_reset().prepare(&address).await
        })
    }

    /// The background half of [`PasswordReset::request`].
    async fn prepare(&self, address: &str) -> Result<()> {
        let fv = self.fv;
        let Some(user) = user::Entity::find()
            .filter(user::Column::Email.eq(address))
            .one(fv.db())
            .await?
            .filter(|u| u.is_active && !u.email_unconfirmed)
        else {
            return Ok(());
        };
        let token = email_links::issue(fv, user.id, PURPOSE, &user.email, TOKEN_TTL).await?;
        let link = format!(
            "{}/reset-password?token={token}",
            fv.settings().mail.public_url
        );
        fv.mailer().send(Mail {
            to: user.email.clone(),
            subject: "Reset your password".into(),
            body: format!(
                "Hello {},\n\nSomeone (hopefully you) asked to reset the password of your account.\n\
                 Open this link within {} minutes to choose a new one:\n\n{link}\n\n\
                 The link works once. If you did not ask for it, ignore this mail: your password stays as it is.\n",
                user.username,
                TOKEN_TTL.as_secs() / 60
            ),
        })
    }

    /// Sets a new password with a reset `token`, from `origin`; ends every session of
    /// the user.
    ///
    /// Errors: [`Error::Validation`] on `new_password` for a weak password, on `token`
    /// for an unknown, expired or used link (or an account deactivated since);
    /// [`Error::Busy`] when the hashing slots are full.
    pub async fn reset(&self, origin: &Origin, token: &str, new_password: &str) -> Result<()> {
        let fv = self.fv;
        let password =
            Password::parse(new_password).map_err(|m| Error::invalid("new_password", m))?;
        let row = email_links::find(fv, token, PURPOSE).await?;
        let phc = fv.hasher().hash_async(password.expose().to_owned()).await?;
        let txn = fv.begin_write().await?;
        email_links::spend(&txn, &row).await?;
        let user = crate::service::lookup::user(&txn, row.user_id).await?;
        if !user.is_active || user.email != row.email {
            return Err(email_links::bad_link());
        }
        let ctx = AuditContext::of(row.user_id, origin);
        let new_password = UserChanges {
            password_hash: Some(Some(phc)),
            ..UserChanges::default()
        };
        write_update(&txn, &ctx, &user, new_password, true).await?;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "reset_password",
                entity_type: "user",
                entity_id: Some(row.user_id),
                company_id: None,
                old_values: None,
                new_values: None,
            },
        )
        .await?;
        txn.commit().await?;
        fv.tokens().revoke_all(row.user_id).await?;
        Ok(())
    }
}
