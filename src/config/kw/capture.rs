//! `capture cookie|request header|response header`, `declare capture`,
//! `unique-id-format` and `unique-id-header`: what a frontend notes about each
//! request for its logs, and the id it gives each request.
//!
//! Captures act in `log/capture.rs` (noted by the HTTP session, written in
//! httplog lines); the unique id in `http/unique_id.rs`. The sections follow
//! HAProxy 2.6: captures in `frontend` and `listen` (refused in `defaults`,
//! ignored with HAProxy's warning in a `backend`), `declare` in `frontend`
//! and `listen` only, the unique-id keywords in `defaults` too (a backend's
//! has no effect, as in HAProxy, and is warned about).

use crate::config::parse::{Args, Ctx};
use crate::config::raw::{RawProxy, SectionKind};
use crate::lf::LogFormat;
use crate::log::capture::{COOKIE_LEN_MAX, CookieSpec, Slot};

/// `len <n>` at the end of a capture line.
fn len(args: &mut Args, usage: &str) -> Result<usize, String> {
    match args.next_opt().as_deref() {
        Some("len") => {}
        _ => return Err(format!("'{}' expects {usage}", args.label())),
    }
    let n = args.next_int(0, u32::MAX)?;
    args.finish()?;
    Ok(n as usize)
}

/// `capture cookie <name> len <n>`, `capture request|response header <name> len <n>`.
pub fn capture(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let what = args.next_opt().unwrap_or_default();
    args.set_label(format!("capture {what}"));
    if p.kind == SectionKind::Defaults && !what.is_empty() {
        return Err(format!(
            "'capture {what}' not allowed in 'defaults' section"
        ));
    }
    let backend = p.kind == SectionKind::Backend;
    match what.as_str() {
        "cookie" => {
            let name = args.next_string("<cookie_name> 'len' <len>")?;
            let mut n = len(args, "<cookie_name> 'len' <len>")?;
            if n > COOKIE_LEN_MAX {
                cx.warn(format!(
                    "truncating capture length to {COOKIE_LEN_MAX} bytes for {}",
                    p.label()
                ));
                n = COOKIE_LEN_MAX;
            }
            if !backend {
                // Only one cookie capture: the last one written wins.
                p.captures.cookie = Some(CookieSpec {
                    prefix: name,
                    len: n,
                });
            }
        }
        "request" | "response" => {
            let usage = "'header' <header_name> 'len' <len>";
            if args.next_opt().as_deref() != Some("header") {
                return Err(format!("'capture {what}' expects {usage}"));
            }
            let name = args.next_string(usage)?;
            let n = len(args, usage)?;
            let slot = Slot {
                header: Some(name),
                len: n,
            };
            if !backend {
                let slots = if what == "request" {
                    &mut p.captures.request
                } else {
                    &mut p.captures.response
                };
                slots.push(slot);
            }
        }
        _ => {
            return Err(
                "'capture' expects 'cookie' or 'request header' or 'response header'".into(),
            );
        }
    }
    if backend {
        cx.warn(format!(
            "'capture' ignored because {} has no frontend capability",
            p.label()
        ));
    }
    Ok(())
}

/// `declare capture request|response len <n>`: a slot for
/// `http-request capture ... id <n>` / `http-response capture ... id <n>`.
pub fn declare(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    if !matches!(p.kind, SectionKind::Frontend | SectionKind::Listen) {
        return Err("'declare' only available in frontend or listen section".into());
    }
    if args.next_opt().as_deref() != Some("capture") {
        return Err("'declare' only supports 'capture'".into());
    }
    args.set_label("declare capture");
    let side = args.next_opt().unwrap_or_default();
    if side != "request" && side != "response" {
        return Err("'declare capture' requires a direction ('request' or 'response')".into());
    }
    let n = len(args, "'request'|'response' 'len' <len>")?;
    let slot = Slot {
        header: None,
        len: n,
    };
    if side == "request" {
        p.captures.request.push(slot);
    } else {
        p.captures.response.push(slot);
    }
    Ok(())
}

/// `unique-id-format <log-format>`, compiled now; names in its expressions are
/// linked when the configuration is validated.
pub fn unique_id_format(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let text = args.next_string("a log-format string")?;
    if !args.is_done() {
        return Err(
            "'unique-id-format' expects only one argument, don't forget to escape spaces!".into(),
        );
    }
    let format = LogFormat::parse(&text, None).map_err(|e| format!("'unique-id-format': {e}"))?;
    warn_backend(cx, p, "unique-id-format");
    p.unique_id_format = Some(format);
    Ok(())
}

/// `unique-id-header <name>`.
pub fn unique_id_header(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("a header name")?;
    args.finish()?;
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(format!("'unique-id-header': '{name}' is not a header name"));
    }
    warn_backend(cx, p, "unique-id-header");
    p.unique_id_header = Some(name);
    Ok(())
}

/// A backend's unique-id keywords do nothing (the frontend's id is used), as in HAProxy.
fn warn_backend(cx: &mut Ctx<'_>, p: &RawProxy, kw: &str) {
    if p.kind == SectionKind::Backend {
        cx.warn(format!(
            "'{kw}' in {} has no effect: the frontend's unique id is used",
            p.label()
        ));
    }
}

/// A header-name byte (RFC 9110 tchar).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
