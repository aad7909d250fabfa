//! HTTP rules end to end (`http-request`, `http-response`,
//! `http-after-response`, `redirect`), through ringlb and HAProxy 2.6 on the
//! same configuration text with the same requests: a config in the style of
//! real ones (an /api split with a path rewrite, a tenant header from a
//! 10,000-line map, a deny list of networks from a file, header rewrites both
//! ways, redirects, return and deny pages, an auth challenge, variables
//! carried from request to response). Compared: the status, the response
//! headers that matter, local bodies, and the headers each backend saw.
//!
//! Deliberate differences, not compared: ringlb keeps the case of header
//! names and writes `Content-Length` after the other headers, where HAProxy
//! lower-cases names and keeps the position (both are equivalent in HTTP).

mod common;

use common::{Haproxy, HttpBackend, HttpClient, Ringlb, TestDir, free_port};

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n    timeout tarpit 100ms\n";

/// The frontend and backends; `dir` holds the map and deny list.
fn config(port: u16, dir: &TestDir, web: &HttpBackend, api: &HttpBackend) -> String {
    let mut map = String::new();
    for i in 0..10_000 {
        map.push_str(&format!("host{i}.example tenant{i}\n"));
    }
    let map = dir.write("hosts.map", &map);
    let deny = dir.write(
        "deny.lst",
        "# internal networks\n10.0.0.0/8\n192.168.0.0/16\n",
    );
    format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
         \x20   acl is_api path_beg /api/\n\
         \x20   acl blocked src -f {deny}\n\
         \x20   http-request deny if blocked\n\
         \x20   http-request deny deny_status 429 if {{ path /slow-down }}\n\
         \x20   http-request deny status 400 content-type text/plain string nope hdr X-Why rules if {{ path /nope }}\n\
         \x20   http-request return status 200 content-type text/plain lf-string \"pong %[path]\" hdr X-Pong 1 if {{ path_beg /ping }}\n\
         \x20   http-request return status 204 if {{ path /empty }}\n\
         \x20   http-request auth realm Staff if {{ path_beg /staff }}\n\
         \x20   http-request redirect scheme https code 301 if {{ path /secure }}\n\
         \x20   http-request redirect prefix /new drop-query if {{ path_beg /old/ }}\n\
         \x20   http-request set-var(txn.host) req.hdr(host),lower\n\
         \x20   http-request set-header X-Tenant %[req.hdr(host),lower,map({map},unknown)]\n\
         \x20   http-request set-header X-Forwarded-Proto http\n\
         \x20   http-request add-header X-Client %[src]\n\
         \x20   http-request del-header X-Internal\n\
         \x20   http-request replace-header User-Agent (.*)bot(.*) \\1robot\\2\n\
         \x20   http-request replace-path /api/(.*) /v2/\\1 if is_api\n\
         \x20   http-request set-query debug=1 if {{ path /q }}\n\
         \x20   http-request set-method POST if {{ path /m }}\n\
         \x20   http-response set-header X-Host %[var(txn.host)]\n\
         \x20   http-response del-header Server\n\
         \x20   http-after-response set-header X-After done\n\
         \x20   redirect location /moved code 302 set-cookie seen=1 if {{ path /kw }}\n\
         \x20   use_backend api if {{ path_beg /v2/ }}\n\
         \x20   default_backend web\n\
         backend web\n    server w1 127.0.0.1:{}\n\
         backend api\n    http-request set-header X-Backend api\n\
         \x20   http-response set-status 202 if {{ status 200 }}\n\
         \x20   http-response replace-value Cache-Control (.*) private\n\
         \x20   server a1 127.0.0.1:{}\n",
        web.port(),
        api.port(),
        map = map.display(),
        deny = deny.display(),
    )
}

/// Which backend answered, the request line it saw, and its chosen headers.
type BackendView = (String, String, Vec<(String, String)>);

/// What one request produced: the client's view and the backend's view.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    backend: Option<BackendView>,
}

