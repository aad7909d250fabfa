//! `show errors [<iid>|<proxy>] [request|response]`: the last invalid request
//! each frontend received, as HAProxy captures it (the raw bytes, where the
//! parser stopped, the client, the event number) and prints it.
//!
//! The capture is taken on the error path only, into one mutex-guarded slot
//! per proxy: a request answered 400, 414 or 431 before it was routed (per
//! frontend), and a server's response head that ringlb refused with a 502
//! (per backend; a head merely cut short by the server is not invalid and
//! is not captured). Nothing is touched while messages are valid.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use crate::log::clock::{self, MONTHS};
use crate::runtime::Shared;
use crate::stats::view;

/// One captured invalid request.
#[derive(Debug, Clone)]
pub struct Capture {
    /// When it was captured.
    pub when: SystemTime,
    /// The client.
    pub src: Option<SocketAddr>,
    /// The event number (HAProxy's `error_snapshot_id` when it was taken).
    pub event: u32,
    /// The bytes received, from the start of the request.
    pub bytes: Vec<u8>,
    /// Where in `bytes` the parser found the error.
    pub error_at: usize,
    /// For a response: the frontend (index) and the server (index in its backend).
    pub response_of: Option<(usize, usize)>,
}

/// The captures of every frontend, and the process's event count.
#[derive(Debug, Default)]
pub struct Captures {
    /// The last invalid request of each frontend (index as in `Shared::frontends`).
    requests: Vec<Mutex<Option<Capture>>>,
    /// The last invalid response of each backend (index as in `Shared::backends`).
    responses: Vec<Mutex<Option<Capture>>>,
    /// Events captured since start (HAProxy's `error_snapshot_id`).
    events: AtomicU32,
}

/// The buffer size HAProxy reports against (`tune.bufsize`'s default); the
/// capture keeps at most this much.
const BUFSIZE: usize = 16384;

impl Captures {
    /// Empty slots for `frontends` frontends and `backends` backends.
    pub fn new(frontends: usize, backends: usize) -> Self {
        Captures {
            requests: (0..frontends).map(|_| Mutex::new(None)).collect(),
            responses: (0..backends).map(|_| Mutex::new(None)).collect(),
            events: AtomicU32::new(0),
        }
    }

    /// Records frontend `fe`'s invalid request `bytes` from `src` (error path only).
    pub fn request(&self, fe: usize, src: Option<SocketAddr>, bytes: &[u8]) {
        let Some(slot) = self.requests.get(fe) else {
            return;
        };
        let bytes = &bytes[..bytes.len().min(BUFSIZE)];
        let capture = Capture {
            when: SystemTime::now(),
            src,
            event: self.events.fetch_add(1, Ordering::Relaxed),
            bytes: bytes.to_vec(),
            error_at: error_position(bytes, false),
            response_of: None,
        };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(capture);
    }

    /// Records backend `be`'s response `bytes` from server `srv`, answered
    /// to a client `src` of frontend `fe`, if its head is invalid (a 502's
    /// error path only).
    pub fn response(
        &self,
        (fe, be, srv): (usize, usize, usize),
        src: Option<SocketAddr>,
        bytes: &[u8],
    ) {
        let Some(slot) = self.responses.get(be) else {
            return;
        };
        let bytes = &bytes[..bytes.len().min(BUFSIZE)];
        let error_at = error_position(bytes, true);
        if error_at >= bytes.len() {
            return;
        }
        let capture = Capture {
            when: SystemTime::now(),
            src,
            event: self.events.fetch_add(1, Ordering::Relaxed),
            bytes: bytes.to_vec(),
            error_at,
            response_of: Some((fe, srv)),
        };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(capture);
    }

