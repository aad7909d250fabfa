//! `agent-check`: a second task per server, on its own timer (`agent-inter`),
//! that connects to the server's agent, sends `agent-send`, reads one line
//! and applies it as HAProxy 2.6 does (`tcpcheck_agent_expect_reply`).
//!
//! The line is words separated by spaces, tabs or commas, then an optional
//! `#` and a description. Words (any case, the last of each kind wins):
//! a weight `75%` (of the configured weight), an admin state `ready`,
//! `drain`, `maint`, a health `up`, `down`, `stopped`, `fail`, and
//! `maxconn:<n>`. Order of effects: admin state, weight, maxconn, health.
//! `maxconn:<n>` goes through the stats socket's `set maxconn server`.
//!
//! Health is HAProxy's: `up` sets the health check's counter to the top and
//! `down`/`stopped`/`fail` to 0; the agent keeps its own counter (rise and
//! fall 1), moved only by those words (`L7OK`, `L7STS`). The server is UP
//! only while the check (if any) and the agent both are: the health check
//! does not bring it UP while the agent says down ([`allows_up`]). An agent
//! that cannot be reached changes nothing.
//!
//! Admin states and weights go through the stats socket's code path
//! (`admin::state`), so they read and log the same as `set server`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::time::Instant;

use super::log::{self, Severity, Subject};
use super::status::{CheckReport, CheckStatus};
use super::transition::{self, Cause};
use crate::admin::state::{self as admin, Wanted};
use crate::config::model::{Address, AgentCheck};
use crate::runtime::{ServerRt, Shared, admin_flags};
use crate::server::connect::{ConnectError, connect_from};

/// HAProxy's check buffer: an agent line longer than this is incomplete.
const MAX_LINE: usize = 16384;

/// One server's agent: settings and what the checker publishes.
#[derive(Debug)]
pub struct AgentRt {
    /// The configured agent.
    pub model: AgentCheck,
    /// The agent's own counter (0 or 1: HAProxy's agent rise and fall are 1).
    pub health: AtomicU32,
    /// The last agent result; `None` before the first one.
    pub last: ArcSwapOption<CheckReport>,
    /// `disable agent`: no agent check runs until `enable agent`.
    pub paused: std::sync::atomic::AtomicBool,
}

impl AgentRt {
    /// An agent at start: healthy, as HAProxy starts it.
    pub fn new(model: AgentCheck) -> AgentRt {
        AgentRt {
            model,
            health: AtomicU32::new(1),
            last: ArcSwapOption::empty(),
            paused: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the agent runs now (HAProxy's `CHK_ST_ENABLED`).
    pub fn running(&self) -> bool {
        !self.paused.load(Ordering::Relaxed)
    }

    /// Whether the agent lets the server be UP: healthy, or disabled.
    pub fn healthy(&self) -> bool {
        !self.running() || self.health.load(Ordering::Relaxed) >= 1
    }
}

/// Whether the server's agent (if any) lets its health check bring it UP
/// (HAProxy's `check_notify_success`).
pub fn allows_up(srv: &ServerRt) -> bool {
    srv.check.agent.as_ref().is_none_or(AgentRt::healthy)
}

/// (backend, server) of every server with an agent, in a backend that is
/// not disabled (HAProxy checks nothing there).
pub fn servers(shared: &Shared) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (b, be) in shared.backends.iter().enumerate() {
        if be.model.settings.disabled {
            continue;
        }
        for (s, srv) in be.servers.iter().enumerate() {
            if srv.check.agent.is_some() {
                out.push((b, s));
            }
        }
    }
    out
}

/// Starts one task per agent on the checker's runtime, their first checks
/// spread over the shortest `agent-inter` as the health checks' are.
pub fn spawn_all(shared: &Arc<Shared>) -> Vec<monoio::task::JoinHandle<()>> {
    let list = servers(shared);
    let inter = |&(b, s): &(usize, usize)| {
        let a = shared.backends[b].servers[s].check.agent.as_ref();
        a.map_or(Duration::ZERO, |a| a.model.inter)
    };
    let min = list.iter().map(inter).min().unwrap_or_default();
    let n = list.len().max(1) as u32;
    list.iter()
        .enumerate()
        .map(|(pos, &(b, s))| {
            let delay = min * pos as u32 / n;
            monoio::spawn(server_loop(shared.clone(), b, s, delay))
        })
        .collect()
}

/// A health word of the agent's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HealthWord {
    Up,
    Down,
}

/// One answer line, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The health word as written (`up`, `DOWN`, `fail`...) and its meaning.
    health: Option<(String, HealthWord)>,
    admin: Option<Wanted>,
    weight: Option<String>,
    maxconn: Option<String>,
    /// The first word not understood.
    error: Option<String>,
    /// After `#`, leading blanks skipped.
    desc: String,
}

