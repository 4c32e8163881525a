//! Sign-in through other identity providers: any OpenID Connect provider (Keycloak,
//! Okta, Microsoft Entra ID, ...), Google and GitHub, each configured by name
//! (`OAUTH_PROVIDERS`, see [`crate::config::ProviderSettings`]), all through one flow
//! that ends in the sign-in service ([`crate::auth::SignIn::after_credential`]), so no
//! provider can skip the second factor.
//!
//! Reach a provider through [`crate::Fastvue::oauth`] (`None` when it is not enabled).
//!
//! 1. [`OAuthSignIn::begin`] takes a redirect target that passed
//!    [`OAuthSignIn::redirect_target`] (`FRONTEND_URL` or one of `BACKEND_CORS_ORIGINS`,
//!    nothing else), makes a random `state` and a PKCE verifier, keeps both with the
//!    target and the provider's name for at most [`OAuthSettings::state_ttl`] (see
//!    [`super::oauth_state`]) and returns the provider's authorization URL (with an
//!    OpenID `nonce` derived from the verifier).
//! 2. [`OAuthSignIn::complete`] takes the state back (single use, and only for the
//!    provider that started it), exchanges the code with the verifier, reads the identity
//!    (the validated ID token, see [`oidc`]; Google's userinfo; GitHub's primary verified
//!    email) and applies the linking rules of that provider:
//!    - an email the provider has not verified is refused, always;
//!    - with `OAUTH_{NAME}_ALLOWED_DOMAINS`, an email outside those domains is refused;
//!    - an existing `(provider, sub)` link signs its user in;
//!    - else, with `AUTO_LINK`, the user with that email is linked and signed in,
//!      unless that email was set by someone other than the account holder and is
//!      unconfirmed (`users.email_unconfirmed`): whoever may edit an email must not be able
//!      to plant a provider login into someone else's account;
//!    - else, with `ALLOW_SIGNUP`, a user is created in the provider's default company
//!      with its default role (and linked);
//!    - else the sign-in is refused. An inactive user is refused in every case.
//!
//!    Links and sign-ups are written in one transaction with their audit rows.
//!
//! Every failure is a [`Failure`] carrying a stable [`SignInError::code`] for the
//! frontend, the redirect target when the state was known, and a reason for the log
//! that never contains a code, token, verifier or secret.
//!
//! [`OAuthSettings::state_ttl`]: crate::config::OAuthSettings::state_ttl
use chrono::Utc;

use super::TokenPair;
use super::oauth_state::{PendingLogin, StateStore, is_well_formed};
use crate::Fastvue;
use crate::config::{OAUTH_STATE_TTL, ProviderSettings, Settings};
use crate::entity::user;
use crate::error::{Error, Result};
use crate::policy::Origin;
use crate::service::audit::AuditContext;

mod github;
mod http;
mod link;
pub mod oidc;
mod profile;
mod provider;

use profile::printable;
pub use profile::{Profile, SignInError};
pub use provider::{AuthorizationRequest, Provider};

/// The `provider` of Google links in `social_accounts`.
pub const GOOGLE: &str = "google";

/// A redirect target that passed [`OAuthSignIn::redirect_target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget(String);

impl RedirectTarget {
    /// The URL (as configured: `FRONTEND_URL` or a CORS origin).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a `redirect_to`: absent means `FRONTEND_URL`; otherwise it must be
/// `FRONTEND_URL` or one of `BACKEND_CORS_ORIGINS` (a trailing `/` aside). Returns the
/// configured form, or why it is refused.
pub fn allowed_redirect(
    settings: &Settings,
    redirect_to: Option<&str>,
) -> Result<RedirectTarget, String> {
    let frontend = settings.frontend_url.as_deref();
    let wanted = redirect_to.map(str::trim).filter(|r| !r.is_empty());
    let Some(wanted) = wanted else {
        return frontend
            .map(|f| RedirectTarget(f.to_owned()))
            .ok_or_else(|| "is required (no FRONTEND_URL is configured)".to_owned());
    };
    let norm = |u: &str| u.strip_suffix('/').unwrap_or(u).to_owned();
    let wanted_norm = norm(wanted);
    frontend
        .into_iter()
        .chain(settings.backend_cors_origins.iter().map(String::as_str))
        .find(|allowed| norm(allowed) == wanted_norm)
        .map(|allowed| RedirectTarget(allowed.to_owned()))
        .ok_or_else(|| "must be FRONTEND_URL or one of BACKEND_CORS_ORIGINS".to_owned())
}

/// A failed sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub error: SignInError,
    /// The stored redirect target, when the state was known.
    pub redirect_to: Option<String>,
    /// Details for the log (never a code, token, verifier or secret).
    pub reason: String,
}

