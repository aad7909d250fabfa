//! `show servers conn [<backend>]`, `show activity` and `show sess`: what
//! the workers publish in `admin::live`, in HAProxy's layouts (the columns
//! and fields ringlb has; a worker stands for one of HAProxy's threads).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::model::Address;
use crate::runtime::Shared;
use crate::server::pool::MAX_IDLE;
use crate::stats::counters::Totals;
use crate::stats::view;

/// `show servers conn [<backend>]`: one line per server.
///
/// `used_cur` is the server's connections in use, `used_max` the most it
/// had at once (summed over the workers, as every maximum here), `need_est`
/// that same maximum (ringlb does not estimate further), `unsafe_nb` and
/// `safe_nb` the idle connections that served one request or more,
/// `idle_lim` -1 (ringlb has no `pool-max-conn`: the workers' connection
/// budget bounds the pools), `purge_delay` the idle time after which a
/// pooled connection is closed.
pub fn show_servers_conn(shared: &Shared, backend: Option<&str>) -> String {
    let chosen: Vec<usize> = match backend {
        None => (0..shared.backends.len()).collect(),
        Some(name) => match shared.backends.iter().position(|b| b.name == name) {
            Some(b) => vec![b],
            None => return "Can't find backend.\n".into(),
        },
    };
    let workers = shared.live.pools.len();
    let mut out = format!(
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est \
         unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{workers}]\n"
    );
    let be_ids = view::backend_ids(shared);
    for b in chosen {
        let be = &shared.backends[b];
        let sids = view::server_ids(be);
        let shown = view::shown_servers(be).iter().enumerate();
        for (s, srv) in shown.filter(|(_, srv)| srv.present()) {
            let (addr, port) = match &*srv.address() {
                Address::Inet(sa) => (sa.ip().to_string(), sa.port().to_string()),
                Address::Unix(p) => (p.display().to_string(), "0".into()),
                Address::Abstract(n) => (format!("abns@{n}"), "0".into()),
                Address::Fd(n) => (format!("fd@{n}"), "0".into()),
            };
            let per: Vec<(u32, u32)> = shared.live.pools.iter().map(|g| g.get(b, s)).collect();
            let unsafe_nb: u32 = per.iter().map(|p| p.0).sum();
            let safe_nb: u32 = per.iter().map(|p| p.1).sum();
            let used_max = Totals::sum(
                shared
                    .counters
                    .iter()
                    .filter_map(|w| w.servers.get(b)?.get(s)),
            )
            .max_current;
            let _ = write!(
                out,
                "{}/{} {}/{} {addr} {port} - {} {} {used_max} {used_max} {unsafe_nb} {safe_nb} -1 {}",
                be.name,
                srv.name,
                be_ids[b],
                sids[s],
                MAX_IDLE.as_millis(),
                srv.active.load(Ordering::Relaxed),
                unsafe_nb + safe_nb,
            );
            for (u, safe) in per {
                let _ = write!(out, " {}", u + safe);
            }
            out.push('\n');
        }
    }
    out
}

/// `show activity`: the fields ringlb keeps, with a column per worker as
/// HAProxy has one per thread. The socket is served by no worker: its
/// `thread_id` is 0.
pub fn show_activity(shared: &Shared) -> String {
    let workers = &shared.live.workers;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = format!(
        "thread_id: 0 (1..{})\ndate_now: {}.{:06}\n",
        workers.len(),
        now.as_secs(),
        now.subsec_micros()
    );
    let accepted: Vec<u64> = workers
        .iter()
        .map(|w| w.accepted.load(Ordering::Relaxed))
        .collect();
    total_line(&mut out, "accepted", &accepted);
    out
}

/// `name: total [ each ]` (the list only with more than one worker, as HAProxy).
fn total_line(out: &mut String, name: &str, each: &[u64]) {
    let _ = write!(out, "{name}: {}", each.iter().sum::<u64>());
    if each.len() > 1 {
        out.push_str(" [");
        for v in each {
            let _ = write!(out, " {v}");
        }
        out.push_str(" ]");
    }
    out.push('\n');
}

/// `show sess`: one line per live client session, with HAProxy's fields
/// that ringlb knows. `be` is the frontend's backend when it has no
/// switching rules (else `<NONE>`: the backend is chosen per request);
/// the socket's own connection is not a session here.
pub fn show_sess(shared: &Shared) -> String {
    let now = Instant::now();
    let mut out = String::new();
    for w in &shared.live.workers {
        for s in w.sessions() {
            let fe = &shared.frontends[s.frontend];
            let (proto, src) = match s.src {
                Some(a) if a.is_ipv4() => ("tcpv4", a.to_string()),
                Some(a) => ("tcpv6", a.to_string()),
                None => ("unix_stream", "unix".to_string()),
            };
            let be = match (fe.switching, fe.backend) {
                (false, Some(b)) => shared.backends[b].name.as_str(),
                _ => "<NONE>",
            };
            let _ = writeln!(
                out,
                "0x{:x}: proto={proto} src={src} fe={} be={be} age={}s",
                s.id,
                fe.name,
                now.duration_since(s.since).as_secs()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_list_workers_only_when_several() {
        let mut out = String::new();
        total_line(&mut out, "accepted", &[3]);
        total_line(&mut out, "accepted", &[20, 9]);
        assert_eq!(out, "accepted: 3\naccepted: 29 [ 20 9 ]\n");
    }
}
