//! Command line: `-c` on good and bad configurations (exit status, `file:line`,
//! the keyword and the suggestion in the message), warnings for 1.4-era keywords,
//! several `-f` files, `-v`, and the shipped `configs/seed-webfarm.cfg`.

mod common;

use common::{TestDir, free_port, run_cli};
use std::path::Path;

/// A complete, valid config on a port nobody uses (-c never binds anyway).
fn good_config() -> String {
    format!(
        "global\n    nbthread 2\n    maxconn 1000\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n\
         listen web\n    bind 127.0.0.1:{}\n    balance roundrobin\n    option forwardfor\n\
         \x20   server a 127.0.0.1:{} weight 3\n    server b 127.0.0.1:{} weight 1\n",
        free_port(),
        free_port(),
        free_port()
    )
}

#[test]
fn check_accepts_valid_config() {
    let dir = TestDir::new("cli-good");
    dir.write("good.cfg", &good_config());
    let out = run_cli(dir.path(), &["-c", "-f", "good.cfg"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("Configuration file is valid"),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn check_rejects_unknown_keyword_with_file_line_and_suggestion() {
    let dir = TestDir::new("cli-bad");
    // Line 3 holds the typo.
    dir.write(
        "bad.cfg",
        "listen web\n    bind 127.0.0.1:8080\n    balanse roundrobin\n    mode http\n    \
         timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n    \
         server a 127.0.0.1:9000\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "bad.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    let err = &out.stderr;
    assert!(err.contains("bad.cfg:3"), "no file:line in: {err}");
    assert!(err.contains("balanse"), "keyword not named in: {err}");
    assert!(err.contains("listen"), "section not named in: {err}");
    assert!(
        err.contains("did you mean") && err.contains("'balance'"),
        "no suggestion in: {err}"
    );
    assert!(!out.stdout.contains("Configuration file is valid"));
}

#[test]
fn check_rejects_malformed_value_naming_keyword() {
    let dir = TestDir::new("cli-badval");
    dir.write(
        "badval.cfg",
        "global\n    nbthread 2\nlisten web\n    bind 127.0.0.1:8080\n    mode http\n    \
         timeout connect soon\n    timeout client 1s\n    timeout server 1s\n    \
         server a 127.0.0.1:9000\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "badval.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("badval.cfg:6"),
        "stderr: {}",
        out.stderr
    );
    assert!(out.stderr.contains("timeout"), "stderr: {}", out.stderr);
}

#[test]
fn check_rejects_bad_server_address() {
    let dir = TestDir::new("cli-badaddr");
    dir.write(
        "addr.cfg",
        "listen web\n    bind 127.0.0.1:8080\n    mode http\n    timeout connect 1s\n    \
         timeout client 1s\n    timeout server 1s\n    server a 127.0.0.1:notaport\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "addr.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("addr.cfg:7"), "stderr: {}", out.stderr);
}

#[test]
fn check_reports_error_in_second_file() {
    let dir = TestDir::new("cli-multi");
    dir.write("one.cfg", "global\n    nbthread 2\n    maxconn 100\n");
    dir.write(
        "two.cfg",
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
         timeout server 1s\nlisten web\n    bind 127.0.0.1:8080\n    frobnicate on\n    \
         server a 127.0.0.1:9000\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "one.cfg", "-f", "two.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("two.cfg:8"), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("frobnicate"), "stderr: {}", out.stderr);
}

#[test]
fn check_accepts_split_config_across_files() {
    let dir = TestDir::new("cli-split");
    dir.write("g.cfg", "global\n    nbthread 2\n");
    dir.write(
        "p.cfg",
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
         timeout server 1s\nlisten web\n    bind 127.0.0.1:8080\n    server a 127.0.0.1:9000\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "g.cfg", "-f", "p.cfg"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
}

#[test]
fn check_missing_file_fails() {
    let dir = TestDir::new("cli-missing");
    let out = run_cli(dir.path(), &["-c", "-f", "does-not-exist.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("does-not-exist.cfg"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn check_warns_on_legacy_keywords_but_accepts() {
    // 1.4-era spellings HAProxy 2.x refuses: ringlb accepts them with a warning
    // naming the modern form (SPEC §3a).
    let dir = TestDir::new("cli-legacy");
    dir.write(
        "old.cfg",
        "global\n    nbthread 2\nlisten web 127.0.0.1:8080\n    mode http\n    \
         contimeout 1000\n    clitimeout 5000\n    srvtimeout 5000\n    \
         server a 127.0.0.1:9000\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "old.cfg"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let err = &out.stderr;
    assert!(err.contains("[WARNING]"), "no warning in: {err}");
    assert!(
        err.contains("old.cfg:5"),
        "contimeout line not named: {err}"
    );
    assert!(
        err.contains("timeout connect"),
        "modern form not named: {err}"
    );
    assert!(
        err.contains("old.cfg:3"),
        "listen-line address not warned: {err}"
    );
}

#[test]
fn check_warns_on_two_cookie_lines_naming_both() {
    let dir = TestDir::new("cli-cookie");
    dir.write(
        "cookie.cfg",
        "global\n    nbthread 2\nlisten web\n    bind 127.0.0.1:8080\n    mode http\n    \
         timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n    \
         cookie SERVERID rewrite\n    cookie JSESSIONID prefix\n    \
         server a 127.0.0.1:9000 cookie a1\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "cookie.cfg"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let err = &out.stderr;
    assert!(err.contains("[WARNING]"), "no warning in: {err}");
    assert!(
        err.contains("cookie.cfg:10") && (err.contains("cookie.cfg:9") || err.contains("line 9")),
        "both cookie lines not named: {err}"
    );
}

#[test]
fn version_flag_prints_version() {
    let dir = TestDir::new("cli-version");
    let out = run_cli(dir.path(), &["-v"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains(env!("CARGO_PKG_VERSION")),
        "version {} not in: {all}",
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn seed_webfarm_config_passes_check() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/seed-webfarm.cfg");
    assert!(
        cfg.exists(),
        "configs/seed-webfarm.cfg is not shipped yet (issue 3, SPEC §1)"
    );
    let dir = TestDir::new("cli-seed");
    let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("Configuration file is valid"),
        "stdout: {}",
        out.stdout
    );
}

/// Every shipped example passes `-c` without a warning, and HAProxy 2.6
/// accepts it too (when installed).
#[test]
fn shipped_examples_pass_check() {
    let dir = TestDir::new("cli-examples");
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/content-switching.cfg");
    let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(!out.stderr.contains("WARNING"), "{}", out.stderr);
    if let Some(h) = common::haproxy_binary() {
        let o = std::process::Command::new(h)
            .args(["-c", "-f", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// `configs/tls.cfg` (run by `scripts/demo.sh`, which makes its
/// certificate): with a certificate where it looks, it passes `-c` without a
/// warning, and HAProxy 2.6 accepts it too.
#[test]
fn shipped_tls_example_passes_check() {
    let Some(certs) = common::tls::TlsCerts::generate() else {
        return;
    };
    let dir = TestDir::new("cli-tls-example");
    std::fs::create_dir_all(dir.path().join("target/demo-tls")).unwrap();
    std::fs::copy(&certs.ec, dir.path().join("target/demo-tls/localhost.pem")).unwrap();
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tls.cfg");
    let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(!out.stderr.contains("WARNING"), "{}", out.stderr);
    if let Some(h) = common::haproxy_binary() {
        let o = std::process::Command::new(h)
            .current_dir(dir.path())
            .args(["-c", "-f", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn check_warns_when_timeouts_missing() {
    // As HAProxy: a proxy without timeout client/connect/server is valid but warned.
    let dir = TestDir::new("cli-notimeout");
    dir.write(
        "nt.cfg",
        "global\n    nbthread 2\nlisten web\n    bind 127.0.0.1:8080\n    mode http\n    \
         server a 127.0.0.1:9000\n",
    );
    let out = run_cli(dir.path(), &["-c", "-f", "nt.cfg"]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let err = &out.stderr;
    assert!(err.contains("[WARNING]"), "no warning in: {err}");
    assert!(err.contains("timeout"), "timeouts not named: {err}");
}

/// The message after HAProxy's `[LEVEL]   (pid) : config : ` prefix, or
/// after ringlb's `[LEVEL] `, with the `parsing [file:line] : ` or
/// `file:line: ` location removed: what both programs say, comparable.
fn said(stderr: &str, level: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("[{level}]")))
        .map(|l| {
            let l = l.split_once(" : config : ").map_or(l, |(_, m)| m);
            let l = l.strip_prefix(&format!("[{level}] ")).unwrap_or(l);
            let l = l.split_once("] : ").map_or(l, |(_, m)| m);
            let l = l.split_once(".cfg:").map_or(l, |(_, m)| m);
            l.split_once(": ").map_or(l, |(_, m)| m).trim().to_string()
        })
        .collect()
}

/// A file with a warning (a 1.4-era duration) and an error (an unknown
/// keyword): `-c` prints both, the warning first, as HAProxy 2.6 does.
#[test]
fn check_prints_warnings_beside_errors_as_haproxy() {
    let dir = TestDir::new("cli-warn-err");
    let text = "defaults\n    mode http\n    timeout client 15min\n    timeout server 5s\n    \
                timeout connect 5s\nlisten web\n    bind 127.0.0.1:1\n    bogus\n    \
                server a 127.0.0.1:2\n";
    dir.write("both.cfg", text);
    let out = run_cli(dir.path(), &["-c", "-f", "both.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    let warn = out.stderr.find("[WARNING]").expect(&out.stderr);
    let alert = out.stderr.find("[ALERT]").expect(&out.stderr);
    assert!(warn < alert, "warning first: {}", out.stderr);
    let ours = (said(&out.stderr, "WARNING"), said(&out.stderr, "ALERT"));
    assert!(ours.0[0].starts_with("unexpected character 'i' after the timer value '15min'"));
    assert_eq!(ours.1[0], "unknown keyword 'bogus' in 'listen' section");
    // `-q` keeps the alerts only.
    let quiet = run_cli(dir.path(), &["-c", "-q", "-f", "both.cfg"]);
    assert!(!quiet.stderr.contains("[WARNING]"), "{}", quiet.stderr);
    assert!(quiet.stderr.contains("[ALERT]"), "{}", quiet.stderr);

    let Some(bin) = common::haproxy_binary() else {
        return;
    };
    let h = std::process::Command::new(bin)
        .args(["-c", "-f"])
        .arg(dir.path().join("both.cfg"))
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&h.stderr);
    assert_eq!(h.status.code(), Some(1), "{theirs}");
    let (w, a) = (said(&theirs, "WARNING"), said(&theirs, "ALERT"));
    assert_eq!(w, ours.0, "the same warning: {theirs}");
    assert_eq!(a[0], ours.1[0], "the same first error: {theirs}");
}

/// `frontnd`: HAProxy 2.6 says "unknown keyword 'frontnd' out of section.";
/// ringlb says the same and adds the section it probably means.
#[test]
fn check_suggests_a_misspelt_section() {
    let dir = TestDir::new("cli-frontnd");
    dir.write("s.cfg", "frontnd web\n    bind 127.0.0.1:1\n");
    let out = run_cli(dir.path(), &["-c", "-f", "s.cfg"]);
    assert_eq!(out.code, Some(1), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(
            "s.cfg:1: unknown keyword 'frontnd' out of section; did you mean 'frontend'?"
        ),
        "{}",
        out.stderr
    );
}

/// The shipped 1.4-era example passes `-c` with a warning per 1.4 spelling,
/// where HAProxy 2.6 refuses it (the point of the example).
#[test]
fn shipped_legacy_example_passes_check_with_warnings() {
    let dir = TestDir::new("cli-legacy-example");
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/legacy-1.4.cfg");
    let out = run_cli(dir.path(), &["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    for kw in [
        "contimeout",
        "reqadd",
        "rspadd",
        "nbproc",
        "another server named 'web1'",
    ] {
        assert!(
            out.stderr.contains(kw),
            "no warning about {kw}: {}",
            out.stderr
        );
    }
    if let Some(h) = common::haproxy_binary() {
        let o = std::process::Command::new(h)
            .args(["-c", "-f", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!o.status.success(), "HAProxy 2.6 accepted the 1.4 file");
    }
}
