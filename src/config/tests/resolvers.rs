//! `resolvers` sections, the server options that use them and `server-template`.

use std::time::Duration;

use super::*;
use crate::config::model::Prefer;

/// A `resolvers r1` section on lines 1-7, then `listen(body)` (its lines from 15).
fn with_resolvers(body: &str) -> String {
    format!(
        "resolvers r1\n    nameserver ns1 127.0.0.1:5353\n    resolve_retries 2\n    \
         timeout resolve 100ms\n    timeout retry 200ms\n    hold valid 300ms\n    \
         accepted_payload_size 1232\n{}",
        listen(body)
    )
}

#[test]
fn section_and_server_options_are_read() {
    let c = config(&with_resolvers(
        "    server web web.test:8080 resolvers r1 init-addr none resolve-prefer ipv4 \
         resolve-net 10.0.0.0/8 resolve-opts allow-dup-ip",
    ));
    let r = &c.resolvers[0];
    assert_eq!(r.name, "r1");
    assert_eq!(
        r.nameservers,
        vec![("ns1".into(), "127.0.0.1:5353".parse().unwrap())]
    );
    assert_eq!((r.retries, r.accepted_payload_size), (2, 1232));
    assert_eq!(r.timeout_resolve, Duration::from_millis(100));
    assert_eq!(r.timeout_retry, Duration::from_millis(200));
    assert_eq!(r.hold.valid, Duration::from_millis(300));
    assert_eq!(r.hold.nx, Duration::from_secs(30));
    let s = &c.backends[0].servers[0];
    assert!(s.unresolved);
    assert_eq!(s.address, sa("0.0.0.0:8080"));
    let d = s.dns.as_ref().expect("resolved at run time");
    assert_eq!((d.resolvers, d.fqdn.as_str()), (0, "web.test"));
    assert_eq!(d.prefer, Prefer::Ipv4);
    assert!(d.allow_dup_ip);
    assert_eq!(d.nets, vec![("10.0.0.0".parse().unwrap(), 8)]);
}

#[test]
fn init_addr_last_finds_nothing_and_the_next_method_runs() {
    // No server-state-file: `last` is skipped, as in HAProxy without one.
    let c = config(&with_resolvers(
        "    server web web.test:8080 resolvers r1 init-addr last,none",
    ));
    let s = &c.backends[0].servers[0];
    assert!(
        s.unresolved,
        "'none' starts it unresolved (no libc: tests resolve no name)"
    );
    let c = config(&with_resolvers(
        "    server web web.test:8080 resolvers r1 init-addr last,10.1.2.3",
    ));
    assert_eq!(c.backends[0].servers[0].address, sa("10.1.2.3:8080"));
}

#[test]
fn server_template_makes_numbered_servers() {
    let c = config(&with_resolvers(
        "    server-template srv 2-4 svc.test:80 resolvers r1 init-addr none check",
    ));
    let names: Vec<&str> = c.backends[0]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["srv2", "srv3", "srv4", "s"]);
    assert!(
        c.backends[0].servers[..3]
            .iter()
            .all(|s| s.unresolved && s.check && s.dns.is_some())
    );
    // An IP with init-addr: starts there, still resolved again.
    let c = config(&with_resolvers(
        "    server web web.test:80 resolvers r1 init-addr 127.0.0.7",
    ));
    let s = &c.backends[0].servers[0];
    assert_eq!(
        (s.address.clone(), s.unresolved),
        (sa("127.0.0.7:80"), false)
    );
}

/// The only error of `with_resolvers(body)`.
fn rerr(body: &str) -> String {
    let e = errors(&with_resolvers(body));
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].clone()
}

#[test]
fn errors_name_the_keyword() {
    let e = rerr("    server web web.test:80 resolvers nope init-addr none");
    assert!(
        e.contains("unable to find required resolvers 'nope'"),
        "{e}"
    );
    let e = rerr("    server web web.test:80 resolvers r1 init-addr last");
    assert!(
        e.contains("init-addr last") && e.contains("server-state-file"),
        "{e}"
    );
    let e = rerr("    server web web.test:80 resolve-prefer ipv5");
    assert!(e.contains("resolve-prefer"), "{e}");
    let e = rerr("    server web web.test:80 resolve-opts nope");
    assert!(e.contains("resolve-opts"), "{e}");
    let e = rerr("    server-template srv 0 svc.test:80 init-addr none");
    assert!(e.contains("server-template"), "{e}");
    let e = rerr("    server-template srv 2 _http._tcp.svc.test resolvers r1 init-addr none");
    assert!(e.contains("SRV"), "{e}");
    let e = rerr("    server web name.invalid:80 resolvers r1 init-addr 10.0.0.300");
    assert!(e.contains("init-addr"), "{e}");
}

#[test]
fn section_errors() {
    let bad = |line: &str| {
        let text = format!(
            "resolvers r1\n    nameserver ns1 127.0.0.1:53\n{line}\n{}",
            listen("")
        );
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("t.cfg:3: "), "{e:#?}");
        e[0].clone()
    };
    assert!(bad("    nameserver ns2 tcp@127.0.0.1:53").contains("TCP"));
    assert!(bad("    nameserver ns1 127.0.0.1:54").contains("already defined"));
    assert!(bad("    hold sometimes 1s").contains("'hold'"));
    assert!(bad("    accepted_payload_size 100").contains("accepted_payload_size"));
    assert!(bad("    timeout connect 1s").contains("'timeout'"));
    assert!(bad("    nameservr ns2 127.0.0.1:53").contains("nameserver"));
    // As HAProxy: a warning, not an error.
    let l = load(&format!("resolvers r1\n    hold valid 1s\n{}", listen(""))).expect("loads");
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("has no nameservers configured")),
        "{:?}",
        l.warnings
    );
}
