//! Builds each server's TLS (`tls/server.rs`) once every section is read:
//! `verify` falls back to global `ssl-server-verify`, wherever it was written.

use std::sync::Arc;

use super::model::Backend;
use super::parse::Diag;
use super::raw::RawProxy;
use crate::tls::server::{ServerTls, ServerTlsDefaults};

/// Fills `ssl` and `check_ssl` of the servers `p` wrote (the first ones of
/// `b`, in order); a server whose TLS cannot be built is an error at its line.
pub fn link(p: &RawProxy, b: &mut Backend, defaults: &ServerTlsDefaults, diag: &mut Diag) {
    // `tcp-check connect ssl` (and `http-check connect ssl`) uses each server's TLS settings, as HAProxy.
    let rule_ssl = b.tcpcheck.as_ref().is_some_and(|p| p.uses_ssl()) || b.http_check.uses_ssl();
    for (raw, s) in p.servers.iter().zip(b.servers.iter_mut()) {
        let t = &raw.opts.tls;
        // As HAProxy: checks follow the server's `ssl` unless they go
        // elsewhere (`port` or `addr`).
        let checks_tls =
            t.check_ssl || (t.ssl && raw.opts.port.is_none() && raw.opts.addr.is_none());
        let for_rules = rule_ssl && raw.opts.check;
        if !(t.ssl || checks_tls || for_rules) {
            continue;
        }
        let label = format!("'server {}/{}'", p.name, raw.name);
        match ServerTls::build(t, defaults, &label) {
            Ok(tls) => {
                let tls = Arc::new(tls);
                s.ssl = t.ssl.then(|| tls.clone());
                s.tcpcheck_tls = for_rules.then(|| tls.clone());
                s.check_ssl = checks_tls.then_some(tls);
            }
            Err(e) => diag.error_at(&raw.origin, e),
        }
    }
}
