//! `http-check` rules end to end, differential against HAProxy 2.6: the same
//! configuration runs under HAProxy and under ringlb, each against its own
//! recording check servers; the raw check requests must be byte for byte the
//! same, and so must the `log-health-checks` lines and the server's state
//! in `show stat` (UP, DOWN, NOLB). Where HAProxy is not installed the
//! comparison is skipped and only ringlb's expected values are asserted.
//!
//! Checks run every 100 ms with `rise 1 fall 1`, so the first check decides.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Haproxy, Ringlb, TestDir, free_port, parse_stats_csv, run_cli, stats_command, stats_row,
};

#[path = "http_checks/harness.rs"]
mod harness;
use harness::*;

#[test]
fn option_httpchk_mixed_with_send_hdr_sends_the_same_bytes() {
    let seen = differential(
        &[OK_HELLO],
        &rules(
            " GET /health",
            &[
                "send hdr Host example.com hdr X-A v1 body abc",
                "expect status 200-299",
            ],
        ),
        &no_traffic,
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.first_requests[0]),
        "GET /health HTTP/1.0\r\nhost: example.com\r\nx-a: v1\r\ncontent-length: 3\r\n\r\nabc"
    );
    assert_eq!(seen.status, "UP");
}

#[test]
fn send_with_method_uri_version_headers_and_body() {
    let seen = differential(
        &[OK_HELLO],
        &rules(
            "",
            &["send meth POST uri /p?x=1 ver HTTP/1.1 hdr Host example.com body x=1"],
        ),
        &no_traffic,
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.first_requests[0]),
        "POST /p?x=1 HTTP/1.1\r\nhost: example.com\r\ncontent-length: 3\r\nconnection: close\r\n\r\nx=1"
    );
    assert_eq!(
        seen.check_line,
        check_line(
            "succeeded, reason: Layer7 check passed, code: 200, check duration: Nms, status: 1/1 UP."
        )
    );
}

#[test]
fn expect_status_range_against_a_503_goes_down() {
    let seen = differential(
        &[UNAVAILABLE],
        &rules("", &["expect status 200-299,302"]),
        &no_traffic,
    );
    assert_eq!(
        seen.check_line,
        check_line(
            "failed, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", \
             check duration: Nms, status: 0/1 DOWN."
        )
    );
    assert_eq!(seen.status, "DOWN");
}

