//! The commands that name a server: `get weight`, `set weight`, `set server`
//! (`health`/`agent` forced through `check/force.rs`), `enable|disable
//! server|health|agent`, `shutdown sessions server`. Answers and
//! error texts are HAProxy's.

use std::sync::atomic::Ordering;

use super::state::{self, Wanted};
use crate::check::force::{self, Forced};
use crate::runtime::{BackendRt, ServerRt, Shared};
use crate::server::kill;
use crate::stats::view;

/// Finds `<backend>/<server>` (either part may be `#<id>`), or HAProxy's error.
fn find<'a>(
    shared: &'a Shared,
    arg: Option<&&str>,
) -> Result<(&'a BackendRt, &'a ServerRt), String> {
    let Some((b, s)) = arg
        .filter(|a| !a.is_empty())
        .and_then(|a| a.split_once('/'))
    else {
        return Err("Require 'backend/server'.\n".into());
    };
    let be_index = match b.strip_prefix('#') {
        Some(id) => {
            let ids = view::backend_ids(shared);
            id.parse::<u32>()
                .ok()
                .and_then(|id| ids.iter().position(|&x| x == id))
        }
        None => shared.backends.iter().position(|x| x.name == b),
    };
    let Some(be) = be_index.map(|i| &shared.backends[i]) else {
        return Err("No such backend.\n".into());
    };
    let srv = match s.strip_prefix('#') {
        Some(id) => id.parse::<u32>().ok().and_then(|id| {
            let ids = view::server_ids(be);
            ids.iter()
                .position(|&x| x == id)
                .and_then(|i| be.servers.get(i))
                .filter(|x| x.present())
        }),
        None => be.servers.iter().find(|x| x.present() && x.name == s),
    };
    match srv {
        Some(srv) => Ok((be, srv)),
        None => Err("No such server.\n".into()),
    }
}

/// `get weight <b>/<s>`: `<current> (initial <configured>)`.
pub fn get_weight(shared: &Shared, args: &[&str]) -> String {
    match find(shared, args.first()) {
        Ok((_, srv)) => format!(
            "{} (initial {})\n",
            srv.admin.uweight.load(Ordering::Relaxed),
            srv.initial_weight()
        ),
        Err(e) => e,
    }
}

/// `set weight <b>/<s> <w>[%]`.
pub fn set_weight(shared: &Shared, args: &[&str]) -> String {
    match find(shared, args.first()) {
        Ok((be, srv)) => weight(be, srv, args.get(1).copied().unwrap_or("")),
        Err(e) => e,
    }
}

