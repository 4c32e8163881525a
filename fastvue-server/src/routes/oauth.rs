//! Sign-in through providers (`/auth/oauth/providers`, `/auth/oauth/{provider}/*`) and
//! the caller's linked accounts (`/auth/me/social-accounts`).
//!
//! The browser navigates to `authorize`, which answers 302 to the provider with a
//! `state` and a PKCE challenge and binds the state to the browser with an HttpOnly
//! cookie. The provider sends the browser back to `callback`; on success it answers 302
//! to the stored `redirect_to` with
//! `#access_token=...&refresh_token=...&token_type=bearer&expires_in=...`, on any failure
//! 302 to the frontend with `#error=<code>` (and a log line without secrets). Both answer
//! 404 for a provider that is not enabled. The logic lives in
//! [`fastvue_core::auth::oauth`].
use chrono::{DateTime, Utc};
use fastvue_core::auth::oauth::{
    Callback, Failure, OAuthSignIn, Outcome, SignInError, SignedIn, SignedInStep,
};
use fastvue_core::entity::social_account;
use fastvue_core::error::FieldError;
use salvo::http::StatusCode;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, actor, client_ip, origin};
use crate::error::ApiError;
use crate::error_body::ErrorBody;
use crate::extract::{path_id, query};
use crate::state::app;

/// The cookie binding a sign-in's `state` to the browser that started it.
pub const STATE_COOKIE: &str = "fastvue_oauth_state";

/// An enabled provider, for a sign-in page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderOut {
    /// The name in routes and in linked accounts, e.g. `google`, `github`, `corp`.
    pub name: String,
    /// For the button, e.g. `Google`, `GitHub`, `Staff SSO`.
    pub display_name: String,
    /// `oidc`, `google` or `github`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the button navigates the browser (add `?redirect_to=...` if needed).
    pub authorize_url: String,
}

/// Query of `GET /auth/oauth/{provider}/authorize`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// Where the browser goes when the sign-in ends: `FRONTEND_URL` (the default) or one
    /// of `BACKEND_CORS_ORIGINS`.
    pub redirect_to: Option<String>,
}

/// Query of `GET /auth/oauth/{provider}/callback`, as the provider sends it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state given to `authorize`.
    pub state: Option<String>,
    /// The provider's error instead of a code, e.g. `access_denied`.
    pub error: Option<String>,
}

/// A provider account linked to the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SocialAccountOut {
    /// Id (for `DELETE /auth/me/social-accounts/{id}`).
    pub id: i64,
    /// Provider, e.g. `google`, `github` or a configured OpenID provider's name.
    pub provider: String,
    /// The provider's id of the account (its `sub`; GitHub's numeric user id).
    pub provider_user_id: String,
    /// Email the provider reported when the link was made.
    pub email: Option<String>,
    /// Link time.
    pub created_at: DateTime<Utc>,
}

impl From<social_account::Model> for SocialAccountOut {
    fn from(m: social_account::Model) -> Self {
        Self {
            id: m.id,
            provider: m.provider,
            provider_user_id: m.provider_user_id,
            email: m.email,
            created_at: m.created_at,
        }
    }
}

/// The enabled provider the path names, or 404.
fn provider<'a>(fv: &'a fastvue_core::Fastvue, req: &Request) -> Result<OAuthSignIn<'a>, ApiError> {
    let name: String = req.param("provider").unwrap_or_default();
    fv.oauth(&name).ok_or_else(|| {
        let shown: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(32)
            .collect();
        ApiError::not_found(format!(
            "no sign-in provider named {shown:?} is enabled on this server (see \
             GET /api/v1/auth/oauth/providers)"
        ))
    })
}

/// The path the state cookie is sent to: the provider's routes only.
fn cookie_path(name: &str) -> String {
    format!("/api/v1/auth/oauth/{name}")
}

/// 302 to `location`, never cached.
fn redirect(res: &mut Response, location: &str) -> Result<(), ApiError> {
    let value = HeaderValue::from_str(location).map_err(|_| {
        tracing::error!("a sign-in redirect is not a valid header value");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    })?;
    res.status_code(StatusCode::FOUND);
    res.headers_mut().insert(header::LOCATION, value);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(())
}

