//! The small proxy keywords: `mode`, `maxconn`, `fullconn`, `default_backend`,
//! `acl`, `use_backend`, `retries`, `http-reuse`, and the lists of HAProxy
//! proxy keywords ringlb ignores (with a warning) or refuses.

use crate::acl::Condition;
use crate::config::model::Mode;
use crate::config::parse::{Args, Ctx};
use crate::config::raw::{RawProxy, RawSwitch};

/// Proxy keywords accepted, warned about and ignored: they describe, they do not route.
pub const IGNORED: &[&str] = &["description", "log-tag"];

/// HAProxy proxy keywords refused until built: ignoring them would change behaviour.
pub const UNSUPPORTED: &[&str] = &[
    "reqpass",
    "reqipass",
    "appsession",
    "compression",
    "filter",
    "email-alert",
    "load-server-state-from-file",
    "server-state-file-name",
    "retry-on",
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

/// `backlog <n>`: the accept queue of the proxy's `bind` lines that set none.
pub fn backlog(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.settings.backlog = Some(args.next_int(1, i32::MAX as u32)?);
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

/// `source <addr>[:<port>] [usesrc ...] [interface <name>]`: the local
/// address server connections are bound to (`server/connect.rs`).
pub fn source(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let a = args.next_string("an address[:port]")?;
    p.settings.source = Some(parse_source(&a, args)?);
    Ok(())
}

/// The address of a `source` keyword or server option, then refuses what
/// follows it that ringlb does not build (`usesrc`, `interface`).
pub fn parse_source(a: &str, args: &mut Args) -> Result<std::net::SocketAddr, String> {
    let addr = source_addr(a)?;
    match args.peek() {
        Some("usesrc") => Err(
            "'source ... usesrc' is not supported: transparent binding to the client's or \
             another foreign address needs IP_TRANSPARENT and policy routing, which ringlb \
             does not set up"
                .into(),
        ),
        Some("interface") => Err(
            "'source ... interface' is not supported: ringlb does not bind server \
             connections to a device"
                .into(),
        ),
        _ => Ok(addr),
    }
}

/// `<ip>`, `<ip>:<port>` or `[<ipv6>]:<port>` (port 0 or none: any port).
fn source_addr(a: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{IpAddr, SocketAddr};
    if let Ok(ip) = a.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    if let Ok(sa) = a.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let bad =
        || format!("'source' expects an IP address with an optional port (no range), got '{a}'");
    let (ip, port) = a.rsplit_once(':').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let port: u16 = if port.is_empty() {
        0
    } else {
        port.parse().map_err(|_| bad())?
    };
    Ok(SocketAddr::new(ip, port))
}

/// `dispatch <address>:<port>`: every connection of the backend goes
/// there, servers or not (as HAProxy 2.6 does).
pub fn dispatch(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let a = args.next_string("<address>:<port>")?;
    args.finish()?;
    let bad = || format!("'dispatch' expects <address>:<port> with a port, got '{a}'");
    let (addr, offset) = crate::config::address::parse_server_address(&a).map_err(|_| bad())?;
    match (addr, offset) {
        (crate::config::model::Address::Inet(sa), None) if sa.port() != 0 => {
            p.settings.dispatch = Some(sa);
            Ok(())
        }
        _ => Err(bad()),
    }
}

/// `disabled` / `enabled`.
pub fn disabled(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.settings.disabled = args.keyword() == "disabled";
    args.finish()
}

/// `rate-limit sessions <rate>`: new sessions per second on a frontend.
pub fn rate_limit(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let what = args.next_string("'sessions'")?;
    if what != "sessions" {
        return Err(format!("'rate-limit' expects 'sessions', got '{what}'"));
    }
    // 0 means no limit, as HAProxy.
    p.settings.rate_limit_sessions = Some(args.next_int(0, u32::MAX)?).filter(|&n| n > 0);
    args.finish()
}

/// `id <n>`: the proxy's number in the stats; duplicates are refused when validating.
pub fn id(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    p.settings.id = Some(args.next_int(1, i32::MAX as u32)?);
    args.finish()
}

/// 1.4's `grace <time>`: HAProxy 2.5+ refuses it; ringlb keeps its 1.4
/// meaning (on soft stop the listeners stay open that long), with a warning.
pub fn grace(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let d = args.next_duration()?;
    args.finish()?;
    cx.warn(
        "'grace' was removed in HAProxy 2.5; ringlb keeps its 1.4 meaning (on soft stop, \
         this frontend keeps accepting for that long)",
    );
    p.settings.grace = Some(d);
    Ok(())
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
    let kw = args.keyword();
    let why = match kw {
        "load-server-state-from-file" | "server-state-file-name" => {
            ": server states set at run time (maintenance, weights, addresses) are not saved \
             or read back, and ignoring this would put servers back in service after a reload"
        }
        "retry-on" => ": ringlb retries only failed connections ('retries', 'option redispatch')",
        _ => "",
    };
    Err(format!("'{kw}' is not supported by ringlb yet{why}"))
}
