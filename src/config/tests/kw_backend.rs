//! Backend keywords: balance, hash-type, cookie, stats, server and default-server.

use std::sync::Arc;
use std::time::Duration;

use super::*;

// ---- balance, hash-type, cookie ----

#[test]
fn balance_algorithms() {
    let b = |body| be(body).balance;
    assert_eq!(b("    balance roundrobin"), Balance::RoundRobin);
    assert_eq!(b("    balance static-rr"), Balance::StaticRr);
    assert_eq!(b("    balance leastconn"), Balance::LeastConn);
    assert_eq!(b("    balance source"), Balance::Source);
    assert_eq!(
        b("    balance uri"),
        Balance::Uri {
            len: None,
            depth: None,
            whole: false,
            path_only: false
        }
    );
    assert_eq!(
        b("    balance uri len 10 depth 2 whole path-only"),
        Balance::Uri {
            len: Some(10),
            depth: Some(2),
            whole: true,
            path_only: true
        }
    );
    assert_eq!(b("    balance"), Balance::RoundRobin);
    assert_eq!(
        b("    balance url_param userid"),
        Balance::UrlParam("userid".into())
    );
    assert_eq!(
        b("    balance hdr(Host)"),
        Balance::Hdr {
            name: "Host".into(),
            domain_only: false
        }
    );
    assert_eq!(
        b("    balance hdr(Host) use_domain_only"),
        Balance::Hdr {
            name: "Host".into(),
            domain_only: true
        }
    );
    assert_eq!(
        b("    balance rdp-cookie"),
        Balance::RdpCookie("mstshash".into())
    );
    assert_eq!(
        b("    balance rdp-cookie(user)"),
        Balance::RdpCookie("user".into())
    );
    // Every algorithm is built: none warns.
    for algo in [
        "roundrobin",
        "static-rr",
        "leastconn",
        "source",
        "uri len 3 depth 2 whole",
        "url_param id",
        "hdr(Host)",
        "rdp-cookie",
        "rdp-cookie(user)",
    ] {
        assert!(warns(&format!("    balance {algo}")).is_empty(), "{algo}");
    }
}

#[test]
fn first_random_and_hash_balance_factor() {
    let b = |body| be(body).balance;
    assert_eq!(b("    balance first"), Balance::First);
    assert_eq!(b("    balance random"), Balance::Random { draws: 2 });
    assert_eq!(b("    balance random(5)"), Balance::Random { draws: 5 });
    assert_eq!(
        err("    balance random(0)"),
        "'balance random': number of draws must be at least 1"
    );
    assert_eq!(
        err("    balance random(x)"),
        "'balance random' expects an integer number of draws, got 'x'"
    );
    assert_eq!(
        err("    balance first now"),
        "'balance first' has an unexpected argument 'now'"
    );
    let f = |body| be(body).hash_balance_factor;
    assert_eq!(f("    hash-type consistent"), 0);
    assert_eq!(f("    hash-balance-factor 150"), 150);
    assert_eq!(f("    hash-balance-factor 0"), 0);
    for bad in ["100", "50"] {
        assert_eq!(
            err(&format!("    hash-balance-factor {bad}")),
            "'hash-balance-factor' must be 0 or greater than 100"
        );
    }
    assert_eq!(
        err("    hash-balance-factor"),
        "'hash-balance-factor' expects an integer argument"
    );
}

#[test]
fn bad_balance() {
    assert_eq!(
        err("    balance roundrobim"),
        "'balance' expects one of roundrobin, static-rr, leastconn, source, uri, url_param, hdr(<name>), rdp-cookie, first, random[(<draws>)], hash <expr>, got 'roundrobim'; did you mean 'roundrobin'?"
    );
    assert_eq!(
        err("    balance uri depth"),
        "'balance uri depth' expects a positive integer"
    );
    assert_eq!(
        err("    balance hdr()"),
        "'balance' expects hdr(<name>), got 'hdr()'"
    );
    assert_eq!(
        err("    balance url_param"),
        "'balance url_param' expects a query parameter name"
    );
    assert_eq!(
        err("    balance hash"),
        "'balance hash' expects a sample expression"
    );
    assert!(err("    balance hash dst_port").contains("ringlb reads only the request line"));
    assert!(err("    balance hash req.cookie(id)").contains("failed to parse 'balance hash'"));
    assert_eq!(
        err("    balance hash path x"),
        "'balance hash' takes a single sample expression (no spaces)"
    );
    assert!(matches!(
        be("    balance hash req.cook(id),lower").balance,
        Balance::Hash(_)
    ));
    assert_eq!(
        err("    balance source now"),
        "'balance source' has an unexpected argument 'now'"
    );
}

