//! `server <name> <addr> [options]` and `default-server [options]`, whose
//! options every later `server` of the proxy starts from.

use std::net::IpAddr;

use crate::config::address::parse_server_address;
use crate::config::parse::{Args, Ctx, parse_duration_for};
use crate::config::raw::{RawProxy, RawServer, ServerOpts};

/// Server options refused until built: ignoring them would change behaviour.
const REFUSED: &[&str] = &[
    "ssl",
    "check-ssl",
    "verify",
    "sni",
    "alpn",
    "ca-file",
    "crt",
    "send-proxy",
    "send-proxy-v2",
    "track",
    "redir",
    "resolvers",
    // They change when a server takes traffic or which sessions it keeps.
    "slowstart",
    "observe",
    "error-limit",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "agent-check",
    "agent-inter",
    "agent-port",
    "init-addr",
    "namespace",
    "proto",
];

/// Harmless options with one argument: warned about and ignored.
const IGNORED_WITH_ARG: &[&str] = &[];

/// Harmless flags: warned about and ignored.
const IGNORED_FLAGS: &[&str] = &["non-stick", "no-agent-check"];

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
    "source",
    "id",
];

/// `server <name> <addr> [options]`.
pub fn server(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("<name> <address>:<port> [options]")?;
    let addr = args.next_string("<name> <address>:<port> [options]")?;
    let (address, port_offset) =
        parse_server_address(&addr).map_err(|e| format!("server '{name}': {e}"))?;
    let mut opts = p.default_server.clone();
    parse_opts(cx, &mut opts, args, false)?;
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
            "id" if is_default => {
                return Err("'id' is not allowed on 'default-server' (ids are unique)".into());
            }
            "id" => opts.id = Some(args.next_int(1, i32::MAX as u32)?),
            "disabled" => opts.disabled = true,
            "enabled" => opts.disabled = false,
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