const RESPONSE_HEADERS: &[&str] = &[
    "location",
    "set-cookie",
    "cache-control",
    "content-type",
    "www-authenticate",
    "x-why",
    "x-pong",
    "x-host",
    "x-after",
    "server",
    "x-served-by",
];

const BACKEND_HEADERS: &[&str] = &[
    "host",
    "x-tenant",
    "x-forwarded-proto",
    "x-client",
    "x-internal",
    "user-agent",
    "x-backend",
];

/// The requests: (method, target, Host, extra header lines).
const REQUESTS: &[(&str, &str, &str, &str)] = &[
    (
        "GET",
        "/",
        "host42.example",
        "X-Internal: secret\r\nUser-Agent: googlebot/2.1\r\n",
    ),
    ("GET", "/api/users?id=7", "HOST9999.example", ""),
    ("GET", "/other", "nowhere.example", ""),
    ("GET", "/slow-down", "h", ""),
    ("GET", "/nope", "h", ""),
    ("GET", "/ping/me", "h", ""),
    ("GET", "/empty", "h", ""),
    ("GET", "/staff/x", "h", ""),
    ("GET", "/secure", "shop.example", ""),
    ("GET", "/old/page?x=1", "h", ""),
    ("GET", "/kw", "h", ""),
    ("GET", "/q?a=b", "h", ""),
    ("GET", "/m", "h", ""),
];

fn pick(headers: &[(String, String)], names: &[&str]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| names.contains(&n.to_ascii_lowercase().as_str()))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    v.sort();
    v
}

/// Sends every request on one keep-alive connection (ringlb and HAProxy
/// keep it after their own answers) and records what each side saw.
fn run(port: u16, web: &HttpBackend, api: &HttpBackend) -> Vec<Seen> {
    let mut c = HttpClient::connect(port);
    let mut out = Vec::new();
    for &(method, target, host, extra) in REQUESTS {
        let (nw, na) = (web.request_count(), api.request_count());
        let r = c.request(
            format!(
                "{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        );
        let backend = if web.request_count() > nw {
            Some(("web", web.last()))
        } else if api.request_count() > na {
            Some(("api", api.last()))
        } else {
            None
        };
        let local = backend.is_none();
        out.push(Seen {
            status: r.status,
            headers: pick(&r.headers, RESPONSE_HEADERS),
            body: if local { r.text() } else { String::new() },
            backend: backend.map(|(name, got)| {
                (
                    name.to_string(),
                    format!("{} {}", got.method, got.path),
                    pick(&got.headers, BACKEND_HEADERS),
                )
            }),
        });
        if r.says_close() {
            c = HttpClient::connect(port);
        }
    }
    out
}

fn check(seen: &[Seen]) {
    let by = |t: &str| &seen[REQUESTS.iter().position(|r| r.1 == t).unwrap()];
    let root = by("/");
    let (name, line, hs) = root.backend.as_ref().unwrap();
    assert_eq!((name.as_str(), line.as_str()), ("web", "GET /"));
    assert!(
        hs.contains(&("x-tenant".into(), "tenant42".into())),
        "{hs:?}"
    );
    assert!(
        hs.contains(&("user-agent".into(), "googlerobot/2.1".into())),
        "{hs:?}"
    );
    assert!(!hs.iter().any(|(n, _)| n == "x-internal"), "{hs:?}");
    assert!(
        root.headers
            .contains(&("x-host".into(), "host42.example".into()))
    );
    assert!(root.headers.contains(&("x-after".into(), "done".into())));
    assert!(!root.headers.iter().any(|(n, _)| n == "server"));
    let api = by("/api/users?id=7");
    assert_eq!(api.status, 202);
    let (name, line, hs) = api.backend.as_ref().unwrap();
    assert_eq!(
        (name.as_str(), line.as_str()),
        ("api", "GET /v2/users?id=7")
    );
    assert!(
        hs.contains(&("x-tenant".into(), "tenant9999".into())),
        "{hs:?}"
    );
    assert!(hs.contains(&("x-backend".into(), "api".into())), "{hs:?}");
    assert_eq!(by("/slow-down").status, 429);
    assert_eq!(
        (by("/nope").status, by("/nope").body.as_str()),
        (400, "nope")
    );
    assert_eq!(
        (by("/ping/me").status, by("/ping/me").body.as_str()),
        (200, "pong /ping/me")
    );
    assert_eq!(by("/empty").status, 204);
    assert_eq!(by("/staff/x").status, 401);
    assert!(
        by("/secure")
            .headers
            .contains(&("location".into(), "https://shop.example/secure".into()))
    );
    assert!(
        by("/old/page?x=1")
            .headers
            .contains(&("location".into(), "/new/old/page".into()))
    );
    assert!(
        by("/kw")
            .headers
            .contains(&("set-cookie".into(), "seen=1; path=/;".into()))
    );
    assert_eq!(by("/q?a=b").backend.as_ref().unwrap().1, "GET /q?debug=1");
    assert_eq!(by("/m").backend.as_ref().unwrap().1, "POST /m");
}

#[test]
fn rules_rewrite_route_and_answer_as_haproxy_does() {
    let dir = TestDir::new("http-rules");
    let web = HttpBackend::start("web");
    let api = HttpBackend::start("api");
    let port = free_port();
    let lb = Ringlb::start(&config(port, &dir, &web, &api));
    let ours = run(port, &web, &api);
    drop(lb);
    check(&ours);
    let hport = free_port();
    let Some(_hp) = Haproxy::start(&config(hport, &dir, &web, &api), hport) else {
        return;
    };
    let theirs = run(hport, &web, &api);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "request {:?}: ringlb vs HAProxy", REQUESTS[i]);
    }
}

