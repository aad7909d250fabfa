//! `bind` options and port ranges; server ports taken from the client's
//! destination port.

use super::*;
use crate::config::model::BindOpts;

#[test]
fn port_range_binds_every_port() {
    let f = fe("    bind 127.0.0.1:9001-9003 name web backlog 64");
    let addrs: Vec<Address> = f.binds.iter().map(|b| b.address.clone()).collect();
    assert_eq!(
        addrs,
        vec![
            sa("0.0.0.0:8080"),
            sa("127.0.0.1:9001"),
            sa("127.0.0.1:9002"),
            sa("127.0.0.1:9003")
        ]
    );
    // Every address of the line carries its options.
    assert!(
        f.binds[1..]
            .iter()
            .all(|b| b.opts.backlog == Some(64) && b.opts.name.as_deref() == Some("web"))
    );
    assert_eq!(f.binds[0].opts, BindOpts::default());
    assert_eq!(
        err("    bind :90-80"),
        "'bind': port range 90-80 is reversed in ':90-80'"
    );
}

#[test]
fn socket_options_are_read() {
    let f = fe("    bind [::]:81 v6only tfo mss 1400 interface lo transparent id 7");
    let o = &f.binds[1].opts;
    assert_eq!(o.v6only, Some(true));
    assert!(o.tfo && o.transparent);
    assert_eq!(o.mss, Some(1400));
    assert_eq!(o.interface.as_deref(), Some("lo"));
    assert_eq!(o.id, Some(7));
    assert_eq!(fe("    bind :81 v4v6").binds[1].opts.v6only, Some(false));
    for kw in [
        "v6only",
        "tfo",
        "name x",
        "backlog 5",
        "mss 1000",
        "transparent",
    ] {
        assert!(warns(&format!("    bind :81 {kw}")).is_empty(), "{kw}");
    }
}

#[test]
fn maxconn_applies_to_each_socket_of_the_line() {
    let f = fe("    bind 127.0.0.1:81,127.0.0.1:90-91 maxconn 2\n    bind :82 maxconn 0");
    let got: Vec<Option<u32>> = f.binds.iter().map(|b| b.opts.maxconn).collect();
    // The default bind, three sockets limited to 2 each, and 0 for none.
    assert_eq!(got, vec![None, Some(2), Some(2), Some(2), None]);
}

#[test]
fn bad_or_unbuilt_options_are_refused() {
    assert_eq!(
        err("    bind :81 backlog 0"),
        "bind option 'backlog' expects a positive number, got '0'"
    );
    assert_eq!(err("    bind :81 mss"), "'bind mss' expects a segment size");
    assert_eq!(
        err("    bind :81-82 id 3"),
        "'id' can only be used with a single socket (in ':81-82')"
    );
    // HAProxy reads `abc` as 0 (atol); a typo in a limit is refused here.
    assert_eq!(
        err("    bind :81 maxconn abc"),
        "bind option 'maxconn' expects a number >= 0, got 'abc'"
    );
    assert_eq!(
        err("    bind :81 maxconn -1"),
        "bind option 'maxconn' expects a number >= 0, got '-1'"
    );
    assert_eq!(
        err("    bind :81 maxconn"),
        "'bind maxconn' expects a connection count"
    );
    assert_eq!(
        warns("    bind :81 thread 1"),
        vec![
            "bind option 'thread' is ignored: every ringlb worker thread accepts on its own \
             copy of each listener"
        ]
    );
}

#[test]
fn server_port_may_follow_the_client() {
    let b = be("    server a 127.0.0.2\n    server b 127.0.0.2:+1\n    server c 127.0.0.2:81");
    let got: Vec<(Address, Option<i32>)> = b
        .servers
        .iter()
        .map(|s| (s.address.clone(), s.port_offset))
        .collect();
    assert_eq!(
        got[..3],
        [
            (sa("127.0.0.2:0"), Some(0)),
            (sa("127.0.0.2:1"), Some(1)),
            (sa("127.0.0.2:81"), None)
        ]
    );
    // As HAProxy 2.6: a check needs its own port then.
    assert_eq!(
        err("    server a 127.0.0.2 check"),
        "server 'a' has neither service port nor check port (add 'port <n>' for 'check')"
    );
    let b = be("    server a 127.0.0.2:-1 check port 80");
    assert_eq!(b.servers[0].check_port, Some(80));
}

/// The test certificates, or return (skipped) when openssl is missing.
macro_rules! certs {
    () => {
        match crate::tls::test_util::certs_dir() {
            Some(d) => d.to_string_lossy().into_owned(),
            None => return,
        }
    };
}

