//! Service-wide middleware, outermost first as installed by [`crate::startup::service`]:
//! request id, access log + metrics, security headers, allowed hosts, CORS, body limit.
pub mod access_log;
pub mod allowed_hosts;
pub mod body_limit;
pub mod cors;
pub mod security_headers;