#[test]
fn denied_networks_from_a_file_and_rewrites_that_would_inject_bytes() {
    let dir = TestDir::new("http-rules-deny");
    let web = HttpBackend::start("web");
    let port = free_port();
    let deny = dir.write("deny.lst", "127.0.0.0/8\n");
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
         \x20   http-request deny if {{ src -f {} }} !{{ path /open }}\n\
         \x20   http-request set-header X-Echo %[url_param(v)] if {{ path /open }}\n\
         \x20   default_backend web\n\
         backend web\n    server w1 127.0.0.1:{}\n",
        deny.display(),
        web.port()
    );
    let _lb = Ringlb::start(&cfg);
    let mut c = HttpClient::connect(port);
    let r = c.get("/x");
    assert_eq!(r.status, 403);
    assert_eq!(web.request_count(), 0, "a denied request reaches no server");
    // The connection is kept after a deny, as HAProxy keeps it.
    let r = c.get("/open?v=a");
    assert_eq!(r.status, 200);
    assert_eq!(web.last().header("x-echo"), Some("a"));
}

/// The 1.4-era filters HAProxy 2.x refuses run as 1.4 documented them (no
/// oracle: HAProxy 2.6 rejects these lines), each with a warning at load.
#[test]
fn legacy_filters_run_as_haproxy_1_4_did() {
    let web = HttpBackend::start("web");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}listen app\n    bind 127.0.0.1:{port}\n\
         \x20   acl bad_path path_beg /admin\n\
         \x20   block if bad_path\n\
         \x20   reqirep ^Host:\\ www\\.(.*) Host:\\ \\1\n\
         \x20   reqrep ^(GET)\\ /old/(.*) \\1\\ /new/\\2\n\
         \x20   reqadd X-Legacy:\\ yes\n\
         \x20   reqidel ^X-Secret:\n\
         \x20   reqideny ^User-Agent:.*evil\n\
         \x20   rspidel ^Content-Type:\n\
         \x20   rsprep ^X-Server:\\ (.*) X-Served-By:\\ node-\\1\n\
         \x20   rspadd X-Frame-Options:\\ DENY\n\
         \x20   server w1 127.0.0.1:{}\n",
        web.port()
    );
    let lb = Ringlb::start(&cfg);
    let warnings = lb.stderr();
    for kw in ["block", "reqirep", "reqrep", "reqadd", "rspidel"] {
        assert!(
            warnings.contains(&format!("'{kw}' was removed in HAProxy 2.1")),
            "{kw}: {warnings}"
        );
    }
    let mut c = HttpClient::connect(port);
    let r = c.request(
        b"GET /old/page HTTP/1.1\r\nHost: www.example.com\r\nX-Secret: s\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let got = web.last();
    assert_eq!(got.path, "/new/page");
    assert_eq!(got.header("host"), Some("example.com"));
    assert_eq!(got.header("x-legacy"), Some("yes"));
    assert_eq!(got.header("x-secret"), None);
    assert_eq!(r.header("content-type"), None);
    assert_eq!(r.header("x-server"), None);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-served-by"), Some("node-web"));
    let n = web.request_count();
    let r = c.request(b"GET /admin HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 403);
    let r = c.request(b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: EvilBot\r\n\r\n");
    assert_eq!(r.status, 403);
    assert_eq!(web.request_count(), n, "blocked requests reach no server");
}

/// Map-based routing (`use_backend %[req.hdr(host),lower,map(...)]`) over a
/// 10,000-line map: a host in the map reaches its backend; a name no
/// backend has falls to `default_backend` (not to the next rule), as HAProxy.
#[test]
fn map_based_routing_over_ten_thousand_hosts() {
    let dir = TestDir::new("http-rules-map");
    let web = HttpBackend::start("web");
    let api = HttpBackend::start("api");
    let mut map = String::new();
    for i in 0..10_000 {
        let be = match i % 3 {
            0 => "be_web",
            1 => "be_api",
            _ => "be_gone",
        };
        map.push_str(&format!("site{i}.example {be}\n"));
    }
    let map = dir.write("vhosts.map", &map);
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   use_backend %[req.hdr(host),lower,map({},be_web)]\n\
             \x20   use_backend be_api if {{ path /never }}\n\
             \x20   default_backend be_api\n\
             backend be_web\n    server w1 127.0.0.1:{}\n\
             backend be_api\n    server a1 127.0.0.1:{}\n",
            map.display(),
            web.port(),
            api.port()
        )
    };
    let hosts = [
        ("site3.example", "web"),
        ("SITE4.example", "api"),
        ("site5.example", "api"),
        ("unknown.example", "web"),
        ("site9999.example", "web"),
    ];
    let probe = |port: u16| -> Vec<String> {
        let mut c = HttpClient::connect(port);
        hosts
            .iter()
            .map(|(h, _)| {
                c.request(format!("GET /never HTTP/1.1\r\nHost: {h}\r\n\r\n").as_bytes())
                    .server()
            })
            .collect()
    };
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    let ours = probe(port);
    drop(lb);
    let want: Vec<String> = hosts.iter().map(|(_, b)| b.to_string()).collect();
    assert_eq!(ours, want);
    let hport = free_port();
    if let Some(_hp) = Haproxy::start(&cfg(hport), hport) {
        assert_eq!(probe(hport), ours, "HAProxy routes the same way");
    }
}