#[test]
fn hash_type() {
    assert_eq!(
        be("    hash-type consistent").hash_type,
        HashType::Consistent
    );
    assert_eq!(
        be("    hash-type map-based sdbm avalanche").hash_type,
        HashType::MapBased
    );
    assert!(warns("    hash-type consistent").is_empty());
    assert!(warns("    hash-type map-based sdbm avalanche").is_empty());
    fn f(body: &str) -> HashFunction {
        be(body).hash_function
    }
    // As HAProxy 2.6: `consistent` alone adds `avalanche`, a named function does not.
    assert_eq!(
        f("    hash-type consistent"),
        HashFunction {
            func: HashFn::Sdbm,
            avalanche: true
        }
    );
    assert_eq!(f("    hash-type map-based"), HashFunction::default());
    assert_eq!(f("    hash-type consistent sdbm"), HashFunction::default());
    assert_eq!(
        f("    hash-type consistent djb2"),
        HashFunction {
            func: HashFn::Djb2,
            avalanche: false
        }
    );
    assert_eq!(
        f("    hash-type map-based sdbm avalanche"),
        HashFunction {
            func: HashFn::Sdbm,
            avalanche: true
        }
    );
    // As HAProxy 2.6: the function comes first.
    assert!(err("    hash-type consistent avalanche").contains("got 'avalanche'"));
    assert!(err("    hash-type consistent sdbm fast").contains("got 'fast'"));
    for (word, func) in [
        ("wt6", HashFn::Wt6),
        ("crc32", HashFn::Crc32),
        ("none", HashFn::None),
    ] {
        assert_eq!(f(&format!("    hash-type map-based {word}")).func, func);
    }
    assert!(err("    hash-type consistent md5").contains("got 'md5'"));
    assert!(err("    balance url_param id check_post").contains("check_post"));
    assert_eq!(
        err("    hash-type ring"),
        "'hash-type' expects 'map-based' or 'consistent', got 'ring'"
    );
}

#[test]
fn cookie_full_form() {
    let c = be("    cookie SRV insert indirect nocache postonly httponly secure domain .a.com domain .b.com")
        .cookie
        .expect("cookie set");
    assert_eq!((c.name.as_str(), c.mode), ("SRV", CookieMode::Insert));
    assert!(c.indirect && c.nocache && c.postonly && c.httponly && c.secure);
    assert_eq!(c.domains, vec![".a.com", ".b.com"]);
    assert_eq!((c.maxidle, c.maxlife), (None, None));
    let c = be("    cookie SRV insert attr SameSite=None attr Partitioned")
        .cookie
        .expect("cookie set");
    assert_eq!(c.attrs, vec!["SameSite=None", "Partitioned"]);
    assert_eq!(
        err("    cookie SRV insert attr \"a;b\""),
        "'cookie attr': character ';' is not permitted in attribute value"
    );
    assert_eq!(c.origin.line, 8);
    // Dated cookies are not built: refused, not carried without their dates.
    for opt in ["maxidle 30m", "maxlife 8h"] {
        assert_eq!(
            err(&format!("    cookie SRV insert {opt}")),
            format!(
                "'cookie {}' is not supported yet: stickiness cookies carry no date",
                opt.split(' ').next().unwrap()
            )
        );
    }
    assert_eq!(
        err("    cookie SRV insert preserve"),
        "'cookie' option 'preserve' is not supported yet"
    );
}

#[test]
fn bad_cookies() {
    assert_eq!(
        err("    cookie A insert prefix"),
        "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible"
    );
    assert_eq!(
        err("    cookie A indirect"),
        "'cookie A' expects a mode: 'insert', 'rewrite' or 'prefix' (ringlb has no passive cookie mode)"
    );
    assert_eq!(
        err("    cookie A insert maxidle"),
        "'cookie maxidle' expects a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d)"
    );
    assert_has(&[err("    cookie A insert sticky")], "got 'sticky'");
    assert_eq!(
        err("    cookie"),
        "'cookie' expects a cookie name and a mode (insert, rewrite or prefix)"
    );
}

