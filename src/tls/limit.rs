//! `maxsslconn <n>`: at most n TLS connections at once in the process,
//! clients' and servers' together, all workers together (HAProxy's
//! `sslconns`).
//!
//! A client's slot is taken before the handshake and held until the session
//! ends; a server connection's before its handshake and held by its stream
//! (pooled too) until it closes; none free fails that connection.
//! When none is free, HAProxy stops serving its SSL listeners and retries
//! later, so a new client waits without a handshake; ringlb's accept stage
//! does the same for that connection: it checks again every 100 ms until a
//! slot frees, and closes it when `timeout client` passes first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The limit (0: none).
static MAX: AtomicU64 = AtomicU64::new(0);
/// TLS connections open now.
static CURRENT: AtomicU64 = AtomicU64::new(0);
/// TLS connections taken since start (`CumSslConns`).
static CUMULATIVE: AtomicU64 = AtomicU64::new(0);

/// How often a waiting connection looks for a free slot.
const RETRY: Duration = Duration::from_millis(100);

/// Sets the process's limit from the configuration (`None`: no limit).
pub fn set_max(n: Option<u32>) {
    MAX.store(n.map_or(0, u64::from), Ordering::Relaxed);
}

/// TLS client connections open now (`show info`'s `CurrSslConns`).
pub fn current() -> u64 {
    CURRENT.load(Ordering::Relaxed)
}

/// TLS client connections since start (`CumSslConns`).
pub fn cumulative() -> u64 {
    CUMULATIVE.load(Ordering::Relaxed)
}

/// The limit, 0 when none (`MaxSslConns`).
pub fn max() -> u64 {
    MAX.load(Ordering::Relaxed)
}

/// One TLS connection's place under the limit, given back on drop.
#[derive(Debug)]
pub struct SslSlot(());

impl Drop for SslSlot {
    fn drop(&mut self) {
        CURRENT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A slot, if one is free now.
pub fn try_take() -> Option<SslSlot> {
    let max = MAX.load(Ordering::Relaxed);
    let mut cur = CURRENT.load(Ordering::Relaxed);
    loop {
        if max != 0 && cur >= max {
            return None;
        }
        match CURRENT.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                CUMULATIVE.fetch_add(1, Ordering::Relaxed);
                return Some(SslSlot(()));
            }
            Err(now) => cur = now,
        }
    }
}

/// A slot, waiting for one to free up to `timeout` (none: forever).
pub async fn take(timeout: Option<Duration>) -> Option<SslSlot> {
    if let Some(slot) = try_take() {
        return Some(slot);
    }
    // Boxed: a timer inline (640 bytes, aligned to 128) would size and
    // align every connection's task for this rare wait.
    Box::pin(wait(timeout)).await
}

/// [`take`]'s wait for a slot to come free.
async fn wait(timeout: Option<Duration>) -> Option<SslSlot> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(slot) = try_take() {
            return Some(slot);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        monoio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        // The only test touching the statics: it sets and clears the limit.
        set_max(Some(2));
        let base = current();
        let a = try_take().expect("first");
        let b = try_take();
        // No other test takes slots (only the accept stage does): the
        // third is refused.
        if base == 0 {
            assert!(b.is_some());
            assert!(try_take().is_none());
            assert_eq!(current(), 2);
        }
        drop(b);
        drop(a);
        assert_eq!(current(), base);
        set_max(None);
        assert!(try_take().is_some());
    }
}