/// `http-request auth` with a `userlist`: a challenge without valid
/// credentials, the request through with them, a group-only area; the same
/// answers from HAProxy 2.6.
#[test]
fn auth_with_userlists_as_haproxy() {
    let web = HttpBackend::start("web");
    let cfg = |port: u16| {
        format!(
            "userlist staff\n    group ops\n    user alice insecure-password s3cret groups ops\n\
             \x20   user bob insecure-password hunter2\n\
             {DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   http-request auth realm Staff unless {{ http_auth(staff) }}\n\
             \x20   http-request auth realm Ops if {{ path_beg /ops }} !{{ http_auth_group(staff) ops }}\n\
             \x20   http-request set-header X-User %[http_auth_user]\n\
             \x20   default_backend web\n\
             backend web\n    server w1 127.0.0.1:{}\n",
            web.port()
        )
    };
    // alice:s3cret, bob:hunter2, alice:wrong
    let cases = [
        ("/", None),
        ("/", Some("YWxpY2U6czNjcmV0")),
        ("/", Some("YWxpY2U6d3Jvbmc=")),
        ("/ops/x", Some("Ym9iOmh1bnRlcjI=")),
        ("/ops/x", Some("YWxpY2U6czNjcmV0")),
    ];
    let probe = |port: u16| -> Vec<(u16, Option<String>, Option<String>)> {
        let mut c = HttpClient::connect(port);
        cases
            .iter()
            .map(|(path, cred)| {
                let auth = cred.map_or(String::new(), |c| format!("Authorization: Basic {c}\r\n"));
                let n = web.request_count();
                let r =
                    c.request(format!("GET {path} HTTP/1.1\r\nHost: h\r\n{auth}\r\n").as_bytes());
                let user = (web.request_count() > n)
                    .then(|| web.last().header("x-user").map(String::from))
                    .flatten();
                (
                    r.status,
                    r.header("www-authenticate").map(String::from),
                    user,
                )
            })
            .collect()
    };
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    let ours = probe(port);
    drop(lb);
    let staff = Some("Basic realm=\"Staff\"".to_string());
    assert_eq!(ours[0], (401, staff.clone(), None));
    assert_eq!(ours[1], (200, None, Some("alice".into())));
    assert_eq!(ours[2], (401, staff, None));
    assert_eq!(ours[3], (401, Some("Basic realm=\"Ops\"".into()), None));
    assert_eq!(ours[4], (200, None, Some("alice".into())));
    let hport = free_port();
    if let Some(_hp) = Haproxy::start(&cfg(hport), hport) {
        assert_eq!(probe(hport), ours, "HAProxy answers the same");
    }
}

