//! `tcp-request` and `tcp-response`: HAProxy's layer-4 rules.
//!
//! Built: `tcp-request connection accept|reject`, `tcp-request content
//! accept|reject`, `tcp-request inspect-delay`, `tcp-response content
//! accept|reject|close`, `tcp-response inspect-delay`, each with an optional
//! `if|unless <condition>` compiled against the proxy's ACLs; `tcp-request
//! content set-var|set-var-fmt|unset-var|capture`, parsed as their
//! `http-request` forms (a `capture ... len` adds a frontend request slot).
//! The variable actions also run in `tcp-request connection` rules (`sess`
//! variables only outlive them, as in HAProxy). Every other action HAProxy
//! knows (`track-sc*`, the variable actions in response rules, ...) is
//! refused with its name, never ignored. `tcp-request connection
//! expect-proxy layer4` is built (read in `proxy_protocol.rs`). Where each acts: connection rules in
//! `worker/accept.rs` (via `tcp/rules.rs`), content rules in `tcp/relay.rs`
//! (`mode tcp`) or per request in `http/session/` (`mode http`), response
//! rules in `tcp/relay.rs`.
//!
//! Sections as HAProxy: `connection` only where there is a frontend,
//! `tcp-response` only where there is a backend, delays also in a named
//! `defaults` (inherited). Rules in `defaults` are refused (HAProxy runs them
//! before the proxy's own; ringlb does not yet).

use crate::acl::Condition;
use crate::config::model::{TcpAction, TcpEffect, TcpRule};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::{RawProxy, SectionKind};

/// Actions HAProxy accepts in these rules that ringlb does not build.
const NOT_BUILT: &[&str] = &[
    "expect-proxy",
    "expect-netscaler-cip",
    "do-resolve",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt",
    "sc-set-gpt0",
    "send-spoe-group",
    "set-dst",
    "set-dst-port",
    "set-log-level",
    "set-mark",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-src",
    "set-src-port",
    "set-tos",
    "silent-drop",
    "switch-mode",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "use-service",
];

/// Variable and capture actions (`capture` in content rules only).
const EFFECTS: &[&str] = &["set-var", "set-var-fmt", "unset-var", "capture"];

/// `tcp-request <connection|content|inspect-delay> ...`.
pub fn tcp_request(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let what = args.next_string("'connection', 'content', 'session' or 'inspect-delay'")?;
    let label = format!("tcp-request {what}");
    match what.as_str() {
        "inspect-delay" => {
            named_defaults_only(p, &label)?;
            args.set_label(label.as_str());
            p.tcp.inspect_delay = args.next_duration()?;
            args.finish()
        }
        "connection" => {
            if p.kind == SectionKind::Backend {
                return Err(format!(
                    "{label} is not allowed because backend {} is not a frontend",
                    p.name
                ));
            }
            let rule = rule(cx, p, args, &label, false)?;
            p.tcp.connection.push(rule);
            Ok(())
        }
        "content" => {
            let rule = rule(cx, p, args, &label, false)?;
            p.tcp.content.push(rule);
            Ok(())
        }
        "session" => Err(format!(
            "'{label}' is not supported by ringlb yet (rules after the PROXY header or TLS \
             handshake); 'tcp-request connection' rules decide before them, 'tcp-request \
             content' rules after"
        )),
        _ => Err(format!(
            "'tcp-request' expects 'connection', 'content', 'session' or 'inspect-delay', got \
             '{what}'"
        )),
    }
}

/// `tcp-response <content|inspect-delay> ...`.
pub fn tcp_response(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let what = args.next_string("'content' or 'inspect-delay'")?;
    let label = format!("tcp-response {what}");
    if p.kind == SectionKind::Frontend {
        return Err(format!(
            "{label} is only allowed in 'backend' sections or 'defaults' section with a name"
        ));
    }
    match what.as_str() {
        "inspect-delay" => {
            named_defaults_only(p, &label)?;
            args.set_label(label.as_str());
            p.tcp.res_inspect_delay = args.next_duration()?;
            args.finish()
        }
        "content" => {
            let rule = rule(cx, p, args, &label, true)?;
            p.tcp.response.push(rule);
            Ok(())
        }
        _ => Err(format!(
            "'tcp-response' expects 'content' or 'inspect-delay', got '{what}'"
        )),
    }
}

