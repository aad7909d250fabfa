//! Run-time name resolution for servers with `resolvers` (configuration.txt
//! §5.3): one thread for the process asks the name servers of each
//! `resolvers` section and publishes the answers.
//!
//! It is the only writer of [`ServerRt::resolved`] (an `ArcSwap` the workers
//! and the checker read with one lock-free load) and of the RMAINT admin flag.
//! A name is asked again `hold valid` after its last valid answer (looked at
//! every `timeout resolve`; after a failure, again `timeout resolve` later).
//! A changed address moves new connections only, as in HAProxy; an error
//! (NX, refused, timeout, other) puts the name's servers in maintenance once
//! no valid answer came for that status's `hold` period.

pub mod assign;
pub mod wire;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::admin::state::set_resolution_maint;
use crate::check::log::{self as chklog, Severity};
use crate::config::model::{Prefer, Resolvers};
use crate::runtime::{Shared, admin_flags};
use wire::{Family, Outcome};

/// The servers of one backend that share one name, resolved together.
struct Group {
    /// Index of the `resolvers` section.
    section: usize,
    backend: usize,
    fqdn: String,
    prefer: Prefer,
    nets: Vec<(IpAddr, u8)>,
    allow_dup: bool,
    /// Server indexes in the backend, in configuration order.
    members: Vec<usize>,
    /// When each member's address was last in an answer (`hold obsolete`).
    seen: Vec<Option<Instant>>,
    /// The last valid answer.
    last_valid: Option<Instant>,
    /// When to ask next.
    next: Instant,
}

/// One `resolvers` section's sockets, one per name server.
struct Section {
    conf: Resolvers,
    servers: Vec<(String, UdpSocket)>,
}