/// `Set-Cookie` for the state cookie: `value` for `max_age` seconds (0 deletes it).
/// `Secure` when the callback is reached over https.
fn set_state_cookie(res: &mut Response, p: &OAuthSignIn<'_>, value: &str, max_age: u64) {
    let secure = if p.settings().redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let path = cookie_path(&p.settings().name);
    let cookie = format!(
        "{STATE_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The state cookie the browser sent, if any.
fn state_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == STATE_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// The enabled sign-in providers, for a sign-in page.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oauth/providers",
    tag = "auth",
    description = "Public (no token). The providers enabled by OAUTH_PROVIDERS (or \
        GOOGLE_CLIENT_ID), in configuration order; empty when none is.",
    responses(
        (status = 200, description = "The enabled providers", body = Vec<ProviderOut>),
    )
)]
#[handler]
pub async fn list_providers(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let items: Vec<ProviderOut> = fv
        .oauth_providers()
        .map(|p| ProviderOut {
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            kind: p.protocol.as_str().to_owned(),
            authorize_url: format!("{}/authorize", cookie_path(&p.name)),
        })
        .collect();
    res.render(Json(items));
    Ok(())
}

/// Start a sign-in: 302 to the provider with `state` and a PKCE S256 challenge.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oauth/{provider}/authorize",
    tag = "auth",
    description = "Public (no token). Open it in the browser (a navigation, not a fetch). \
        Sets the HttpOnly cookie `fastvue_oauth_state` that the callback checks. \
        Answers 404 for a provider that is not enabled, 503 when an OpenID provider's \
        discovery document cannot be fetched.",
    params(
        ("provider" = String, Path, description = "An enabled provider's name, e.g. google, github, corp"),
        AuthorizeQuery,
    ),
    responses(
        (status = 302, description = "Redirect to the provider's consent page",
            headers(("Location" = String, description = "The provider's authorization URL"),
                    ("Set-Cookie" = String, description = "fastvue_oauth_state, 10 minutes"))),
        (status = 400, description = "redirect_to is neither FRONTEND_URL nor one of BACKEND_CORS_ORIGINS", body = ErrorBody),
        (status = 404, description = "No such provider is enabled", body = ErrorBody),
        (status = 429, description = "Too many sign-ins started from this IP; see Retry-After", body = ErrorBody),
        (status = 503, description = "The database or the provider is unavailable; see Retry-After", body = ErrorBody),
    )
)]
#[handler]
pub async fn authorize(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let provider = provider(&fv, req)?;
    let q: AuthorizeQuery = query(req)?;
    let target = provider
        .redirect_target(q.redirect_to.as_deref())
        .map_err(|reason| {
            ApiError::bad_request(format!("redirect_to {reason}"))
                .with_details(vec![FieldError::new("redirect_to", reason)])
        })?;
    let ip = client_ip(req, depot).unwrap_or_else(|| "unknown".to_owned());
    let started = provider.begin(&ip, &target).await?;
    redirect(res, &started.url)?;
    set_state_cookie(
        res,
        &provider,
        &started.state,
        fv.settings()
            .oauth
            .state_ttl
            .min(fastvue_core::config::OAUTH_STATE_TTL)
            .as_secs(),
    );
    Ok(())
}

/// The provider's redirect back: sign in, then 302 to the frontend with the tokens (or
/// the error) in the URL fragment.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oauth/{provider}/callback",
    tag = "auth",
    description = "Public (no token); the provider sends the browser here. Success: 302 to the \
        stored redirect_to with `#access_token=...&refresh_token=...&token_type=bearer&expires_in=...`. \
        Failure: 302 to the frontend with `#error=<code>`: access_denied, provider_error, \
        invalid_request, invalid_state, exchange_failed, userinfo_failed, invalid_id_token, \
        provider_unavailable, email_not_verified, domain_not_allowed, account_not_linked, \
        signup_disabled, account_inactive, temporarily_unavailable, server_error. Answers 404 \
        for a provider that is not enabled.",
    params(
        ("provider" = String, Path, description = "An enabled provider's name"),
        CallbackQuery,
    ),
    responses(
        (status = 302, description = "Redirect to the frontend; the result is in the fragment",
            headers(("Location" = String, description = "redirect_to#access_token=... or #error=..."))),
        (status = 404, description = "No such provider is enabled", body = ErrorBody),
    )
)]
#[handler]
pub async fn callback(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let provider = provider(&fv, req)?;
    // Every path ends this sign-in: the cookie is dropped whatever happens.
    set_state_cookie(res, &provider, "", 0);
    let result = match query::<CallbackQuery>(req) {
        Err(_) => Err(failure(
            SignInError::InvalidRequest,
            "unreadable callback query",
        )),
        Ok(q) if q.state.is_some() && q.state != state_cookie(req) => Err(failure(
            SignInError::InvalidState,
            "the state is not the one this browser started",
        )),
        Ok(q) => {
            provider
                .complete(
                    &origin(req, depot),
                    Callback {
                        code: q.code,
                        state: q.state,
                        error: q.error,
                    },
                )
                .await
        }
    };
    match result {
        Ok(signed_in) => {
            tracing::info!(
                provider = %provider.settings().name,
                user_id = signed_in.user.id,
                outcome = outcome_name(signed_in.outcome),
                "provider sign-in succeeded"
            );
            redirect(res, &success_location(&signed_in))
        }
        Err(f) => {
            tracing::warn!(
                provider = %provider.settings().name,
                code = f.error.code(),
                reason = %f.reason,
                "provider sign-in failed"
            );
            let target = f
                .redirect_to
                .as_deref()
                .or(fv.settings().frontend_url.as_deref());
            match target {
                Some(target) => redirect(res, &error_location(target, f.error.code())),
                None => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    f.error.code(),
                    "the sign-in failed and no FRONTEND_URL is configured",
                )),
            }
        }
    }
}

