//! Cookie stickiness end to end, through the binary with 2 workers, in front of
//! a test application that behaves like a Java servlet container: a request
//! without a `JSESSIONID` cookie gets `Set-Cookie: JSESSIONID=<random id>;
//! Path=/`, and every request's `Cookie` headers are recorded exactly as the
//! application received them.
//!
//! - `prefix`: the id goes out as `<server>~<id>`, comes back to that server,
//!   and the application only ever sees `<id>`, also among other cookies in
//!   one `Cookie` header; among several `Set-Cookie` headers only the
//!   stickiness cookie is rewritten.
//! - `insert [indirect] [nocache]`: ringlb's own cookie is set once, follows the
//!   client, and is hidden from the application with `indirect` only.
//! - `rewrite`: the application's value is replaced by the server's.
//! - 1,000 fresh connections carrying one cookie all reach its server, whichever
//!   worker accepts them.
//! - A cookie naming a server that health checks took DOWN is balanced to a live
//!   server (and, in insert mode, re-issued), unless `option persist`; one
//!   naming a server whose port is closed is redispatched with `retries` +
//!   `option redispatch`.
//! - An unknown or forged value is balanced normally.
//! - The seed configuration's exact lines run the prefix flow.
//!
//! Check periods are 200 ms; every test ends within a few seconds.

mod common;

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    BufStream, HttpClient, ListenCfg, Response, Ringlb, TcpBackend, closed_port, connect, exchange,
    free_port, read_response,
};

/// The check period of the health-check tests.
const INTER: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------
// The test application
// ---------------------------------------------------------------------------