#[test]
fn bind_tls_options_are_read() {
    use crate::tls::opts::{Ver, Verify};
    let d = certs!();
    let body = format!(
        "    bind :443 ssl crt {d}/rsa_a.pem crt {d}/ec_a.pem alpn h2,http/1.1 ssl-min-ver TLSv1.2 \
         ssl-max-ver TLSv1.3 ciphers HIGH:!aNULL:!MD5 ciphersuites TLS_AES_128_GCM_SHA256 \
         curves X25519:P-256 verify optional ca-file {d}/ca.pem crl-file {d}/ca.pem \
         no-tls-tickets prefer-client-ciphers strict-sni no-sslv3 no-tlsv10 no-tlsv11 no-ca-names"
    );
    let f = fe(&body);
    let t = f.binds[1].opts.ssl.as_ref().unwrap();
    let o = &t.opts;
    assert_eq!(t.crt.len(), 2);
    assert_eq!(o.alpn.as_deref(), Some(&["http/1.1".to_string()][..]));
    assert_eq!((o.min_ver, o.max_ver), (Some(Ver::V12), Some(Ver::V13)));
    assert_eq!(o.verify, Some(Verify::Optional));
    assert!(o.no_tickets && o.prefer_client_ciphers && o.strict_sni && o.no_ca_names);
    assert_eq!(o.curves.as_deref(), Some("X25519:P-256"));
    assert!(!t.config.ignore_client_order);
    assert_eq!(t.config.alpn_protocols, [b"http/1.1".to_vec()]);
    assert_eq!(
        warns(&body),
        ["'alpn h2' is dropped: ringlb speaks HTTP/1.1 only, so clients fall back to http/1.1"]
    );
    let w = warns(&format!("    bind :443 ssl crt {d}/rsa_a.pem npn http/1.1"));
    assert!(w[0].contains("'npn' is ignored"), "{w:?}");
    // Written alike, compared alike.
    let again = fe(&body);
    assert_eq!(again.binds[1].opts, f.binds[1].opts);
}

#[test]
fn bind_tls_errors_name_the_option() {
    let d = certs!();
    let crt = format!("    bind :443 ssl crt {d}/rsa_a.pem");
    for (opt, want) in [
        (
            "ssl-min-ver TLSv1.1",
            "bind option 'ssl-min-ver': 'ssl-min-ver TLSv1.1' is refused: ringlb's TLS library \
             (rustls) does not implement SSLv3, TLSv1.0 or TLSv1.1 (deprecated by RFC 8996); \
             TLSv1.2 and TLSv1.3 are",
        ),
        (
            "ssl-max-ver TLS1",
            "bind option 'ssl-max-ver': 'ssl-max-ver' expects one of SSLv3, TLSv1.0, TLSv1.1, \
             TLSv1.2, TLSv1.3, got 'TLS1'",
        ),
        (
            "ciphers RC4-SHA:DES-CBC3-SHA",
            "bind option 'ciphers': cipher list 'RC4-SHA:DES-CBC3-SHA' leaves no TLS 1.2 cipher",
        ),
        (
            "ciphersuites TLS_NOPE",
            "bind option 'ciphersuites': unknown TLS 1.3 cipher suite 'TLS_NOPE'",
        ),
        (
            "curves X448",
            "bind option 'curves': curve 'X448' is not implemented",
        ),
        ("ecdhe secp521r1", "bind option 'ecdhe': curve 'secp521r1'"),
        (
            "verify sometimes",
            "bind option 'verify': 'verify' expects none, optional or required, got 'sometimes'",
        ),
        (
            "verify required",
            "'verify' is enabled but no CA file is given",
        ),
        (
            "alpn spdy/3",
            "bind option 'alpn': 'alpn': protocol 'spdy/3' is not spoken",
        ),
        (
            "force-tlsv10",
            "bind option 'force-tlsv10': 'force-tlsv10' is refused",
        ),
        ("no-tlsv12 no-tlsv13", "no TLS version is left enabled"),
        (
            "ca-verify-file x",
            "bind option 'ca-verify-file' is not supported yet",
        ),
        (
            "tls-ticket-keys x",
            "bind option 'tls-ticket-keys' is not supported yet",
        ),
        (
            "crt-list /nonexistent.lst",
            "unable to read crt-list '/nonexistent.lst'",
        ),
        ("ciphers", "'bind ciphers' expects an OpenSSL cipher list"),
        (
            "ca-file /nonexistent.pem",
            "unable to load CA file '/nonexistent.pem'",
        ),
        (
            "crl-file /nonexistent.pem",
            "unable to load CRL file '/nonexistent.pem'",
        ),
    ] {
        let e = err(&format!("{crt} {opt}"));
        assert!(e.starts_with(want) || e.contains(want), "{opt}: {e}");
    }
    assert_eq!(
        err("    bind :443 ssl"),
        "'ssl' needs a certificate: add 'crt <file>' or 'crt-list <file>'"
    );
    assert!(
        err("    bind :443 ssl crt /nonexistent/")
            .starts_with("unable to load certificate from '/nonexistent/'")
    );
    // A crt-list's own errors name the list and its line.
    let list = format!("{d}/bad.crt-list");
    std::fs::write(&list, format!("{d}/rsa_a.pem [strict-sni]\n")).unwrap();
    let e = err(&format!("    bind :443 ssl crt-list {list}"));
    assert!(
        e.starts_with(&format!("crt-list '{list}' line 1: option 'strict-sni'")),
        "{e}"
    );
}