fn failure(error: SignInError, reason: &str) -> Failure {
    Failure {
        error,
        redirect_to: None,
        reason: reason.to_owned(),
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Linked => "linked",
        Outcome::NewLink => "new_link",
        Outcome::SignedUp => "signed_up",
    }
}

/// `target#access_token=...&refresh_token=...&token_type=bearer&expires_in=...`, or,
/// when a second step is needed, `target#mfa_required=true&mfa_token=...&enrol_required=...&expires_in=...`.
fn success_location(s: &SignedIn) -> String {
    let mut fragment = form_urlencoded::Serializer::new(String::new());
    match &s.step {
        SignedInStep::Tokens(tokens) => fragment
            .append_pair("access_token", &tokens.access_token)
            .append_pair("refresh_token", &tokens.refresh_token)
            .append_pair("token_type", tokens.token_type)
            .append_pair("expires_in", &tokens.expires_in.to_string()),
        SignedInStep::SecondFactor(pending) => fragment
            .append_pair("mfa_required", "true")
            .append_pair("mfa_token", &pending.mfa_token)
            .append_pair(
                "enrol_required",
                if pending.enrol { "true" } else { "false" },
            )
            .append_pair("expires_in", &pending.expires_in.to_string()),
    };
    format!("{}#{}", s.redirect_to, fragment.finish())
}

/// `target#error=<code>`.
fn error_location(target: &str, code: &str) -> String {
    let fragment = form_urlencoded::Serializer::new(String::new())
        .append_pair("error", code)
        .finish();
    format!("{target}#{fragment}")
}

/// The caller's linked provider accounts.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me/social-accounts",
    tag = "auth",
    description = "Requires a valid access token; no permission (the caller's own links).",
    responses(
        (status = 200, description = "The caller's links, oldest first", body = Vec<SocialAccountOut>),
        (status = 401, description = "No or invalid token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn list_social_accounts(depot: &mut Depot, res: &mut Response) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let items: Vec<SocialAccountOut> = fv
        .social_accounts()
        .list(actor(depot)?)
        .await?
        .into_iter()
        .map(SocialAccountOut::from)
        .collect();
    res.render(Json(items));
    Ok(())
}

/// Unlink one of the caller's provider accounts. Refused (409) when it is the last way to
/// sign in: the caller has no password and no other link.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/me/social-accounts/{id}",
    tag = "auth",
    description = "Requires a valid access token; no permission (the caller's own links).",
    params(("id" = i64, Path, description = "Link id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 404, description = "No such link of the caller", body = ErrorBody),
        (status = 409, description = "The last way to sign in: set a password first", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[handler]
pub async fn unlink_social_account(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let fv = app(depot)?;
    let id = path_id(req, "id")?;
    fv.social_accounts().unlink(actor(depot)?, id).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The routes of this module, relative to `/api/v1`.
pub fn router() -> Router {
    Router::with_path("auth")
        .push(Router::with_path("oauth/providers").get(list_providers))
        .push(Router::with_path("oauth/{provider}/authorize").get(authorize))
        .push(Router::with_path("oauth/{provider}/callback").get(callback))
        .push(
            Router::with_path("me/social-accounts")
                .hoop(auth::authenticate)
                .hoop(auth::reject_api_keys)
                .get(list_social_accounts)
                .push(Router::with_path("{id}").delete(unlink_social_account)),
        )
}

/// OpenAPI of this module.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list_providers,
        authorize,
        callback,
        list_social_accounts,
        unlink_social_account
    ),
    components(schemas(SocialAccountOut, ProviderOut))
)]
pub struct Api;