/// One request as the application saw it (health checks are not recorded).
#[derive(Debug, Clone)]
struct Seen {
    /// Request target.
    path: String,
    /// Every `Cookie` header value, exactly as received, in order.
    cookies: Vec<String>,
    /// Every header, in order.
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
struct JavaApp {
    state: Arc<AppState>,
    tcp: TcpBackend,
}

impl JavaApp {
    fn start(name: &str, check_path: &str) -> JavaApp {
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

    fn name(&self) -> &str {
        &self.state.name
    }

    fn port(&self) -> u16 {
        self.tcp.port
    }

    /// Requests other than checks served so far.
    fn served(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The request it received for `path`, if any (test paths are unique).
    fn seen_at(&self, path: &str) -> Option<Seen> {
        self.seen().into_iter().find(|s| s.path == path)
    }

    fn issued(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().clone()
    }

    fn set_check_status(&self, status: u16) {
        self.state.check_status.store(status, Ordering::SeqCst);
    }

    fn checks(&self) -> usize {
        self.state.checks.load(Ordering::SeqCst)
    }

    /// Waits (at most 5 s) until at least `n` checks have arrived.
    fn wait_checks(&self, n: usize) {
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
fn cookie_in(headers: &[String], name: &str) -> Option<String> {
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
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
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
fn request(port: u16, path: &str, cookie: Option<&str>) -> Response {
    let (r, _) = exchange(
        port,
        &request_bytes(path, cookie, true),
        Duration::from_secs(5),
    );
    r
}

fn request_bytes(path: &str, cookie: Option<&str>, close: bool) -> Vec<u8> {
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
fn set_cookies(r: &Response) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .collect()
}

/// The `Set-Cookie` values of a response for cookie `name`.
fn set_cookies_named(r: &Response, name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    set_cookies(r)
        .into_iter()
        .filter(|c| c.starts_with(&prefix))
        .collect()
}

/// A unique request path, so each request can be found in the app that saw it.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("/{tag}/{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The request the applications saw for `path`: exactly one of them saw it.
fn seen_by(apps: &[&JavaApp], path: &str) -> (String, Seen) {
    let hits: Vec<(String, Seen)> = apps
        .iter()
        .filter_map(|a| a.seen_at(path).map(|s| (a.name().to_string(), s)))
        .collect();
    assert_eq!(hits.len(), 1, "{path} seen by {hits:?}");
    hits.into_iter().next().unwrap()
}

/// Requests without a cookie on fresh connections until every app answered
/// once; returns each app's first response (path `path_tag/...`).
fn first_contact(port: u16, apps: &[&JavaApp], path_tag: &str) -> HashMap<String, Response> {
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
fn server_line(app: &JavaApp, value: &str, extra: &str) -> String {
    format!(
        "server {} 127.0.0.1:{} cookie {value} {extra}",
        app.name(),
        app.port()
    )
}

/// Two apps s1/s2 (`cookie s1`/`cookie s2`) behind `lines` (e.g. the `cookie` line).
fn farm(lines: &[&str], server_extra: &str) -> (JavaApp, JavaApp, Ringlb) {
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
fn wait_line(lb: &Ringlb, needle: &str, limit: Duration) -> Duration {
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
fn spread(port: u16, path_tag: &str, cookie: Option<&str>, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = request(port, &unique(path_tag), cookie);
        assert_eq!(r.status, 200, "{}", r.text());
        *seen.entry(r.server()).or_insert(0) += 1;
    }
    seen
}

// ---------------------------------------------------------------------------
// 1. The test application itself
// ---------------------------------------------------------------------------

#[test]
fn test_application_issues_a_session_and_records_the_cookie_it_gets() {
    let app = JavaApp::start("s1", "/check");
    let mut c = HttpClient::connect(app.port());
    let r = c.request(&request_bytes("/login", None, false));
    assert_eq!(r.server(), "s1");
    let set = set_cookies(&r);
    assert_eq!(set.len(), 1, "{set:?}");
    let id = app.issued()[0].clone();
    assert_eq!(set[0], format!("JSESSIONID={id}; Path=/"));
    assert_eq!(id.len(), 32);
    assert!(r.text().starts_with("server=s1\n"), "{}", r.text());

    // Same keep-alive connection: the session is read back, no new cookie.
    let sent = format!("a=1; JSESSIONID={id}");
    let r = c.request(&request_bytes("/again", Some(&sent), false));
    assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
    assert!(
        r.text().contains(&format!("session={id}\n")),
        "{}",
        r.text()
    );
    assert_eq!(app.seen_at("/again").unwrap().cookies, vec![sent]);
    assert_eq!(app.issued().len(), 1);
    assert_eq!(app.tcp.accepted(), 1, "keep-alive: one connection");

    let r = request(app.port(), "/multi/x", None);
    let id = app.issued()[1].clone();
    assert_eq!(
        set_cookies(&r),
        [
            "a=1; Path=/".to_string(),
            format!("JSESSIONID={id}; Path=/; HttpOnly"),
            "OLDJSESSIONID=q; Path=/".into(),
            "b=2".into()
        ]
    );
    let r = request(app.port(), "/setserverid/x", Some("JSESSIONID=k"));
    assert_eq!(set_cookies(&r), ["SERVERID=anything; path=/"]);

    app.set_check_status(500);
    assert_eq!(request(app.port(), "/check", None).status, 500);
    assert_eq!(app.checks(), 1);
    assert_ne!(app.issued()[0], app.issued()[1], "ids are random");
}

// ---------------------------------------------------------------------------
// 2. prefix
// ---------------------------------------------------------------------------

#[test]
fn prefix_first_response_names_the_server_and_the_app_never_sees_the_prefix() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "login");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        let set = set_cookies(r);
        assert_eq!(set.len(), 1, "{set:?}");
        let (value, attrs) = set[0].split_once(';').unwrap();
        let id = value
            .strip_prefix(&format!("JSESSIONID={name}~"))
            .unwrap_or_else(|| panic!("{name}: Set-Cookie {:?} lacks the prefix", set[0]));
        assert_eq!(attrs, " Path=/", "attributes kept: {:?}", set[0]);
        assert!(
            app.issued().contains(&id.to_string()),
            "{id} not from {name}"
        );
        let client_cookie = format!("JSESSIONID={name}~{id}");

        // Back on fresh connections: the same server, the bare id.
        for _ in 0..5 {
            let path = unique("fresh");
            let r = request(lb.port(), &path, Some(&client_cookie));
            assert_eq!(r.server(), name, "{client_cookie} went elsewhere");
            assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
            let (who, seen) = seen_by(&apps, &path);
            assert_eq!(who, name);
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
            assert!(
                r.text().contains(&format!("session={id}\n")),
                "{}",
                r.text()
            );
        }
        // And several times on one keep-alive connection.
        let mut c = HttpClient::connect(lb.port());
        for _ in 0..3 {
            let path = unique("keepalive");
            let r = c.request(&request_bytes(&path, Some(&client_cookie), false));
            assert_eq!(r.server(), name);
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
        }
    }
    for app in apps {
        for seen in app.seen() {
            assert!(
                seen.cookies.iter().all(|c| !c.contains('~')),
                "{} saw a prefix: {seen:?}",
                app.name()
            );
        }
    }
}

#[test]
fn prefix_strips_only_the_sticky_cookie_among_several_in_one_header() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let apps = [&s1, &s2];
    let cases = [
        (
            "a=1; JSESSIONID=s2~xyz; b=2",
            "s2",
            "a=1; JSESSIONID=xyz; b=2",
        ),
        ("JSESSIONID=s1~xyz; b=2", "s1", "JSESSIONID=xyz; b=2"),
        ("a=1; JSESSIONID=s2~x~y", "s2", "a=1; JSESSIONID=x~y"),
        (
            "OLDJSESSIONID=s1~q; JSESSIONID=s2~xyz",
            "s2",
            "OLDJSESSIONID=s1~q; JSESSIONID=xyz",
        ),
    ];
    for (sent, server, want) in cases {
        // Several fresh connections: both workers, and no luck of the rotation.
        for _ in 0..6 {
            let path = unique("multi-cookie");
            let r = request(lb.port(), &path, Some(sent));
            assert_eq!(r.status, 200);
            assert_eq!(r.server(), server, "{sent}");
            let (who, seen) = seen_by(&apps, &path);
            assert_eq!(who, server);
            assert_eq!(seen.cookies, [want], "sent {sent:?}");
        }
    }
}

#[test]
fn prefix_rewrites_only_jsessionid_among_several_set_cookie_headers() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "multi");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        let id = app.issued()[0].clone();
        assert_eq!(
            set_cookies(r),
            [
                "a=1; Path=/".to_string(),
                format!("JSESSIONID={name}~{id}; Path=/; HttpOnly"),
                "OLDJSESSIONID=q; Path=/".into(),
                "b=2".into()
            ],
            "{name}"
        );
        // The cookie the browser now holds leads back, unprefixed for the app.
        let path = unique("multi-back");
        let r = request(
            lb.port(),
            &path,
            Some(&format!(
                "a=1; JSESSIONID={name}~{id}; OLDJSESSIONID=q; b=2"
            )),
        );
        assert_eq!(r.server(), name);
        let (_, seen) = seen_by(&apps, &path);
        assert_eq!(
            seen.cookies,
            [format!("a=1; JSESSIONID={id}; OLDJSESSIONID=q; b=2")]
        );
    }
}

// ---------------------------------------------------------------------------
// 3. insert
// ---------------------------------------------------------------------------

#[test]
fn insert_indirect_nocache_sets_the_cookie_once_and_hides_it_from_the_app() {
    let (s1, s2, lb) = farm(&["cookie SERVERID insert indirect nocache"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "first");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        assert_eq!(
            set_cookies_named(r, "SERVERID"),
            [format!("SERVERID={name}; path=/")]
        );
        assert_eq!(
            r.header("cache-control"),
            Some("private"),
            "{:?}",
            r.headers
        );
        // The application's own cookie passes untouched.
        let id = app.issued()[0].clone();
        assert_eq!(
            set_cookies_named(r, "JSESSIONID"),
            [format!("JSESSIONID={id}; Path=/")]
        );

        // The browser sends both back: same server, nothing set again, and
        // the application sees only its own cookie.
        let both = format!("SERVERID={name}; JSESSIONID={id}");
        for _ in 0..5 {
            let path = unique("back");
            let r = request(lb.port(), &path, Some(&both));
            assert_eq!(r.server(), name, "{both}");
            assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
            assert_eq!(r.header("cache-control"), None, "{:?}", r.headers);
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
        }
        // Our cookie alone: the Cookie header disappears altogether.
        let path = unique("alone");
        let r = request(lb.port(), &path, Some(&format!("SERVERID={name}")));
        assert_eq!(r.server(), name);
        assert!(
            set_cookies_named(&r, "SERVERID").is_empty(),
            "{:?}",
            r.headers
        );
        let (_, seen) = seen_by(&apps, &path);
        assert!(seen.cookies.is_empty(), "{seen:?}");
    }
    for app in apps {
        assert!(
            app.seen()
                .iter()
                .all(|s| s.cookies.iter().all(|c| !c.contains("SERVERID"))),
            "{} saw SERVERID",
            app.name()
        );
    }
}

#[test]
fn insert_without_indirect_lets_the_app_see_the_cookie() {
    let (s1, s2, lb) = farm(&["cookie SERVERID insert"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "first");
    for app in apps {
        let name = app.name();
        assert_eq!(
            set_cookies_named(&first[name], "SERVERID"),
            [format!("SERVERID={name}; path=/")]
        );
        assert_eq!(first[name].header("cache-control"), None, "no nocache");
        let sent = format!("SERVERID={name}; JSESSIONID=abc");
        for _ in 0..5 {
            let path = unique("back");
            let r = request(lb.port(), &path, Some(&sent));
            assert_eq!(r.server(), name);
            assert!(
                set_cookies_named(&r, "SERVERID").is_empty(),
                "{:?}",
                r.headers
            );
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(seen.cookies, std::slice::from_ref(&sent));
        }
    }
}

// ---------------------------------------------------------------------------
// 4. rewrite
// ---------------------------------------------------------------------------

#[test]
fn rewrite_replaces_the_apps_value_with_the_servers_and_sticks() {
    let (s1, s2, lb) = farm(&["cookie SERVERID rewrite"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "setserverid");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        assert_eq!(
            set_cookies_named(r, "SERVERID"),
            [format!("SERVERID={name}; path=/")],
            "{:?}",
            r.headers
        );
        let id = app.issued()[0].clone();
        assert_eq!(
            set_cookies_named(r, "JSESSIONID"),
            [format!("JSESSIONID={id}; Path=/")]
        );
        let sent = format!("SERVERID={name}; JSESSIONID={id}");
        for _ in 0..5 {
            let path = unique("back");
            let r = request(lb.port(), &path, Some(&sent));
            assert_eq!(r.server(), name);
            assert!(set_cookies(&r).is_empty(), "rewrite never inserts");
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(
                seen.cookies,
                std::slice::from_ref(&sent),
                "rewrite leaves requests alone"
            );
        }
        // The app sets it again: rewritten again.
        let r = request(lb.port(), &unique("setserverid-again"), Some(&sent));
        assert_eq!(r.server(), name);
        assert_eq!(set_cookies(&r), [format!("SERVERID={name}; path=/")]);
    }
}

// ---------------------------------------------------------------------------
// 5. 1,000 fresh connections, two workers
// ---------------------------------------------------------------------------

#[test]
fn sticky_cookie_holds_over_1000_fresh_connections_on_both_workers() {
    let s1 = JavaApp::start("s1", "/check");
    let s2 = JavaApp::start("s2", "/check");
    let cfg = ListenCfg::http(free_port())
        .line("cookie JSESSIONID prefix")
        .line(&server_line(&s1, "s1", ""))
        .line(&server_line(&s2, "s2", ""));
    // -d: ringlb names the worker of each request on stderr.
    let lb = Ringlb::start_with_args(&cfg.render(), &["-d"]);
    let port = lb.port();
    let req = request_bytes("/sticky", Some("a=1; JSESSIONID=s2~abc"), true);
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let req = req.clone();
            thread::spawn(move || {
                let mut wrong = Vec::new();
                for _ in 0..250 {
                    let mut s = connect(port);
                    s.write_all(&req).expect("write");
                    let mut bs = BufStream::new(s);
                    let r = read_response(&mut bs, false).expect("response");
                    if r.status != 200 || r.server() != "s2" {
                        wrong.push((r.status, r.server()));
                    }
                }
                wrong
            })
        })
        .collect();
    let wrong: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let took = start.elapsed();
    assert!(wrong.is_empty(), "{} went astray: {wrong:?}", wrong.len());
    assert_eq!(s1.served(), 0);
    let seen = s2.seen();
    assert_eq!(seen.len(), 1000);
    assert!(
        seen.iter().all(|s| s.cookies == ["a=1; JSESSIONID=abc"]),
        "the app saw a prefix"
    );
    assert!(
        took < Duration::from_secs(10),
        "1000 requests took {took:?}"
    );
    if common::binary() == common::RINGLB {
        let workers: HashSet<String> = lb
            .stderr()
            .lines()
            .filter(|l| l.contains(".clireq[w"))
            .filter_map(|l| l.split("clireq[").nth(1)?.split(']').next())
            .map(str::to_string)
            .collect();
        assert_eq!(workers.len(), 2, "requests reached workers {workers:?}");
    }
}

