//! Unit tests of the expect matching: HAProxy's texts, and no panic on any bytes.

use super::*;
use crate::check::tcp_proto;

fn prog(kind: Kind, rules: Vec<Rule>) -> Program {
    Program {
        kind,
        rules,
        text: String::new(),
    }
}

fn expect_rule(index: u32, pattern: Pattern, comment: Option<&str>) -> Rule {
    Rule {
        index,
        comment: comment.map(String::from),
        op: Op::Expect(Box::new(Expect {
            pattern,
            inverse: false,
            min_recv: None,
            ok: None,
            err: None,
            tout: None,
            on_success: None,
            on_error: None,
            status_code: None,
            head: 0,
        })),
    }
}

fn eval(p: &Program, pos: usize, buf: &[u8], last: bool) -> Eval {
    let Op::Expect(e) = &p.rules[pos].op else {
        panic!("not an expect")
    };
    eval_expect(&At { prog: p, pos }, e, buf, last, &Vars::new())
}

#[test]
fn string_waits_then_fails_with_haproxys_text() {
    let p = prog(
        Kind::Tcp,
        vec![expect_rule(
            3,
            Pattern::String(b"+PONG".to_vec()),
            Some("pong"),
        )],
    );
    assert_eq!(eval(&p, 0, b"+PO", false), Eval::Wait);
    assert_eq!(eval(&p, 0, b"NOPE\r\n", false), Eval::Wait);
    assert_eq!(
        eval(&p, 0, b"NOPE\r\n", true),
        Eval::Stop(
            CheckStatus::L7Rsp,
            0,
            "TCPCHK did not match content '+PONG' at step 4 comment: pong".into()
        )
    );
    assert_eq!(eval(&p, 0, b"xx+PONG\r\n", false), Eval::Continue);
}

#[test]
fn inverted_regex_fails_at_once() {
    let mut p = prog(
        Kind::Tcp,
        vec![expect_rule(
            5,
            Pattern::Rstring(regex::bytes::Regex::new("^ERR").unwrap()),
            None,
        )],
    );
    if let Op::Expect(e) = &mut p.rules[0].op {
        e.inverse = true;
    }
    assert_eq!(
        eval(&p, 0, b"ERR", false),
        Eval::Stop(
            CheckStatus::L7Rsp,
            0,
            "TCPCHK matched unwanted content (regex) at step 6".into()
        )
    );
    assert_eq!(eval(&p, 0, b"OK", false), Eval::Wait);
    assert_eq!(eval(&p, 0, b"OK", true), Eval::Continue);
}

#[test]
fn rbinary_matches_the_upper_case_dump() {
    let p = prog(
        Kind::Tcp,
        vec![expect_rule(
            0,
            Pattern::Rbinary(regex::bytes::Regex::new("^1[56]0300").unwrap()),
            None,
        )],
    );
    assert_eq!(eval(&p, 0, b"\x16\x03\x00", true), Eval::Continue);
    assert_eq!(hex_upper(b"\x0a\xff"), "0AFF");
    assert_eq!(unhex(b"0aFF"), Some(vec![0x0a, 0xff]));
    assert_eq!(unhex(b"0a0"), None);
    assert_eq!(unhex(b"zz"), None);
}

#[test]
fn mysql_and_ldap_never_panic_on_garbage() {
    let programs = [
        tcp_proto::mysql(None),
        tcp_proto::mysql(Some(("u", true))),
        tcp_proto::ldap(),
        tcp_proto::pgsql("u"),
        tcp_proto::smtp("HELO localhost"),
        tcp_proto::redis(),
        tcp_proto::ssl_hello(),
    ];
    // A small deterministic generator: every short prefix and pseudo-random bytes.
    let mut seed = 0x2545_f491_u32;
    let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0xff; 40], vec![0x80; 3], vec![0x30, 0x84]];
    for n in 0..200 {
        let mut v = Vec::new();
        for _ in 0..(n % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            v.push(seed as u8);
        }
        inputs.push(v);
    }
    for p in &programs {
        for (pos, r) in p.rules.iter().enumerate() {
            if let Op::Expect(e) = &r.op {
                for b in &inputs {
                    for last in [false, true] {
                        let _ = eval_expect(&At { prog: p, pos }, e, b, last, &Vars::new());
                    }
                }
            }
        }
    }
}