#[test]
fn tls_options_without_ssl_warn() {
    let d = certs!();
    let w = warns(&format!("    bind :81 crt {d}/rsa_a.pem alpn http/1.1"));
    assert_eq!(
        w,
        ["bind option 'crt' has no effect without 'ssl': this listener does not speak TLS"]
    );
    assert!(
        fe(&format!("    bind :81 crt {d}/rsa_a.pem")).binds[1]
            .opts
            .ssl
            .is_none()
    );
}

#[test]
fn tls_globals_apply_to_the_binds_after_them() {
    use crate::tls::opts::Ver;
    let d = certs!();
    let text = format!(
        "global\n    crt-base {d}\n    ca-base {d}\n    ssl-default-bind-options no-sslv3 \
         ssl-min-ver TLSv1.2 no-tls-tickets\n    ssl-default-bind-ciphers ECDHE+AESGCM\n    \
         ssl-default-bind-ciphersuites TLS_AES_256_GCM_SHA384\n    ssl-default-bind-curves X25519\n    \
         tune.ssl.maxrecord 1400\n    tune.ssl.cachesize 100\n    tune.ssl.lifetime 10m\n    \
         ssl-load-extra-files key ocsp\n{}",
        listen(
            "    bind :443 ssl crt rsa_a.pem verify required ca-file ca.pem ciphers ECDHE-RSA-AES128-GCM-SHA256"
        )
    );
    let c = config(&text);
    let t = c.frontends[0].binds[1].opts.ssl.as_ref().unwrap();
    assert_eq!(t.crt, [format!("{d}/rsa_a.pem")]);
    assert_eq!(t.opts.ca_file, Some(format!("{d}/ca.pem")));
    assert_eq!(t.opts.min_ver, Some(Ver::V12));
    assert!(t.opts.no_tickets);
    // The bind's own ciphers win over the default; the others are the defaults.
    assert_eq!(
        t.opts.ciphers.as_deref(),
        Some("ECDHE-RSA-AES128-GCM-SHA256")
    );
    assert_eq!(
        t.opts.ciphersuites.as_deref(),
        Some("TLS_AES_256_GCM_SHA384")
    );
    assert_eq!(t.config.max_fragment_size, Some(1405));
    // no-tls-tickets from ssl-default-bind-options: no ticket is issued.
    assert!(!t.config.ticketer.enabled());
    // A bare number is seconds, as HAProxy.
    crate::tls::opts::update_globals(|g| g.lifetime = 0);
    let c = config(&format!(
        "global\n    tune.ssl.lifetime 60\n{}",
        listen(&format!("    bind :443 ssl crt {d}/rsa_a.pem"))
    ));
    let t = c.frontends[0].binds[1].opts.ssl.as_ref().unwrap();
    assert_eq!(t.config.ticketer.lifetime(), 60);
    // The next load starts from HAProxy's defaults again.
    let c = config(&listen(&format!("    bind :443 ssl crt {d}/rsa_a.pem")));
    let t = c.frontends[0].binds[1].opts.ssl.as_ref().unwrap();
    assert_eq!(t.opts, crate::tls::opts::SslOpts::default());
}

#[test]
fn tls_global_errors() {
    for (line, want) in [
        (
            "ssl-default-bind-options no-tlsv12 bogus",
            "unknown option 'bogus'",
        ),
        (
            "ssl-default-bind-options ssl-min-ver",
            "'ssl-min-ver' expects a TLS version",
        ),
        (
            "ssl-default-bind-options force-tlsv11",
            "'force-tlsv11' is refused",
        ),
        (
            "ssl-default-bind-ciphers RC4",
            "cipher list 'RC4' leaves no TLS 1.2 cipher",
        ),
        (
            "ssl-default-bind-curves X448",
            "curve 'X448' is not implemented",
        ),
        (
            "tune.ssl.maxrecord 10",
            "'tune.ssl.maxrecord' must be 0 or at least 27 bytes, got 10",
        ),
        ("ssl-load-extra-files bundle", "'bundle' is not supported"),
        ("ssl-load-extra-files sctl", "'sctl' is not supported"),
        ("ssl-load-extra-files nothing", "unknown kind 'nothing'"),
        ("ssl-engine rdrand", "'ssl-engine' is not supported"),
        ("tune.ssl.cachesize x", "tune.ssl.cachesize"),
    ] {
        let e = gerr(&format!("    {line}"));
        assert!(e.contains(want), "{line}: {e}");
    }
    let w = warnings(&global("    tune.ssl.default-dh-param 2048"));
    assert!(w[0].contains("rustls has no DHE"), "{w:?}");
}
