//! Signed JWTs for access and refresh tokens.
//!
//! Tokens are signed with HMAC over `JWT_SECRET_KEY` using `JWT_ALGORITHM` (HS256 by
//! default). Decoding pins that one algorithm: a token whose header names any other
//! algorithm (including `none`), a bad signature, an expired token (no leeway), missing
//! claims, or a token of the other kind (a refresh token presented as an access token
//! and vice versa) are all rejected.
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
}

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
        };
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("cannot sign a token: {e}")))?;
        Ok((token, claims))
    }

    /// Verifies `token` and returns its claims if it is a valid, unexpired token of `kind`.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        self.decode(token, kind, &self.validation)
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
