//! The tcp-check rulesets HAProxy 2.6 builds for its protocol checks
//! (`option redis-check`, `ssl-hello-chk`, `smtpchk`, `pgsql-check`,
//! `mysql-check`, `ldap-check`): the same bytes sent, the same expects,
//! the same messages (`tests/tcp_checks.rs` compares them with HAProxy's).

use regex::bytes::Regex;

use super::status::CheckStatus;
use super::tcp_rules::{Code, Connect, Expect, Kind, Msg, Op, Pattern, Program, Rule, Send};

fn rule(index: u32, op: Op) -> Rule {
    Rule {
        index,
        comment: None,
        op,
    }
}

fn connect_default(index: u32) -> Rule {
    rule(
        index,
        Op::Connect(Connect {
            default: true,
            ..Connect::default()
        }),
    )
}

fn send(index: u32, bytes: &[u8]) -> Rule {
    rule(index, Op::Send(Send::Bytes(bytes.to_vec())))
}

fn expect(pattern: Pattern) -> Expect {
    Expect {
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
    }
}

/// A regex of these fixed rulesets (they are known to compile).
fn re(s: &str) -> Regex {
    Regex::new(s).unwrap_or_else(|_| unreachable!("fixed regex {s}"))
}

/// `res.payload(<from>,0)[,ltrim(' ')],cut_crlf`.
fn payload(from: usize, ltrim: bool, cut_crlf: bool) -> Option<Msg> {
    Some(Msg::Payload {
        from,
        ltrim,
        cut_crlf,
    })
}

fn program(text: &str, mut rules: Vec<Rule>) -> Program {
    for (i, r) in rules.iter_mut().enumerate() {
        if let Op::Expect(e) = &mut r.op {
            e.head = i;
        }
    }
    Program {
        kind: Kind::Proto,
        rules,
        text: text.into(),
    }
}

/// Rules as HAProxy adds them: an implicit connect in front when the first is not one.
fn with_implicit_connect(mut rules: Vec<Rule>) -> Vec<Rule> {
    let c = Connect {
        default: true,
        implicit: true,
        ..Connect::default()
    };
    rules.insert(0, rule(0, Op::Connect(c)));
    rules
}

/// `option redis-check`: PING, expect `+PONG`.
pub fn redis() -> Program {
    let mut e = expect(Pattern::String(b"+PONG\r\n".to_vec()));
    e.err = Some(CheckStatus::L7Sts);
    e.on_error = payload(0, false, true);
    e.on_success = Some(Msg::Lf(crate::lf::LogFormat::literal_text(
        "Redis server is ok",
    )));
    let rules = vec![
        send(0, b"*1\r\n$4\r\nPING\r\n"),
        rule(1, Op::Expect(Box::new(e))),
    ];
    program("option redis-check", with_implicit_connect(rules))
}

/// `option ssl-hello-chk`: an SSLv3 CLIENT HELLO, expect a handshake or alert record.
pub fn ssl_hello() -> Program {
    let mut e = expect(Pattern::Rbinary(re("^1[56]")));
    e.min_recv = Some(5);
    e.ok = Some(CheckStatus::L6Ok);
    e.err = Some(CheckStatus::L6Rsp);
    e.tout = Some(CheckStatus::L6Timeout);
    let rules = vec![
        rule(0, Op::Send(Send::Ssl3Hello)),
        rule(1, Op::Expect(Box::new(e))),
    ];
    program("option ssl-hello-chk", with_implicit_connect(rules))
}

/// An SMTP reply expect: `^<re>`, L7STS with the reply's text and code.
fn smtp_reply(re_text: &str, success: bool) -> Op {
    let mut e = expect(Pattern::Rstring(re(re_text)));
    e.min_recv = Some(4);
    e.err = Some(CheckStatus::L7Sts);
    e.on_error = payload(4, true, true);
    if success {
        e.on_success = payload(4, true, true);
    }
    e.status_code = Some(Code::Payload(0, 3));
    Op::Expect(Box::new(e))
}

