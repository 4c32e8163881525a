//! argon2id password hashing. Hashing runs on the blocking pool so it never stalls the
//! runtime, and under a fixed limit: at most `concurrency` hashes (each takes
//! `ARGON2_MEMORY_KIB` of memory) run at once and at most `queue` more wait for a slot;
//! past that a hash is refused at once with [`Error::Busy`] instead of queueing memory
//! and threads without bound, whoever asks (an unauthenticated sign-in flood included).
use std::sync::Arc;

use tokio::sync::Semaphore;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};

use crate::error::{Error, Result};

/// Seconds a refused hash suggests waiting (`Retry-After`).
pub const BUSY_RETRY_AFTER: u64 = 1;

/// Hashes and verifies passwords with argon2id, under a fixed concurrency limit.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    params: Params,
    dummy_hash: Arc<str>,
    slots: Arc<Slots>,
}

/// The hashing limit: `running` permits run a hash; `admitted` permits (running plus
/// waiting) are taken without waiting, or the hash is refused.
#[derive(Debug)]
struct Slots {
    running: Semaphore,
    admitted: Semaphore,
    concurrency: usize,
    queue: usize,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("concurrency", &self.slots.concurrency)
            .field("queue", &self.slots.queue)
            .finish()
    }
}

/// One hash per core by default.
fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl PasswordHasher {
    /// A hasher with the given argon2id cost (memory in KiB, iterations, lanes), running
    /// one hash per core with four times as many waiting (see [`PasswordHasher::with_limits`]).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let concurrency = default_concurrency();
        Self::with_limits(
            memory_kib,
            iterations,
            parallelism,
            concurrency,
            4 * concurrency,
        )
    }

    /// A hasher running at most `concurrency` hashes at once (0: one per core) with at
    /// most `queue` more waiting; further hashes fail at once with [`Error::Busy`].
    pub fn with_limits(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        concurrency: usize,
        queue: usize,
    ) -> Result<Self> {
        let concurrency = if concurrency == 0 {
            default_concurrency()
        } else {
            concurrency
        };
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
            slots: Arc::new(Slots {
                running: Semaphore::new(concurrency),
                admitted: Semaphore::new(concurrency + queue),
                concurrency,
                queue,
            }),
        })
    }

    /// Hashes running at once, at most.
    pub fn concurrency(&self) -> usize {
        self.slots.concurrency
    }

    /// Runs `work` on the blocking pool once a hashing slot is free; [`Error::Busy`] at
    /// once when every slot is taken and the queue is full.
    async fn limited<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> T + Send + 'static,
    ) -> Result<T> {
        let Ok(_admitted) = self.slots.admitted.try_acquire() else {
            metrics::counter!("fastvue_password_hash_refused_total").increment(1);
            return Err(Error::Busy {
                message: "too many passwords are being checked right now; try again shortly".into(),
                retry_after: BUSY_RETRY_AFTER,
            });
        };
        let _running = self
            .slots
            .running
            .acquire()
            .await
            .map_err(|_| Error::Internal("the hashing limit was closed".into()))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))
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

    /// [`PasswordHasher::hash`] on the blocking pool, under the hashing limit.
    pub async fn hash_async(&self, password: String) -> Result<String> {
        self.limited(move |this| this.hash(&password)).await?
    }

    /// Verifies on the blocking pool, under the hashing limit. With `phc = None`
    /// (unknown user, or an account without a password) it verifies against a dummy
    /// hash and returns false, at the same cost as a wrong password.
    pub async fn verify_async(&self, password: String, phc: Option<String>) -> Result<bool> {
        self.limited(move |this| match phc {
            Some(phc) => this.verify(&password, &phc),
            None => {
                this.verify(&password, &this.dummy_hash);
                false
            }
        })
        .await
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

    #[tokio::test]
    async fn past_the_running_and_queued_slots_a_hash_is_refused_at_once_as_busy() {
        // One slot, no queue: while a verification runs, the next is refused at once.
        let h = PasswordHasher::with_limits(64, 1, 1, 1, 0).unwrap();
        let gate = Arc::new(std::sync::Barrier::new(2));
        let inside = gate.clone();
        let running = {
            let h = h.clone();
            tokio::spawn(async move {
                h.limited(move |_| {
                    inside.wait();
                })
                .await
            })
        };
        // Wait until the first task holds the slot.
        while h.slots.running.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        let refused = h.verify_async("x".into(), None).await;
        assert!(
            matches!(refused, Err(Error::Busy { retry_after, .. }) if retry_after == BUSY_RETRY_AFTER),
            "{refused:?}"
        );
        gate.wait();
        running.await.unwrap().unwrap();
        // The slot is free again.
        assert!(!h.verify_async("x".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_queued_hash_waits_for_a_slot_and_then_runs() {
        let h = PasswordHasher::with_limits(64, 1, 1, 1, 1).unwrap();
        let results =
            futures_util::future::join_all((0..2).map(|_| h.hash_async("pw".into()))).await;
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        let third = futures_util::future::join_all((0..3).map(|_| h.hash_async("pw".into()))).await;
        let busy = third
            .iter()
            .filter(|r| matches!(r, Err(Error::Busy { .. })))
            .count();
        assert_eq!(
            busy, 1,
            "one of three is refused with one slot and one queued"
        );
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(random_secret().len(), 24);
    }
}
