//! Google sign-in: the OAuth 2.0 authorization-code flow with PKCE (S256), through the
//! `oauth2` crate, and the rules that turn a Google identity into a fastvue user.
//!
//! Reach it through [`crate::Fastvue::google`] (`None` when `GOOGLE_CLIENT_ID` is unset).
//!
//! 1. [`GoogleSignIn::begin`] takes a redirect target that passed
//!    [`GoogleSignIn::redirect_target`] (`FRONTEND_URL` or one of `BACKEND_CORS_ORIGINS`,
//!    nothing else), makes a random `state` and a PKCE verifier, keeps both with the
//!    target for at most [`GoogleSettings::state_ttl`] (see [`super::oauth_state`]) and
//!    returns the provider's authorization URL.
//! 2. [`GoogleSignIn::complete`] takes the state back (single use), exchanges the code
//!    with the verifier at the token endpoint, reads the OpenID userinfo and applies the
//!    linking rules:
//!    - an email the provider has not verified is refused, always;
//!    - an existing `(google, sub)` link signs its user in;
//!    - else, with `GOOGLE_AUTO_LINK`, the user with that email is linked and signed in,
//!      unless that email was set by someone other than the account holder and is
//!      unconfirmed (`users.email_unconfirmed`): whoever may edit an email must not be able
//!      to plant a Google login into someone else's account;
//!    - else, with `GOOGLE_ALLOW_SIGNUP`, a user is created in `DEFAULT_SIGNUP_COMPANY`
//!      with `DEFAULT_SIGNUP_ROLE` (and linked);
//!    - else the sign-in is refused. An inactive user is refused in every case.
//!
//!    Links and sign-ups are written in one transaction with their audit rows.
//!
//! Every failure is a [`Failure`] carrying a stable [`SignInError::code`] for the
//! frontend, the redirect target when the state was known, and a reason for the log
//! that never contains a code, token, verifier or secret.
//!
//! [`GoogleSettings::state_ttl`]: crate::config::GoogleSettings::state_ttl
use std::fmt;
use std::time::Duration;

use chrono::Utc;
use oauth2::basic::{BasicClient, BasicRequestTokenError};
use oauth2::reqwest;
use oauth2::url::Url;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Deserializer};

use super::TokenPair;
use super::oauth_state::{PendingLogin, StateStore, is_well_formed};
use crate::Fastvue;
use crate::config::{OAUTH_STATE_TTL, Settings};
use crate::domain::{Email, Name, Username};
use crate::entity::{company, role, social_account, user};
use crate::error::{Error, Result, map_unique};
use crate::permission::Change;
use crate::policy::Origin;
use crate::service::assignments::{self, NewAssignment};
use crate::service::audit::{self, AuditContext, Entry, snapshot};

/// The `provider` of Google links in `social_accounts`.
pub const GOOGLE: &str = "google";

/// Bound on each call to the provider (token exchange, userinfo).
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Random bytes in a `state` (43 URL-safe characters).
const STATE_BYTES: u32 = 32;
/// Tries at a free username before giving up.
const USERNAME_TRIES: usize = 5;

const LINK_UNIQUE: &[(&str, &[&str])] = &[(
    "provider_user_id",
    &[
        "uq_social_accounts_provider_uid",
        "social_accounts.provider",
    ],
)];
const USER_UNIQUE: &[(&str, &[&str])] = &[
    ("email", &["uq_users_email", "users.email"]),
    ("username", &["uq_users_username", "users.username"]),
];

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The Google client built from the settings: endpoints, credentials and an HTTP client
/// that follows no redirects (so a provider answer cannot point it elsewhere).
pub struct GoogleProvider {
    client: Client,
    http: reqwest::Client,
    userinfo_url: Url,
}

impl fmt::Debug for GoogleProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleProvider")
            .field("client_id", self.client.client_id())
            .field("userinfo_url", &self.userinfo_url.as_str())
            .finish_non_exhaustive()
    }
}

