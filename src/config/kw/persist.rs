//! `use-server`, `force-persist`, `ignore-persist`, `http-send-name-header`,
//! `persist rdp-cookie` and `bind-process` (see `persist/` for what they do).

use crate::acl::Condition;
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;
use crate::persist::RawUseServer;

/// The `if|unless <cond>` HAProxy requires after `keyword`.
fn required_cond(p: &mut RawProxy, args: &mut Args, label: &str) -> Result<Condition, String> {
    let words = args.rest();
    match words.first().map(String::as_str) {
        Some("if" | "unless") => {
            Condition::parse(&words, &mut p.acls, None).map_err(|e| format!("'{label}': {e}"))
        }
        _ => Err(format!(
            "'{label}' requires either 'if' or 'unless' followed by a condition"
        )),
    }
}

/// `use-server <server>|<log-format> if|unless <cond>`: the server is
/// resolved when validating.
pub fn use_server(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("a server name")?;
    let dynamic = if name.contains('%') {
        Some(
            crate::lf::LogFormat::parse(&name, None)
                .map_err(|e| format!("'use-server {name}': {e}"))?,
        )
    } else {
        None
    };
    let cond = required_cond(p, args, "use-server")?;
    p.persistence.use_server.push(RawUseServer {
        name,
        dynamic,
        cond,
        origin: cx.origin.clone(),
    });
    Ok(())
}

/// `force-persist if|unless <cond>` / `ignore-persist if|unless <cond>`.
pub fn persist_rule(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let force = args.keyword() == "force-persist";
    let label = args.keyword().to_string();
    let cond = required_cond(p, args, &label)?;
    p.persistence.persist.push((force, cond));
    Ok(())
}

/// `http-send-name-header <header>` (HAProxy 2.6 requires the name).
pub fn send_name_header(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let Some(name) = args.peek().map(str::to_string) else {
        return Err("'http-send-name-header' requires a header string".into());
    };
    args.next_string("a header name")?;
    args.finish()?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(format!(
            "'http-send-name-header' expects a header name, got '{name}'"
        ));
    }
    p.persistence.send_name = Some(name);
    Ok(())
}

/// `persist rdp-cookie` / `persist rdp-cookie(<name>)` (default `msts`).
pub fn persist(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let Some(method) = args.peek().map(str::to_string) else {
        return Err("'persist': missing persist method".into());
    };
    args.next_string("'rdp-cookie'")?;
    args.finish()?;
    let name = if method == "rdp-cookie" {
        "msts".to_string()
    } else if let Some(inner) = method
        .strip_prefix("rdp-cookie(")
        .and_then(|r| r.strip_suffix(')'))
    {
        if inner.is_empty() {
            "msts".to_string()
        } else {
            inner.to_string()
        }
    } else {
        return Err(format!(
            "'persist' only supports 'rdp-cookie', got '{method}'"
        ));
    };
    p.persistence.rdp_cookie = Some(name);
    Ok(())
}

/// `bind-process`: as HAProxy 2.6, only process 1 exists (`all`, `odd`,
/// `even` and `1` name it); accepted with 2.6's deprecation warning, any
/// other number refused.
pub fn bind_process(cx: &mut Ctx<'_>, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    if words.is_empty() {
        return Err("'bind-process' expects a process set".into());
    }
    for w in &words {
        let ok = match w.as_str() {
            "all" | "odd" | "even" => true,
            _ => {
                let (lo, hi) = w.split_once('-').unwrap_or((w, w));
                let one = |s: &str| s.is_empty() || s == "1";
                !(lo.is_empty() && hi.is_empty()) && one(lo) && one(hi)
            }
        };
        if !ok {
            return Err(format!(
                "bind-process : '{w}' is not a valid number/range. It supports numbers from 1 to 1."
            ));
        }
    }
    cx.warn("'bind-process' has no effect, is deprecated, and will be removed in version 2.7.");
    Ok(())
}
