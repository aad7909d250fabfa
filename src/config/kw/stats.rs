//! `stats ...` in proxies (the stats page, `stats::page`) and `stats
//! socket`/`stats timeout`/`stats maxconn` in `global` (the run-time API, `admin`).

use super::{B, F, L, Misplaced, check_caps, global};
use crate::acl::Condition;
use crate::config::address::{Role, parse_address};
use crate::config::model::{Address, StatsSocket};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::{RawGlobal, RawProxy};

/// Sub-keywords of `stats` in a proxy, for messages and suggestions.
const PROXY_SUBS: &[&str] = &[
    "enable",
    "uri",
    "realm",
    "auth",
    "refresh",
    "hide-version",
    "show-node",
    "admin",
    "show-legends",
    "show-desc",
    "show-modules",
    "scope",
    "http-request",
];

/// `stats <sub> ...` in a proxy section.
pub fn proxy(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let sub = args.next_string(&format!("one of {}", PROXY_SUBS.join(", ")))?;
    let label = format!("stats {sub}");
    args.set_label(label.as_str());
    let st = &mut p.stats;
    match sub.as_str() {
        "enable" => {}
        "uri" => st.uri = Some(args.next_string("a URI prefix")?),
        "realm" => st.realm = Some(args.next_string("a realm (quote or escape spaces)")?),
        "auth" => {
            let up = args.next_string("<user>:<password>")?;
            match up.split_once(':') {
                Some((u, pw)) if !u.is_empty() => st.auth.push((u.into(), pw.into())),
                _ => {
                    return Err(format!(
                        "'stats auth' expects <user>:<password>, got '{up}'"
                    ));
                }
            }
        }
        "refresh" => st.refresh = Some(args.next_duration()?),
        "hide-version" => st.hide_version = true,
        "show-node" => st.show_node = Some(args.next_opt()),
        "admin" => {
            // Not in `defaults`, as HAProxy: the condition names ACLs of the proxy.
            if !check_caps(cx, p, &label, F | L | B, Misplaced::Error)? {
                return Ok(());
            }
            let words = args.rest();
            if !matches!(words.first().map(String::as_str), Some("if" | "unless"))
                || words.len() < 2
            {
                return Err(
                    "'stats admin' expects 'if <condition>' or 'unless <condition>'".into(),
                );
            }
            let cond = Condition::parse(&words, &mut p.acls, None)
                .map_err(|e| format!("'stats admin': {e}"))?;
            p.stats.admin = Some(cond);
        }
        "scope" => {
            let name = args.next_string("a proxy name, or '.' for this one")?;
            // `.` is the proxy itself, as HAProxy.
            let name = if name == "." { p.name.clone() } else { name };
            p.stats.scope.push(name);
        }
        "show-legends" => p.stats.show_legends = true,
        "show-desc" => {
            let words = args.rest();
            p.stats.show_desc = Some((!words.is_empty()).then(|| words.join(" ")));
        }
        "show-modules" => {
            // Display only (HAProxy's stats modules): ringlb has none to show.
            args.rest();
            cx.warn(format!(
                "'{label}' is not supported by ringlb (it has no stats modules) and is ignored"
            ));
            return Ok(());
        }
        "http-request" => return Err("'stats http-request' is not supported by ringlb yet".into()),
        "socket" | "timeout" | "maxconn" | "bind-process" => {
            return Err(format!("'{label}' is only allowed in the 'global' section"));
        }
        s => {
            return Err(format!(
                "'stats' expects one of {}, got '{s}'{}",
                PROXY_SUBS.join(", "),
                super::did_you_mean(s, PROXY_SUBS)
            ));
        }
    }
    args.finish()?;
    // Every `stats` keyword implies `stats enable`, as HAProxy.
    p.stats.enabled = true;
    Ok(())
}

/// Sub-keywords of `stats` in `global`.
const GLOBAL_SUBS: &[&str] = &["socket", "timeout", "maxconn"];

/// `stats socket ...`, `stats timeout <t>`, `stats maxconn <n>` in `global`.
pub fn global(cx: &mut Ctx<'_>, g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let sub = args.next_string(
        "'socket <address> [options]', 'timeout <duration>' or 'maxconn <connections>'",
    )?;
    let label = format!("stats {sub}");
    args.set_label(label.as_str());
    match sub.as_str() {
        "socket" => {
            let socket = socket(cx, args)?;
            g.stats_sockets.push(socket);
        }
        "timeout" => {
            let t = args.next_duration()?;
            args.finish()?;
            // HAProxy refuses 0 (it would never expire, or expire at once).
            if t.is_zero() {
                return Err("'stats timeout' expects a positive value".into());
            }
            g.stats_timeout = Some(t);
        }
        "maxconn" => {
            let n = args.next_int(1, u32::MAX)?;
            args.finish()?;
            g.stats_maxconn = Some(n);
        }
        "bind-process" => {
            args.rest();
            cx.warn(format!(
                "'{label}' is not supported by ringlb and is ignored"
            ));
            return Ok(());
        }
        s => {
            return Err(format!(
                "'stats' in 'global' expects 'socket', 'timeout' or 'maxconn', got '{s}'{}",
                super::did_you_mean(s, GLOBAL_SUBS)
            ));
        }
    }
    Ok(())
}

