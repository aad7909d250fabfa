//! The reload scenario's client (`reload-client`, re-executed under taskset on
//! the load CPUs): blocking HTTP/1.1 clients on threads, keep-alive ones and
//! `Connection: close` ones, that count every request they make while the
//! proxy is reloaded under them. wrk cannot tell a refused connect from a
//! request that got no answer, nor count them per request across reloads.
//!
//! Every failure lands in exactly one class:
//! - **connect**: the connect was refused, reset or timed out, or the
//!   connection broke before the request was written whole;
//! - **no response**: the request was written, then the connection ended
//!   (EOF, reset) or stayed silent past the read timeout before a complete
//!   response arrived;
//! - **non-2xx**: a complete response with another status.
//!
//! A response that says `Connection: close` ends a keep-alive client's
//! connection cleanly: it connects again for its next request. Each request's
//! latency runs from its write (from the connect when it opened the
//! connection) to the last byte of its Content-Length body.

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http1::parse_head;

/// A connect that takes longer than this fails (a SYN dropped once is
/// retransmitted after 1 s, twice after 3 s: those still succeed).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A written request whose response has not completed by then failed.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// An answer this slow (µs) most likely waited for a SYN to be sent again
/// (the first retransmission comes after 1 s).
pub const SLOW_US: u64 = 1_000_000;
/// Failure messages kept per class and kind of client (the earliest).
const KEPT_ERRORS: usize = 3;

/// The two kinds of client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Keeps its connection for as long as the server does.
    KeepAlive,
    /// `Connection: close` on every request: a new connection each time.
    Close,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::KeepAlive => "ka",
            Kind::Close => "close",
        }
    }
}

/// Failure classes, in the table's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Connect refused/reset/timed out, or broken before the request went out.
    Connect,
    /// Request written, connection ended or silent before the whole response.
    NoResponse,
    /// A complete response whose status is not 2xx.
    Non2xx,
}

impl Class {
    const ALL: [Class; 3] = [Class::Connect, Class::NoResponse, Class::Non2xx];

    fn tag(self) -> &'static str {
        match self {
            Class::Connect => "connect",
            Class::NoResponse => "noresp",
            Class::Non2xx => "non2xx",
        }
    }
}

/// Counts of one kind of client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Complete 2xx responses.
    pub answered: u64,
    /// Failures per [`Class`], in [`Class::ALL`] order.
    pub failed: [u64; 3],
    /// Connections opened.
    pub connections: u64,
}

/// What one client process measured.
#[derive(Debug)]
pub struct Outcome {
    /// Latency in µs of every complete response (any status).
    pub hist: Histogram<u64>,
    /// Keep-alive clients' counts.
    pub keepalive: Counts,
    /// Close clients' counts.
    pub close: Counts,
    /// The first few failures of each class and kind of client:
    /// `(class, kind, seconds since start, text)`, in time order.
    pub errors: Vec<(Class, Kind, f64, String)>,
}

impl Outcome {
    fn empty() -> Result<Outcome> {
        Ok(Outcome {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            keepalive: Counts::default(),
            close: Counts::default(),
            errors: Vec::new(),
        })
    }

    /// Answers that took [`SLOW_US`] or more.
    pub fn slow(&self) -> u64 {
        self.hist
            .iter_recorded()
            .filter(|v| v.value_iterated_to() >= SLOW_US)
            .map(|v| v.count_at_value())
            .sum()
    }

    fn counts(&mut self, kind: Kind) -> &mut Counts {
        match kind {
            Kind::KeepAlive => &mut self.keepalive,
            Kind::Close => &mut self.close,
        }
    }

    fn fail(&mut self, kind: Kind, class: Class, at: f64, what: String) {
        self.counts(kind).failed[class as usize] += 1;
        if self
            .errors
            .iter()
            .filter(|e| (e.0, e.1) == (class, kind))
            .count()
            < KEPT_ERRORS
        {
            self.errors.push((class, kind, at, what));
        }
    }

    fn merge(&mut self, other: Outcome) -> Result<()> {
        self.hist.add(&other.hist)?;
        for (mine, theirs) in [
            (&mut self.keepalive, &other.keepalive),
            (&mut self.close, &other.close),
        ] {
            mine.answered += theirs.answered;
            mine.connections += theirs.connections;
            for (m, t) in mine.failed.iter_mut().zip(theirs.failed) {
                *m += t;
            }
        }
        // The earliest ones of all threads together.
        let mut all = std::mem::take(&mut self.errors);
        all.extend(other.errors);
        all.sort_by(|a, b| a.2.total_cmp(&b.2));
        for e in all {
            if self
                .errors
                .iter()
                .filter(|x| (x.0, x.1) == (e.0, e.1))
                .count()
                < KEPT_ERRORS
            {
                self.errors.push(e);
            }
        }
        Ok(())
    }

