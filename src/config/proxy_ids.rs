//! Proxy and server numbers (`id <n>`, HAProxy's `iid`/`sid` in the
//! stats), and the server's `minconn`/`maxconn` pair as HAProxy settles it.

use std::collections::HashMap;

use super::model::Server;
use super::parse::Diag;
use super::raw::RawProxy;

/// Refuses a proxy `id` already taken by another proxy, as HAProxy does.
pub fn check_proxy_ids(proxies: &[RawProxy], diag: &mut Diag) {
    let mut seen: HashMap<u32, &RawProxy> = HashMap::new();
    for p in proxies {
        let Some(id) = p.settings.id else { continue };
        match seen.get(&id) {
            Some(first) => diag.error_at(
                &p.origin,
                format!(
                    "{} reuses same custom id {id} as {} (declared at {})",
                    p.label(),
                    first.label(),
                    first.origin
                ),
            ),
            None => {
                seen.insert(id, p);
            }
        }
    }
}

/// Refuses a server `id` used twice in one backend, as HAProxy does.
pub fn check_server_ids(p: &RawProxy, servers: &[Server], diag: &mut Diag) {
    let mut seen: HashMap<u32, &Server> = HashMap::new();
    for s in servers {
        let Some(id) = s.id else { continue };
        match seen.get(&id) {
            Some(first) => diag.error_at(
                &s.origin,
                format!(
                    "'server {}/{}' : 'id' : custom id {id} already used at {} ('server {}')",
                    p.name, s.name, first.origin, first.name
                ),
            ),
            None => {
                seen.insert(id, s);
            }
        }
    }
}

/// Numbers in order: each explicit `id` as written, the others the lowest
/// free number from the previous one given (HAProxy's `get_next_id`).
pub fn assign(explicit: &[Option<u32>]) -> Vec<u32> {
    let used: std::collections::HashSet<u32> = explicit.iter().flatten().copied().collect();
    let mut next = 1u32;
    explicit
        .iter()
        .map(|id| match id {
            Some(id) => *id,
            None => {
                while used.contains(&next) {
                    next += 1;
                }
                next += 1;
                next - 1
            }
        })
        .collect()
}

/// `(maxconn, minconn)` as HAProxy settles them: a `minconn` at or above
/// `maxconn` (or without one) becomes the static `maxconn`; only a
/// `minconn` below `maxconn` makes the limit dynamic (`server/queue.rs`).
pub fn server_limits(maxconn: Option<u32>, minconn: Option<u32>) -> (Option<u32>, Option<u32>) {
    match (maxconn, minconn) {
        (max, Some(min)) if max.is_none_or(|m| min >= m) => (Some(min), None),
        (max, min) => (max, min),
    }
}

/// ringlb's global `maxconn` when `global` sets none (as `main.rs`).
const DEFAULT_GLOBAL_MAXCONN: u32 = 4096;

/// HAProxy's default `fullconn` for backend `b`: a tenth, rounded up and
/// at least one, of the `maxconn` (default: the global one) of every
/// frontend that may route to it: by `default_backend`, its own `listen`
/// half, or a static `use_backend` rule.
pub fn default_fullconn(cfg: &super::model::Config, b: usize) -> u32 {
    let global = cfg.global.maxconn.unwrap_or(DEFAULT_GLOBAL_MAXCONN);
    let total: u64 = cfg
        .frontends
        .iter()
        .filter(|f| {
            f.backend == Some(b)
                || f.routing
                    .rules
                    .iter()
                    .any(|r| r.dynamic.is_none() && r.backend == b)
        })
        .map(|f| u64::from(f.maxconn.unwrap_or(global)))
        .sum();
    u32::try_from(total.div_ceil(10)).unwrap_or(u32::MAX).max(1)
}

/// Sets each backend's effective `fullconn` (written, else HAProxy's
/// default) where a server's limit is dynamic (`minconn`).
pub fn settle_fullconn(cfg: &mut super::model::Config) {
    for b in 0..cfg.backends.len() {
        let be = &cfg.backends[b];
        if be.servers.iter().any(|s| s.minconn.is_some()) {
            let full = be.maxconn.unwrap_or_else(|| default_fullconn(cfg, b));
            cfg.backends[b].settings.fullconn = Some(full);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_numbers_skip_the_written_ones() {
        assert_eq!(assign(&[None, None, None]), [1, 2, 3]);
        assert_eq!(assign(&[None, Some(2), None, None]), [1, 2, 3, 4]);
        assert_eq!(assign(&[Some(1), None, Some(3), None]), [1, 2, 3, 4]);
        assert_eq!(assign(&[None, Some(10), None]), [1, 10, 2]);
    }

    #[test]
    fn minconn_without_room_is_a_static_maxconn() {
        assert_eq!(server_limits(None, Some(5)), (Some(5), None));
        assert_eq!(server_limits(Some(5), Some(5)), (Some(5), None));
        assert_eq!(server_limits(Some(5), Some(9)), (Some(9), None));
        assert_eq!(server_limits(Some(50), Some(5)), (Some(50), Some(5)));
        assert_eq!(server_limits(Some(50), None), (Some(50), None));
    }
}