impl GoogleProvider {
    /// The provider of `settings`; `None` when Google sign-in is not configured.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>> {
        let g = &settings.google;
        let (Some(id), Some(secret), Some(redirect)) =
            (&g.client_id, &g.client_secret, &g.redirect_uri)
        else {
            return Ok(None);
        };
        let bad = |var: &str, e: &dyn fmt::Display| Error::Internal(format!("{var}: {e}"));
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
            .set_auth_uri(AuthUrl::new(g.auth_url.clone()).map_err(|e| bad("GOOGLE_AUTH_URL", &e))?)
            .set_token_uri(
                TokenUrl::new(g.token_url.clone()).map_err(|e| bad("GOOGLE_TOKEN_URL", &e))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect.clone()).map_err(|e| bad("GOOGLE_REDIRECT_URI", &e))?,
            );
        let userinfo_url =
            Url::parse(&g.userinfo_url).map_err(|e| bad("GOOGLE_USERINFO_URL", &e))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Some(Self {
            client,
            http,
            userinfo_url,
        }))
    }

    /// A new authorization request: the URL (with `state`, PKCE S256 challenge, scopes
    /// `openid email profile`) and the state and verifier it was made with.
    pub fn authorization_request(&self) -> AuthorizationRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(|| CsrfToken::new_random_len(STATE_BYTES))
            .add_scopes(["openid", "email", "profile"].map(|s| Scope::new(s.to_owned())))
            .add_extra_param("prompt", "select_account")
            .set_pkce_challenge(challenge)
            .url();
        AuthorizationRequest {
            url: url.into(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier) for an access token.
    async fn exchange(&self, code: String, verifier: String) -> Result<String, String> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| describe_token_error(&e))?;
        Ok(token.access_token().secret().clone())
    }

    /// Reads the OpenID userinfo with an access token.
    async fn userinfo(&self, access_token: &str) -> Result<GoogleProfile, String> {
        let res = self
            .http
            .get(self.userinfo_url.clone())
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("userinfo request failed: {}", without_url(&e)))?;
        let status = res.status();
        if !status.is_success() {
            return Err(format!("userinfo answered HTTP {}", status.as_u16()));
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("userinfo body unreadable: {}", without_url(&e)))?;
        let profile: GoogleProfile = serde_json::from_slice(&body)
            .map_err(|e| format!("userinfo is not the expected JSON: {e}"))?;
        if profile.sub.trim().is_empty() {
            return Err("userinfo has an empty sub".into());
        }
        Ok(profile)
    }
}

/// A reqwest error without the URL it carries (no query strings in logs).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad body"
    } else {
        "request error"
    };
    match e.status() {
        Some(s) => format!("{kind} (HTTP {})", s.as_u16()),
        None => kind.to_owned(),
    }
}

/// What went wrong at the token endpoint, without anything secret.
fn describe_token_error(e: &BasicRequestTokenError<HttpClientError<reqwest::Error>>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => {
            format!("token endpoint refused the code: {}", r.error())
        }
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => {
            format!("token request failed: {}", without_url(e))
        }
        RequestTokenError::Request(_) => "token request failed".into(),
        RequestTokenError::Parse(e, _) => {
            format!("token response unreadable at {}", e.path())
        }
        RequestTokenError::Other(m) => format!("token endpoint: {m}"),
    }
}

/// A fresh authorization request (see [`GoogleProvider::authorization_request`]).
pub struct AuthorizationRequest {
    /// The provider URL to send the browser to.
    pub url: String,
    /// The `state` in that URL.
    pub state: String,
    /// The PKCE code verifier whose S256 challenge is in that URL. Secret.
    pub verifier: String,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The OpenID userinfo fields fastvue reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoogleProfile {
    /// The stable subject id of the Google account.
    pub sub: String,
    /// The account's email, if the `email` scope was granted.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether Google verified that the account owns the email (`true`/`"true"`).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: bool,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A boolean that some endpoints send as a string.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
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

/// A redirect target that passed [`GoogleSignIn::redirect_target`].
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
    /// The userinfo endpoint failed or answered nonsense (`userinfo_failed`).
    UserinfoFailed,
    /// The provider has not verified the account's email (`email_not_verified`).
    EmailNotVerified,
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
            Self::EmailNotVerified => "email_not_verified",
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
    fn new(error: SignInError, redirect_to: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            error,
            redirect_to: redirect_to.map(str::to_owned),
            reason: reason.into(),
        }
    }

    fn from_core(err: &Error, redirect_to: Option<&str>) -> Self {
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
    /// The Google account was just linked to the user with its email.
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

/// A started sign-in (see [`GoogleSignIn::begin`]).
#[derive(Debug, Clone)]
pub struct Started {
    /// The provider URL to redirect the browser to.
    pub url: String,
    /// The `state` of this sign-in (bind it to the browser, e.g. in a cookie).
    pub state: String,
}

/// Google sign-in over a [`Fastvue`] handle.
#[derive(Debug, Clone, Copy)]
pub struct GoogleSignIn<'a> {
    pub(crate) fv: &'a Fastvue,
    pub(crate) provider: &'a GoogleProvider,
    pub(crate) states: &'a StateStore,
}

impl GoogleSignIn<'_> {
    /// [`allowed_redirect`] with this handle's settings.
    pub fn redirect_target(&self, redirect_to: Option<&str>) -> Result<RedirectTarget, String> {
        allowed_redirect(self.fv.settings(), redirect_to)
    }