    /// The lines the `reload-client` subcommand prints: one `error` line per
    /// kept failure, then the `result` line.
    pub fn output(&self) -> String {
        let mut out = String::new();
        for (class, kind, at, what) in &self.errors {
            out += &format!(
                "error {} {at:.3} {} client: {}\n",
                class.tag(),
                kind.tag(),
                what.replace('\n', " ")
            );
        }
        let q = |x: f64| self.hist.value_at_quantile(x);
        out += &format!(
            "result p50_us={} p99_us={} p999_us={} max_us={} slow={}",
            q(0.5),
            q(0.99),
            q(0.999),
            self.hist.max(),
            self.slow()
        );
        for (kind, c) in [
            (Kind::KeepAlive, &self.keepalive),
            (Kind::Close, &self.close),
        ] {
            let k = kind.tag();
            out += &format!(
                " {k}_answered={} {k}_connections={}",
                c.answered, c.connections
            );
            for class in Class::ALL {
                out += &format!(" {k}_{}={}", class.tag(), c.failed[class as usize]);
            }
        }
        out.push('\n');
        out
    }
}

/// What the harness reads back from a `reload-client`'s output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientResult {
    /// Median latency, µs.
    pub p50: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// 99.9th percentile, µs.
    pub p999: u64,
    /// Slowest response, µs.
    pub max: u64,
    /// Answers that took 1 s or more.
    pub slow: u64,
    /// Keep-alive clients.
    pub keepalive: Counts,
    /// Close clients.
    pub close: Counts,
    /// Kept failures: `(class tag, seconds since the client started, text)`.
    pub errors: Vec<(String, f64, String)>,
}

impl ClientResult {
    /// Answered requests, both kinds.
    pub fn answered(&self) -> u64 {
        self.keepalive.answered + self.close.answered
    }

    /// Failures of `class`, both kinds.
    pub fn failed(&self, class: Class) -> u64 {
        self.keepalive.failed[class as usize] + self.close.failed[class as usize]
    }
}

