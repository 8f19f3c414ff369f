//! Password hashing (argon2id) on a small fixed set of dedicated threads,
//! each of which reuses one memory buffer for every hash it computes.
//!
//! An argon2id hash with the default parameters fills 19 MiB. Computed on
//! the tokio blocking pool, each hash allocated that afresh on whichever
//! pool thread ran it, and the allocator kept what every thread's arena had
//! once held: a burst of sign-ups or sign-ins (the decoy verification of
//! unknown names included) left the process hundreds of MiB larger for good.
//! Here [`HASHING_THREADS`] threads each allocate and touch their buffer
//! once, at start, so hashing holds `HASHING_THREADS × 19 MiB` from the
//! start and never more, whatever the load. Requests beyond what the
//! threads can take wait in a bounded queue.
//!
//! Hashes are the usual PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$...`),
//! byte for byte what `argon2::PasswordHasher` produces, so stored hashes
//! verify either way.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

/// Threads that compute hashes. Each holds [`Params::DEFAULT_M_COST`] KiB
/// (19 MiB) for its whole life; two keep a small server's sign-ins quick
/// (a hash takes tens of milliseconds) while bounding memory.
pub const HASHING_THREADS: usize = 2;
/// Hash requests waiting for a thread. When full, a sign-in waits for room
/// (its request is already bounded by the HTTP limits), so a burst queues
/// instead of growing memory.
const QUEUED_JOBS: usize = 64;
/// Salt length in bytes, as `argon2`'s recommended default.
const SALT_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("the hashing threads have stopped")]
    Stopped,
    #[error("the stored password hash is malformed or unsupported")]
    BadHash,
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

enum Job {
    Hash { password: String, reply: oneshot::Sender<Result<String, HashingError>> },
    Verify { password: String, hash: String, reply: oneshot::Sender<Result<bool, HashingError>> },
}

/// The hashing threads. Dropping it (with the last clone of its sender)
/// stops them, and their memory is freed.
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
}

impl Hasher {
    /// Starts the threads and returns once each has allocated and touched
    /// its memory, so the process's resident size already includes it.
    pub fn start() -> Result<Self, HashingError> {
        let (jobs, queue) = mpsc::channel(QUEUED_JOBS);
        let queue = Arc::new(Mutex::new(queue));
        let (ready, all_ready) = std::sync::mpsc::channel();
        for n in 0..HASHING_THREADS {
            let queue = Arc::clone(&queue);
            let ready = ready.clone();
            std::thread::Builder::new()
                .name(format!("natter-hash-{n}"))
                .spawn(move || run_thread(&queue, &ready))
                .map_err(|error| HashingError::Argon2(format!("cannot start a hashing thread: {error}")))?;
        }
        drop(ready);
        for _ in 0..HASHING_THREADS {
            all_ready.recv().map_err(|_| HashingError::Stopped)?;
        }
        Ok(Self { jobs })
    }

    /// A PHC string for `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, HashingError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Hash { password, reply }).await.map_err(|_| HashingError::Stopped)?;
        answer.await.map_err(|_| HashingError::Stopped)?
    }

    /// Whether `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, HashingError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Verify { password, hash, reply }).await.map_err(|_| HashingError::Stopped)?;
        answer.await.map_err(|_| HashingError::Stopped)?
    }
}

/// One hashing thread: allocates its buffer, says it is ready, then takes
/// jobs until every sender is gone.
fn run_thread(queue: &Mutex<mpsc::Receiver<Job>>, ready: &std::sync::mpsc::Sender<()>) {
    let mut memory = vec![Block::new(); Params::DEFAULT.block_count()];
    // Every page is written now (not lazily on the first hash), so the
    // memory is resident from the start and the bound holds from the start.
    for block in memory.iter_mut() {
        *block = std::hint::black_box(Block::new());
    }
    let _ = ready.send(());
    loop {
        // Held only while waiting: the job runs with the lock released.
        let job = queue.lock().expect("hash queue lock is never poisoned").blocking_recv();
        let Some(job) = job else { return };
        // A job that panics loses its answer (the caller sees the reply
        // dropped: `Unavailable`), never the thread: two threads lost for
        // good would leave every sign-in unavailable.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(hash_with(&mut memory, password.as_bytes()));
            }
            Job::Verify { password, hash, reply } => {
                let _ = reply.send(verify_with(&mut memory, password.as_bytes(), &hash));
            }
        }));
        if ran.is_err() {
            tracing::error!("a password hashing job panicked; the thread carries on");
        }
    }
}

/// Hashes with the default parameters (argon2id, v=19, m=19456, t=2, p=1)
/// in `memory`.
fn hash_with(memory: &mut [Block], password: &[u8]) -> Result<String, HashingError> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).expect("the operating system provides randomness");
    hash_with_salt(memory, password, &salt)
}

