//! Signed JWTs for access and refresh tokens.
//!
//! Tokens are signed with HMAC over `JWT_SECRET_KEY` using `JWT_ALGORITHM` (HS256 by
//! default). Decoding pins that one algorithm: a token whose header names any other
//! algorithm (including `none`), a bad signature, an expired token (no leeway), missing
//! claims, or a token of the other kind (a refresh token presented as an access token
//! and vice versa) are all rejected.
//!
//! Verified access tokens are remembered (see [`JwtCodec::verify_access`]): a token's
//! bytes never change, so its signature needs checking once; its expiry is checked on
//! every use, and whether its user may still act is checked by the caller every time.
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{JwtAlgorithm, Settings};
use crate::error::{Error, Result};

use super::TokenError;

/// What a token is for; stored in the `type` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Short-lived bearer token for API calls.
    Access,
    /// Long-lived token that can only be exchanged for a new pair at `/auth/refresh`.
    Refresh,
}

/// The claims of every token fastvue issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// Unique token id; for refresh tokens the primary key of its `refresh_tokens` row.
    pub jti: String,
    /// Access or refresh.
    #[serde(rename = "type")]
    pub kind: TokenKind,
    /// The session (refresh-token family) an access token belongs to, so `/auth/sessions`
    /// can tell the caller's own session; absent on refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Claims {
    /// The user id in `sub`, or `None` when it is not a positive integer.
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok().filter(|id: &i64| *id > 0)
    }

    /// The expiry as a timestamp.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Signs and verifies tokens with the configured key and algorithm.
#[derive(Clone)]
pub struct JwtCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    algorithm: Algorithm,
    validation: Validation,
    validation_ignoring_expiry: Validation,
    access_ttl: Duration,
    refresh_ttl: Duration,
    /// Access tokens whose signature and claims were verified: token -> (user id, exp).
    verified: moka::sync::Cache<std::sync::Arc<str>, (i64, i64), foldhash::fast::RandomState>,
}

/// Memory the verified-token cache may hold (tokens are about 250 bytes: some 60,000).
const VERIFIED_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes an entry costs besides its token.
const VERIFIED_ENTRY_OVERHEAD: usize = 64;

impl fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCodec")
            .field("algorithm", &self.algorithm)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

impl JwtCodec {
    /// A codec for `JWT_SECRET_KEY` / `JWT_ALGORITHM`, with lifetimes
    /// `ACCESS_TOKEN_EXPIRE_MINUTES` and `REFRESH_TOKEN_EXPIRE_DAYS`.
    pub fn from_settings(settings: &Settings) -> Self {
        let secret = settings.jwt_secret_key.expose().as_bytes();
        let algorithm = match settings.jwt_algorithm {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Hs384 => Algorithm::HS384,
            JwtAlgorithm::Hs512 => Algorithm::HS512,
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let mut validation_ignoring_expiry = validation.clone();
        validation_ignoring_expiry.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            algorithm,
            validation,
            validation_ignoring_expiry,
            access_ttl: Duration::minutes(i64::from(settings.access_token_expire_minutes)),
            refresh_ttl: Duration::days(i64::from(settings.refresh_token_expire_days)),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_BYTES)
                .weigher(|token: &std::sync::Arc<str>, _| {
                    u32::try_from(token.len() + VERIFIED_ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .time_to_live(std::time::Duration::from_secs(
                    60 * u64::from(settings.access_token_expire_minutes),
                ))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// Lifetime of access tokens.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Lifetime of refresh tokens.
    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    /// Signs a new token of `kind` for `user_id`, issued at `now`, with a fresh `jti`.
    pub fn issue(
        &self,
        user_id: i64,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<(String, Claims)> {
        self.issue_in_session(user_id, kind, now, None)
    }

    /// [`JwtCodec::issue`] with the session id `sid` in the claims.
    pub fn issue_in_session(
        &self,
        user_id: i64,
        kind: TokenKind,
        now: DateTime<Utc>,
        sid: Option<&str>,
    ) -> Result<(String, Claims)> {
        let ttl = match kind {
            TokenKind::Access => self.access_ttl,
            TokenKind::Refresh => self.refresh_ttl,
        };
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            kind,
            sid: sid.map(str::to_owned),
        };
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("cannot sign a token: {e}")))?;
        Ok((token, claims))
    }

    /// Verifies `token` and returns its claims if it is a valid, unexpired token of `kind`.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        self.decode(token, kind, &self.validation)
    }

    /// The user id of a valid, unexpired access token: [`JwtCodec::verify`] the first
    /// time, then from memory (bounded to 16 MiB of tokens, each kept at most its
    /// lifetime) with only `exp` checked again. Only verified tokens are remembered, so
    /// made-up tokens cost a verification each and take no memory.
    pub fn verify_access(&self, token: &str) -> Result<i64, TokenError> {
        let now = Utc::now().timestamp();
        if let Some((user_id, exp)) = self.verified.get(token) {
            // As jsonwebtoken without leeway: valid while `exp` has not passed.
            return if exp < now {
                Err(TokenError::Expired)
            } else {
                Ok(user_id)
            };
        }
        let claims = self.verify(token, TokenKind::Access)?;
        let user_id = claims.user_id().ok_or(TokenError::Invalid)?;
        self.verified.insert(token.into(), (user_id, claims.exp));
        Ok(user_id)
    }

    /// Like [`JwtCodec::verify`] but accepts an expired token (signature, algorithm and
    /// kind are still checked). Used by logout, which may be called with an old token.
    pub fn verify_ignoring_expiry(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<Claims, TokenError> {
        self.decode(token, kind, &self.validation_ignoring_expiry)
    }

    fn decode(
        &self,
        token: &str,
        kind: TokenKind,
        validation: &Validation,
    ) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        let claims = data.claims;
        if claims.kind != kind || claims.user_id().is_none() || claims.jti.is_empty() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> JwtCodec {
        JwtCodec::from_settings(&Settings::from_source(|_| None).expect("defaults"))
    }

    #[test]
    fn only_verified_access_tokens_are_remembered_and_only_theirs_is_served_from_memory() {
        let jwt = codec();
        let (access, _) = jwt.issue(7, TokenKind::Access, Utc::now()).unwrap();
        let (refresh, _) = jwt.issue(7, TokenKind::Refresh, Utc::now()).unwrap();
        assert!(matches!(jwt.verify_access(&access), Ok(7)));
        assert!(jwt.verified.contains_key(access.as_str()));
        // A bit flipped in the signature is another key: verified in full and refused.
        let mut forged = access.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(matches!(
            jwt.verify_access(&forged),
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            jwt.verify_access(&refresh),
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            jwt.verify_access("not a token"),
            Err(TokenError::Invalid)
        ));
        jwt.verified.run_pending_tasks();
        assert_eq!(
            jwt.verified.entry_count(),
            1,
            "refused tokens take no memory"
        );
    }
}