    /// Starts a sign-in from client `ip` that ends at `target`: counts it against
    /// `RATE_LIMIT_OAUTH_PER_IP_PER_MINUTE` ([`Error::RateLimited`] past it, before any
    /// state is stored), keeps the state and the PKCE verifier (see
    /// [`super::oauth_state`]) and returns the provider URL.
    pub async fn begin(&self, ip: &str, target: &RedirectTarget) -> Result<Started> {
        let per_ip = self.fv.settings().limits.oauth_per_ip_per_minute;
        if let Some(retry_after) = self.fv.request_limiter().oauth_start(ip, per_ip).await {
            return Err(Error::RateLimited {
                message: "too many sign-ins started from this address; try again later".into(),
                retry_after,
            });
        }
        let request = self.provider.authorization_request();
        // Never longer than 10 minutes, whatever the settings say.
        let ttl = self.fv.settings().google.state_ttl.min(OAUTH_STATE_TTL);
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero());
        let pending = PendingLogin {
            provider: GOOGLE.to_owned(),
            verifier: request.verifier,
            redirect_to: target.0.clone(),
            expires_at: Utc::now() + ttl,
        };
        self.states.put(self.fv, &request.state, &pending).await?;
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
            .take(self.fv, GOOGLE, state)
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
        let access_token = self
            .provider
            .exchange(code, pending.verifier)
            .await
            .map_err(|reason| Failure::new(SignInError::ExchangeFailed, target, reason))?;
        let profile = self
            .provider
            .userinfo(&access_token)
            .await
            .map_err(|reason| Failure::new(SignInError::UserinfoFailed, target, reason))?;
        let (user, outcome) = self.resolve(ctx, &profile, target).await?;
        let step = match self
            .fv
            .sign_in()
            .after_credential(&user, crate::auth::Method::Google, origin)
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

    /// Applies the linking rules in one write transaction.
    async fn resolve(
        &self,
        ctx: &AuditContext,
        profile: &GoogleProfile,
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
        let core = |e: Error| Failure::from_core(&e, target);
        let g = &self.fv.settings().google;
        let txn = self.fv.begin_write().await.map_err(core)?;
        let link = social_account::Entity::find()
            .filter(social_account::Column::Provider.eq(GOOGLE))
            .filter(social_account::Column::ProviderUserId.eq(profile.sub.as_str()))
            .one(&txn)
            .await
            .map_err(|e| core(e.into()))?;
        let (found, outcome, company_id) = if let Some(link) = link {
            let found = crate::service::users::find(&txn, link.user_id)
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
                    "a user has this email and GOOGLE_AUTO_LINK is off",
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
            insert_link(&txn, ctx, found.id, profile, &email)
                .await
                .map_err(core)?;
            (found, Outcome::NewLink, None)
        } else {
            if !g.allow_signup {
                return Err(fail(
                    SignInError::SignupDisabled,
                    "no user has this Google account or email and GOOGLE_ALLOW_SIGNUP is off",
                ));
            }
            let (created, company_id) =
                sign_up(&txn, ctx, profile, &email, g)
                    .await
                    .map_err(|e| match e {
                        SignUpError::Config(reason) => {
                            fail(SignInError::ServerError, reason.as_str())
                        }
                        SignUpError::Core(e) => core(e),
                    })?;
            (created, Outcome::SignedUp, Some(company_id))
        };
        if !is_active(&found) {
            return Err(fail(SignInError::AccountInactive, "the user is inactive"));
        }
        let now = Utc::now();
        user::Entity::update_many()
            .col_expr(user::Column::LastLoginAt, Expr::value(now))
            .filter(user::Column::Id.eq(found.id))
            .exec(&txn)
            .await
            .map_err(|e| core(e.into()))?;
        let changes: Vec<Change> = company_id
            .map(|company_id| Change::Key {
                user_id: found.id,
                company_id,
            })
            .into_iter()
            .collect();
        self.fv.commit_changes(txn, &changes).await.map_err(core)?;
        let user = user::Model {
            last_login_at: Some(now),
            ..found
        };
        Ok((user, outcome))
    }
}

/// `access_denied` stays itself; every other provider error is `provider_error`.
fn provider_error(error: Option<&str>) -> SignInError {
    match error {
        Some("access_denied") => SignInError::AccessDenied,
        _ => SignInError::ProviderError,
    }
}

