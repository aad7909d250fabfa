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
