//! The `idle` scenario's client: many keep-alive connections, each sending one
//! request and reading its full answer, then held open doing nothing.
//!
//! The hard open-file limit (20,000 here) caps one process, so the harness
//! runs this as several `idle-client` processes (a hidden subcommand of its
//! own binary), each holding a share of the connections.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::http1::response_complete;

/// Connections held open, and why the others failed (first error, count).
pub struct Held {
    /// The open, idle connections.
    pub streams: Vec<TcpStream>,
    /// How many could not be opened or did not get a full 200 answer.
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// Opens `n` connections to 127.0.0.1:`port` from `threads` threads; each
/// sends `GET /` (keep-alive) and reads the whole answer before it is kept.
pub fn open(port: u16, n: usize, threads: usize) -> Held {
    open_with(port, n, threads, Duration::from_secs(10), None)
}

/// A TLS client trusting only the CA in `ca` (PEM), for `idle-client --tls-ca`.
pub fn tls_config(ca: &std::path::Path) -> Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).context("reading the CA")? {
        roots.add(cert.context("parsing the CA")?)?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// [`open`] with `answer_timeout` for each answer. A thread whose tries
/// time out three times in a row (or fail 50 times in a row) counts the
/// rest of its share as failed.
fn open_with(
    port: u16,
    n: usize,
    threads: usize,
    answer_timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Held {
    let threads = threads.clamp(1, n.max(1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let share = n / threads + usize::from(t < n % threads);
            let tls = tls.clone();
            std::thread::spawn(move || {
                let mut held = Held {
                    streams: Vec::with_capacity(share),
                    failed: 0,
                    first_error: None,
                };
                let mut in_a_row = 0;
                for done in 0..share {
                    match one(port, answer_timeout, tls.as_ref()) {
                        Ok(s) => {
                            held.streams.push(s);
                            in_a_row = 0;
                        }
                        Err(e) => {
                            held.failed += 1;
                            in_a_row += 1;
                            let text = format!("{e:#}");
                            let timeout = text.contains("within") || text.contains("timed out");
                            held.first_error.get_or_insert(text);
                            // A proxy at its limit leaves each further try
                            // waiting for a timeout: stop rather than spend
                            // minutes learning the same thing.
                            if (timeout && in_a_row >= 3) || in_a_row >= 50 {
                                held.failed += share - done - 1;
                                break;
                            }
                        }
                    }
                }
                held
            })
        })
        .collect();
    let mut all = Held {
        streams: Vec::with_capacity(n),
        failed: 0,
        first_error: None,
    };
    for h in handles {
        match h.join() {
            Ok(mut part) => {
                all.streams.append(&mut part.streams);
                all.failed += part.failed;
                if all.first_error.is_none() {
                    all.first_error = part.first_error;
                }
            }
            Err(_) => {
                all.first_error
                    .get_or_insert_with(|| "a client thread panicked".into());
            }
        }
    }
    all
}

/// One connection: connect (with `tls`, a TLS handshake), one request,
/// read the full answer. The socket is kept; the client's TLS state is not
/// needed to hold the connection open (the proxy's state is what is measured).
fn one(
    port: u16,
    answer_timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).context("connect")?;
    s.set_read_timeout(Some(answer_timeout))?;
    if let Some(config) = tls {
        let name = rustls_pki_types::ServerName::try_from(crate::tls::SERVER_NAME)?;
        let mut conn = rustls::ClientConnection::new(config.clone(), name)?;
        let mut stream = rustls::Stream::new(&mut conn, &mut s);
        exchange(&mut stream, answer_timeout)?;
        return Ok(s);
    }
    exchange(&mut s, answer_timeout)?;
    Ok(s)
}

/// `GET /` (keep-alive) and its whole 200 answer.
fn exchange(s: &mut impl ReadWrite, answer_timeout: Duration) -> Result<()> {
    if let Err(e) = s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n") {
        // A TLS handshake the proxy never answers ends here.
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            bail!("no handshake within {answer_timeout:?}");
        }
        return Err(e).context("write");
    }
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("no answer within {answer_timeout:?}")
            }
            Err(e) => return Err(e).context("read"),
        };
        if n == 0 {
            bail!("closed before a full answer");
        }
        buf.extend_from_slice(&chunk[..n]);
        match response_complete(&buf)? {
            Some(true) => return Ok(()),
            Some(false) => bail!("answer was not 200: {}", first_line(&buf)),
            None => {}
        }
        if buf.len() > 1 << 20 {
            bail!("answer too large");
        }
    }
}

