//! argon2id password hashing. Hashing runs on the blocking pool so it never stalls the runtime.
use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};

use crate::error::{Error, Result};

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    params: Params,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher with the given argon2id cost (memory in KiB, iterations, lanes).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| Error::Internal(format!("invalid argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        // A real hash of a random secret: verifying an unknown user against it costs
        // exactly what a wrong password costs, so timing does not reveal which users exist.
        let dummy_hash = argon2
            .hash_password(random_secret().as_bytes())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))?
            .to_string();
        Ok(Self {
            argon2: Arc::new(argon2),
            params,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes `password` into a PHC string (blocking; see [`PasswordHasher::hash_async`]).
    pub fn hash(&self, password: &str) -> Result<String> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    }

    /// Verifies `password` against a PHC string; a malformed hash verifies as false.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        self.argon2
            .verify_password(password.as_bytes(), phc)
            .is_ok()
    }

    /// Whether a stored hash was made with other parameters and should be re-hashed
    /// at the next successful sign-in.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        if hash.algorithm != Algorithm::Argon2id.ident() || hash.version != Some(0x13) {
            return true;
        }
        match Params::try_from(&hash) {
            Ok(p) => {
                p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }

    /// [`PasswordHasher::hash`] on the blocking pool.
    pub async fn hash_async(&self, password: String) -> Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash(&password))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
    }

    /// Verifies on the blocking pool. With `phc = None` (unknown user, or an account
    /// without a password) it verifies against a dummy hash and returns false, at the
    /// same cost as a wrong password.
    pub async fn verify_async(&self, password: String, phc: Option<String>) -> Result<bool> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || match phc {
            Some(phc) => this.verify(&password, &phc),
            None => {
                this.verify(&password, &this.dummy_hash);
                false
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("verification task failed: {e}")))
    }
}

/// A random 24-character password of letters and digits.
pub fn random_secret() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(64, 1, 1).unwrap()
    }

    #[test]
    fn hash_then_verify_accepts_right_and_rejects_wrong_password() {
        let h = cheap();
        let phc = h.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify("correct horse", &phc));
        assert!(!h.verify("wrong horse", &phc));
    }

    #[test]
    fn malformed_hash_never_verifies() {
        assert!(!cheap().verify("x", "not-a-phc-string"));
    }

    #[test]
    fn rehash_needed_when_parameters_change() {
        let old = cheap();
        let phc = old.hash("pw123456").unwrap();
        assert!(!old.needs_rehash(&phc));
        let stronger = PasswordHasher::new(128, 2, 1).unwrap();
        assert!(stronger.needs_rehash(&phc));
        assert!(stronger.needs_rehash("garbage"));
    }

    #[tokio::test]
    async fn unknown_user_verification_is_false() {
        let h = cheap();
        assert!(!h.verify_async("whatever".into(), None).await.unwrap());
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(random_secret().len(), 24);
    }
}
