//! `stick-table` and `stick` lines: what loads, what is refused and why.

use super::*;
use crate::stick::{KeyType, StickKind};

#[test]
fn tables_and_rules_load() {
    let c = config(&listen(
        "    stick-table type string len 16 size 1k expire 30s nopurge store server_id\n    \
         stick on req.cook(sid) table l if { path_beg /a }\n    \
         stick store-response res.cook(sid)\n    stick match src",
    ));
    assert_eq!(c.stick_tables.len(), 1);
    let t = &c.stick_tables[0];
    assert_eq!(
        (t.name.as_str(), t.key, t.size, t.nopurge, t.server_key),
        ("l", KeyType::String(16), 1024, true, true)
    );
    assert_eq!(t.expire, Some(std::time::Duration::from_secs(30)));
    let kinds: Vec<StickKind> = c.backends[0].stick.rules.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [StickKind::On, StickKind::StoreResponse, StickKind::Match]
    );
    assert!(c.backends[0].stick.rules[0].cond.is_some());
    // A listen's conditions keep the ACLs they index (its frontend takes its own).
    assert!(!c.backends[0].stick.acls.0.is_empty());
}

#[test]
fn a_rule_may_use_another_proxys_table() {
    let text = format!(
        "{}backend t\n    stick-table type ip size 10\n",
        listen("    stick on src table t")
    );
    let c = config(&text);
    assert_eq!(c.stick_tables[0].name, "t");
    assert_eq!(c.backends[0].stick.rules[0].table_index, 0);
}

#[test]
fn refusals_name_the_keyword_and_the_reason() {
    let table = "    stick-table type ip size 10";
    assert_has(&[err(&format!("{table} peers p"))], "no 'peers' sections");
    assert_has(&[err(&format!("{table} store gpc0"))], "track-sc");
    assert_has(
        &[err(&format!("{table} store http_req_rate(10s)"))],
        "http_req_rate",
    );
    assert_has(&[err("    stick-table size 10")], "missing 'type'");
    assert_has(&[err("    stick-table type ip")], "missing 'size'");
    assert_has(
        &[err("    stick-table type text size 1")],
        "unknown type 'text'",
    );
    assert_has(&[err("    stick on src")], "unable to find stick-table 'l'");
    assert_has(&[err("    stick near src")], "expects 'on', 'match'");
    assert_has(
        &[err(&format!("{table}\n    stick on src table nope"))
            .trim_start_matches("t.cfg:9: ")
            .to_string()],
        "unable to find stick-table 'nope'",
    );
    assert_has(
        &[err(&format!("{table}\n    stick on res.hdr(x)"))
            .trim_start_matches("t.cfg:9: ")
            .to_string()],
        "request line",
    );
}

#[test]
fn stick_rules_belong_to_backends() {
    // In a frontend HAProxy 2.6 ignores them with a warning (no server to stick to).
    let text = "frontend f\n    bind :80\n    stick-table type ip size 1\n    stick on src\n    \
                default_backend b\nbackend b\n    server s 127.0.0.1:80\n";
    assert_has(
        &warnings(text),
        "t.cfg:4: 'stick' ignored because frontend 'f' has no backend capability.",
    );
}

#[test]
fn tcp_rules_read_the_address_only() {
    let text = "listen l\n    mode tcp\n    bind :80\n    stick-table type ip size 1\n    \
                stick on req.cook(x)\n    server s 127.0.0.1:80\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_has(&e, "'mode tcp'");
}
