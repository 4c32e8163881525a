//! The built admin frontend (`examples/vue-admin`), served under `/admin` when
//! `ADMIN_UI_DIR` names its `dist` folder: files as they are, any other path answered
//! with `index.html` (the app routes in history mode). Hashed assets (`/admin/assets/`)
//! are cached for a year; everything else is revalidated. The app's own
//! `Content-Security-Policy` allows only this origin's scripts and connections.
use std::path::Path;

use salvo::http::HeaderValue;
use salvo::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use salvo::prelude::*;
use salvo::serve_static::StaticDir;

/// Where the app is mounted.
pub const PREFIX: &str = "admin";

/// What the app's pages may load: this origin only (Element Plus sets inline styles).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// The `/admin` routes serving the app in `dir`.
pub fn router(dir: &Path) -> Router {
    let files = StaticDir::new([dir.to_path_buf()])
        .defaults("index.html")
        .fallback("index.html");
    // One route for `/admin`, `/admin/` and everything below (`{**rest}` may be empty).
    Router::with_path(format!("{PREFIX}/{{**rest}}"))
        .hoop(app_headers)
        .get(files)
}

/// Cache and content-security headers of the app's files; `/admin` (no slash) is sent
/// to `/admin/`, where the app's relative URLs resolve.
#[handler]
async fn app_headers(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    if req.uri().path() == "/admin" {
        res.status_code(StatusCode::PERMANENT_REDIRECT);
        res.headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/admin/"));
        ctrl.skip_rest();
        return;
    }
    let immutable = req.uri().path().starts_with("/admin/assets/");
    ctrl.call_next(req, depot, res).await;
    let cache = if immutable && res.status_code.is_none_or(|s| s.is_success()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let out = res.headers_mut();
    out.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
}
