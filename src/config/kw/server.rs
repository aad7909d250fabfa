//! `server <name> <addr> [options]` and `default-server [options]`, whose
//! options every later `server` of the proxy starts from.

use std::net::IpAddr;

use crate::config::parse::{Args, Ctx, parse_duration_for};
use crate::config::raw::{RawProxy, RawServer, ServerOpts};

/// Server options refused until built: ignoring them would change behaviour.
const REFUSED: &[&str] = &[
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "redir",
    "namespace",
    "proto",
    // Keeps the server out of stick tables: with `stick` rules built,
    // ignoring it would change which server a client sticks to.
    "non-stick",
];

/// Harmless options with one argument: warned about and ignored.
const IGNORED_WITH_ARG: &[&str] = &[];

/// Harmless flags: warned about and ignored.
const IGNORED_FLAGS: &[&str] = &[];

/// Options this file understands, for suggestions.
const KNOWN: &[&str] = &[
    "weight",
    "cookie",
    "check",
    "no-check",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "port",
    "addr",
    "backup",
    "no-backup",
    "maxconn",
    "maxqueue",
    "minconn",
    "disabled",
    "enabled",
    "slowstart",
    "track",
    "observe",
    "error-limit",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "resolvers",
    "resolve-prefer",
    "resolve-net",
    "resolve-opts",
    "init-addr",
    "source",
    "id",
    "send-proxy",
    "send-proxy-v2",
    "proxy-v2-options",
    "check-send-proxy",
    "no-send-proxy",
    "no-send-proxy-v2",
    "no-check-send-proxy",
];

/// `server <name> <addr> [options]`.
pub fn server(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("<name> <address>:<port> [options]")?;
    let addr = args.next_string("<name> <address>:<port> [options]")?;
    let mut opts = p.default_server.clone();
    parse_opts(cx, &mut opts, args, false)?;
    let a =
        super::server_dns::address(&addr, &opts).map_err(|e| format!("server '{name}': {e}"))?;
    push_server(cx, p, name, a, opts)
}

/// `server-template <prefix> <num | low-high> <fqdn>[:<port>] [options]`:
/// servers `<prefix><n>` sharing one name, filled from its answers.
pub fn server_template(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    const USAGE: &str = "<prefix> <num | range> <fqdn>[:<port>] [options]";
    let prefix = args.next_string(USAGE)?;
    let count = args.next_string(USAGE)?;
    let addr = args.next_string(USAGE)?;
    let range = super::server_dns::template_range(&count)?;
    let mut opts = p.default_server.clone();
    parse_opts(cx, &mut opts, args, false)?;
    let a = super::server_dns::address(&addr, &opts)
        .map_err(|e| format!("server-template '{prefix}': {e}"))?;
    for n in range {
        push_server(cx, p, format!("{prefix}{n}"), a.clone(), opts.clone())?;
    }
    Ok(())
}

/// Adds one server once its address and options are known.
fn push_server(
    cx: &mut Ctx<'_>,
    p: &mut RawProxy,
    name: String,
    a: super::server_dns::ServerAddress,
    opts: ServerOpts,
) -> Result<(), String> {
    let (address, port_offset) = (a.address, a.port_offset);
    if opts.check && opts.health.track.is_some() {
        return Err(format!(
            "'server {}/{name}' : unable to enable checks and tracking at the same time!",
            p.name
        ));
    }
    if port_offset.is_some() && opts.check && opts.port.is_none() {
        // As HAProxy: a check needs a port of its own when the service port
        // is the client's.
        return Err(format!(
            "server '{name}' has neither service port nor check port (add 'port <n>' for 'check')"
        ));
    }
    p.servers.push(RawServer {
        name,
        address,
        port_offset,
        opts,
        fqdn: a.fqdn,
        unresolved: a.unresolved,
        origin: cx.origin.clone(),
    });
    Ok(())
}

/// `default-server [options]`: updates the template for later servers.
pub fn default_server(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let mut opts = p.default_server.clone();
    parse_opts(cx, &mut opts, args, true)?;
    p.default_server = opts;
    Ok(())
}