/// Parses a line (without its line end) as HAProxy's agent grammar (public
/// for the `check_answers` fuzz target).
pub fn parse(line: &str) -> Reply {
    let mut r = Reply::default();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        if let Some(desc) = rest.strip_prefix('#') {
            r.desc = desc.trim_start_matches([' ', '\t']).to_string();
            break;
        }
        let end = rest.find([' ', '\t', ',']).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        rest = tail;
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "up" => r.health = Some((word.to_string(), HealthWord::Up)),
            "down" | "stopped" | "fail" => r.health = Some((word.to_string(), HealthWord::Down)),
            "ready" => r.admin = Some(Wanted::Ready),
            "drain" => r.admin = Some(Wanted::Drain),
            "maint" => r.admin = Some(Wanted::Maint),
            _ if word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('%') => {
                r.weight = Some(word.to_string());
            }
            _ if lower.starts_with("maxconn:") => r.maxconn = Some(word["maxconn:".len()..].into()),
            _ => {
                r.error.get_or_insert_with(|| word.to_string());
            }
        }
    }
    r
}

/// What one agent check got.
#[derive(Debug)]
enum Outcome {
    /// A complete line.
    Line(String),
    /// The agent closed (or filled the buffer) before a line end.
    Incomplete,
    /// No answer: connect failure or timeout.
    Failed(CheckStatus, String),
}

/// Runs one server's agent forever; the first check comes after `first_delay`.
pub async fn server_loop(
    shared: Arc<Shared>,
    backend: usize,
    server: usize,
    first_delay: Duration,
) {
    let be = &shared.backends[backend];
    let srv = &be.servers[server];
    let Some(agent) = srv.check.agent.as_ref() else {
        return;
    };
    let source = be.model.servers[server].source.or(be.model.settings.source);
    let mut prev = CheckStatus::Checked;
    monoio::time::sleep(first_delay).await;
    loop {
        // A server waiting for its name to resolve has no agent to ask.
        if srv.admin.flags() & admin_flags::RMAINT == 0 && agent.running() {
            let start = Instant::now();
            let outcome = ask(&target(srv, agent), agent, be, source, start).await;
            let elapsed = start.elapsed();
            prev = apply(&shared, backend, server, outcome, elapsed, prev);
        }
        monoio::time::sleep(agent.model.inter).await;
    }
}

/// The agent's address now: `agent-addr`'s, or the server's current one.
fn target(srv: &ServerRt, agent: &AgentRt) -> Address {
    let mut sa = agent.model.address;
    if let (Some(r), None) = (&srv.resolved, agent.model.fixed_addr) {
        sa.set_ip(r.load().ip());
    }
    Address::Inet(sa)
}

/// Connects, sends `agent-send`, reads one line, within HAProxy's check
/// limits (`probe.rs`): `agent-inter` bounds it all unless `timeout check`
/// is set, then `timeout connect` bounds the connect.
async fn ask(
    addr: &Address,
    agent: &AgentRt,
    be: &crate::runtime::BackendRt,
    source: Option<std::net::SocketAddr>,
    start: Instant,
) -> Outcome {
    let inter = agent.model.inter;
    let timeouts = &be.model.timeouts;
    let connect_limit = match (timeouts.check, timeouts.connect) {
        (Some(_), Some(c)) => c.min(inter),
        _ => inter,
    };
    let mut stream = match connect_from(addr, connect_limit, false, source).await {
        Ok(s) => s,
        Err(ConnectError::Timeout(_)) => {
            return Outcome::Failed(CheckStatus::L4Timeout, String::new());
        }
        Err(ConnectError::Io(e)) => return Outcome::Failed(CheckStatus::L4Con, strerror(&e)),
        Err(_) => return Outcome::Failed(CheckStatus::SockErr, String::new()),
    };
    let deadline = match timeouts.check {
        Some(tc) => Instant::now() + tc,
        None => start + inter,
    };
    let send = agent.model.send.clone();
    match monoio::time::timeout_at(deadline, exchange(&mut stream, send)).await {
        Err(_) => Outcome::Failed(CheckStatus::L7Timeout, String::new()),
        Ok(Err(e)) => Outcome::Failed(CheckStatus::SockErr, strerror(&e)),
        Ok(Ok(None)) => Outcome::Incomplete,
        Ok(Ok(Some(line))) => Outcome::Line(line),
    }
}

