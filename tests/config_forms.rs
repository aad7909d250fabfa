//! Forms of HAProxy keywords found in real configurations that ringlb read
//! wrongly or refused (a sweep of common configs through `haproxy -c` and
//! `ringlb -c`, 2026-12-06), each driven through ringlb and through HAProxy
//! 2.6 on the same text: the clients must see the same.
//! `cookie ... attr` and several `domain`s in the Set-Cookie, `nocache`'s
//! `Cache-control: private` only on responses HAProxy deems cacheable,
//! `redirect` with its options before the destination (and `capture.req.uri`),
//! `OR` in capitals,
//! `init-addr last,...` without a state file, persistence keywords in a
//! frontend (ignored with a warning, as HAProxy).

mod common;

use common::{Ringlb, TcpBackend, free_port, same_as_haproxy};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// A server whose answer depends on the path: `/plain` none of the cache
/// headers, `/fresh` `Cache-Control: max-age=60`, `/public` `public,
/// max-age=60`, `/private` `private, max-age=60`, `/etag` an ETag,
/// `/moved` a 302 with max-age; every response closes.
fn server() -> TcpBackend {
    TcpBackend::start(|s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
        }
        let (status, extra) = match path.as_str() {
            "/fresh" => ("200 OK", "Cache-Control: max-age=60\r\n"),
            "/public" => ("200 OK", "Cache-Control: public, max-age=60\r\n"),
            "/private" => ("200 OK", "Cache-Control: private, max-age=60\r\n"),
            "/etag" => ("200 OK", "ETag: \"v1\"\r\n"),
            "/moved" => ("302 Found", "Cache-Control: max-age=60\r\nLocation: /x\r\n"),
            _ => ("200 OK", ""),
        };
        let mut s = s;
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok"
        );
    })
}

/// What the client saw: status, then the headers named in `keep` (name in
/// lower case, value), in order.
type Seen = (u16, Vec<(String, String)>);

fn seen(port: u16, method: &str, path: &str, keep: &[&str]) -> Seen {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n");
    let (r, _) = common::exchange(port, req.as_bytes(), Duration::from_secs(5));
    let headers = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| keep.contains(&n.as_str()))
        .collect();
    (r.status, headers)
}

/// The requests through ringlb, then through HAProxy (when installed) on the
/// same configuration: the same must come back; ringlb's answers.
fn through_both(cfg: impl Fn(u16) -> String, reqs: &[(&str, &str)], keep: &[&str]) -> Vec<Seen> {
    let look = |port| reqs.iter().map(|(m, p)| seen(port, m, p, keep)).collect();
    same_as_haproxy(&format!("{reqs:?}"), cfg, look)
}

#[test]
fn cookie_attr_and_domains_reach_the_set_cookie() {
    let srv = server();
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    \
                 cookie SRV insert indirect httponly secure domain .a.test domain .b.test \
                 attr SameSite=None attr Partitioned\n    server s1 127.0.0.1:{} cookie s1\n",
                srv.port
            )
        },
        &[("GET", "/plain")],
        &["set-cookie"],
    );
    assert_eq!(
        got[0].1,
        vec![(
            "set-cookie".to_string(),
            "SRV=s1; path=/; domain=.a.test; domain=.b.test; HttpOnly; Secure; SameSite=None; \
             Partitioned"
                .to_string()
        )]
    );
}

#[test]
fn nocache_marks_only_cacheable_responses_private() {
    let srv = server();
    let reqs = [
        ("GET", "/plain"),
        ("GET", "/fresh"),
        ("POST", "/fresh"),
        ("POST", "/public"),
        ("GET", "/private"),
        ("GET", "/etag"),
        ("GET", "/moved"),
    ];
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}listen l\n    bind 127.0.0.1:{port}\n    \
                 cookie SRV insert nocache\n    server s1 127.0.0.1:{} cookie s1\n",
                srv.port
            )
        },
        &reqs,
        &["cache-control"],
    );
    let marked: Vec<bool> = got
        .iter()
        .map(|(_, h)| h.iter().any(|(_, v)| v == "private"))
        .collect();
    assert_eq!(
        marked,
        [false, true, false, true, false, true, false],
        "{got:?}"
    );
}

#[test]
fn redirect_options_may_come_before_the_destination() {
    let got = through_both(
        |port| {
            format!(
                "{DEFAULTS}frontend f\n    bind 127.0.0.1:{port}\n    \
                 http-request redirect code 301 location https://www.example.com/new if {{ path /a }}\n    \
                 redirect code 308 drop-query prefix https://x.example.com if {{ path /b }}\n    \
                 http-request redirect location https://%[hdr(host)]%[capture.req.uri] \
                 if {{ path_beg /c }}\n    \
                 http-request return status 200 content-type text/plain string ok if {{ path /z }}\n"
            )
        },
        &[("GET", "/a"), ("GET", "/b?q=1"), ("GET", "/c/d?e=f")],
        &["location"],
    );
    assert_eq!(
        got,
        vec![
            (
                301,
                vec![("location".into(), "https://www.example.com/new".into())]
            ),
            (
                308,
                vec![("location".into(), "https://x.example.com/b".into())]
            ),
            (
                302,
                vec![("location".into(), "https://example.com/c/d?e=f".into())]
            ),
        ]
    );
}

#[test]
fn or_in_capitals_and_frontend_only_persistence_keywords() {
    let srv = server();
    let cfg = |port: u16| {
        format!(
            "{DEFAULTS}frontend f\n    bind 127.0.0.1:{port}\n    \
             http-request deny if {{ path_beg /a }} OR {{ path_beg /b }}\n    \
             force-persist if {{ path_beg /c }}\n    default_backend b\n\
             backend b\n    server s1 127.0.0.1:{} init-addr last,libc,none\n",
            srv.port
        )
    };
    let got = through_both(cfg, &[("GET", "/a"), ("GET", "/b"), ("GET", "/c")], &[]);
    let statuses: Vec<u16> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [403, 403, 200]);
    let lb = Ringlb::start(&cfg(free_port()));
    let warnings = lb.stderr();
    assert!(
        warnings
            .contains("'force-persist' ignored because frontend 'f' has no backend capability."),
        "{warnings}"
    );
}