#[test]
fn two_cookie_lines_last_wins_with_warning() {
    let w = warns("    cookie SERVERID rewrite\n    cookie JSESSIONID prefix");
    assert_has(
        &w,
        "t.cfg:9: 'cookie' at line 9 overrides 'cookie' at line 8; only the last one is used (as HAProxy)",
    );
    assert_eq!(
        be("    cookie SERVERID rewrite\n    cookie JSESSIONID prefix")
            .cookie
            .map(|c| c.name),
        Some("JSESSIONID".into())
    );
    // A cookie inherited from `defaults` is replaced silently, as HAProxy.
    let cfg = "defaults\n    mode http\n    cookie A insert\nlisten l\n    bind :80\n    cookie B insert\n    server s 127.0.0.1:80\n";
    assert!(!warnings(cfg).iter().any(|w| w.contains("overrides")));
}

// ---- stats ----

#[test]
fn proxy_stats() {
    let s = fe("    stats uri /admin\n    stats realm \"Web\\ farm\"\n    stats auth admin:secret\n    stats auth ops:x:y\n\
                stats refresh 10s\n    stats hide-version\n    stats show-node lb1")
        .stats;
    assert!(s.enabled && s.hide_version && s.admin.is_none());
    assert_eq!(s.uri.as_deref(), Some("/admin"));
    assert_eq!(s.realm.as_deref(), Some("Web farm"));
    assert_eq!(
        s.auth,
        vec![
            ("admin".into(), "secret".into()),
            ("ops".into(), "x:y".into())
        ]
    );
    assert_eq!(s.refresh, Some(Duration::from_secs(10)));
    assert_eq!(s.show_node, Some(Some("lb1".into())));
    assert_eq!(fe("    stats show-node").stats.show_node, Some(None));
    assert!(
        warns("    stats enable\n    stats uri /admin\n    stats auth a:b\n    stats refresh 5s")
            .is_empty(),
        "the stats page is built: its keywords no longer warn"
    );
    assert!(fe("    stats admin if TRUE").stats.admin.is_some());
    assert_eq!(
        err("    stats admin"),
        "'stats admin' expects 'if <condition>' or 'unless <condition>'"
    );
    let s = fe(
        "    stats scope .\n    stats scope other\n    stats show-legends\n    \
                stats show-desc Main farm",
    )
    .stats;
    assert_eq!(s.scope.len(), 2);
    assert_eq!(s.scope[1], "other");
    assert!(s.show_legends);
    assert_eq!(s.show_desc, Some(Some("Main farm".into())));
    assert_eq!(fe("    stats show-desc").stats.show_desc, Some(None));
}

#[test]
fn bad_proxy_stats() {
    assert_eq!(
        err("    stats auth admin"),
        "'stats auth' expects <user>:<password>, got 'admin'"
    );
    assert_eq!(
        err("    stats admin"),
        "'stats admin' expects 'if <condition>' or 'unless <condition>'"
    );
    assert_eq!(
        err("    stats socket /x"),
        "'stats socket' is only allowed in the 'global' section"
    );
    assert_eq!(
        err("    stats enabel"),
        "'stats' expects one of enable, uri, realm, auth, refresh, hide-version, show-node, admin, show-legends, show-desc, show-modules, scope, http-request, got 'enabel'; did you mean 'enable'?"
    );
    assert_eq!(err("    stats uri"), "'stats uri' expects a URI prefix");
    assert_eq!(
        errors("defaults\n    stats admin if TRUE\n"),
        vec!["t.cfg:2: 'stats admin' not allowed in 'defaults' section"]
    );
}

// ---- servers ----

