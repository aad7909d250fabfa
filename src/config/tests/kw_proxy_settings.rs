//! `source`, `disabled`/`enabled`, `rate-limit sessions`, `id`, `grace`,
//! `fullconn` with server `minconn`.

use super::*;

fn inet(s: &str) -> std::net::SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn source_on_proxies_and_servers() {
    assert_eq!(
        be("    source 127.0.0.2").settings.source,
        Some(inet("127.0.0.2:0"))
    );
    assert_eq!(
        be("    source 127.0.0.2:4000").settings.source,
        Some(inet("127.0.0.2:4000"))
    );
    assert_eq!(be("    source ::1").settings.source, Some(inet("[::1]:0")));
    assert_eq!(
        be("    source [::1]:81").settings.source,
        Some(inet("[::1]:81"))
    );
    let b = be("    server b 127.0.0.1:81 source 127.0.0.3");
    assert_eq!(b.servers[0].source, Some(inet("127.0.0.3:0")));
    assert!(err("    source nowhere").contains("'source' expects an IP address"));
    assert!(err("    source 127.0.0.2:1024-2000").contains("no range"));
    assert!(err("    source 127.0.0.2 usesrc clientip").contains("IP_TRANSPARENT"));
    assert!(err("    source 127.0.0.2 interface eth0").contains("device"));
    assert!(err("    server b 127.0.0.1:81 source 0.0.0.0 usesrc client").contains("usesrc"));
}

#[test]
fn disabled_and_enabled() {
    assert!(be("    disabled").settings.disabled);
    assert!(!be("    disabled\n    enabled").settings.disabled);
    // A disabled frontend is checked, then not kept: it does not listen.
    let c = config(&listen("    disabled"));
    assert!(c.frontends.is_empty());
    assert!(c.backends[0].settings.disabled);
    assert_eq!(
        err("    disabled now"),
        "'disabled' has an unexpected argument 'now'"
    );
}

#[test]
fn rate_limit_sessions() {
    assert_eq!(
        fe("    rate-limit sessions 10")
            .settings
            .rate_limit_sessions,
        Some(10)
    );
    assert_eq!(
        fe("    rate-limit sessions 0").settings.rate_limit_sessions,
        None
    );
    assert_eq!(
        err("    rate-limit connections 10"),
        "'rate-limit' expects 'sessions', got 'connections'"
    );
}

#[test]
fn ids_are_numbers_used_once() {
    assert_eq!(be("    id 7").settings.id, Some(7));
    let b = be("    server b 127.0.0.1:81 id 9");
    assert_eq!(b.servers[0].id, Some(9));
    let dup = format!(
        "{}backend b2\n    id 7\n    server s 127.0.0.1:80\n",
        listen("    id 7")
    );
    assert_has(&errors(&dup), "reuses same custom id 7 as listen 'l'");
    let e = errors(&listen(
        "    server a 127.0.0.1:81 id 4\n    server b 127.0.0.1:82 id 4",
    ));
    assert_has(
        &e,
        "'server l/b' : 'id' : custom id 4 already used at t.cfg:8 ('server a')",
    );
    assert!(err("    default-server id 3").contains("'id' is not allowed on 'default-server'"));
}

#[test]
fn grace_keeps_its_1_4_meaning_with_a_warning() {
    let f = fe("    grace 2s");
    assert_eq!(f.settings.grace, Some(std::time::Duration::from_secs(2)));
    assert_has(&warns("    grace 2s"), "'grace' was removed in HAProxy 2.5");
}

