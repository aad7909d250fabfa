//! Logging as HAProxy does it: syslog lines in HAProxy's formats, sent by
//! every thread on its own non-blocking sockets.
//!
//! - `syslog`: targets, RFC 3164 framing, the per-thread senders (drop and
//!   count what cannot leave at once).
//! - `format`: the httplog, tcplog and default ("Connect from") lines.
//! - `record`: what the HTTP data path notes while an exchange runs
//!   (timestamps, server, termination cause), turned into a line when it ends;
//!   `tcp` the same for a TCP session.
//! - `clock`: local dates without a libc call per line.
//! - `capture`: header and cookie captures (`capture ...`, `declare capture`),
//!   noted per exchange and written in httplog lines.
//! - `custom`: `log-format`, `log-format-sd` and `option httplog clf` lines,
//!   compiled at load, rendered from the same record as the built-in ones.
//!
//! Each frontend and backend gets a [`ProxyLog`] when it has log targets
//! (`log global` expanded); with none, the data path checks one `Option` and
//! does no logging work at all.

pub mod capture;
pub mod clock;
pub mod custom;
pub mod encode;
pub mod format;
pub mod record;
pub mod syslog;
pub mod tcp;

use std::cell::RefCell;
use std::sync::Arc;

use self::syslog::Target;
pub use self::syslog::dropped;
use crate::config::model::{Global, LogOptions, LogTarget, Mode};

/// Syslog severities, most severe first (the numeric value is the code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// System unusable (a backend has no server left).
    Emerg = 0,
    /// Action needed (a server went DOWN).
    Alert = 1,
    /// Critical.
    Crit = 2,
    /// Error.
    Err = 3,
    /// Warning.
    Warning = 4,
    /// Significant (a server came UP, a check result, a proxy started).
    Notice = 5,
    /// Traffic lines.
    Info = 6,
    /// Debugging.
    Debug = 7,
}

impl Level {
    /// The level named as in a `log` line (`info`, `notice`, ...).
    pub fn from_name(name: &str) -> Option<Level> {
        Some(match name {
            "emerg" => Level::Emerg,
            "alert" => Level::Alert,
            "crit" => Level::Crit,
            "err" => Level::Err,
            "warning" => Level::Warning,
            "notice" => Level::Notice,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }
}

/// What a frontend logs about its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Neither option: one "Connect from" line per connection, at accept.
    Default,
    /// `option tcplog` (or `option httplog` on a TCP frontend, as HAProxy).
    Tcp,
    /// `option httplog`: one line per HTTP exchange, at its end.
    Http,
    /// `option httpslog`: the httplog line and the TLS fields.
    Https,
    /// `log-format` (or `option httplog clf`): [`ProxyLog::custom`].
    Custom,
}

/// A proxy's resolved logging: where its lines go and how they read.
#[derive(Debug)]
pub struct ProxyLog {
    targets: Vec<Target>,
    hostname: Option<Arc<str>>,
    /// The traffic line format.
    pub format: Format,
    /// `option dontlognull`: no line for a session that received nothing.
    pub dontlognull: bool,
    /// `option dontlog-normal`: no line for traffic that ended normally.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: failed traffic logged at `err`.
    pub log_separate_errors: bool,
    /// The compiled custom formats, with [`Format::Custom`].
    pub custom: Option<Box<custom::Custom>>,
    /// `error-log-format`: the line of a connection that failed before its
    /// stream; HAProxy's fixed line without it.
    pub error_format: Option<Box<crate::lf::LogFormat>>,
    /// `%lc`: the lines this proxy logged, counted only when a format asks.
    lines: Option<std::sync::atomic::AtomicU64>,
}

thread_local! {
    /// The message being built, reused line after line.
    static MESSAGE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(syslog::DEFAULT_LEN));
}

