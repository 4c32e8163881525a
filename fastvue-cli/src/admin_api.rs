//! The running server's cache admin endpoints (`/api/v1/admin/cache/*`), for
//! deployments without Redis: there, only the server itself can drop its in-process
//! cache.
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::output::Failure;

const TIMEOUT: Duration = Duration::from_secs(15);

/// A client for one server, authenticated with a bearer token.
#[derive(Debug)]
pub struct AdminApi {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl AdminApi {
    /// A client for the server at `server` (`http(s)://host:port`). The token is the
    /// access token of a user holding `cache.manage` (a superuser for `--all`).
    pub fn new(server: &str, token: Option<String>) -> Result<Self, Failure> {
        let base = server.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::Usage(format!(
                "--server must be an http(s) URL like http://127.0.0.1:8000, got {server:?}"
            )));
        }
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            return Err(Failure::Usage(
                "--server needs an access token: --token TOKEN or FASTVUE_TOKEN".into(),
            ));
        };
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Failure::Failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            base,
            token: token.trim().to_owned(),
            client,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /api/v1/admin/cache/invalidate` with `body`; the answer's `invalidated`.
    pub async fn invalidate(&self, body: &Value) -> Result<u64, Failure> {
        let request = self
            .client
            .post(format!("{}/api/v1/admin/cache/invalidate", self.base))
            .json(body);
        let answer: Value = self.send(request).await?;
        answer["invalidated"].as_u64().ok_or_else(|| {
            Failure::Failed(format!(
                "{} answered without an invalidated count",
                self.base
            ))
        })
    }

    /// `GET /api/v1/admin/cache/stats`.
    pub async fn stats(&self) -> Result<Value, Failure> {
        let request = self
            .client
            .get(format!("{}/api/v1/admin/cache/stats", self.base));
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let response =
            request.bearer_auth(&self.token).send().await.map_err(|e| {
                Failure::Failed(format!("cannot reach {}: {}", self.base, cause(&e)))
            })?;
        let status = response.status();
        if !status.is_success() {
            // The server's error body: {"error": {"message": ...}}.
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("no error message");
            return Err(Failure::Failed(format!(
                "{} answered {}: {message}",
                self.base,
                status.as_u16()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| Failure::Failed(format!("{} sent an unreadable answer: {e}", self.base)))
    }
}

/// The innermost cause of a transport error (`connection refused` rather than
/// `error sending request`).
fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}
