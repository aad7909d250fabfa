//! Validation of `tcp-request` / `tcp-response` rules: each rule may read
//! only what exists where it runs (HAProxy warns "will never match"; ringlb
//! refuses, naming the ACL), and a backend keeps a linked copy of its ACLs
//! for its own rules.

use std::collections::HashMap;

use super::model::{Mode, TcpRule, TcpRules};
use super::parse::Diag;
use super::raw::{RawProxy, SectionKind};
use super::validate::ConfigNames;
use crate::acl::{AclSet, Layer};
use crate::http::rules::Action;

/// Refuses rules whose fetches cannot be read where the rule runs.
pub fn check(p: &RawProxy, diag: &mut Diag) {
    let tcp = p.mode == Mode::Tcp;
    let http_why = "reads the HTTP request, which a 'mode tcp' proxy does not parse";
    let conn_why = "reads the request contents, which a 'tcp-request connection' rule runs \
                    before (use 'tcp-request content')";
    let res_why = "reads the response, which a request rule runs before";
    let req_why = "reads the request contents, which a 'tcp-response content' rule cannot see";
    let raw_why = "reads raw request bytes, which ringlb inspects only in 'mode tcp' (in \
                   'mode http' use HTTP fetches)";
    let bad_conn = |l: Layer| match l {
        Layer::Connection => None,
        Layer::ReqContent | Layer::ResContent => Some(conn_why),
        Layer::Http => Some(http_why).filter(|_| tcp).or(Some(conn_why)),
    };
    let bad_content = |f: &crate::acl::Fetch| match f.layer() {
        Layer::Http if tcp => Some(http_why),
        Layer::ResContent => Some(res_why),
        _ if !tcp && f.reads_payload() => Some(raw_why),
        _ => None,
    };
    let bad_response = |l: Layer| match l {
        Layer::Http => Some(http_why),
        Layer::ReqContent => Some(req_why),
        _ => None,
    };
    let mut each =
        |rules: &[TcpRule], kw: &str, bad: &dyn Fn(&crate::acl::Fetch) -> Option<&'static str>| {
            for r in rules {
                if let Some(e) = &r.effect
                    && let Some(why) = effect_fetch(&e.0, bad)
                {
                    diag.error_at(
                        &r.origin,
                        format!(
                            "{}: '{kw} {}': its sample {why}",
                            p.label(),
                            action_name(&e.0)
                        ),
                    );
                }
                let Some(cond) = &r.cond else { continue };
                let mut why = None;
                if let Some(acl) = p.acls.find_acl(cond, |f| {
                    let b = bad(f);
                    if b.is_some() {
                        why = b;
                    }
                    b.is_some()
                }) {
                    diag.error_at(
                        &r.origin,
                        format!(
                            "{}: '{kw}': ACL '{acl}' {}",
                            p.label(),
                            why.unwrap_or(http_why)
                        ),
                    );
                }
            }
        };
    let t = &p.tcp;
    each(&t.connection, "tcp-request connection", &|f| {
        bad_conn(f.layer())
    });
    each(&t.content, "tcp-request content", &bad_content);
    each(&t.response, "tcp-response content", &|f| {
        bad_response(f.layer())
    });
    if !tcp && !t.response.is_empty() {
        diag.error_at(
            &t.response[0].origin,
            format!(
                "{}: 'tcp-response content' in 'mode http' is not supported by ringlb yet",
                p.label()
            ),
        );
    }
    no_delay(p, diag);
    use_backend_contents(p, diag);
    tcp_captures(p, diag);
}

/// The action's keyword, for messages.
fn action_name(a: &Action) -> &'static str {
    match a {
        Action::SetVar(..) => "set-var",
        Action::SetVarFmt(..) => "set-var-fmt",
        Action::UnsetVar(_) => "unset-var",
        _ => "capture",
    }
}

/// Why the first fetch of an effect's sample `bad` refuses cannot run there.
fn effect_fetch(
    a: &Action,
    bad: &dyn Fn(&crate::acl::Fetch) -> Option<&'static str>,
) -> Option<&'static str> {
    match a {
        Action::SetVar(_, e) | Action::Capture(e, _) => bad(&e.fetch),
        Action::SetVarFmt(_, f) => {
            let mut why = None;
            f.find_fetch(|x| {
                why = why.or(bad(x));
                why.is_some()
            });
            why
        }
        _ => None,
    }
}

/// `tcp-request content capture` in `mode tcp`: HAProxy takes it silently,
/// but its `tcplog` line has no capture field and ringlb's `mode tcp` log
/// has no other format, so the value would be shown nowhere: say so.
fn tcp_captures(p: &RawProxy, diag: &mut Diag) {
    if p.mode != Mode::Tcp {
        return;
    }
    let capture = |r: &&TcpRule| {
        r.effect
            .as_ref()
            .is_some_and(|e| matches!(*e.0, Action::Capture(..)))
    };
    if let Some(r) = p.tcp.content.iter().find(capture) {
        diag.warn_at(
            &r.origin,
            format!(
                "{}: 'tcp-request content capture' in 'mode tcp': the 'tcplog' line has no \
                 capture field, so the captured value is shown nowhere",
                p.label()
            ),
        );
    }
}

