//! HAProxy's traffic log lines, field for field.
//!
//! - httplog: `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
//!   %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`; `%CC %CS %hr %hs` come
//!   from the frontend's captures (`capture.rs`): `- -` and nothing without
//!   any (HAProxy collapses the spaces of empty fields the same way).
//! - httpslog: httplog, then the TLS fields (see [`httpslog`]).
//! - tcplog: `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`.
//!
//! `%ft` is the frontend's name followed by `~` on a TLS connection.
//! - Neither: `Connect from <ip>:<port> to <ip>:<port> (<frontend>/<HTTP|TCP>)`,
//!   once per connection, at accept.
//!
//! Timers are milliseconds, `-1` for a stage never reached; dates are local
//! time, `25/Nov/2026:01:35:12.345`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::SystemTime;

use super::clock::{self, MONTHS};

/// Connection counts at the time of the line (`%ac/%fc/%bc/%sc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conns {
    /// Connections on the whole process.
    pub process: u64,
    /// On the frontend.
    pub frontend: u64,
    /// On the backend.
    pub backend: u64,
    /// On the server.
    pub server: u64,
}

/// Everything one traffic line says.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The client; `None` on a Unix socket listener.
    pub client: Option<SocketAddr>,
    /// `%tr` (HTTP: when the request began) or `%t` (TCP: the accept).
    pub date: SystemTime,
    /// Frontend name.
    pub frontend: &'a str,
    /// Backend name.
    pub backend: &'a str,
    /// Server name, `<NOSRV>` or `<STATS>`.
    pub server: &'a str,
    /// `TR`: receiving the request head.
    pub t_request: i64,
    /// `Tw`: waiting before connecting.
    pub t_queue: i64,
    /// `Tc`: connecting to the server.
    pub t_connect: i64,
    /// `Tr`: from connected to the response head.
    pub t_response: i64,
    /// `Ta`: the whole exchange, from its first byte.
    pub t_active: i64,
    /// `Tt`: the whole session, from accept.
    pub t_total: i64,
    /// HTTP status, `-1` when none.
    pub status: i32,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Termination state (2 chars) and cookie state (2 chars).
    pub term: [u8; 4],
    /// Connection counts.
    pub conns: Conns,
    /// Connection retries.
    pub retries: u32,
    /// A retry went to another server (`+` before the count).
    pub redispatched: bool,
    /// `%sq/%bq`: the server's and the backend's queue lengths met.
    pub queues: (u32, u32),
    /// The request line; `None` prints `<BADREQ>`.
    pub request: Option<&'a [u8]>,
    /// Captured headers and cookies (`%CC %CS %hr %hs`), when the frontend has any.
    pub captures: Option<&'a super::capture::Captured>,
    /// The client connection's TLS outcome: `%ft` is then `fe~`.
    pub tls: Option<&'a crate::tls::info::TlsInfo>,
}

/// Appends an httplog line (no trailing newline).
pub fn httplog(r: &Record<'_>, out: &mut Vec<u8>) {
    head(r, out);
    let _ = write!(
        out,
        " {}/{}/{}/{}/{} {} {} ",
        r.t_request, r.t_queue, r.t_connect, r.t_response, r.t_active, r.status, r.bytes_out
    );
    match r.captures {
        Some(c) => c.write_cookies(out),
        None => out.extend_from_slice(b"- -"),
    }
    out.push(b' ');
    out.extend_from_slice(&r.term);
    out.push(b' ');
    counts(r, out);
    let _ = write!(out, " {}/{}", r.queues.0, r.queues.1);
    if let Some(c) = r.captures {
        c.write_headers(out);
    }
    out.extend_from_slice(b" \"");
    match r.request {
        Some(line) => encode(line, out),
        None => out.extend_from_slice(b"<BADREQ>"),
    }
    out.push(b'"');
}