/// HAProxy refuses these keywords in an anonymous `defaults` section.
fn named_defaults_only(p: &RawProxy, label: &str) -> Result<(), String> {
    if p.kind == SectionKind::Defaults && p.name.is_empty() {
        return Err(format!(
            "{label} is not allowed in anonymous 'defaults' sections"
        ));
    }
    Ok(())
}

/// `<action> [if|unless <condition>]`.
fn rule(
    cx: &mut Ctx<'_>,
    p: &mut RawProxy,
    args: &mut Args,
    label: &str,
    response: bool,
) -> Result<TcpRule, String> {
    named_defaults_only(p, label)?;
    if p.kind == SectionKind::Defaults {
        return Err(format!(
            "'{label}' rules in a 'defaults' section are not supported by ringlb yet; write \
             them in each proxy"
        ));
    }
    let word = args.next_string("an action ('accept' or 'reject')")?;
    let base = word.split('(').next().unwrap_or(&word);
    if EFFECTS.contains(&base) {
        return effect_rule(cx, p, args, label, word);
    }
    let action = match word.as_str() {
        "accept" => TcpAction::Accept,
        "reject" => TcpAction::Reject,
        "close" if response => TcpAction::Close,
        "expect-proxy" if label == "tcp-request connection" => {
            let w = args.next_string("'layer4'")?;
            if w != "layer4" {
                return Err(format!(
                    "'{label} expect-proxy' expects 'layer4', got '{w}'"
                ));
            }
            TcpAction::ExpectProxy
        }
        w => {
            let base = w.split('(').next().unwrap_or(w);
            let built = if response {
                "accept, reject, close"
            } else {
                "accept, reject"
            };
            return Err(if NOT_BUILT.contains(&base) {
                format!("'{label} {w}' is not supported by ringlb yet (it builds {built})")
            } else {
                format!("'{label}': unknown action '{w}' (ringlb builds {built})")
            });
        }
    };
    let words = args.rest();
    let cond = match words.first().map(String::as_str) {
        None => None,
        Some("if" | "unless") => Some(
            Condition::parse(&words, &mut p.acls, None)
                .map_err(|e| format!("'{label} {word}': {e}"))?,
        ),
        Some(w) => {
            return Err(format!(
                "'{label} {word}': expects 'if' or 'unless' followed by a condition, got '{w}'"
            ));
        }
    };
    Ok(TcpRule {
        action,
        effect: None,
        cond,
        origin: cx.origin.clone(),
    })
}

