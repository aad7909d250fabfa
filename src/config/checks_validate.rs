//! The agent and external checks of one backend, from what the parser
//! stored (`kw/ext_checks.rs`) to the model, with HAProxy's errors.

use std::net::SocketAddr;
use std::time::Duration;

use super::kw::ext_checks::GlobalFlags;
use super::model::{Address, AgentCheck, Backend, DEFAULT_CHECK_PATH, ExternalCheck};
use super::parse::Diag;
use super::raw::RawProxy;

/// HAProxy's `agent-inter` when unset.
const DEFAULT_AGENT_INTER: Duration = Duration::from_secs(2);

/// Fills `b`'s servers' agents and its external check from section `p`.
pub(super) fn link(p: &RawProxy, b: &mut Backend, flags: GlobalFlags, diag: &mut Diag) {
    // `backend()` builds one model server per raw one, in order.
    for (raw, srv) in p.servers.iter().zip(b.servers.iter_mut()) {
        let a = &raw.opts.agent;
        if !a.enabled {
            continue;
        }
        let Some(port) = a.port else {
            diag.error_at(
                &raw.origin,
                format!(
                    "'server {}/{}' : server {} does not have agent port. Agent check has been \
                     disabled.",
                    p.name, raw.name, raw.name
                ),
            );
            continue;
        };
        let ip = match (a.addr, &srv.address) {
            (Some(ip), _) => ip,
            (None, Address::Inet(sa)) => sa.ip(),
            (None, _) => {
                diag.error_at(
                    &raw.origin,
                    format!(
                        "'server {}/{}' : the agent needs an IP address: the server's is not \
                         one, set 'agent-addr'.",
                        p.name, raw.name
                    ),
                );
                continue;
            }
        };
        srv.agent = Some(AgentCheck {
            address: SocketAddr::new(ip, port),
            fixed_addr: a.addr,
            inter: a.inter.unwrap_or(DEFAULT_AGENT_INTER),
            send: a.send.as_ref().map(|s| s.as_bytes().to_vec()),
        });
    }
    let x = &p.external;
    if !x.enabled {
        return;
    }
    let who = format!("Proxy '{}'", p.name);
    if !flags.external_check {
        diag.error_at(
            &p.origin,
            format!(
                "{who} : 'option external-check' unable to find required 'global.external-check'."
            ),
        );
        return;
    }
    let Some(command) = &x.command else {
        diag.error_at(
            &p.origin,
            format!(
                "{who} : 'option external-check' unable to find required 'external-check command'."
            ),
        );
        return;
    };
    if !flags.insecure_fork_wanted {
        // HAProxy forbids forking then and its checks fail; ringlb has no
        // such guard and runs them.
        diag.warn_at(
            &p.origin,
            format!(
                "{who} : 'insecure-fork-wanted' not enabled in the global section, 'option \
                 external-check' will likely fail (with HAProxy; ringlb runs the checks)."
            ),
        );
    }
    b.external_check = Some(ExternalCheck {
        command: command.clone(),
        path: x.path.clone().unwrap_or_else(|| DEFAULT_CHECK_PATH.into()),
    });
}