#[test]
fn server_defaults_and_every_option() {
    let b = be(
        "    server a 127.0.0.1:81 weight 10 check inter 3s fastinter 1s downinter 10s rise 4 fall 6 port 8081 addr 127.0.0.2 backup maxconn 0 disabled\n    server h localhost:82",
    );
    let a = &b.servers[0];
    assert_eq!(
        (a.weight, a.check, a.inter, a.rise, a.fall),
        (10, true, Duration::from_secs(3), 4, 6)
    );
    assert_eq!(
        (a.fastinter, a.downinter),
        (Some(Duration::from_secs(1)), Some(Duration::from_secs(10)))
    );
    assert_eq!(
        (a.check_port, a.check_addr),
        (Some(8081), Some("127.0.0.2".parse().expect("ip")))
    );
    assert!(a.backup && a.disabled);
    assert_eq!(a.maxconn, None, "maxconn 0 is no limit");
    let h = &b.servers[1];
    assert_eq!(h.address, sa("127.0.0.1:82"));
    // The defaults, as HAProxy: weight 1, inter 2s, rise 2, fall 3.
    let s = &b.servers[2];
    assert_eq!(
        (s.weight, s.inter, s.rise, s.fall, s.check),
        (1, Duration::from_secs(2), 2, 3, false)
    );
    // Checks, backup servers and `maxconn`/`maxqueue` (the queues) are
    // built, `minconn`'s dynamic limit too; options that change when a
    // server takes traffic are refused.
    assert!(warns("    server b 127.0.0.1:81 check inter 1s rise 2 fall 3 backup").is_empty());
    let q = be("    default-server maxqueue 3\n    server b 127.0.0.1:81 maxconn 5 minconn 0");
    assert_eq!(
        (q.servers[0].maxconn, q.servers[0].maxqueue),
        (Some(5), Some(3))
    );
    let d = be("    server b 127.0.0.1:81 maxconn 5 minconn 2");
    assert_eq!(
        (d.servers[0].maxconn, d.servers[0].minconn),
        (Some(5), Some(2))
    );
    assert!(err("    server b 127.0.0.1:81 non-stick").contains("is not supported yet"));
}

#[test]
fn bad_server_options() {
    assert_eq!(
        err("    server b 127.0.0.1:81 weight abc"),
        "'weight' expects an integer between 0 and 256, got 'abc'"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 weight 300"),
        "'weight' expects an integer between 0 and 256, got '300'"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 inter 2x"),
        "'inter': unknown unit 'x' in '2x'; expected a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d)"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 inter 0"),
        "'inter' expects a positive duration, got '0'"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 rise 0"),
        "'rise' expects a positive integer, got '0'"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 port 70000"),
        "'port' expects an integer between 1 and 65535, got '70000'"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 addr nowhere"),
        "'addr' expects an IP address, got 'nowhere'"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 chek"),
        "unknown server option 'chek'; did you mean 'check'?"
    );
    assert_eq!(
        err("    server b 127.0.0.1:81 ssl"),
        "'server l/b' : verify is enabled by default but no CA file specified. If you're \
         running on a LAN where you're certain to trust the server's certificate, please set an \
         explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' \
         in the global section to disable server-side verifications by default."
    );
    assert_eq!(
        err("    server b"),
        "'server' expects <name> <address>:<port> [options]"
    );
    assert_eq!(
        err("    server b 127.0.0.1:0"),
        "server 'b': port 0 is not a valid port (in '127.0.0.1:0')"
    );
}

#[test]
fn default_server_is_inherited_by_later_servers() {
    let b = be(
        "    server a 127.0.0.1:80\n    default-server inter 5s fall 9 weight 20\n    server b 127.0.0.1:81 weight 3",
    );
    assert_eq!(
        (b.servers[0].inter, b.servers[0].weight),
        (Duration::from_secs(2), 1)
    );
    assert_eq!(
        (b.servers[1].inter, b.servers[1].fall, b.servers[1].weight),
        (Duration::from_secs(5), 9, 3)
    );
    assert_eq!(
        (b.servers[2].inter, b.servers[2].weight),
        (Duration::from_secs(5), 20)
    );
    assert_eq!(
        err("    default-server cookie x"),
        "'cookie' is not allowed on 'default-server' (each server needs its own value)"
    );
    assert_eq!(
        err("    default-server weight 999"),
        "'weight' expects an integer between 0 and 256, got '999'"
    );
}

// ---- server TLS (ssl, verify, ca-file, crt, sni, alpn, check-ssl, ...) ----

