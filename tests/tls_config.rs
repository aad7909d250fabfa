//! `ringlb -c` on TLS bind lines and TLS globals, against `haproxy -c` on
//! the same text: both accept or both refuse, except where ringlb refuses on
//! purpose (each such line says why). The handshake itself is tested in
//! memory beside the code (src/tls/bind_tests.rs).

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestDir, haproxy_binary, run_cli};

/// Makes rsa.pem (chain + key), ec.pem, ca.pem in `dir`; false without openssl.
fn make_certs(dir: &Path) -> bool {
    let ossl = |args: &str| {
        Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let ok = ossl(
        "req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -days 30 \
         -subj /CN=a.example -addext subjectAltName=DNS:a.example",
    ) && ossl(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key \
         -out ec.crt -days 30 -subj /CN=a.example",
    );
    if !ok {
        return false;
    }
    for n in ["rsa", "ec"] {
        let mut pem = std::fs::read(dir.join(format!("{n}.crt"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{n}.key"))).unwrap());
        std::fs::write(dir.join(format!("{n}.pem")), pem).unwrap();
    }
    std::fs::copy(dir.join("rsa.crt"), dir.join("ca.pem")).unwrap();
    std::fs::write(
        dir.join("list.crt-list"),
        "rsa.pem [alpn http/1.1 ssl-min-ver TLSv1.2] a.example\nec.pem\n",
    )
    .unwrap();
    true
}

/// A configuration with `global_lines` and one TLS bind with `bind_opts`.
fn config(dir: &Path, global_lines: &str, bind_opts: &str) -> String {
    let d = dir.display();
    format!(
        "global\n    crt-base {d}\n    ca-base {d}\n{global_lines}\ndefaults\n    mode http\n    \
         timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    \
         bind 127.0.0.1:8443 ssl {bind_opts}\n    default_backend b\nbackend b\n    \
         server s 127.0.0.1:1\n"
    )
}

/// Whether `ringlb -c` and `haproxy -c` accept the configuration.
fn both_accept(dir: &TestDir, text: &str) -> (bool, Option<bool>, String) {
    dir.write("t.cfg", text);
    let ours = run_cli(dir.path(), &["-c", "-f", "t.cfg"]);
    let theirs = haproxy_binary().map(|h| {
        Command::new(h)
            .current_dir(dir.path())
            .args(["-c", "-f"])
            .arg(dir.path().join("t.cfg"))
            .output()
            .is_ok_and(|o| o.status.success())
    });
    (ours.code == Some(0), theirs, ours.stderr)
}

/// Bind options both accept (or both refuse: the bool).
const AGREED: &[(&str, bool)] = &[
    ("crt rsa.pem", true),
    ("crt rsa.pem crt ec.pem strict-sni", true),
    ("crt-list list.crt-list", true),
    ("crt rsa.pem alpn http/1.1,http/1.0", true),
    ("crt rsa.pem ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3", true),
    (
        "crt rsa.pem no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets",
        true,
    ),
    ("crt rsa.pem force-tlsv12", true),
    ("crt rsa.pem ciphers HIGH:!aNULL:!MD5", true),
    ("crt rsa.pem ciphers ECDHE+AESGCM:ECDHE+CHACHA20", true),
    (
        "crt rsa.pem ciphers ECDHE-RSA-AES128-GCM-SHA256:!aNULL",
        true,
    ),
    ("crt rsa.pem ciphersuites TLS_AES_128_GCM_SHA256", true),
    ("crt rsa.pem curves X25519:P-256", true),
    ("crt rsa.pem ecdhe prime256v1", true),
    ("crt rsa.pem prefer-client-ciphers", true),
    ("crt rsa.pem verify optional ca-file ca.pem", true),
    (
        "crt rsa.pem verify required ca-file ca.pem no-ca-names",
        true,
    ),
    ("crt rsa.pem verify required", false),
    ("crt rsa.pem ciphers NOPE", false),
    ("crt rsa.pem verify maybe", false),
    ("crt missing.pem", false),
    ("crt-list missing.lst", false),
    ("crt rsa.pem ssl-min-ver TLSv9", false),
];

/// Bind options ringlb refuses where HAProxy accepts, and why.
const REFUSED_ON_PURPOSE: &[(&str, &str)] = &[
    (
        "crt rsa.pem ssl-min-ver TLSv1.0",
        "rustls has no TLSv1.0: serving 1.2+ would not be what was asked",
    ),
    (
        "crt rsa.pem alpn foo",
        "ringlb would offer a protocol it does not speak",
    ),
    (
        "crt rsa.pem curves X448",
        "rustls has no X448: the curve list would change",
    ),
];

#[test]
fn tls_bind_lines_check_as_haproxy() {
    let dir = TestDir::new("tls-config");
    if !make_certs(dir.path()) {
        eprintln!("openssl CLI missing: skipped");
        return;
    }
    for (opts, accept) in AGREED {
        let (ours, theirs, err) = both_accept(&dir, &config(dir.path(), "", opts));
        assert_eq!(ours, *accept, "ringlb -c on 'bind ... ssl {opts}':\n{err}");
        if let Some(t) = theirs {
            assert_eq!(t, *accept, "haproxy -c on 'bind ... ssl {opts}'");
        }
    }
    for (opts, why) in REFUSED_ON_PURPOSE {
        let (ours, theirs, _) = both_accept(&dir, &config(dir.path(), "", opts));
        assert!(!ours, "ringlb accepted '{opts}' ({why})");
        if let Some(t) = theirs {
            assert!(t, "haproxy -c refused '{opts}': no longer a difference");
        }
    }
}

#[test]
fn tls_globals_check_as_haproxy() {
    let dir = TestDir::new("tls-config-global");
    if !make_certs(dir.path()) {
        eprintln!("openssl CLI missing: skipped");
        return;
    }
    for (g, accept) in [
        (
            "    ssl-default-bind-options no-sslv3 no-tls-tickets ssl-min-ver TLSv1.2",
            true,
        ),
        ("    ssl-default-bind-ciphers ECDHE+AESGCM:!aNULL", true),
        (
            "    ssl-default-bind-ciphersuites TLS_AES_256_GCM_SHA384",
            true,
        ),
        ("    tune.ssl.cachesize 0\n    tune.ssl.lifetime 60", true),
        (
            "    tune.ssl.maxrecord 1400\n    tune.ssl.default-dh-param 2048",
            true,
        ),
        ("    ssl-load-extra-files key ocsp", true),
        ("    ssl-default-bind-options bogus", false),
        ("    ssl-default-bind-ciphers NOPE", false),
    ] {
        let (ours, theirs, err) = both_accept(&dir, &config(dir.path(), g, "crt rsa.pem"));
        assert_eq!(ours, accept, "ringlb -c on '{g}':\n{err}");
        if let Some(t) = theirs {
            assert_eq!(t, accept, "haproxy -c on '{g}'");
        }
    }
    // maxsslconn: enforced (tests/tls_fetches.rs). HAProxy reads `x` as 0
    // (atol, no limit); ringlb refuses it on purpose.
    let (ours, _, _) = both_accept(&dir, &config(dir.path(), "    maxsslconn x", "crt rsa.pem"));
    assert!(!ours);
    for (g, accept) in [("    maxsslconn 100", true), ("    maxsslconn 0", true)] {
        let (ours, theirs, err) = both_accept(&dir, &config(dir.path(), g, "crt rsa.pem"));
        assert_eq!(ours, accept, "ringlb -c on '{g}':\n{err}");
        if let Some(t) = theirs {
            assert_eq!(t, accept, "haproxy -c on '{g}'");
        }
    }
}
