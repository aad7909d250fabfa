//! `cookie <name> insert|rewrite|prefix [options]`: the stickiness cookie of a
//! backend. A second `cookie` line in the same section replaces the first (as
//! HAProxy), with a warning naming both lines.

use crate::config::model::{Cookie, CookieMode};
use crate::config::parse::{Args, Ctx, parse_duration_for};
use crate::config::raw::RawProxy;

/// `cookie ...`.
pub fn cookie(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("a cookie name and a mode (insert, rewrite or prefix)")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"=;,\"".contains(&b))
    {
        return Err(format!("'cookie' expects a cookie name, got '{name}'"));
    }
    let mut mode: Option<CookieMode> = None;
    let mut c = Cookie {
        name,
        mode: CookieMode::Insert,
        indirect: false,
        nocache: false,
        httponly: false,
        secure: false,
        postonly: false,
        domains: Vec::new(),
        attrs: Vec::new(),
        maxidle: None,
        maxlife: None,
        origin: cx.origin.clone(),
    };
    while let Some(word) = args.next_opt() {
        let m = match word.as_str() {
            "insert" => Some(CookieMode::Insert),
            "rewrite" => Some(CookieMode::Rewrite),
            "prefix" => Some(CookieMode::Prefix),
            _ => None,
        };
        if let Some(m) = m {
            if mode.is_some_and(|old| old != m) {
                return Err(
                    "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible".into(),
                );
            }
            mode = Some(m);
            continue;
        }
        match word.as_str() {
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "domain" => {
                args.set_label("cookie domain");
                c.domains.push(args.next_string("a domain name")?);
            }
            "maxidle" | "maxlife" => {
                args.set_label(format!("cookie {word}"));
                let t = args.next_string(crate::config::duration::EXPECTED)?;
                let d = Some(parse_duration_for(&format!("cookie {word}"), &t)?);
                if word == "maxidle" {
                    c.maxidle = d;
                } else {
                    c.maxlife = d;
                }
                // Dates in the cookie are not built: refused, or the cookie
                // would outlive what the operator asked for.
                return Err(format!(
                    "'cookie {word}' is not supported yet: stickiness cookies carry no date"
                ));
            }
            "preserve" | "dynamic" => {
                return Err(format!("'cookie' option '{word}' is not supported yet"));
            }
            "attr" => {
                args.set_label("cookie attr");
                let a = args.next_string("an attribute")?;
                // As HAProxy: one attribute per `attr`, nothing that would end it.
                if let Some(bad) = a.chars().find(|&ch| ch == ';' || ch.is_ascii_control()) {
                    return Err(format!(
                        "'cookie attr': character {bad:?} is not permitted in attribute value"
                    ));
                }
                c.attrs.push(a);
            }
            _ => {
                return Err(format!(
                    "'cookie' expects insert, rewrite, prefix, indirect, nocache, postonly, \
                     httponly, secure, domain <d>, attr <a>, maxidle <t> or maxlife <t>; got '{word}'"
                ));
            }
        }
    }
    c.mode = mode.ok_or_else(|| {
        format!(
            "'cookie {}' expects a mode: 'insert', 'rewrite' or 'prefix' (ringlb has no passive cookie mode)",
            c.name
        )
    })?;
    if p.cookie_here
        && let Some(old) = &p.cookie
    {
        let at = if old.origin.file == c.origin.file {
            format!("line {}", old.origin.line)
        } else {
            old.origin.to_string()
        };
        cx.warn(format!(
            "'cookie' at line {} overrides 'cookie' at {at}; only the last one is used (as HAProxy)",
            c.origin.line
        ));
    }
    p.cookie = Some(c);
    p.cookie_here = true;
    Ok(())
}