#[test]
fn fullconn_defaults_to_a_tenth_of_the_frontends_maxconn() {
    // The listen's own maxconn, 95: ceil(9.5) = 10.
    let b = be("    maxconn 95\n    server b 127.0.0.1:81 maxconn 50 minconn 5");
    assert_eq!(b.settings.fullconn, Some(10));
    let b = be("    fullconn 300\n    server b 127.0.0.1:81 maxconn 50 minconn 5");
    assert_eq!(b.settings.fullconn, Some(300));
    // Without `minconn` below `maxconn`, nothing is dynamic.
    let b = be("    server b 127.0.0.1:81 maxconn 50 minconn 60");
    assert_eq!(
        (b.servers[0].maxconn, b.servers[0].minconn),
        (Some(60), None)
    );
    assert_eq!(b.settings.fullconn, None);
    // Two frontends route to `b` (one by `use_backend`); the global maxconn
    // stands for the one without its own.
    let text = "global\n    maxconn 1000\ndefaults\n    mode http\n    timeout connect 5s\n    \
                timeout client 30s\n    timeout server 30s\nfrontend f1\n    bind :8081\n    \
                maxconn 200\n    default_backend b\nfrontend f2\n    bind :8082\n    \
                use_backend b if TRUE\n    default_backend c\nbackend b\n    server s \
                127.0.0.1:80 maxconn 10 minconn 1\nbackend c\n    server s 127.0.0.1:80\n";
    let c = config(text);
    assert_eq!(c.backends[0].settings.fullconn, Some(120));
}

#[test]
fn send_proxy_options_and_their_checks() {
    use crate::server::proxy_header::ProxyOpts;
    let b = be(
        "    default-server send-proxy-v2 proxy-v2-options crc32c,unique-id\n    \
                server a 127.0.0.1:80 check\n    \
                server b 127.0.0.1:80 check port 81\n    \
                server c 127.0.0.1:80 no-send-proxy-v2 check-send-proxy\n    \
                server d 127.0.0.1:80 send-proxy check addr 127.0.0.2",
    );
    let v2 = ProxyOpts {
        v2: true,
        crc32c: true,
        unique_id: true,
        ..ProxyOpts::default()
    };
    assert_eq!(b.servers[0].send_proxy, Some(v2));
    // Checks inherit the header only without a `port` or `addr` of their own.
    assert_eq!(b.servers[0].check_send_proxy, Some(v2));
    assert_eq!(b.servers[1].check_send_proxy, None);
    let no_v2 = ProxyOpts { v2: false, ..v2 };
    // `proxy-v2-options` alone still sends (version 1), as HAProxy 2.6.
    assert_eq!(b.servers[2].send_proxy, Some(no_v2));
    assert_eq!(b.servers[2].check_send_proxy, Some(no_v2));
    assert_eq!(b.servers[3].check_send_proxy, None);
    let plain = be("    server a 127.0.0.1:80 check-send-proxy");
    assert_eq!(plain.servers[0].send_proxy, None);
    assert_eq!(
        plain.servers[0].check_send_proxy,
        Some(ProxyOpts::default())
    );
}

#[test]
fn tls_proxy_options() {
    use crate::server::proxy_header::ProxyOpts;
    let b = be(
        "    server a 127.0.0.1:80 send-proxy-v2 proxy-v2-options ssl,cert-cn,ssl-cipher\n    \
                server b 127.0.0.1:80 send-proxy-v2-ssl\n    \
                server c 127.0.0.1:80 send-proxy-v2-ssl-cn",
    );
    let ssl = ProxyOpts {
        v2: true,
        ssl: true,
        ..ProxyOpts::default()
    };
    let all = ProxyOpts {
        ssl_cn: true,
        ssl_cipher: true,
        ..ssl
    };
    assert_eq!(b.servers[0].send_proxy, Some(all));
    assert_eq!(b.servers[1].send_proxy, Some(ssl));
    assert_eq!(
        b.servers[2].send_proxy,
        Some(ProxyOpts {
            ssl_cn: true,
            ..ssl
        })
    );
    let e = err("    server a 127.0.0.1:80 send-proxy-v2 proxy-v2-options cert-sig");
    assert!(
        e.contains("proxy-v2-options cert-sig") && e.contains("rustls"),
        "{e}"
    );
    let e = err("    server a 127.0.0.1:80 proxy-v2-options nope");
    assert!(e.contains("nope"), "{e}");
}
