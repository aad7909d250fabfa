//! Links servers to their `resolvers` section once every section is read,
//! and checks the sections themselves.

use super::model::{Backend, Resolvers, ServerDns};
use super::parse::Diag;
use super::raw::RawProxy;

/// Checks the `resolvers` sections and fills each server's
/// [`ServerDns`]; returns the sections for the model.
pub fn link(
    resolvers: Vec<Resolvers>,
    proxies: &[RawProxy],
    backends: &mut [Backend],
    diag: &mut Diag,
) -> Vec<Resolvers> {
    let mut kept: Vec<Resolvers> = Vec::new();
    for r in resolvers {
        if let Some(first) = kept.iter().find(|k| k.name == r.name) {
            diag.error_at(
                &r.origin,
                format!(
                    "resolvers '{}' has the same name as the resolvers at line {}",
                    r.name, first.origin.line
                ),
            );
            continue;
        }
        if r.nameservers.is_empty() {
            // HAProxy's warning: its servers then never resolve (timeouts).
            diag.warn_at(
                &r.origin,
                format!("resolvers '{}' has no nameservers configured!", r.name),
            );
        }
        kept.push(r);
    }
    for p in proxies.iter().filter(|p| p.kind.has_backend()) {
        let Some(b) = backends.iter_mut().find(|b| b.name == p.name) else {
            continue;
        };
        for raw in &p.servers {
            let Some(wanted) = raw.opts.resolvers.as_deref() else {
                continue;
            };
            let Some(index) = kept.iter().position(|r| r.name == wanted) else {
                diag.error_at(
                    &raw.origin,
                    format!(
                        "{}, server '{}': unable to find required resolvers '{wanted}'",
                        p.label(),
                        raw.name
                    ),
                );
                continue;
            };
            let Some(fqdn) = raw.fqdn.clone() else {
                continue; // An IP address: nothing to resolve, as HAProxy.
            };
            // Duplicate names were reported already; the first one is in the model.
            if let Some(s) = b
                .servers
                .iter_mut()
                .find(|s| s.name == raw.name && s.origin == raw.origin)
            {
                s.dns = Some(ServerDns {
                    resolvers: index,
                    fqdn,
                    prefer: raw.opts.resolve_prefer.unwrap_or_default(),
                    nets: raw.opts.resolve_net.clone(),
                    allow_dup_ip: raw.opts.allow_dup_ip,
                });
            }
        }
    }
    kept
}
