//! [`KeySpace`]: the name of every Redis key and channel fastvue uses.
use std::sync::Arc;

use crate::permission::l1::CacheKey;

/// The invalidation channel's name (under the key prefix, see [`KeySpace::channel`]).
pub const CHANNEL: &str = "fastvue:permissions:invalidate";

/// The names of every Redis key and channel fastvue uses, all under one prefix
/// (`REDIS_KEY_PREFIX`, empty by default so value keys keep the format operators read).
/// Deployments, or test servers, that share one Redis keep apart with distinct prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySpace {
    prefix: Arc<str>,
}

impl KeySpace {
    /// Keys under `prefix` (`""` for the documented names). The prefix is used verbatim,
    /// also inside `SCAN` patterns: the configuration allows no glob characters in it.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: Arc::from(prefix),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The value key of `key`: `{prefix}user:{user_id}:company:{company_id}:permissions`.
    pub fn value(&self, key: CacheKey) -> String {
        format!(
            "{}user:{}:company:{}:permissions",
            self.prefix, key.user_id, key.company_id
        )
    }

    /// `SCAN` pattern of every value key of a user.
    pub fn user_pattern(&self, user_id: i64) -> String {
        format!("{}user:{user_id}:company:*:permissions", self.prefix)
    }

    /// `SCAN` pattern of every value key of a company.
    pub fn company_pattern(&self, company_id: i64) -> String {
        format!("{}user:*:company:{company_id}:permissions", self.prefix)
    }

    /// `SCAN` pattern of every value key.
    pub fn all_pattern(&self) -> String {
        format!("{}user:*:company:*:permissions", self.prefix)
    }

    /// The generation key bumped by "invalidate everything": `{prefix}fastvue:permgen:all`.
    pub fn gen_all(&self) -> String {
        format!("{}fastvue:permgen:all", self.prefix)
    }

    /// The generation key of a user: `{prefix}fastvue:permgen:user:{user_id}`.
    pub fn gen_user(&self, user_id: i64) -> String {
        format!("{}fastvue:permgen:user:{user_id}", self.prefix)
    }

    /// The generation key of a company: `{prefix}fastvue:permgen:company:{company_id}`.
    pub fn gen_company(&self, company_id: i64) -> String {
        format!("{}fastvue:permgen:company:{company_id}", self.prefix)
    }

    /// The invalidation channel: `{prefix}fastvue:permissions:invalidate`.
    pub fn channel(&self) -> String {
        format!("{}{CHANNEL}", self.prefix)
    }

    /// The failed-login counter of an (ip, normalised login) pair:
    /// `{prefix}fastvue:login:fail:{ip}:{login}`.
    pub fn login_failures(&self, ip: &str, login: &str) -> String {
        format!("{}fastvue:login:fail:{ip}:{login}", self.prefix)
    }

    /// The counter of every sign-in attempt (successful or not) from one client IP in
    /// the current minute: `{prefix}fastvue:login:ip:{ip}`.
    pub fn login_attempts(&self, ip: &str) -> String {
        format!("{}fastvue:login:ip:{ip}", self.prefix)
    }

    /// The counter of provider sign-ins started from one client IP in the current minute:
    /// `{prefix}fastvue:oauth:ip:{ip}`.
    pub fn oauth_starts(&self, ip: &str) -> String {
        format!("{}fastvue:oauth:ip:{ip}", self.prefix)
    }

    /// Mails (password reset, verification) asked for from one client IP in the current
    /// minute: `{prefix}fastvue:mail:ip:{ip}`.
    pub fn mail_from(&self, ip: &str) -> String {
        format!("{}fastvue:mail:ip:{ip}", self.prefix)
    }

    /// Mails asked for to one address in the current minute:
    /// `{prefix}fastvue:mail:to:{address}`.
    pub fn mail_to(&self, address: &str) -> String {
        format!("{}fastvue:mail:to:{address}", self.prefix)
    }

    /// The request counter of an API key's current minute:
    /// `{prefix}fastvue:apikey:rate:{key_id}`.
    pub fn api_key_requests(&self, key_id: i64) -> String {
        format!("{}fastvue:apikey:rate:{key_id}", self.prefix)
    }

    /// A provider sign-in in progress, by its `state`:
    /// `{prefix}fastvue:oauth:state:{state}`.
    pub fn oauth_state(&self, state: &str) -> String {
        format!("{}fastvue:oauth:state:{state}", self.prefix)
    }
}