/// Parses a `reload-client`'s output.
pub fn parse_output(text: &str) -> Result<ClientResult> {
    let mut r = ClientResult::default();
    let mut saw = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("error ") {
            let mut parts = rest.splitn(3, ' ');
            let class = parts.next().unwrap_or("").to_string();
            let at: f64 = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0.0);
            r.errors
                .push((class, at, parts.next().unwrap_or("").to_string()));
        } else if let Some(rest) = line.strip_prefix("result ") {
            saw = true;
            for kv in rest.split_whitespace() {
                let (k, v) = kv.split_once('=').context("key=value")?;
                let v: u64 = v.parse().with_context(|| format!("value of {k}"))?;
                let (kind, field) = match k.split_once('_') {
                    Some(("ka", f)) => (Some(&mut r.keepalive), f),
                    Some(("close", f)) => (Some(&mut r.close), f),
                    _ => (None, k),
                };
                match (kind, field) {
                    (None, "p50_us") => r.p50 = v,
                    (None, "p99_us") => r.p99 = v,
                    (None, "p999_us") => r.p999 = v,
                    (None, "max_us") => r.max = v,
                    (None, "slow") => r.slow = v,
                    (Some(c), "answered") => c.answered = v,
                    (Some(c), "connections") => c.connections = v,
                    (Some(c), f) => {
                        if let Some(class) = Class::ALL.iter().find(|c| c.tag() == f) {
                            c.failed[*class as usize] = v;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if !saw {
        bail!("no result line in the reload client's output");
    }
    Ok(r)
}

/// How one request ended.
enum Exchange {
    /// A complete response: its status and whether the server closes.
    Done { status: u16, close: bool },
    /// A failure of this class, with what happened.
    Failed(Class, String),
}

/// Writes `req` and reads one whole response (Content-Length framed).
fn exchange(stream: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> Exchange {
    if let Err(e) = stream.write_all(req) {
        return Exchange::Failed(Class::Connect, format!("write: {e}"));
    }
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        match parse_head(buf) {
            Ok(Some(h)) if buf.len() >= h.total_len => {
                return Exchange::Done {
                    status: h.status,
                    close: h.close,
                };
            }
            Ok(_) => {}
            Err(e) => return Exchange::Failed(Class::NoResponse, format!("bad response: {e:#}")),
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Exchange::Failed(
                    Class::NoResponse,
                    format!("EOF after {} bytes of response", buf.len()),
                );
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Exchange::Failed(
                    Class::NoResponse,
                    format!("no complete response within {READ_TIMEOUT:?}"),
                );
            }
            Err(e) => {
                return Exchange::Failed(
                    Class::NoResponse,
                    format!("read after {} bytes of response: {e}", buf.len()),
                );
            }
        }
    }
}

/// One client thread until `end`: requests back to back, a new connection
/// whenever the last one ended (always, for a close client).
fn client(port: u16, kind: Kind, start: Instant, end: Instant) -> Result<Outcome> {
    let mut out = Outcome::empty()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let req: &[u8] = match kind {
        Kind::KeepAlive => b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n",
        Kind::Close => b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n",
    };
    let mut buf = Vec::with_capacity(4096);
    let mut conn: Option<TcpStream> = None;
    // Requests sent on the current connection.
    let mut on_conn = 0u64;
    while Instant::now() < end {
        let t = Instant::now();
        let at = || t.duration_since(start).as_secs_f64();
        let stream = match conn.as_mut() {
            Some(s) => s,
            None => match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    out.counts(kind).connections += 1;
                    on_conn = 0;
                    s.set_read_timeout(Some(READ_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    conn.insert(s)
                }
                Err(e) => {
                    out.fail(kind, Class::Connect, at(), format!("connect: {e}"));
                    // Not a busy loop against a closed port.
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        on_conn += 1;
        match exchange(stream, req, &mut buf) {
            Exchange::Done { status, close } => {
                let us = t.elapsed().as_micros().clamp(1, 120_000_000) as u64;
                out.hist.saturating_record(us);
                if (200..300).contains(&status) {
                    out.counts(kind).answered += 1;
                } else {
                    out.fail(kind, Class::Non2xx, at(), format!("status {status}"));
                }
                if close || kind == Kind::Close {
                    conn = None;
                }
            }
            Exchange::Failed(class, what) => {
                let nth = out.counts(kind).connections;
                out.fail(
                    kind,
                    class,
                    at(),
                    format!("connection #{nth}, request #{on_conn} on it: {what}"),
                );
                conn = None;
            }
        }
    }
    Ok(out)
}

/// Runs `keepalive` + `close` client threads for `duration` and merges what
/// they saw. Each thread stops after the request in flight at the end (at
/// most the connect and read timeouts later).
pub fn run(port: u16, keepalive: usize, close: usize, duration: Duration) -> Result<Outcome> {
    if keepalive + close == 0 {
        bail!("no clients");
    }
    let start = Instant::now();
    let end = start + duration;
    let results: Vec<Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..keepalive + close)
            .map(|i| {
                let kind = if i < keepalive {
                    Kind::KeepAlive
                } else {
                    Kind::Close
                };
                s.spawn(move || client(port, kind, start, end))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("client thread panicked")))
            })
            .collect()
    });
    let mut all = Outcome::empty()?;
    for r in results {
        all.merge(r?)?;
    }
    Ok(all)
}

/// The `reload-client` subcommand: runs the clients, prints [`Outcome::output`].
pub fn client_main(port: u16, keepalive: usize, close: usize, duration: f64) -> Result<()> {
    crate::sys::raise_nofile();
    let outcome = run(port, keepalive, close, Duration::from_secs_f64(duration))?;
    let mut out = std::io::stdout().lock();
    out.write_all(outcome.output().as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A server that answers 200 on keep-alive, except: every 5th
    /// connection is closed after reading its first request (no response),
    /// and the 3rd request of a connection gets a 503.
    fn flaky_server() -> (u16, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for (n, s) in l.incoming().enumerate() {
                let Ok(mut s) = s else { continue };
                seen2.fetch_add(1, Ordering::Relaxed);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut k = 0;
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        k += 1;
                        if n % 5 == 4 {
                            return;
                        }
                        let close = buf.windows(17).any(|w| w == b"Connection: close");
                        let status = if k == 3 { "503 Busy" } else { "200 OK" };
                        let conn = if close { "Connection: close\r\n" } else { "" };
                        let resp =
                            format!("HTTP/1.1 {status}\r\n{conn}Content-Length: 3\r\n\r\nok\n");
                        if s.write_all(resp.as_bytes()).is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (port, seen)
    }

    #[test]
    fn counts_every_class() {
        let (port, _) = flaky_server();
        let o = run(port, 2, 2, Duration::from_millis(300)).unwrap();
        assert!(o.keepalive.answered > 0 && o.close.answered > 0, "{o:?}");
        assert!(o.keepalive.failed[Class::Non2xx as usize] > 0, "{o:?}");
        assert_eq!(o.close.failed[Class::Non2xx as usize], 0, "{o:?}");
        assert!(o.close.failed[Class::NoResponse as usize] > 0, "{o:?}");
        assert_eq!(o.keepalive.failed[Class::Connect as usize], 0, "{o:?}");
        let parsed = parse_output(&o.output()).unwrap();
        assert_eq!(parsed.keepalive, o.keepalive);
        assert_eq!(parsed.close, o.close);
        assert_eq!(parsed.max, o.hist.max());
        assert_eq!(parsed.slow, 0);
        assert!(parsed.errors.iter().any(|e| e.0 == "noresp"), "{parsed:?}");
        assert!(
            parsed.errors.iter().all(|e| e.2.contains("client: ")),
            "{parsed:?}"
        );
    }

    #[test]
    fn refused_connects() {
        let port = crate::sys::free_port().unwrap();
        let o = run(port, 1, 1, Duration::from_millis(100)).unwrap();
        assert_eq!(o.keepalive.answered + o.close.answered, 0);
        assert!(o.keepalive.failed[Class::Connect as usize] > 0);
        assert!(o.close.failed[Class::Connect as usize] > 0);
        let r = parse_output(&o.output()).unwrap();
        assert_eq!(
            r.failed(Class::Connect),
            o.close.failed[0] + o.keepalive.failed[0]
        );
        assert!(parse_output("nothing").is_err());
    }
}