/// Resolves the proxy and server names the rules' effects read (`nbsrv(b)`).
pub(super) fn link_effects(
    p: &mut RawProxy,
    names: &ConfigNames<'_>,
    diag: &mut Diag,
) -> Result<(), ()> {
    let label = p.label();
    let mut ok = true;
    for r in p.tcp.connection.iter_mut().chain(&mut p.tcp.content) {
        let Some(e) = &mut r.effect else { continue };
        if let Err(err) = std::sync::Arc::make_mut(&mut e.0).link(names) {
            diag.error_at(&r.origin, format!("{label}: 'tcp-request content': {err}"));
            ok = false;
        }
    }
    if ok { Ok(()) } else { Err(()) }
}

/// Content rules reading bytes without an inspect delay decide on what is
/// there at once, usually nothing (HAProxy says nothing; ringlb warns).
fn no_delay(p: &RawProxy, diag: &mut Diag) {
    let t = &p.tcp;
    let reads = |r: &&TcpRule, layer: Layer| {
        let is = |f: &crate::acl::Fetch| (f.layer() == layer).then_some("");
        r.cond
            .as_ref()
            .is_some_and(|c| p.acls.find_acl(c, |f| f.layer() == layer).is_some())
            || r.effect
                .as_ref()
                .is_some_and(|e| effect_fetch(&e.0, &is).is_some())
    };
    let checks = [
        (
            &t.content,
            Layer::ReqContent,
            t.inspect_delay,
            "tcp-request",
        ),
        (
            &t.response,
            Layer::ResContent,
            t.res_inspect_delay,
            "tcp-response",
        ),
    ];
    for (rules, layer, delay, kw) in checks {
        if p.mode != Mode::Tcp || !delay.is_zero() {
            continue;
        }
        if let Some(r) = rules.iter().find(|r| reads(r, layer)) {
            diag.warn_at(
                &r.origin,
                format!(
                    "{}: '{kw} content' reads the contents but '{kw} inspect-delay' is not set: \
                     the rules decide on what is there at once, without waiting",
                    p.label()
                ),
            );
        }
    }
}

/// `use_backend` may read the client's first bytes in `mode tcp` once
/// content rules wait for them; never the response.
fn use_backend_contents(p: &RawProxy, diag: &mut Diag) {
    for sw in &p.switching {
        let Some(cond) = &sw.cond else { continue };
        if let Some(acl) = p.acls.find_acl(cond, |f| f.layer() == Layer::ResContent) {
            diag.error_at(
                &sw.origin,
                format!(
                    "{}: 'use_backend {}': ACL '{acl}' reads the response, which does not exist \
                     when the backend is chosen",
                    p.label(),
                    sw.backend
                ),
            );
        } else if p.mode == Mode::Tcp
            && p.tcp.content.is_empty()
            && let Some(acl) = p.acls.find_acl(cond, |f| f.layer() == Layer::ReqContent)
        {
            diag.warn_at(
                &sw.origin,
                format!(
                    "{}: 'use_backend {}': ACL '{acl}' reads the request contents, but no \
                     'tcp-request content' rule waits for them: it sees an empty buffer (add \
                     'tcp-request inspect-delay' and a 'tcp-request content' rule)",
                    p.label(),
                    sw.backend
                ),
            );
        }
    }
}

/// The rules a backend runs itself: a `backend` section's content rules
/// (a `listen` runs its own as the frontend's) and its response rules.
pub fn backend_rules(p: &RawProxy) -> TcpRules {
    let own = p.kind == SectionKind::Backend;
    TcpRules {
        connection: Vec::new(),
        content: if own {
            p.tcp.content.clone()
        } else {
            Vec::new()
        },
        inspect_delay: p.tcp.inspect_delay,
        response: p.tcp.response.clone(),
        res_inspect_delay: p.tcp.res_inspect_delay,
    }
}

/// Linked copies of the ACL tables (and rules, their effects linked) of
/// backends that have rules of their own, by backend index.
pub(super) fn backend_acls(
    proxies: &mut [RawProxy],
    by_name: &HashMap<String, usize>,
    names: &ConfigNames<'_>,
    diag: &mut Diag,
) -> Vec<(usize, AclSet, TcpRules)> {
    let mut out = Vec::new();
    for p in proxies.iter_mut().filter(|p| p.kind.has_backend()) {
        let own_content = p.kind == SectionKind::Backend && !p.tcp.content.is_empty();
        if !own_content && p.tcp.response.is_empty() {
            continue;
        }
        let Some(&i) = by_name.get(&p.name) else {
            continue;
        };
        // Linking is idempotent: a `listen` is linked again with its frontend.
        // A `listen` runs its content rules as a frontend (linked there).
        let linked = !own_content || link_effects(p, names, diag).is_ok();
        if p.acls.link(names).is_ok() && linked {
            out.push((i, p.acls.clone(), backend_rules(p)));
        }
    }
    out
}
