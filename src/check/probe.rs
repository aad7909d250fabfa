//! One check against one server: connect (the TCP check), then for
//! `option httpchk` send the request and judge the status line.
//!
//! Time limits follow HAProxy's `timeout check` documentation: without
//! `timeout check`, `inter` bounds the whole check (connect and answer); with
//! it, the connect is bounded by min(`timeout connect`, `inter`) and the answer
//! by `timeout check` from the moment the connection is up.

use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::time::Instant;

use super::http::{self, MAX_STATUS_LINE};
use super::status::{CheckReport, CheckStatus};
use crate::config::model::Address;
use crate::server::connect::{ConnectError, connect_from};
use crate::server::proxy_header::{self, Endpoints, ProxyOpts};
use crate::stream::Stream;
use crate::tls::server::ServerTls;

/// What to check and within which limits.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Where to connect (the server's address with `addr`/`port` applied).
    pub address: &'a Address,
    /// The `option httpchk` request; `None` for a plain TCP check.
    pub request: Option<&'a [u8]>,
    /// The server's current check period (bounds the check when `timeout check` is unset).
    pub inter: Duration,
    /// The backend's `timeout check`.
    pub timeout_check: Option<Duration>,
    /// The backend's `timeout connect`, as configured (no default applied).
    pub timeout_connect: Option<Duration>,
    /// `source`: the server's, else the backend's (HAProxy checks from it too).
    pub source: Option<std::net::SocketAddr>,
    /// `check-send-proxy` (or the server's `send-proxy[-v2]` inherited):
    /// the PROXY header the check connection starts with.
    pub send_proxy: Option<&'a ProxyOpts>,
    /// `check-ssl` (or the server's `ssl` inherited): the check runs over
    /// TLS, after the PROXY header, with `check-sni`.
    pub tls: Option<&'a ServerTls>,
}

/// Runs one check; never fails, every problem is a [`CheckReport`].
pub async fn run(t: Target<'_>) -> CheckReport {
    let start = Instant::now();
    let (status, code, info) = probe(t, start).await;
    CheckReport {
        status,
        code,
        info,
        duration: start.elapsed(),
    }
}

async fn probe(t: Target<'_>, start: Instant) -> (CheckStatus, u16, String) {
    let connect_limit = match (t.timeout_check, t.timeout_connect) {
        (Some(_), Some(c)) => c.min(t.inter),
        _ => t.inter,
    };
    // Checks are short-lived: no keep-alive probes.
    let mut stream = match connect_from(t.address, connect_limit, false, t.source).await {
        Ok(s) => s,
        Err(ConnectError::Timeout(_)) => return (CheckStatus::L4Timeout, 0, String::new()),
        Err(ConnectError::Io(e)) => return (connect_error_status(&e), 0, strerror(&e)),
        Err(
            ConnectError::Unsupported(_) | ConnectError::NoPort(_) | ConnectError::Handshake(_),
        ) => {
            return (CheckStatus::SockErr, 0, String::new());
        }
    };
    if let Some(pp) = t.send_proxy {
        let e = check_endpoints(&stream);
        if let Err(e) = proxy_header::send(&mut stream, pp, &e).await {
            return (connect_error_status(&e), 0, strerror(&e));
        }
    }
    if let Some(tls) = t.tls {
        stream = match handshake(stream, tls, start + connect_limit).await {
            Ok(s) => s,
            Err(failed) => return failed,
        };
    }
    let Some(request) = t.request else {
        let passed = if t.tls.is_some() {
            CheckStatus::L6Ok
        } else {
            CheckStatus::L4Ok
        };
        return (passed, 0, String::new());
    };
    let deadline = match t.timeout_check {
        Some(tc) => Instant::now() + tc,
        None => start + t.inter,
    };
    match monoio::time::timeout_at(deadline, exchange(&mut stream, request)).await {
        Err(_) => (CheckStatus::L7Timeout, 0, String::new()),
        Ok(Err(e)) => (CheckStatus::SockErr, 0, strerror(&e)),
        Ok(Ok(line)) => {
            let v = http::judge_status_line(&line);
            (v.status, v.code, v.info)
        }
    }
}

/// The check's TLS handshake, within what the connect limit left: a
/// failure is `L6RSP` with HAProxy's connection error text, a timeout `L6TOUT`.
pub(super) async fn handshake(
    stream: Stream,
    tls: &ServerTls,
    deadline: Instant,
) -> Result<Stream, (CheckStatus, u16, String)> {
    let hs = crate::tls::connect(stream, tls.check_config(), tls.check_server_name());
    match crate::deadline::within(deadline, hs).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err((CheckStatus::L6Rsp, 0, e.to_string())),
        Err(_) => Err((CheckStatus::L6Timeout, 0, String::new())),
    }
}

/// What a check's PROXY header names, as HAProxy 2.6 sends it: version 2
/// says LOCAL; version 1 names the check connection itself (its own
/// address, the server's), or UNKNOWN off TCP.
pub(super) fn check_endpoints(s: &Stream) -> Endpoints<'static> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the fd is the connected socket `s` owns, open for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(s.as_raw_fd()) };
    let sock = socket2::SockRef::from(&fd);
    Endpoints {
        src: sock.local_addr().ok().and_then(|a| a.as_socket()),
        dst: sock.peer_addr().ok().and_then(|a| a.as_socket()),
        local: true,
        ..Endpoints::default()
    }
}

