//! `X-Request-ID`: echoed when the client sends a sane one, generated otherwise.
use salvo::http::HeaderValue;
use salvo::prelude::*;

/// The request id of the current request, kept in the depot.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// Depot key.
    pub const KEY: &'static str = "fastvue.request_id";
    /// Header name.
    pub const HEADER: &'static str = "x-request-id";
}

fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Headers a response usually carries.
const RESPONSE_HEADERS: usize = 12;

/// Middleware setting the request id in the depot and on the response.
#[handler]
pub async fn request_id(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let id = req
        .header::<String>(RequestId::HEADER)
        .filter(|id| acceptable(id))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // Room for every header the chain sets (request id, security headers, CORS, ETag,
    // caching, content type...) at once, instead of growing the map three times.
    res.headers_mut().reserve(RESPONSE_HEADERS);
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(RequestId::HEADER, value);
    }
    depot.insert(RequestId::KEY, RequestId(id));
    ctrl.call_next(req, depot, res).await;
}
