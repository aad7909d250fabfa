//! The stats page's admin form (`stats admin if|unless <cond>`): a POST of
//! `s=<server>&...&action=<a>&b=<backend>` changes the servers' state through
//! the same code as the socket's `set server` (`admin::state`), and the page
//! answers `303 See Other` to `<uri>;st=<code>`, whose message the page shows.
//!
//! The body is read as HAProxy 2.6's `stats_process_http_post` reads it: the
//! last `b` and the last `action` count, every `s` is a server of that
//! backend; unknown backend or action: `ERRP`; no server named: `NONE`; some
//! servers unknown: `PART`. The health and agent actions are the socket's
//! `disable|enable health|agent` and `set server ... health|agent`
//! (`check::force`), logged "changed from Web interface"; a server they do
//! not apply to (no check or agent configured, a tracking server) is not
//! counted, as in HAProxy.

use crate::admin::state::{self, Wanted};
use crate::check::force::{self, Forced};
use crate::runtime::{BackendRt, ServerRt, Shared, admin_flags};
use crate::stats::view;

/// The result of a POST, as HAProxy names it in `;st=<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every server named was changed.
    Done,
    /// Some servers named were unknown.
    Part,
    /// Nothing to do.
    None,
    /// Invalid parameters (unknown backend, action or servers).
    Errp,
    /// The form did not fit the buffer.
    Excd,
    /// The admin condition did not hold.
    Deny,
}

impl Status {
    /// The code in `;st=<code>`.
    pub fn code(self) -> &'static str {
        match self {
            Status::Done => "DONE",
            Status::Part => "PART",
            Status::None => "NONE",
            Status::Errp => "ERRP",
            Status::Excd => "EXCD",
            Status::Deny => "DENY",
        }
    }

    /// Reads `;st=<code>` back (unknown codes: HAProxy's "Unexpected result").
    pub fn from_code(code: &str) -> Option<Status> {
        [
            Status::Done,
            Status::Part,
            Status::None,
            Status::Errp,
            Status::Excd,
            Status::Deny,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// The page's message for it: its CSS class and HTML text (HAProxy's words).
    pub fn message(self) -> (&'static str, &'static str) {
        match self {
            Status::Done => ("up", "Action processed successfully."),
            Status::Part => (
                "going_down",
                "Action partially processed.<br>Some server names are probably unknown or \
                 ambiguous (duplicated names in the backend).",
            ),
            Status::None => ("going_down", "Nothing has changed."),
            Status::Errp => (
                "down",
                "Action not processed because of invalid parameters.<ul><li>The action is maybe \
                 unknown.</li><li>Invalid key parameter (empty or too long).</li><li>The backend \
                 name is probably unknown or ambiguous (duplicated names).</li><li>Some server \
                 names are probably unknown or ambiguous (duplicated names in the \
                 backend).</li></ul>",
            ),
            Status::Excd => (
                "down",
                "<b>Action not processed : the buffer couldn't store all the data.<br>You should \
                 retry with less servers at a time.</b>",
            ),
            Status::Deny => ("down", "<b>Action denied.</b>"),
        }
    }
}

/// The actions of the form's select, as HAProxy's page posts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// `ready`, `drain`, `maint`: `set server ... state`.
    State(Wanted),
    /// `shutdown`: `shutdown sessions server`.
    Shutdown,
    /// The old `disable`/`enable` (maintenance) and `stop`/`start` (drain).
    Legacy { flag: u8, set: bool },
    /// `dhlth`/`ehlth` (`agent`: false) and `dagent`/`eagent`: pause or
    /// resume the checker.
    Pause { agent: bool, paused: bool },
    /// `hrunn`, `hnolb`, `hdown`: the health check's counter and state.
    Health(Forced),
    /// `arunn`, `adown`: the agent's counter and the state.
    Agent { up: bool },
}

/// The form's actions (value, label), in HAProxy's order and words.
pub const ACTIONS: &[(&str, &str)] = &[
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
    ("dhlth", "Health: disable checks"),
    ("ehlth", "Health: enable checks"),
    ("hrunn", "Health: force UP"),
    ("hnolb", "Health: force NOLB"),
    ("hdown", "Health: force DOWN"),
    ("dagent", "Agent: disable checks"),
    ("eagent", "Agent: enable checks"),
    ("arunn", "Agent: force UP"),
    ("adown", "Agent: force DOWN"),
    ("shutdown", "Kill Sessions"),
];