/// Appends an httpslog line: the httplog line, then HAProxy's
/// `%[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed]
/// %[ssl_fc_sni]/%sslv/%sslc`. A logged exchange's connection had no error
/// (a failed handshake never reaches a session), so the error fields are 0.
pub fn httpslog(r: &Record<'_>, out: &mut Vec<u8>) {
    httplog(r, out);
    match r.tls {
        Some(t) => {
            // `ssl_fc_err,hex`: the integer's 8 bytes in hexadecimal.
            let _ = write!(
                out,
                " 0/0000000000000000/0/0/{} {}/{}/{}",
                u8::from(t.resumed),
                t.sni.as_deref().unwrap_or("-"),
                or_dash(t.version),
                or_dash(t.cipher)
            );
        }
        None => out.extend_from_slice(b" 0/-/-/-/0 -/-/-"),
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Appends a tcplog line (no trailing newline).
pub fn tcplog(r: &Record<'_>, out: &mut Vec<u8>) {
    head(r, out);
    let _ = write!(
        out,
        " {}/{}/{} {} ",
        r.t_queue, r.t_connect, r.t_total, r.bytes_out
    );
    out.extend_from_slice(&r.term[..2]);
    out.push(b' ');
    counts(r, out);
    let _ = write!(out, " {}/{}", r.queues.0, r.queues.1);
}

/// The default line: `Connect from <client> to <local> (<frontend>/<mode>)`.
pub fn connect_line(
    client: Option<SocketAddr>,
    local: Option<SocketAddr>,
    frontend: &str,
    http: bool,
    out: &mut Vec<u8>,
) {
    let mode = if http { "HTTP" } else { "TCP" };
    match (client, local) {
        (Some(c), Some(l)) => {
            let _ = write!(
                out,
                "Connect from {}:{} to {}:{} ({frontend}/{mode})",
                c.ip(),
                c.port(),
                l.ip(),
                l.port()
            );
        }
        // A Unix socket: only the listener is known (HAProxy prints its id).
        _ => {
            let _ = write!(out, "Connect to unix:1 ({frontend}/{mode})");
        }
    }
}

/// `%ci:%cp [%t] %ft %b/%s`.
fn head(r: &Record<'_>, out: &mut Vec<u8>) {
    match r.client {
        // HAProxy writes IPv6 addresses without brackets.
        Some(c) => {
            let _ = write!(out, "{}:{}", c.ip(), c.port());
        }
        None => out.extend_from_slice(b"unix:1"),
    }
    out.extend_from_slice(b" [");
    date(r.date, out);
    let tls = if r.tls.is_some() { "~" } else { "" };
    let _ = write!(out, "] {}{tls} {}/{}", r.frontend, r.backend, r.server);
}

/// `%ac/%fc/%bc/%sc/%rc`.
fn counts(r: &Record<'_>, out: &mut Vec<u8>) {
    let c = r.conns;
    let _ = write!(
        out,
        "{}/{}/{}/{}/{}{}",
        c.process,
        c.frontend,
        c.backend,
        c.server,
        if r.redispatched { "+" } else { "" },
        r.retries
    );
}

/// `25/Nov/2026:01:35:12.345` in local time.
pub fn date(t: SystemTime, out: &mut Vec<u8>) {
    let c = clock::local(t);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
        c.day, MONTHS[c.month], c.year, c.hour, c.min, c.sec, c.millis
    );
}

/// HAProxy's request-line encoding: control bytes, bytes above 126, `"` and
/// `#` become `#XX`, so a line stays one line and one quoted field.
fn encode(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if !(0x20..0x7f).contains(&b) || b == b'"' || b == b'#' {
            out.extend_from_slice(&[b'#', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn sample() -> Record<'static> {
        Record {
            client: Some("10.0.1.2:33317".parse().unwrap()),
            date: UNIX_EPOCH + Duration::from_millis(1_795_570_512_345),
            frontend: "http-in",
            backend: "static",
            server: "srv1",
            t_request: 10,
            t_queue: 0,
            t_connect: 30,
            t_response: 69,
            t_active: 109,
            t_total: 120,
            status: 200,
            bytes_out: 2750,
            term: *b"----",
            conns: Conns {
                process: 1,
                frontend: 1,
                backend: 1,
                server: 1,
            },
            retries: 0,
            queues: (0, 0),
            redispatched: false,
            request: Some(b"GET /index.html HTTP/1.1"),
            captures: None,
            tls: None,
        }
    }

    /// The sample date as this machine's local time renders it.
    fn local_date() -> String {
        let mut d = Vec::new();
        date(sample().date, &mut d);
        String::from_utf8(d).unwrap()
    }

    #[test]
    fn httplog_line_as_the_haproxy_manual_shows_it() {
        let mut out = Vec::new();
        httplog(&sample(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "10.0.1.2:33317 [{}] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- \
                 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\"",
                local_date()
            )
        );
    }

    #[test]
    fn httplog_errors_and_bad_requests() {
        let r = Record {
            server: "<NOSRV>",
            t_queue: -1,
            t_connect: -1,
            t_response: -1,
            status: 503,
            term: *b"SC--",
            retries: 3,
            queues: (0, 0),
            redispatched: true,
            request: None,
            client: Some("[::1]:40000".parse().unwrap()),
            ..sample()
        };
        let mut out = Vec::new();
        httplog(&r, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("::1:40000 ["), "{line}");
        assert!(
            line.ends_with(
                "http-in static/<NOSRV> 10/-1/-1/-1/109 503 2750 - - SC-- 1/1/1/1/+3 0/0 \"<BADREQ>\""
            ),
            "{line}"
        );
    }

    #[test]
    fn httplog_with_captures() {
        use super::super::capture::{CaptureSpec, Captured, CookieSpec, Slot};
        let spec = CaptureSpec {
            request: vec![Slot {
                header: Some("Host".into()),
                len: 20,
            }],
            response: vec![],
            cookie: Some(CookieSpec {
                prefix: "JSESSIONID".into(),
                len: 32,
            }),
        };
        let c = Captured::new(std::sync::Arc::new(spec));
        c.request([(&b"Host"[..], &b"a|b"[..])].into_iter());
        let r = Record {
            captures: Some(&c),
            ..sample()
        };
        let mut out = Vec::new();
        httplog(&r, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with(" 200 2750 - - ---- 1/1/1/1/0 0/0 {a#7Cb} \"GET /index.html HTTP/1.1\""),
            "{line}"
        );
    }

    #[test]
    fn tls_lines_mark_the_frontend_and_httpslog_adds_its_fields() {
        let info = crate::tls::info::TlsInfo {
            version: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            sni: Some("a.example".into()),
            ..Default::default()
        };
        let mut r = sample();
        let mut plain = Vec::new();
        httpslog(&r, &mut plain);
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.ends_with("\" 0/-/-/-/0 -/-/-"), "{plain}");
        r.tls = Some(&info);
        let mut out = Vec::new();
        httpslog(&r, &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("] http-in~ "), "{out}");
        assert!(
            out.ends_with("\" 0/0000000000000000/0/0/0 a.example/TLSv1.3/TLS_AES_128_GCM_SHA256"),
            "{out}"
        );
    }

    #[test]
    fn tcplog_line() {
        let r = Record {
            term: *b"CD--",
            ..sample()
        };
        let mut out = Vec::new();
        tcplog(&r, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "10.0.1.2:33317 [{}] http-in static/srv1 0/30/120 2750 CD 1/1/1/1/0 0/0",
                local_date()
            )
        );
    }

    #[test]
    fn connect_lines() {
        let mut out = Vec::new();
        connect_line(
            Some("127.0.0.1:40000".parse().unwrap()),
            Some("127.0.0.1:8080".parse().unwrap()),
            "fe",
            true,
            &mut out,
        );
        assert_eq!(
            out,
            b"Connect from 127.0.0.1:40000 to 127.0.0.1:8080 (fe/HTTP)"
        );
        out.clear();
        connect_line(None, None, "fe", false, &mut out);
        assert_eq!(out, b"Connect to unix:1 (fe/TCP)");
    }

    #[test]
    fn date_shape() {
        let d = local_date();
        // dd/Mmm/yyyy:hh:mm:ss.mmm
        assert_eq!(d.len(), 24, "{d}");
        assert_eq!(&d[2..3], "/");
        assert!(MONTHS.contains(&&d[3..6]));
        assert_eq!(&d[6..7], "/");
        assert!(d.ends_with(".345"), "{d}");
    }

    #[test]
    fn request_line_is_encoded() {
        let mut out = Vec::new();
        encode(b"GET /a\"b#c\x01\xe9 HTTP/1.1", &mut out);
        assert_eq!(out, b"GET /a#22b#23c#01#E9 HTTP/1.1");
    }

    /// `dontlog-normal` and `log-separate-errors` follow HAProxy's idea of
    /// an error: a 5xx, a cause other than none or local, retries, redispatch.
    #[test]
    fn traffic_level_follows_haproxys_error_rule() {
        use crate::config::model::{Global, LogFormat, LogOptions, LogTarget, Mode};
        use crate::log::{Level, ProxyLog};
        let log = |normal, errors| {
            let opts = LogOptions {
                targets: vec![LogTarget::Syslog {
                    address: "127.0.0.1:514".into(),
                    len: None,
                    format: LogFormat::Rfc3164,
                    facility: "local0".into(),
                    level: None,
                    minlevel: None,
                }],
                httplog: true,
                dontlog_normal: normal,
                log_separate_errors: errors,
                ..LogOptions::default()
            };
            ProxyLog::build(&opts, Mode::Http, &Global::default(), None).unwrap()
        };
        let ok = sample();
        let s503 = Record {
            status: 503,
            ..sample()
        };
        let cut = Record {
            term: *b"CD--",
            ..sample()
        };
        let local = Record {
            term: *b"LR--",
            ..sample()
        };
        let retried = Record {
            retries: 1,
            ..sample()
        };
        let redisp = Record {
            redispatched: true,
            ..sample()
        };
        let plain = log(false, false);
        assert_eq!(plain.traffic_level(&ok), Some(Level::Info));
        assert_eq!(plain.traffic_level(&s503), Some(Level::Info));
        let quiet = log(true, false);
        assert_eq!(quiet.traffic_level(&ok), None);
        assert_eq!(quiet.traffic_level(&local), None);
        for r in [&s503, &cut, &retried, &redisp] {
            assert_eq!(quiet.traffic_level(r), Some(Level::Info), "{r:?}");
        }
        let both = log(true, true);
        assert_eq!(both.traffic_level(&ok), None);
        assert_eq!(both.traffic_level(&s503), Some(Level::Err));
        let separate = log(false, true);
        assert_eq!(separate.traffic_level(&ok), Some(Level::Info));
        assert_eq!(separate.traffic_level(&cut), Some(Level::Err));
    }
}
