//! `server ... track [<backend>/]<server>`: resolving the tracked server once
//! every backend is known, with HAProxy's checks and error texts.

use std::collections::HashMap;

use super::model::Backend;
use super::parse::Diag;

/// Resolves every `track` to (backend, server) indexes, or reports why not.
pub fn resolve(backends: &mut [Backend], by_name: &HashMap<String, usize>, diag: &mut Diag) {
    let mut found = Vec::new();
    for (b, be) in backends.iter().enumerate() {
        for (s, srv) in be.servers.iter().enumerate() {
            let Some(t) = &srv.health.track else {
                continue;
            };
            let who = format!("'server {}/{}' : ", be.name, srv.name);
            let tb = match &t.backend {
                None => Some(b),
                Some(name) => by_name.get(name).copied(),
            };
            let Some(tb) = tb else {
                let name = t.backend.as_deref().unwrap_or_default();
                diag.error_at(
                    &srv.origin,
                    format!("{who}unable to find required proxy '{name}' for tracking."),
                );
                continue;
            };
            let Some(ts) = backends[tb].servers.iter().position(|x| x.name == t.server) else {
                diag.error_at(
                    &srv.origin,
                    format!(
                        "{who}unable to find required server '{}' for tracking.",
                        t.server
                    ),
                );
                continue;
            };
            let target = &backends[tb].servers[ts];
            if !target.check && target.health.track.is_none() {
                diag.error_at(
                    &srv.origin,
                    format!(
                        "{who}unable to use {}/{} for tracking as it does not have any check nor agent enabled.",
                        backends[tb].name, target.name
                    ),
                );
                continue;
            }
            found.push(((b, s), (tb, ts)));
        }
    }
    for ((b, s), to) in &found {
        if let Some(t) = backends[*b].servers[*s].health.track.as_mut() {
            t.resolved = Some(*to);
        }
    }
    // A chain that comes back to where it started never reaches a check.
    let next = |at: (usize, usize)| -> Option<(usize, usize)> {
        backends[at.0].servers[at.1]
            .health
            .track
            .as_ref()
            .and_then(|t| t.resolved)
    };
    for &(start, _) in &found {
        let mut at = next(start);
        let mut steps = 0;
        while let Some(p) = at {
            if p == start {
                let be = &backends[start.0];
                let srv = &be.servers[start.1];
                let first = next(start).unwrap_or(start);
                diag.error_at(
                    &srv.origin,
                    format!(
                        "'server {}/{}' : unable to track {}/{} as it belongs to a tracking chain looping back to {}/{}.",
                        be.name,
                        srv.name,
                        backends[first.0].name,
                        backends[first.0].servers[first.1].name,
                        be.name,
                        srv.name
                    ),
                );
                break;
            }
            steps += 1;
            if steps > found.len() {
                break; // a loop not through `start`: reported from its own members
            }
            at = next(p);
        }
    }
}
