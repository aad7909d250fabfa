//! Dynamic servers: `add server <b>/<s> <addr>:<port> [weight <w>] [maxconn
//! <n>] [backup]` and `del server <b>/<s>` (HAProxy 2.6's management.txt).
//!
//! The runtime's per-server arrays (servers, counters, queues, pools,
//! balancer snapshots, stats ids) are sized once at load, so each backend
//! whose algorithm takes dynamic servers gets [`SLOTS`] spare slots at the
//! end of its server list ([`with_slots`]): model servers named "" that
//! start in maintenance with weight 0 and slot state `FREE`. Balancers skip
//! them when they rebuild (weight 0), so an empty slot costs no pick
//! anything; the stats, the socket and the checker skip them through
//! `ServerRt::present`. `add server` fills a free slot (name, address,
//! weights, maxconn) and publishes it; `del server` retires it. A retired
//! slot is not filled again: its counters and idle pooled connections are
//! the deleted server's.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::check::status::unix_ms;
use crate::config::model::{Address, Balance, Config, Server};
use crate::runtime::{BackendRt, ServerAdmin, Shared, admin_flags, slot};

/// Spare slots per backend: this many active ones, and as many backup ones.
pub const SLOTS: usize = 16;

/// The name that marks a spare slot in the model (no configured server can
/// have an empty name).
const SPARE: &str = "";

/// Whether ringlb gives this backend dynamic server slots.
fn supported(b: &crate::config::model::Backend) -> bool {
    matches!(b.balance, Balance::RoundRobin | Balance::LeastConn)
        && b.settings.dispatch.is_none()
        && !b.settings.disabled
}

/// The configuration with [`SLOTS`] active and [`SLOTS`] backup spare slots
/// appended to each backend that takes dynamic servers.
pub fn with_slots(config: &Config) -> Config {
    let mut config = config.clone();
    let template = config
        .backends
        .iter()
        .find_map(|b| b.servers.first().cloned());
    let Some(template) = template else {
        return config;
    };
    for b in config.backends.iter_mut().filter(|b| supported(b)) {
        for backup in [false, true] {
            for _ in 0..SLOTS {
                b.servers.push(spare(&template, backup));
            }
        }
    }
    config
}

/// An empty slot built from any configured server, every per-server option reset.
fn spare(template: &Server, backup: bool) -> Server {
    Server {
        name: SPARE.into(),
        address: Address::Inet(SocketAddr::from(([0, 0, 0, 0], 0))),
        port_offset: None,
        weight: 1,
        cookie: None,
        check: false,
        check_port: None,
        check_addr: None,
        backup,
        maxconn: None,
        maxqueue: None,
        disabled: true,
        health: Default::default(),
        dns: None,
        unresolved: false,
        source: None,
        minconn: None,
        id: None,
        send_proxy: None,
        check_send_proxy: None,
        ssl: None,
        check_ssl: None,
        agent: None,
        tcpcheck_tls: None,
        ..template.clone()
    }
}

/// A server's admin state at load: a spare slot is `FREE`.
pub fn admin_of(s: &Server) -> ServerAdmin {
    let admin = ServerAdmin::new(s.weight, s.disabled, s.unresolved);
    if s.name == SPARE {
        admin.slot.store(slot::FREE, Ordering::Relaxed);
    }
    admin
}

/// Corrects the stats ids of a backend's slots: a dynamic server's is the
/// one `add server` chose, an absent slot's is 0 (no id names it).
pub fn slot_ids(be: &BackendRt, ids: &mut [u32]) {
    for (id, s) in ids.iter_mut().zip(&be.servers) {
        match s.admin.slot.load(Ordering::Acquire) {
            slot::CONFIGURED => {}
            slot::DYNAMIC => *id = s.admin.id.load(Ordering::Relaxed),
            _ => *id = 0,
        }
    }
}

/// HAProxy's id for a new server: the lowest one no present server has.
fn free_id(be: &BackendRt) -> u32 {
    let written: Vec<Option<u32>> = be.model.servers.iter().map(|s| s.id).collect();
    let mut ids = crate::config::proxy_ids::assign(&written);
    slot_ids(be, &mut ids);
    (1..).find(|n| !ids.contains(n)).unwrap_or(0)
}

