//! Runs a [`Program`] against one server: HAProxy's `tcpcheck_main`.
//!
//! Rules run in order on one connection at a time: a connect opens a new
//! one (the bytes received are forgotten), a send writes and forgets what
//! was received before it, an expect reads at least once after a send or a
//! connect and then judges everything received since; undecided, it reads
//! more and the run resumes at its head rule. The last rule run decides the
//! result when every rule passed. Time limits are HAProxy 2.6's, measured
//! (`tests/tcp_checks.rs`): `inter` bounds the check; with `timeout check`,
//! the later of min(`timeout connect`, `inter`) from the start and `timeout
//! check` from the connection.

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::time::Instant;

use super::probe::{self, Target};
use super::status::CheckStatus;
use super::tcp_rules::{
    self, At, BUF_SIZE, CheckSample, Connect, Eval, Op, Program, Send, Vars, where_text,
};
use crate::config::model::Address;
use crate::server::connect::{ConnectError, connect_from};
use crate::server::proxy_header::{self, ProxyOpts};
use crate::stream::Stream;

/// One check's outcome: status, code, info.
pub type Outcome = (CheckStatus, u16, String);

/// The state of one run.
struct Run<'a> {
    prog: &'a Program,
    t: Target<'a>,
    start: Instant,
    deadline: Instant,
    stream: Option<Stream>,
    tls: bool,
    buf: Vec<u8>,
    eos: bool,
    vars: Vars,
    /// The last connect, send or expect run (HAProxy's `current_step`).
    current: Option<usize>,
}

/// Runs `prog` for target `t`; every problem is an [`Outcome`].
pub async fn run(prog: &Program, t: Target<'_>, start: Instant) -> Outcome {
    let mut r = Run {
        prog,
        t,
        start,
        deadline: start + probe::connect_limit(&t),
        stream: None,
        tls: false,
        buf: Vec::new(),
        eos: false,
        vars: Vars::new(),
        current: None,
    };
    // Without `timeout check`, `inter` bounds the whole check (then
    // `connect_limit` is `inter`); with it, see `connect`.
    if t.timeout_check.is_some() {
        return r.rules().await;
    }
    let deadline = r.deadline;
    match monoio::time::timeout_at(deadline, r.rules()).await {
        Ok(o) => o,
        Err(_) => r.timed_out(),
    }
}

