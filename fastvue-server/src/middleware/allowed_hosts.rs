//! `ALLOWED_HOSTS`: refuse requests whose `Host` is not one of ours (400).
use fastvue_core::config::Settings;
use salvo::http::header::HOST;
use salvo::prelude::*;

use crate::error::ApiError;

/// Liveness and health probes: answered whatever the host, because orchestrators and
/// container health checks reach a replica by its address (`127.0.0.1:8000`).
const PROBES: [&str; 2] = ["/health", "/health/live"];

/// Accepts a request only when its host (the `Host` header without the port) matches an
/// entry: an exact name (case-insensitive), `*.example.com` (any subdomain of
/// example.com), or `*` (anything). No entries accepts every host.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    patterns: Vec<String>,
}

impl AllowedHosts {
    /// From `ALLOWED_HOSTS`; `None` when every host is accepted (no middleware needed).
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let patterns: Vec<String> = settings
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if patterns.is_empty() || patterns.iter().any(|p| p == "*") {
            None
        } else {
            Some(Self { patterns })
        }
    }

    /// Whether `host` (`name` or `name:port`, IPv6 in brackets) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host_name(host).to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        self.patterns
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == pattern,
            })
    }
}

/// The host without its port.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(v6, _)| &host[..=v6.len()]);
    }
    host.split_once(':').map_or(host, |(name, _)| name)
}

#[async_trait]
impl Handler for AllowedHosts {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        if host.as_deref().is_some_and(|h| self.allows(h)) || PROBES.contains(&req.uri().path()) {
            ctrl.call_next(req, depot, res).await;
        } else {
            ApiError::bad_request("the Host header names a host this server does not serve")
                .write_to(depot, res);
            ctrl.skip_rest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Option<AllowedHosts> {
        let mut settings = Settings::from_source(|_| None).expect("defaults");
        settings.allowed_hosts = list.iter().map(|s| s.to_string()).collect();
        AllowedHosts::from_settings(&settings)
    }

    #[test]
    fn empty_or_star_allows_any_host() {
        assert!(hosts(&[]).is_none());
        assert!(hosts(&["api.example.com", "*"]).is_none());
    }

    #[test]
    fn exact_and_wildcard_entries_match_without_the_port() {
        let h = hosts(&["api.example.com", "*.internal.test", "[::1]"]).unwrap();
        assert!(h.allows("api.example.com"));
        assert!(h.allows("API.example.com:8000"));
        assert!(h.allows("a.internal.test"));
        assert!(h.allows("b.a.internal.test:80"));
        assert!(h.allows("[::1]:8000"));
        assert!(!h.allows("internal.test"));
        assert!(!h.allows("evilinternal.test"));
        assert!(!h.allows("evil.com"));
        assert!(!h.allows("api.example.com.evil.com"));
    }
}