/// A plain or TLS stream.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn first_line(buf: &[u8]) -> String {
    String::from_utf8_lossy(buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// How many of `streams` the peer has not closed (nothing to read counts as
/// open; EOF or a reset as closed).
pub fn count_alive(streams: &[TcpStream]) -> usize {
    let mut byte = [0u8; 1];
    streams
        .iter()
        .filter(|s| {
            if s.set_nonblocking(true).is_err() {
                return false;
            }
            match s.peek(&mut byte) {
                Ok(n) => n > 0,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            }
        })
        .count()
}

/// The `idle-client` subcommand: opens `count` connections, prints
/// `ready held=H failed=F` (after a `first_error:` line if any failed), then
/// answers each `check` line on stdin with `alive N` until stdin closes.
pub fn client_main(
    port: u16,
    count: usize,
    threads: usize,
    tls_ca: Option<&std::path::Path>,
) -> Result<()> {
    crate::sys::raise_nofile();
    let held = match tls_ca {
        Some(ca) => open_with(
            port,
            count,
            threads,
            Duration::from_secs(10),
            Some(tls_config(ca)?),
        ),
        None => open(port, count, threads),
    };
    let mut out = std::io::stdout().lock();
    if let Some(e) = &held.first_error {
        writeln!(out, "first_error: {}", e.replace('\n', " "))?;
    }
    writeln!(
        out,
        "ready held={} failed={}",
        held.streams.len(),
        held.failed
    )?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        if line?.trim() == "check" {
            writeln!(out, "alive {}", count_alive(&held.streams))?;
            out.flush()?;
        }
    }
    Ok(())
}

/// What an `idle-client` printed so far: `(held, failed)` once ready, the
/// first error, and the count of its last `alive` line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// `(held, failed)` from the `ready` line.
    pub ready: Option<(usize, usize)>,
    /// The `first_error:` line's text.
    pub first_error: Option<String>,
    /// The last `alive N` line's count.
    pub alive: Option<usize>,
}

/// Reads an `idle-client`'s output.
pub fn parse_client_output(text: &str) -> ClientReport {
    let mut r = ClientReport::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ready ") {
            let num = |key: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|v| v.parse().ok())
            };
            if let (Some(h), Some(f)) = (num("held="), num("failed=")) {
                r.ready = Some((h, f));
            }
        } else if let Some(e) = line.strip_prefix("first_error: ") {
            r.first_error = Some(e.to_string());
        } else if let Some(n) = line.strip_prefix("alive ") {
            r.alive = n.trim().parse().ok();
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_against_a_tiny_server() {
        // A local listener answering 3 connections once each, then holding
        // two and closing the third.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for _ in 0..3 {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                    .unwrap();
                kept.push(s);
            }
            kept
        });
        let held = open(port, 3, 2);
        assert_eq!(held.streams.len(), 3, "{:?}", held.first_error);
        assert_eq!(held.failed, 0);
        let mut kept = server.join().unwrap();
        assert_eq!(count_alive(&held.streams), 3);
        drop(kept.pop());
        // The FIN needs a moment to arrive on loopback.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(count_alive(&held.streams), 2);
    }

    #[test]
    fn gives_up_on_a_silent_proxy() {
        // Accepts (the kernel does, into the backlog) but never answers.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let start = std::time::Instant::now();
        let held = open_with(port, 20, 1, Duration::from_millis(50), None);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!((held.streams.len(), held.failed), (0, 20));
        assert!(held.first_error.unwrap().contains("no answer within"));
        drop(l);
    }

    #[test]
    fn client_output() {
        let r = parse_client_output(
            "first_error: connect: Connection refused (os error 111)\nready held=4990 failed=10\n",
        );
        assert_eq!(r.ready, Some((4990, 10)));
        assert!(r.first_error.unwrap().starts_with("connect"));
        assert_eq!(r.alive, None);
        let r = parse_client_output("ready held=5 failed=0\nalive 3\nalive 4\n");
        assert_eq!((r.ready, r.alive), (Some((5, 0)), Some(4)));
        assert_eq!(parse_client_output("").ready, None);
    }
}