fn action(value: &str) -> Option<Action> {
    Some(match value {
        "ready" => Action::State(Wanted::Ready),
        "drain" => Action::State(Wanted::Drain),
        "maint" => Action::State(Wanted::Maint),
        "shutdown" => Action::Shutdown,
        "disable" => Action::Legacy {
            flag: admin_flags::FMAINT,
            set: true,
        },
        "enable" => Action::Legacy {
            flag: admin_flags::FMAINT,
            set: false,
        },
        "stop" => Action::Legacy {
            flag: admin_flags::FDRAIN,
            set: true,
        },
        "start" => Action::Legacy {
            flag: admin_flags::FDRAIN,
            set: false,
        },
        "dhlth" | "ehlth" | "dagent" | "eagent" => Action::Pause {
            agent: value.ends_with("agent"),
            paused: value.starts_with('d'),
        },
        "hrunn" => Action::Health(Forced::Up),
        "hnolb" => Action::Health(Forced::Stopping),
        "hdown" => Action::Health(Forced::Down),
        "arunn" => Action::Agent { up: true },
        "adown" => Action::Agent { up: false },
        _ => return None,
    })
}

/// Decodes a form value (`%XX`, `+` for a space); `None` when malformed.
pub fn url_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The backend a form names: `#<id>` or its name (unique).
fn backend<'a>(shared: &'a Shared, name: &str) -> Option<&'a BackendRt> {
    let index = match name.strip_prefix('#') {
        Some(id) => {
            let id: u32 = id.parse().ok()?;
            view::backend_ids(shared).iter().position(|&x| x == id)?
        }
        None => {
            let mut found = shared
                .backends
                .iter()
                .enumerate()
                .filter(|(_, b)| b.name == name);
            let (i, _) = found.next()?;
            if found.next().is_some() {
                return None;
            }
            i
        }
    };
    shared.backends.get(index)
}

/// The server of `be` named `name`, unless the name is ambiguous.
fn server<'a>(be: &'a BackendRt, name: &str) -> Option<&'a ServerRt> {
    let shown = view::shown_servers(be);
    let mut found = shown.iter().filter(|s| s.present() && s.name == name);
    let srv = found.next()?;
    found.next().is_none().then_some(srv)
}

/// Applies `a` to `srv`; whether it changed (or, for states, was applied to)
/// it. An action that does not apply to the server (no check or agent
/// configured, a tracking server) is not counted, as in HAProxy.
fn apply(shared: &Shared, be: &BackendRt, srv: &ServerRt, a: Action) -> bool {
    let why = force::FROM_WEB;
    match a {
        Action::Pause { agent, paused } => force::pause(srv, agent, paused),
        Action::Health(to) if !force::tracks(be, srv) => {
            force::health(shared, be, srv, to, why);
            true
        }
        Action::Health(_) => false,
        Action::Agent { up } => force::agent(shared, be, srv, up, why),
        a => apply_state(be, srv, a),
    }
}

/// Applies a state action (the ones every server takes).
fn apply_state(be: &BackendRt, srv: &ServerRt, a: Action) -> bool {
    match a {
        // HAProxy counts these as done even when the state was already so.
        Action::State(w) => {
            state::set_state(be, srv, w);
            true
        }
        Action::Shutdown => {
            if be.model.settings.disabled {
                return false;
            }
            crate::server::kill::kill_sessions(srv);
            true
        }
        Action::Legacy { flag, set } => {
            if (srv.admin.flags() & flag != 0) == set {
                return false;
            }
            let wanted = match (flag, set) {
                (admin_flags::FMAINT, true) => Wanted::Maint,
                (admin_flags::FDRAIN, true) => Wanted::Drain,
                _ => Wanted::Ready,
            };
            state::set_state(be, srv, wanted);
            true
        }
        Action::Pause { .. } | Action::Health(_) | Action::Agent { .. } => false,
    }
}