/// Parses options into `opts`; on error the caller drops the whole line.
fn parse_opts(
    cx: &mut Ctx<'_>,
    opts: &mut ServerOpts,
    args: &mut Args,
    is_default: bool,
) -> Result<(), String> {
    let line_kw = if is_default {
        "default-server"
    } else {
        "server"
    };
    while let Some(opt) = args.next_opt() {
        args.set_label(opt.as_str());
        match opt.as_str() {
            "weight" => opts.weight = Some(args.next_int(0, 256)?),
            "cookie" if is_default => {
                return Err(
                    "'cookie' is not allowed on 'default-server' (each server needs its own value)"
                        .into(),
                );
            }
            "cookie" => {
                opts.cookie = Some(args.next_string("a cookie value")?);
            }
            "check" => opts.check = true,
            "no-check" => opts.check = false,
            "inter" | "fastinter" | "downinter" => {
                let t = args.next_string("a positive duration")?;
                let d = parse_duration_for(&opt, &t)?;
                if d.is_zero() {
                    return Err(format!("'{opt}' expects a positive duration, got '{t}'"));
                }
                let slot = match opt.as_str() {
                    "inter" => &mut opts.inter,
                    "fastinter" => &mut opts.fastinter,
                    _ => &mut opts.downinter,
                };
                *slot = Some(d);
            }
            "rise" => opts.rise = Some(args.next_int(1, u32::MAX)?),
            "fall" => opts.fall = Some(args.next_int(1, u32::MAX)?),
            "port" => opts.port = Some(args.next_int(1, 65535)? as u16),
            "addr" => {
                let a = args.next_string("an IP address")?;
                let ip = a
                    .parse::<IpAddr>()
                    .map_err(|_| format!("'addr' expects an IP address, got '{a}'"))?;
                opts.addr = Some(ip);
            }
            "backup" => opts.backup = true,
            "no-backup" => opts.backup = false,
            // 0 means "no limit", as HAProxy (`server/queue.rs` acts on both).
            "maxconn" => opts.maxconn = Some(args.next_int(0, u32::MAX)?).filter(|&n| n > 0),
            "maxqueue" => opts.maxqueue = Some(args.next_int(0, u32::MAX)?).filter(|&n| n > 0),
            // 0 means no dynamic limit, as unset (`proxy_ids::server_limits`).
            "minconn" => opts.minconn = Some(args.next_int(0, u32::MAX)?).filter(|&n| n > 0),
            "source" => {
                let a = args.next_string("an address[:port]")?;
                opts.source = Some(super::proxy::parse_source(&a, args)?);
            }
            "resolvers" | "resolve-prefer" | "resolve-net" | "resolve-opts" | "init-addr" => {
                super::server_dns::option(opts, &opt, args)?;
            }
            "id" if is_default => {
                return Err("'id' is not allowed on 'default-server' (ids are unique)".into());
            }
            "id" => opts.id = Some(args.next_int(1, i32::MAX as u32)?),
            "send-proxy"
            | "send-proxy-v2"
            | "proxy-v2-options"
            | "check-send-proxy"
            | "no-send-proxy"
            | "no-send-proxy-v2"
            | "no-check-send-proxy" => {
                proxy_opt(&opt, opts, args)?;
            }
            "disabled" => opts.disabled = true,
            "enabled" => opts.disabled = false,
            "slowstart" | "track" | "observe" | "error-limit" | "on-error" | "on-marked-down"
            | "on-marked-up" => health_opt(&opt, &mut opts.health, args)?,
            o if super::ext_checks::is_server_option(o) => {
                super::ext_checks::server_option(&mut opts.agent, o, args)?;
            }
            o if super::server_tls::is_option(o) => {
                super::server_tls::option(cx, &mut opts.tls, o, args)?;
            }
            o if super::server_tls::NOT_YET.contains(&o) => {
                // Each would change who may pass or what goes on the wire:
                // refused rather than ignored.
                let why = match o {
                    "crl-file" => "server certificates are not checked against a CRL yet",
                    "npn" => "NPN is obsolete and rustls does not implement it",
                    "allow-0rtt" => "ringlb sends no early data to servers",
                    _ => "rustls takes its signature algorithms from its provider, not a list",
                };
                return Err(format!(
                    "{line_kw} option '{o}' is not supported yet: {why}"
                ));
            }
            o @ ("send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn") => {
                // HAProxy: version 2 with the SSL TLV (and its CN sub-TLV).
                opts.proxy.v2 = true;
                opts.proxy.ssl = true;
                opts.proxy.ssl_cn |= o == "send-proxy-v2-ssl-cn";
            }
            o if REFUSED.contains(&o) => {
                return Err(format!("{line_kw} option '{o}' is not supported yet"));
            }
            o if IGNORED_WITH_ARG.contains(&o) || IGNORED_FLAGS.contains(&o) => {
                if IGNORED_WITH_ARG.contains(&o) {
                    args.next_string("an argument")?;
                }
                cx.warn(format!(
                    "{line_kw} option '{o}' is not supported by ringlb and is ignored"
                ));
            }
            o => {
                let all: Vec<&str> = KNOWN
                    .iter()
                    .chain(REFUSED)
                    .chain(IGNORED_WITH_ARG)
                    .chain(IGNORED_FLAGS)
                    .chain(super::server_tls::OPTIONS)
                    .chain(super::server_tls::PROTO)
                    .chain(super::server_tls::NOT_YET)
                    .chain(super::ext_checks::SERVER_OPTIONS)
                    .copied()
                    .collect();
                return Err(format!(
                    "unknown {line_kw} option '{o}'{}",
                    super::did_you_mean(o, &all)
                ));
            }
        }
    }
    Ok(())
}