/// Sends `send` and reads up to the first CR or LF; `None` when the agent
/// closed first or the line does not fit the buffer.
async fn exchange(
    s: &mut crate::stream::Stream,
    send: Option<Vec<u8>>,
) -> std::io::Result<Option<String>> {
    if let Some(data) = send.filter(|d| !d.is_empty()) {
        let (res, _) = s.write_all(data).await;
        res?;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_LINE);
    loop {
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = s.read(buf.slice_mut(len..cap)).await;
        buf = slice.into_inner();
        let n = res?;
        // HAProxy's line also ends at a NUL byte (it reads a C string).
        if let Some(end) = buf.iter().position(|&b| matches!(b, b'\n' | b'\r' | 0)) {
            if buf[end] == 0 {
                return Ok(None);
            }
            buf.truncate(end);
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        if n == 0 || buf.len() == buf.capacity() {
            return Ok(None);
        }
    }
}

/// Applies one outcome; returns its status (for the next "changed" test).
fn apply(
    shared: &Shared,
    b: usize,
    s: usize,
    outcome: Outcome,
    duration: Duration,
    prev: CheckStatus,
) -> CheckStatus {
    let be = &shared.backends[b];
    let srv = &be.servers[s];
    let Some(agent) = srv.check.agent.as_ref() else {
        return prev;
    };
    let (status, info, health) = match outcome {
        Outcome::Failed(status, info) => (status, info, None),
        // HAProxy keeps the last status and says why.
        Outcome::Incomplete => (prev, "Ignoring incomplete line from agent".into(), None),
        Outcome::Line(line) => {
            let r = parse(&line);
            let (status, info) = act(be, srv, &r);
            (status, info, r.health.map(|h| h.1))
        }
    };
    let before = agent.health.load(Ordering::Relaxed);
    let after = match health {
        Some(HealthWord::Up) => 1,
        Some(HealthWord::Down) => 0,
        None => before,
    };
    agent.health.store(after, Ordering::Relaxed);
    let report = CheckReport {
        status,
        code: 0,
        info,
        duration,
    };
    agent.last.store(Some(Arc::new(report.clone())));
    let logged = be.model.log.log_health_checks;
    // HAProxy logs no line for an answer that changes no health (CHECKED).
    if logged && status != CheckStatus::Checked && (status != prev || before != after) {
        log::emit(be, Severity::Notice, &agent_line(be, srv, &report, after));
    }
    let cause = Cause::Check {
        report: &report,
        logged,
    };
    let up = srv.up.load(Ordering::Relaxed);
    match health {
        // HAProxy marks the server DOWN for these words only, never for an
        // agent it could not reach.
        Some(HealthWord::Down) if up => transition::went_down(shared, b, s, cause),
        Some(HealthWord::Up) if !up && check_allows_up(srv) => {
            transition::went_up(shared, b, s, cause)
        }
        _ => {}
    }
    status
}

/// Whether the health check (if any) lets the server be UP.
fn check_allows_up(srv: &ServerRt) -> bool {
    !srv.check.running() || srv.check.health.load(Ordering::Relaxed) >= srv.check.rise
}

/// Applies the admin state, weight, maxconn and health words of `r` (in
/// HAProxy's order); returns the status and description HAProxy reports.
fn act(be: &crate::runtime::BackendRt, srv: &ServerRt, r: &Reply) -> (CheckStatus, String) {
    if let Some(wanted) = r.admin {
        admin::set_state(be, srv, wanted);
    }
    let mut warning: Option<String> = None;
    if let Some(w) = &r.weight
        && let Err(e) = admin::set_weight(be, srv, w)
    {
        warning = Some(e.trim_end().to_string());
    }
    if let Some(m) = &r.maxconn
        && let Err(e) = crate::admin::commands::change_maxconn(be, srv, m)
        && warning.is_none()
    {
        // HAProxy's "Require <maxconn>.\n" keeps its line feed, in
        // `show stat` and the log line as well.
        warning = Some(e.to_string());
    }
    let chk = &srv.check;
    let Some((word, h)) = &r.health else {
        return match (&r.error, &warning) {
            (Some(e), _) => (
                CheckStatus::Checked,
                format!("agent reports an error : {e}"),
            ),
            (None, Some(w)) => (CheckStatus::Checked, format!("agent warns : {w}")),
            (None, None) => (CheckStatus::Checked, String::new()),
        };
    };
    let status = match h {
        HealthWord::Up => {
            chk.health
                .store(chk.rise.max(1) + chk.fall.max(1) - 1, Ordering::Relaxed);
            CheckStatus::L7Ok
        }
        HealthWord::Down => {
            chk.health.store(0, Ordering::Relaxed);
            CheckStatus::L7Sts
        }
    };
    // A down report keeps its own description; otherwise the first error,
    // else the first warning, takes the empty place (or an up's).
    let mut msg = r.desc.clone();
    if msg.is_empty() || status == CheckStatus::L7Ok {
        if let Some(e) = &r.error {
            msg = e.clone();
        } else if let Some(w) = &warning {
            msg = w.clone();
        }
    }
    let info = if msg.is_empty() {
        format!("via agent : {word}")
    } else {
        format!("via agent : {word} ({msg})")
    };
    (status, info)
}

/// `Agent check for server be/s succeeded|failed, reason: ..., status: 1/1 UP.`
fn agent_line(
    be: &crate::runtime::BackendRt,
    srv: &ServerRt,
    report: &CheckReport,
    health: u32,
) -> String {
    let who = Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    };
    // Rise and fall are 1: "1/1" while healthy, "0/1" while not; HAProxy
    // says DRAIN for a healthy server whose weight is 0.
    let state = if health == 0 {
        "DOWN"
    } else if srv.admin.uweight.load(Ordering::Relaxed) == 0 {
        "DRAIN"
    } else {
        "UP"
    };
    format!(
        "Agent check for {}server {}/{} {}{}, status: {health}/1 {state}.",
        if who.backup { "backup " } else { "" },
        who.backend,
        who.server,
        if report.status.passed() {
            "succeeded"
        } else {
            "failed"
        },
        log::reason(report),
    )
}