/// `option smtpchk [<hello> <domain>]`: greeting, `<hello> <domain>`, QUIT.
pub fn smtp(hello: &str) -> Program {
    let mut greeting = expect(Pattern::Rstring(re("^[0-9]{3}[ \r]")));
    greeting.min_recv = Some(4);
    greeting.err = Some(CheckStatus::L7Rsp);
    greeting.on_error = payload(0, false, true);
    let rules = vec![
        connect_default(0),
        rule(1, Op::Expect(Box::new(greeting))),
        rule(2, smtp_reply("^2[0-9]{2}[ \r]", false)),
        send(3, format!("{hello}\r\n").as_bytes()),
        rule(4, smtp_reply("^2[0-9]{2}[- \r]", false)),
        send(5, b"QUIT\r\n"),
        rule(6, smtp_reply("^2[0-9]{2}[- \r]", true)),
    ];
    program(&format!("option smtpchk {hello}"), rules)
}

/// `option pgsql-check user <name>`: a StartupMessage, expect AuthenticationOk
/// (or a request for a password, which proves a server is there).
pub fn pgsql(user: &str) -> Program {
    let mut startup = ((15 + user.len()) as u32).to_be_bytes().to_vec();
    startup.extend_from_slice(b"\x00\x03\x00\x00user\x00");
    startup.extend_from_slice(user.as_bytes());
    startup.extend_from_slice(b"\x00\x00");
    let mut not_error = expect(Pattern::Rstring(re("^E")));
    not_error.inverse = true;
    not_error.min_recv = Some(5);
    not_error.err = Some(CheckStatus::L7Rsp);
    not_error.on_error = payload(6, false, false);
    let mut ok = expect(Pattern::Rbinary(re(
        "^52000000(08|0A|0C)000000(00|02|03|04|05|06)",
    )));
    ok.min_recv = Some(9);
    ok.err = Some(CheckStatus::L7Sts);
    let lit = crate::lf::LogFormat::literal_text;
    ok.on_success = Some(Msg::Lf(lit("PostgreSQL server is ok")));
    ok.on_error = Some(Msg::Lf(lit("PostgreSQL unknown error")));
    let rules = vec![
        connect_default(0),
        send(1, &startup),
        rule(2, Op::Expect(Box::new(not_error))),
        rule(3, Op::Expect(Box::new(ok))),
    ];
    let mut p = program(&format!("option pgsql-check user {user}"), rules);
    // The second expect resumes at the inverted one before it, as HAProxy's.
    if let Op::Expect(e) = &mut p.rules[3].op {
        e.head = 2;
    }
    p
}

/// `option mysql-check [user <name> [post-41|pre-41]]`: the greeting, and
/// with a user an authentication (then QUIT) answered by an OK packet.
pub fn mysql(user: Option<(&str, bool)>) -> Program {
    let mut rules = vec![connect_default(0)];
    let mut text = "option mysql-check".to_string();
    if let Some((name, post41)) = user {
        text += &format!(" user {name} {}", if post41 { "post-41" } else { "pre-41" });
        let body: &[u8] = if post41 {
            b"\x00\x82\x00\x00\x00\x80\x00\x01\x21\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        } else {
            b"\x00\x80\x00\x00\x01"
        };
        let len = name.len() + 7 + if post41 { 27 } else { 0 };
        let mut pkt = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 1];
        pkt.extend_from_slice(body);
        pkt.extend_from_slice(name.as_bytes());
        pkt.extend_from_slice(b"\x00\x00\x01\x00\x00\x00\x01");
        rules.push(send(1, &pkt));
    }
    let n = rules.len() as u32;
    rules.push(rule(
        n,
        Op::Expect(Box::new(expect(Pattern::MysqlGreeting))),
    ));
    if user.is_some() {
        rules.push(rule(n + 1, Op::Expect(Box::new(expect(Pattern::MysqlOk)))));
    }
    program(&text, rules)
}

/// `option ldap-check`: an anonymous bindRequest, expect a successful bindResponse.
pub fn ldap() -> Program {
    let mut is_ldap = expect(Pattern::Rbinary(re("^30")));
    is_ldap.min_recv = Some(14);
    is_ldap.on_error = Some(Msg::Lf(crate::lf::LogFormat::literal_text(
        "Not LDAPv3 protocol",
    )));
    let rules = vec![
        send(
            0,
            b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00",
        ),
        rule(1, Op::Expect(Box::new(is_ldap))),
        rule(2, Op::Expect(Box::new(expect(Pattern::LdapBind)))),
    ];
    program("option ldap-check", with_implicit_connect(rules))
}
