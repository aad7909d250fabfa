//! `use-server`, `force-persist`, `ignore-persist`, `http-send-name-header`,
//! `persist rdp-cookie`, `bind-process`: their errors name the keyword, as
//! HAProxy 2.6's do (`haproxy -c` on the same lines).

use super::*;
use crate::persist::Target;

#[test]
fn use_server_needs_a_condition_and_a_known_server() {
    assert_eq!(
        err("    use-server s"),
        "'use-server' requires either 'if' or 'unless' followed by a condition"
    );
    assert_eq!(
        err("    use-server s when TRUE"),
        "'use-server' requires either 'if' or 'unless' followed by a condition"
    );
    assert_has(
        &errors(&listen("    use-server nope if TRUE")),
        "unable to find server 'nope' referenced in a 'use-server' rule",
    );
    assert_has(
        &errors(&listen("    use-server s if no_such_acl")),
        "no_such_acl",
    );
    let b = be("    acl a path_beg /a\n    use-server s if a\n    use-server %[str(s)] if TRUE");
    let rules = &b.persistence.use_server;
    assert_eq!(rules.len(), 2);
    assert!(matches!(rules[0].target, Target::Server(0)));
    assert!(matches!(rules[1].target, Target::Dynamic(_)));
}

#[test]
fn backend_persistence_keywords_in_a_frontend_are_ignored_as_haproxy() {
    // HAProxy 2.6 warns and ignores them there (a frontend chooses no server).
    for kw in [
        "use-server s if TRUE",
        "force-persist if TRUE",
        "ignore-persist if TRUE",
        "stick on src",
    ] {
        let text = format!(
            "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    \
             timeout server 30s\nfrontend f\n    bind :8080\n    {kw}\n    \
             default_backend b\nbackend b\n    server s 127.0.0.1:80\n"
        );
        let name = kw.split(' ').next().unwrap();
        assert_eq!(
            warnings(&text),
            vec![format!(
                "t.cfg:8: '{name}' ignored because frontend 'f' has no backend capability."
            )]
        );
    }
}

#[test]
fn force_and_ignore_persist_need_a_condition() {
    for kw in ["force-persist", "ignore-persist"] {
        assert_eq!(
            err(&format!("    {kw}")),
            format!("'{kw}' requires either 'if' or 'unless' followed by a condition")
        );
    }
    let b = be("    force-persist if { src 10.0.0.0/8 }\n    ignore-persist unless TRUE");
    let kinds: Vec<bool> = b.persistence.persist.iter().map(|(f, _)| *f).collect();
    assert_eq!(kinds, [true, false]);
}

#[test]
fn http_send_name_header_needs_its_name() {
    assert_eq!(
        err("    http-send-name-header"),
        "'http-send-name-header' requires a header string"
    );
    assert_eq!(
        be("    http-send-name-header X-Srv")
            .persistence
            .send_name
            .as_deref(),
        Some("X-Srv")
    );
}

#[test]
fn persist_takes_rdp_cookie_only() {
    assert_eq!(err("    persist"), "'persist': missing persist method");
    assert_eq!(
        err("    persist source"),
        "'persist' only supports 'rdp-cookie', got 'source'"
    );
    let tcp = |line: &str| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
             timeout server 30s\nlisten l\n    bind :3389\n    {line}\n    server s 127.0.0.1:3389\n"
        )
    };
    let c = config(&tcp("persist rdp-cookie"));
    assert_eq!(
        c.backends[0].persistence.rdp_cookie.as_deref(),
        Some("msts")
    );
    let c = config(&tcp("persist rdp-cookie(user)"));
    assert_eq!(
        c.backends[0].persistence.rdp_cookie.as_deref(),
        Some("user")
    );
    // In `mode http` there is no RDP cookie to read: warned, not kept.
    let w = warns("    persist rdp-cookie");
    assert_has(&w, "'persist rdp-cookie' ignored: it needs 'mode tcp'");
    assert_eq!(be("    persist rdp-cookie").persistence.rdp_cookie, None);
}

#[test]
fn bind_process_warns_as_haproxy_2_6() {
    for ok in ["1", "all", "odd", "even", "1-1"] {
        let w = warns(&format!("    bind-process {ok}"));
        assert_has(
            &w,
            "'bind-process' has no effect, is deprecated, and will be removed in version 2.7.",
        );
    }
    assert_eq!(
        err("    bind-process 2"),
        "bind-process : '2' is not a valid number/range. It supports numbers from 1 to 1."
    );
    assert_eq!(
        err("    bind-process"),
        "'bind-process' expects a process set"
    );
}

#[test]
fn a_disabled_backend_assigns_no_server() {
    let b = be("    use-server s if TRUE\n    persist rdp-cookie\n    disabled");
    assert!(b.persistence.use_server.is_empty());
}

#[test]
fn tcp_use_server_cannot_read_http() {
    let tcp = |line: &str| {
        format!(
            "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
             timeout server 30s\nlisten l\n    bind :3389\n    {line}\n    server s 127.0.0.1:3389\n"
        )
    };
    assert_has(
        &errors(&tcp("use-server s if { path_beg /a }")),
        "'use-server s': acl",
    );
    assert_has(
        &errors(&tcp("use-server %[req.hdr(x)] if TRUE")),
        "reads the HTTP request",
    );
    config(&tcp("use-server s if { req.payload(0,1) -m str A }"));
}