impl ProxyLog {
    /// A proxy's logging, `None` when it has no target (`log global` with no
    /// global target, `no log`, or nothing written).
    pub fn build(
        opts: &LogOptions,
        mode: Mode,
        global: &Global,
        hostname: Option<&Arc<str>>,
    ) -> Option<ProxyLog> {
        let mut targets = Vec::new();
        for t in &opts.targets {
            match t {
                LogTarget::Global => {
                    targets.extend(global.logs.iter().filter_map(Target::from_model));
                }
                t => targets.extend(Target::from_model(t)),
            }
        }
        if targets.is_empty() {
            return None;
        }
        // Checked when parsed: a format that fails here was never accepted.
        let compile = |t: &Option<String>| t.as_deref().and_then(|t| custom::compile(t, "").ok());
        // `option httplog clf` in a TCP proxy: tcplog, as HAProxy falls back.
        let clf_in_tcp = mode == Mode::Tcp && opts.format.as_deref() == Some(custom::CLF);
        let custom = compile(&opts.format).filter(|_| !clf_in_tcp).map(|line| {
            Box::new(custom::Custom {
                line,
                sd: compile(&opts.format_sd),
            })
        });
        let format = match (opts.httplog, opts.tcplog, mode) {
            _ if custom.is_some() => Format::Custom,
            (true, _, Mode::Http) if opts.httpslog => Format::Https,
            (true, _, Mode::Http) => Format::Http,
            (true, _, Mode::Tcp) | (_, true, _) => Format::Tcp,
            _ => Format::Default,
        };
        Some(ProxyLog {
            targets,
            hostname: hostname.cloned(),
            format,
            dontlognull: opts.dontlognull,
            dontlog_normal: opts.dontlog_normal,
            log_separate_errors: opts.log_separate_errors,
            lines: None,
            custom,
            error_format: compile(&opts.error_format).map(Box::new),
        })
        .map(|mut l| {
            let lc = crate::lf::Var::Log(crate::lf::LogVar::LogCount);
            let in_error = l.error_format.as_ref().is_some_and(|e| e.uses(lc));
            if l.uses(lc) || in_error {
                l.lines = Some(std::sync::atomic::AtomicU64::new(0));
            }
            l
        })
    }

    /// `%lc`: this line's number among the proxy's lines (from 0, as
    /// HAProxy's `log_count`); `None` when no format asks for it.
    pub fn line_number(&self) -> Option<u64> {
        let n = self.lines.as_ref()?;
        Some(n.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether its custom format (line or structured data) uses variable `v`
    /// (`%ID`: the request's unique id is then made for every request).
    pub fn uses(&self, v: crate::lf::Var) -> bool {
        self.custom
            .as_ref()
            .is_some_and(|c| c.line.uses(v) || c.sd.as_ref().is_some_and(|sd| sd.uses(v)))
    }

    /// Whether some target may take a traffic line (info, or err with
    /// `option log-separate-errors`): else the session tracks nothing.
    pub fn logs_traffic(&self) -> bool {
        self.format != Format::Default
            && (self.accepts(Level::Info) || self.log_separate_errors && self.accepts(Level::Err))
    }

    /// The level of a traffic line, `None` for no line: HAProxy's rule
    /// (`strm_log`): an error is a redispatch, a termination cause other than
    /// none or local, retries without one, or an HTTP status of 500 or more;
    /// `dontlog-normal` drops the others, `log-separate-errors` raises errors
    /// to `err`.
    pub fn traffic_level(&self, rec: &format::Record<'_>) -> Option<Level> {
        let err = rec.redispatched
            || !matches!(rec.term[0], b'-' | b'L')
            || rec.retries > 0
            || rec.status >= 500;
        match (err, self.dontlog_normal, self.log_separate_errors) {
            (false, true, _) => None,
            (true, _, true) => Some(Level::Err),
            _ => Some(Level::Info),
        }
    }

    /// Whether some target takes lines of `level` (else skip building them).
    pub fn accepts(&self, level: Level) -> bool {
        self.targets.iter().any(|t| level <= t.max_level)
    }

    /// Sends one message (without newline) to every target that takes `level`.
    pub fn send(&self, level: Level, msg: &[u8]) {
        syslog::send(&self.targets, self.hostname.as_deref(), level, msg);
    }

    /// Sends a custom traffic line: `log-format` rendered by `render`, and
    /// `log-format-sd` for the RFC 5424 targets.
    pub fn send_custom(
        &self,
        level: Level,
        sc: &mut crate::acl::Scratch,
        render: impl Fn(&crate::lf::LogFormat, &mut crate::acl::Scratch, &mut Vec<u8>),
    ) {
        let Some(c) = self.custom.as_deref() else {
            return;
        };
        if !self.accepts(level) {
            return;
        }
        self.send_rendered(level, sc, &c.line, c.sd.as_ref(), render);
    }

    /// Renders `line` (and `sd`) into the reused buffer and sends them.
    fn send_rendered(
        &self,
        level: Level,
        sc: &mut crate::acl::Scratch,
        line: &crate::lf::LogFormat,
        sd: Option<&crate::lf::LogFormat>,
        render: impl Fn(&crate::lf::LogFormat, &mut crate::acl::Scratch, &mut Vec<u8>),
    ) {
        MESSAGE.with(|cell| {
            let mut fresh = Vec::new();
            let mut guard = cell.try_borrow_mut();
            let buf = match guard.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            buf.clear();
            render(line, sc, buf);
            let end = buf.len();
            if let Some(sd) = sd {
                render(sd, sc, buf);
            }
            let (msg, sd) = buf.split_at(end);
            syslog::send_sd(&self.targets, self.hostname.as_deref(), level, msg, sd);
        });
    }

    /// Builds a message with `write` in a reused buffer, then sends it.
    pub fn send_with(&self, level: Level, write: impl FnOnce(&mut Vec<u8>)) {
        if !self.accepts(level) {
            return;
        }
        MESSAGE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                write(&mut buf);
                self.send(level, &buf);
            }
            // Re-entered (cannot happen today): build in a fresh buffer.
            Err(_) => {
                let mut buf = Vec::new();
                write(&mut buf);
                self.send(level, &buf);
            }
        });
    }
}