/// The TLS of the first server of `listen(body)`.
fn tls(
    body: &str,
) -> (
    Option<Arc<crate::tls::server::ServerTls>>,
    Option<Arc<crate::tls::server::ServerTls>>,
) {
    let b = be(body);
    (b.servers[0].ssl.clone(), b.servers[0].check_ssl.clone())
}

#[test]
fn server_ssl_options() {
    use crate::tls::server::{SYSTEM_CA_FILE, Verify};
    let (ssl, check) = tls("    server b 127.0.0.1:81 ssl verify none check");
    let t = ssl.expect("ssl");
    assert_eq!(t.verify, Verify::None);
    // Checks follow `ssl` when they go to the server's own address and port.
    assert!(check.is_some_and(|c| Arc::ptr_eq(&c, &t)));
    let (ssl, check) = tls("    server b 127.0.0.1:81 ssl verify none check port 8080");
    assert!(
        ssl.is_some() && check.is_none(),
        "a check port of its own is plain"
    );
    let (ssl, check) = tls("    server b 127.0.0.1:81 check-ssl verify none check port 8443");
    assert!(ssl.is_none() && check.is_some(), "check-ssl alone");
    let t = tls(
        "    server b 127.0.0.1:81 ssl ca-file @system-ca sni req.hdr(host) verifyhost a.test \
         alpn http/1.1 check-sni c.test check-alpn http/1.1 no-ssl-reuse no-tls-tickets \
         no-sslv3 no-tlsv10 no-tlsv11",
    )
    .0
    .expect("ssl");
    let o = &t.opts;
    assert_eq!(t.verify, Verify::Required, "ssl-server-verify's default");
    assert_eq!(o.ca_file.as_deref(), Some(SYSTEM_CA_FILE));
    assert_eq!(
        o.sni.as_ref().map(|s| s.text.as_str()),
        Some("req.hdr(host)")
    );
    assert_eq!(o.verifyhost.as_deref(), Some("a.test"));
    assert_eq!(o.alpn, Some(vec!["http/1.1".to_string()]));
    assert_eq!(o.check_sni.as_deref(), Some("c.test"));
    assert_eq!(o.check_alpn, Some(vec!["http/1.1".to_string()]));
    assert!(o.no_reuse);
    assert_eq!(o.no_tickets, Some(true));
    assert!(t.sni_expr().is_some());
    assert_eq!(t.config().alpn_protocols, vec![b"http/1.1".to_vec()]);
    // Plain servers have no TLS.
    assert_eq!(tls("    server b 127.0.0.1:81 check"), (None, None));
}

#[test]
fn server_ssl_inherited_from_default_server() {
    let b = be(
        "    default-server ssl verify none no-ssl-reuse alpn http/1.1\n    \
                server a 127.0.0.1:81\n    server c 127.0.0.1:82 no-ssl ssl-reuse\n    \
                server d 127.0.0.1:83 ssl-reuse tls-tickets",
    );
    let a = b.servers[0].ssl.as_ref().expect("inherited ssl");
    assert!(a.opts.no_reuse);
    assert_eq!(a.opts.alpn, Some(vec!["http/1.1".to_string()]));
    assert!(b.servers[1].ssl.is_none(), "no-ssl");
    let d = b.servers[2].ssl.as_ref().expect("ssl");
    assert!(!d.opts.no_reuse);
    assert_eq!(d.opts.no_tickets, Some(false));
    // Each server has its own configuration (its own session cache).
    assert!(!Arc::ptr_eq(&a.config(), &d.config()));
    // The trailing `server s` of `listen` inherits too.
    assert!(b.servers[3].ssl.is_some());
    let c = be(
        "    default-server check-ssl verify none\n    server a 127.0.0.1:81 check port 1 no-check-ssl",
    );
    assert!(c.servers[0].check_ssl.is_none());
    assert!(c.servers[1].check_ssl.is_some());
}