fn hash_with_salt(memory: &mut [Block], password: &[u8], salt: &[u8]) -> Result<String, HashingError> {
    let argon2_error = |error: argon2::Error| HashingError::Argon2(error.to_string());
    let phc_error = |error: argon2::password_hash::Error| HashingError::Argon2(error.to_string());
    let params = Params::DEFAULT;
    let salt = SaltString::encode_b64(salt).map_err(phc_error)?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, raw_salt(&salt)?.as_slice(), &mut output, &mut *memory)
        .map_err(argon2_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(phc_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(phc_error)?),
    };
    Ok(phc.to_string())
}

/// The salt's bytes, decoded from its B64 form (what argon2 hashes with).
fn raw_salt(salt: &SaltString) -> Result<Vec<u8>, HashingError> {
    let mut buffer = [0u8; 64];
    let bytes = salt.as_salt().decode_b64(&mut buffer).map_err(|_| HashingError::BadHash)?;
    Ok(bytes.to_vec())
}

/// Verifies against a PHC string with whatever argon2 parameters it names,
/// as long as it fits `memory` (every hash natter makes does). A hash with
/// a larger memory cost (made elsewhere) is refused rather than given a
/// buffer of its own: that allocation, per sign-in, is the growth these
/// threads exist to prevent.
fn verify_with(memory: &mut [Block], password: &[u8], hash: &str) -> Result<bool, HashingError> {
    let parsed = PasswordHash::new(hash).map_err(|_| HashingError::BadHash)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|_| HashingError::BadHash)?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(|_| HashingError::BadHash)?;
    let params = Params::try_from(&parsed).map_err(|_| HashingError::BadHash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashingError::BadHash);
    };
    let mut salt_buffer = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buffer).map_err(|_| HashingError::BadHash)?;
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
    let mut output = vec![0u8; expected.len()];
    let blocks = params.block_count();
    if blocks > memory.len() {
        return Err(HashingError::Argon2(format!(
            "a stored hash asks for {blocks} KiB of memory; at most {} KiB are allowed",
            memory.len()
        )));
    }
    argon2
        .hash_password_into_with_memory(password, salt, &mut output, &mut memory[..blocks])
        .map_err(|error| HashingError::Argon2(error.to_string()))?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&output).map_err(|_| HashingError::BadHash)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn buffer() -> Vec<Block> {
        vec![Block::new(); Params::DEFAULT.block_count()]
    }

    #[test]
    fn hashes_are_the_phc_strings_the_argon2_crate_makes() {
        let salt = [7u8; SALT_BYTES];
        let ours = hash_with_salt(&mut buffer(), b"correct horse", &salt).unwrap();
        let salt_string = SaltString::encode_b64(&salt).unwrap();
        let theirs = Argon2::default().hash_password(b"correct horse", &salt_string).unwrap().to_string();
        assert_eq!(ours, theirs);
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
    }

    #[test]
    fn verifies_hashes_made_either_way() {
        let mut memory = buffer();
        let ours = hash_with(&mut memory, b"correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(verify_with(&mut memory, b"correct horse", &ours).unwrap());
        assert!(!verify_with(&mut memory, b"wrong horse", &ours).unwrap());
        // A stored hash from elsewhere with a smaller memory cost verifies;
        // one with a larger cost is refused, not given memory of its own.
        let salt = SaltString::encode_b64(&[3u8; 16]).unwrap();
        let made_with = |m_cost: u32| {
            let params = Params::new(m_cost, 1, 1, None).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"tr0ub4dor", &salt)
                .unwrap()
                .to_string()
        };
        let smaller = made_with(1024);
        assert!(verify_with(&mut memory, b"tr0ub4dor", &smaller).unwrap());
        assert!(!verify_with(&mut memory, b"tr0ub4dor&3", &smaller).unwrap());
        assert!(matches!(
            verify_with(&mut memory, b"tr0ub4dor", &made_with(32 * 1024)),
            Err(HashingError::Argon2(_))
        ));
        assert!(matches!(verify_with(&mut memory, b"x", "not a hash"), Err(HashingError::BadHash)));
    }

    #[tokio::test]
    async fn the_threads_answer_many_requests_at_once() {
        let hasher = Arc::new(Hasher::start().unwrap());
        let hashes = (0..6).map(|n| {
            let hasher = Arc::clone(&hasher);
            tokio::spawn(async move {
                let password = format!("password {n}");
                let hash = hasher.hash(password.clone()).await.unwrap();
                (
                    hasher.verify(password, hash.clone()).await.unwrap(),
                    hasher.verify("no".into(), hash).await.unwrap(),
                )
            })
        });
        for hash in hashes {
            assert_eq!(hash.await.unwrap(), (true, false));
        }
    }
}
