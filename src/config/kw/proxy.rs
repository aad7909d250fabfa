//! The small proxy keywords: `mode`, `maxconn`, `fullconn`, `default_backend`,
//! `acl`, `use_backend`, `retries`, `http-reuse`, and the lists of HAProxy
//! proxy keywords ringlb ignores (with a warning) or refuses.

use crate::acl::Condition;
use crate::config::model::Mode;
use crate::config::parse::{Args, Ctx};
use crate::config::raw::{RawProxy, RawSwitch};

/// Proxy keywords accepted, warned about and ignored: they describe, they do not route.
pub const IGNORED: &[&str] = &["description", "id", "log-tag", "log-format"];

/// HAProxy proxy keywords refused until built: ignoring them would change behaviour.
pub const UNSUPPORTED: &[&str] = &[
    "reqpass",
    "reqipass",
    "stick-table",
    "stick",
    "appsession",
    "source",
    "dispatch",
    "http-check",
    "tcp-check",
    "compression",
    "filter",
    "http-send-name-header",
    "force-persist",
    "ignore-persist",
    "rate-limit",
    "grace",
    "bind-process",
    "persist",
    "use-server",
    "disabled",
    "enabled",
    "email-alert",
    "external-check",
];

/// `mode http|tcp`.
pub fn mode(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let m = args.next_string("'http' or 'tcp'")?;
    p.mode = match m.as_str() {
        "http" => Mode::Http,
        "tcp" => Mode::Tcp,
        "health" => {
            return Err(
                "'mode health' is not supported by ringlb (refused since HAProxy 2.4)".into(),
            );
        }
        _ => return Err(format!("'mode' expects 'http' or 'tcp', got '{m}'")),
    };
    args.finish()
}

/// `maxconn <n>` (n > 0) on the frontend side.
pub fn maxconn(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.maxconn = Some(args.next_int(1, u32::MAX)?);
    args.finish()
}

/// `fullconn <n>` (n > 0) on the backend side.
pub fn fullconn(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.fullconn = Some(args.next_int(1, u32::MAX)?);
    args.finish()
}

/// `default_backend <name>`: resolved when validating, when every backend is known.
pub fn default_backend(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("a backend name")?;
    args.finish()?;
    p.default_backend = Some((name, cx.origin.clone()));
    Ok(())
}

/// `acl <name> <fetch> [flags] [operator] <value>...`: compiled into the
/// proxy's ACL table (pattern files resolve from the startup directory).
pub fn acl(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    p.acls
        .add_line(&words, None)
        .map(|_| ())
        .map_err(|e| format!("'acl': {e}"))
}

/// `use_backend <name> [if|unless <cond>]`: the condition is compiled against
/// the ACLs declared above; the name is resolved when validating.
pub fn use_backend(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.use_backend_seen = true;
    let name = args.next_string("a backend name")?;
    // A name with `%` is a log-format expression evaluated per request
    // (map-based routing); its expressions are checked now.
    let dynamic = if name.contains('%') {
        Some(
            crate::lf::LogFormat::parse(&name, None)
                .map_err(|e| format!("'use_backend {name}': {e}"))?,
        )
    } else {
        None
    };
    let words = args.rest();
    let cond = match words.first().map(String::as_str) {
        None => None,
        Some("if" | "unless") => Some(
            Condition::parse(&words, &mut p.acls, None)
                .map_err(|e| format!("'use_backend {name}': {e}"))?,
        ),
        Some(w) => {
            return Err(format!(
                "'use_backend {name}': expects 'if' or 'unless' followed by a condition, got '{w}'"
            ));
        }
    };
    p.switching.push(RawSwitch {
        backend: name,
        dynamic,
        cond,
        origin: cx.origin.clone(),
    });
    Ok(())
}

/// `retries <n>`.
pub fn retries(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.retries = Some(args.next_int(0, u32::MAX)?);
    args.finish()
}

/// `http-reuse never|safe|aggressive|always`.
pub fn http_reuse(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    use crate::config::model::HttpReuse;
    let m = args.next_string("'never', 'safe', 'aggressive' or 'always'")?;
    p.http.reuse = match m.as_str() {
        "never" => HttpReuse::Never,
        "safe" => HttpReuse::Safe,
        "aggressive" => HttpReuse::Aggressive,
        "always" => HttpReuse::Always,
        _ => {
            return Err(format!(
                "'http-reuse' expects 'never', 'safe', 'aggressive' or 'always', got '{m}'"
            ));
        }
    };
    args.finish()
}

/// A keyword from [`IGNORED`]: its arguments are not checked.
pub fn ignored(cx: &mut Ctx<'_>, args: &mut Args) -> Result<(), String> {
    args.rest();
    cx.warn(format!(
        "'{}' is not supported by ringlb and is ignored",
        args.keyword()
    ));
    Ok(())
}

/// A keyword from [`UNSUPPORTED`].
pub fn unsupported(args: &mut Args) -> Result<(), String> {
    Err(format!(
        "'{}' is not supported by ringlb yet",
        args.keyword()
    ))
}
