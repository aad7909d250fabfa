//! Server TLS options (`ssl`, `verify`, `ca-file`, `crt`, `sni`, `alpn`,
//! `check-ssl`, ...) and the globals `ssl-server-verify` and
//! `ssl-default-server-options`, checked with `-c` by ringlb and HAProxy 2.6
//! on the same files: both accept or both refuse, with HAProxy's words.

mod common;

use common::{TestDir, binary, free_port, haproxy_binary};
use std::process::Command;

/// Exit code and stderr of `<bin> -c -f t.cfg` in `dir`.
fn check(bin: &str, dir: &TestDir) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .args(["-c", "-f", "t.cfg"])
        .current_dir(dir.path())
        .output()
        .expect("spawn");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration with `global` lines, then a listen whose server line
/// (line 9 with an empty global) carries `opts`.
fn config(global: &str, opts: &str) -> String {
    format!(
        "global\n{global}defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  \
         timeout connect 1s\nlisten l\n  bind 127.0.0.1:{}\n  server s 127.0.0.1:{} {opts}\n",
        free_port(),
        free_port()
    )
}

/// Runs both on `global` + `opts`; `refused` carries the words both must print.
fn both(global: &str, opts: &str, refused: Option<&str>) {
    let dir = TestDir::new("server-tls-config");
    dir.write("t.cfg", &config(global, opts));
    let ours = check(&binary(), &dir);
    let theirs = haproxy_binary().map(|h| check(h.to_str().unwrap(), &dir));
    let what = format!("global {global:?} server opts {opts:?}");
    match refused {
        None => {
            assert_eq!(ours.0, Some(0), "ringlb, {what}: {}", ours.1);
            if let Some(h) = theirs {
                assert_eq!(h.0, Some(0), "HAProxy, {what}: {}", h.1);
            }
        }
        Some(words) => {
            assert_eq!(ours.0, Some(1), "ringlb, {what}: {}", ours.1);
            assert!(ours.1.contains(words), "ringlb, {what}: {}", ours.1);
            if let Some(h) = theirs {
                assert_eq!(h.0, Some(1), "HAProxy, {what}: {}", h.1);
                assert!(h.1.contains(words), "HAProxy, {what}: {}", h.1);
            }
        }
    }
}

const NO_CA: &str = "'server l/s' : verify is enabled by default but no CA file specified. If \
                     you're running on a LAN where you're certain to trust the server's \
                     certificate, please set an explicit 'verify none' statement on the 'server' \
                     line, or use 'ssl-server-verify none' in the global section to disable \
                     server-side verifications by default.";

#[test]
fn server_tls_options_as_haproxy() {
    both("", "ssl", Some(NO_CA));
    both("", "ssl verify required", Some(NO_CA));
    both("", "check-ssl check port 8443", Some(NO_CA));
    both("", "ssl verify none", None);
    both("", "ssl ca-file @system-ca check-ssl check", None);
    both(
        "",
        "ssl verify required ca-file @system-ca verifyhost a.test sni req.hdr(host) \
         check-sni c.test check-alpn http/1.1 alpn http/1.1 no-ssl-reuse ssl-reuse \
         no-tls-tickets tls-tickets no-sslv3 no-tlsv10 no-tlsv11 check",
        None,
    );
    both("", "no-ssl ssl verify none no-ssl", None);
    both("  ssl-server-verify none\n", "ssl", None);
    both("  ssl-server-verify required\n", "ssl", Some(NO_CA));
    both(
        "  ssl-server-verify none\n  ssl-default-server-options no-sslv3 no-tls-tickets\n",
        "ssl",
        None,
    );
    // The protocol options, mapped as on binds (`tls/opts.rs`, `tls/ciphers.rs`).
    both("", "ssl verify none ciphers HIGH", None);
    both(
        "",
        "ssl verify none ciphers ECDHE-ECDSA-AES128-GCM-SHA256 ciphersuites \
         TLS_AES_128_GCM_SHA256 ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3",
        None,
    );
    // HAProxy 2.6 has no server `curves` (2.8 added it): unknown, by both.
    both("", "ssl verify none curves X25519", Some("'curves'"));
    both("", "ssl verify none force-tlsv13", None);
    both("", "ssl verify none no-tlsv12", None);
    both(
        "  ssl-server-verify none\n  ssl-default-server-ciphers HIGH\n  \
         ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384\n  \
         ssl-default-server-options ssl-min-ver TLSv1.2 no-tlsv13\n",
        "ssl",
        None,
    );
}

