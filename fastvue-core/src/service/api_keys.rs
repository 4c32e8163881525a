//! Service API keys: per-company keys with permission scopes, for other services and
//! scripts.
//!
//! A key reads `fv_live_<prefix>_<secret>`: `prefix` is 8 random characters `[a-z0-9]`
//! (unique, shown in lists, used to find the row), `secret` is 32 random bytes in
//! base64url without padding (43 characters). Only the prefix and the hex
//! HMAC-SHA256 of the whole key under `SECRET_KEY` are stored; the full key is shown
//! once, when it is created. Verification compares MACs in constant time.
//!
//! A key acts as the user who created it, only in its company and only with its
//! scopes, and never with more than the creator holds at the time of use (the callers
//! check the creator's permissions through the same permission cache as for sessions).
//! Every request reads the key row (one `SELECT` by prefix, which also checks that the
//! company is active), so a revocation or a company deactivation takes effect at once on
//! every replica. `last_used_at` is written at most once a minute per key and process,
//! off the request path.
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::Mac;
use rand::Rng;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::Fastvue;
use crate::auth::TokenError;
use crate::auth::keyed::{self, HmacSha256};
use crate::codenames;
use crate::domain::{Codename, Name};
use crate::entity::{api_key, company, permission, user};
use crate::error::{Error, FieldError, Result, map_unique};
use crate::pagination::{Page, PageRequest};
use crate::policy::Actor;
use crate::service::audit::{self, Entry, snapshot};

/// What every key starts with.
pub const KEY_PREFIX: &str = "fv_live_";
/// Length of the prefix part of a key.
pub const PREFIX_LEN: usize = 8;
/// Random bytes in the secret part of a key.
pub const SECRET_BYTES: usize = 32;
/// The largest `rate_limit_per_minute` a key may have.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;
/// The longest life a key may be given, in days.
pub const MAX_EXPIRY_DAYS: i64 = 3650;
/// The most scopes a key may have.
const MAX_SCOPES: usize = 200;
/// Base64url length of [`SECRET_BYTES`] without padding.
const SECRET_LEN: usize = 43;
const UNIQUE: &[(&str, &[&str])] = &[("prefix", &["uq_api_keys_prefix", "api_keys.prefix"])];

/// Input for creating a key.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    /// The company the key acts in.
    pub company_id: i64,
    /// Label (1 to 100 characters).
    pub name: String,
    /// Permission codenames the key may use: existing, active, and held by the creator in
    /// that company (any for a superuser creator).
    pub scopes: Vec<String>,
    /// Expiry; must be in the future. `None` for a key that does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests allowed per minute (1 to [`MAX_RATE_LIMIT`]); `None` for no limit.
    pub rate_limit_per_minute: Option<u32>,
    /// The creating user, whom the key acts as: `None` for the acting user. Only the
    /// system (an operator) names another user, which must be active.
    pub created_by: Option<i64>,
}

/// A key just created: the row and the full key, which is shown once and never stored.
/// Its `Debug` output redacts the key.
pub struct IssuedKey {
    /// The stored row.
    pub key: api_key::Model,
    plaintext: String,
}

impl IssuedKey {
    /// The full key `fv_live_<prefix>_<secret>`, to hand to the caller once.
    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key", &self.key)
            .field("plaintext", &"[redacted]")
            .finish()
    }
}

/// A key that authenticated a request, with the user it acts as.
#[derive(Debug, Clone)]
pub struct AuthenticatedKey {
    /// The key row (not revoked, not expired, of an active company).
    pub key: api_key::Model,
    /// The creator (active).
    pub creator: user::Model,
}

/// Filters for listing keys.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyFilter {
    /// Only this company's keys.
    pub company_id: Option<i64>,
    /// Only these companies' keys (within the actor's scope).
    pub company_ids: Option<Vec<i64>>,
    /// Only keys that are (true) or are not (false) revoked.
    pub revoked: Option<bool>,
}

/// API key administration and authentication.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'a> {
    pub(crate) fv: &'a Fastvue,
}

impl Fastvue {
    /// Service API keys: creation, listing, revocation, authentication.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys { fv: self }
    }
}