#[test]
fn rstatus_and_negated_status() {
    let seen = differential(
        &[UNAVAILABLE],
        &rules("", &["expect rstatus ^5"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "UP");
    let seen = differential(
        &[UNAVAILABLE],
        &rules("", &["expect ! status 503"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "DOWN");
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect ! status 503"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "UP");
}

#[test]
fn string_and_rstring_on_the_body() {
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect string hello"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "UP");
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect string nomatch"]),
        &no_traffic,
    );
    assert_eq!(
        seen.check_line,
        check_line(
            "failed, reason: Layer7 invalid response, info: \"HTTP content check did not match\", \
             check duration: Nms, status: 0/1 DOWN."
        )
    );
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect ! rstring w.rld"]),
        &no_traffic,
    );
    assert!(
        seen.check_line
            .contains("info: \"HTTP check matched unwanted content\""),
        "{}",
        seen.check_line
    );
    assert_eq!(seen.status, "DOWN");
}

#[test]
fn header_matches() {
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect hdr name x-foo value -m beg ba"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "UP");
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect fhdr name -m sub foo value baz"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "DOWN", "fhdr takes the whole value");
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect hdr name X-Missing"]),
        &no_traffic,
    );
    assert_eq!(seen.status, "DOWN");
}

#[test]
fn comments_and_on_error_texts() {
    let seen = differential(
        &[UNAVAILABLE],
        &rules(
            "",
            &[
                "comment \"first\"",
                "expect comment \"my test\" on-error \"bad answer\" status 200",
            ],
        ),
        &no_traffic,
    );
    assert_eq!(
        seen.check_line,
        check_line(
            "failed, reason: Layer7 wrong status, code: 503, info: \"bad answer comment: my test\", \
             check duration: Nms, status: 0/1 DOWN."
        )
    );
    let seen = differential(
        &[OK_HELLO],
        &rules("", &["expect on-success \"all good\" status 200"]),
        &no_traffic,
    );
    assert!(
        seen.check_line.contains("info: \"all good\""),
        "{}",
        seen.check_line
    );
}

#[test]
fn send_state_header_carries_haproxys_fields() {
    let seen = differential(&[OK_HELLO], &rules("", &["send-state"]), &no_traffic);
    let req = String::from_utf8_lossy(&seen.first_requests[0]).into_owned();
    assert!(
        req.starts_with(
            "OPTIONS / HTTP/1.0\r\nx-haproxy-server-state: UP; address=127.0.0.1; port=PORT; "
        ),
        "{req}"
    );
    assert!(req.contains("; name=be/s1; node="), "{req}");
    assert!(
        req.ends_with("; weight=1/1; scur=0/0; qcur=0\r\n\r\n"),
        "{req}"
    );
}

#[test]
fn disable_on_404_drains_but_keeps_persistent_clients() {
    let backend = |ports: &[u16]| {
        format!(
            "    option httpchk GET /health\n    http-check disable-on-404\n\
             \x20   cookie SRV insert indirect nocache\n\
             \x20   server s1 127.0.0.1:{} check inter 100 rise 1 fall 1 cookie s1\n\
             \x20   server s2 127.0.0.1:{} check inter 100 rise 1 fall 1 cookie s2\n",
            ports[0], ports[1]
        )
    };
    let traffic = |port: u16, servers: &[CheckServer]| {
        for _ in 0..4 {
            let r = common::get(port, TRAFFIC);
            assert_eq!(
                r.text(),
                "s2",
                "a new client goes to the server not in NOLB"
            );
        }
        let (r, _) = common::exchange(
            port,
            format!(
                "GET {TRAFFIC} HTTP/1.1\r\nHost: x\r\nCookie: SRV=s1\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
            Duration::from_secs(3),
        );
        assert_eq!(
            r.text(),
            "s1",
            "a persistent client still reaches the NOLB server"
        );
        assert_eq!(servers[0].served(), 1);
        assert_eq!(servers[0].name, "s1");
    };
    let seen = differential(&[NOT_FOUND, OK_HELLO], &backend, &traffic);
    assert_eq!(seen.status, "NOLB");
    assert_eq!(seen.op_state, "3", "show servers state: stopping");
    assert_eq!(
        seen.check_line,
        check_line(
            "conditionally succeeded, reason: Layer7 check conditionally passed, code: 404, \
             check duration: Nms, status: 1/1 UP."
        )
    );
    assert_eq!(
        seen.state_lines,
        [
            "Server be/s1 is stopping. 1 active and 0 backup servers online. 0 sessions requeued, \
          0 total in queue."
        ]
    );
}

#[test]
fn two_step_sequence_with_two_connects() {
    let backend = |ports: &[u16]| {
        format!(
            "    option httpchk\n    http-check connect\n    http-check send uri /a\n\
             \x20   http-check expect status 200\n    http-check connect port {}\n\
             \x20   http-check send meth GET uri /b\n    http-check expect string hello\n\
             \x20   server s1 127.0.0.1:{} check inter 100 rise 1 fall 1\n",
            ports[1], ports[0]
        )
    };
    let seen = differential(&[OK_HELLO, OK_HELLO], &backend, &no_traffic);
    assert_eq!(seen.first_requests[0], b"OPTIONS /a HTTP/1.0\r\n\r\n");
    assert_eq!(seen.first_requests[1], b"GET /b HTTP/1.0\r\n\r\n");
    assert_eq!(seen.status, "UP");
    let seen = differential(&[OK_HELLO, UNAVAILABLE], &backend, &no_traffic);
    assert_eq!(
        seen.status, "DOWN",
        "the second step's answer fails the check"
    );
    assert!(
        seen.check_line.contains("HTTP content check did not match"),
        "{}",
        seen.check_line
    );
}

#[test]
fn refused_forms_name_the_keyword() {
    for (rule, want) in [
        (
            "connect proto h2",
            "'http-check connect proto' is not supported",
        ),
        (
            "expect status",
            "'http-check expect status' expects a pattern",
        ),
        ("send uri-lf /%[src]", "no request or connection"),
        ("set-var(check.x) int(1)", "not supported"),
    ] {
        let dir = TestDir::new("http-check-cfg");
        dir.write(
            "t.cfg",
            &format!(
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                 backend be\n    option httpchk\n    http-check {rule}\n    server s1 127.0.0.1:1 check\n"
            ),
        );
        let out = run_cli(dir.path(), &["-c", "-f", "t.cfg"]);
        assert_ne!(out.code, Some(0), "{rule}: accepted");
        assert!(out.stderr.contains("t.cfg:8"), "{rule}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{rule}: {}", out.stderr);
    }
}

#[test]
fn headers_hidden_in_the_1x_version_string_apply_until_send_names_its_own() {
    let seen = differential(
        &[OK_HELLO],
        &rules(" GET / HTTP/1.1\\r\\nHost:\\ www", &["expect status 200"]),
        &no_traffic,
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.first_requests[0]),
        "GET / HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n"
    );
    let seen = differential(
        &[OK_HELLO],
        &rules(" GET / HTTP/1.1\\r\\nHost:\\ www", &["send hdr X-A b"]),
        &no_traffic,
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.first_requests[0]),
        "GET / HTTP/1.1\r\nx-a: b\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn an_answer_that_is_not_http_is_an_invalid_response_with_the_rules_comment() {
    let seen = differential(
        &[b"SSH-2.0-OpenSSH_9.6\r\n"],
        &rules("", &["expect comment \"cmt\" status 200"]),
        &no_traffic,
    );
    assert_eq!(
        seen.check_line,
        check_line(
            "failed, reason: Layer7 invalid response, info: \" comment: cmt\", \
             check duration: Nms, status: 0/1 DOWN."
        )
    );
}

#[test]
fn log_format_arguments_render_the_servers_names() {
    let seen = differential(
        &[UNAVAILABLE],
        &rules(
            "",
            &[
                "send uri-lf /check/%s hdr X-Who %b/%s hdr X-Lit %[str(lit)] body-lf %[str(b)]",
                "expect on-error \"bad %s of %b\" status 200",
            ],
        ),
        &no_traffic,
    );
    assert_eq!(
        String::from_utf8_lossy(&seen.first_requests[0]),
        "OPTIONS /check/s1 HTTP/1.0\r\nx-who: be/s1\r\nx-lit: lit\r\ncontent-length: 1\r\n\r\nb"
    );
    assert!(
        seen.check_line.contains("info: \"bad s1 of be\""),
        "{}",
        seen.check_line
    );
    let seen = differential(
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nserver s1"],
        &rules(
            "",
            &["expect on-success \"fine %s\" string-lf \"server %s\""],
        ),
        &no_traffic,
    );
    assert!(
        seen.check_line.contains("info: \"fine s1\""),
        "{}",
        seen.check_line
    );
    assert_eq!(seen.status, "UP");
}

#[test]
fn a_silent_server_times_out_with_the_rules_tout_status() {
    let seen = differential(
        &[SILENT],
        &rules("", &["expect tout-status L4TOUT status 200"]).and_timeout(),
        &no_traffic,
    );
    assert_eq!(
        seen.check_line,
        check_line("failed, reason: Layer4 timeout, check duration: Nms, status: 0/1 DOWN.")
    );
    let seen = differential(
        &[SILENT],
        &rules("", &["expect status 200"]).and_timeout(),
        &no_traffic,
    );
    assert!(
        seen.check_line.contains("reason: Layer7 timeout,"),
        "{}",
        seen.check_line
    );
}

/// A backend's text from the check servers' ports.
type Backend = Box<dyn Fn(&[u16]) -> String>;

/// Adds `timeout check 150` to a backend.
trait WithTimeout {
    fn and_timeout(self) -> Backend;
}

impl<F: Fn(&[u16]) -> String + 'static> WithTimeout for F {
    fn and_timeout(self) -> Backend {
        Box::new(move |ports| format!("    timeout check 150\n{}", self(ports)))
    }
}

