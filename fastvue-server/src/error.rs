//! The one HTTP error type: every failure becomes the API.md error body.
use fastvue_core::error::{FieldError, Problem};
use salvo::http::{StatusCode, header};
use salvo::prelude::*;
use serde::Serialize;

use crate::request_id::RequestId;

/// An error answered to a client as `{"error": {code, message, details, request_id}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<FieldError>,
    /// Seconds for `Retry-After` (429 and 503).
    retry_after: Option<u64>,
    /// What went wrong inside, for the log only (never the body): logged once, with the
    /// request id, when a 500 is written.
    internal: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    details: &'a [FieldError],
    request_id: Option<&'a str>,
}

impl ApiError {
    /// An error with a status, a machine code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            internal: None,
        }
    }

    /// 404 for an unknown route or row.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `code` (`unauthorized`, `invalid_token`, `token_expired`, ...), answered with
    /// `WWW-Authenticate: Bearer`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 `forbidden`: the caller lacks a permission or the company is foreign.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 429 `rate_limited` with `Retry-After: retry_after_secs`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 503 `code` with `Retry-After: retry_after_secs` (a busy resource, a timeout).
    pub fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 500 `internal_error`; `detail` goes to the log (with the request id), never to
    /// the client.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        );
        e.internal = Some(detail.into());
        e
    }

    /// 400 `bad_request`: malformed JSON, a wrong content type or a bad parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 413 `payload_too_large`: the body is over the limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    }

    /// 422 `validation_error` listing every bad field.
    pub fn unprocessable(message: impl Into<String>, details: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message,
        )
        .with_details(details)
    }

    /// The same error with `details` (the bad fields) attached.
    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
        self
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code (`bad_request`, `validation_error`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The bad fields, if any.
    pub fn details(&self) -> &[FieldError] {
        &self.details
    }

    /// Writes the error body and status.
    pub fn write_to(&self, depot: &Depot, res: &mut Response) {
        let request_id = depot
            .get::<RequestId>(RequestId::KEY)
            .ok()
            .map(|r| r.0.as_str());
        if let Some(detail) = &self.internal {
            tracing::error!(
                request_id = request_id.unwrap_or("-"),
                error = detail.as_str(),
                "internal error"
            );
        }
        res.status_code(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            let _ = res.add_header(header::WWW_AUTHENTICATE, "Bearer", true);
        }
        if let Some(secs) = self.retry_after {
            let _ = res.add_header(header::RETRY_AFTER, secs, true);
        }
        res.render(Json(Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                details: &self.details,
                request_id,
            },
        }));
    }
}

impl From<fastvue_core::Error> for ApiError {
    fn from(err: fastvue_core::Error) -> Self {
        use fastvue_core::Error as E;
        match err {
            E::Validation(details) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "validation_error",
                message: "the request is invalid".into(),
                details,
                retry_after: None,
                internal: None,
            },
            E::NotFound { entity } => Self::not_found(format!("{entity} not found")),
            E::Conflict { field, message } => Self {
                status: StatusCode::CONFLICT,
                code: "conflict",
                details: field
                    .map(|f| vec![FieldError::new(f, Problem::new("taken", message.clone()))])
                    .unwrap_or_default(),
                message,
                retry_after: None,
                internal: None,
            },
            E::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid credentials",
            ),
            E::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the database is unavailable",
            ),
            E::RateLimited {
                message,
                retry_after,
            } => Self::too_many_requests(message, retry_after),
            E::Busy {
                message,
                retry_after,
            } => Self::unavailable("service_busy", message, retry_after),
            E::Upstream {
                message,
                retry_after,
            } => Self::unavailable("upstream_unavailable", message, retry_after),
            E::Internal(detail) => Self::internal(detail),
        }
    }
}

#[async_trait]
impl Writer for ApiError {
    async fn write(self, _req: &mut Request, depot: &mut Depot, res: &mut Response) {
        self.write_to(depot, res);
    }
}

/// Catcher goal: turns salvo's bare status responses (unknown route, wrong method,
/// oversized body) into the JSON error body.
#[handler]
pub async fn catch_status(depot: &mut Depot, res: &mut Response, ctrl: &mut FlowCtrl) {
    let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
    if !status.is_client_error() && !status.is_server_error() {
        return;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this route")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::BAD_REQUEST => ("bad_request", "the request is malformed"),
        // The request timeout's answer (REQUEST_TIMEOUT_SECONDS).
        StatusCode::SERVICE_UNAVAILABLE => ("timeout", "the server took too long to answer"),
        s if s.is_server_error() => ("internal_error", "internal error"),
        _ => ("error", "the request failed"),
    };
    ApiError::new(status, code, message).write_to(depot, res);
    ctrl.skip_rest();
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use salvo::prelude::*;

    use super::ApiError;
    use crate::request_id::RequestId;

    /// A log sink the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_internal_error_is_logged_once_with_its_request_id_and_never_shown_to_the_client() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let mut depot = Depot::new();
        depot.insert(RequestId::KEY, RequestId("req-500".into()));
        let mut res = Response::new();
        tracing::subscriber::with_default(subscriber, || {
            let err = ApiError::from(fastvue_core::Error::Internal(
                "database: relation \"secret_table\" does not exist".into(),
            ));
            err.write_to(&depot, &mut res);
        });
        let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches("internal error").count(), 1, "{log}");
        assert!(
            log.contains("req-500") && log.contains("secret_table"),
            "{log}"
        );
        assert_eq!(
            res.status_code,
            Some(salvo::http::StatusCode::INTERNAL_SERVER_ERROR)
        );
        let body = match res.take_body() {
            salvo::http::ResBody::Once(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("unexpected body {other:?}"),
        };
        assert!(!body.contains("secret_table"), "{body}");
        assert!(
            body.contains("req-500") && body.contains("internal_error"),
            "{body}"
        );
    }
}