#[test]
fn mysql_reads_version_and_error_packets() {
    let p = tcp_proto::mysql(None);
    let mut greeting = vec![11, 0, 0, 0, 0x0a];
    greeting.extend_from_slice(b"5.7.42\0abc");
    assert_eq!(
        eval(&p, 1, &greeting, false),
        Eval::Stop(CheckStatus::L7Ok, 0, "5.7.42".into())
    );
    assert_eq!(eval(&p, 1, &greeting[..6], false), Eval::Wait);
    let p = tcp_proto::mysql(Some(("u", true)));
    let mut both = greeting.clone();
    both.extend_from_slice(b"\x17\x00\x00\x02\xff\x15\x04#28000Access denied!");
    assert_eq!(eval(&p, 2, &both, false), Eval::Continue);
    assert_eq!(
        eval(&p, 3, &both, false),
        Eval::Stop(CheckStatus::L7Sts, 1045, "#28000Access denied!".into())
    );
}

#[test]
fn ldap_bind_response() {
    let p = tcp_proto::ldap();
    let ok = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00";
    assert_eq!(
        eval(&p, 3, ok, false),
        Eval::Stop(CheckStatus::L7Ok, 0, "Success".into())
    );
    let bad = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00";
    assert_eq!(
        eval(&p, 3, bad, false),
        Eval::Stop(
            CheckStatus::L7Sts,
            49,
            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into()
        )
    );
}

#[test]
fn protocol_requests_are_haproxys_bytes() {
    let sent = |p: &Program, pos: usize| match &p.rules[pos].op {
        Op::Send(Send::Bytes(b)) => hex_upper(b).to_lowercase(),
        _ => panic!("not a send"),
    };
    assert_eq!(
        sent(&tcp_proto::mysql(Some(("alice", true))), 1),
        "270000010082000000800001210000000000000000000000000000000000000000000000616c69636500000100000001"
    );
    assert_eq!(
        sent(&tcp_proto::pgsql("bob"), 1),
        "00000012000300007573657200626f620000"
    );
    assert_eq!(sent(&tcp_proto::ldap(), 1), "300c020101600702010304008000");
    assert_eq!(sent(&tcp_proto::redis(), 1), "2a310d0a24340d0a50494e470d0a");
    let hello = crate::check::tcp_run::ssl3_hello();
    assert_eq!(hello.len(), 126);
    assert_eq!(
        &hello[..11],
        b"\x16\x03\x00\x00\x79\x01\x00\x00\x75\x03\x00"
    );
}

#[test]
fn where_texts() {
    let p = prog(
        Kind::Tcp,
        vec![
            Rule {
                index: 0,
                comment: None,
                op: Op::Connect(Connect {
                    implicit: true,
                    default: true,
                    ..Connect::default()
                }),
            },
            expect_rule(1, Pattern::String(b"PONG".to_vec()), Some("c")),
        ],
    );
    assert_eq!(
        where_text(&p, Some(0)),
        " at initial connection step of tcp-check"
    );
    assert_eq!(
        where_text(&p, Some(1)),
        " at step 2 of tcp-check (expect string 'PONG') comment: 'c'"
    );
    let q = prog(Kind::Proto, vec![]);
    assert_eq!(where_text(&q, None), "");
}

#[test]
fn binary_patterns_print_as_haproxy() {
    assert_eq!(escaped(b"\x0a\xff\x00AB"), "<0A><FF>");
    assert_eq!(escaped(b"AB\x01"), "AB<01>");
}
