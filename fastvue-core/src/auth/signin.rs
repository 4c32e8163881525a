//! [`SignIn`]: password sign-in with its limits, as one core call.
//!
//! Order of the checks, each refusing before the next costs anything:
//!
//! 1. every attempt from the client IP counts against `RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE`
//!    (any username, any outcome: rotating usernames does not escape it);
//! 2. the failures of that IP and login name against `RATE_LIMIT_LOGIN_PER_MINUTE`;
//! 3. the password, under the hashing limit (`PASSWORD_HASH_*`: [`Error::Busy`] when
//!    full), with the same work for unknown users as for wrong passwords;
//! 4. a token pair for the user.
use crate::Fastvue;
use crate::auth::TokenPair;
use crate::entity::user;
use crate::error::{Error, Result};

/// Sign-in; reach it through [`Fastvue::sign_in`].
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl SignIn<'_> {
    /// Signs `login` (a username or an email) in with `password`, from client `ip`.
    ///
    /// Errors: [`Error::RateLimited`] past either limit (with the seconds to wait),
    /// [`Error::Busy`] when the hashing slots are full, [`Error::InvalidCredentials`] for
    /// an unknown user, a wrong password or an inactive account (indistinguishable).
    pub async fn password(
        &self,
        ip: &str,
        login: &str,
        password: &str,
    ) -> Result<(user::Model, TokenPair)> {
        let fv = self.fv;
        let per_ip = fv.settings().limits.login_per_ip_per_minute;
        if let Some(retry_after) = fv.request_limiter().login_attempt(ip, per_ip).await {
            return Err(Error::RateLimited {
                message: "too many sign-in attempts from this address; try again later".into(),
                retry_after,
            });
        }
        let limiter = fv.login_limiter();
        if let Some(retry_after) = limiter.check(ip, login).await {
            return Err(failures_limited(retry_after));
        }
        match fv.users().authenticate(login, password).await {
            Ok(user) => {
                limiter.clear(ip, login).await;
                let pair = fv.tokens().issue(&user).await?;
                Ok((user, pair))
            }
            Err(Error::InvalidCredentials) => {
                limiter.record_failure(ip, login).await;
                Err(Error::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }
}

/// The refusal of the failed-attempt limit.
pub(crate) fn failures_limited(retry_after: u64) -> Error {
    Error::RateLimited {
        message: "too many failed attempts; try again later".into(),
        retry_after,
    }
}
