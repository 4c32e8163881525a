//! [`SignIn`]: every way in as one core pipeline: limits → credential (password, or a
//! provider such as Google) → second factor when the account has one or a company of
//! the user requires one → tokens.
//!
//! Order of the password checks, each refusing before the next costs anything:
//!
//! 1. every attempt from the client IP counts against `RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE`
//!    (any username, any outcome: rotating usernames does not escape it);
//! 2. the failures of that IP and login name against `RATE_LIMIT_LOGIN_PER_MINUTE`;
//! 3. the password, under the hashing limit (`PASSWORD_HASH_*`: [`Error::Busy`] when
//!    full), with the same work for unknown users as for wrong passwords;
//! 4. [`SignIn::after_credential`]: a token pair, or a pending second step.
//!
//! A pending second step is an `mfa_token`: 32 random bytes, stored as a keyed hash in
//! `mfa_challenges`, valid for [`MFA_TOKEN_TTL`], bound to the user and the credential
//! that passed, spent by the step that completes it, and dropped after
//! [`MAX_TOKEN_FAILURES`] wrong codes. Its purpose is `verify` (enter a code,
//! [`SignIn::second_factor`]) or `enrol` (a company requires two-factor sign-in and the
//! user has none yet: [`SignIn::enrol_setup`], then [`SignIn::enrol_confirm`]).
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::Fastvue;
use crate::auth::TokenPair;
use crate::auth::history::Attempt;
use crate::auth::two_factor::{Enrolment, Proof};
use crate::auth::{keyed, rate_limit};
use crate::entity::{mfa_challenge, user};
use crate::error::{Error, Result};
use crate::policy::Origin;
use crate::service::audit::AuditContext;

/// How long an `mfa_token` stays valid.
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Wrong codes one `mfa_token` survives.
pub const MAX_TOKEN_FAILURES: i32 = 5;

/// Which credential passed the first step (recorded with the pending step and in the
/// sign-in history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    /// Username or email and password.
    Password,
    /// A sign-in provider, by its configured name (`google`, `github`, `corp`, ...).
    Provider(&'a str),
}

impl<'a> Method<'a> {
    /// The stored name: `password` or the provider's name.
    pub fn as_str(self) -> &'a str {
        match self {
            Self::Password => "password",
            Self::Provider(name) => name,
        }
    }
}

/// A sign-in that passed its first step and waits for the second.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The token that names this sign-in in the next step (shown once).
    pub mfa_token: String,
    /// `true`: the user must first enrol (a company requires two-factor sign-in);
    /// `false`: the user must enter a code.
    pub enrol: bool,
    /// Seconds until `mfa_token` expires.
    pub expires_in: i64,
}

/// Where a sign-in stands after its credential.
#[derive(Debug, Clone)]
pub enum Step {
    /// Signed in.
    Done(TokenPair),
    /// A second step is needed.
    SecondFactor(Pending),
}

/// Sign-in; reach it through [`Fastvue::sign_in`].
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Sign-in: limits, credential check, second factor and tokens.
    pub fn sign_in(&self) -> SignIn<'_> {
        SignIn { fv: self }
    }
}

