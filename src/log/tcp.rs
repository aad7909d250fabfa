//! A TCP-mode session's log notes and its tcplog line (see `record` for
//! the termination letters). Inert, like the HTTP trace, when the frontend
//! logs no per-session line.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use super::ProxyLog;
use super::format::{self, Record};
use super::record::{conns, failed_server, ms};
use crate::server::dispatch::{Attempts, DispatchError};
use crate::worker::context::WorkerCtx;

#[derive(Debug)]
struct TcpInner {
    peer: Option<SocketAddr>,
    accepted: Instant,
    accepted_wall: SystemTime,
    connect_start: Cell<Option<Instant>>,
    connected: Cell<Option<Instant>>,
    server: Cell<Option<usize>>,
    /// `%sq/%bq` met when the session waited for a server.
    queues: Cell<(u32, u32)>,
    attempts: Attempts,
    /// The connection's TLS outcome (`fe~`).
    tls: Option<std::sync::Arc<crate::tls::info::TlsInfo>>,
    /// The address the client connected to, for a custom format only.
    dst: Option<SocketAddr>,
    /// The frontend logs a custom format (`dst` is then asked for).
    custom: bool,
}

/// One TCP-mode session's log notes.
#[derive(Debug)]
pub struct TcpTrace(Option<Box<TcpInner>>);

/// How a TCP session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEnd {
    /// The relay ran; `cause` is the first side that failed (0: both closed normally).
    Relayed {
        /// Bytes client → server.
        up: u64,
        /// Bytes server → client.
        down: u64,
        /// `C`, `c`, `S`, `s`, or 0.
        cause: u8,
    },
    /// No server could be connected (`SC` or `sC`).
    NoConnection,
    /// The client left before its first packet could be read (`CR`).
    ClientGone,
    /// `timeout client` passed while the content rules waited (`cR`).
    ClientTimeout,
    /// A `tcp-request content` rule rejected the session after `up` bytes
    /// were read (`PR`).
    RejectedRequest {
        /// Bytes received from the client.
        up: u64,
    },
    /// A `tcp-response content` rule rejected the response (`PD`).
    RejectedResponse {
        /// Bytes client → server.
        up: u64,
    },
}

impl TcpTrace {
    /// Notes for a session accepted now; inert unless `log` makes a tcplog line.
    pub fn new(log: Option<&ProxyLog>, peer: Option<SocketAddr>) -> TcpTrace {
        let on = log.is_some_and(ProxyLog::logs_traffic);
        TcpTrace(on.then(|| {
            Box::new(TcpInner {
                peer,
                accepted: Instant::now(),
                accepted_wall: SystemTime::now(),
                connect_start: Cell::new(None),
                connected: Cell::new(None),
                server: Cell::new(None),
                queues: Cell::new((0, 0)),
                attempts: Attempts::default(),
                tls: None,
                dst: None,
                custom: log.is_some_and(|l| l.format == super::Format::Custom),
            })
        }))
    }

    /// Notes the connection's TLS outcome for its line (`fe~`).
    pub fn with_tls(mut self, tls: Option<&std::sync::Arc<crate::tls::info::TlsInfo>>) -> TcpTrace {
        if let Some(t) = self.0.as_deref_mut() {
            t.tls = tls.cloned();
        }
        self
    }

    /// Notes the address the client connected to, asked only when the
    /// frontend logs a custom format.
    pub fn with_local(mut self, local: impl FnOnce() -> Option<SocketAddr>) -> TcpTrace {
        if let Some(t) = self.0.as_deref_mut()
            && t.custom
        {
            t.dst = local();
        }
        self
    }

    /// Connecting starts.
    pub fn connecting(&self) {
        if let Some(t) = self.0.as_deref() {
            t.connect_start.set(Some(Instant::now()));
        }
    }

    /// The server's and the backend's queue lengths met (`%sq/%bq`).
    pub fn queued(&self, srv_queue: u32, be_queue: u32) {
        if let Some(t) = self.0.as_deref() {
            t.queues.set((srv_queue, be_queue));
        }
    }

