//! The keywords of the checks beside the health check: the server's agent
//! (`agent-check`, `agent-port`, `agent-inter`, `agent-addr`, `agent-send`,
//! `no-agent-check`), the proxy's external program (`option external-check`,
//! `external-check command|path`), and the globals HAProxy asks for
//! (`external-check`, `insecure-fork-wanted`). `checks_validate.rs` turns
//! them into the model with HAProxy's errors.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::parse::{Args, parse_duration_for};
use crate::config::raw::{RawGlobal, RawProxy};

/// The server options of the agent.
pub const SERVER_OPTIONS: &[&str] = &[
    "agent-check",
    "no-agent-check",
    "agent-port",
    "agent-inter",
    "agent-addr",
    "agent-send",
];

/// A server's agent options as written (inherited from `default-server`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentOpts {
    /// `agent-check` (`no-agent-check` clears it).
    pub enabled: bool,
    /// `agent-port <port>`.
    pub port: Option<u16>,
    /// `agent-inter <delay>`.
    pub inter: Option<Duration>,
    /// `agent-addr <ip>`.
    pub addr: Option<IpAddr>,
    /// `agent-send <string>`.
    pub send: Option<String>,
}

/// A proxy's external-check options as written (inherited from `defaults`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalOpts {
    /// `option external-check` (`no option external-check` clears it).
    pub enabled: bool,
    /// `external-check command <cmd>`.
    pub command: Option<String>,
    /// `external-check path <path>`.
    pub path: Option<String>,
}

/// The globals external checks need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    /// `external-check`: HAProxy refuses `option external-check` without it.
    pub external_check: bool,
    /// `insecure-fork-wanted`: HAProxy warns without it (its fork would fail).
    pub insecure_fork_wanted: bool,
}

/// Whether `opt` is an agent server option.
pub fn is_server_option(opt: &str) -> bool {
    SERVER_OPTIONS.contains(&opt)
}

/// Parses one agent server option; errors are HAProxy's.
pub fn server_option(a: &mut AgentOpts, opt: &str, args: &mut Args) -> Result<(), String> {
    match opt {
        "agent-check" => a.enabled = true,
        "no-agent-check" => a.enabled = false,
        "agent-port" => {
            let v = args
                .next_opt()
                .ok_or("'agent-port' expects a port number as argument.")?;
            let port = v
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("'agent-port' expects a port number, got '{v}'."))?;
            a.port = Some(port);
        }
        "agent-inter" => {
            let v = args
                .next_opt()
                .ok_or("'agent-inter' expects a delay as argument.")?;
            let d = parse_duration_for(opt, &v)?;
            if d.is_zero() {
                return Err(format!("invalid value {v} for argument 'agent-inter'."));
            }
            a.inter = Some(d);
        }
        "agent-addr" => {
            let v = args
                .next_opt()
                .ok_or("'agent-addr' expects an address as argument.")?;
            // HAProxy also takes a host name resolved at boot; ringlb takes
            // an IP address only (a name would need resolving at load).
            let ip = v.parse::<IpAddr>().map_err(|_| {
                format!("parsing agent-addr failed. Check if '{v}' is correct address.")
            })?;
            a.addr = Some(ip);
        }
        _ => {
            let v = args
                .next_opt()
                .ok_or("'agent-send' expects a string as argument.")?;
            a.send = Some(v);
        }
    }
    Ok(())
}

/// `option external-check` (`on`) or `no option external-check`.
pub fn option(p: &mut RawProxy, on: bool) {
    p.external.enabled = on;
    if on {
        // One check type per proxy, as HAProxy: the last option wins.
        p.httpchk = None;
        p.tcp_check.choice = None;
    }
}

/// `external-check command <cmd>` and `external-check path <path>`.
pub fn proxy_keyword(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let which = args
        .next_opt()
        .ok_or("missing argument after 'external-check'.")?;
    match which.as_str() {
        "command" | "path" => {
            let v = args
                .next_opt()
                .ok_or_else(|| format!("missing argument after '{which}'."))?;
            args.finish()?;
            if which == "command" {
                p.external.command = Some(v);
            } else {
                p.external.path = Some(v);
            }
            Ok(())
        }
        other => Err(format!(
            "'external-check' only supports 'command' and 'path'. but got '{other}'."
        )),
    }
}