/// What `add server` was asked for.
#[derive(Debug, PartialEq, Eq)]
struct Wanted {
    addr: SocketAddr,
    weight: u32,
    maxconn: Option<u32>,
    backup: bool,
}

/// HAProxy server keywords ringlb does not build for a dynamic server.
const UNSUPPORTED: &[&str] = &[
    "check",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "port",
    "addr",
    "agent-check",
    "agent-port",
    "agent-inter",
    "ssl",
    "verify",
    "sni",
    "ca-file",
    "crt",
    "send-proxy",
    "send-proxy-v2",
    "proxy-v2-options",
    "check-ssl",
    "check-send-proxy",
    "track",
    "observe",
    "error-limit",
    "on-error",
    "slowstart",
    "source",
    "id",
    "minconn",
    "maxqueue",
    "resolvers",
    "init-addr",
    "alpn",
    "proto",
    "pool-max-conn",
    "tfo",
    "disabled",
    "enabled",
    "redir",
    "namespace",
];

/// Parses `<addr>:<port> [kw [value]]...`, with HAProxy's error texts where
/// HAProxy has them.
fn parse(args: &[&str]) -> Result<Wanted, String> {
    let Some(&addr) = args.first() else {
        return Err("'server' expects <name> and <addr>[:<port>] as arguments.\n".into());
    };
    let mut w = Wanted {
        addr: address(addr)?,
        weight: 1,
        maxconn: None,
        backup: false,
    };
    let mut i = 1;
    while i < args.len() {
        let kw = args[i];
        let value = || {
            args.get(i + 1)
                .ok_or_else(|| format!("'{kw}' expects an integer argument.\n"))
        };
        match kw {
            "weight" => {
                let v = value()?;
                let n: i64 = v
                    .parse()
                    .map_err(|_| format!("'{kw}' expects an integer argument.\n"))?;
                if !(0..=256).contains(&n) {
                    return Err(format!(
                        "weight of server {{name}} is not within 0 and 256 ({n})..\n"
                    ));
                }
                w.weight = n as u32;
                i += 1;
            }
            "maxconn" => {
                let n: u32 = value()?
                    .parse()
                    .map_err(|_| format!("'{kw}' expects an integer argument.\n"))?;
                w.maxconn = Some(n);
                i += 1;
            }
            "backup" => w.backup = true,
            "cookie" => return Err("'cookie' option is not accepted for dynamic server\n".into()),
            _ if UNSUPPORTED.contains(&kw) => {
                return Err(format!(
                    "ringlb does not support '{kw}' on a dynamic server (only weight, maxconn \
                     and backup).\n"
                ));
            }
            _ => return Err(format!("unknown keyword '{}'.\n", super::cli::echo(kw))),
        }
        i += 1;
    }
    Ok(w)
}

/// `<ip>:<port>` or `[<ipv6>]:<port>`, HAProxy's port errors.
fn address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let shown = super::cli::echo(text);
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "ringlb's dynamic servers need an address with a port ('{shown}').\n"
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Err(format!(
            "ringlb's dynamic servers need an IP address, not a host name ('{shown}').\n"
        ));
    };
    if let Some(c) = port.chars().find(|c| !c.is_ascii_digit()) {
        let c = super::cli::echo(&c.to_string());
        let port = super::cli::echo(port);
        return Err(format!(
            "invalid character '{c}' in port number '{port}' in '{shown}'\n\n"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if !port.is_empty() => Ok(SocketAddr::new(ip, p)),
        _ => Err(format!("invalid port '{}'\n", super::cli::echo(port))),
    }
}

/// Splits `<backend>/<server>` and finds the backend, with HAProxy's errors.
fn backend<'b>(shared: &Shared, arg: Option<&&'b str>) -> Result<(usize, &'b str), String> {
    let Some((b, s)) = arg
        .copied()
        .filter(|a| !a.is_empty())
        .and_then(|a| a.split_once('/'))
    else {
        return Err("Require 'backend/server'.\n".into());
    };
    match shared.backends.iter().position(|x| x.name == b) {
        Some(i) => Ok((i, s)),
        None => Err("No such backend.\n".into()),
    }
}

/// `add server <b>/<s> <addr>:<port> [options]`: a new server, in maintenance.
pub fn add_server(shared: &Shared, args: &[&str]) -> String {
    match add(shared, args) {
        Ok(()) => "New server registered.\n".into(),
        Err(e) => e,
    }
}

