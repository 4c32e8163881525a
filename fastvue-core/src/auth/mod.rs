//! Authentication: signed tokens ([`jwt`]), refresh-token rotation and revocation
//! ([`tokens`]), the cache of recently authenticated users ([`active_users`]), the failed-login limiter ([`rate_limit`]) and Google sign-in
//! ([`oauth`], with its pending sign-ins in [`oauth_state`]), the sign-in pipeline
//! ([`signin`]) and two-factor sign-in ([`two_factor`]).
//!
//! Reach them through the handle: [`crate::Fastvue::tokens`],
//! [`crate::Fastvue::login_limiter`] and [`crate::Fastvue::oauth`].
pub mod active_users;
pub(crate) mod email_links;
pub mod email_verification;
pub mod history;
pub mod jwt;
pub(crate) mod keyed;
#[cfg(feature = "oauth")]
pub mod oauth;
#[cfg(feature = "oauth")]
pub mod oauth_state;
pub mod password_reset;
pub mod rate_limit;
pub mod sessions;
pub mod signin;
pub mod tokens;
pub mod two_factor;

pub use email_verification::EmailVerification;
pub use history::SignInHistory;
pub use jwt::{Claims, JwtCodec, TokenKind};
pub use password_reset::PasswordReset;
pub use rate_limit::{LoginLimiter, RequestLimiter};
pub use sessions::{Session, Sessions};
pub use signin::{Method, Pending, SignIn, Step};
pub use tokens::{TokenPair, Tokens};
pub use two_factor::{Enrolment, Proof, TwoFactor};

use crate::error::Error;

/// Why a token was refused. Every variant but [`TokenError::Core`] means "401" to a client.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, badly signed, of the wrong algorithm or kind, unknown, revoked, or its
    /// user is inactive or gone.
    #[error("the token is invalid")]
    Invalid,
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// A refresh token that was already rotated or revoked was presented again; its whole
    /// family (the session) has been revoked.
    #[error("the refresh token was already used; the session has been revoked")]
    Reused,
    /// The database failed while checking the token.
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<sea_orm::DbErr> for TokenError {
    fn from(err: sea_orm::DbErr) -> Self {
        TokenError::Core(err.into())
    }
}