impl ApiKeys<'_> {
    /// Creates a key (audited) and returns it with its full value, which is not stored.
    ///
    /// Rules: the actor needs `apikey.create` in its active company and in the key's
    /// company; an API key cannot create keys; only the system names a creator other
    /// than the actor.
    ///
    /// Errors: [`Error::Validation`] for a bad name, an unknown/inactive/malformed scope,
    /// no scope, a past expiry, a bad rate limit or an unknown/inactive company;
    /// [`Error::Forbidden`] for the rules above and when a non-superuser creator does not
    /// hold every scope in the company; [`Error::NotFound`] for an unknown or inactive
    /// creator.
    pub async fn create(&self, actor: &Actor, input: NewApiKey) -> Result<IssuedKey> {
        if actor.key().is_some() {
            return Err(Error::Forbidden("an API key cannot create API keys".into()));
        }
        let creator_id = match (actor.user_id(), input.created_by) {
            (Some(me), None) => me,
            (Some(me), Some(other)) if me == other => me,
            (Some(_), Some(_)) => {
                return Err(Error::Forbidden(
                    "a key is created by the user it acts as".into(),
                ));
            }
            (None, Some(other)) => other,
            (None, None) => {
                return Err(Error::invalid(
                    "created_by",
                    crate::error::Problem::required(),
                ));
            }
        };
        if !actor.is_system() {
            actor.require(self.fv, codenames::APIKEY_CREATE).await?;
            actor
                .require_in(self.fv, input.company_id, codenames::APIKEY_CREATE)
                .await?;
        }
        let ctx = actor.audit();
        let mut errors = Vec::new();
        let name = Name::parse(&input.name, 100)
            .map_err(|m| errors.push(FieldError::new("name", m)))
            .ok();
        let mut scopes: Vec<String> = Vec::new();
        for (i, raw) in input.scopes.iter().enumerate() {
            match Codename::parse(raw) {
                Ok(c) => scopes.push(c.as_str().to_owned()),
                Err(m) => errors.push(FieldError::new(format!("scopes[{i}]"), m)),
            }
        }
        scopes.sort();
        scopes.dedup();
        if input.scopes.is_empty() {
            errors.push(FieldError::new(
                "scopes",
                "must name at least one permission",
            ));
        } else if scopes.len() > MAX_SCOPES {
            errors.push(FieldError::new(
                "scopes",
                format!("at most {MAX_SCOPES} permissions"),
            ));
        }
        let now = Utc::now();
        if input.expires_at.is_some_and(|e| e <= now) {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        if input
            .expires_at
            .is_some_and(|e| e > now + chrono::Duration::days(MAX_EXPIRY_DAYS))
        {
            errors.push(FieldError::new(
                "expires_at",
                format!("must be within {MAX_EXPIRY_DAYS} days"),
            ));
        }
        if input
            .rate_limit_per_minute
            .is_some_and(|r| r == 0 || r > MAX_RATE_LIMIT)
        {
            errors.push(FieldError::new(
                "rate_limit_per_minute",
                format!("must be between 1 and {MAX_RATE_LIMIT}"),
            ));
        }
        let db = self.fv.db();
        let company_ok = company::Entity::find_by_id(input.company_id)
            .filter(company::Column::IsActive.eq(true))
            .filter(company::Column::DeletedAt.is_null())
            .count(db)
            .await?
            > 0;
        if !company_ok {
            errors.push(FieldError::new("company_id", "no such active company"));
        }
        if !scopes.is_empty() {
            let known: Vec<String> = permission::Entity::find()
                .filter(permission::Column::Codename.is_in(scopes.iter().map(String::as_str)))
                .filter(permission::Column::IsActive.eq(true))
                .all(db)
                .await?
                .into_iter()
                .map(|p| p.codename)
                .collect();
            for s in &scopes {
                if !known.contains(s) {
                    errors.push(FieldError::new(
                        "scopes",
                        format!("unknown or inactive permission {s}"),
                    ));
                }
            }
        }
        let Some(name) = name.filter(|_| errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        let creator = user::Entity::find_by_id(creator_id)
            .filter(user::Column::IsActive.eq(true))
            .one(db)
            .await?
            .ok_or(Error::NotFound { entity: "user" })?;
        if !creator.is_superuser {
            let held = self
                .fv
                .authorizer()
                .codenames(creator.id, input.company_id)
                .await?;
            let missing: Vec<&str> = scopes
                .iter()
                .filter(|s| !held.iter().any(|h| h.as_ref() == s.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(Error::Forbidden(format!(
                    "a key cannot have permissions its creator does not hold in company {}: {}",
                    input.company_id,
                    missing.join(", ")
                )));
            }
        }
        // A prefix collision (36^8 values) is retried with a fresh key.
        for attempt in 0..3 {
            let (prefix, plaintext) = generate();
            let txn = self.fv.begin_write().await?;
            let inserted = api_key::ActiveModel {
                company_id: Set(input.company_id),
                name: Set(name.as_str().to_owned()),
                prefix: Set(prefix),
                secret_hash: Set(self.mac_hex(&plaintext)),
                scopes: Set(serde_json::json!(scopes)),
                created_by: Set(creator.id),
                created_at: Set(now),
                last_used_at: Set(None),
                expires_at: Set(input.expires_at),
                revoked_at: Set(None),
                rate_limit_per_minute: Set(input
                    .rate_limit_per_minute
                    .map(|r| i32::try_from(r).unwrap_or(i32::MAX))),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(|e| map_unique(e, UNIQUE));
            let key = match inserted {
                Ok(key) => key,
                Err(Error::Conflict { .. }) if attempt < 2 => continue,
                Err(e) => return Err(e),
            };
            audit::record(
                &txn,
                &ctx,
                Entry {
                    action: "create",
                    entity_type: "api_key",
                    entity_id: Some(key.id),
                    company_id: Some(key.company_id),
                    old_values: None,
                    new_values: snapshot(&key),
                },
            )
            .await?;
            txn.commit().await?;
            return Ok(IssuedKey { key, plaintext });
        }
        Err(Error::Internal("no free API key prefix".into()))
    }

    /// The key `id` if the actor holds `apikey.read` in its company (and in its active
    /// company): prefix and scopes, never the key.
    pub async fn get(&self, actor: &Actor, id: i64) -> Result<api_key::Model> {
        self.scoped(actor, id, codenames::APIKEY_READ).await
    }

    async fn scoped(&self, actor: &Actor, id: i64, codename: &str) -> Result<api_key::Model> {
        actor.require(self.fv, codename).await?;
        let key = api_key::Entity::find_by_id(id)
            .one(self.fv.db())
            .await?
            .ok_or(Error::NotFound { entity: "api key" })?;
        actor
            .ensure_visible(self.fv, key.company_id, codename, "api key")
            .await?;
        Ok(key)
    }

    /// The key with this prefix (the 8 characters after `fv_live_`). An operator lookup:
    /// no actor, no visibility rule.
    pub async fn get_by_prefix(&self, prefix: &str) -> Result<api_key::Model> {
        api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix.trim()))
            .one(self.fv.db())
            .await?
            .ok_or(Error::NotFound { entity: "api key" })
    }

    /// Lists keys, newest first: those of companies where the actor holds `apikey.read`
    /// (a `company_id` filter outside them is [`Error::NotFound`]).
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &ApiKeyFilter,
        page: PageRequest,
    ) -> Result<Page<api_key::Model>> {
        actor.require(self.fv, codenames::APIKEY_READ).await?;
        let scope = actor
            .list_scope(self.fv, codenames::APIKEY_READ, filter.company_id)
            .await?;
        let mut q = api_key::Entity::find();
        if let Some(id) = filter.company_id {
            q = q.filter(api_key::Column::CompanyId.eq(id));
        } else if let Some(ids) = scope.ids() {
            q = q.filter(api_key::Column::CompanyId.is_in(ids.iter().copied()));
        }
        if let Some(ids) = &filter.company_ids {
            q = q.filter(api_key::Column::CompanyId.is_in(ids.iter().copied()));
        }
        match filter.revoked {
            Some(true) => q = q.filter(api_key::Column::RevokedAt.is_not_null()),
            Some(false) => q = q.filter(api_key::Column::RevokedAt.is_null()),
            None => {}
        }
        let db = self.fv.db();
        page.fetch(db, q, |q| q.order_by_desc(api_key::Column::Id))
            .await
    }

    /// Revokes the key `id` (audited): the actor needs `apikey.revoke` in its company.
    /// Revoking a revoked key changes nothing and returns it as it is. The key stops
    /// working at once on every replica.
    pub async fn revoke(&self, actor: &Actor, id: i64) -> Result<api_key::Model> {
        self.scoped(actor, id, codenames::APIKEY_REVOKE).await?;
        let ctx = actor.audit();
        let txn = self.fv.begin_write().await?;
        let key = api_key::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(Error::NotFound { entity: "api key" })?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let old = snapshot(&key);
        let mut active = key.into_active_model();
        active.revoked_at = Set(Some(Utc::now()));
        let revoked = active.update(&txn).await?;
        audit::record(
            &txn,
            &ctx,
            Entry {
                action: "revoke",
                entity_type: "api_key",
                entity_id: Some(revoked.id),
                company_id: Some(revoked.company_id),
                old_values: old,
                new_values: snapshot(&revoked),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(revoked)
    }

    /// Authenticates a presented key: [`TokenError::Invalid`] when it is malformed,
    /// unknown, has a wrong secret, is revoked, belongs to an inactive company or its
    /// creator is inactive; [`TokenError::Expired`] past its expiry. On success, records
    /// the use (see the [module docs](self)).
    pub async fn authenticate(&self, presented: &str) -> Result<AuthenticatedKey, TokenError> {
        let prefix = parse(presented).ok_or(TokenError::Invalid)?;
        let active_companies = Query::select()
            .column(company::Column::Id)
            .from(company::Entity)
            .and_where(company::Column::IsActive.eq(true))
            .and_where(company::Column::DeletedAt.is_null())
            .to_owned();
        let key = api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix))
            .filter(api_key::Column::CompanyId.in_subquery(active_companies))
            .one(self.fv.db())
            .await?
            .ok_or(TokenError::Invalid)?;
        if !self.verify_mac(presented, &key.secret_hash) || key.revoked_at.is_some() {
            return Err(TokenError::Invalid);
        }
        if key.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(TokenError::Expired);
        }
        let creator = self
            .fv
            .active_user(key.created_by)
            .await?
            .ok_or(TokenError::Invalid)?;
        self.record_use(key.id);
        Ok(AuthenticatedKey { key, creator })
    }

    /// Counts one request of `key` against its `rate_limit_per_minute`: `Some(seconds to
    /// wait)` when the request must be refused, `None` otherwise (always for a key
    /// without a limit). Counted in Redis when configured, else in process.
    pub async fn rate_limit(&self, key: &api_key::Model) -> Option<u64> {
        let limit = u32::try_from(key.rate_limit_per_minute?).ok()?;
        self.fv.request_limiter().hit(key.id, limit).await
    }

    /// Writes `last_used_at` of `key_id` in the background, at most once per
    /// [`USAGE_WRITE_INTERVAL`] in this process; a failure is logged, never returned.
    ///
    /// [`USAGE_WRITE_INTERVAL`]: crate::service::key_usage::USAGE_WRITE_INTERVAL
    fn record_use(&self, key_id: i64) {
        if !self.fv.key_usage().due(key_id) {
            return;
        }
        let db = self.fv.db().clone();
        tokio::spawn(async move {
            let result = api_key::Entity::update_many()
                .col_expr(
                    api_key::Column::LastUsedAt,
                    sea_orm::sea_query::Expr::value(Utc::now()),
                )
                .filter(api_key::Column::Id.eq(key_id))
                .exec(&db)
                .await;
            if let Err(e) = result {
                tracing::warn!(key_id, error = %e, "cannot record the use of an API key");
            }
        });
    }

    fn mac(&self, key: &str) -> HmacSha256 {
        keyed::mac(self.fv.settings().secret_key.expose(), key)
    }

    fn mac_hex(&self, key: &str) -> String {
        keyed::mac_hex(self.fv.settings().secret_key.expose(), key)
    }

    /// Constant-time comparison of the MAC of `presented` with the stored hex MAC.
    fn verify_mac(&self, presented: &str, stored_hex: &str) -> bool {
        match decode_hex(stored_hex) {
            Some(expected) => self.mac(presented).verify_slice(&expected).is_ok(),
            None => false,
        }
    }
}

