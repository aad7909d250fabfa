//! `timeout <name> <t>` and the 1.4 spellings `contimeout`, `clitimeout`,
//! `srvtimeout` (accepted with a warning naming the modern form).

use std::time::Duration;

use super::{ALL, BE, FE, Misplaced, check_caps};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;

/// Timeout names with the sections they act in (as HAProxy's matrix).
const TIMEOUTS: &[(&str, u8)] = &[
    ("connect", BE),
    ("client", FE),
    ("server", BE),
    ("http-request", ALL),
    ("http-keep-alive", ALL),
    ("queue", BE),
    ("check", BE),
    ("client-fin", FE),
    ("server-fin", BE),
    ("tunnel", BE),
    ("tarpit", ALL),
];

/// `timeout <name> <t>`.
pub fn timeout(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let names: Vec<&str> = TIMEOUTS.iter().map(|(n, _)| *n).collect();
    let name = args.next_string(&format!(
        "a timeout name ({}) and a duration",
        names.join(", ")
    ))?;
    let Some(&(_, caps)) = TIMEOUTS.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "'timeout' expects one of {}, got '{name}'{}",
            names.join(", "),
            super::did_you_mean(&name, &names)
        ));
    };
    let label = format!("timeout {name}");
    args.set_label(label.as_str());
    let t = args.next_duration()?;
    args.finish()?;
    if !check_caps(cx, p, &label, caps, Misplaced::Warn)? {
        return Ok(());
    }
    set(cx, p, &name, t);
    Ok(())
}

/// `contimeout`, `clitimeout`, `srvtimeout` (HAProxy 1.4).
pub fn legacy(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let old = args.keyword().to_string();
    let name = match old.as_str() {
        "contimeout" => "connect",
        "clitimeout" => "client",
        _ => "server",
    };
    let t = args.next_duration()?;
    args.finish()?;
    cx.warn(format!(
        "'{old}' is deprecated since HAProxy 1.5 and refused by 2.1; use 'timeout {name}'"
    ));
    set(cx, p, name, t);
    Ok(())
}

/// Stores a timeout already checked for its section.
fn set(cx: &mut Ctx<'_>, p: &mut RawProxy, name: &str, t: Duration) {
    let to = &mut p.timeouts;
    let slot = match name {
        "connect" => &mut to.connect,
        "client" => &mut to.client,
        "server" => &mut to.server,
        "http-request" => &mut to.http_request,
        "http-keep-alive" => &mut to.http_keep_alive,
        // How long a request waits behind full servers (`server/queue.rs`).
        "queue" => &mut to.queue,
        "check" => &mut to.check,
        "client-fin" => &mut to.client_fin,
        "server-fin" => &mut to.server_fin,
        "tunnel" => &mut to.tunnel,
        "tarpit" => &mut to.tarpit,
        _ => {
            cx.warn(format!(
                "'timeout {name}' is not supported by ringlb and is ignored"
            ));
            return;
        }
    };
    *slot = Some(t);
}