    /// Connected to `server`.
    pub fn connected(&self, server: usize) {
        if let Some(t) = self.0.as_deref() {
            t.connected.set(Some(Instant::now()));
            t.server.set(Some(server));
        }
    }

    /// Where the dispatcher counts retries, when logging.
    pub fn attempts(&self) -> Option<&Attempts> {
        self.0.as_deref().map(|t| &t.attempts)
    }

    /// Sends the session's line. `failed` is the dispatch error for
    /// [`TcpEnd::NoConnection`]. The server connection is still counted.
    pub fn finish(
        &self,
        ctx: &WorkerCtx,
        fe: usize,
        backend: Option<usize>,
        end: TcpEnd,
        failed: Option<&DispatchError>,
    ) {
        let Some(t) = self.0.as_deref() else { return };
        let Some(log) = ctx.shared.frontends[fe].log.as_ref() else {
            return;
        };
        let (up, down) = match end {
            TcpEnd::Relayed { up, down, .. } => (up, down),
            TcpEnd::RejectedRequest { up } | TcpEnd::RejectedResponse { up } => (up, 0),
            _ => (0, 0),
        };
        if log.dontlognull && up == 0 {
            return;
        }
        let (failed_srv, timeout) = match (failed, backend) {
            (Some(e), Some(b)) => failed_server(e, &ctx.shared, b),
            _ => (None, false),
        };
        let term = match end {
            TcpEnd::Relayed { cause: 0, .. } => *b"--",
            TcpEnd::Relayed { cause, .. } => [cause, b'D'],
            TcpEnd::NoConnection if matches!(failed, Some(DispatchError::QueueTimeout(_))) => {
                *b"sQ"
            }
            TcpEnd::NoConnection => [if timeout { b's' } else { b'S' }, b'C'],
            TcpEnd::ClientGone => *b"CR",
            TcpEnd::ClientTimeout => *b"cR",
            TcpEnd::RejectedRequest { .. } => *b"PR",
            TcpEnd::RejectedResponse { .. } => *b"PD",
        };
        let server = t.server.get().or(failed_srv);
        let fe_name = &ctx.shared.frontends[fe].name;
        let be = backend.map(|b| &ctx.shared.backends[b]);
        let now = Some(Instant::now());
        let rec = Record {
            client: t.peer,
            date: t.accepted_wall,
            frontend: fe_name,
            backend: be.map_or(fe_name, |b| &b.name),
            server: match (server, be) {
                (Some(s), Some(be)) => &be.servers[s].name,
                _ => "<NOSRV>",
            },
            t_request: -1,
            t_queue: ms(Some(t.accepted), t.connect_start.get()),
            t_connect: ms(t.connect_start.get(), t.connected.get()),
            t_response: -1,
            t_active: ms(Some(t.accepted), now),
            t_total: ms(Some(t.accepted), now),
            status: -1,
            bytes_out: down,
            term: [term[0], term[1], b'-', b'-'],
            conns: conns(&ctx.shared, fe, backend, server, false),
            retries: t.attempts.retries.get(),
            redispatched: t.attempts.redispatched.get(),
            queues: t.queues.get(),
            request: None,
            captures: None,
            tls: t.tls.as_deref(),
        };
        let Some(level) = log.traffic_level(&rec) else {
            return;
        };
        if log.format == super::Format::Custom {
            let slot = crate::http::unique_id::IdSlot::default();
            let extra = super::custom::Extra {
                local: t.dst,
                server: super::record::server_addr(&ctx.shared, backend, server),
                http: false,
                // A TCP session is a stream too: `%rt` numbers it; no `%ID`.
                uid: Some(&slot),
                lc: log.line_number(),
            };
            let mut sc = ctx.scratch.borrow_mut();
            log.send_custom(level, &mut sc, |lf, sc, out| {
                super::custom::render(lf, &rec, extra, sc, out)
            });
            return;
        }
        log.send_with(level, |out| format::tcplog(&rec, out));
    }
}
