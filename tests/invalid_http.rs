//! `option accept-invalid-http-request` (frontend) and
//! `option accept-invalid-http-response` (backend), through the binary, next
//! to HAProxy 2.6 on the same configuration: the same raw requests (and raw
//! responses from a scripted server) with the option off and on, comparing
//! the status the client gets and the bytes the server receives.
//!
//! Each option is per proxy: the strict runs set the *other* side's option,
//! which must change nothing here. The framing checks hold whatever the
//! option: the vectors with it on include conflicting lengths, bare CR and a
//! body carrying a second request, which must reach the server as the body.
//!
//! Where ringlb answers differently from HAProxy on purpose, the vector says
//! why.

mod common;

use common::{Haproxy, HttpClient, TcpBackend, free_port};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request hidden in another's body.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// A server that keeps the raw bytes of each connection and answers
/// `reply` once a head (and whatever follows it within 150 ms) arrived,
/// then closes, so that no connection is reused between vectors.
struct RawServer {
    backend: TcpBackend,
    got: Arc<Mutex<Vec<u8>>>,
    reply: Arc<Mutex<Vec<u8>>>,
}

impl RawServer {
    fn start() -> RawServer {
        let got = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new(Vec::new()));
        let (g, r) = (got.clone(), reply.clone());
        let backend = TcpBackend::start(move |s| serve(s, &g, &r));
        RawServer {
            backend,
            got,
            reply,
        }
    }

    fn port(&self) -> u16 {
        self.backend.port
    }

    /// Forgets what was received and sets the next answer.
    fn reset(&self, reply: &[u8]) {
        self.got.lock().unwrap().clear();
        *self.reply.lock().unwrap() = reply.to_vec();
    }

    /// What was received since [`RawServer::reset`], lower-cased: HAProxy
    /// lower-cases header names, ringlb keeps their case.
    fn received(&self) -> Vec<u8> {
        self.got.lock().unwrap().to_ascii_lowercase()
    }
}

fn serve(mut s: TcpStream, got: &Mutex<Vec<u8>>, reply: &Mutex<Vec<u8>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(150)));
    while let Ok(n) = s.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    got.lock().unwrap().extend_from_slice(&buf);
    let r = reply.lock().unwrap().clone();
    let _ = s.write_all(&r);
}

/// The answer of the server in the request vectors.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/// One raw message and the statuses the client gets, option off then on.
struct Vector {
    name: &'static str,
    bytes: Vec<u8>,
    ringlb: [u16; 2],
    haproxy: [u16; 2],
    /// Why the two differ, when they do.
    why: &'static str,
}

fn v(
    name: &'static str,
    bytes: &[u8],
    ringlb: [u16; 2],
    haproxy: [u16; 2],
    why: &'static str,
) -> Vector {
    Vector {
        name,
        bytes: bytes.to_vec(),
        ringlb,
        haproxy,
        why,
    }
}

const WS_NAME: &str = "whitespace in a name stays refused: HAProxy forwards `Content-Length : 5` \
                       unread, and a server that trims names would frame the body as a second \
                       request";
const CTL_NAME: &str = "control bytes in a name stay refused, for the same reason as whitespace";
const NOT_UTF8: &str = "ringlb keeps targets and names as UTF-8 text: other bytes above 127 stay \
                        refused";
const DEL_URI: &str = "configuration.txt says 127 is always blocked; 2.6.12 forwards it, ringlb \
                       follows the documentation";
const VERSION: &str = "HTTP/0.9 and other version strings are not relayed by ringlb (it speaks \
                       HTTP/1.0 and 1.1 to servers); HAProxy relays them with the option";

const HOST: &str = "with the option HAProxy stops comparing an absolute-form target with Host \
                    and forwards both; ringlb keeps the 400, as the server could route by the \
                    other one";

const TARGET: &str = "with the option HAProxy forwards a target that is neither origin nor \
                      absolute form; ringlb keeps the 400, as servers read such targets \
                      differently";

