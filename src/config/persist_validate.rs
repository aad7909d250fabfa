//! Resolves the persistence keywords of each backend (`persist/`): the
//! servers `use-server` names, the ACLs the rules' conditions use, and the
//! mode checks.

use std::collections::HashMap;

use super::model::Mode;
use super::parse::Diag;
use super::raw::RawProxy;
use super::validate::ConfigNames;
use crate::persist::{Rules, Target, UseServer};

/// The compiled rules of every backend that has any, by backend index.
pub(super) fn link(
    proxies: &mut [RawProxy],
    by_name: &HashMap<String, usize>,
    names: &ConfigNames<'_>,
    diag: &mut Diag,
) -> Vec<(usize, Rules)> {
    let mut out = Vec::new();
    for p in proxies.iter_mut().filter(|p| p.kind.has_backend()) {
        let Some(&i) = by_name.get(&p.name) else {
            continue;
        };
        if let Some(rules) = backend_rules(p, names, diag) {
            out.push((i, rules));
        }
    }
    out
}

/// One backend's rules; `None` when it has none (or they were refused).
fn backend_rules(p: &mut RawProxy, names: &ConfigNames<'_>, diag: &mut Diag) -> Option<Rules> {
    let raw = p.persistence.clone();
    let mut send_name = raw.send_name.clone();
    let mut rdp_cookie = raw.rdp_cookie.clone();
    if p.mode == Mode::Tcp && send_name.take().is_some() {
        diag.warn_at(
            &p.origin,
            format!(
                "{}: 'http-send-name-header' ignored: it needs 'mode http'",
                p.label()
            ),
        );
    }
    if p.mode == Mode::Http && rdp_cookie.take().is_some() {
        diag.warn_at(
            &p.origin,
            format!(
                "{}: 'persist rdp-cookie' ignored: it needs 'mode tcp'",
                p.label()
            ),
        );
    }
    let has_rules = !raw.use_server.is_empty() || !raw.persist.is_empty();
    if !has_rules && send_name.is_none() && rdp_cookie.is_none() {
        return None;
    }
    let mut servers = HashMap::new();
    for (i, s) in p.servers.iter().enumerate() {
        servers.entry(s.name.clone()).or_insert(i);
    }
    let mut ok = true;
    if has_rules && let Err(e) = p.acls.link(names) {
        diag.error_at(&p.origin, format!("{}: {e}", p.label()));
        ok = false;
    }
    let mut use_server = Vec::new();
    for u in &raw.use_server {
        if p.mode == Mode::Tcp
            && let Some(acl) = p.acls.http_acl(&u.cond)
        {
            diag.error_at(
                &u.origin,
                format!(
                    "{}: 'use-server {}': acl '{acl}' reads the HTTP request, which a \
                     'mode tcp' proxy does not parse",
                    p.label(),
                    u.name
                ),
            );
            ok = false;
            continue;
        }
        let target = match &u.dynamic {
            Some(lf) => {
                let mut lf = lf.clone();
                if let Err(e) = lf.link(names) {
                    diag.error_at(
                        &u.origin,
                        format!("{}: 'use-server {}': {e}", p.label(), u.name),
                    );
                    ok = false;
                    continue;
                }
                if p.mode == Mode::Tcp && lf.needs_http() {
                    diag.error_at(
                        &u.origin,
                        format!(
                            "{}: 'use-server {}' reads the HTTP request, which a 'mode tcp' \
                             proxy does not parse",
                            p.label(),
                            u.name
                        ),
                    );
                    ok = false;
                    continue;
                }
                Target::Dynamic(lf)
            }
            None => match servers.get(&u.name) {
                Some(&s) => Target::Server(s),
                None => {
                    diag.error_at(
                        &u.origin,
                        format!(
                            "proxy '{}' : unable to find server '{}' referenced in a \
                             'use-server' rule",
                            p.name, u.name
                        ),
                    );
                    ok = false;
                    continue;
                }
            },
        };
        use_server.push(UseServer {
            target,
            cond: u.cond.clone(),
        });
    }
    if !ok {
        return None;
    }
    // A disabled backend chooses no server (503), nor do its rules; one
    // with `dispatch` sends everything to that address.
    if p.settings.disabled || p.settings.dispatch.is_some() {
        use_server.clear();
        rdp_cookie = None;
    }
    Some(Rules {
        acls: if has_rules {
            p.acls.clone()
        } else {
            Default::default()
        },
        use_server,
        persist: raw.persist.clone(),
        names: servers,
        send_name,
        rdp_cookie,
    })
}