    /// Backend `be`'s last capture.
    pub fn last_response(&self, be: usize) -> Option<Capture> {
        let slot = self.responses.get(be)?;
        slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Frontend `fe`'s last capture.
    pub fn last_request(&self, fe: usize) -> Option<Capture> {
        let slot = self.requests.get(fe)?;
        slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// HTTP's token characters (header names, methods).
fn tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Where an invalid message head stops being valid HTTP/1: the first byte
/// that breaks the request (or status) line or a header line, as HAProxy's
/// parser reports it (the end of the bytes when none does: a head too large
/// or cut short).
pub fn error_position(b: &[u8], response: bool) -> usize {
    let mut line_start = 0;
    let mut first = true;
    while line_start < b.len() {
        let end = b[line_start..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| line_start + p);
        let line = &b[line_start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let bad = if first && response {
            status_line_error(line)
        } else if first {
            request_line_error(line)
        } else if line.is_empty() {
            return b.len();
        } else {
            header_error(line)
        };
        // A last line cut short is wrong only where a byte is, not where it ends.
        let bad = bad.filter(|&at| end < b.len() || at < line.len());
        if let Some(at) = bad {
            return line_start + at;
        }
        first = false;
        line_start = end + 1;
    }
    b.len()
}

/// The first invalid byte of a request line `METHOD SP URI SP HTTP/x.y`.
fn request_line_error(l: &[u8]) -> Option<usize> {
    let m = l.iter().take_while(|&&c| tchar(c)).count();
    if m == 0 || l.get(m) != Some(&b' ') {
        return Some(m);
    }
    let uri = m + 1;
    let u = l[uri..]
        .iter()
        .take_while(|&&c| c > b' ' && c != 0x7f)
        .count();
    if u == 0 || l.get(uri + u) != Some(&b' ') {
        return Some(uri + u);
    }
    let v = uri + u + 1;
    let version = &l[v..];
    let ok = version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    (!ok).then_some(v)
}

/// The first invalid byte of a status line `HTTP/x.y SP ddd [SP reason]`.
fn status_line_error(l: &[u8]) -> Option<usize> {
    let v = l.iter().take_while(|&&c| c != b' ').count();
    let version = &l[..v];
    let ok = version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    if !ok {
        return Some(0);
    }
    let code = &l[(v + 1).min(l.len())..];
    let digits = code.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 3 || !matches!(code.get(3), None | Some(b' ')) {
        return Some(v + 1 + digits);
    }
    l.iter()
        .position(|&c| (c < b' ' && c != b'\t') || c == 0x7f)
}

/// The first invalid byte of a header line `name: value`.
fn header_error(l: &[u8]) -> Option<usize> {
    let n = l.iter().take_while(|&&c| tchar(c)).count();
    if n == 0 || l.get(n) != Some(&b':') {
        return Some(n);
    }
    l[n + 1..]
        .iter()
        .position(|&c| (c < b' ' && c != b'\t') || c == 0x7f)
        .map(|p| n + 1 + p)
}

/// `[05/Dec/2026:21:52:12.306]`, in local time, as HAProxy dates events.
fn date(t: SystemTime) -> String {
    let c = clock::local(t);
    format!(
        "[{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}]",
        c.day, MONTHS[c.month], c.year, c.hour, c.min, c.sec, c.millis
    )
}

/// `show errors [<iid>|<proxy>] [request|response]`.
pub fn show(shared: &Shared, args: &[&str]) -> String {
    let mut proxy = None;
    let (mut requests, mut responses) = (true, true);
    for a in args {
        match *a {
            "request" => (requests, responses) = (true, false),
            "response" => (requests, responses) = (false, true),
            "-1" if proxy.is_none() => {}
            p => proxy = Some(p),
        }
    }
    let mut chosen = proxies(shared);
    if let Some(p) = proxy {
        let by_id = p.parse::<u32>().ok();
        chosen.retain(|x| x.name == p || Some(x.id) == by_id);
        if chosen.is_empty() {
            return "No such proxy.\n".into();
        }
    }
    let mut out = format!(
        "Total events captured on {} : {}\n",
        date(SystemTime::now()),
        shared.live.errors.events.load(Ordering::Relaxed)
    );
    let all = proxies(shared);
    let fe_id = |f: usize| all.iter().find(|x| x.fe == Some(f)).map_or(0, |x| x.id);
    for px in &chosen {
        if let Some(f) = px.fe.filter(|_| requests)
            && let Some(c) = shared.live.errors.last_request(f)
        {
            let title = format!("frontend {} (#{}): invalid request", px.name, px.id);
            entry(
                &mut out,
                &title,
                "backend <NONE> (#-1), server <NONE> (#-1)",
                &c,
            );
        }
        if let Some(b) = px.be.filter(|_| responses)
            && let Some(c) = shared.live.errors.last_response(b)
            && let Some((f, s)) = c.response_of
        {
            let be = &shared.backends[b];
            let title = format!("backend {} (#{}): invalid response", px.name, px.id);
            let other = format!(
                "frontend {} (#{}), server {} (#{})",
                shared.frontends[f].name,
                fe_id(f),
                be.servers[s].name,
                view::server_ids(be).get(s).copied().unwrap_or(0)
            );
            entry(&mut out, &title, &other, &c);
        }
    }
    out
}

/// A proxy as the stats number it: its frontend and backend (indexes).
struct Proxy {
    name: String,
    id: u32,
    fe: Option<usize>,
    be: Option<usize>,
}

/// Every proxy, in the stats' order.
fn proxies(shared: &Shared) -> Vec<Proxy> {
    view::snapshot(shared)
        .into_iter()
        .map(|v| {
            let has = |k: view::Kind| v.rows.iter().any(|r| r.kind == k);
            let fe = has(view::Kind::Frontend)
                .then(|| shared.frontends.iter().position(|f| f.name == v.name))
                .flatten();
            let be = has(view::Kind::Backend)
                .then(|| shared.backends.iter().position(|b| b.name == v.name))
                .flatten();
            Proxy {
                name: v.name,
                id: v.iid,
                fe,
                be,
            }
        })
        .collect()
}

/// One capture as HAProxy prints it (without its H1 parser's internal flags,
/// which ringlb's parser does not have).
fn entry(out: &mut String, title: &str, other: &str, c: &Capture) {
    let (ip, port) = match c.src {
        Some(a) => (a.ip().to_string(), a.port()),
        None => ("unix".to_string(), 0),
    };
    let len = c.bytes.len();
    let _ = write!(
        out,
        " \n{} {title}\n  {other}, event #{}, src {ip}:{port}\n  buffer starts at 0 \
         (including 0 out), {} free,\n  len {len}, wraps at {BUFSIZE}, error at position {}\n  \n",
        date(c.when),
        c.event,
        BUFSIZE - len,
        c.error_at,
    );
    let mut ptr = 0;
    let mut bol = 0;
    while ptr < len {
        let next = dump_line(out, &c.bytes, ptr, &mut bol);
        if next == ptr {
            break;
        }
        ptr = next;
    }
}

/// HAProxy's `dump_text_line`: `  <offset><' '|'+'> ` then the bytes from
/// `ptr`, escaped, up to a line feed or 80 columns; returns where it stopped.
fn dump_line(out: &mut String, b: &[u8], mut ptr: usize, bol: &mut usize) -> usize {
    let mut line = format!("  {:05}{} ", ptr, if ptr == *bol { ' ' } else { '+' });
    let end = 80;
    while ptr < b.len() {
        let c = b[ptr];
        let piece = match c {
            b'\\' => "\\\\".to_string(),
            b'\t' => "\\t".into(),
            b'\n' => "\\n".into(),
            b'\r' => "\\r".into(),
            0x1b => "\\e".into(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02X}"),
        };
        // HAProxy's room checks: 2 for a plain byte, 3 for an escape, 5 for hex.
        let room = match piece.len() {
            1 => 2,
            2 => 3,
            _ => 5,
        };
        if line.len() > end - room {
            break;
        }
        line.push_str(&piece);
        ptr += 1;
        if c == b'\n' {
            *bol = ptr;
            break;
        }
    }
    out.push_str(&line);
    out.push('\n');
    ptr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_positions_as_haproxy_reports_them() {
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", false),
            28
        );
        assert_eq!(error_position(b"GET / HTTP/1.1\r\n\r\n", false), 18);
        assert_eq!(error_position(b"G@T / HTTP/1.1\r\n\r\n", false), 1);
        assert_eq!(error_position(b"GET / HTTQ/1.1\r\n\r\n", false), 6);
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n", false),
            20
        );
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Header\r\n\r\nok";
        assert_eq!(error_position(resp, true), 39);
        assert_eq!(error_position(b"HTTP/1.1 20x OK\r\n\r\n", true), 11);
        assert_eq!(error_position(b"HTTP/1.1 200 OK\r\nPartial", true), 24);
        assert_eq!(error_position(b"HTTP/1.1 200 OK\r\nBad Hea", true), 20);
    }

    #[test]
    fn dumps_break_at_line_feeds_and_80_columns() {
        let mut out = String::new();
        let mut bol = 0;
        let b = b"GET / HTTP/1.1\r\nHost: x\r\n";
        let p = dump_line(&mut out, b, 0, &mut bol);
        assert_eq!((p, out.as_str()), (16, "  00000  GET / HTTP/1.1\\r\\n\n"));
        let long = vec![b'a'; 100];
        let mut out = String::new();
        let mut bol = 0;
        let p = dump_line(&mut out, &long, 0, &mut bol);
        assert_eq!(p, 70);
        let p2 = dump_line(&mut out, &long, p, &mut bol);
        assert_eq!(p2, 100);
        assert!(out.ends_with(&format!("  00070+ {}\n", "a".repeat(30))));
    }
}
