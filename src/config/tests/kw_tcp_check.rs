//! `tcp-check` lines and the tcp-check options (`kw/tcp_check.rs`).

use super::*;
use crate::check::tcp_rules::{Kind, Op, Program, step_id};

fn program(body: &str) -> std::sync::Arc<Program> {
    be(body).tcpcheck.expect("a tcp-check program")
}

#[test]
fn rules_get_an_implicit_connect_and_their_comments() {
    let p = program(
        "    option tcp-check\n    tcp-check comment first\n    tcp-check send x\n    \
         tcp-check send y\n    tcp-check expect string z",
    );
    assert_eq!(p.kind, Kind::Tcp);
    let steps: Vec<(u32, Option<&str>)> = p
        .rules
        .iter()
        .map(|r| (step_id(r), r.comment.as_deref()))
        .collect();
    // The comment line counts as a step; it describes the run of sends after it.
    assert_eq!(
        steps,
        [(0, None), (2, Some("first")), (3, Some("first")), (4, None)]
    );
    assert!(matches!(&p.rules[0].op, Op::Connect(c) if c.implicit && c.default));
}

#[test]
fn an_explicit_connect_takes_the_comment_before_it() {
    let p = program(
        "    option tcp-check\n    tcp-check comment hello\n    tcp-check connect port 8080\n    \
         tcp-check send x",
    );
    assert_eq!(p.rules.len(), 2);
    assert_eq!(p.rules[0].comment.as_deref(), Some("hello"));
    assert!(matches!(&p.rules[0].op, Op::Connect(c) if c.port == Some(8080) && !c.implicit));
    assert_eq!(p.rules[1].comment, None);
}

#[test]
fn the_last_check_option_wins() {
    let b = be("    option redis-check\n    option httpchk GET /");
    assert!(b.tcpcheck.is_none() && b.httpchk.is_some());
    let b = be("    option httpchk GET /\n    option smtpchk");
    assert!(b.httpchk.is_none());
    assert_eq!(
        b.tcpcheck.expect("smtpchk").text,
        "option smtpchk HELO localhost"
    );
    // Rules alone choose nothing: HAProxy runs them only with `option tcp-check`.
    assert!(be("    tcp-check send x").tcpcheck.is_none());
}

#[test]
fn own_rules_replace_those_of_defaults() {
    let text = "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    \
                timeout server 30s\n    option tcp-check\n    tcp-check send a\n\
                listen l\n    bind :8080\n    tcp-check send b\n    server s 127.0.0.1:80\n\
                listen m\n    bind :8081\n    server s 127.0.0.1:80\n";
    let c = config(text);
    let sends = |i: usize| {
        let p = c.backends[i].tcpcheck.clone().expect("inherited option");
        p.rules
            .iter()
            .filter_map(|r| match &r.op {
                Op::Send(crate::check::tcp_rules::Send::Bytes(b)) => Some(b.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sends(0), [b"b".to_vec()]);
    assert_eq!(sends(1), [b"a".to_vec()]);
}

fn has(msg: &str, needle: &str) {
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

#[test]
fn errors_name_the_keyword() {
    has(
        &err("    tcp-check set-var(txn.x) int(1)"),
        "'check.' scope",
    );
    has(&err("    option mysql-check user"), "expects <username>");
    has(
        &err("    option mysql-check user u post-42"),
        "'post-41' and 'pre-41'",
    );
    has(&err("    tcp-check expect string"), "tcp-check expect");
    has(
        &err("    tcp-check expect ok-status L7STS string x"),
        "ok-status",
    );
    has(
        &err("    tcp-check send-binary 4g"),
        "invalid binary string",
    );
    has(
        &err("    no option redis-check"),
        "negation is not supported",
    );
}
