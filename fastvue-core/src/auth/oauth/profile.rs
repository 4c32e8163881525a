//! What a provider tells about a sign-in: who signed in ([`Profile`]) or why the sign-in
//! failed ([`SignInError`]), and the helpers that read provider-sent values. Kept apart
//! from the sign-in flow (the parent module, which works on the [`crate::Fastvue`]
//! handle) so that the provider clients (`provider`, `oidc`, `github`) do not depend on
//! that flow. Both types are re-exported as `crate::auth::oauth::{Profile, SignInError}`.
use std::fmt;

use serde::{Deserialize, Deserializer};

/// Who signed in at the provider: OpenID userinfo fields, also filled from an ID token
/// or GitHub's API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    /// The stable subject id of the account at the provider.
    pub sub: String,
    /// The account's email, if the `email` scope was granted.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the provider verified that the account owns the email (`true`/`"true"`).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: bool,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A boolean that some endpoints send as a string.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<B>::deserialize(d)? {
        Some(B::Bool(b)) => b,
        Some(B::Text(t)) => t.eq_ignore_ascii_case("true"),
        None => false,
    })
}

/// Why a sign-in failed; [`SignInError::code`] is what the frontend receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInError {
    /// The user declined at the provider (`access_denied`).
    AccessDenied,
    /// The provider reported another error on the callback (`provider_error`).
    ProviderError,
    /// The callback lacks `code` or `state` (`invalid_request`).
    InvalidRequest,
    /// The state is unknown, already used, expired, or not this browser's (`invalid_state`).
    InvalidState,
    /// The token endpoint refused the code or failed (`exchange_failed`).
    ExchangeFailed,
    /// The userinfo endpoint (or GitHub's API) failed or answered nonsense
    /// (`userinfo_failed`).
    UserinfoFailed,
    /// The OpenID ID token is missing, forged, expired, for another client, or has
    /// another nonce (`invalid_id_token`).
    InvalidIdToken,
    /// The provider's discovery document or keys cannot be fetched
    /// (`provider_unavailable`).
    ProviderUnavailable,
    /// The provider has not verified the account's email (`email_not_verified`).
    EmailNotVerified,
    /// The email is outside the provider's `ALLOWED_DOMAINS` (`domain_not_allowed`).
    DomainNotAllowed,
    /// A user has this email but auto-linking is off (`account_not_linked`).
    AccountNotLinked,
    /// No user matches and sign-up is off (`signup_disabled`).
    SignupDisabled,
    /// The matching user is deactivated (`account_inactive`).
    AccountInactive,
    /// The database or Redis is unavailable (`temporarily_unavailable`).
    TemporarilyUnavailable,
    /// Anything else, e.g. a misconfigured sign-up company (`server_error`).
    ServerError,
}

impl SignInError {
    /// The stable code sent to the frontend in `#error=<code>`.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::ProviderError => "provider_error",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidState => "invalid_state",
            Self::ExchangeFailed => "exchange_failed",
            Self::UserinfoFailed => "userinfo_failed",
            Self::InvalidIdToken => "invalid_id_token",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::EmailNotVerified => "email_not_verified",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::AccountNotLinked => "account_not_linked",
            Self::SignupDisabled => "signup_disabled",
            Self::AccountInactive => "account_inactive",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }
}

impl fmt::Display for SignInError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A provider-sent value fit for a log line: at most 64 plain characters.
pub(crate) fn printable(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(64)
        .collect()
}
