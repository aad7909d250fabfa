//! Unit tests of log-format compiling and rendering.

use super::*;
use crate::acl::TestSample;

fn render(fmt: &str, s: &TestSample) -> String {
    let lf = LogFormat::parse(fmt, None).unwrap_or_else(|e| panic!("{fmt}: {e}"));
    let mut out = Vec::new();
    lf.render(s, &NoVars, &mut Scratch::new(), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn tls_variables() {
    let mut s = TestSample::get("/");
    assert_eq!(render("%ft|%sslv|%sslc|%[ssl_fc]", &s), "|||0");
    s.tls = Some(crate::tls::info::TlsInfo {
        version: "TLSv1.2",
        cipher: "ECDHE-RSA-AES128-GCM-SHA256",
        ..Default::default()
    });
    // No frontend name without a context: `%ft` stays empty (the `~`
    // follows a name; tests/tls_fetches.rs checks `fe~`).
    assert_eq!(
        render("%ft|%sslv|%sslc|%[ssl_fc]", &s),
        "|TLSv1.2|ECDHE-RSA-AES128-GCM-SHA256|1"
    );
}

#[test]
fn literals_samples_and_variables() {
    let s = TestSample::get("/a/b?x=1")
        .header("Host", "Example.com")
        .src("10.0.0.1:4000");
    assert_eq!(render("plain", &s), "plain");
    assert_eq!(render("100%%", &s), "100%");
    assert_eq!(render("%[req.hdr(host),lower]", &s), "example.com");
    assert_eq!(
        render("https://%[hdr(host)]%[path]", &s),
        "https://Example.com/a/b"
    );
    assert_eq!(render("%ci:%cp %HP%HQ", &s), "10.0.0.1:4000 /a/b?x=1");
    assert_eq!(render("%{+Q}[hdr(host)]", &s), "\"Example.com\"");
    // No value: nothing, as HAProxy renders a header value.
    assert_eq!(render("[%[hdr(x-none)]]", &s), "[]");
    assert_eq!(render("%b", &s), "");
    assert_eq!(render("%{+X}cp", &s), "0FA0");
    assert_eq!(render("%[path,regsub(/,_,g)]", &s), "_a_b");
}

/// Outputs HAProxy 2.6 gave for the same formats (as a unique-id-format
/// sent in a header, client 127.0.0.1:43050 on 127.0.0.1:47180).
#[test]
fn flags_as_haproxy_applies_them() {
    let s = TestSample::get("/a?b")
        .src("127.0.0.1:43050")
        .dst("127.0.0.1:47180");
    assert_eq!(
        render("%{+Q}o %ci %[src] %{-Q}cp %fp %{-Q}ci", &s),
        "\"127.0.0.1\" 127.0.0.1 43050 47180 127.0.0.1"
    );
    assert_eq!(
        render("%{+X}o %ci:%cp_%fi:%fp %[src_port] %{-X}cp", &s),
        "7F000001:A82A_7F000001:B84C 43050 43050"
    );
    assert_eq!(
        render("%{+X}pid", &s).len().max(4),
        render("%{+X}pid", &s).len()
    );
    assert_eq!(render("%{+Q}[path]", &s), "\"/a\"");
    assert_eq!(render("%{+Q}[hdr(x-none)]", &s), "");
    let v6 = TestSample::get("/").src("[2001:db8::1]:80");
    assert_eq!(render("%{+X}ci", &v6), "20010DB8000000000000000000000001");
}

/// HAProxy 2.6 sent `a b%c` for `a\ \ b%%c`, and `/a   /a?b` for
/// `%[path]\ %[req.hdr(x-none)]\ %{+Q}[req.hdr(x-none)]\ %HU`.
#[test]
fn spaces_are_separators() {
    let s = TestSample::get("/a?b");
    assert_eq!(render("a  b%%c", &s), "a b%c");
    assert_eq!(render(" %{+X}o  x ", &s), "x ");
    assert_eq!(
        render("%[path] %[req.hdr(x-none)] %{+Q}[req.hdr(x-none)] %HU", &s),
        "/a   /a?b"
    );
}

#[test]
fn log_lines_print_a_dash_for_missing_fields() {
    let s = TestSample::get("/");
    let lf = LogFormat::parse("%[hdr(x)] %b %HM", None)
        .unwrap()
        .dash_for_missing();
    let mut out = Vec::new();
    lf.render(&s, &NoVars, &mut Scratch::new(), &mut out);
    assert_eq!(out, b"- - GET");
}

/// HAProxy 2.6 answered `a\"b\]c\\d|a\"b\]c\\d|"/a\]"` for the
/// `lf-string` `%{+E}[req.hdr(x)]|%{+Q,+E}[req.hdr(x)]|%{+E,+Q}HU` with
/// `x: a"b]c\d` and target `/a]`: an escaped sample is not quoted, an
/// escaped variable is.
#[test]
fn escape_flag() {
    let s = TestSample::get("/a]").header("X", "a\"b]c\\d");
    assert_eq!(
        render("%{+E}[hdr(x)]|%{+Q,+E}[hdr(x)]|%{+E,+Q}HU", &s),
        "a\\\"b\\]c\\\\d|a\\\"b\\]c\\\\d|\"/a\\]\""
    );
}

#[test]
fn last_occurrence_is_the_sample() {
    let s = TestSample::get("/").header("X", "1").header("X", "2");
    assert_eq!(render("%[hdr(x)]", &s), "2");
    assert_eq!(render("%[hdr(x,1)]", &s), "1");
}

#[test]
fn errors_name_the_problem() {
    for (fmt, want) in [
        ("%[path", "missing ']'"),
        ("%{+Q", "missing '}'"),
        ("%zz", "'%zz'"),
        ("% x", "must be followed"),
        ("%[nosuch]", "nosuch"),
        ("%{Q}ci", "'+' or '-'"),
    ] {
        let e = LogFormat::parse(fmt, None).unwrap_err();
        assert!(e.contains(want), "{fmt}: {e}");
    }
}