/// Starts the resolver thread when some server has `resolvers`.
pub fn spawn(
    shared: Arc<Shared>,
    sections: Vec<Resolvers>,
) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
    let groups = groups(&shared);
    if groups.is_empty() {
        return Ok(None);
    }
    let sections = sections
        .into_iter()
        .map(|conf| {
            let servers = conf
                .nameservers
                .iter()
                .map(|(id, addr)| Ok((id.clone(), socket(*addr)?)))
                .collect::<std::io::Result<_>>()?;
            Ok(Section { conf, servers })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let h = std::thread::Builder::new()
        .name("ringlb-resolve".into())
        .spawn(move || run(&shared, &sections, groups))?;
    Ok(Some(h))
}

/// A UDP socket connected to one name server (only its datagrams arrive).
fn socket(ns: SocketAddr) -> std::io::Result<UdpSocket> {
    let any: SocketAddr = if ns.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(any)?;
    s.connect(ns)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Groups the resolved servers by (section, backend, name).
fn groups(shared: &Shared) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let now = Instant::now();
    for (b, be) in shared.backends.iter().enumerate() {
        for (i, s) in be.model.servers.iter().enumerate() {
            let Some(d) = &s.dns else { continue };
            if be.servers[i].resolved.is_none() {
                continue;
            }
            let found = out
                .iter_mut()
                .find(|g| g.section == d.resolvers && g.backend == b && g.fqdn == d.fqdn);
            match found {
                Some(g) => {
                    g.members.push(i);
                    g.seen.push(None);
                }
                None => out.push(Group {
                    section: d.resolvers,
                    backend: b,
                    fqdn: d.fqdn.clone(),
                    prefer: d.prefer,
                    nets: d.nets.clone(),
                    allow_dup: d.allow_dup_ip,
                    members: vec![i],
                    seen: vec![None],
                    last_valid: None,
                    next: now,
                }),
            }
        }
    }
    out
}

/// The thread: resolves each group when due, forever.
fn run(shared: &Shared, sections: &[Section], mut groups: Vec<Group>) {
    let mut ids = Ids::new();
    loop {
        for g in &mut groups {
            let now = Instant::now();
            if now < g.next {
                continue;
            }
            let sec = &sections[g.section];
            let (outcome, by) = resolve(sec, &mut ids, &g.fqdn, g.prefer);
            apply(shared, sec, g, outcome, &by);
        }
        let first = groups.iter().map(|g| g.next).min();
        let wait = first.map_or(Duration::from_secs(1), |t| {
            t.saturating_duration_since(Instant::now())
        });
        std::thread::sleep(wait.max(Duration::from_millis(5)));
    }
}

/// Query ids: a counter from a time-seeded start (each query waits for its own id).
struct Ids(u16);

impl Ids {
    fn new() -> Ids {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ids((t ^ std::process::id()) as u16)
    }

    fn next(&mut self) -> u16 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// The result of one status: what happened and which name server said it.
type Resolved = (Option<Outcome>, String);

/// Asks for the preferred family, then the other when the first has no address.
fn resolve(sec: &Section, ids: &mut Ids, fqdn: &str, prefer: Prefer) -> Resolved {
    let order = match prefer {
        Prefer::Ipv4 => [Family::V4, Family::V6],
        Prefer::Ipv6 => [Family::V6, Family::V4],
    };
    let first = ask(sec, ids, fqdn, order[0]);
    match &first.0 {
        Some(Outcome::Valid(ips)) if ips.is_empty() => ask(sec, ids, fqdn, order[1]),
        _ => first,
    }
}

/// One query, sent to every name server `resolve_retries` times at most,
/// `timeout retry` apart; the first answer wins. `None`: a timeout.
fn ask(sec: &Section, ids: &mut Ids, fqdn: &str, family: Family) -> Resolved {
    let conf = &sec.conf;
    let id = ids.next();
    let Some(q) = wire::query(id, fqdn, family, conf.accepted_payload_size) else {
        return (Some(Outcome::Other), String::new());
    };
    let mut buf = vec![0u8; usize::from(conf.accepted_payload_size).max(512)];
    for _ in 0..conf.retries {
        for (_, s) in &sec.servers {
            let _ = s.send(&q);
        }
        let deadline = Instant::now() + conf.timeout_retry;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if !wait_readable(&sec.servers, left) {
                break;
            }
            for (ns, s) in &sec.servers {
                while let Ok(n) = s.recv(&mut buf) {
                    if let Some(o) = wire::answer(&buf[..n], id, fqdn, family) {
                        return (Some(o), format!("{}/{ns}", conf.name));
                    }
                }
            }
        }
    }
    (None, String::new())
}

/// Waits until a name server socket is readable or `left` passes.
fn wait_readable(servers: &[(String, UdpSocket)], left: Duration) -> bool {
    let mut fds: Vec<libc::pollfd> = servers
        .iter()
        .map(|(_, s)| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()`
    // pollfd entries whose descriptors stay open for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    n > 0
}

/// Publishes an outcome for a group's servers.
fn apply(shared: &Shared, sec: &Section, g: &mut Group, outcome: Option<Outcome>, by: &str) {
    let now = Instant::now();
    let hold = &sec.conf.hold;
    let (ips, cause, held) = match outcome {
        Some(Outcome::Valid(ips)) => (ips, None, Duration::ZERO),
        Some(Outcome::Nx) => (Vec::new(), Some("DNS NX status"), hold.nx),
        Some(Outcome::Refused) => (Vec::new(), Some("DNS refused status"), hold.refused),
        Some(Outcome::Other) => (Vec::new(), Some("unspecified DNS error"), hold.other),
        None => (Vec::new(), Some("DNS timeout status"), hold.timeout),
    };
    let be = &shared.backends[g.backend];
    if let Some(cause) = cause {
        g.next = now + sec.conf.timeout_resolve;
        // A valid answer within the status's hold keeps the servers as they are.
        if g.last_valid.is_some_and(|t| now.duration_since(t) < held) {
            return;
        }
        for &i in &g.members {
            set_resolution_maint(be, &be.servers[i], &g.fqdn, Some(cause));
        }
        return;
    }
    g.last_valid = Some(now);
    g.next = now + hold.valid.max(sec.conf.timeout_resolve);
    let answer = assign::order(ips, g.prefer, &g.nets);
    let slots: Vec<assign::Slot> = g
        .members
        .iter()
        .zip(&g.seen)
        .map(|(&i, seen)| {
            let ip = current_ip(&be.servers[i]);
            assign::Slot {
                current: ip,
                may_keep: seen.is_some_and(|t| now.duration_since(t) < hold.obsolete),
            }
        })
        .collect();
    let chosen = assign::assign(&slots, &answer, g.allow_dup);
    for (k, &i) in g.members.iter().enumerate() {
        let srv = &be.servers[i];
        let Some(ip) = chosen[k] else {
            set_resolution_maint(be, srv, &g.fqdn, Some("No IP for server "));
            continue;
        };
        if answer.contains(&ip) {
            g.seen[k] = Some(now);
        }
        if slots[k].current != Some(ip) {
            let Some(cell) = &srv.resolved else { continue };
            let old = slots[k]
                .current
                .map_or("(none)".to_string(), |o| o.to_string());
            cell.store(Arc::new(SocketAddr::new(ip, cell.load().port())));
            chklog::emit(
                be,
                Severity::Notice,
                &format!(
                    "{}/{} changed its IP from {old} to {ip} by {by}.",
                    be.name, srv.name
                ),
            );
        }
        if srv.admin.flags() & admin_flags::RMAINT != 0 {
            set_resolution_maint(be, srv, &g.fqdn, None);
        }
    }
}

/// A server's address now, `None` when it never had one (`init-addr none`).
fn current_ip(srv: &crate::runtime::ServerRt) -> Option<IpAddr> {
    let ip = srv.resolved.as_ref()?.load().ip();
    (!ip.is_unspecified()).then_some(ip)
}