impl Failure {
    pub(crate) fn new(
        error: SignInError,
        redirect_to: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            error,
            redirect_to: redirect_to.map(str::to_owned),
            reason: reason.into(),
        }
    }

    pub(crate) fn from_core(err: &Error, redirect_to: Option<&str>) -> Self {
        let kind = match err {
            Error::Unavailable(_) => SignInError::TemporarilyUnavailable,
            _ => SignInError::ServerError,
        };
        Self::new(kind, redirect_to, err.to_string())
    }
}

/// What the provider sent to the callback.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state of the sign-in.
    pub state: Option<String>,
    /// The provider's error code (`access_denied`, ...), instead of a code.
    pub error: Option<String>,
}

/// How a successful sign-in found its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Through an existing link.
    Linked,
    /// The provider account was just linked to the user with its email.
    NewLink,
    /// The user was just created.
    SignedUp,
}

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user (with `last_login_at` updated).
    pub user: user::Model,
    /// A new session, or the pending second step when the account has two-factor
    /// sign-in on or a company of the user requires it.
    pub step: SignedInStep,
    /// Where to send the browser.
    pub redirect_to: String,
    /// How the user was found.
    pub outcome: Outcome,
}

/// What a completed provider sign-in gives the browser.
#[derive(Debug, Clone)]
pub enum SignedInStep {
    /// Signed in.
    Tokens(TokenPair),
    /// The second step of [`crate::auth::SignIn`] is needed (`POST /auth/login/2fa`, or
    /// the enrolment routes when `enrol`).
    SecondFactor(crate::auth::Pending),
}

/// A started sign-in (see [`OAuthSignIn::begin`]).
#[derive(Debug, Clone)]
pub struct Started {
    /// The provider URL to redirect the browser to.
    pub url: String,
    /// The `state` of this sign-in (bind it to the browser, e.g. in a cookie).
    pub state: String,
}

/// Sign-in with one provider over a [`Fastvue`] handle.
#[derive(Debug, Clone, Copy)]
pub struct OAuthSignIn<'a> {
    pub(crate) fv: &'a Fastvue,
    pub(crate) provider: &'a Provider,
    pub(crate) states: &'a StateStore,
}

impl Fastvue {
    /// Sign-in with the enabled provider called `name`; `None` when no such provider
    /// is enabled.
    pub fn oauth(&self, name: &str) -> Option<OAuthSignIn<'_>> {
        self.enabled_oauth_providers()
            .iter()
            .find(|p| p.name() == name)
            .map(|provider| OAuthSignIn {
                fv: self,
                provider,
                states: self.oauth_states(),
            })
    }
}