impl SignIn<'_> {
    /// Signs `login` (a username or an email) in with `password`, from `origin`. Every
    /// outcome is recorded in the sign-in history.
    ///
    /// Errors: [`Error::RateLimited`] past either limit (with the seconds to wait),
    /// [`Error::Busy`] when the hashing slots are full, [`Error::InvalidCredentials`] for
    /// an unknown user, a wrong password or an inactive account (indistinguishable).
    /// On success, the user and where the sign-in stands.
    pub async fn password(
        &self,
        origin: &Origin,
        login: &str,
        password: &str,
    ) -> Result<(user::Model, Step)> {
        let fv = self.fv;
        let ip = origin.ip();
        let limited = match self.limit_ip(ip).await {
            Ok(()) => fv
                .login_limiter()
                .check(ip, login)
                .await
                .map(rate_limit::failures_limited),
            Err(e) => Some(e),
        };
        if let Some(e) = limited {
            self.record_failure(origin, login, "password", "rate_limited")
                .await;
            return Err(e);
        }
        match fv.users().authenticate(login, password).await {
            Ok(user) => {
                fv.login_limiter().clear(ip, login).await;
                let step = self
                    .after_credential(&user, Method::Password, origin)
                    .await?;
                Ok((user, step))
            }
            Err(Error::InvalidCredentials) => {
                fv.login_limiter().record_failure(ip, login).await;
                self.record_failure(origin, login, "password", "invalid_credentials")
                    .await;
                Err(Error::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// The step after a passed credential: tokens when `user` needs no second factor,
    /// else a pending step (`verify` when the user has two-factor sign-in on, `enrol`
    /// when a company of the user requires it and the user has none).
    pub async fn after_credential(
        &self,
        user: &user::Model,
        method: Method<'_>,
        origin: &Origin,
    ) -> Result<Step> {
        let two_factor = self.fv.two_factor();
        let enrol = if two_factor.is_enabled(user.id).await? {
            false
        } else if two_factor.is_required(user.id).await? {
            true
        } else {
            let pair = self.fv.tokens().issue_from(user, origin).await?;
            self.record(origin, user, method.as_str(), true, "signed_in")
                .await;
            return Ok(Step::Done(pair));
        };
        let outcome = if enrol {
            "enrol_required"
        } else {
            "mfa_required"
        };
        self.record(origin, user, method.as_str(), true, outcome)
            .await;
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(MFA_TOKEN_TTL).unwrap_or_default();
        // Expired pending steps of anyone go first: the table holds only live ones.
        mfa_challenge::Entity::delete_many()
            .filter(mfa_challenge::Column::ExpiresAt.lt(now))
            .exec(self.fv.db())
            .await?;
        let token = keyed::random_token(32);
        mfa_challenge::ActiveModel {
            token_hash: Set(self.token_hash(&token)),
            user_id: Set(user.id),
            purpose: Set(if enrol { "enrol" } else { "verify" }.to_owned()),
            method: Set(method.as_str().to_owned()),
            failures: Set(0),
            expires_at: Set(now + ttl),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(self.fv.db())
        .await?;
        Ok(Step::SecondFactor(Pending {
            mfa_token: token,
            enrol,
            expires_in: ttl.num_seconds(),
        }))
    }

    /// Completes a `verify` step with a code or a recovery code, from client `ip`.
    ///
    /// Errors: [`Error::RateLimited`] past the IP's sign-in limit or the account's code
    /// limit; [`Error::InvalidCredentials`] for an unknown, expired or spent token or an
    /// inactive user; [`Error::Validation`] (`code` or `recovery_code`) for a wrong,
    /// replayed or spent code (the token survives [`MAX_TOKEN_FAILURES`] of them).
    pub async fn second_factor(
        &self,
        origin: &Origin,
        mfa_token: &str,
        proof: Proof<'_>,
    ) -> Result<(user::Model, TokenPair)> {
        self.limit_ip(origin.ip()).await?;
        let pending = self.pending(mfa_token, "verify").await?;
        let (field, method) = match proof {
            Proof::Code(_) => ("code", "totp"),
            Proof::RecoveryCode(_) => ("recovery_code", "recovery_code"),
        };
        let user = self.active_user(pending.user_id).await?;
        match self.fv.two_factor().verify(pending.user_id, proof).await {
            Ok(true) => {}
            Ok(false) => {
                self.count_failure(&pending).await?;
                self.record(origin, &user, method, false, "wrong_code")
                    .await;
                return Err(Error::invalid(field, "wrong, expired or already used code"));
            }
            Err(e) => {
                if matches!(e, Error::RateLimited { .. }) {
                    self.record(origin, &user, method, false, "rate_limited")
                        .await;
                }
                return Err(e);
            }
        }
        let done = self.complete(&pending, origin).await?;
        self.record(origin, &done.0, method, true, "signed_in")
            .await;
        Ok(done)
    }

    /// A secret to enrol with, for an `enrol` step (the token stays valid).
    pub async fn enrol_setup(&self, origin: &Origin, mfa_token: &str) -> Result<Enrolment> {
        self.limit_ip(origin.ip()).await?;
        let pending = self.pending(mfa_token, "enrol").await?;
        let user = self.active_user(pending.user_id).await?;
        self.fv.two_factor().begin(&user).await
    }

    /// Completes an `enrol` step with the first code of the new secret: two-factor
    /// sign-in is on, and the answer carries tokens and the recovery codes (shown once).
    pub async fn enrol_confirm(
        &self,
        origin: &Origin,
        mfa_token: &str,
        code: &str,
    ) -> Result<(user::Model, TokenPair, Vec<String>)> {
        self.limit_ip(origin.ip()).await?;
        let pending = self.pending(mfa_token, "enrol").await?;
        let user = self.active_user(pending.user_id).await?;
        let ctx = AuditContext::of(user.id, origin);
        let codes = match self.fv.two_factor().finish(&ctx, &user, code).await {
            Ok(codes) => codes,
            Err(e @ Error::Validation(_)) => {
                self.count_failure(&pending).await?;
                self.record(origin, &user, "totp", false, "wrong_code")
                    .await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let (user, pair) = self.complete(&pending, origin).await?;
        self.record(origin, &user, "totp", true, "signed_in").await;
        Ok((user, pair, codes))
    }

    /// Records a step of `user` in the sign-in history.
    async fn record(
        &self,
        origin: &Origin,
        user: &user::Model,
        method: &str,
        success: bool,
        outcome: &str,
    ) {
        self.fv
            .sign_in_history()
            .record(
                origin,
                Attempt {
                    user_id: Some(user.id),
                    login: &user.email,
                    method,
                    success,
                    outcome,
                },
            )
            .await;
    }

    /// Records a failed first step for `login` (the account's, when it names one).
    async fn record_failure(&self, origin: &Origin, login: &str, method: &str, outcome: &str) {
        let user_id = self
            .fv
            .users()
            .find_by_login(login)
            .await
            .ok()
            .flatten()
            .map(|u| u.id);
        self.fv
            .sign_in_history()
            .record(
                origin,
                Attempt {
                    user_id,
                    login,
                    method,
                    success: false,
                    outcome,
                },
            )
            .await;
    }

    async fn limit_ip(&self, ip: &str) -> Result<()> {
        let per_ip = self.fv.settings().limits.login_per_ip_per_minute;
        match self.fv.request_limiter().login_attempt(ip, per_ip).await {
            Some(retry_after) => Err(Error::RateLimited {
                message: "too many sign-in attempts from this address; try again later".into(),
                retry_after,
            }),
            None => Ok(()),
        }
    }

    /// The live pending step `mfa_token` names, of `purpose`.
    async fn pending(&self, mfa_token: &str, purpose: &str) -> Result<mfa_challenge::Model> {
        if mfa_token.is_empty() || mfa_token.len() > 128 {
            return Err(Error::InvalidCredentials);
        }
        mfa_challenge::Entity::find()
            .filter(mfa_challenge::Column::TokenHash.eq(self.token_hash(mfa_token)))
            .one(self.fv.db())
            .await?
            .filter(|c| c.purpose == purpose && c.expires_at > Utc::now())
            .ok_or(Error::InvalidCredentials)
    }

    /// Spends the pending step and signs its user in.
    async fn complete(
        &self,
        pending: &mfa_challenge::Model,
        origin: &Origin,
    ) -> Result<(user::Model, TokenPair)> {
        let spent = mfa_challenge::Entity::delete_by_id(pending.id)
            .exec(self.fv.db())
            .await?
            .rows_affected;
        if spent != 1 {
            // Another request completed it first.
            return Err(Error::InvalidCredentials);
        }
        let user = self.active_user(pending.user_id).await?;
        let pair = self.fv.tokens().issue_from(&user, origin).await?;
        Ok((user, pair))
    }

    async fn count_failure(&self, pending: &mfa_challenge::Model) -> Result<()> {
        let db = self.fv.db();
        if pending.failures + 1 >= MAX_TOKEN_FAILURES {
            mfa_challenge::Entity::delete_by_id(pending.id)
                .exec(db)
                .await?;
        } else {
            mfa_challenge::Entity::update_many()
                .col_expr(
                    mfa_challenge::Column::Failures,
                    sea_orm::sea_query::Expr::col(mfa_challenge::Column::Failures).add(1),
                )
                .filter(mfa_challenge::Column::Id.eq(pending.id))
                .exec(db)
                .await?;
        }
        Ok(())
    }

    async fn active_user(&self, user_id: i64) -> Result<user::Model> {
        crate::service::lookup::user(self.fv.db(), user_id)
            .await
            .ok()
            .filter(|u| u.is_active)
            .ok_or(Error::InvalidCredentials)
    }

    fn token_hash(&self, token: &str) -> String {
        keyed::stored_hash(self.fv, "mfa", token)
    }
}