/// A provider-sent value fit for a log line: at most 64 plain characters.
fn printable(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(64)
        .collect()
}

fn is_active(u: &user::Model) -> bool {
    u.is_active && u.deleted_at.is_none()
}

async fn insert_link<C: ConnectionTrait>(
    txn: &C,
    ctx: &AuditContext,
    user_id: i64,
    profile: &GoogleProfile,
    email: &Email,
) -> Result<social_account::Model> {
    let link = social_account::ActiveModel {
        user_id: Set(user_id),
        provider: Set(GOOGLE.to_owned()),
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
    txn: &C,
    ctx: &AuditContext,
    profile: &GoogleProfile,
    email: &Email,
    g: &crate::config::GoogleSettings,
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
    let now = Utc::now();
    let created = user::ActiveModel {
        email: Set(email.as_str().to_owned()),
        username: Set(username),
        password_hash: Set(None),
        full_name: Set(profile
            .name
            .as_deref()
            .and_then(|n| Name::parse(n, 200).ok())
            .map(Name::into_inner)),
        is_active: Set(true),
        is_superuser: Set(false),
        current_company_id: Set(Some(company.id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| map_unique(e, USER_UNIQUE))?;
    let actor = AuditContext {
        actor_id: Some(created.id),
        ..ctx.clone()
    };
    audit::record(
        txn,
        &actor,
        Entry {
            action: "signup",
            entity_type: "user",
            entity_id: Some(created.id),
            company_id: Some(company.id),
            old_values: None,
            new_values: snapshot(&created),
        },
    )
    .await?;
    assignments::insert(
        txn,
        &actor,
        created.id,
        &NewAssignment {
            company_id: company.id,
            role_id: role.id,
            is_default: true,
        },
    )
    .await?;
    insert_link(txn, &actor, created.id, profile, email).await?;
    Ok((created, company.id))
}

/// A username derived from the email's local part (`ann.lee+x` -> `ann.lee_x`), with a
/// random suffix when taken.
async fn free_username<C: ConnectionTrait>(txn: &C, email: &Email) -> Result<String> {
    let base = username_base(email.as_str());
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

/// A valid username from an email's local part: other characters become `_`, at most
/// 90 characters, padded to 3.
fn username_base(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let mut name: String = local
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(90)
        .collect();
    while name.chars().count() < 3 {
        name.push('_');
    }
    debug_assert!(Username::parse(&name).is_ok(), "{name}");
    name
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest;

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

    #[test]
    fn the_authorization_url_carries_state_scopes_and_an_s256_challenge_of_the_verifier() {
        let provider = GoogleProvider::from_settings(&settings(&[]))
            .unwrap()
            .expect("configured");
        let a = provider.authorization_request();
        let b = provider.authorization_request();
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier, b.verifier);
        assert!(is_well_formed(&a.state), "{}", a.state);
        assert!((43..=128).contains(&a.verifier.len()));
        let url = Url::parse(&a.url).unwrap();
        assert!(a.url.starts_with(crate::config::GOOGLE_AUTH_URL));
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
    fn provider_is_absent_without_a_client_id() {
        let s = Settings::from_source(|_| None).unwrap();
        assert!(GoogleProvider::from_settings(&s).unwrap().is_none());
    }

    #[test]
    fn userinfo_reads_email_verified_as_bool_or_string() {
        let p: GoogleProfile = serde_json::from_str(
            r#"{"sub":"1","email":"a@b.co","email_verified":"true","name":"A","picture":"x"}"#,
        )
        .unwrap();
        assert!(p.email_verified);
        let p: GoogleProfile =
            serde_json::from_str(r#"{"sub":"1","email_verified":false}"#).unwrap();
        assert!(!p.email_verified);
        assert_eq!(p.email, None);
        let p: GoogleProfile = serde_json::from_str(r#"{"sub":"1"}"#).unwrap();
        assert!(!p.email_verified);
    }

    #[test]
    fn provider_errors_and_usernames_are_sanitised() {
        assert_eq!(
            provider_error(Some("access_denied")),
            SignInError::AccessDenied
        );
        assert_eq!(
            provider_error(Some("server_error")),
            SignInError::ProviderError
        );
        assert_eq!(printable("bad\nvalue<script>"), "badvaluescript");
        assert_eq!(username_base("ann.lee+x@example.com"), "ann.lee_x");
        assert_eq!(username_base("a@example.com"), "a__");
        assert!(Username::parse(&username_base(&format!("{}@x.io", "é".repeat(200)))).is_ok());
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
            SignInError::EmailNotVerified,
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
