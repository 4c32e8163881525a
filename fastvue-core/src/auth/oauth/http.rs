//! Calls to a provider: one HTTP client that follows no redirects and gives up after
//! [`PROVIDER_TIMEOUT`], bodies read up to [`MAX_BODY`], errors described without URLs
//! (no query strings, codes or tokens in logs).
use std::time::Duration;

use oauth2::reqwest;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Bound on each call to a provider (discovery, keys, token exchange, userinfo).
pub(crate) const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest provider answer read (a JWKS or a discovery document is a few KiB).
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// The client every provider call goes through.
pub(crate) fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PROVIDER_TIMEOUT)
        .user_agent(concat!("fastvue-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))
}

/// A reqwest error without the URL it carries.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
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

/// `GET url` (with `bearer` and `accept`), a 2xx answer of at most [`MAX_BODY`] bytes
/// parsed as JSON. `what` names the call in the error.
pub(crate) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    accept: &str,
    what: &str,
) -> Result<T, String> {
    let mut request = http.get(url).header("accept", accept);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let mut res = request
        .send()
        .await
        .map_err(|e| format!("{what} request failed: {}", without_url(&e)))?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!("{what} answered HTTP {}", status.as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| format!("{what} body unreadable: {}", without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("{what} answered more than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{what} is not the expected JSON: {e}"))
}
