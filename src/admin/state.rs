//! Changing a server's admin state and weight from the run-time API.
//!
//! Workers never lock: they read `ServerRt::weight`, `up` and `admin` with
//! atomic loads. The writers (one thread per stats-socket connection) take
//! one process-wide mutex so that "read flags, store weight" sequences from
//! two connections cannot interleave. Every change keeps the invariant of
//! `runtime.rs` (effective weight = operator's weight while ready, else 0)
//! and ends with `balance::set_weight`, which bumps the balancers'
//! generation so every worker rebuilds before its next pick.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use crate::balance::{self, MAX_WEIGHT};
use crate::check::log::{self as chklog, Severity};
use crate::check::status::unix_ms;
use crate::config::model::{Balance, HashType};
use crate::runtime::{BackendRt, ServerRt, admin_flags};

/// Serialises the run-time API's writers (never taken by workers).
pub(crate) static WRITER: Mutex<()> = Mutex::new(());

/// `set server ... state <s>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Back in service: no maintenance, no drain.
    Ready,
    /// No new balanced traffic; stickiness still reaches it.
    Drain,
    /// Out of service.
    Maint,
}

/// Applies `set server <b>/<s> state <wanted>` (and `enable`/`disable server`,
/// which are ready and maint), as HAProxy: drain and maint replace each other,
/// ready clears both.
pub fn set_state(be: &BackendRt, srv: &ServerRt, wanted: Wanted) {
    let _w = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let before = srv.admin.flags();
    // The resolver's maintenance (RMAINT) is not the operator's to clear.
    let after = before & admin_flags::RMAINT
        | match wanted {
            Wanted::Ready => 0,
            Wanted::Drain => admin_flags::FDRAIN,
            Wanted::Maint => admin_flags::FMAINT,
        };
    if before == after {
        return;
    }
    srv.admin.flags.store(after, Ordering::Release);
    srv.admin.changed_ms.store(unix_ms(), Ordering::Relaxed);
    publish_weight(srv);
    if before & admin_flags::MAINT != 0 && after == 0 {
        // Leaving maintenance starts a slow start, as coming UP does.
        crate::check::slowstart::start(be, srv);
    }
    log_change(be, srv, before, after);
}

/// Puts a server into resolution maintenance (HAProxy's RMAINT) for `cause`
/// ("DNS NX status", "No IP for server "...), or takes it out when `cause`
/// is `None`; called by `crate::resolve` alone, under the writers' lock.
pub fn set_resolution_maint(be: &BackendRt, srv: &ServerRt, fqdn: &str, cause: Option<&str>) {
    let _w = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let before = srv.admin.flags();
    let after = match cause {
        Some(_) => before | admin_flags::RMAINT,
        None => before & !admin_flags::RMAINT,
    };
    if before == after {
        return;
    }
    srv.admin.flags.store(after, Ordering::Release);
    srv.admin.changed_ms.store(unix_ms(), Ordering::Relaxed);
    publish_weight(srv);
    let who = format!("{}/{}", be.name, srv.name);
    match cause {
        Some(cause) => {
            let (active, backup) = usable_counts(be);
            let sessions = srv.active.load(Ordering::Relaxed);
            chklog::emit(
                be,
                Severity::Alert,
                &format!(
                    "Server {who} is going DOWN for maintenance ({cause}). {active} active and \
                     {backup} backup servers left. {sessions} sessions active, 0 requeued, 0 \
                     remaining in queue."
                ),
            );
        }
        None => {
            chklog::emit(
                be,
                Severity::Notice,
                &format!("Server {who} ('{fqdn}') is UP/READY (resolves again)."),
            );
            chklog::emit(
                be,
                Severity::Notice,
                &format!("Server {who} administratively READY thanks to valid DNS answer."),
            );
        }
    }
}

/// Stores the effective weight for the balancers and tells them.
fn publish_weight(srv: &ServerRt) {
    let effective = if srv.admin.flags() == 0 {
        srv.admin.uweight.load(Ordering::Relaxed)
    } else {
        0
    };
    balance::set_weight(srv, effective);
}

/// Whether the backend's algorithm takes run-time weights (HAProxy's
/// `BE_LB_PROP_DYN`): static-rr and map-based hashing do not.
pub fn dynamic_weights(be: &BackendRt) -> bool {
    match be.model.balance {
        Balance::StaticRr => false,
        Balance::RoundRobin | Balance::LeastConn => true,
        Balance::First | Balance::Random { .. } => true,
        _ => be.model.hash_type == HashType::Consistent,
    }
}

/// Parses and applies a weight as `set weight` and `set server ... weight`
/// take it (`<w>` absolute, 0..256, or `<w>%` of the configured weight).
/// The error texts are HAProxy's.
pub fn set_weight(be: &BackendRt, srv: &ServerRt, arg: &str) -> Result<(), &'static str> {
    if arg.is_empty() {
        return Err("Require <weight> or <weight%>.\n");
    }
    let digits = arg
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
        .count();
    let (number, rest) = arg.split_at(digits);
    let Ok(w) = number.parse::<i64>() else {
        return Err("Empty weight string empty or preceded by garbage");
    };
    let w = if rest == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n");
        }
        let pct = w.min(25600) as u64;
        (u64::from(srv.initial_weight()) * pct / 100).min(u64::from(MAX_WEIGHT)) as u32
    } else if !(0..=i64::from(MAX_WEIGHT)).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
    } else if !rest.is_empty() {
        return Err("Trailing garbage in weight string");
    } else {
        w as u32
    };
    if w != 0 && w != srv.initial_weight() && !dynamic_weights(be) {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
    }
    let _w = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    srv.admin.uweight.store(w, Ordering::Relaxed);
    publish_weight(srv);
    Ok(())
}

