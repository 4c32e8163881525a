//! One configured sign-in provider: the authorization URL it sends browsers to and the
//! identity it returns for a code, whatever its protocol (OpenID Connect, Google's
//! userinfo flow, GitHub).
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, HttpClientError, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl, reqwest,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::http;
use super::oidc::{IdTokenError, Issuer};
use super::profile::{Profile, SignInError};
use crate::config::{Protocol, ProviderSettings, Settings};
use crate::error::{Error, Result};

/// Random bytes in a `state` (43 URL-safe characters).
const STATE_BYTES: u32 = 32;

/// The token response's `id_token` (OpenID Connect), kept by the `oauth2` client.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;
type NewClient = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;
type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// A configured provider, ready to sign people in.
pub struct Provider {
    settings: ProviderSettings,
    http: reqwest::Client,
    issuer: Option<Issuer>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.settings.name)
            .field("protocol", &self.settings.protocol.as_str())
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// A fresh authorization request (see [`Provider::authorization_request`]).
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

/// The OpenID `nonce` of a sign-in: derived from its PKCE verifier (SHA-256, so the
/// public nonce reveals nothing of the secret verifier), hence bound to the stored state
/// without storing anything more.
pub(crate) fn nonce_of(verifier: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"fastvue oidc nonce\0");
    h.update(verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

impl Provider {
    /// The providers of `settings`, in configuration order. Fixed endpoints are checked
    /// here; an OpenID issuer is first contacted by the first sign-in.
    pub fn all_from_settings(settings: &Settings) -> Result<Vec<Self>> {
        settings
            .oauth
            .providers
            .iter()
            .map(|p| Self::new(p, settings))
            .collect()
    }

    fn new(p: &ProviderSettings, settings: &Settings) -> Result<Self> {
        if let Some((auth_url, token_url)) = p.protocol.fixed_endpoints() {
            client(p, auth_url, token_url).map_err(Error::Internal)?;
        }
        let issuer = match &p.protocol {
            Protocol::Oidc { issuer } => Some(Issuer::new(
                issuer,
                settings.environment.is_production(),
                settings.oauth.jwks_min_refresh,
            )),
            _ => None,
        };
        RedirectUrl::new(p.redirect_uri.clone())
            .map_err(|e| Error::Internal(format!("{} redirect URI: {e}", p.name)))?;
        Ok(Self {
            settings: p.clone(),
            http: http::client()?,
            issuer,
        })
    }

    /// Its settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// Its name (the route segment and the `provider` of its links).
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The authorization and token endpoints (from discovery for OpenID Connect).
    async fn endpoints(&self) -> Result<(String, String), String> {
        if let Some(issuer) = &self.issuer {
            let d = issuer.discovery(&self.http).await?;
            return Ok((d.authorization_endpoint.clone(), d.token_endpoint.clone()));
        }
        self.settings
            .protocol
            .fixed_endpoints()
            .map(|(a, t)| (a.to_owned(), t.to_owned()))
            .ok_or_else(|| "no issuer".to_owned())
    }

    /// A new authorization request: the URL (with `state`, a PKCE S256 challenge, the
    /// scopes and, for OpenID Connect, a `nonce`) and the state and verifier it was made
    /// with. [`Error::Upstream`] when an OpenID issuer cannot be reached.
    pub async fn authorization_request(&self) -> Result<AuthorizationRequest> {
        let (auth_url, token_url) = self.endpoints().await.map_err(|reason| {
            tracing::warn!(provider = %self.settings.name, %reason, "the sign-in provider is unreachable");
            Error::Upstream {
                message: format!(
                    "the sign-in provider {} cannot be reached; try again later",
                    self.settings.name
                ),
                retry_after: 30,
            }
        })?;
        let client = client(&self.settings, &auth_url, &token_url).map_err(Error::Internal)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(|| CsrfToken::new_random_len(STATE_BYTES))
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        let nonce;
        match &self.settings.protocol {
            Protocol::Oidc { .. } => {
                nonce = nonce_of(verifier.secret());
                request = request.add_extra_param("nonce", &nonce);
            }
            Protocol::Userinfo { .. } => {
                request = request.add_extra_param("prompt", "select_account");
            }
            Protocol::GitHub { .. } => {}
        }
        let (url, state) = request.url();
        Ok(AuthorizationRequest {
            url: url.into(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// The identity behind an authorization `code` of the sign-in whose PKCE verifier is
    /// `verifier`: exchanges the code, then reads the ID token (validated), the userinfo
    /// or GitHub's API. Every failure is a [`SignInError`] and a reason for the log.
    pub(crate) async fn identify(
        &self,
        code: String,
        verifier: String,
    ) -> Result<Profile, (SignInError, String)> {
        let unavailable = |reason: String| (SignInError::ProviderUnavailable, reason);
        let (auth_url, token_url) = self.endpoints().await.map_err(unavailable)?;
        let client = client(&self.settings, &auth_url, &token_url)
            .map_err(|e| (SignInError::ServerError, e))?;
        let nonce = nonce_of(&verifier);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| (SignInError::ExchangeFailed, describe_token_error(&e)))?;
        let access_token = tokens.access_token().secret();
        let userinfo_failed = |reason: String| (SignInError::UserinfoFailed, reason);
        match (&self.settings.protocol, &self.issuer) {
            (_, Some(issuer)) => {
                let discovery = issuer.discovery(&self.http).await.map_err(unavailable)?;
                let id_token = tokens.extra_fields().id_token.as_deref().ok_or((
                    SignInError::InvalidIdToken,
                    "the token response has no id_token".to_owned(),
                ))?;
                let mut profile = issuer
                    .validate(
                        &self.http,
                        &discovery,
                        id_token,
                        &self.settings.client_id,
                        &nonce,
                    )
                    .await
                    .map_err(|e| match e {
                        IdTokenError::Invalid(r) => (
                            SignInError::InvalidIdToken,
                            format!("ID token refused: {r}"),
                        ),
                        IdTokenError::Keys(r) => unavailable(r),
                    })?;
                // An ID token without the email: ask userinfo, for the same subject.
                if profile.email.is_none()
                    && let Some(url) = &discovery.userinfo_endpoint
                {
                    let info: Profile = http::get_json(
                        &self.http,
                        url,
                        Some(access_token),
                        "application/json",
                        "userinfo",
                    )
                    .await
                    .map_err(userinfo_failed)?;
                    if info.sub != profile.sub {
                        return Err(userinfo_failed(
                            "userinfo is about another subject than the ID token".into(),
                        ));
                    }
                    profile.email = info.email;
                    profile.email_verified = info.email_verified;
                    profile.name = profile.name.or(info.name);
                }
                Ok(profile)
            }
            (Protocol::Userinfo { userinfo_url, .. }, None) => {
                let profile: Profile = http::get_json(
                    &self.http,
                    userinfo_url,
                    Some(access_token),
                    "application/json",
                    "userinfo",
                )
                .await
                .map_err(userinfo_failed)?;
                if profile.sub.trim().is_empty() {
                    return Err(userinfo_failed("userinfo has an empty sub".into()));
                }
                Ok(profile)
            }
            (Protocol::GitHub { api_url, .. }, None) => {
                super::github::profile(&self.http, api_url, access_token)
                    .await
                    .map_err(userinfo_failed)
            }
            (Protocol::Oidc { .. }, None) => Err((SignInError::ServerError, "no issuer".into())),
        }
    }
}

/// The `oauth2` client for these endpoints.
fn client(p: &ProviderSettings, auth_url: &str, token_url: &str) -> Result<Client, String> {
    let bad = |what: &str, e: &dyn fmt::Display| format!("{} {what}: {e}", p.name);
    let client: Client = NewClient::new(ClientId::new(p.client_id.clone()))
        .set_client_secret(ClientSecret::new(p.client_secret.expose().to_owned()))
        .set_auth_uri(AuthUrl::new(auth_url.to_owned()).map_err(|e| bad("authorization URL", &e))?)
        .set_token_uri(TokenUrl::new(token_url.to_owned()).map_err(|e| bad("token URL", &e))?)
        .set_redirect_uri(
            RedirectUrl::new(p.redirect_uri.clone()).map_err(|e| bad("redirect URI", &e))?,
        );
    // GitHub reads the client credentials from the form, not from Basic auth.
    Ok(match p.protocol {
        Protocol::GitHub { .. } => client.set_auth_type(AuthType::RequestBody),
        _ => client,
    })
}

/// What went wrong at the token endpoint, without anything secret.
fn describe_token_error(e: &TokenError) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => {
            format!("token endpoint refused the code: {}", r.error())
        }
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => {
            format!("token request failed: {}", http::without_url(e))
        }
        RequestTokenError::Request(_) => "token request failed".into(),
        RequestTokenError::Parse(e, _) => {
            format!("token response unreadable at {}", e.path())
        }
        RequestTokenError::Other(m) => format!("token endpoint: {m}"),
    }
}