#[test]
fn only_the_default_connect_takes_the_servers_check_send_proxy() {
    let backend = |ports: &[u16]| {
        format!(
            "    option httpchk\n    http-check connect\n    http-check send uri /a\n\
             \x20   http-check expect status 200\n    http-check connect default port {}\n\
             \x20   http-check send uri /b\n    http-check expect status 200\n\
             \x20   server s1 127.0.0.1:{} check inter 100 rise 1 fall 1 check-send-proxy\n",
            ports[1], ports[0]
        )
    };
    let seen = differential(&[OK_HELLO, OK_HELLO], &backend, &no_traffic);
    assert_eq!(seen.first_requests[0], b"OPTIONS /a HTTP/1.0\r\n\r\n");
    assert_eq!(
        seen.first_requests[1],
        b"PROXY\r\nOPTIONS /b HTTP/1.0\r\n\r\n"
    );
    assert_eq!(seen.status, "UP");
}

/// `option httpchk` without `http-check` lines, as HAProxy 2.6 builds it:
/// the request line, the headers hidden in the version string (lower-cased),
/// `connection: close` on HTTP/1.1 unless a hidden `Connection` header asks
/// for keep-alive (HAProxy's H1 mux then writes none), and no `Host`.
#[test]
fn option_httpchk_alone_adds_no_header() {
    let cases: [(&'static str, &str); 5] = [
        ("", "OPTIONS / HTTP/1.0\r\n\r\n"),
        (
            " GET /h HTTP/1.1",
            "GET /h HTTP/1.1\r\nconnection: close\r\n\r\n",
        ),
        (
            " GET /h HTTP/1.1\\r\\nHost:\\ x",
            "GET /h HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        ),
        (
            " GET /h HTTP/1.1\\r\\nConnection:\\ keep-alive",
            "GET /h HTTP/1.1\r\n\r\n",
        ),
        (" HEAD /", "HEAD / HTTP/1.0\r\n\r\n"),
    ];
    for (httpchk, want) in cases {
        let seen = differential(&[OK_HELLO], &rules(httpchk, &[]), &no_traffic);
        assert_eq!(
            String::from_utf8_lossy(&seen.first_requests[0]),
            want,
            "option httpchk{httpchk}"
        );
        assert_eq!(seen.status, "UP");
    }
}

/// `http-check connect ssl sni <name> alpn <list>`: the rules run over TLS
/// with the server line's settings (`verify none`), here against ringlb TLS
/// listeners in front of each recording check server; the request the
/// server gets, the log line and the state are HAProxy's.
#[test]
fn connect_ssl_runs_the_rules_over_tls() {
    let Some(certs) = common::tls::TlsCerts::generate() else {
        eprintln!("openssl missing: the connect ssl test is skipped");
        return;
    };
    let fronts = Mutex::new(Vec::new());
    let backend = |ports: &[u16]| {
        let tls: Vec<u16> = ports
            .iter()
            .map(|&p| {
                let bind = free_port();
                let front = Ringlb::start(&format!(
                    "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    \
                     timeout server 5s\n\
                     listen t\n    bind 127.0.0.1:{bind} ssl crt {}\n    server s 127.0.0.1:{p}\n",
                    certs.ec.display()
                ));
                fronts.lock().unwrap().push(front);
                bind
            })
            .collect();
        let mut s = String::from("    option httpchk GET /h\n");
        for r in [
            "connect ssl sni localhost alpn http/1.1",
            "send meth GET uri /tls ver HTTP/1.1 hdr Host example.com",
            "expect status 200",
        ] {
            s += &format!("    http-check {r}\n");
        }
        s + &server_lines(&tls, " verify none")
    };
    let seen = differential(&[OK_HELLO, UNAVAILABLE], &backend, &no_traffic);
    assert_eq!(
        String::from_utf8_lossy(&seen.first_requests[0]),
        "GET /tls HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n"
    );
    assert_eq!(seen.status, "UP");
}
