//! argon2id password hashing, off the async runtime and under a fixed limit: hashes run
//! on `concurrency` threads of their own (each hash takes `ARGON2_MEMORY_KIB` of memory,
//! which its thread's allocator keeps for the next one), at most `queue` more wait for
//! one; past that a hash is refused at once with [`Error::Busy`] instead of queueing
//! memory and threads without bound, whoever asks (an unauthenticated sign-in flood
//! included). Dedicated threads rather than the runtime's blocking pool: a pool that grows
//! to hundreds of threads under a flood leaves a hash's worth of allocator memory behind
//! on each of them.
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, oneshot};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _,
    Version,
};
use rand::Rng;

use crate::error::{Error, Result};

thread_local! {
    /// The argon2 working memory of a hashing thread, kept from one hash to the next, so
    /// that hashing memory is exactly `concurrency` buffers whatever the allocator does
    /// with large freed blocks.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` over this thread's working memory of `blocks` blocks.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|m| {
        if m.len() != blocks {
            *m = vec![Block::default(); blocks];
        }
        f(m)
    })
}

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

/// A hash to run on a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing limit: `concurrency` threads take jobs from `jobs`; `admitted` permits
/// (running plus waiting) are taken without waiting, or the hash is refused. The threads
/// end when the last clone of the hasher is dropped (the sender closes).
struct Slots {
    jobs: Mutex<mpsc::Sender<Job>>,
    admitted: Semaphore,
    concurrency: usize,
    queue: usize,
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("concurrency", &self.concurrency)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Slots {
    fn new(concurrency: usize, queue: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..concurrency {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("fastvue-hash-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take the next job, never while it runs.
                        let next = rx.lock().map(|r| r.recv());
                        match next {
                            // A panicking hash fails its own request, not the thread.
                            Ok(Ok(job)) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            _ => break,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs: Mutex::new(tx),
            admitted: Semaphore::new(concurrency + queue),
            concurrency,
            queue,
        })
    }
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
            slots: Arc::new(Slots::new(concurrency, queue)?),
        })
    }

    /// Hashes running at once, at most.
    pub fn concurrency(&self) -> usize {
        self.slots.concurrency
    }

    /// Runs `work` on a hashing thread; [`Error::Busy`] at once when every thread is busy
    /// and the queue is full.
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
        let (done, answer) = oneshot::channel();
        let this = self.clone();
        let job: Job = Box::new(move || {
            let _ = done.send(work(&this));
        });
        self.slots
            .jobs
            .lock()
            .map_err(|_| Error::Internal("the hashing queue is poisoned".into()))?
            .send(job)
            .map_err(|_| Error::Internal("the hashing threads are gone".into()))?;
        // The permit is held until the answer arrives: a waiting request keeps its place.
        answer
            .await
            .map_err(|_| Error::Internal("a hashing thread failed".into()))
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

    /// [`PasswordHasher::hash`] on a hashing thread, under the hashing limit.
    pub async fn hash_async(&self, password: String) -> Result<String> {
        self.limited(move |this| this.hash_reusing_memory(&password))
            .await?
    }

    /// [`PasswordHasher::hash`] in the calling (hashing) thread's kept working memory.
    fn hash_reusing_memory(&self, password: &str) -> Result<String> {
        let argon = |e: argon2::Error| Error::Internal(format!("argon2: {e}"));
        let phc = |e: argon2::password_hash::phc::Error| Error::Internal(format!("argon2: {e}"));
        let mut salt = [0u8; 16];
        rand::rng().fill(&mut salt[..]);
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        with_memory(self.params.block_count(), |memory| {
            self.argon2
                .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
        })
        .map_err(argon)?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| Error::Internal(format!("argon2: {e}")))?,
            salt: Some(Salt::new(&salt).map_err(phc)?),
            hash: Some(Output::new(&out).map_err(phc)?),
        }
        .to_string())
    }

    /// [`PasswordHasher::verify`] in the calling (hashing) thread's kept working memory:
    /// the stored hash's own algorithm, version and parameters, a constant-time
    /// comparison of the outputs.
    fn verify_reusing_memory(&self, password: &str, phc: &str) -> bool {
        let Ok(stored) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
            return false;
        };
        let version = match stored.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(params) = Params::try_from(&stored) else {
            return false;
        };
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let mut out = [0u8; Output::MAX_LENGTH];
        let Some(out) = out.get_mut(..expected.len()) else {
            return false;
        };
        let hashed = with_memory(blocks, |memory| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), out, memory)
        });
        hashed.is_ok() && Output::new(out).is_ok_and(|computed| &computed == expected)
    }

    /// Verifies on the blocking pool, under the hashing limit. With `phc = None`
    /// (unknown user, or an account without a password) it verifies against a dummy
    /// hash and returns false, at the same cost as a wrong password.
    pub async fn verify_async(&self, password: String, phc: Option<String>) -> Result<bool> {
        self.limited(move |this| match phc {
            Some(phc) => this.verify_reusing_memory(&password, &phc),
            None => {
                this.verify_reusing_memory(&password, &this.dummy_hash);
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

    /// Runs a job on `h` that holds its hashing slot until the returned barrier is
    /// passed a second time; returns once the job holds it.
    async fn hold_a_slot(
        h: &PasswordHasher,
    ) -> (Arc<std::sync::Barrier>, tokio::task::JoinHandle<Result<()>>) {
        let free = h.slots.admitted.available_permits();
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
        while h.slots.admitted.available_permits() == free {
            tokio::task::yield_now().await;
        }
        (gate, running)
    }

    #[tokio::test]
    async fn past_the_running_and_queued_slots_a_hash_is_refused_at_once_as_busy() {
        // One slot, no queue: while a verification runs, the next is refused at once.
        let h = PasswordHasher::with_limits(64, 1, 1, 1, 0).unwrap();
        let (gate, running) = hold_a_slot(&h).await;
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
        // One slot, one queue place: while a job holds the slot, one more hash waits and
        // the next is refused; once the slot frees, the waiting one runs.
        let h = PasswordHasher::with_limits(64, 1, 1, 1, 1).unwrap();
        let (gate, running) = hold_a_slot(&h).await;
        let queued = {
            let h = h.clone();
            tokio::spawn(async move { h.hash_async("pw".into()).await })
        };
        while h.slots.admitted.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        let refused = h.hash_async("pw".into()).await;
        assert!(matches!(refused, Err(Error::Busy { .. })), "{refused:?}");
        gate.wait();
        running.await.unwrap().unwrap();
        let phc = queued.await.unwrap().expect("the queued hash runs");
        assert!(h.verify("pw", &phc));
    }

    #[tokio::test]
    async fn hashes_made_in_kept_memory_verify_both_ways_with_the_allocating_ones() {
        let h = PasswordHasher::with_limits(64, 1, 1, 1, 4).unwrap();
        let kept = h.hash_async("correct horse".into()).await.unwrap();
        assert!(kept.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{kept}");
        assert!(h.verify("correct horse", &kept));
        assert!(!h.verify("wrong horse", &kept));
        let allocated = h.hash("correct horse").unwrap();
        for phc in [&kept, &allocated] {
            assert!(
                h.verify_async("correct horse".into(), Some(phc.clone()))
                    .await
                    .unwrap()
            );
            assert!(
                !h.verify_async("wrong horse".into(), Some(phc.clone()))
                    .await
                    .unwrap()
            );
        }
        // A stored hash with other parameters (before a rehash) verifies with its own.
        let older = PasswordHasher::new(128, 2, 1)
            .unwrap()
            .hash("pw-older-1")
            .unwrap();
        assert!(
            h.verify_async("pw-older-1".into(), Some(older))
                .await
                .unwrap()
        );
        assert!(
            !h.verify_async("x".into(), Some("$argon2id$garbage".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(random_secret().len(), 24);
    }
}