/// The PROXY protocol options (`server/proxy_header.rs` writes the header).
fn proxy_opt(opt: &str, opts: &mut ServerOpts, args: &mut Args) -> Result<(), String> {
    match opt {
        "send-proxy" => opts.proxy.v1 = true,
        "send-proxy-v2" => opts.proxy.v2 = true,
        "no-send-proxy" => opts.proxy.v1 = false,
        "no-send-proxy-v2" => opts.proxy.v2 = false,
        "check-send-proxy" => opts.check_send_proxy = true,
        "no-check-send-proxy" => opts.check_send_proxy = false,
        _ => {
            let list = args.next_string("a comma-separated list of options")?;
            opts.proxy.parse_v2_options(&list)?;
        }
    }
    Ok(())
}

/// The options that move a server's state beside its checks (`check/`),
/// with HAProxy's error texts.
fn health_opt(
    opt: &str,
    h: &mut crate::config::model::ServerHealth,
    args: &mut Args,
) -> Result<(), String> {
    use crate::config::model::{Observe, OnError, Track};
    match opt {
        "slowstart" => {
            let t = args.next_string("a duration")?;
            let d = parse_duration_for(opt, &t)?;
            h.slowstart = (!d.is_zero()).then_some(d);
        }
        "track" => {
            let t = args.next_string("[<backend>/]<server>")?;
            let (backend, server) = match t.split_once('/') {
                Some((b, s)) => (Some(b.to_string()), s.to_string()),
                None => (None, t),
            };
            h.track = Some(Track {
                backend,
                server,
                resolved: None,
            });
        }
        "observe" => {
            let v = args.next_string("'layer4' or 'layer7'")?;
            h.observe = match v.as_str() {
                "none" => None,
                "layer4" => Some(Observe::Layer4),
                "layer7" => Some(Observe::Layer7),
                _ => {
                    return Err(format!(
                        "'observe' expects one of 'none', 'layer4', 'layer7' but got '{v}'."
                    ));
                }
            };
        }
        "error-limit" => {
            let v = args.next_string("an integer")?;
            h.error_limit = v
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| "error-limit has to be > 0..".to_string())?;
        }
        "on-error" => {
            let v = args.next_string("an action")?;
            h.on_error = match v.as_str() {
                "fastinter" => OnError::FastInter,
                "fail-check" => OnError::FailCheck,
                "sudden-death" => OnError::SuddenDeath,
                "mark-down" => OnError::MarkDown,
                _ => {
                    return Err(format!(
                        "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' \
                         or 'mark-down' but got '{v}'."
                    ));
                }
            };
        }
        "on-marked-down" => {
            let v = args.next_string("'shutdown-sessions'")?;
            if v != "shutdown-sessions" {
                return Err(format!(
                    "'on-marked-down' expects 'shutdown-sessions' but got '{v}'."
                ));
            }
            h.shutdown_on_down = true;
        }
        _ => {
            let v = args.next_string("'shutdown-backup-sessions'")?;
            if v != "shutdown-backup-sessions" {
                return Err(format!(
                    "'on-marked-up' expects 'shutdown-backup-sessions' but got '{v}'."
                ));
            }
            h.shutdown_backups_on_up = true;
        }
    }
    Ok(())
}