fn weight(be: &BackendRt, srv: &ServerRt, arg: &str) -> String {
    match state::set_weight(be, srv, arg) {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// `set server <b>/<s> weight <w>[%]` or `set server <b>/<s> state ready|drain|maint`.
pub fn set_server(shared: &Shared, args: &[&str]) -> String {
    let (be, srv) = match find(shared, args.first()) {
        Ok(found) => found,
        Err(e) => return e,
    };
    match args.get(1).copied() {
        Some("weight") => weight(be, srv, args.get(2).copied().unwrap_or("")),
        Some("addr") => set_addr(srv, &args[2..]),
        Some("health") => force_health(shared, be, srv, args.get(2).copied()),
        Some("agent") => force_agent(shared, be, srv, args.get(2).copied()),
        Some("state") => {
            let wanted = match args.get(2).copied() {
                Some("ready") => Wanted::Ready,
                Some("drain") => Wanted::Drain,
                Some("maint") => Wanted::Maint,
                _ => {
                    return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                        .into();
                }
            };
            state::set_state(be, srv, wanted);
            String::new()
        }
        _ => "usage: set server <backend>/<server> addr | agent | health | state | weight (the \
              other options of HAProxy's 'set server' are not supported by ringlb)\n"
            .into(),
    }
}

/// `enable server <b>/<s>`: ready again (out of maintenance and drain, as HAProxy).
pub fn enable_server(shared: &Shared, args: &[&str]) -> String {
    match find(shared, args.first()) {
        Ok((be, srv)) => {
            state::set_state(be, srv, Wanted::Ready);
            String::new()
        }
        Err(e) => e,
    }
}

/// `disable server <b>/<s>`: into maintenance.
pub fn disable_server(shared: &Shared, args: &[&str]) -> String {
    match find(shared, args.first()) {
        Ok((be, srv)) => {
            state::set_state(be, srv, Wanted::Maint);
            String::new()
        }
        Err(e) => e,
    }
}

/// `shutdown sessions server <b>/<s>`: ends every session using the server now
/// (its workers notice within `server::kill::TICK`); logged with `K`.
pub fn shutdown_sessions(shared: &Shared, args: &[&str]) -> String {
    match find(shared, args.first()) {
        Ok((_, srv)) => {
            kill::kill_sessions(srv);
            String::new()
        }
        Err(e) => e,
    }
}

/// `set maxconn server <b>/<s> <n>`: the server's `maxconn` from the next
/// request on (HAProxy's `server_parse_maxconn_change_request`; 0 or less:
/// unlimited, a value past 32 bits wraps as HAProxy's `int` does).
pub fn set_maxconn_server(shared: &Shared, args: &[&str]) -> String {
    let (be, srv) = match find(shared, args.first()) {
        Ok(found) => found,
        Err(e) => return e,
    };
    match change_maxconn(be, srv, args.get(1).copied().unwrap_or("")) {
        Ok(()) => String::new(),
        Err(e) => format!("{}\n", e.trim_end()),
    }
}

/// Sets a server's `maxconn` from text as HAProxy's
/// `server_parse_maxconn_change_request` (the stats socket's and the agent's
/// `maxconn:<n>`): 0 is unlimited, a value past 32 bits wraps as HAProxy's
/// `int` does; the error is HAProxy's message.
pub fn change_maxconn(be: &BackendRt, srv: &ServerRt, arg: &str) -> Result<(), &'static str> {
    if arg.is_empty() {
        return Err("Require <maxconn>.\n");
    }
    let digits = arg
        .char_indices()
        .skip_while(|&(i, c)| i == 0 && (c == '-' || c == '+'))
        .take_while(|(_, c)| c.is_ascii_digit())
        .last()
        .map_or(0, |(i, _)| i + 1);
    if digits == 0 || !arg[..digits].bytes().any(|b| b.is_ascii_digit()) {
        return Err("maxconn string empty or preceded by garbage");
    }
    if digits < arg.len() {
        return Err("Trailing garbage in maxconn string");
    }
    let v = arg.parse::<i64>().unwrap_or(i64::MAX) as i32;
    let Some(i) = be.servers.iter().position(|s| std::ptr::eq(s, srv)) else {
        return Err("No such server.");
    };
    // HAProxy keeps the `int`: a negative limit reads (and acts) as its
    // unsigned value, unlimited in effect.
    be.queue.set_maxconn(i, v as u32);
    Ok(())
}

/// `set server <b>/<s> addr <ip> [port <port>]`, with HAProxy's report of
/// what changed.
fn set_addr(srv: &ServerRt, args: &[&str]) -> String {
    super::addr::set(srv, args)
}

/// `set server <b>/<s> health up|stopping|down`, HAProxy's answers.
fn force_health(shared: &Shared, be: &BackendRt, srv: &ServerRt, to: Option<&str>) -> String {
    if force::tracks(be, srv) {
        return "cannot change health on a tracking server.\n".into();
    }
    let to = match to {
        Some("up") => Forced::Up,
        Some("stopping") => Forced::Stopping,
        Some("down") => Forced::Down,
        _ => return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into(),
    };
    force::health(shared, be, srv, to, force::FROM_CLI);
    String::new()
}

/// `set server <b>/<s> agent up|down`, HAProxy's answers.
fn force_agent(shared: &Shared, be: &BackendRt, srv: &ServerRt, to: Option<&str>) -> String {
    if !srv.check.agent.as_ref().is_some_and(|a| a.running()) {
        return "agent checks are not enabled on this server.\n".into();
    }
    let up = match to {
        Some("up") => true,
        Some("down") => false,
        _ => return "'set server <srv> agent' expects 'up' or 'down'.\n".into(),
    };
    force::agent(shared, be, srv, up, force::FROM_CLI);
    String::new()
}

/// `enable|disable health|agent <b>/<s>`: the checker runs again or pauses.
/// As HAProxy 2.6, only `enable` says when none is configured.
pub fn toggle_check(shared: &Shared, on: bool, agent: bool, args: &[&str]) -> String {
    let srv = match find(shared, args.first()) {
        Ok((_, srv)) => srv,
        Err(e) => return e,
    };
    if force::pause(srv, agent, !on) || !on {
        String::new()
    } else if agent {
        "Agent was not configured on this server, cannot enable.\n".into()
    } else {
        "Health check was not configured on this server, cannot enable.\n".into()
    }
}
