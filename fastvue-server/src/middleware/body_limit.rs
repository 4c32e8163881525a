//! Request bodies are capped at [`MAX_BODY_BYTES`] on every route (413 JSON).
use salvo::http::header::CONTENT_LENGTH;
use salvo::prelude::*;

use crate::error::ApiError;
pub use crate::extract::MAX_BODY_BYTES;

/// Refuses a declared `Content-Length` over the cap at once, and caps streamed (chunked)
/// bodies so that any read past the cap fails as 413.
#[handler]
pub async fn body_limit(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        ApiError::payload_too_large().write_to(depot, res);
        ctrl.skip_rest();
        return;
    }
    req.limit_body(MAX_BODY_BYTES);
    ctrl.call_next(req, depot, res).await;
}
