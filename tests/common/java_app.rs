//! The stickiness tests' application and setup: [`JavaApp`], a test server
//! that behaves like a Java servlet container (issues `JSESSIONID`, records
//! the `Cookie` headers it receives exactly), and the helpers the stickiness
//! test files share (requests with cookies, `Set-Cookie` extraction, two-app
//! farms, waiting on ringlb's stderr).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{
    BufStream, ListenCfg, Response, Ringlb, TcpBackend, exchange, free_port, header_in,
    header_pairs,
};

// ---------------------------------------------------------------------------
// The test application
// ---------------------------------------------------------------------------

/// One request as the application saw it (health checks are not recorded).
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request target.
    pub path: String,
    /// Every `Cookie` header value, exactly as received, in order.
    pub cookies: Vec<String>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// State shared by the application's connection threads and the test.
struct AppState {
    name: String,
    check_path: String,
    check_status: AtomicU16,
    checks: AtomicUsize,
    /// Session ids it handed out, in order.
    issued: Mutex<Vec<String>>,
    seen: Mutex<Vec<Seen>>,
}

/// A Java-like application server on 127.0.0.1 (std threads, keep-alive aware).
///
/// - `check_path` answers the status set by [`JavaApp::set_check_status`]
///   (200 at start) and closes; it is counted, not recorded.
/// - Any other request is recorded ([`Seen`]) and answered 200 with
///   `X-Server: <name>` and a body `server=<name>\nsession=<id>\ncookie=<Cookie
///   header(s) as received, or <none>>\n`.
/// - Without a `JSESSIONID` cookie, a new random id is issued with
///   `Set-Cookie: JSESSIONID=<id>; Path=/`.
/// - Paths starting with `/multi` answer several `Set-Cookie` headers around the
///   session cookie (`a=1; Path=/`, `JSESSIONID=<id>; Path=/; HttpOnly`,
///   `OLDJSESSIONID=q; Path=/`, `b=2`).
/// - Paths starting with `/setserverid` also set `SERVERID=anything; path=/`.
/// - Every response carries a fixed `Last-Modified` (see `serve_app`).
pub struct JavaApp {
    state: Arc<AppState>,
    pub tcp: TcpBackend,
}