impl OAuthSignIn<'_> {
    /// The provider's settings.
    pub fn settings(&self) -> &ProviderSettings {
        self.provider.settings()
    }

    /// [`allowed_redirect`] with this handle's settings.
    pub fn redirect_target(&self, redirect_to: Option<&str>) -> Result<RedirectTarget, String> {
        allowed_redirect(self.fv.settings(), redirect_to)
    }

    /// Starts a sign-in from client `ip` that ends at `target`: counts it against
    /// `RATE_LIMIT_OAUTH_PER_IP_PER_MINUTE` ([`Error::RateLimited`] past it, before any
    /// state is stored), keeps the state and the PKCE verifier (see
    /// [`super::oauth_state`]) and returns the provider URL. [`Error::Upstream`] when an
    /// OpenID issuer cannot be reached.
    pub async fn begin(&self, ip: &str, target: &RedirectTarget) -> Result<Started> {
        let per_ip = self.fv.settings().limits.oauth_per_ip_per_minute;
        if let Some(retry_after) = self.fv.request_limiter().oauth_start(ip, per_ip).await {
            return Err(Error::RateLimited {
                message: "too many sign-ins started from this address; try again later".into(),
                retry_after,
            });
        }
        let request = self.provider.authorization_request().await?;
        // Never longer than 10 minutes, whatever the settings say.
        let ttl = self.fv.settings().oauth.state_ttl.min(OAUTH_STATE_TTL);
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero());
        let pending = PendingLogin {
            provider: self.provider.name().to_owned(),
            verifier: request.verifier,
            redirect_to: target.0.clone(),
            expires_at: Utc::now() + ttl,
        };
        self.states
            .put(self.fv.db(), &request.state, &pending)
            .await?;
        Ok(Started {
            url: request.url,
            state: request.state,
        })
    }

    /// Finishes a sign-in (see the [module docs](self)): on success the user and a new
    /// token pair; every failure names its [`SignInError`].
    pub async fn complete(&self, origin: &Origin, callback: Callback) -> Result<SignedIn, Failure> {
        let ctx = &AuditContext {
            actor_id: None,
            ip_address: origin.ip_address.clone(),
            request_id: origin.request_id.clone(),
        };
        let Some(state) = callback.state.as_deref() else {
            let error = if callback.error.is_some() {
                provider_error(callback.error.as_deref())
            } else {
                SignInError::InvalidRequest
            };
            return Err(Failure::new(error, None, "the callback has no state"));
        };
        if !is_well_formed(state) {
            return Err(Failure::new(
                SignInError::InvalidState,
                None,
                "malformed state",
            ));
        }
        let pending = self
            .states
            .take(self.fv.db(), self.provider.name(), state)
            .await
            .map_err(|e| Failure::from_core(&e, None))?
            .ok_or_else(|| {
                Failure::new(
                    SignInError::InvalidState,
                    None,
                    "unknown or already used state",
                )
            })?;
        // The target was allowed when the flow began; check it against the configuration
        // of this replica, which may have changed since.
        let Ok(RedirectTarget(redirect_to)) = self.redirect_target(Some(&pending.redirect_to))
        else {
            return Err(Failure::new(
                SignInError::InvalidState,
                None,
                "the stored redirect target is no longer allowed",
            ));
        };
        let target = Some(redirect_to.as_str());
        if pending.is_expired(Utc::now()) {
            return Err(Failure::new(
                SignInError::InvalidState,
                target,
                "expired state",
            ));
        }
        if let Some(error) = callback.error.as_deref() {
            return Err(Failure::new(
                provider_error(Some(error)),
                target,
                format!("the provider answered error={}", printable(error)),
            ));
        }
        let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
            return Err(Failure::new(
                SignInError::InvalidRequest,
                target,
                "the callback has no code",
            ));
        };
        let profile = self
            .provider
            .identify(code, pending.verifier)
            .await
            .map_err(|(error, reason)| Failure::new(error, target, reason))?;
        let (user, outcome) =
            link::resolve(self.fv, self.provider.settings(), ctx, &profile, target).await?;
        let step = match self
            .fv
            .sign_in()
            .after_credential(
                &user,
                crate::auth::Method::Provider(self.provider.name()),
                origin,
            )
            .await
            .map_err(|e| Failure::from_core(&e, target))?
        {
            crate::auth::Step::Done(pair) => SignedInStep::Tokens(pair),
            crate::auth::Step::SecondFactor(pending) => SignedInStep::SecondFactor(pending),
        };
        Ok(SignedIn {
            user,
            step,
            redirect_to,
            outcome,
        })
    }
}

