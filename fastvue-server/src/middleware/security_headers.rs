//! Security headers on every response.
use fastvue_core::config::Settings;
use salvo::http::HeaderValue;
use salvo::http::header::{
    REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use salvo::prelude::*;

/// `Strict-Transport-Security` sent in production: one year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Sets `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
/// `Referrer-Policy: no-referrer` and, in production only, `Strict-Transport-Security`.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    hsts: bool,
}

impl SecurityHeaders {
    /// HSTS only when `ENVIRONMENT=production` (TLS is terminated in front of the server).
    pub fn new(settings: &Settings) -> Self {
        Self {
            hsts: settings.environment.is_production(),
        }
    }
}

#[async_trait]
impl Handler for SecurityHeaders {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let headers = res.headers_mut();
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if self.hsts {
            headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
        }
        ctrl.call_next(req, depot, res).await;
    }
}
