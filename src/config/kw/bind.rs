//! `bind <addr>[,<addr>...] [options]` and the address list on a 1.4 `listen`
//! or `frontend` line.

use crate::config::address::{Role, parse_address};
use crate::config::model::Bind;
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;

/// Bind options refused until built: ignoring them would change behaviour.
const REFUSED: &[&str] = &[
    "ssl",
    "crt",
    "crt-list",
    "ca-file",
    "crl-file",
    "verify",
    "alpn",
    "npn",
    "ciphers",
    "ciphersuites",
    "ssl-min-ver",
    "ssl-max-ver",
    "strict-sni",
    "accept-proxy",
    "transparent",
    "interface",
    "namespace",
    "uid",
    "gid",
    "user",
    "group",
    "mode",
    "level",
    "expose-fd",
    "accept-netscaler-cip",
    "proto",
];

/// Harmless bind options: warned about and ignored.
const IGNORED_FLAGS: &[&str] = &["v4v6", "v6only", "tfo"];

/// Bind options that ringlb acts on.
const SUPPORTED_FLAGS: &[&str] = &["defer-accept"];

/// Harmless bind options with one argument: warned about and ignored.
const IGNORED_WITH_ARG: &[&str] = &[
    "name", "id", "backlog", "maxconn", "nice", "process", "thread", "mss", "tcp-ut",
];

/// `bind` in a `frontend` or `listen`.
pub fn bind(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let result = bind_line(cx, p, args);
    p.bind_errors |= result.is_err();
    result
}

/// The body of [`bind`].
fn bind_line(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let list = args.next_string("an address: <ip>:<port>[,<ip>:<port>...]")?;
    let mut defer_accept = false;
    while let Some(opt) = args.next_opt() {
        if opt == "defer-accept" {
            defer_accept = true;
            continue;
        }
        if REFUSED.contains(&opt.as_str()) {
            return Err(format!("bind option '{opt}' is not supported yet"));
        }
        if IGNORED_WITH_ARG.contains(&opt.as_str()) {
            args.set_label(format!("bind {opt}"));
            args.next_string("an argument")?;
        } else if !IGNORED_FLAGS.contains(&opt.as_str()) {
            let known: Vec<&str> = SUPPORTED_FLAGS
                .iter()
                .chain(REFUSED)
                .chain(IGNORED_FLAGS)
                .chain(IGNORED_WITH_ARG)
                .copied()
                .collect();
            return Err(format!(
                "unknown bind option '{opt}'{}",
                super::did_you_mean(&opt, &known)
            ));
        }
        cx.warn(format!(
            "bind option '{opt}' is not supported by ringlb and is ignored"
        ));
    }
    add_addresses(cx, p, &list, "bind", defer_accept);
    Ok(())
}

/// Adds each comma-separated address as a bind, reporting every bad one under `label`.
pub fn add_addresses(
    cx: &mut Ctx<'_>,
    p: &mut RawProxy,
    list: &str,
    label: &str,
    defer_accept: bool,
) {
    for addr in list.split(',') {
        match parse_address(addr, Role::Bind) {
            Ok(address) => p.binds.push(Bind {
                address,
                defer_accept,
                // Set from the frontend's options once the section is read.
                keepalive: false,
                origin: cx.origin.clone(),
            }),
            Err(e) => {
                p.bind_errors = true;
                cx.error(format!("'{label}': {e}"));
            }
        }
    }
}