/// `access_denied` stays itself; every other provider error is `provider_error`.
pub(crate) fn provider_error(error: Option<&str>) -> SignInError {
    match error {
        Some("access_denied") => SignInError::AccessDenied,
        _ => SignInError::ProviderError,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest;

    use oauth2::url::Url;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let mut all = vec![
            ("GOOGLE_CLIENT_ID", "client-id"),
            ("GOOGLE_CLIENT_SECRET", "client-secret"),
            (
                "GOOGLE_REDIRECT_URI",
                "https://api.example.com/api/v1/auth/oauth/google/callback",
            ),
            ("FRONTEND_URL", "https://app.example.com/admin/"),
            (
                "BACKEND_CORS_ORIGINS",
                "https://app.example.com,http://localhost:5173",
            ),
        ];
        all.extend_from_slice(vars);
        Settings::from_source(|k| {
            all.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("valid settings")
    }

    #[test]
    fn redirect_to_defaults_to_the_frontend_and_accepts_only_configured_targets() {
        let s = settings(&[]);
        let ok = |r: Option<&str>| allowed_redirect(&s, r).map(|t| t.as_str().to_owned());
        assert_eq!(ok(None).unwrap(), "https://app.example.com/admin/");
        assert_eq!(ok(Some("  ")).unwrap(), "https://app.example.com/admin/");
        assert_eq!(
            ok(Some("https://app.example.com/admin")).unwrap(),
            "https://app.example.com/admin/"
        );
        assert_eq!(
            ok(Some("https://app.example.com/")).unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            ok(Some("http://localhost:5173")).unwrap(),
            "http://localhost:5173"
        );
        for bad in [
            "https://evil.example.com",
            "https://app.example.com.evil.com",
            "https://app.example.com/admin/../x",
            "https://app.example.com/other",
            "//app.example.com",
            "javascript:alert(1)",
            "https://user@app.example.com",
            "http://app.example.com",
            "https://app.example.com#x",
            "HTTPS://APP.EXAMPLE.COM",
        ] {
            assert!(ok(Some(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn without_a_frontend_url_redirect_to_is_required() {
        let s = Settings::from_source(|_| None).unwrap();
        assert!(allowed_redirect(&s, None).is_err());
        assert!(allowed_redirect(&s, Some("https://app.example.com")).is_err());
    }

    #[tokio::test]
    async fn the_authorization_url_carries_state_scopes_and_an_s256_challenge_of_the_verifier() {
        let providers = Provider::all_from_settings(&settings(&[])).unwrap();
        let provider = &providers[0];
        assert_eq!(provider.name(), GOOGLE);
        let a = provider.authorization_request().await.unwrap();
        let b = provider.authorization_request().await.unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier, b.verifier);
        assert!(is_well_formed(&a.state), "{}", a.state);
        assert!((43..=128).contains(&a.verifier.len()));
        let url = Url::parse(&a.url).unwrap();
        assert!(a.url.starts_with(crate::config::GOOGLE_AUTH_URL));
        // Google's userinfo flow sends no nonce; OpenID providers get one (see oidc).
        assert!(!a.url.contains("nonce="));
        let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "client-id");
        assert_eq!(
            q["redirect_uri"],
            "https://api.example.com/api/v1/auth/oauth/google/callback"
        );
        assert_eq!(q["state"], a.state);
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["code_challenge_method"], "S256");
        let expected = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(a.verifier.as_bytes()));
        assert_eq!(q["code_challenge"], expected);
        assert!(!a.url.contains(&a.verifier));
        assert!(!a.url.contains("client-secret"));
        assert!(!format!("{a:?}").contains(&a.verifier));
    }

    #[test]
    fn no_provider_is_built_without_a_client_id() {
        let s = Settings::from_source(|_| None).unwrap();
        assert!(Provider::all_from_settings(&s).unwrap().is_empty());
    }

    #[test]
    fn the_nonce_is_derived_from_the_verifier_and_reveals_nothing_of_it() {
        let n = provider::nonce_of("verifier-1");
        assert_eq!(n, provider::nonce_of("verifier-1"));
        assert_ne!(n, provider::nonce_of("verifier-2"));
        assert_eq!(n.len(), 43);
        assert!(!n.contains("verifier"));
    }

    #[test]
    fn userinfo_reads_email_verified_as_bool_or_string() {
        let p: Profile = serde_json::from_str(
            r#"{"sub":"1","email":"a@b.co","email_verified":"true","name":"A","picture":"x"}"#,
        )
        .unwrap();
        assert!(p.email_verified);
        let p: Profile = serde_json::from_str(r#"{"sub":"1","email_verified":false}"#).unwrap();
        assert!(!p.email_verified);
        assert_eq!(p.email, None);
        let p: Profile = serde_json::from_str(r#"{"sub":"1"}"#).unwrap();
        assert!(!p.email_verified);
    }

    #[test]
    fn provider_errors_are_sanitised() {
        assert_eq!(
            provider_error(Some("access_denied")),
            SignInError::AccessDenied
        );
        assert_eq!(
            provider_error(Some("server_error")),
            SignInError::ProviderError
        );
        assert_eq!(printable("bad\nvalue<script>"), "badvaluescript");
    }

    #[test]
    fn every_error_has_a_distinct_code() {
        let all = [
            SignInError::AccessDenied,
            SignInError::ProviderError,
            SignInError::InvalidRequest,
            SignInError::InvalidState,
            SignInError::ExchangeFailed,
            SignInError::UserinfoFailed,
            SignInError::InvalidIdToken,
            SignInError::ProviderUnavailable,
            SignInError::EmailNotVerified,
            SignInError::DomainNotAllowed,
            SignInError::AccountNotLinked,
            SignInError::SignupDisabled,
            SignInError::AccountInactive,
            SignInError::TemporarilyUnavailable,
            SignInError::ServerError,
        ];
        let mut codes: Vec<&str> = all.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