/// `set-var(<name>) <expr>`, `set-var-fmt(<name>) <fmt>`, `unset-var(<name>)`
/// and `capture <expr> len <n>`, parsed as their `http-request` forms are.
/// Built for `tcp-request content` and (but `capture`, as HAProxy)
/// `tcp-request connection`; the `tcp-response content` forms are refused
/// until built.
fn effect_rule(
    cx: &mut Ctx<'_>,
    p: &mut RawProxy,
    args: &mut Args,
    label: &str,
    word: String,
) -> Result<TcpRule, String> {
    use crate::http::rules::{Action, Capture, Side, parse_rule};
    let base = word.split('(').next().unwrap_or(&word).to_string();
    if base == "capture" && label != "tcp-request content" {
        return Err(format!(
            "'{label} capture' is not allowed (only 'tcp-request content capture')"
        ));
    }
    if label == "tcp-response content" {
        return Err(format!(
            "'{label} {word}' is not supported by ringlb yet (it builds variables in \
             'tcp-request connection' and 'tcp-request content')"
        ));
    }
    let mut words = vec![word.clone()];
    words.extend(args.rest());
    if base == "capture" && words.get(2).map(String::as_str) != Some("len") {
        return Err(format!(
            "'{label} capture': a positive 'len' argument is mandatory"
        ));
    }
    let rule = parse_rule(Side::Request, &words, &mut p.acls, &p.name, None)
        .map_err(|e| e.replacen("'http-request ", &format!("'{label} "), 1))?;
    let mut action = rule.action;
    if let Action::Capture(_, target) = &mut action {
        if matches!(target, Capture::Len(0)) {
            return Err(format!(
                "'{label} capture': a positive 'len' argument is mandatory"
            ));
        }
        *target = super::http_rules::capture_slot(p, Side::Request, *target).map_err(|_| {
            format!(
                "'{label} capture': proxy '{}' has no frontend capability",
                p.name
            )
        })?;
    }
    Ok(TcpRule {
        action: TcpAction::Continue,
        effect: Some(TcpEffect(std::sync::Arc::new(action))),
        cond: rule.cond,
        origin: cx.origin.clone(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::load_sources;
    use crate::config::model::TcpAction;
    use std::time::Duration;

    fn cfg(mode: &str, fe: &str, be: &str) -> String {
        format!(
            "defaults\n mode {mode}\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             frontend f\n bind 127.0.0.1:1\n{fe}\n default_backend b\n\
             backend b\n{be}\n server s 127.0.0.1:2\n"
        )
    }

    fn err(c: &str) -> String {
        load_sources(&[("t.cfg", c)]).unwrap_err().errors.join("\n")
    }

    #[test]
    fn rules_are_compiled_where_they_belong() {
        let c = cfg(
            "tcp",
            " tcp-request inspect-delay 5s\n tcp-request connection reject if { src 10.0.0.0/8 }\n \
             tcp-request content accept if { req.ssl_hello_type 1 }\n tcp-request content reject",
            " tcp-response inspect-delay 2s\n tcp-response content close if { res.len gt 0 }",
        );
        let l = load_sources(&[("t.cfg", &c)]).unwrap();
        let f = &l.config.frontends[0];
        assert_eq!(f.tcp.connection.len(), 1);
        assert_eq!(f.tcp.content.len(), 2);
        assert_eq!(f.tcp.content[1].action, TcpAction::Reject);
        assert!(f.tcp.content[1].cond.is_none());
        assert_eq!(f.tcp.inspect_delay, Duration::from_secs(5));
        let b = &l.config.backends[0];
        assert_eq!(b.tcp.response[0].action, TcpAction::Close);
        assert_eq!(b.tcp.res_inspect_delay, Duration::from_secs(2));
        assert!(!b.acls.0.is_empty());
    }

    #[test]
    fn expect_proxy_and_accept_proxy_are_compiled() {
        let c = cfg(
            "http",
            " tcp-request connection expect-proxy layer4 if { src 127.0.0.1 }\n              tcp-request connection reject",
            "",
        )
        .replace("bind 127.0.0.1:1\n", "bind 127.0.0.1:1\n bind 127.0.0.1:3 accept-proxy\n");
        let l = load_sources(&[("t.cfg", &c)]).unwrap();
        let f = &l.config.frontends[0];
        assert_eq!(f.tcp.connection[0].action, TcpAction::ExpectProxy);
        assert!(f.tcp.connection[0].cond.is_some());
        assert_eq!(f.tcp.connection[1].action, TcpAction::Reject);
        let proxied: Vec<bool> = f.binds.iter().map(|b| b.opts.accept_proxy).collect();
        assert_eq!(proxied, [false, true]);
    }

    #[test]
    fn a_listen_runs_its_content_rules_as_a_frontend() {
        let c = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                 listen l\n bind 127.0.0.1:1\n tcp-request content reject if { req.len gt 9 }\n \
                 tcp-response content reject if { res.len gt 9 }\n server s 127.0.0.1:2\n";
        let l = load_sources(&[("t.cfg", c)]).unwrap();
        assert_eq!(l.config.frontends[0].tcp.content.len(), 1);
        assert!(l.config.backends[0].tcp.content.is_empty());
        assert_eq!(l.config.backends[0].tcp.response.len(), 1);
    }

    #[test]
    fn misplaced_and_unbuilt_are_refused() {
        let e = err(&cfg("tcp", "", " tcp-request connection reject"));
        assert!(
            e.contains("t.cfg:11: tcp-request connection is not allowed because backend b"),
            "{e}"
        );
        let e = err(&cfg("tcp", " tcp-response content reject", ""));
        assert!(
            e.contains("t.cfg:8: tcp-response content is only allowed in"),
            "{e}"
        );
        let e = err(&cfg("tcp", " tcp-request connection track-sc0 src", ""));
        assert!(
            e.contains("'tcp-request connection track-sc0' is not supported"),
            "{e}"
        );
        let e = err(&cfg("tcp", " tcp-request content expect-proxy layer4", ""));
        assert!(e.contains("expect-proxy' is not supported"), "{e}");
        let e = err(&cfg(
            "tcp",
            " tcp-request connection expect-proxy layer7",
            "",
        ));
        assert!(e.contains("expects 'layer4', got 'layer7'"), "{e}");
        let e = err(&cfg(
            "tcp",
            " tcp-request connection set-var(sess.x) req.len",
            "",
        ));
        assert!(
            e.contains("'tcp-request connection set-var': its sample reads the request contents"),
            "{e}"
        );
        let e = err(&cfg("tcp", " tcp-request content frob", ""));
        assert!(e.contains("unknown action 'frob'"), "{e}");
        let e = err(&cfg("tcp", " tcp-request content reject when x", ""));
        assert!(e.contains("expects 'if' or 'unless'"), "{e}");
        let e = err(&cfg("tcp", " tcp-request content close", ""));
        assert!(e.contains("unknown action 'close'"), "{e}");
        let e = err(&cfg("tcp", " tcp-request session reject", ""));
        assert!(e.contains("'tcp-request session' is not supported"), "{e}");
        let e = err(&cfg("tcp", " tcp-request inspect-delay soon", ""));
        assert!(e.contains("tcp-request inspect-delay"), "{e}");
    }

    #[test]
    fn variable_and_capture_actions_compile() {
        use crate::http::rules::{Action, Capture};
        let c = cfg(
            "http",
            " capture request header Host len 4\n tcp-request content set-var(txn.s) src\n \
             tcp-request content set-var-fmt(sess.f) x%[src] if { src 127.0.0.1 }\n \
             tcp-request content unset-var(txn.s)\n \
             tcp-request content capture req.hdr(host) len 10",
            " tcp-request content set-var(txn.b) path",
        );
        let l = load_sources(&[("t.cfg", &c)]).unwrap();
        let f = &l.config.frontends[0];
        let acts: Vec<&Action> = f
            .tcp
            .content
            .iter()
            .map(|r| &*r.effect.as_ref().unwrap().0)
            .collect();
        assert!(
            f.tcp
                .content
                .iter()
                .all(|r| r.action == TcpAction::Continue)
        );
        assert!(matches!(acts[0], Action::SetVar(n, _) if n == "txn.s"));
        assert!(matches!(acts[1], Action::SetVarFmt(n, _) if n == "sess.f"));
        assert!(f.tcp.content[1].cond.is_some());
        assert!(matches!(acts[2], Action::UnsetVar(n) if n == "txn.s"));
        // The slot after the header capture.
        assert!(matches!(acts[3], Action::Capture(_, Capture::Id(1))));
        assert_eq!(f.captures.as_ref().unwrap().request[1].len, 10);
        let b = &l.config.backends[0];
        assert!(matches!(
            &*b.tcp.content[0].effect.as_ref().unwrap().0,
            Action::SetVar(..)
        ));
    }

    #[test]
    fn variable_and_capture_actions_are_checked() {
        let e = err(&cfg("http", " tcp-request content capture src", ""));
        assert!(
            e.contains("'tcp-request content capture': a positive 'len'"),
            "{e}"
        );
        let e = err(&cfg("http", " tcp-request content capture src id 0", ""));
        assert!(e.contains("a positive 'len'"), "{e}");
        let e = err(&cfg("http", " tcp-request content capture src len 0", ""));
        assert!(e.contains("a positive 'len'"), "{e}");
        let e = err(&cfg("http", "", " tcp-request content capture src len 4"));
        assert!(
            e.contains("t.cfg:11: 'tcp-request content capture': proxy 'b' has no frontend"),
            "{e}"
        );
        let e = err(&cfg(
            "http",
            " tcp-request connection capture src len 4",
            "",
        ));
        assert!(
            e.contains("'tcp-request connection capture' is not allowed"),
            "{e}"
        );
        let e = err(&cfg(
            "tcp",
            "",
            " tcp-response content set-var(txn.x) res.len",
        ));
        assert!(
            e.contains("'tcp-response content set-var(txn.x)' is not supported"),
            "{e}"
        );
        let e = err(&cfg(
            "tcp",
            "",
            " tcp-response content capture res.len len 3",
        ));
        assert!(
            e.contains("'tcp-response content capture' is not allowed"),
            "{e}"
        );
        let e = err(&cfg("http", " tcp-request content set-var(x) src", ""));
        assert!(
            e.contains("'tcp-request content set-var(x)': variable 'x' needs a scope"),
            "{e}"
        );
        let e = err(&cfg(
            "http",
            " tcp-request content set-var(txn.x) src,frob",
            "",
        ));
        assert!(e.contains("tcp-request content set-var(txn.x)"), "{e}");
        let e = err(&cfg(
            "tcp",
            " tcp-request content set-var(txn.x) req.hdr(host)",
            "",
        ));
        assert!(
            e.contains("'tcp-request content set-var': its sample reads the HTTP request"),
            "{e}"
        );
        let e = err(&cfg(
            "tcp",
            " tcp-request content set-var(txn.x) nbsrv(nope)",
            "",
        ));
        assert!(e.contains("nope"), "{e}");
        // A capture in mode tcp is shown nowhere: said so.
        let c = cfg(
            "tcp",
            " tcp-request inspect-delay 1s\n tcp-request content capture req.len len 4",
            "",
        );
        let l = load_sources(&[("t.cfg", &c)]).unwrap();
        assert!(
            l.warnings
                .iter()
                .any(|w| w.message.contains("the captured value is shown nowhere")),
            "{:?}",
            l.warnings
        );
        // Reading the contents without a delay: the usual warning.
        let c = cfg("tcp", " tcp-request content set-var(txn.x) req.ssl_sni", "");
        let l = load_sources(&[("t.cfg", &c)]).unwrap();
        assert!(
            l.warnings
                .iter()
                .any(|w| w.message.contains("inspect-delay' is not set"))
        );
    }

    #[test]
    fn defaults_keep_delays_only() {
        let anon = "defaults\n mode tcp\n tcp-request inspect-delay 3s\n";
        let e = err(&format!(
            "{anon}listen l\n bind 127.0.0.1:1\n server s 127.0.0.1:2\n"
        ));
        assert!(e.contains("not allowed in anonymous 'defaults'"), "{e}");
        let named = "defaults d\n mode tcp\n timeout client 1s\n timeout connect 1s\n \
                     timeout server 1s\n tcp-request inspect-delay 3s\n";
        let l = load_sources(&[(
            "t.cfg",
            &format!("{named}listen l\n bind 127.0.0.1:1\n server s 127.0.0.1:2\n"),
        )])
        .unwrap();
        assert_eq!(
            l.config.frontends[0].tcp.inspect_delay,
            Duration::from_secs(3)
        );
        let e = err(&format!(
            "{named} tcp-request content reject\nlisten l\n bind 127.0.0.1:1\n server s 127.0.0.1:2\n"
        ));
        assert!(
            e.contains("in a 'defaults' section are not supported"),
            "{e}"
        );
    }

    #[test]
    fn fetches_must_fit_the_rule() {
        let e = err(&cfg(
            "tcp",
            " tcp-request connection reject if { req.len gt 0 }",
            "",
        ));
        assert!(e.contains("reads the request contents"), "{e}");
        let e = err(&cfg(
            "tcp",
            " tcp-request content reject if { path /x }",
            "",
        ));
        assert!(e.contains("reads the HTTP request"), "{e}");
        let e = err(&cfg(
            "tcp",
            "",
            " tcp-response content reject if { req.ssl_sni x }",
        ));
        assert!(e.contains("reads the request contents"), "{e}");
        let e = err(&cfg(
            "http",
            " tcp-request content reject if { req.payload(0,1) -m found }",
            "",
        ));
        assert!(e.contains("mode http"), "{e}");
        // HTTP fetches are fine on an HTTP frontend's content rules.
        load_sources(&[(
            "t.cfg",
            &cfg(
                "http",
                " tcp-request content reject if { hdr(host) -i bad }",
                "",
            ),
        )])
        .unwrap();
        // SNI routing: use_backend on a content fetch in mode tcp.
        load_sources(&[(
            "t.cfg",
            &cfg(
                "tcp",
                " tcp-request inspect-delay 1s\n tcp-request content accept if { req.ssl_hello_type 1 }\n \
                 use_backend b if { req.ssl_sni -i a.example }",
                "",
            ),
        )])
        .unwrap();
    }
}