impl JavaApp {
    pub fn start(name: &str, check_path: &str) -> JavaApp {
        let state = Arc::new(AppState {
            name: name.to_string(),
            check_path: check_path.to_string(),
            check_status: AtomicU16::new(200),
            checks: AtomicUsize::new(0),
            issued: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let tcp = TcpBackend::start(move |s| serve_app(&st, s));
        JavaApp { state, tcp }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    pub fn port(&self) -> u16 {
        self.tcp.port
    }

    /// Requests other than checks served so far.
    pub fn served(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The request it received for `path`, if any (test paths are unique).
    pub fn seen_at(&self, path: &str) -> Option<Seen> {
        self.seen().into_iter().find(|s| s.path == path)
    }

    pub fn issued(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().clone()
    }

    pub fn set_check_status(&self, status: u16) {
        self.state.check_status.store(status, Ordering::SeqCst);
    }

    pub fn checks(&self) -> usize {
        self.state.checks.load(Ordering::SeqCst)
    }

    /// Waits (at most 5 s) until at least `n` checks have arrived.
    pub fn wait_checks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.checks() < n {
            assert!(
                Instant::now() < deadline,
                "{}: {} of {n} checks after 5 s",
                self.name(),
                self.checks()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A random 32-hex-digit session id, as a servlet container makes.
fn new_session_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut a = RandomState::new().build_hasher();
    a.write_usize(n);
    let a = a.finish();
    let mut b = RandomState::new().build_hasher();
    b.write_u64(a);
    format!("{a:016X}{:016X}", b.finish())
}

/// The value of cookie `name` among `Cookie` header values.
pub fn cookie_in(headers: &[String], name: &str) -> Option<String> {
    headers
        .iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Serves one connection of a [`JavaApp`] until it closes.
fn serve_app(st: &AppState, s: TcpStream) {
    let mut bs = BufStream::new(s);
    loop {
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let mut hbuf = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hbuf);
        if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
            let _ = bs.stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let path = req.path.unwrap_or("").to_string();
        let minor = req.version.unwrap_or(1);
        let headers = header_pairs(req.headers);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        if let Some(cl) = get("content-length")
            && bs.read_n(cl.trim().parse().unwrap_or(0)).is_err()
        {
            return;
        }
        let conn = get("connection").unwrap_or_default();
        let keep = if minor == 0 {
            conn.contains("keep-alive")
        } else {
            !conn.contains("close")
        };
        let conn_line = match (keep, minor) {
            (false, _) => "Connection: close\r\n",
            (true, 0) => "Connection: keep-alive\r\n",
            (true, _) => "",
        };

        if path == st.check_path {
            st.checks.fetch_add(1, Ordering::SeqCst);
            let code = st.check_status.load(Ordering::SeqCst);
            let reason = if code == 200 {
                "OK"
            } else {
                "Internal Server Error"
            };
            let _ = bs.stream.write_all(
                format!(
                    "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            return;
        }

        let cookies: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .map(|(_, v)| v.clone())
            .collect();
        let session = cookie_in(&cookies, "JSESSIONID");
        st.seen.lock().unwrap().push(Seen {
            path: path.clone(),
            cookies: cookies.clone(),
            headers: headers.clone(),
        });

        let mut set = Vec::new();
        let multi = path.starts_with("/multi");
        let new_id = session.is_none().then(new_session_id);
        if multi {
            set.push("a=1; Path=/".to_string());
        }
        if let Some(id) = &new_id {
            st.issued.lock().unwrap().push(id.clone());
            set.push(if multi {
                format!("JSESSIONID={id}; Path=/; HttpOnly")
            } else {
                format!("JSESSIONID={id}; Path=/")
            });
        }
        if multi {
            set.push("OLDJSESSIONID=q; Path=/".to_string());
            set.push("b=2".to_string());
        }
        if path.starts_with("/setserverid") {
            set.push("SERVERID=anything; path=/".to_string());
        }
        let body = format!(
            "server={}\nsession={}\ncookie={}\n",
            st.name,
            session.or(new_id).unwrap_or_default(),
            if cookies.is_empty() {
                "<none>".to_string()
            } else {
                cookies.join(" | ")
            }
        );
        // Last-Modified makes the response cacheable: HAProxy 2.6's `nocache`
        // adds `Cache-control: private` only to cacheable responses.
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nX-Server: {}\r\nContent-Type: text/plain\r\n\
             Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
            st.name
        );
        for c in &set {
            resp += &format!("Set-Cookie: {c}\r\n");
        }
        resp += &format!("Content-Length: {}\r\n{conn_line}\r\n{body}", body.len());
        if bs.stream.write_all(resp.as_bytes()).is_err() || !keep {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `GET path` with an optional `Cookie` header on a fresh connection
/// (`Connection: close`); one response.
pub fn request(port: u16, path: &str, cookie: Option<&str>) -> Response {
    let (r, _) = exchange(
        port,
        &request_bytes(path, cookie, true),
        Duration::from_secs(5),
    );
    r
}

pub fn request_bytes(path: &str, cookie: Option<&str>, close: bool) -> Vec<u8> {
    let mut s = format!("GET {path} HTTP/1.1\r\nHost: test\r\n");
    if let Some(c) = cookie {
        s += &format!("Cookie: {c}\r\n");
    }
    if close {
        s += "Connection: close\r\n";
    }
    s += "\r\n";
    s.into_bytes()
}

/// Every `Set-Cookie` value of a response, in order.
pub fn set_cookies(r: &Response) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .collect()
}

/// The `Set-Cookie` values of a response for cookie `name`.
pub fn set_cookies_named(r: &Response, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    set_cookies(r)
        .into_iter()
        .filter(|c| c.starts_with(&prefix))
        .collect()
}

/// A unique request path, so each request can be found in the app that saw it.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("/{tag}/{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The request the applications saw for `path`: exactly one of them saw it.
pub fn seen_by(apps: &[&JavaApp], path: &str) -> (String, Seen) {
    let hits: Vec<(String, Seen)> = apps
        .iter()
        .filter_map(|a| a.seen_at(path).map(|s| (a.name().to_string(), s)))
        .collect();
    assert_eq!(hits.len(), 1, "{path} seen by {hits:?}");
    hits.into_iter().next().unwrap()
}

/// Requests without a cookie on fresh connections until every app answered
/// once; returns each app's first response (path `path_tag/...`).
pub fn first_contact(port: u16, apps: &[&JavaApp], path_tag: &str) -> HashMap<String, Response> {
    let mut first: HashMap<String, Response> = HashMap::new();
    for _ in 0..40 {
        let r = request(port, &unique(path_tag), None);
        assert_eq!(r.status, 200, "{}", r.text());
        first.entry(r.server()).or_insert(r);
        if apps.iter().all(|a| first.contains_key(a.name())) {
            return first;
        }
    }
    panic!(
        "not every server answered 40 requests: {:?}",
        first.keys().collect::<Vec<_>>()
    );
}

/// `server <name> 127.0.0.1:<port> cookie <value> <extra>`.
pub fn server_line(app: &JavaApp, value: &str, extra: &str) -> String {
    format!(
        "server {} 127.0.0.1:{} cookie {value} {extra}",
        app.name(),
        app.port()
    )
}

/// Two apps s1/s2 (`cookie s1`/`cookie s2`) behind `lines` (e.g. the `cookie` line).
pub fn farm(lines: &[&str], server_extra: &str) -> (JavaApp, JavaApp, Ringlb) {
    let s1 = JavaApp::start("s1", "/check");
    let s2 = JavaApp::start("s2", "/check");
    let mut cfg = ListenCfg::http(free_port());
    for l in lines {
        cfg = cfg.line(l);
    }
    let cfg = cfg
        .line(&server_line(&s1, "s1", server_extra))
        .line(&server_line(&s2, "s2", server_extra));
    let lb = Ringlb::start(&cfg.render());
    (s1, s2, lb)
}

/// Waits until ringlb's stderr has a line containing `needle`; returns the
/// time waited. Panics (with stderr) after `limit`.
pub fn wait_line(lb: &Ringlb, needle: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if lb.stderr().lines().any(|l| l.contains(needle)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "no line with {needle:?} within {limit:?}; stderr:\n{}",
            lb.stderr()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Requests per answering server for `n` requests on fresh connections.
pub fn spread_with_cookie(
    port: u16,
    path_tag: &str,
    cookie: Option<&str>,
    n: usize,
) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = request(port, &unique(path_tag), cookie);
        assert_eq!(r.status, 200, "{}", r.text());
        *seen.entry(r.server()).or_insert(0) += 1;
    }
    seen
}
