//! OpenID Connect: the issuer's discovery document and signing keys, cached, and the
//! validation of ID tokens against them.
//!
//! - Discovery: `GET {issuer}/.well-known/openid-configuration`, whose `issuer` must be
//!   the configured one (OpenID Connect Discovery 1.0, section 4.3); kept for an hour.
//! - Keys: `GET {jwks_uri}`, kept for an hour. A token signed with a key id not in the
//!   cached set makes one fresh fetch (key rotation), at most once per
//!   [`OAuthSettings::jwks_min_refresh`]; fetches are serialized, so a burst of
//!   callbacks makes one request. A failed refresh keeps serving the last good copy for a
//!   day.
//! - An ID token is accepted only when: its `alg` is an asymmetric one
//!   ([`ACCEPTED_ALGS`]; `none` and the HMAC family are refused, whatever the key set
//!   holds) and is compatible with the key; the signature verifies against the key its
//!   `kid` names; `iss` is the issuer (for a multi-tenant Microsoft issuer, the
//!   `{tenantid}` template filled with the token's `tid`); `aud` contains the client id
//!   (and `azp` is the client id when `aud` names several); `exp` has not passed and
//!   `iat` is present (60 s leeway); `nonce` is the one sent with this sign-in.
//!
//! [`OAuthSettings::jwks_min_refresh`]: crate::config::OAuthSettings::jwks_min_refresh
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::reqwest;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::http::get_json;
use super::profile::{Profile, lenient_bool, printable};

/// The signature algorithms an ID token may use.
pub const ACCEPTED_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// How long a discovery document or key set is used before it is fetched again.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// How long a stale copy is served when fetching a fresh one fails.
const STALE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;
/// Most keys used from a key set.
const MAX_KEYS: usize = 64;
/// The placeholder of Microsoft's multi-tenant issuers.
const TENANT_TEMPLATE: &str = "{tenantid}";

/// The parts of a discovery document fastvue uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Discovery {
    /// The issuer identifier.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// The userinfo endpoint, read when the ID token carries no email.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The algorithms the issuer signs ID tokens with (may be absent).
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

struct Cached<T> {
    value: Arc<T>,
    fetched: Instant,
}

/// One OpenID provider's issuer, with its cached discovery document and keys.
pub(crate) struct Issuer {
    issuer: String,
    https_only: bool,
    min_refresh: Duration,
    discovery: Mutex<Option<Cached<Discovery>>>,
    keys: Mutex<Option<Cached<Vec<Jwk>>>>,
}