/// Whether `value` looks like an API key (starts with `fv_live_`), so that a bearer
/// token can be told apart from a JWT without parsing it.
pub fn is_api_key(value: &str) -> bool {
    value.starts_with(KEY_PREFIX)
}

/// A fresh `(prefix, full key)`.
fn generate() -> (String, String) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let prefix: String = (0..PREFIX_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill(&mut secret[..]);
    let key = format!("{KEY_PREFIX}{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
    (prefix, key)
}

/// The prefix of a well-formed key, `None` otherwise.
fn parse(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_at_checked(PREFIX_LEN)?;
    let secret = secret.strip_prefix('_')?;
    let prefix_ok = prefix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok = secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (prefix_ok && secret_ok).then_some(prefix)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse() {
        let (prefix, key) = generate();
        assert_eq!(prefix.len(), PREFIX_LEN);
        assert_eq!(key.len(), KEY_PREFIX.len() + PREFIX_LEN + 1 + SECRET_LEN);
        assert_eq!(parse(&key), Some(prefix.as_str()));
        assert_ne!(generate().1, key);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let (_, key) = generate();
        for bad in [
            "",
            "fv_live_",
            "fv_live_abc",
            &key[..key.len() - 1],
            &format!("{key}x"),
            &key.replacen("fv_live_", "fv_test_", 1),
            &key.replacen('_', "-", 3),
            "fv_live_ABCDEFGH_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "fv_live_abcdefgh_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+",
            "fv_live_abcdéfg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_debug_output_of_an_issued_key_redacts_the_key() {
        let (prefix, plaintext) = generate();
        let issued = IssuedKey {
            key: api_key::Model {
                id: 1,
                company_id: 1,
                name: "k".into(),
                prefix,
                secret_hash: "00".repeat(32),
                scopes: serde_json::json!(["user.read", "group.read"]),
                created_by: 1,
                created_at: Utc::now(),
                last_used_at: None,
                expires_at: None,
                revoked_at: None,
                rate_limit_per_minute: None,
            },
            plaintext: plaintext.clone(),
        };
        let shown = format!("{issued:?}");
        assert!(!shown.contains(&plaintext[17..]), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert_eq!(issued.key.scope_codenames(), ["group.read", "user.read"]);
    }

    #[test]
    fn hex_decoding_rejects_odd_and_non_hex_input() {
        assert_eq!(decode_hex("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0af"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é0"), None);
    }
}