#[test]
fn ssl_server_verify_global() {
    let text = format!(
        "global\n    ssl-server-verify none\n{}",
        listen("    server b 127.0.0.1:81 ssl")
    );
    let b = config(&text).backends.remove(0);
    assert_eq!(
        b.servers[0].ssl.as_ref().map(|t| t.verify),
        Some(crate::tls::server::Verify::None)
    );
    // A server's own `verify required` still needs its CA.
    let text = format!(
        "global\n    ssl-server-verify none\n{}",
        listen("    server b 127.0.0.1:81 ssl verify required")
    );
    assert_has(
        &errors(&text),
        "t.cfg:10: 'server l/b' : verify is enabled by default",
    );
    assert_eq!(
        gerr("    ssl-server-verify maybe"),
        "'ssl-server-verify' expects 'none' or 'required' as argument."
    );
    assert_eq!(
        gerr("    ssl-server-verify"),
        "'ssl-server-verify' expects 'none' or 'required' as argument."
    );
    let text = format!(
        "global\n    ssl-server-verify none\n    ssl-default-server-options no-sslv3 no-tls-tickets\n{}",
        listen("    server b 127.0.0.1:81 ssl")
    );
    let b = config(&text).backends.remove(0);
    assert!(b.servers[0].ssl.is_some());
    assert_eq!(
        gerr("    ssl-default-server-options foo"),
        "unknown option 'foo' on global statement 'ssl-default-server-options'."
    );
    // The version options and cipher lists servers start from (as binds read them).
    let text = format!(
        "global\n    ssl-server-verify none\n    ssl-default-server-options force-tlsv12\n    \
         ssl-default-server-ciphers ECDHE-ECDSA-AES128-GCM-SHA256\n    \
         ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256\n{}",
        listen("    server b 127.0.0.1:81 ssl")
    );
    assert!(config(&text).backends[0].servers[0].ssl.is_some());
    assert!(
        gerr("    ssl-default-server-options ssl-min-ver TLSv1.1").contains("does not implement")
    );
    assert!(gerr("    ssl-default-server-ciphers NOPE").contains("NOPE"));
}

#[test]
fn bad_server_ssl_options() {
    let e = |opts: &str| err(&format!("    server b 127.0.0.1:81 {opts}"));
    // HAProxy 2.6's words after its "'server l/b' : ".
    assert_eq!(e("ssl verify"), "'verify' : missing verify method.");
    assert_eq!(
        e("ssl verify maybe"),
        "'verify' : unknown verify method 'maybe', only 'none' and 'required' are supported."
    );
    assert_eq!(
        e("ssl verifyhost"),
        "'verifyhost' : missing hostname to verify against."
    );
    assert_eq!(e("ssl sni"), "'sni' : missing sni expression.");
    assert!(
        e("ssl sni foo(").starts_with("error detected while parsing sni expression : "),
        "{}",
        e("ssl sni foo(")
    );
    assert_eq!(
        e("ssl alpn"),
        "'alpn' : missing the comma-delimited ALPN protocol suite."
    );
    assert_eq!(
        e("ssl check-alpn"),
        "'check-alpn' : missing the comma-delimited ALPN protocol suite."
    );
    assert_eq!(
        e("ssl verify none ca-file /nonexistent.pem"),
        "'server l/b' : Couldn't open the ca-file '/nonexistent.pem' (No such file or directory)."
    );
    assert_eq!(
        e("ssl verify none crt /nonexistent.pem"),
        "'server l/b' : unable to stat SSL certificate from file '/nonexistent.pem' : No such \
         file or directory."
    );
    // ringlb speaks HTTP/1.1 to servers.
    assert!(e("ssl verify none alpn h2").contains("not supported"));
    let w = warns("    server b 127.0.0.1:81 ssl verify none alpn h2,http/1.1");
    assert_has(&w, "'h2' is not offered, only 'http/1.1'");
    for o in [
        "ciphers HIGH",
        "ciphersuites TLS_AES_128_GCM_SHA256",
        "ssl-min-ver TLSv1.2",
        "ssl-max-ver TLSv1.3",
        "no-tlsv12",
        "force-tlsv13",
    ] {
        let b = be(&format!("    server b 127.0.0.1:81 ssl verify none {o}"));
        assert!(b.servers[0].ssl.is_some(), "{o}");
    }
    assert!(e("ssl verify none ssl-max-ver TLSv1.0").contains("does not implement"));
    assert!(e("ssl verify none no-tlsv12 no-tlsv13").contains("no TLS version"));
    assert!(
        e("ssl verify none crl-file x").contains("is not supported yet"),
        "crl-file"
    );
    // Options HAProxy has no `no-` form of are unknown, as in HAProxy.
    assert!(e("no-verify").starts_with("unknown server option 'no-verify'"));
}