#[test]
fn server_tls_errors_as_haproxy() {
    for (opts, words) in [
        ("ssl verify", "'verify' : missing verify method."),
        (
            "ssl verify maybe",
            "'verify' : unknown verify method 'maybe', only 'none' and 'required' are supported.",
        ),
        (
            "ssl verify none verifyhost",
            "'verifyhost' : missing hostname to verify against.",
        ),
        ("ssl verify none sni", "'sni' : missing sni expression."),
        (
            "ssl verify none sni nosuchfetch",
            "error detected while parsing sni expression : ",
        ),
        (
            "ssl verify none alpn",
            "'alpn' : missing the comma-delimited ALPN protocol suite.",
        ),
        (
            "ssl verify none check-alpn",
            "'check-alpn' : missing the comma-delimited ALPN protocol suite.",
        ),
        (
            "ssl verify none ca-file /nonexistent/ca.pem",
            "'server l/s' : Couldn't open the ca-file '/nonexistent/ca.pem' (No such file or \
             directory).",
        ),
        (
            "ssl verify none crt /nonexistent/c.pem",
            "'server l/s' : unable to stat SSL certificate from file '/nonexistent/c.pem' : No \
             such file or directory.",
        ),
        ("ssl verify none check-sni", "'check-sni' : missing SNI."),
        (
            "ssl verify none ca-file",
            "'ca-file' : missing CAfile path.",
        ),
        (
            "ssl verify none crt",
            "'crt' : missing certificate file path.",
        ),
        ("ssl verify none no-verify", "'no-verify'"),
        ("ssl verify none no-sni", "'no-sni'"),
    ] {
        both("", opts, Some(words));
    }
    both(
        "  ssl-server-verify maybe\n",
        "",
        Some("'ssl-server-verify' expects 'none' or 'required' as argument."),
    );
    both(
        "  ssl-default-server-options foo\n",
        "",
        Some("unknown option 'foo' on global statement 'ssl-default-server-options'."),
    );
}

/// Where ringlb refuses what HAProxy accepts, on purpose.
#[test]
fn server_tls_refused_by_ringlb_only() {
    // ringlb speaks HTTP/1.1 to servers: offering only h2 could not work.
    {
        let (global, opts, why) = (
            "",
            "ssl verify none alpn h2",
            "ringlb speaks HTTP/1.1 to servers",
        );
        let dir = TestDir::new("server-tls-ringlb-only");
        dir.write("t.cfg", &config(global, opts));
        let ours = check(&binary(), &dir);
        assert_eq!(ours.0, Some(1), "{opts}: {}", ours.1);
        assert!(ours.1.contains(why), "{opts}: {}", ours.1);
        if let Some(h) = haproxy_binary() {
            let theirs = check(h.to_str().unwrap(), &dir);
            assert_eq!(theirs.0, Some(0), "HAProxy accepts {opts}: {}", theirs.1);
        }
    }
    // `h2,http/1.1`: only http/1.1 is offered, with a warning.
    let dir = TestDir::new("server-tls-alpn");
    dir.write("t.cfg", &config("", "ssl verify none alpn h2,http/1.1"));
    let ours = check(&binary(), &dir);
    assert_eq!(ours.0, Some(0), "{}", ours.1);
    assert!(
        ours.1.contains("'h2' is not offered, only 'http/1.1'"),
        "{}",
        ours.1
    );
}