/// Sends the request and reads up to the end of the status line (or what the
/// server sent before closing). Returns the line without its line end.
async fn exchange(s: &mut Stream, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let (res, _) = s.write_all(request.to_vec()).await;
    res?;
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_STATUS_LINE);
    loop {
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = s.read(buf.slice_mut(len..cap)).await;
        buf = slice.into_inner();
        let n = res?;
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(end);
            break;
        }
        // A closed connection or a full buffer ends the line as it is.
        if n == 0 || buf.len() == buf.capacity() {
            break;
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(buf)
}

/// HAProxy counts a failed connect as `L4CON`, but a socket it could not even
/// create (out of descriptors or memory) as `SOCKERR`.
pub(super) fn connect_error_status(e: &std::io::Error) -> CheckStatus {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => CheckStatus::SockErr,
        _ => CheckStatus::L4Con,
    }
}

/// The system's message for an error, as `strerror` gives it ("Connection
/// refused"), without Rust's " (os error 111)" suffix.
pub(super) fn strerror(e: &std::io::Error) -> String {
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
    fn strerror_drops_the_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(strerror(&e), "Connection refused");
        assert_eq!(connect_error_status(&e), CheckStatus::L4Con);
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(connect_error_status(&e), CheckStatus::SockErr);
        let e = std::io::Error::other("custom");
        assert_eq!(strerror(&e), "custom");
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::test_runtime().block_on(f)
    }

    /// A one-shot server on a std thread: reads the request head, writes `answer`, closes.
    fn serve_once(answer: &'static [u8]) -> (Address, std::thread::JoinHandle<Vec<u8>>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = Address::Inet(l.local_addr().expect("addr"));
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut got = Vec::new();
            let mut b = [0u8; 1024];
            while !got.ends_with(b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
            let _ = s.write_all(answer);
            got
        });
        (addr, h)
    }

    fn target<'a>(address: &'a Address, request: Option<&'a [u8]>) -> Target<'a> {
        Target {
            address,
            request,
            inter: Duration::from_secs(2),
            timeout_check: None,
            timeout_connect: None,
            source: None,
            send_proxy: None,
            tls: None,
        }
    }

    #[test]
    fn a_check_starts_with_its_proxy_header() {
        use std::io::Read;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = Address::Inet(l.local_addr().expect("addr"));
        let v1 = ProxyOpts::default();
        let t = Target {
            send_proxy: Some(&v1),
            tls: None,
            ..target(&addr, None)
        };
        assert_eq!(block_on(run(t)).status, CheckStatus::L4Ok);
        let (mut c, peer) = l.accept().expect("the check's connection");
        let mut got = String::new();
        c.read_to_string(&mut got).expect("read");
        let port = l.local_addr().expect("addr").port();
        // HAProxy 2.6: a v1 check header names the check's own connection.
        assert_eq!(
            got,
            format!("PROXY TCP4 127.0.0.1 127.0.0.1 {} {port}\r\n", peer.port())
        );
    }

    #[test]
    fn a_check_comes_from_the_source_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = Address::Inet(l.local_addr().expect("addr"));
        let t = Target {
            source: Some("127.0.0.2:0".parse().expect("addr")),
            ..target(&addr, None)
        };
        assert_eq!(block_on(run(t)).status, CheckStatus::L4Ok);
        let (_, peer) = l.accept().expect("the check's connection");
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
    }

    #[test]
    fn http_check_reads_the_status_line() {
        let (addr, h) = serve_once(b"HTTP/1.0 500 Internal Server Error\r\nX: y\r\n\r\nbody");
        let req = b"GET /c HTTP/1.0\r\n\r\n";
        let r = block_on(run(target(&addr, Some(req))));
        assert_eq!(h.join().expect("server"), req);
        assert_eq!(
            (r.status, r.code, r.info.as_str()),
            (CheckStatus::L7Sts, 500, "Internal Server Error")
        );
    }

    #[test]
    fn empty_answer_is_an_invalid_response() {
        let (addr, h) = serve_once(b"");
        let r = block_on(run(target(&addr, Some(b"GET / HTTP/1.0\r\n\r\n"))));
        h.join().expect("server");
        assert_eq!((r.status, r.info.as_str()), (CheckStatus::L7Rsp, ""));
    }

    #[test]
    fn tcp_check_passes_on_connect_and_fails_on_refusal() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = Address::Inet(l.local_addr().expect("addr"));
        let r = block_on(run(target(&addr, None)));
        assert_eq!(r.status, CheckStatus::L4Ok);
        drop(l);
        let r = block_on(run(target(&addr, None)));
        assert_eq!(
            (r.status, r.info.as_str()),
            (CheckStatus::L4Con, "Connection refused")
        );
    }

    #[test]
    fn silent_server_is_a_layer7_timeout() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = Address::Inet(l.local_addr().expect("addr"));
        let t = Target {
            timeout_check: Some(Duration::from_millis(100)),
            ..target(&addr, Some(b"GET / HTTP/1.0\r\n\r\n"))
        };
        let r = block_on(run(t));
        assert_eq!(r.status, CheckStatus::L7Timeout);
        assert!(r.duration >= Duration::from_millis(100), "{:?}", r.duration);
        assert!(r.duration < Duration::from_secs(2), "{:?}", r.duration);
    }
}