impl ProxyLog {
    /// Sends the `error-log-format` line of a connection that failed before
    /// its stream, as HAProxy 2.6's `sess_log`: termination `PR`, status 0,
    /// the frontend as backend, `<NOSRV>`; false without such a format (the
    /// caller writes HAProxy's fixed line).
    pub fn send_error_line(
        &self,
        ctx: &crate::worker::context::WorkerCtx,
        fe: usize,
        level: Level,
        (peer, local): (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>),
        accepted: std::time::SystemTime,
    ) -> bool {
        let Some(lf) = self.error_format.as_deref() else {
            return false;
        };
        if !self.accepts(level) {
            return true;
        }
        let name = &ctx.shared.frontends[fe].name;
        let total = accepted.elapsed().map_or(0, |d| d.as_millis() as i64);
        let rec = format::Record {
            client: peer,
            date: accepted,
            frontend: name,
            backend: name,
            server: "<NOSRV>",
            t_request: -1,
            t_queue: -1,
            t_connect: -1,
            t_response: -1,
            t_active: -1,
            t_total: total,
            status: 0,
            bytes_out: 0,
            term: *b"PR--",
            conns: record::conns(&ctx.shared, fe, None, None, false),
            retries: 0,
            redispatched: false,
            queues: (0, 0),
            request: None,
            captures: None,
            tls: None,
        };
        let extra = custom::Extra {
            local,
            server: None,
            http: false,
            uid: None,
            lc: self.line_number(),
        };
        let mut sc = ctx.scratch.borrow_mut();
        self.send_rendered(level, &mut sc, lf, None, |lf, sc, out| {
            custom::render(lf, &rec, extra, sc, out)
        });
        true
    }
}

/// The name for the syslog header: `log-send-hostname <name>`, the system's
/// host name for a bare `log-send-hostname`, none otherwise.
pub fn hostname(global: &Global) -> Option<Arc<str>> {
    match &global.log_send_hostname {
        None => None,
        Some(Some(name)) => Some(name.as_str().into()),
        Some(None) => system_hostname().map(Into::into),
    }
}

/// gethostname(2).
pub fn system_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it or the name is cut, and the length is found below.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// `Proxy <name> started.` for every proxy that logs, as HAProxy says at start.
pub fn started(shared: &crate::runtime::Shared) {
    for f in &shared.frontends {
        if let Some(l) = &f.log {
            l.send_with(Level::Notice, |out| {
                out.extend_from_slice(format!("Proxy {} started.", f.name).as_bytes());
            });
        }
    }
    for b in &shared.backends {
        // A `listen` section is one proxy: say it once.
        if shared.frontends.iter().any(|f| f.name == b.name) {
            continue;
        }
        if let Some(l) = &b.log {
            l.send_with(Level::Notice, |out| {
                out.extend_from_slice(format!("Proxy {} started.", b.name).as_bytes());
            });
        }
    }
}

/// HAProxy's soft-stop lines, `Proxy <name> stopped (cumulated conns: FE:
/// <n>, BE: <m>).`, one per proxy: frontends and `listen` sections in
/// declaration order, then backends (the order HAProxy 2.6 says them in).
/// FE counts accepted connections (those `tcp-request connection` refused
/// too, as HAProxy's `cum_conn`), BE the streams given to the backend; both
/// summed over the workers. Each line comes with the proxy's log, if any.
pub fn stop_messages(shared: &crate::runtime::Shared) -> Vec<(String, Option<&ProxyLog>)> {
    use crate::stats::counters::Totals;
    let fe = |i: usize| {
        let t = Totals::sum(shared.counters.iter().map(|w| &w.frontends[i]));
        t.sessions + t.denied_conn
    };
    let be = |i: usize| Totals::sum(shared.counters.iter().map(|w| &w.backends[i])).sessions;
    let line = |name: &str, fe: u64, be: u64| {
        format!("Proxy {name} stopped (cumulated conns: FE: {fe}, BE: {be}).")
    };
    let mut out = Vec::new();
    for (i, f) in shared.frontends.iter().enumerate() {
        // A `listen` section is one proxy: its backend half shares the name.
        let b = shared.backends.iter().position(|b| b.name == f.name);
        out.push((line(&f.name, fe(i), b.map_or(0, be)), f.log.as_ref()));
    }
    for (i, b) in shared.backends.iter().enumerate() {
        if !shared.frontends.iter().any(|f| f.name == b.name) {
            out.push((line(&b.name, 0, be(i)), b.log.as_ref()));
        }
    }
    out
}