fn request_vectors() -> Vec<Vector> {
    const H: &str = "Host: x\r\n";
    let chunked_smuggled = format!(
        "POST /c HTTP/1.1\r\n{H}X[a]: 1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n",
        SMUGGLED.len()
    );
    let length_smuggled = format!(
        "POST /l HTTP/1.1\r\n{H}X{{b}}: 1\r\nContent-Length: {}\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    vec![
        v("URI with \"<>\\^`{|}", b"GET /a{b}|\"<>\\^` HTTP/1.1\r\nHost: x\r\n\r\n", [200, 200], [200, 200], ""),
        v("URI with UTF-8", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", [400, 200], [400, 200], ""),
        v("URI with a byte that is not UTF-8", b"GET /a\xff HTTP/1.1\r\nHost: x\r\n\r\n", [400, 400], [400, 200], NOT_UTF8),
        v("URI with a fragment", b"GET /a?b=#c HTTP/1.1\r\nHost: x\r\n\r\n", [400, 200], [400, 200], ""),
        v("URI with a control byte", b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", [400, 400], [400, 400], ""),
        v("URI with DEL", b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", [400, 400], [200, 200], DEL_URI),
        v("name with brackets", b"GET /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\n\r\n", [400, 200], [400, 200], ""),
        v("name with separators", b"GET /a HTTP/1.1\r\nHost: x\r\nX\"a(b)/c{}: 1\r\n\r\n", [400, 200], [400, 200], ""),
        v("name with UTF-8", b"GET /a HTTP/1.1\r\nHost: x\r\nX\xc3\xa9: 1\r\n\r\n", [400, 200], [400, 200], ""),
        v("name with a space", b"GET /a HTTP/1.1\r\nHost: x\r\nX a: 1\r\n\r\n", [400, 400], [400, 200], WS_NAME),
        v("Content-Length with a space before the colon", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", [400, 400], [400, 200], WS_NAME),
        v("name with a control byte", b"GET /a HTTP/1.1\r\nHost: x\r\nX\x01a: 1\r\n\r\n", [400, 400], [400, 200], CTL_NAME),
        v("empty name", b"GET /a HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", [400, 400], [400, 400], ""),
        v("HTTP/0.9", b"GET /a\r\n\r\n", [400, 400], [400, 200], VERSION),
        v("version HTTP/1.12", b"GET /a HTTP/1.12\r\nHost: x\r\n\r\n", [400, 400], [400, 200], VERSION),
        v("version RTSP/1.0", b"GET /a RTSP/1.0\r\nHost: x\r\n\r\n", [400, 400], [400, 200], VERSION),
        // The framing checks, with an invalid name so that the lenient parser reads them.
        v("two Content-Length", b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", [400, 400], [400, 400], ""),
        v("bare CR", b"GET /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\rY: z\r\n\r\n", [400, 400], [400, 400], ""),
        v("Content-Length beside chunked", b"POST /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", [400, 200], [400, 200], ""),
        v("chunked body carrying a request", chunked_smuggled.as_bytes(), [400, 200], [400, 200], ""),
        v("length body carrying a request", length_smuggled.as_bytes(), [400, 200], [400, 200], ""),
        v("absolute-form target differs from Host", b"GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n", [400, 400], [400, 200], HOST),
        v("target neither /path nor absolute", b"GET foo HTTP/1.1\r\nHost: x\r\n\r\n", [400, 400], [400, 200], TARGET),
        v("bare LF line ends", b"GET /a HTTP/1.1\nHost: x\nX[a]: 1\n\n", [400, 200], [400, 200], ""),
    ]
}

/// A frontend and a backend; `fe_opt` and `be_opt` are their extra lines.
fn config(port: u16, server: u16, fe_opt: &str, be_opt: &str) -> String {
    format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 1s\n    \
         timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:{port}\n    \
         {fe_opt}\n    default_backend b\n\nbackend b\n    {be_opt}\n    \
         server s1 127.0.0.1:{server}\n"
    )
}

const REQ_ON: &str = "option accept-invalid-http-request";
const RESP_ON: &str = "option accept-invalid-http-response";

/// Sends `bytes` on a fresh connection: the first response's status and its
/// raw head, lower-cased (read raw: the test client's own parser is strict).
fn exchange(port: u16, bytes: &[u8]) -> (u16, String) {
    let mut c = HttpClient::connect(port);
    c.send(bytes);
    let head = match c.conn.read_head() {
        Ok(Some(h)) => String::from_utf8_lossy(&h).to_ascii_lowercase(),
        other => panic!("no response: {other:?}"),
    };
    // The second word: HAProxy relays a server's `HTTP/1.12` as it is.
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// The request bytes a server should get for a vector the proxy passed:
/// its body, after the head the proxy wrote.
fn body_of(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(bytes.len());
    &bytes[end..]
}

/// Runs the request vectors through the proxy on `port` (option `on` or
/// not); one line per vector that went wrong, and what the server got for each.
fn run_requests(
    who: &str,
    port: u16,
    srv: &RawServer,
    on: bool,
    haproxy: bool,
) -> (Vec<String>, Vec<Vec<u8>>) {
    let (mut wrong, mut got) = (Vec::new(), Vec::new());
    for v in request_vectors() {
        srv.reset(OK);
        let (status, _) = exchange(port, &v.bytes);
        std::thread::sleep(Duration::from_millis(250));
        let want = if haproxy { v.haproxy } else { v.ringlb }[usize::from(on)];
        let rx = srv.received();
        if status != want {
            wrong.push(format!(
                "{who} (option {on}): {}: status {status}, expected {want}",
                v.name
            ));
        }
        if status == 200 {
            // The body reaches the server once, as the body.
            let sent = v.bytes.to_ascii_lowercase();
            // HAProxy forwards `Content-Length : 5` without the body it
            // announces (left on the client's connection): the hazard WS_NAME
            // names.
            let want: &[u8] = if haproxy && v.why == WS_NAME {
                b""
            } else {
                body_of(&sent)
            };
            if body_of(&rx) != want {
                wrong.push(format!(
                    "{who} (option {on}): {}: server got {:?}",
                    v.name,
                    String::from_utf8_lossy(&rx)
                ));
            }
        } else if status == 400 && !rx.is_empty() {
            wrong.push(format!(
                "{who} (option {on}): {}: refused, yet forwarded",
                v.name
            ));
        }
        got.push(rx);
    }
    (wrong, got)
}

#[test]
fn requests_are_relaxed_as_haproxy_relaxes_them() {
    let srv = RawServer::start();
    let mut wrong = Vec::new();
    let mut heads: Vec<[Vec<Vec<u8>>; 2]> = Vec::new();
    for haproxy in [false, true] {
        let mut seen: [Vec<Vec<u8>>; 2] = Default::default();
        for on in [false, true] {
            let port = free_port();
            // The strict run sets the backend's option: it must not relax requests.
            let cfg = if on {
                config(port, srv.port(), REQ_ON, "")
            } else {
                config(port, srv.port(), "", RESP_ON)
            };
            let (w, got) = if haproxy {
                let Some(_h) = Haproxy::start(&cfg, port) else {
                    return;
                };
                run_requests("haproxy", port, &srv, on, true)
            } else {
                let _r = common::Ringlb::start(&cfg);
                run_requests("ringlb", port, &srv, on, false)
            };
            wrong.extend(w);
            seen[usize::from(on)] = got;
        }
        heads.push(seen);
    }
    // Where both passed a vector, the server got the same bytes from each
    // (names lower-cased).
    if heads.len() == 2 {
        for (on, name) in [(0, "off"), (1, "on")] {
            for (i, v) in request_vectors().iter().enumerate() {
                let (r, h) = (&heads[0][on][i], &heads[1][on][i]);
                if v.ringlb[on] == 200 && v.haproxy[on] == 200 && r != h {
                    wrong.push(format!(
                        "option {name}: {}: ringlb sent {:?}, HAProxy {:?}",
                        v.name,
                        String::from_utf8_lossy(r),
                        String::from_utf8_lossy(h)
                    ));
                }
            }
        }
    }
    for v in request_vectors().iter().filter(|v| v.ringlb != v.haproxy) {
        assert!(
            !v.why.is_empty(),
            "{}: differs from HAProxy without a reason",
            v.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn response_vectors() -> Vec<Vector> {
    vec![
        v(
            "valid",
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok",
            [200, 200],
            [200, 200],
            "",
        ),
        v(
            "name with brackets",
            b"HTTP/1.1 200 OK\r\nX[a]: 1\r\nContent-Length: 2\r\n\r\nok",
            [502, 200],
            [502, 200],
            "",
        ),
        v(
            "name with UTF-8",
            b"HTTP/1.1 200 OK\r\nX\xc3\xa9: 1\r\nContent-Length: 2\r\n\r\nok",
            [502, 200],
            [502, 200],
            "",
        ),
        v(
            "name with a space",
            b"HTTP/1.1 200 OK\r\nX a: 1\r\nContent-Length: 2\r\n\r\nok",
            [502, 502],
            [502, 200],
            WS_NAME,
        ),
        v(
            "Content-Length with a space before the colon",
            b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
            [502, 502],
            [502, 200],
            WS_NAME,
        ),
        v(
            "version HTTP/1.12",
            b"HTTP/1.12 200 OK\r\nContent-Length: 2\r\n\r\nok",
            [502, 502],
            [502, 200],
            VERSION,
        ),
        v(
            "two Content-Length",
            b"HTTP/1.1 200 OK\r\nX[a]: 1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            [502, 502],
            [502, 502],
            "",
        ),
    ]
}

fn run_responses(who: &str, port: u16, srv: &RawServer, on: bool, haproxy: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    for v in response_vectors() {
        srv.reset(&v.bytes);
        let (status, head) = exchange(port, b"GET /r HTTP/1.1\r\nHost: x\r\n\r\n");
        let want = if haproxy { v.haproxy } else { v.ringlb }[usize::from(on)];
        if status != want {
            wrong.push(format!(
                "{who} (option {on}): {}: status {status}, expected {want}",
                v.name
            ));
        }
        // The invalid name reaches the client as it was.
        if status == 200 && v.name.starts_with("name") {
            let line = &v.bytes[17..v
                .bytes
                .windows(2)
                .skip(17)
                .position(|w| w == b"\r\n")
                .unwrap()
                + 17];
            let line = String::from_utf8_lossy(line).to_ascii_lowercase();
            if !head.contains(&line) {
                wrong.push(format!(
                    "{who} (option {on}): {}: {line:?} not in {head:?}",
                    v.name
                ));
            }
        }
    }
    wrong
}

#[test]
fn responses_are_relaxed_as_haproxy_relaxes_them() {
    let srv = RawServer::start();
    let mut wrong = Vec::new();
    for haproxy in [false, true] {
        for on in [false, true] {
            let port = free_port();
            // The strict run sets the frontend's option: it must not relax responses.
            let cfg = if on {
                config(port, srv.port(), "", RESP_ON)
            } else {
                config(port, srv.port(), REQ_ON, "")
            };
            if haproxy {
                let Some(_h) = Haproxy::start(&cfg, port) else {
                    return;
                };
                wrong.extend(run_responses("haproxy", port, &srv, on, true));
            } else {
                let _r = common::Ringlb::start(&cfg);
                wrong.extend(run_responses("ringlb", port, &srv, on, false));
            }
        }
    }
    for v in response_vectors().iter().filter(|v| v.ringlb != v.haproxy) {
        assert!(
            !v.why.is_empty(),
            "{}: differs from HAProxy without a reason",
            v.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn each_option_is_warned_about_in_the_section_without_its_side() {
    // HAProxy warns that each option is ignored in a section without its
    // side; ringlb warns too, and that side never reads it.
    let port = free_port();
    let cfg = config(port, 1, RESP_ON, REQ_ON);
    let dir = common::TestDir::new("invalid-http");
    let path = dir.write("t.cfg", &cfg);
    let out = common::run_cli(dir.path(), &["-c", "-f", path.to_str().unwrap()]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("accept-invalid-http-response"), "{text}");
    assert!(text.contains("accept-invalid-http-request"), "{text}");
}

#[test]
fn rules_run_on_heads_read_leniently() {
    // The head the lenient parser read goes through the frontend's rules and
    // reaches the server with the rules' edits and the invalid name kept,
    // from ringlb as from HAProxy.
    let srv = RawServer::start();
    let req = b"GET /a HTTP/1.1\r\nHost: x\r\nX[a]: 1\r\n\r\n";
    let mut got = Vec::new();
    for haproxy in [false, true] {
        let port = free_port();
        let cfg = config(
            port,
            srv.port(),
            "option accept-invalid-http-request\n    http-request set-header X-B 2\n    \
             http-request set-path /b",
            "",
        );
        srv.reset(OK);
        let status = if haproxy {
            let Some(_h) = Haproxy::start(&cfg, port) else {
                break;
            };
            exchange(port, req).0
        } else {
            let _r = common::Ringlb::start(&cfg);
            exchange(port, req).0
        };
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(status, 200, "haproxy: {haproxy}");
        got.push(String::from_utf8_lossy(&srv.received()).into_owned());
    }
    assert_eq!(
        got[0], "get /b http/1.1\r\nhost: x\r\nx[a]: 1\r\nx-b: 2\r\n\r\n",
        "ringlb"
    );
    if let Some(h) = got.get(1) {
        assert_eq!(h, &got[0], "HAProxy sent other bytes");
    }
}