/// Response rules that replace the server's answer (`deny`, `return`,
/// `redirect`), chosen by a variable the request set, and
/// `http-after-response` on them; HAProxy 2.6 answers the same.
#[test]
fn response_rules_replace_the_answer_as_haproxy() {
    let web = HttpBackend::start("web");
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   http-request set-var(txn.p) path\n\
             \x20   http-response deny if {{ var(txn.p) -m str /deny }}\n\
             \x20   http-response return status 200 content-type text/plain string replaced if {{ var(txn.p) -m str /ret }}\n\
             \x20   http-response redirect location /elsewhere code 303 if {{ var(txn.p) -m str /redir }}\n\
             \x20   http-response set-status 299 reason Fine if {{ var(txn.p) -m str /status }}\n\
             \x20   http-after-response set-header X-After %[status]\n\
             \x20   default_backend web\n\
             backend web\n    server w1 127.0.0.1:{}\n",
            web.port()
        )
    };
    let paths = ["/deny", "/ret", "/redir", "/status", "/plain"];
    let probe = |port: u16| -> Vec<(u16, Option<String>, Option<String>, String)> {
        paths
            .iter()
            .map(|p| {
                let mut c = HttpClient::connect(port);
                let r = c.request(format!("GET {p} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
                let body = if *p == "/ret" {
                    r.text()
                } else {
                    String::new()
                };
                (
                    r.status,
                    r.header("location").map(String::from),
                    r.header("x-after").map(String::from),
                    body,
                )
            })
            .collect()
    };
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    let ours = probe(port);
    drop(lb);
    assert_eq!(ours[0].0, 502);
    assert_eq!(ours[1], (200, None, Some("200".into()), "replaced".into()));
    assert_eq!(ours[2].1.as_deref(), Some("/elsewhere"));
    assert_eq!(ours[3].0, 299);
    assert_eq!(ours[4].0, 200);
    let hport = free_port();
    if let Some(_hp) = Haproxy::start(&cfg(hport), hport) {
        assert_eq!(probe(hport), ours, "HAProxy answers the same");
    }
}

/// A rule's answer to HEAD carries no body (its length header stays), so the
/// next response on the connection is read whole, as from HAProxy.
#[test]
fn head_requests_get_the_head_of_a_rules_answer() {
    let web = HttpBackend::start("web");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
         \x20   http-request return status 200 content-type text/plain string pong if {{ path /ping }}\n\
         \x20   http-request deny if {{ path /no }}\n\
         \x20   default_backend web\n\
         backend web\n    server w1 127.0.0.1:{}\n",
        web.port()
    );
    let _lb = Ringlb::start(&cfg);
    let mut c = HttpClient::connect(port);
    let r = c.head("/ping");
    assert_eq!((r.status, r.header("content-length")), (200, Some("4")));
    assert!(r.body.is_empty());
    let r = c.head("/no");
    assert_eq!(r.status, 403);
    assert!(r.body.is_empty());
    let r = c.get("/ping");
    assert_eq!((r.status, r.text().as_str()), (200, "pong"));
}