/// `stats socket <addr> [mode <octal>] [level user|operator|admin]
/// [user <name>|uid <n>] [group <name>|gid <n>]`: the owner and mode apply to a
/// Unix socket (HAProxy ignores them on a TCP one, and so does ringlb, with a
/// warning). Other `bind` options are refused, never ignored in silence.
fn socket(cx: &mut Ctx<'_>, args: &mut Args) -> Result<StatsSocket, String> {
    let addr =
        args.next_string("an address (a path, unix@<path>, abns@<name>, fd@<n> or <ip>:<port>)")?;
    let address =
        parse_address(&addr, Role::StatsSocket).map_err(|e| format!("'stats socket': {e}"))?;
    let mut s = StatsSocket {
        address,
        mode: None,
        level: "operator".into(),
        uid: None,
        gid: None,
        expose_fd: false,
    };
    // Mode and owner need a file; passing fds needs a Unix-domain socket
    // (an inherited fd@ is taken as one: a TCP one fails when asked).
    let unix = matches!(s.address, Address::Unix(_));
    let local = unix || matches!(s.address, Address::Abstract(_) | Address::Fd(_));
    while let Some(opt) = args.next_opt() {
        args.set_label(format!("stats socket {opt}"));
        match opt.as_str() {
            "mode" => {
                let m = args.next_string("an octal mode such as 600")?;
                let mode = u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        format!("'stats socket mode' expects an octal mode such as 600, got '{m}'")
                    })?;
                s.mode = Some(mode);
            }
            "level" => {
                let l = args.next_string("user, operator or admin")?;
                if !["user", "operator", "admin"].contains(&l.as_str()) {
                    return Err(format!(
                        "'stats socket level' expects user, operator or admin, got '{l}'"
                    ));
                }
                s.level = l;
            }
            "uid" | "gid" => {
                let id = args.next_int(0, u32::MAX)?;
                owner(cx, &mut s, &opt, id, unix);
            }
            "user" => {
                let name = args.next_string("a user name")?;
                let id = global::user_id(&name)
                    .map_err(|e| format!("'stats socket user {name}': {e}"))?
                    .ok_or_else(|| format!("'stats socket user': unknown user '{name}'"))?;
                owner(cx, &mut s, &opt, id, unix);
            }
            "group" => {
                let name = args.next_string("a group name")?;
                let id = global::group_id(&name)
                    .map_err(|e| format!("'stats socket group {name}': {e}"))?
                    .ok_or_else(|| format!("'stats socket group': unknown group '{name}'"))?;
                owner(cx, &mut s, &opt, id, unix);
            }
            "expose-fd" => {
                let what = args.next_string("'listeners'")?;
                if what != "listeners" {
                    return Err(format!(
                        "'stats socket expose-fd' expects 'listeners', not '{what}'"
                    ));
                }
                if !local {
                    return Err(
                        "'stats socket expose-fd' needs a Unix socket (file descriptors can't \
                         cross TCP)"
                            .into(),
                    );
                }
                s.expose_fd = true;
            }
            "process" | "name" => {
                args.next_string("an argument")?;
                cx.warn(format!(
                    "stats socket option '{opt}' is not supported by ringlb and is ignored"
                ));
            }
            o => {
                return Err(format!(
                    "unknown stats socket option '{o}' (expected mode <m>, level <l>, \
                     user <u>, uid <n>, group <g> or gid <n>){}",
                    super::did_you_mean(o, SOCKET_OPTIONS)
                ));
            }
        }
    }
    if !unix && s.mode.is_some() {
        cx.warn(format!(
            "'stats socket mode' applies to Unix socket files only; ignored for '{addr}'"
        ));
    }
    Ok(s)
}

/// Options of `stats socket`, for suggestions.
const SOCKET_OPTIONS: &[&str] = &["mode", "level", "user", "uid", "group", "gid"];

/// Records `uid`/`user` or `gid`/`group`; warns when it cannot apply (no file).
fn owner(cx: &mut Ctx<'_>, s: &mut StatsSocket, opt: &str, id: u32, unix: bool) {
    if !unix {
        cx.warn(format!(
            "'stats socket {opt}' applies to Unix socket files only; ignored for this address"
        ));
        return;
    }
    if matches!(opt, "uid" | "user") {
        s.uid = Some(id);
    } else {
        s.gid = Some(id);
    }
}