/// The system's message for an error, without Rust's " (os error N)".
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_every_kind() {
        let r = parse("75%, drain\tUP maxconn:30 # back soon");
        assert_eq!(r.weight.as_deref(), Some("75%"));
        assert_eq!(r.admin, Some(Wanted::Drain));
        assert_eq!(r.health, Some(("UP".into(), HealthWord::Up)));
        assert_eq!(r.maxconn.as_deref(), Some("30"));
        assert_eq!(r.desc, "back soon");
        assert_eq!(r.error, None);
    }

    #[test]
    fn the_last_word_of_a_kind_wins_and_the_first_error_is_kept() {
        let r = parse("ready maint bogus 10% 20% down fail other");
        assert_eq!(r.admin, Some(Wanted::Maint));
        assert_eq!(r.weight.as_deref(), Some("20%"));
        assert_eq!(r.health, Some(("fail".into(), HealthWord::Down)));
        assert_eq!(r.error.as_deref(), Some("bogus"));
        assert_eq!(parse("stopped").health.unwrap().1, HealthWord::Down);
        assert_eq!(parse("").error, None);
        // A number without % is no weight.
        assert_eq!(parse("50").error.as_deref(), Some("50"));
    }

    #[test]
    fn a_line_ends_at_cr_or_lf() {
        crate::test_runtime().block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let t = std::thread::spawn(move || {
                use std::io::{Read, Write};
                let (mut c, _) = l.accept().unwrap();
                let mut got = [0u8; 5];
                c.read_exact(&mut got).unwrap();
                c.write_all(b"up 50%\r\nignored").unwrap();
                got
            });
            let mut s = connect_from(&Address::Inet(addr), Duration::from_secs(2), false, None)
                .await
                .unwrap();
            let line = exchange(&mut s, Some(b"ping\n".to_vec())).await.unwrap();
            assert_eq!(line.as_deref(), Some("up 50%"));
            assert_eq!(&t.join().unwrap(), b"ping\n");
        });
    }
}