impl Run<'_> {
    async fn rules(&mut self) -> Outcome {
        let mut i = 0;
        let mut must_read = false;
        while let Some(rule) = self.prog.rules.get(i) {
            match &rule.op {
                Op::Connect(c) => {
                    self.current = Some(i);
                    if let Err(o) = self.connect(c).await {
                        return o;
                    }
                    must_read = true;
                }
                Op::Send(s) => {
                    self.current = Some(i);
                    if let Err(o) = self.send(s).await {
                        return o;
                    }
                    must_read = true;
                }
                Op::Expect(e) => {
                    self.current = Some(i);
                    let at = At {
                        prog: self.prog,
                        pos: i,
                    };
                    if must_read {
                        must_read = false;
                        if let Some(o) = self.read(&at, e).await {
                            return o;
                        }
                    }
                    match tcp_rules::eval_expect(&at, e, &self.buf, self.eos, &self.vars) {
                        Eval::Continue => {}
                        Eval::Stop(s, c, info) => return (s, c, info),
                        Eval::Wait => {
                            if let Some(o) = self.read(&at, e).await {
                                return o;
                            }
                            i = e.head;
                            continue;
                        }
                    }
                }
                Op::SetVar(name, x) => {
                    let s = CheckSample {
                        payload: &self.buf,
                        vars: &self.vars,
                    };
                    let mut v = Vec::new();
                    let mut sc = crate::acl::Scratch::new();
                    if crate::lf::sample_into(x, &s, &mut sc, Default::default(), &mut v) {
                        self.vars.retain(|(n, _)| n != name);
                        self.vars.push((name.clone(), v));
                    }
                }
                Op::UnsetVar(name) => self.vars.retain(|(n, _)| n != name),
            }
            i += 1;
        }
        self.passed()
    }

    /// Every rule passed: the result of the last one run.
    fn passed(&self) -> Outcome {
        let Some(rule) = self.current.map(|i| &self.prog.rules[i]) else {
            return (CheckStatus::L7Ok, 0, "(tcp-check)".into());
        };
        match &rule.op {
            Op::Expect(e) => tcp_rules::success(self.prog, e, &self.buf, &self.vars),
            Op::Connect(c) => {
                let s = if self.tls {
                    CheckStatus::L6Ok
                } else {
                    CheckStatus::L4Ok
                };
                let info = if c.implicit { "" } else { "(tcp-check)" };
                (s, 0, info.into())
            }
            _ => (CheckStatus::L7Ok, 0, "(tcp-check)".into()),
        }
    }

    /// The check ran out of time: where it was says which layer timed out.
    fn timed_out(&self) -> Outcome {
        let place = where_text(self.prog, self.current);
        if self.stream.is_none() {
            return (CheckStatus::L4Timeout, 0, place);
        }
        let tout = match self.current.map(|i| &self.prog.rules[i].op) {
            Some(Op::Expect(e)) => e.tout,
            _ => None,
        };
        (tout.unwrap_or(CheckStatus::L7Timeout), 0, place)
    }

    async fn connect(&mut self, c: &Connect) -> Result<(), Outcome> {
        self.stream = None;
        self.tls = false;
        self.buf.clear();
        self.eos = false;
        let address = match self.t.address {
            Address::Inet(sa) => {
                let mut sa = *sa;
                if let Some(ip) = c.addr {
                    sa.set_ip(ip);
                }
                if let Some(p) = c.port {
                    sa.set_port(p);
                }
                Address::Inet(sa)
            }
            other => other.clone(),
        };
        let limit = probe::connect_limit(&self.t);
        let place = || where_text(self.prog, self.current);
        let mut stream = match connect_from(&address, limit, false, self.t.source).await {
            Ok(s) => s,
            Err(ConnectError::Timeout(_)) => return Err((CheckStatus::L4Timeout, 0, place())),
            Err(ConnectError::Io(e)) => {
                let info = probe::strerror(&e) + &place();
                return Err((probe::connect_error_status(&e), 0, info));
            }
            Err(_) => return Err((CheckStatus::SockErr, 0, place())),
        };
        let v1 = ProxyOpts::default();
        let pp = match (c.default, c.send_proxy) {
            (true, _) => self.t.send_proxy,
            (false, true) => Some(self.t.send_proxy.unwrap_or(&v1)),
            (false, false) => None,
        };
        if let Some(pp) = pp {
            let ends = probe::check_endpoints(&stream);
            if let Err(e) = proxy_header::send(&mut stream, pp, &ends).await {
                let info = probe::strerror(&e) + &place();
                return Err((probe::connect_error_status(&e), 0, info));
            }
        }
        if let (true, Some(tls)) = (c.default, self.t.tls) {
            stream = probe::handshake(stream, tls, self.start + limit).await?;
            self.tls = true;
        } else if c.ssl {
            stream = self.rule_handshake(stream, c, self.start + limit).await?;
            self.tls = true;
        }
        // HAProxy 2.6 arms `timeout check` once connected, but its check task
        // still wakes at the first limit: the later of the two ends the check.
        if let Some(tc) = self.t.timeout_check {
            self.deadline = (Instant::now() + tc).max(self.start + limit);
        }
        self.stream = Some(stream);
        Ok(())
    }

    /// `connect ssl [sni <name>] [alpn <list>]`: TLS with the server's
    /// settings, the rule's name and protocols.
    async fn rule_handshake(
        &self,
        stream: Stream,
        c: &Connect,
        deadline: Instant,
    ) -> Result<Stream, Outcome> {
        rule_handshake(stream, self.t.rule_tls, c.sni.as_deref(), &c.alpn, deadline).await
    }

    async fn send(&mut self, s: &Send) -> Result<(), Outcome> {
        let sample = CheckSample {
            payload: &self.buf,
            vars: &self.vars,
        };
        let bytes = match s {
            Send::Bytes(b) => b.clone(),
            Send::Lf(f) => tcp_rules::render(f, &sample),
            Send::BinaryLf(f) => match tcp_rules::unhex(&tcp_rules::render(f, &sample)) {
                Some(b) => b,
                None => {
                    let step = self
                        .current
                        .map_or(0, |i| tcp_rules::step_id(&self.prog.rules[i]));
                    let info = format!(
                        "tcp-check send : failed to build log-format string at step {step}"
                    );
                    return Err((CheckStatus::L7Rsp, 0, info));
                }
            },
            Send::Ssl3Hello => ssl3_hello(),
        };
        self.buf.clear();
        self.eos = false;
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err((CheckStatus::SockErr, 0, String::new()));
        };
        let deadline = self.deadline;
        match monoio::time::timeout_at(deadline, stream.write_all(bytes)).await {
            Ok((Ok(_), _)) => Ok(()),
            Ok((Err(e), _)) => {
                let info = probe::strerror(&e) + &where_text(self.prog, self.current);
                Err((CheckStatus::L4Con, 0, info))
            }
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Reads once more into the buffer (until the deadline); an end of
    /// stream with nothing received is HAProxy's empty response.
    async fn read(&mut self, at: &At<'_>, e: &tcp_rules::Expect) -> Option<Outcome> {
        if self.eos || self.buf.len() >= BUF_SIZE {
            return None;
        }
        let stream = self.stream.as_mut()?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.reserve(BUF_SIZE - buf.len());
        let len = buf.len();
        let deadline = self.deadline;
        let end = BUF_SIZE.min(buf.capacity());
        let read = stream.read(buf.slice_mut(len..end));
        let (res, slice) = match monoio::time::timeout_at(deadline, read).await {
            Ok(r) => r,
            Err(_) => return Some(self.timed_out()),
        };
        self.buf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => {
                self.eos = true;
                if self.buf.is_empty() {
                    return Some(tcp_rules::empty_response(at, e));
                }
                None
            }
            Ok(_) => None,
        }
    }
}