impl Issuer {
    /// The issuer `issuer` (no trailing `/`); `https_only` refuses discovered endpoints
    /// that are not https (production).
    pub fn new(issuer: &str, https_only: bool, min_refresh: Duration) -> Self {
        Self {
            issuer: issuer.to_owned(),
            https_only,
            min_refresh,
            discovery: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    /// The discovery document, from the cache or the issuer.
    pub async fn discovery(&self, http: &reqwest::Client) -> Result<Arc<Discovery>, String> {
        let mut slot = self.discovery.lock().await;
        if let Some(c) = slot.as_ref()
            && c.fetched.elapsed() < CACHE_TTL
        {
            return Ok(c.value.clone());
        }
        match self.fetch_discovery(http).await {
            Ok(doc) => {
                let value = Arc::new(doc);
                *slot = Some(Cached {
                    value: value.clone(),
                    fetched: Instant::now(),
                });
                Ok(value)
            }
            Err(reason) => match slot.as_ref() {
                Some(c) if c.fetched.elapsed() < STALE_TTL => {
                    tracing::warn!(issuer = %self.issuer, %reason, "OpenID discovery refresh failed; using the cached document");
                    Ok(c.value.clone())
                }
                _ => Err(reason),
            },
        }
    }

    async fn fetch_discovery(&self, http: &reqwest::Client) -> Result<Discovery, String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc: Discovery =
            get_json(http, &url, None, "application/json", "OpenID discovery").await?;
        let issuer_matches = doc.issuer.trim_end_matches('/') == self.issuer
            || (doc.issuer.contains(TENANT_TEMPLATE) && is_microsoft_multi_tenant(&self.issuer));
        if !issuer_matches {
            return Err(format!(
                "the discovery document names issuer {:?}, not the configured one",
                printable(&doc.issuer)
            ));
        }
        for (what, url) in [
            ("authorization_endpoint", Some(&doc.authorization_endpoint)),
            ("token_endpoint", Some(&doc.token_endpoint)),
            ("jwks_uri", Some(&doc.jwks_uri)),
            ("userinfo_endpoint", doc.userinfo_endpoint.as_ref()),
        ] {
            let Some(url) = url else { continue };
            let ok =
                url.starts_with("https://") || (!self.https_only && url.starts_with("http://"));
            if !ok || oauth2::url::Url::parse(url).is_err() {
                return Err(format!(
                    "the discovery document's {what} is not an acceptable URL"
                ));
            }
        }
        Ok(doc)
    }

    /// The key set; `refresh` asks for a fresh copy (a key id was not found), which is
    /// fetched only when the cached one is older than the minimum refresh interval.
    async fn keys(
        &self,
        http: &reqwest::Client,
        jwks_uri: &str,
        refresh: bool,
    ) -> Result<Arc<Vec<Jwk>>, String> {
        let mut slot = self.keys.lock().await;
        if let Some(c) = slot.as_ref() {
            let age = c.fetched.elapsed();
            let fresh_enough = if refresh {
                age < self.min_refresh
            } else {
                age < CACHE_TTL
            };
            if fresh_enough {
                return Ok(c.value.clone());
            }
        }
        match fetch_keys(http, jwks_uri).await {
            Ok(keys) => {
                let value = Arc::new(keys);
                *slot = Some(Cached {
                    value: value.clone(),
                    fetched: Instant::now(),
                });
                Ok(value)
            }
            Err(reason) => match slot.as_ref() {
                Some(c) if c.fetched.elapsed() < STALE_TTL => {
                    tracing::warn!(issuer = %self.issuer, %reason, "OpenID key refresh failed; using the cached keys");
                    Ok(c.value.clone())
                }
                _ => Err(reason),
            },
        }
    }

    /// Validates `id_token` (see the [module docs](self)) and returns its identity.
    pub async fn validate(
        &self,
        http: &reqwest::Client,
        discovery: &Discovery,
        id_token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<Profile, IdTokenError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|e| IdTokenError::Invalid(format!("header unreadable ({e})")))?;
        let alg = header.alg;
        if !ACCEPTED_ALGS.contains(&alg) {
            return Err(IdTokenError::Invalid(format!(
                "alg {alg:?} is not accepted"
            )));
        }
        let supported = &discovery.id_token_signing_alg_values_supported;
        if !supported.is_empty() && !supported.iter().any(|a| *a == format!("{alg:?}")) {
            return Err(IdTokenError::Invalid(format!(
                "alg {alg:?} is not one the issuer signs with"
            )));
        }
        let kid = header.kid.as_deref();
        let mut keys = self
            .keys(http, &discovery.jwks_uri, false)
            .await
            .map_err(IdTokenError::Keys)?;
        let mut key = pick_key(&keys, kid, alg);
        if key.is_none() && kid.is_some() {
            keys = self
                .keys(http, &discovery.jwks_uri, true)
                .await
                .map_err(IdTokenError::Keys)?;
            key = pick_key(&keys, kid, alg);
        }
        let key = key.ok_or_else(|| {
            IdTokenError::Invalid(match kid {
                Some(kid) => format!("no {alg:?} key with kid {:?}", printable(kid)),
                None => format!("no kid and not exactly one {alg:?} key"),
            })
        })?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let template = discovery.issuer.contains(TENANT_TEMPLATE);
        if !template {
            validation.set_issuer(&[discovery.issuer.as_str()]);
        }
        let claims = jsonwebtoken::decode::<Claims>(id_token, &key, &validation)
            .map_err(|e| IdTokenError::Invalid(format!("{:?}", e.kind())))?
            .claims;
        if template {
            let expected = claims
                .tid
                .as_deref()
                .filter(|t| is_tenant_id(t))
                .map(|tid| discovery.issuer.replace(TENANT_TEMPLATE, tid));
            if expected.as_deref() != Some(claims.iss.as_str()) {
                return Err(IdTokenError::Invalid(
                    "iss is not the issuer of the token's tenant".into(),
                ));
            }
        }
        if let serde_json::Value::Array(auds) = &claims.aud
            && auds.len() > 1
            && claims.azp.as_deref() != Some(client_id)
        {
            return Err(IdTokenError::Invalid(
                "several audiences and azp is not this client".into(),
            ));
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(IdTokenError::Invalid("nonce mismatch".into()));
        }
        if claims.sub.trim().is_empty() {
            return Err(IdTokenError::Invalid("empty sub".into()));
        }
        Ok(Profile {
            sub: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified || claims.xms_edov,
            name: claims.name,
        })
    }
}

