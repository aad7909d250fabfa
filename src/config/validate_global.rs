//! Validation of the `global` section and the `userlist` sections: ids and
//! users resolved, `cpu-map` lines kept where they act.

use super::*;

/// The `userlist` sections compiled; a name used twice is refused (HAProxy
/// ignores the second section with a warning).
pub(super) fn userlists(raw: Vec<RawUserlist>, diag: &mut Diag) -> Vec<Arc<Userlist>> {
    let mut out: Vec<Arc<Userlist>> = Vec::with_capacity(raw.len());
    let mut seen: Vec<(String, Origin)> = Vec::new();
    for ul in raw {
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == ul.name) {
            diag.error_at(
                &ul.origin,
                format!("duplicate userlist '{}' (first at {first})", ul.name),
            );
            continue;
        }
        seen.push((ul.name.clone(), ul.origin.clone()));
        out.push(Arc::new(crate::config::kw::userlist::compile(ul, diag)));
    }
    out
}

/// The `cpu-map` lines that act. One without a thread set acts on nothing in
/// HAProxy 2.6 (said with a warning), except in a 1.x file with `nbproc`,
/// whose processes ringlb runs as threads: there it names threads.
pub(super) fn cpu_maps(maps: Vec<CpuMap>, nbproc: bool, diag: &mut Diag) -> Vec<CpuMap> {
    let mut out = Vec::new();
    for mut m in maps {
        if m.threads.is_none() {
            if !nbproc {
                diag.warn_at(
                    &m.origin,
                    "'cpu-map' without a thread set ('<process>/<threads>') has no effect, \
                     as in HAProxy 2.6"
                        .to_string(),
                );
                continue;
            }
            m.threads = Some(m.procs.clone());
        }
        out.push(m);
    }
    out
}

/// The `global` section, with `user`/`group` resolved.
pub(super) fn global(g: RawGlobal, diag: &mut Diag) -> Global {
    let mut out = Global {
        daemon: g.daemon,
        strict_limits: g.strict_limits,
        maxconn: g.maxconn,
        nbthread: g.nbthread,
        ulimit_n: g.ulimit_n,
        pidfile: g.pidfile,
        chroot: g.chroot,
        node: g.node,
        logs: g.logs,
        log_send_hostname: g.log_send_hostname,
        stats_sockets: g.stats_sockets,
        stats_timeout: g.stats_timeout,
        hard_stop_after: g.hard_stop_after,
        master_worker: g.master_worker,
        stats_maxconn: g.stats_maxconn,
        cpu_map: cpu_maps(g.cpu_map, g.nbproc, diag),
        max_rate: g.max_rates.iter().flatten().copied().min(),
        maxpipes: g.maxpipes,
        maxsslconn: g.maxsslconn,
        pipesize: g.pipesize,
        ..Global::default()
    };
    match g.user {
        Some(Ident::Id(n)) => out.uid = Some(n),
        Some(Ident::Name(name, origin)) => {
            match user_id(&name) {
                Ok(Some(uid)) => out.uid = Some(uid),
                Ok(None) => diag.error_at(&origin, format!("'user': unknown user '{name}'")),
                Err(e) => diag.error_at(&origin, format!("'user': cannot look up '{name}': {e}")),
            }
            out.user = Some(name);
        }
        None => {}
    }
    match g.group {
        Some(Ident::Id(n)) => out.gid = Some(n),
        Some(Ident::Name(name, origin)) => {
            match group_id(&name) {
                Ok(Some(gid)) => out.gid = Some(gid),
                Ok(None) => diag.error_at(&origin, format!("'group': unknown group '{name}'")),
                Err(e) => diag.error_at(&origin, format!("'group': cannot look up '{name}': {e}")),
            }
            out.group = Some(name);
        }
        None => {}
    }
    out
}
