//! A server going DOWN or UP: publish the state, log it in HAProxy's words,
//! apply `on-marked-down` / `on-marked-up` and `slowstart`, and carry the
//! change to the servers that `track` it (logged "via <backend>/<server>").

use std::sync::atomic::Ordering;

use super::log::{self, Counts, Severity, Subject};
use super::status::{self, CheckReport};
use crate::balance;
use crate::runtime::{BackendRt, ServerRt, Shared};

/// Why the state changed.
#[derive(Debug, Clone, Copy)]
pub enum Cause<'a> {
    /// The server's own check (or passive observation); `logged`: the
    /// reason was already logged by `log-health-checks`.
    Check {
        /// The result that changed the state.
        report: &'a CheckReport,
        /// Already logged: HAProxy does not repeat the reason.
        logged: bool,
    },
    /// The tracked server (backend, server) changed.
    Via(usize, usize),
    /// Forced from the stats socket or page (`check/force.rs`): the reason.
    Forced(&'a str),
}

/// Publishes server `s` of backend `b` going DOWN, with everything that follows.
pub fn went_down(shared: &Shared, b: usize, s: usize, cause: Cause<'_>) {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    publish_up(srv, false);
    super::slowstart::stop(srv);
    let chk = &srv.check;
    chk.down_transitions.fetch_add(1, Ordering::Relaxed);
    chk.last_change_ms
        .store(status::unix_ms(), Ordering::Relaxed);
    let counts = counts(be);
    let sessions = srv.active.load(Ordering::Relaxed);
    let line = log::down_line_detail(subject(be, srv), &detail(shared, cause), counts, sessions);
    log::emit(be, Severity::Alert, &line);
    if counts.active == 0 && counts.backup == 0 {
        log::emit(
            be,
            Severity::Emerg,
            &log::no_server_line(super::proxy_kind(shared, be), &be.name),
        );
    }
    if srv.health.opts.shutdown_on_down {
        crate::server::kill::kill_sessions(srv);
    }
    for &(tb, ts) in &srv.health.trackers {
        if shared.backends[tb].servers[ts].up.load(Ordering::Relaxed) {
            went_down(shared, tb, ts, Cause::Via(b, s));
        }
    }
}

/// Publishes server `s` of backend `b` coming UP, with everything that follows.
pub fn went_up(shared: &Shared, b: usize, s: usize, cause: Cause<'_>) {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    publish_up(srv, true);
    super::slowstart::start(be, srv);
    let chk = &srv.check;
    let now = status::unix_ms();
    let since = chk.last_change_ms.swap(now, Ordering::Relaxed);
    chk.downtime_ms
        .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
    let mut line = log::up_line_detail(subject(be, srv), &detail(shared, cause), counts(be));
    if srv.check.nolb.load(Ordering::Relaxed) {
        // Forced to STOPPING from DOWN (`force.rs`): HAProxy says so.
        line = line.replacen(" is UP", " is stopping", 1);
    }
    log::emit(be, Severity::Notice, &line);
    if srv.health.opts.shutdown_backups_on_up {
        // HAProxy's srv_shutdown_backup_streams: every backup server's sessions.
        for backup in be.servers.iter().filter(|x| x.backup) {
            crate::server::kill::kill_sessions(backup);
        }
    }
    for &(tb, ts) in &srv.health.trackers {
        if !shared.backends[tb].servers[ts].up.load(Ordering::Relaxed) {
            went_up(shared, tb, ts, Cause::Via(b, s));
        }
    }
}

/// The part of the line after "DOWN"/"UP".
fn detail(shared: &Shared, cause: Cause<'_>) -> String {
    match cause {
        Cause::Check { report, logged } => {
            // With log-health-checks the reason was just logged; HAProxy does not repeat it.
            if logged {
                String::new()
            } else {
                log::reason(report)
            }
        }
        Cause::Via(b, s) => {
            let be = &shared.backends[b];
            log::via(&be.name, &be.servers[s].name)
        }
        Cause::Forced(why) => format!(", {why}"),
    }
}

fn subject<'a>(be: &'a BackendRt, srv: &'a ServerRt) -> Subject<'a> {
    Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    }
}

/// Stores the state where workers read it, then tells the balancers to rebuild.
fn publish_up(srv: &ServerRt, up: bool) {
    srv.up.store(up, Ordering::Release);
    balance::servers_changed();
}

/// Servers of the backend usable now, active and backup (HAProxy's srv_act/srv_bck).
pub fn counts(be: &BackendRt) -> Counts {
    let mut c = Counts {
        active: 0,
        backup: 0,
    };
    for s in be.servers.iter().filter(|s| s.usable()) {
        if s.backup {
            c.backup += 1;
        } else {
            c.active += 1;
        }
    }
    c
}
