//! `slowstart <t>`: after a server comes UP (by its check, a tracked server,
//! or leaving maintenance), its weight ramps up over `t`, as HAProxy's
//! `server_recalc_eweight` computes it: with `e` the whole seconds since it
//! came up and `S` the slow start in whole seconds (rounded up), the share is
//! `(16 e + S) / S` sixteenths of the weight, so 1/16 at once and all of it
//! after `S`. HAProxy steps it every `max(1 s, S / 20)`; so does [`run`].
//! Static algorithms (static-rr, map-based hashing) take no ramp, as HAProxy.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::live::RAMP_FULL;
use super::status::unix_ms;
use crate::balance;
use crate::runtime::{BackendRt, ServerRt, Shared};

/// The ramp (in sixteenths) `elapsed_ms` after coming up, for a slow start
/// of `slowstart`; [`RAMP_FULL`] once it is over.
pub fn ramp_at(slowstart: Duration, elapsed_ms: u64) -> u32 {
    let s = slowstart.as_millis().div_ceil(1000).max(1) as u64;
    let e = elapsed_ms / 1000;
    if e >= s {
        return RAMP_FULL;
    }
    ((u64::from(RAMP_FULL) * e + s) / s).min(u64::from(RAMP_FULL)) as u32
}

/// The weight the stats show: HAProxy's effective weight, the ramp applied
/// and rounded up.
pub fn shown_weight(srv: &ServerRt) -> u32 {
    let w = srv.weight.load(Ordering::Relaxed);
    (w * srv.health.ramp().min(RAMP_FULL)).div_ceil(RAMP_FULL)
}

/// Starts the warm-up of a server that just came UP (nothing without `slowstart`).
pub fn start(be: &BackendRt, srv: &ServerRt) {
    let Some(_) = srv.health.opts.slowstart else {
        return;
    };
    // A server DOWN by its check starts when the check brings it UP.
    if !crate::admin::state::dynamic_weights(be) || !srv.up.load(Ordering::Relaxed) {
        return;
    }
    srv.health
        .warm_since_ms
        .store(unix_ms().max(1), Ordering::Relaxed);
    srv.health.ramp.store(1, Ordering::Relaxed);
    balance::servers_changed();
}

/// Ends a warm-up (the server went DOWN): it starts again when it comes back.
pub fn stop(srv: &ServerRt) {
    if srv.health.warm_since_ms.swap(0, Ordering::Relaxed) != 0 {
        srv.health.ramp.store(RAMP_FULL, Ordering::Relaxed);
        balance::servers_changed();
    }
}

/// Steps the warm-up of every server with `slowstart`, forever (checker thread).
pub async fn run(shared: Arc<Shared>) {
    let step = shared
        .backends
        .iter()
        .flat_map(|b| b.servers.iter())
        .filter_map(|s| s.health.opts.slowstart)
        .map(|t| (t / 20).max(Duration::from_secs(1)))
        .min();
    let Some(step) = step else {
        return;
    };
    loop {
        monoio::time::sleep(step).await;
        let now = unix_ms();
        for srv in shared.backends.iter().flat_map(|b| b.servers.iter()) {
            let (Some(t), since) = (
                srv.health.opts.slowstart,
                srv.health.warm_since_ms.load(Ordering::Relaxed),
            ) else {
                continue;
            };
            if since == 0 {
                continue;
            }
            let ramp = ramp_at(t, now.saturating_sub(since));
            if ramp == RAMP_FULL {
                srv.health.warm_since_ms.store(0, Ordering::Relaxed);
            }
            if srv.health.ramp.swap(ramp, Ordering::Relaxed) != ramp {
                balance::servers_changed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_as_haproxy() {
        let s = Duration::from_secs(4);
        assert_eq!(ramp_at(s, 0), 1);
        assert_eq!(ramp_at(s, 999), 1);
        assert_eq!(ramp_at(s, 1000), 5);
        assert_eq!(ramp_at(s, 2500), 9);
        assert_eq!(ramp_at(s, 3000), 13);
        assert_eq!(ramp_at(s, 4000), RAMP_FULL);
        // 1500 ms counts as 2 s, as HAProxy rounds the setting up.
        assert_eq!(ramp_at(Duration::from_millis(1500), 1000), 9);
        assert_eq!(ramp_at(Duration::from_secs(100), 50_000), 9);
    }
}
