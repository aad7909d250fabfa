//! Session resumption: one ticket key set for the whole process (so a
//! ticket issued by any worker or bind resumes on any other), a session-ID
//! cache of `tune.ssl.cachesize` entries, both honouring `tune.ssl.lifetime`.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::server::{
    NoServerSessionStorage, ProducesTickets, ServerSessionMemoryCache, StoresServerSessions,
};

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `value` stamped with the time it was stored.
fn stamp(value: &[u8]) -> Vec<u8> {
    let mut v = now().to_be_bytes().to_vec();
    v.extend_from_slice(value);
    v
}

/// The value of a stamped `v` when younger than `lifetime` seconds.
fn unstamp(v: Vec<u8>, lifetime: u32) -> Option<Vec<u8>> {
    let at = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    (now().saturating_sub(at) < u64::from(lifetime)).then(|| v[8..].to_vec())
}

/// The process's ticket keys (rustls rotates them).
fn process_ticketer() -> Result<Arc<dyn ProducesTickets>, String> {
    static T: OnceLock<Arc<dyn ProducesTickets>> = OnceLock::new();
    if let Some(t) = T.get() {
        return Ok(t.clone());
    }
    let t = rustls::crypto::aws_lc_rs::Ticketer::new()
        .map_err(|e| format!("unable to create the TLS ticket keys: {e}"))?;
    Ok(T.get_or_init(|| t).clone())
}

/// The process ticketer with tickets expiring after `lifetime` seconds.
#[derive(Debug)]
pub struct Tickets {
    inner: Arc<dyn ProducesTickets>,
    lifetime: u32,
}

impl Tickets {
    /// Tickets valid for `lifetime` seconds.
    pub fn new(lifetime: u32) -> Result<Arc<Tickets>, String> {
        Ok(Arc::new(Tickets {
            inner: process_ticketer()?,
            lifetime,
        }))
    }
}

impl ProducesTickets for Tickets {
    fn enabled(&self) -> bool {
        self.inner.enabled() && self.lifetime > 0
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        // The issue time travels inside the encrypted ticket.
        self.inner.encrypt(&stamp(plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        unstamp(self.inner.decrypt(cipher)?, self.lifetime)
    }
}

/// The session-ID cache: `size` sessions (0: none), `lifetime` seconds each.
#[derive(Debug)]
pub struct Cache {
    inner: Arc<dyn StoresServerSessions>,
    lifetime: u32,
}

impl Cache {
    /// The process's cache for these settings: every bind (and every load
    /// with the same settings, so reloads keep sessions) shares it.
    pub fn shared(size: usize, lifetime: u32) -> Arc<Cache> {
        type Slot = Option<((usize, u32), Arc<Cache>)>;
        static SHARED: std::sync::Mutex<Slot> = std::sync::Mutex::new(None);
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some((k, c)) if *k == (size, lifetime) => c.clone(),
            _ => {
                let c = Cache::new(size, lifetime);
                *slot = Some(((size, lifetime), c.clone()));
                c
            }
        }
    }

    /// A cache of `size` sessions living `lifetime` seconds.
    pub fn new(size: usize, lifetime: u32) -> Arc<Cache> {
        let inner: Arc<dyn StoresServerSessions> = if size == 0 || lifetime == 0 {
            Arc::new(NoServerSessionStorage {})
        } else {
            ServerSessionMemoryCache::new(size)
        };
        Arc::new(Cache { inner, lifetime })
    }
}

impl StoresServerSessions for Cache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, stamp(&value))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        unstamp(self.inner.get(key)?, self.lifetime)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        unstamp(self.inner.take(key)?, self.lifetime)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_expire() {
        assert_eq!(unstamp(stamp(b"x"), 10).unwrap(), b"x");
        assert!(unstamp(stamp(b"x"), 0).is_none());
        let c = Cache::new(10, 300);
        assert!(c.put(b"k".to_vec(), b"v".to_vec()));
        assert_eq!(c.get(b"k").unwrap(), b"v");
        assert!(!Cache::new(0, 300).can_cache());
        let t = Tickets::new(300).unwrap();
        let sealed = t.encrypt(b"session").unwrap();
        // Any other Tickets of the process opens it (shared keys).
        assert_eq!(
            Tickets::new(300).unwrap().decrypt(&sealed).unwrap(),
            b"session"
        );
    }
}