/// Processes a POSTed form body.
pub fn process(shared: &Shared, body: &[u8]) -> Status {
    let Ok(text) = std::str::from_utf8(body) else {
        return Status::Errp;
    };
    let mut be = None;
    let mut act = None;
    let mut servers = Vec::new();
    // In reverse, as HAProxy: the last backend and action given count.
    for param in text.split('&').rev() {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        let (Some(k), Some(v)) = (url_decode(k), url_decode(v)) else {
            break;
        };
        match k.as_str() {
            "b" if be.is_none() => match backend(shared, &v) {
                Some(b) => be = Some(b),
                None => return Status::Errp,
            },
            "action" if act.is_none() => match action(&v) {
                Some(a) => act = Some(a),
                None => return Status::Errp,
            },
            "s" => servers.push(v),
            _ => {}
        }
    }
    let (Some(be), Some(act)) = (be, act) else {
        return Status::None;
    };
    let (mut total, mut altered) = (0, 0);
    for name in servers.iter().rev() {
        match server(be, name) {
            Some(srv) => {
                if apply(shared, be, srv, act) {
                    total += 1;
                    altered += 1;
                }
            }
            None => total += 1,
        }
    }
    match (total, altered) {
        (0, _) => Status::None,
        (_, 0) => Status::Errp,
        (t, a) if t == a => Status::Done,
        _ => Status::Part,
    }
}

/// The `303 See Other` answer to a POST, to `<uri>;st=<code>`.
pub fn redirect(uri: &str, status: Status) -> Vec<u8> {
    format!(
        "HTTP/1.1 303 See Other\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\n\
         Content-Length: 0\r\nLocation: {uri};st={}\r\n\r\n",
        status.code()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> std::sync::Arc<Shared> {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "listen l\n    mode http\n    bind 127.0.0.1:1\n    timeout connect 1s\n    \
             timeout client 1s\n    timeout server 1s\n    server a 127.0.0.1:2\n    \
             server b 127.0.0.1:3\n",
        )])
        .expect("config loads");
        Shared::build(&loaded.config, false, 1)
    }

    #[test]
    fn forms_change_servers_as_haproxy_reports() {
        let sh = shared();
        let a = &sh.backends[0].servers[0];
        assert_eq!(process(&sh, b"s=a&action=maint&b=%231"), Status::Done);
        assert!(a.admin.maint());
        assert_eq!(process(&sh, b"s=a&s=zz&action=drain&b=l"), Status::Part);
        assert!(a.admin.drain() && !a.admin.maint());
        assert_eq!(process(&sh, b"s=zz&action=ready&b=l"), Status::Errp);
        assert_eq!(process(&sh, b"s=a&action=bogus&b=l"), Status::Errp);
        assert_eq!(process(&sh, b"s=a&action=ready&b=nope"), Status::Errp);
        assert_eq!(process(&sh, b"action=ready&b=l"), Status::None);
        assert_eq!(process(&sh, b""), Status::None);
        // No agent, no check: the health and agent actions count nothing.
        assert_eq!(process(&sh, b"s=a&action=dagent&b=l"), Status::None);
        assert_eq!(process(&sh, b"s=a&action=dhlth&b=l"), Status::None);
        assert_eq!(process(&sh, b"s=a&action=hdown&b=l"), Status::Done);
        assert!(!a.up.load(std::sync::atomic::Ordering::Relaxed));
        assert_eq!(process(&sh, b"s=a&action=hrunn&b=l"), Status::Done);
        assert!(a.up.load(std::sync::atomic::Ordering::Relaxed));
        assert_eq!(process(&sh, b"s=a&s=b&action=ready&b=l"), Status::Done);
        assert!(!a.admin.drain());
    }

    #[test]
    fn codes_round_trip() {
        for s in [Status::Done, Status::Part, Status::Deny, Status::Errp] {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code("what"), None);
        assert_eq!(url_decode("%23a+b"), Some("#a b".into()));
        assert_eq!(url_decode("%2"), None);
        let r = String::from_utf8(redirect("/st", Status::Done)).unwrap();
        assert!(
            r.starts_with("HTTP/1.1 303 See Other\r\n") && r.contains("Location: /st;st=DONE\r\n")
        );
    }
}