fn add(shared: &Shared, args: &[&str]) -> Result<(), String> {
    let (b, name) = backend(shared, args.first())?;
    let be = &shared.backends[b];
    if !super::state::dynamic_weights(be) {
        return Err(
            "Backend must use a dynamic load balancing to support dynamic servers.\n".into(),
        );
    }
    if !supported(&be.model) {
        return Err(
            "ringlb supports dynamic servers only in a backend with 'balance \
                    roundrobin' or 'balance leastconn'.\n"
                .into(),
        );
    }
    let wanted = parse(&args[1..]).map_err(|e| e.replace("{name}", name))?;
    let _w = super::state::WRITER
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if name.is_empty() || be.servers.iter().any(|s| s.present() && s.name == name) {
        return Err("Already exists a server with the same name in backend.\n".into());
    }
    let free = be.servers.iter().position(|s| {
        s.backup == wanted.backup
            && s.admin
                .slot
                .compare_exchange(
                    slot::FREE,
                    slot::FILLING,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    });
    let Some(i) = free else {
        return Err(format!(
            "ringlb has no free dynamic server slot left in backend '{}' ({SLOTS} {} slots, \
             never reused).\n",
            be.name,
            if wanted.backup { "backup" } else { "active" }
        ));
    };
    be.servers[i].admin.id.store(free_id(be), Ordering::Relaxed);
    fill(be, i, name, &wanted);
    Ok(())
}

/// Writes the new server into slot `i` (held in `FILLING`), then shows it.
fn fill(be: &BackendRt, i: usize, name: &str, w: &Wanted) {
    let srv = &be.servers[i];
    srv.name.set(name.to_string());
    srv.runtime_addr.store(Some(Arc::new(w.addr)));
    srv.addr_set.store(true, Ordering::Release);
    srv.admin.iweight.store(w.weight, Ordering::Relaxed);
    srv.admin.uweight.store(w.weight, Ordering::Relaxed);
    // HAProxy's new server is in forced maintenance (SRV_ADMF_FMAINT) only.
    srv.admin
        .flags
        .store(admin_flags::FMAINT, Ordering::Release);
    srv.admin.changed_ms.store(unix_ms(), Ordering::Relaxed);
    srv.up.store(true, Ordering::Relaxed);
    be.queue.set_maxconn(i, w.maxconn.unwrap_or(0));
    crate::balance::set_weight(srv, 0);
    srv.admin.slot.store(slot::DYNAMIC, Ordering::Release);
}

/// `del server <b>/<s>`: removes a server in maintenance without connections.
pub fn del_server(shared: &Shared, args: &[&str]) -> String {
    match del(shared, args) {
        Ok(()) => "Server deleted.\n".into(),
        Err(e) => e,
    }
}

fn del(shared: &Shared, args: &[&str]) -> Result<(), String> {
    let (b, name) = backend(shared, args.first())?;
    let be = &shared.backends[b];
    let _w = super::state::WRITER
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let Some(i) = be
        .servers
        .iter()
        .position(|s| s.present() && s.name == name)
    else {
        return Err("No such server.\n".into());
    };
    let srv = &be.servers[i];
    if !srv.admin.maint() {
        return Err("Only servers in maintenance mode can be deleted.\n".into());
    }
    let tracked = shared
        .backends
        .iter()
        .flat_map(|x| &x.model.servers)
        .any(|s| {
            s.health
                .track
                .as_ref()
                .is_some_and(|t| t.resolved == Some((b, i)))
        });
    if tracked {
        return Err(format!(
            "Cannot remove a used server: tracked by other servers ({}/{name}).\n",
            be.name
        ));
    }
    if srv.active.load(Ordering::Acquire) > 0 || queued(be, i) {
        return Err("Server still has connections attached to it, cannot remove it.\n".into());
    }
    srv.admin.slot.store(slot::RETIRED, Ordering::Release);
    crate::balance::servers_changed();
    Ok(())
}

/// Whether requests hold or wait for one of the server's `maxconn` slots.
fn queued(be: &BackendRt, i: usize) -> bool {
    be.queue
        .servers
        .get(i)
        .is_some_and(|q| q.current() > 0 || !q.queue.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_options_ringlb_builds() {
        assert_eq!(
            parse(&["127.0.0.1:80", "weight", "5", "maxconn", "3", "backup"]),
            Ok(Wanted {
                addr: "127.0.0.1:80".parse().unwrap(),
                weight: 5,
                maxconn: Some(3),
                backup: true,
            })
        );
        assert_eq!(
            parse(&["[::1]:8080"]).unwrap().addr,
            "[::1]:8080".parse().unwrap()
        );
    }

    #[test]
    fn refuses_with_haproxy_texts() {
        let err = |a: &[&str]| parse(a).unwrap_err();
        assert_eq!(
            err(&[]),
            "'server' expects <name> and <addr>[:<port>] as arguments.\n"
        );
        assert_eq!(
            err(&["127.0.0.1:80", "maint"]),
            "unknown keyword 'maint'.\n"
        );
        assert_eq!(
            err(&["127.0.0.1:80", "cookie", "x"]),
            "'cookie' option is not accepted for dynamic server\n"
        );
        assert_eq!(err(&["127.0.0.1:99999"]), "invalid port '99999'\n");
        assert_eq!(
            err(&["127.0.0.1:abc"]),
            "invalid character 'a' in port number 'abc' in '127.0.0.1:abc'\n\n"
        );
        assert_eq!(
            err(&["1.2.3.4:80", "weight", "300"]),
            "weight of server {name} is not within 0 and 256 (300)..\n"
        );
        assert!(err(&["127.0.0.1:80", "check"]).contains("does not support 'check'"));
        assert!(err(&["localhost:80"]).contains("IP address"));
        assert!(err(&["127.0.0.1"]).contains("port"));
    }

    fn shared(balance: &str) -> std::sync::Arc<Shared> {
        let text = format!(
            "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             listen l\n bind 127.0.0.1:1\n balance {balance}\n server a 127.0.0.1:2\n"
        );
        let loaded = crate::config::load_sources(&[("t.cfg", &text)]).unwrap();
        Shared::build(&loaded.config, false, 1)
    }

    #[test]
    fn slots_only_where_the_algorithm_is_dynamic() {
        let rr = shared("roundrobin");
        assert_eq!(rr.backends[0].servers.len(), 1 + 2 * SLOTS);
        assert_eq!(rr.counters[0].servers[0].len(), 1 + 2 * SLOTS);
        assert_eq!(
            rr.backends[0]
                .servers
                .iter()
                .filter(|s| s.present())
                .count(),
            1
        );
        assert!(rr.backends[0].servers[1..].iter().all(|s| !s.usable()));
        assert_eq!(shared("source").backends[0].servers.len(), 1);
    }

    #[test]
    fn add_fills_a_slot_and_del_retires_it() {
        let sh = shared("leastconn");
        let be = &sh.backends[0];
        assert_eq!(
            add_server(&sh, &["l/n", "127.0.0.1:9", "weight", "4"]),
            "New server registered.\n"
        );
        let n = &be.servers[1];
        assert!(n.present() && n.admin.maint() && !n.usable());
        assert_eq!((n.name.as_str(), n.initial_weight()), ("n", 4));
        assert_eq!(n.set_address(), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(crate::stats::view::server_ids(be)[..3], [1, 2, 0]);
        assert_eq!(del_server(&sh, &["l/n"]), "Server deleted.\n");
        assert!(!n.present());
        // The name is free again; the retired slot is not reused.
        assert_eq!(
            add_server(&sh, &["l/n", "127.0.0.1:9"]),
            "New server registered.\n"
        );
        assert!(be.servers[2].present() && be.servers[2].name == "n");
        assert_eq!(crate::stats::view::server_ids(be)[..3], [1, 0, 2]);
    }

    #[test]
    fn slots_run_out_with_a_clear_answer() {
        let sh = shared("roundrobin");
        for i in 0..SLOTS {
            let name = format!("l/b{i}");
            assert_eq!(
                add_server(&sh, &[&name, "127.0.0.1:9", "backup"]),
                "New server registered.\n"
            );
        }
        let full = add_server(&sh, &["l/x", "127.0.0.1:9", "backup"]);
        assert!(full.contains("no free dynamic server slot"), "{full}");
        assert_eq!(
            add_server(&sh, &["l/x", "127.0.0.1:9"]),
            "New server registered.\n"
        );
    }
}