/// `option ssl-hello-chk`'s SSLv3 CLIENT HELLO, as HAProxy 2.6 sends it:
/// the current time in its first 4 random bytes, then a fixed text.
pub fn ssl3_hello() -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let mut b = vec![
        0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00,
    ];
    b.extend_from_slice(&now.to_be_bytes());
    b.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    b.extend_from_slice(&[0x00, 0x00, 0x4e]);
    let ciphers = (0x01..=0x1b_u16).chain(0x2f..=0x3a);
    for c in ciphers {
        b.extend_from_slice(&c.to_be_bytes());
    }
    b.extend_from_slice(&[0x01, 0x00]);
    b
}

/// A `connect ssl [sni <name>] [alpn <list>]` handshake (`tcp-check` and
/// `http-check`): the server line's TLS settings, the rule's name and protocols.
pub(super) async fn rule_handshake(
    stream: Stream,
    tls: Option<&crate::tls::server::ServerTls>,
    sni: Option<&str>,
    alpn: &[Vec<u8>],
    deadline: Instant,
) -> Result<Stream, Outcome> {
    let Some(tls) = tls else {
        return Err((CheckStatus::L6Rsp, 0, "no TLS settings".into()));
    };
    let mut config = tls.check_config();
    if !alpn.is_empty() {
        let mut with_alpn = (*config).clone();
        with_alpn.alpn_protocols = alpn.to_vec();
        config = std::sync::Arc::new(with_alpn);
    }
    let name = match sni {
        Some(s) => tls.server_name(Some(s.as_bytes())),
        None => tls.check_server_name(),
    };
    let hs = crate::tls::connect(stream, config, name);
    match crate::deadline::within(deadline, hs).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err((CheckStatus::L6Rsp, 0, e.to_string())),
        Err(_) => Err((CheckStatus::L6Timeout, 0, String::new())),
    }
}
