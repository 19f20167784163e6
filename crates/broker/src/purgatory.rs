//! The purgatory: requests that cannot be answered yet wait here (Kafka's
//! `DelayedOperationPurgatory`). One mechanism serves acks=all produces,
//! offset commits and transaction markers (waiting for a high watermark),
//! and fetch long-polls (waiting for data).
//!
//! A delayed operation names the [`WatchKey`]s that can complete it and a
//! `try_complete` check. The check runs once at once; if it is not done,
//! the operation parks until one of its keys is completed (then the check
//! runs again) or its timeout passes (then the caller answers with what it
//! has, Kafka's `onExpiration`). Keys are registered before each check, so
//! a completion between a check and the park is never lost.
//!
//! A key is a cheap handle owned by what it watches (a partition owns the
//! keys of its high watermark and log end): completing it costs no lookup
//! on the produce path, and nothing is kept for keys nobody watches.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::select_all;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Something delayed operations wait on: a partition's high watermark, its
/// log end, a transaction's markers.
#[derive(Clone, Default)]
pub struct WatchKey(Arc<Notify>);

impl WatchKey {
    pub fn new() -> Self {
        WatchKey::default()
    }

    /// Wakes every operation watching this key to re-check itself.
    pub fn complete(&self) {
        self.0.notify_waiters();
    }
}

impl std::fmt::Debug for WatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchKey")
    }
}

/// Counts parked operations (for metrics and tests); the waiting itself
/// needs no shared state.
#[derive(Debug, Default)]
pub struct Purgatory {
    parked: AtomicUsize,
}

/// Decrements the parked count however the wait ends (also when the
/// request's future is dropped mid-wait).
struct Parked<'a>(&'a AtomicUsize);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Purgatory {
    pub fn new() -> Self {
        Purgatory::default()
    }

    /// Operations parked right now.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    /// Runs a delayed operation: `Ok` with what `try_complete` returned once
    /// it returns `Some`, `Err(())` if `deadline` passes first (the caller
    /// then answers as it would on expiry).
    pub async fn wait<T>(
        &self,
        keys: &[WatchKey],
        deadline: Instant,
        mut try_complete: impl FnMut() -> Option<T>,
    ) -> Result<T, ()> {
        // The common case: done at once, no registration at all.
        if let Some(done) = try_complete() {
            return Ok(done);
        }
        if keys.is_empty() || Instant::now() >= deadline {
            return Err(());
        }
        self.parked.fetch_add(1, Ordering::Relaxed);
        let _parked = Parked(&self.parked);
        loop {
            // Register before checking, so no completion slips between.
            let mut watching: Vec<Pin<Box<tokio::sync::futures::Notified<'_>>>> =
                keys.iter().map(|k| Box::pin(k.0.notified())).collect();
            for w in watching.iter_mut() {
                w.as_mut().enable();
            }
            if let Some(done) = try_complete() {
                return Ok(done);
            }
            if Instant::now() >= deadline {
                return Err(());
            }
            let any: Pin<Box<dyn Future<Output = _> + Send + '_>> = if watching.len() == 1 {
                Box::pin(watching.pop().expect("one key"))
            } else {
                Box::pin(async move {
                    select_all(watching).await;
                })
            };
            if tokio::time::timeout_at(deadline, any).await.is_err() {
                // Expired: one last look, as Kafka's forceComplete does.
                return try_complete().ok_or(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn completes_at_once_without_parking() {
        let p = Purgatory::new();
        let key = WatchKey::new();
        assert_eq!(p.wait(&[key], Instant::now(), || Some(7)).await, Ok(7));
        assert_eq!(p.parked(), 0);
    }

    #[tokio::test]
    async fn completes_when_a_key_is_completed() {
        let p = Arc::new(Purgatory::new());
        let (a, b) = (WatchKey::new(), WatchKey::new());
        let value = Arc::new(AtomicI64::new(0));
        let waiter = {
            let (p, keys, value) = (p.clone(), [a.clone(), b.clone()], value.clone());
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                p.wait(&keys, deadline, || (value.load(Ordering::SeqCst) >= 2).then_some("done")).await
            })
        };
        while p.parked() == 0 {
            tokio::task::yield_now().await;
        }
        value.store(1, Ordering::SeqCst);
        a.complete();
        value.store(2, Ordering::SeqCst);
        b.complete();
        assert_eq!(waiter.await.unwrap(), Ok("done"));
        assert_eq!(p.parked(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn expires_at_the_deadline() {
        let p = Purgatory::new();
        let key = WatchKey::new();
        let deadline = Instant::now() + Duration::from_millis(500);
        assert_eq!(p.wait(std::slice::from_ref(&key), deadline, || None::<()>).await, Err(()));
        assert!(Instant::now() >= deadline);
        assert_eq!(p.parked(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn completion_that_is_not_enough_parks_again() {
        let p = Arc::new(Purgatory::new());
        let key = WatchKey::new();
        let checks = Arc::new(AtomicI64::new(0));
        let waiter = {
            let (p, key, checks) = (p.clone(), key.clone(), checks.clone());
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(1);
                p.wait(&[key], deadline, || {
                    checks.fetch_add(1, Ordering::SeqCst);
                    None::<()>
                })
                .await
            })
        };
        while p.parked() == 0 {
            tokio::task::yield_now().await;
        }
        key.complete();
        assert_eq!(waiter.await.unwrap(), Err(()));
        // At once, after registering, after the completion, at expiry.
        assert_eq!(checks.load(Ordering::SeqCst), 4);
    }
}