/// Why an ID token was not accepted.
#[derive(Debug)]
pub(crate) enum IdTokenError {
    /// The token is forged, expired, for someone else, or otherwise invalid.
    Invalid(String),
    /// The issuer's keys could not be fetched.
    Keys(String),
}

/// The ID token claims fastvue reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    email_verified: bool,
    /// Microsoft Entra ID: "email domain owner verified" (an optional claim).
    #[serde(default, deserialize_with = "lenient_bool")]
    xms_edov: bool,
    #[serde(default)]
    name: Option<String>,
    /// Microsoft Entra ID: the tenant that issued the token.
    #[serde(default)]
    tid: Option<String>,
}

async fn fetch_keys(http: &reqwest::Client, jwks_uri: &str) -> Result<Vec<Jwk>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = get_json(http, jwks_uri, None, "application/json", "OpenID keys").await?;
    // Keys of kinds jsonwebtoken cannot read (or encryption keys) are skipped, not fatal.
    Ok(set
        .keys
        .into_iter()
        .take(MAX_KEYS)
        .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
        .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .collect())
}

/// The key `kid` names (or the only candidate when the token names none), usable for
/// `alg`: same family, and the key's own `alg`, when it states one, is `alg`.
fn pick_key(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let usable = |k: &&Jwk| {
        let family_ok = matches!(
            (&k.algorithm, alg.family()),
            (
                AlgorithmParameters::RSA(_),
                jsonwebtoken::AlgorithmFamily::Rsa
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                jsonwebtoken::AlgorithmFamily::Ec
            ) | (
                AlgorithmParameters::OctetKeyPair(_),
                jsonwebtoken::AlgorithmFamily::Ed
            )
        );
        let alg_ok = k
            .common
            .key_algorithm
            .is_none_or(|a| a.to_string() == format!("{alg:?}"));
        family_ok && alg_ok
    };
    let mut candidates = keys.iter().filter(usable);
    let jwk = match kid {
        Some(kid) => candidates.find(|k| k.common.key_id.as_deref() == Some(kid)),
        None => {
            let first = candidates.next();
            if candidates.next().is_some() {
                None
            } else {
                first
            }
        }
    }?;
    DecodingKey::from_jwk(jwk).ok()
}

/// Whether `issuer` is one of Microsoft's multi-tenant issuers (`common`,
/// `organizations`, `consumers`), whose discovery document names a `{tenantid}` issuer.
fn is_microsoft_multi_tenant(issuer: &str) -> bool {
    ["common", "organizations", "consumers"]
        .iter()
        .any(|t| issuer.contains(&format!("/{t}/")) || issuer.ends_with(&format!("/{t}")))
}

/// A tenant id as Microsoft writes them (a GUID): hex digits and dashes only, so it
/// cannot change the shape of the issuer it is put into.
fn is_tenant_id(tid: &str) -> bool {
    (1..=64).contains(&tid.len()) && tid.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_multi_tenant_issuers_and_tenant_ids_are_recognised() {
        assert!(is_microsoft_multi_tenant(
            "https://login.microsoftonline.com/common/v2.0"
        ));
        assert!(is_microsoft_multi_tenant(
            "https://login.microsoftonline.com/organizations/v2.0"
        ));
        assert!(!is_microsoft_multi_tenant(
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
        ));
        assert!(is_tenant_id("9188040d-6c67-4c5b-b112-36a304b66dad"));
        assert!(!is_tenant_id("evil.example.com/x"));
        assert!(!is_tenant_id(""));
    }

    #[test]
    fn a_key_is_picked_by_kid_family_and_stated_alg() {
        let rsa = |kid: &str, alg: Option<&str>| {
            let mut v = serde_json::json!({"kty":"RSA","kid":kid,"n":"sXch","e":"AQAB"});
            if let Some(alg) = alg {
                v["alg"] = alg.into();
            }
            serde_json::from_value::<Jwk>(v).unwrap()
        };
        let keys = vec![rsa("a", Some("RS256")), rsa("b", None)];
        assert!(pick_key(&keys, Some("a"), Algorithm::RS256).is_some());
        assert!(pick_key(&keys, Some("a"), Algorithm::RS512).is_none());
        assert!(pick_key(&keys, Some("b"), Algorithm::PS256).is_some());
        assert!(pick_key(&keys, Some("c"), Algorithm::RS256).is_none());
        assert!(pick_key(&keys, Some("a"), Algorithm::ES256).is_none());
        // Without a kid only a single candidate is used.
        assert!(pick_key(&keys, None, Algorithm::RS256).is_none());
        assert!(pick_key(&keys[..1], None, Algorithm::RS256).is_some());
    }
}