// ---------------------------------------------------------------------------
// 6. A server DOWN by health checks
// ---------------------------------------------------------------------------

/// The listen lines of a checked farm, with `cookie_line` and `extra`.
fn checked_farm(cookie_line: &str, extra: &[&str]) -> (JavaApp, JavaApp, Ringlb) {
    let mut lines = vec!["option httpchk GET /check", cookie_line];
    lines.extend_from_slice(extra);
    let (s1, s2, lb) = farm(&lines, "check inter 200 fall 2 rise 2");
    s1.wait_checks(1);
    s2.wait_checks(1);
    (s1, s2, lb)
}

/// Makes s1's check fail and waits for DOWN, timing it against fall x inter + inter.
fn take_s1_down(s1: &JavaApp, lb: &Ringlb) {
    let before = s1.checks();
    s1.set_check_status(500);
    let took = wait_line(lb, "Server test/s1 is DOWN", Duration::from_secs(3));
    assert!(
        took <= 2 * INTER + INTER,
        "DOWN after {took:?}, more than fall x inter + inter"
    );
    assert!(s1.checks() - before >= 2, "DOWN before fall checks");
}

#[test]
fn insert_cookie_for_a_down_server_is_balanced_and_reissued_then_sticks_again_when_up() {
    let (s1, s2, lb) = checked_farm("cookie SERVERID insert indirect nocache", &[]);
    let apps = [&s1, &s2];
    let r = request(lb.port(), &unique("up"), Some("SERVERID=s1"));
    assert_eq!(r.server(), "s1");
    assert!(set_cookies_named(&r, "SERVERID").is_empty());

    take_s1_down(&s1, &lb);
    let served = s1.served();
    for _ in 0..6 {
        let path = unique("down");
        let r = request(lb.port(), &path, Some("SERVERID=s1; JSESSIONID=abc"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.server(),
            "s2",
            "a cookie for a DOWN server must be ignored"
        );
        assert_eq!(
            set_cookies_named(&r, "SERVERID"),
            ["SERVERID=s2; path=/"],
            "{:?}",
            r.headers
        );
        assert_eq!(r.header("cache-control"), Some("private"));
        let (_, seen) = seen_by(&apps, &path);
        assert_eq!(seen.cookies, ["JSESSIONID=abc"]);
    }
    assert_eq!(s1.served(), served, "the DOWN server got requests");
    // With the new cookie the client stays on s2, nothing set again.
    let r = request(lb.port(), &unique("moved"), Some("SERVERID=s2"));
    assert_eq!(r.server(), "s2");
    assert!(set_cookies_named(&r, "SERVERID").is_empty());

    s1.set_check_status(200);
    let took = wait_line(&lb, "Server test/s1 is UP", Duration::from_secs(3));
    assert!(took <= 2 * INTER + INTER, "UP after {took:?}");
    for _ in 0..4 {
        let r = request(lb.port(), &unique("back-up"), Some("SERVERID=s1"));
        assert_eq!(r.server(), "s1", "an UP server's cookie sticks again");
        assert!(set_cookies_named(&r, "SERVERID").is_empty());
    }
}

#[test]
fn prefix_cookie_for_a_down_server_reaches_the_other_with_the_bare_id() {
    let (s1, s2, lb) = checked_farm("cookie JSESSIONID prefix", &[]);
    let apps = [&s1, &s2];
    // A real session on s1 first.
    let first = first_contact(lb.port(), &apps, "login");
    let id = s1.issued()[0].clone();
    assert_eq!(
        set_cookies(&first["s1"]),
        [format!("JSESSIONID=s1~{id}; Path=/")]
    );
    let cookie = format!("JSESSIONID=s1~{id}");

    take_s1_down(&s1, &lb);
    let served = s1.served();
    for _ in 0..6 {
        let path = unique("down");
        let r = request(lb.port(), &path, Some(&cookie));
        assert_eq!(r.status, 200);
        assert_eq!(r.server(), "s2");
        let (who, seen) = seen_by(&apps, &path);
        assert_eq!(who, "s2");
        assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
    }
    assert_eq!(s1.served(), served);
}

#[test]
fn option_persist_follows_the_cookie_to_a_down_server() {
    let (s1, s2, lb) = checked_farm(
        "cookie SERVERID insert indirect nocache",
        &["option persist"],
    );
    take_s1_down(&s1, &lb);
    let served = s1.served();
    for _ in 0..5 {
        let r = request(lb.port(), &unique("persist"), Some("SERVERID=s1"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.server(),
            "s1",
            "option persist: the cookie wins over DOWN"
        );
        assert!(
            set_cookies_named(&r, "SERVERID").is_empty(),
            "{:?}",
            r.headers
        );
    }
    assert_eq!(s1.served(), served + 5);
    // Without the cookie, the DOWN server gets nothing.
    let seen = spread(lb.port(), "no-cookie", None, 10);
    assert_eq!(seen.get("s2"), Some(&10), "{seen:?}");
    assert_eq!(s2.served(), 10);
}

// ---------------------------------------------------------------------------
// 7. redispatch
// ---------------------------------------------------------------------------

/// s1 on a closed port (no check), s2 a live app; `cookie_line` and `extra`.
fn dead_s1_farm(cookie_line: &str, extra: &[&str]) -> (JavaApp, Ringlb) {
    let s2 = JavaApp::start("s2", "/check");
    let mut cfg = ListenCfg::http(free_port())
        .line("retries 1")
        .line(cookie_line);
    for l in extra {
        cfg = cfg.line(l);
    }
    let cfg = cfg
        .line(&format!("server s1 127.0.0.1:{} cookie s1", closed_port()))
        .line(&server_line(&s2, "s2", ""));
    let lb = Ringlb::start(&cfg.render());
    (s2, lb)
}

#[test]
fn redispatch_serves_a_cookie_for_an_unreachable_server_elsewhere() {
    let (s2, lb) = dead_s1_farm(
        "cookie SERVERID insert indirect nocache",
        &["option redispatch"],
    );
    for _ in 0..5 {
        let r = request(lb.port(), &unique("redispatch"), Some("SERVERID=s1"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.server(), "s2");
        assert_eq!(
            set_cookies_named(&r, "SERVERID"),
            ["SERVERID=s2; path=/"],
            "the cookie follows the redispatch: {:?}",
            r.headers
        );
    }
    assert_eq!(s2.served(), 5);

    // Prefix mode: the retry reaches s2 and the app still sees the bare id.
    let (s2, lb) = dead_s1_farm("cookie JSESSIONID prefix", &["option redispatch"]);
    let path = unique("redispatch-prefix");
    let r = request(lb.port(), &path, Some("JSESSIONID=s1~abc"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.server(), "s2");
    assert_eq!(s2.seen_at(&path).unwrap().cookies, ["JSESSIONID=abc"]);
}

#[test]
fn without_redispatch_a_cookie_for_an_unreachable_server_gets_503() {
    let (s2, lb) = dead_s1_farm("cookie SERVERID insert indirect nocache", &[]);
    let r = request(lb.port(), &unique("no-redispatch"), Some("SERVERID=s1"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(s2.served(), 0);
}

// ---------------------------------------------------------------------------
// 8. Unknown or forged values
// ---------------------------------------------------------------------------

#[test]
fn unknown_or_forged_values_are_balanced_normally() {
    // insert: balanced, the app never sees the forged cookie, and the client
    // gets the real one.
    let (s1, s2, lb) = farm(&["cookie SERVERID insert indirect nocache"], "");
    let apps = [&s1, &s2];
    let mut seen = HashMap::new();
    for _ in 0..20 {
        let path = unique("forged-insert");
        let r = request(lb.port(), &path, Some("SERVERID=zz; JSESSIONID=abc"));
        assert_eq!(r.status, 200);
        let name = r.server();
        assert_eq!(
            set_cookies_named(&r, "SERVERID"),
            [format!("SERVERID={name}; path=/")]
        );
        let (_, s) = seen_by(&apps, &path);
        assert_eq!(s.cookies, ["JSESSIONID=abc"]);
        *seen.entry(name).or_insert(0) += 1;
    }
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
    drop(lb);

    // prefix without a prefix: balanced, and the app sees it as sent.
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let seen = prefix_spread(
        &lb,
        &[&s1, &s2],
        "a=1; JSESSIONID=abc",
        "a=1; JSESSIONID=abc",
    );
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
    drop(lb);

    // rewrite: balanced too.
    let (_s1, _s2, lb) = farm(&["cookie SERVERID rewrite"], "");
    let seen = spread(lb.port(), "forged-rewrite", Some("SERVERID=zz"), 20);
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
}

/// Sends `sent` 20 times on fresh connections; asserts the app saw `want`
/// each time; returns the requests per server.
fn prefix_spread(lb: &Ringlb, apps: &[&JavaApp], sent: &str, want: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..20 {
        let path = unique("forged-prefix");
        let r = request(lb.port(), &path, Some(sent));
        assert_eq!(r.status, 200);
        let (who, s) = seen_by(apps, &path);
        assert_eq!(s.cookies, [want], "sent {sent:?}");
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

/// A forged prefix is balanced normally, and, as HAProxy (1.3 to 2.6) does,
/// everything up to the first `~` is stripped whether or not the prefix names
/// a server: the application sees its own id (say, after the servers' cookie
/// values changed in the configuration).
#[test]
fn prefix_forged_value_is_balanced_and_stripped_like_haproxy() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let seen = prefix_spread(&lb, &[&s1, &s2], "JSESSIONID=zz~abc", "JSESSIONID=abc");
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
}

// ---------------------------------------------------------------------------
// 9. The seed configuration
// ---------------------------------------------------------------------------

#[test]
fn seed_config_lines_run_the_prefix_flow() {
    let one = JavaApp::start("xvadm01", "/l7check.html");
    let two = JavaApp::start("xvadm02", "/l7check.html");
    let apps = [&one, &two];
    let port = free_port();
    // configs/seed-webfarm.cfg as shipped, on test ports, with 2 workers.
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/seed-webfarm.cfg"
    ))
    .expect("read the seed config");
    for line in [
        "    cookie SERVERID rewrite\n    cookie JSESSIONID prefix\n",
        "    option httpclose\n",
        "    option forwardfor\n",
        " cookie admin_portal_1 ",
        " cookie admin_portal_2 ",
    ] {
        assert!(seed.contains(line), "the seed config lacks {line:?}");
    }
    let mut cfg = seed
        .replacen("global\n", "global\n    nbthread 2\n", 1)
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", one.port()))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", two.port()));
    if common::binary() != common::RINGLB {
        // HAProxy 2.x refuses the address on the `listen` line (ringlb warns).
        let listen = format!("listen webfarm 127.0.0.1:{port}\n");
        assert!(cfg.contains(&listen), "{cfg}");
        cfg = cfg.replace(
            &listen,
            &format!("listen webfarm\n    bind 127.0.0.1:{port}\n"),
        );
    }
    let lb = Ringlb::start(&cfg);
    assert_eq!(lb.port(), port);

    let value = |app: &JavaApp| {
        if app.name() == "xvadm01" {
            "admin_portal_1"
        } else {
            "admin_portal_2"
        }
    };
    let first = first_contact(port, &apps, "login");
    for app in apps {
        let r = &first[app.name()];
        assert!(r.says_close(), "option httpclose: {:?}", r.headers);
        let id = app.issued()[0].clone();
        let v = value(app);
        assert_eq!(set_cookies(r), [format!("JSESSIONID={v}~{id}; Path=/")]);

        for _ in 0..4 {
            let path = unique("again");
            let r = request(port, &path, Some(&format!("JSESSIONID={v}~{id}")));
            assert_eq!(r.server(), app.name());
            assert!(
                r.text().contains(&format!("cookie=JSESSIONID={id}\n")),
                "{}",
                r.text()
            );
            let (who, seen) = seen_by(&apps, &path);
            assert_eq!(who, app.name());
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
            assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
            assert_eq!(seen.header("connection"), Some("close"));
        }
    }
    // The last `cookie` line wins: SERVERID is not rewritten.
    let r = request(
        port,
        &unique("setserverid"),
        Some("JSESSIONID=admin_portal_2~k"),
    );
    assert_eq!(r.server(), "xvadm02");
    assert_eq!(set_cookies(&r), ["SERVERID=anything; path=/"]);
}
