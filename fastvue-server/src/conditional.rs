//! Conditional answers: a strong `ETag`, and 304 without a body when the client already
//! holds it (`If-None-Match`).
use salvo::http::header::{self, HeaderValue};
use salvo::http::{HeaderMap, StatusCode};
use salvo::prelude::*;

/// Sets `etag` and `Cache-Control: private, no-cache` (revalidate every time) on `res`;
/// when `If-None-Match` already names `etag`, also answers 304 and returns true: the
/// handler then writes no body.
pub fn answered_unchanged(req: &Request, res: &mut Response, etag: &str) -> bool {
    if let Ok(value) = HeaderValue::from_str(etag) {
        res.headers_mut().insert(header::ETAG, value);
    }
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if if_none_match(req.headers(), etag) {
        res.status_code(StatusCode::NOT_MODIFIED);
        return true;
    }
    false
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as RFC 9110 asks) or is `*`.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}