/// `option originalto`: the address the client connected to, in
/// `X-Original-To` (or the header named), unless it is in the `except`
/// network; HAProxy adds the same header.
#[test]
fn originalto_adds_the_destination_as_haproxy() {
    let web = HttpBackend::start("web");
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    bind 127.0.0.2:{port}\n\
             \x20   option originalto except 127.0.0.2\n\
             \x20   default_backend web\n\
             backend web\n    option originalto header X-Dst\n    server w1 127.0.0.1:{}\n",
            web.port()
        )
    };
    let probe = |port: u16| -> Vec<(Option<String>, Option<String>)> {
        ["127.0.0.1", "127.0.0.2"]
            .iter()
            .map(|ip| {
                let s = std::net::TcpStream::connect((*ip, port)).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let mut c = HttpClient {
                    conn: common::BufStream::new(s),
                };
                c.request(b"GET / HTTP/1.1\r\nHost: h\r\nX-Original-To: client\r\n\r\n");
                let got = web.last();
                (got.joined("x-original-to"), got.joined("x-dst"))
            })
            .collect()
    };
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    let ours = probe(port);
    drop(lb);
    // The backend's header name wins; either's `except` keeps it out (HAProxy 2.6).
    assert_eq!(ours[0], (Some("client".into()), Some("127.0.0.1".into())));
    assert_eq!(ours[1], (Some("client".into()), None));
    let hport = free_port();
    if let Some(_hp) = Haproxy::start(&cfg(hport), hport) {
        assert_eq!(probe(hport), ours, "HAProxy adds the same");
    }
}

/// `option http-pretend-keepalive` with `http-server-close`: the server is
/// not told `Connection: close` (HAProxy sends none either) and ringlb
/// still opens a new server connection for the next request.
#[test]
fn pretend_keepalive_hides_the_close_from_the_server() {
    let web = HttpBackend::start("web");
    let cfg = |port: u16, pretend: &str| {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend web\n\
             backend web\n    option http-server-close\n{pretend}    server w1 127.0.0.1:{}\n",
            web.port()
        )
    };
    let probe = |port: u16| {
        let mut c = HttpClient::connect(port);
        let before = web.connections();
        c.get("/a");
        let first = web.last().header("connection").map(String::from);
        c.get("/b");
        (first, web.connections() - before)
    };
    for pretend in ["    option http-pretend-keepalive\n", ""] {
        let port = free_port();
        let lb = Ringlb::start(&cfg(port, pretend));
        let ours = probe(port);
        drop(lb);
        let want_header = if pretend.is_empty() {
            Some("close".to_string())
        } else {
            None
        };
        assert_eq!(ours, (want_header, 2), "{pretend:?}");
        let hport = free_port();
        if let Some(_hp) = Haproxy::start(&cfg(hport, pretend), hport) {
            assert_eq!(probe(hport), ours, "HAProxy: {pretend:?}");
        }
    }
}