/// Says [`stop_messages`] at soft stop: to each proxy's log at level
/// warning, and on stderr unless quiet, as HAProxy does.
pub fn stopped(shared: &crate::runtime::Shared, quiet: bool) {
    for (msg, log) in stop_messages(shared) {
        if !quiet {
            eprintln!("[WARNING] {msg}");
        }
        if let Some(l) = log {
            l.send_with(Level::Warning, |out| out.extend_from_slice(msg.as_bytes()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::LogFormat;

    fn udp(level: Option<&str>) -> LogTarget {
        LogTarget::Syslog {
            address: "127.0.0.1:514".into(),
            len: None,
            format: LogFormat::Rfc3164,
            facility: "local0".into(),
            level: level.map(Into::into),
            minlevel: None,
        }
    }

    #[test]
    fn log_global_expands_and_no_target_means_no_logging() {
        let global = Global {
            logs: vec![udp(None), udp(Some("notice"))],
            ..Global::default()
        };
        let opts = LogOptions {
            targets: vec![LogTarget::Global],
            httplog: true,
            ..LogOptions::default()
        };
        let l = ProxyLog::build(&opts, Mode::Http, &global, None).unwrap();
        assert_eq!(l.targets.len(), 2);
        assert_eq!(l.format, Format::Http);
        assert!(l.accepts(Level::Info));
        assert!(ProxyLog::build(&opts, Mode::Http, &Global::default(), None).is_none());
        assert!(ProxyLog::build(&LogOptions::default(), Mode::Http, &global, None).is_none());
    }

    #[test]
    fn formats_follow_the_options_and_the_mode() {
        let global = Global::default();
        let with = |httplog, tcplog, mode| {
            let opts = LogOptions {
                targets: vec![udp(None)],
                httplog,
                tcplog,
                ..LogOptions::default()
            };
            ProxyLog::build(&opts, mode, &global, None).unwrap().format
        };
        assert_eq!(with(false, false, Mode::Http), Format::Default);
        assert_eq!(with(true, false, Mode::Http), Format::Http);
        assert_eq!(
            with(true, false, Mode::Tcp),
            Format::Tcp,
            "HAProxy falls back"
        );
        assert_eq!(with(false, true, Mode::Http), Format::Tcp);
    }

    #[test]
    fn levels_filter_per_target() {
        let global = Global::default();
        let opts = LogOptions {
            targets: vec![udp(Some("notice"))],
            ..LogOptions::default()
        };
        let l = ProxyLog::build(&opts, Mode::Tcp, &global, None).unwrap();
        assert!(!l.accepts(Level::Info));
        assert!(l.accepts(Level::Alert));
    }

    #[test]
    fn hostname_choice() {
        let mut g = Global::default();
        assert_eq!(hostname(&g), None);
        g.log_send_hostname = Some(Some("lb1".into()));
        assert_eq!(hostname(&g).as_deref(), Some("lb1"));
        g.log_send_hostname = Some(None);
        assert!(hostname(&g).is_some_and(|h| !h.is_empty()));
    }

    #[test]
    fn stop_lines_sum_workers_and_say_listen_once() {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
             frontend fe\n bind 127.0.0.1:1\n default_backend be\n\
             backend be\n server s 127.0.0.1:2\n\
             listen li\n bind 127.0.0.1:3\n server s 127.0.0.1:2\n",
        )])
        .unwrap();
        let shared = crate::runtime::Shared::build(&loaded.config, false, 2);
        let (w0, w1) = (&shared.counters[0], &shared.counters[1]);
        w0.frontends[0].open();
        w1.frontends[0].open();
        crate::stats::counters::add(&w1.frontends[0].denied_conn, 1);
        w1.frontends[1].open();
        w0.backends[0].open();
        w1.backends[0].open();
        w0.backends[1].open();
        let lines: Vec<String> = stop_messages(&shared).into_iter().map(|l| l.0).collect();
        assert_eq!(
            lines,
            [
                "Proxy fe stopped (cumulated conns: FE: 3, BE: 0).",
                "Proxy li stopped (cumulated conns: FE: 1, BE: 1).",
                "Proxy be stopped (cumulated conns: FE: 0, BE: 2).",
            ]
        );
    }
}