/// Logs a state change the way HAProxy words it.
fn log_change(be: &BackendRt, srv: &ServerRt, before: u8, after: u8) {
    let who = format!(
        "{}Server {}/{}",
        if srv.backup { "Backup " } else { "" },
        be.name,
        srv.name
    );
    let was_maint = before & admin_flags::MAINT != 0;
    let (active, backup) = usable_counts(be);
    if after & admin_flags::MAINT != 0 {
        let sessions = srv.active.load(Ordering::Relaxed);
        chklog::emit(
            be,
            Severity::Alert,
            &format!(
                "{who} is going DOWN for maintenance. {active} active and {backup} backup servers \
                 left. {sessions} sessions active, 0 requeued, 0 remaining in queue."
            ),
        );
        if active + backup == 0 {
            chklog::emit(
                be,
                Severity::Emerg,
                &chklog::no_server_line("backend", &be.name),
            );
        }
    } else if after & admin_flags::FDRAIN != 0 {
        // HAProxy 2.6's words, on the stats socket and from an agent alike.
        chklog::emit(
            be,
            Severity::Notice,
            &format!(
                "{who} enters drain state. {active} active and {backup} backup servers online. \
                 0 sessions requeued, 0 total in queue."
            ),
        );
        if active + backup == 0 {
            chklog::emit(
                be,
                Severity::Emerg,
                &chklog::no_server_line("backend", &be.name),
            );
        }
    } else if was_maint {
        chklog::emit(
            be,
            Severity::Notice,
            &format!("{who} is UP/READY (leaving forced maintenance)."),
        );
    } else {
        chklog::emit(
            be,
            Severity::Notice,
            &format!("{who} is UP (leaving forced drain)."),
        );
    }
}

/// Usable active and backup servers of a backend.
fn usable_counts(be: &BackendRt) -> (usize, usize) {
    let active = be
        .servers
        .iter()
        .filter(|s| !s.backup && s.usable())
        .count();
    let backup = be.servers.iter().filter(|s| s.backup && s.usable()).count();
    (active, backup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::runtime::Shared;
    use std::sync::Arc;

    fn shared(balance: &str) -> Arc<Shared> {
        let text = format!(
            "listen l\n    mode http\n    bind 127.0.0.1:1\n    balance {balance}\n    \
             timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n    \
             server a 127.0.0.1:2 weight 10\n    server b 127.0.0.1:3\n"
        );
        let loaded = config::load_sources(&[("t.cfg", &text)]).expect("config loads");
        Shared::build(&loaded.config, false, 1)
    }

    #[test]
    fn states_move_the_effective_weight() {
        let sh = shared("roundrobin");
        let be = &sh.backends[0];
        let a = &be.servers[0];
        set_state(be, a, Wanted::Drain);
        assert!(a.admin.drain() && !a.admin.maint());
        assert_eq!(a.weight.load(Ordering::Relaxed), 0);
        assert!(a.available(), "a drained server stays reachable by cookie");
        assert!(!a.usable());
        set_state(be, a, Wanted::Maint);
        assert!(a.admin.maint() && !a.admin.drain());
        assert!(!a.available());
        set_state(be, a, Wanted::Ready);
        assert_eq!(a.admin.flags(), 0);
        assert_eq!(a.weight.load(Ordering::Relaxed), 10);
        assert!(a.usable());
    }

    #[test]
    fn weights_parse_as_haproxy() {
        let sh = shared("roundrobin");
        let be = &sh.backends[0];
        let a = &be.servers[0];
        assert_eq!(set_weight(be, a, "5"), Ok(()));
        assert_eq!(a.weight.load(Ordering::Relaxed), 5);
        assert_eq!(set_weight(be, a, "50%"), Ok(()));
        assert_eq!(a.admin.uweight.load(Ordering::Relaxed), 5);
        assert_eq!(set_weight(be, a, "9999%"), Ok(()));
        assert_eq!(a.weight.load(Ordering::Relaxed), 256);
        assert!(
            set_weight(be, a, "257")
                .unwrap_err()
                .starts_with("Absolute weight")
        );
        assert!(
            set_weight(be, a, "-1")
                .unwrap_err()
                .starts_with("Absolute weight")
        );
        assert!(
            set_weight(be, a, "-1%")
                .unwrap_err()
                .starts_with("Relative")
        );
        assert!(
            set_weight(be, a, "x")
                .unwrap_err()
                .starts_with("Empty weight")
        );
        assert!(set_weight(be, a, "3x").unwrap_err().starts_with("Trailing"));
        assert!(set_weight(be, a, "").unwrap_err().starts_with("Require"));
        // A weight set while in maintenance waits for the server to be ready.
        set_state(be, a, Wanted::Maint);
        assert_eq!(set_weight(be, a, "7"), Ok(()));
        assert_eq!(a.weight.load(Ordering::Relaxed), 0);
        set_state(be, a, Wanted::Ready);
        assert_eq!(a.weight.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn static_algorithms_take_only_zero_or_the_initial_weight() {
        let sh = shared("static-rr");
        let be = &sh.backends[0];
        let a = &be.servers[0];
        assert!(
            set_weight(be, a, "5")
                .unwrap_err()
                .contains("static LB algorithm")
        );
        assert_eq!(set_weight(be, a, "0%"), Ok(()));
        assert_eq!(set_weight(be, a, "100%"), Ok(()));
        assert_eq!(set_weight(be, a, "10"), Ok(()));
    }
}
