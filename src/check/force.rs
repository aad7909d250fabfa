//! Health forced by hand, as HAProxy 2.6 does it for the stats socket's
//! `set server <b>/<s> health up|stopping|down`, `agent up|down` and the
//! stats page's `hrunn`, `hnolb`, `hdown`, `arunn`, `adown`: the check's (or
//! agent's) counter jumps to the top or to 0, then the server goes RUNNING,
//! STOPPING (NOLB) or STOPPED with the given reason in the log line
//! ("Server b/s is DOWN, changed from CLI. ...", no "reason:")
//! (HAProxy's `srv_set_running/stopping/stopped`; nothing changes in
//! maintenance). `enable|disable health|agent` pause the checker
//! (`ServerCheck::paused`, `AgentRt::paused`).

use std::sync::atomic::Ordering;

use super::log::{self, Severity, Subject};
use super::transition::{self, Cause};
use crate::runtime::{BackendRt, ServerRt, Shared};

/// The health a check is forced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// `up` / `hrunn`: counter at the top, server RUNNING.
    Up,
    /// `stopping` / `hnolb`: counter at the top, server STOPPING (NOLB).
    Stopping,
    /// `down` / `hdown`: counter at 0, server STOPPED.
    Down,
}

/// The reason HAProxy logs for the socket.
pub const FROM_CLI: &str = "changed from CLI";
/// The reason HAProxy logs for the stats page.
pub const FROM_WEB: &str = "changed from Web interface";

/// The (backend, server) indexes of a server found by reference.
fn indexes(shared: &Shared, be: &BackendRt, srv: &ServerRt) -> Option<(usize, usize)> {
    let b = shared.backends.iter().position(|x| std::ptr::eq(x, be))?;
    let s = be.servers.iter().position(|x| std::ptr::eq(x, srv))?;
    Some((b, s))
}

/// Whether the server follows another one (`track`): its health is not its own.
pub fn tracks(be: &BackendRt, srv: &ServerRt) -> bool {
    be.servers
        .iter()
        .position(|x| std::ptr::eq(x, srv))
        .is_some_and(|i| be.model.servers[i].health.track.is_some())
}

/// Forces the health check's counter and the server's state.
pub fn health(shared: &Shared, be: &BackendRt, srv: &ServerRt, to: Forced, why: &str) {
    let chk = &srv.check;
    let top = chk.rise.max(1) + chk.fall.max(1) - 1;
    let counter = if to == Forced::Down { 0 } else { top };
    chk.health.store(counter, Ordering::Relaxed);
    let Some((b, s)) = indexes(shared, be, srv) else {
        return;
    };
    match to {
        Forced::Up => set_running(shared, b, s, why),
        Forced::Stopping => set_stopping(shared, b, s, why),
        Forced::Down => set_stopped(shared, b, s, why),
    }
}

/// Forces the agent's counter and the server's state; false when the
/// server has no running agent (HAProxy then changes nothing).
pub fn agent(shared: &Shared, be: &BackendRt, srv: &ServerRt, up: bool, why: &str) -> bool {
    let Some(agent) = srv.check.agent.as_ref().filter(|a| a.running()) else {
        return false;
    };
    agent.health.store(u32::from(up), Ordering::Relaxed);
    if let Some((b, s)) = indexes(shared, be, srv) {
        if up {
            set_running(shared, b, s, why);
        } else {
            set_stopped(shared, b, s, why);
        }
    }
    true
}

/// HAProxy's `srv_set_running`: UP, out of NOLB.
fn set_running(shared: &Shared, b: usize, s: usize, why: &str) {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    if srv.admin.maint() {
        return;
    }
    let was_nolb = srv.check.nolb.swap(false, Ordering::Relaxed);
    if !srv.up.load(Ordering::Relaxed) {
        transition::went_up(shared, b, s, Cause::Forced(why));
    } else if was_nolb {
        crate::balance::servers_changed();
        let counts = transition::counts(be);
        let line = log::up_line_detail(subject(be, srv), &format!(", {why}"), counts);
        log::emit(be, Severity::Notice, &line);
    }
}

/// HAProxy's `srv_set_stopping`: UP in NOLB (out of balancing, reached by
/// persistence), logged "is stopping".
fn set_stopping(shared: &Shared, b: usize, s: usize, why: &str) {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    if srv.admin.maint() || srv.check.nolb.swap(true, Ordering::Relaxed) {
        return;
    }
    if !srv.up.load(Ordering::Relaxed) {
        // `went_up` says "is stopping" for a server in NOLB.
        transition::went_up(shared, b, s, Cause::Forced(why));
        return;
    }
    crate::balance::servers_changed();
    let counts = transition::counts(be);
    let line = log::up_line_detail(subject(be, srv), &format!(", {why}"), counts).replacen(
        " is UP,",
        " is stopping,",
        1,
    );
    log::emit(be, Severity::Notice, &line);
    if counts.active == 0 && counts.backup == 0 {
        let kind = super::proxy_kind(shared, be);
        log::emit(be, Severity::Emerg, &log::no_server_line(kind, &be.name));
    }
}

/// HAProxy's `srv_set_stopped`: DOWN.
fn set_stopped(shared: &Shared, b: usize, s: usize, why: &str) {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    if srv.admin.maint() || !srv.up.load(Ordering::Relaxed) {
        return;
    }
    srv.check.nolb.store(false, Ordering::Relaxed);
    transition::went_down(shared, b, s, Cause::Forced(why));
}

fn subject<'a>(be: &'a BackendRt, srv: &'a ServerRt) -> Subject<'a> {
    Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    }
}

/// `enable|disable health` (`health`) or `agent`: false when the server has
/// none configured.
pub fn pause(srv: &ServerRt, agent: bool, paused: bool) -> bool {
    if agent {
        match &srv.check.agent {
            Some(a) => a.paused.store(paused, Ordering::Relaxed),
            None => return false,
        }
    } else if srv.check.enabled {
        srv.check.paused.store(paused, Ordering::Relaxed);
    } else {
        return false;
    }
    true
}