/// The globals `external-check` and `insecure-fork-wanted` (no arguments).
pub fn global(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    args.finish()?;
    if kw == "external-check" {
        g.ext_checks.external_check = true;
    } else {
        g.ext_checks.insecure_fork_wanted = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config;

    fn errors(text: &str) -> Vec<String> {
        match config::load_sources(&[("t.cfg", text)]) {
            Ok(_) => Vec::new(),
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    const HEAD: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n \
                        timeout server 1s\nbackend be\n";

    #[test]
    fn agent_options_reach_the_model() {
        let cfg = format!(
            "{HEAD} default-server agent-port 7000 agent-inter 3s\n server a 127.0.0.1:80 \
             agent-check agent-send \"hello\\n\"\n server b 127.0.0.1:81 agent-check \
             agent-addr 127.0.0.9 no-agent-check\n server c 127.0.0.1:82 agent-check \
             agent-addr 127.0.0.9 agent-port 7001\n"
        );
        let loaded = config::load_sources(&[("t.cfg", &cfg)]).unwrap();
        let b = &loaded.config.backends[0];
        let a = b.servers[0].agent.as_ref().unwrap();
        assert_eq!(a.address, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(a.inter, Duration::from_secs(3));
        assert_eq!(a.send.as_deref(), Some(&b"hello\n"[..]));
        assert!(b.servers[1].agent.is_none());
        let c = b.servers[2].agent.as_ref().unwrap();
        assert_eq!(c.address, "127.0.0.9:7001".parse().unwrap());
        assert_eq!(c.inter, Duration::from_secs(3));
    }

    use std::time::Duration;

    #[test]
    fn agent_errors_are_haproxys() {
        let e = errors(&format!("{HEAD} server a 127.0.0.1:80 agent-check\n"));
        assert!(
            e.iter()
                .any(|l| l.contains("server a does not have agent port")),
            "{e:?}"
        );
        let e = errors(&format!("{HEAD} server a 127.0.0.1:80 agent-inter 0\n"));
        assert!(e.iter().any(|l| l.contains("agent-inter")), "{e:?}");
        let e = errors(&format!(
            "{HEAD} server a 127.0.0.1:80 agent-addr x.invalid\n"
        ));
        assert!(e.iter().any(|l| l.contains("parsing agent-addr")), "{e:?}");
    }

    #[test]
    fn external_check_needs_the_global_and_a_command() {
        let e = errors(&format!(
            "{HEAD} option external-check\n external-check command /bin/true\n \
             server a 127.0.0.1:80 check\n"
        ));
        assert!(
            e.iter().any(|l| l.contains(
                "'option external-check' unable to find required 'global.external-check'"
            )),
            "{e:?}"
        );
        let e = errors(&format!(
            "global\n external-check\n{HEAD} option external-check\n server a 127.0.0.1:80 check\n"
        ));
        assert!(
            e.iter().any(|l| l.contains(
                "'option external-check' unable to find required 'external-check command'"
            )),
            "{e:?}"
        );
        let e = errors(&format!("{HEAD} external-check foo x\n"));
        assert!(
            e.iter()
                .any(|l| l.contains("only supports 'command' and 'path'")),
            "{e:?}"
        );
        let cfg = format!(
            "global\n external-check\n insecure-fork-wanted\n{HEAD} option external-check\n \
             external-check command /bin/true\n server a 127.0.0.1:80 check\n"
        );
        let loaded = config::load_sources(&[("t.cfg", &cfg)]).unwrap();
        let x = loaded.config.backends[0].external_check.as_ref().unwrap();
        assert_eq!(x.command, "/bin/true");
        assert_eq!(x.path, "");
    }

    #[test]
    fn one_check_type_per_proxy_the_last_wins() {
        let head = "global\n external-check\n insecure-fork-wanted\ndefaults\n mode http\n \
                    timeout connect 1s\n timeout client 1s\n timeout server 1s\n \
                    option external-check\n external-check command /bin/true\n";
        let cfg = format!(
            "{head}backend a\n option httpchk\n server s 127.0.0.1:80 check\n\
             backend b\n server s 127.0.0.1:80 check\n\
             backend c\n no option external-check\n server s 127.0.0.1:80 check\n"
        );
        let loaded = config::load_sources(&[("t.cfg", &cfg)]).unwrap();
        let b = &loaded.config.backends;
        assert!(b[0].external_check.is_none() && b[0].httpchk.is_some());
        assert!(b[1].external_check.is_some() && b[1].httpchk.is_none());
        assert!(b[2].external_check.is_none());
    }
}
