//! Password hashing: argon2id with the crate's recommended parameters, PHC strings in the database.
//! Each hash or check takes about 19 MiB and a core for a moment, so at most one per core runs at a
//! time: a flood of sign-ups or sign-ins queues here instead of exhausting memory.

use crate::error::AppError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// argon2 runs allowed at once: one per core.
static SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
/// How long a request waits for a slot before it is told to come back later.
const WAIT: Duration = Duration::from_secs(10);

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The most argon2 runs that were ever in progress at once in this process.
pub fn most_at_once() -> usize {
    MOST_RUNNING.load(Ordering::Relaxed)
}

/// Hashes `password` on a blocking thread, within the process's argon2 budget.
pub async fn hash(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    limited(move || hash_now(&password).map_err(AppError::internal)).await?
}

/// Checks `password` against a stored hash, within the process's argon2 budget. False for a wrong
/// password and for a malformed stored hash alike.
pub async fn verify(password: &str, stored_hash: &str) -> Result<bool, AppError> {
    let (password, stored_hash) = (password.to_owned(), stored_hash.to_owned());
    limited(move || verify_now(&password, &stored_hash)).await
}

async fn limited<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let _slot = tokio::time::timeout(WAIT, SLOTS.acquire())
        .await
        .map_err(|_| AppError::RateLimited {
            retry_after_secs: 5,
        })?
        .map_err(AppError::internal)?;
    let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_RUNNING.fetch_max(running, Ordering::SeqCst);
    let result = tokio::task::spawn_blocking(|| {
        let result = work();
        give_back_freed_memory();
        result
    })
    .await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    result.map_err(AppError::internal)
}

/// Hands the memory this thread has freed (argon2's 19 MiB block) back to the system at once.
/// mimalloc otherwise purges it only when the thread allocates again, which an idle blocking thread
/// may not do for a while: measured here, 60 concurrent sign-ups left the process at 92 MiB, with
/// this at 50 MiB (glibc's malloc had kept 290 MiB until its mmap threshold was pinned).
fn give_back_freed_memory() {
    // SAFETY: mi_collect only walks and releases the calling thread's own free memory.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Hashes at once, on the calling thread (start-up, seeding, tests).
pub fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_now(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_verify_only_their_password() {
        let stored = super::hash_now("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(super::verify_now("correct horse", &stored));
        assert!(!super::verify_now("correct horse ", &stored));
        assert!(!super::verify_now("correct horse", "not a hash"));
        assert_ne!(stored, super::hash_now("correct horse").unwrap(), "salted");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_argon2_runs_than_cores_at_once() {
        let stored = super::hash_now("x").unwrap();
        let checks = (0..24).map(|_| {
            let stored = stored.clone();
            tokio::spawn(async move { super::verify("y", &stored).await.unwrap() })
        });
        for check in futures::future::join_all(checks).await {
            assert!(!check.unwrap());
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert!(
            super::most_at_once() <= cores,
            "{} > {cores}",
            super::most_at_once()
        );
        assert!(super::most_at_once() >= 1);
    }
}
