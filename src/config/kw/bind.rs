//! `bind <addr>[,<addr>...] [options]` and the address list on a 1.4 `listen`
//! or `frontend` line.

use crate::config::address::parse_bind_addresses;
use crate::config::model::{Bind, BindOpts};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;

/// Bind options refused until built: ignoring them would change behaviour.
const REFUSED: &[&str] = &[
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
    // TLS options not built: each would change who may pass or what is served.
    "ca-verify-file",
    "ca-ignore-err",
    "crt-ignore-err",
    "generate-certificates",
    "ca-sign-file",
    "ca-sign-pass",
    "allow-0rtt",
    "tls-ticket-keys",
];

/// Bind options that ringlb acts on (or, for `process`/`thread`, explains).
const SUPPORTED: &[&str] = &[
    "ssl",
    "accept-proxy",
    "defer-accept",
    "name",
    "id",
    "backlog",
    "maxconn",
    "v4v6",
    "v6only",
    "tfo",
    "mss",
    "interface",
    "transparent",
    "process",
    "thread",
];

/// Harmless bind options with one argument: warned about and ignored.
const IGNORED_WITH_ARG: &[&str] = &["nice", "tcp-ut"];

/// `bind` in a `frontend` or `listen`.
pub fn bind(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let result = bind_line(cx, p, args);
    p.bind_errors |= result.is_err();
    result
}

/// The options of one `bind` line, read before its addresses are added.
#[derive(Default)]
struct LineOpts {
    defer_accept: bool,
    /// `ssl` was given.
    ssl: bool,
    /// `crt` arguments, in order (under `crt-base`).
    crt: Vec<String>,
    /// `crt-list` arguments, in order.
    crt_lists: Vec<String>,
    /// The TLS options, over the `ssl-default-bind-*` globals.
    tls: crate::tls::opts::SslOpts,
    /// The first TLS option written (warned about without `ssl`).
    tls_opt: Option<String>,
    opts: BindOpts,
}

/// The body of [`bind`].
fn bind_line(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let list = args.next_string("an address: <ip>:<port>[,<ip>:<port>...]")?;
    let mut line = LineOpts {
        tls: crate::tls::opts::globals().bind,
        ..LineOpts::default()
    };
    while let Some(opt) = args.next_opt() {
        if tls_option(cx, &mut line, &opt, args)? {
            continue;
        }
        if SUPPORTED.contains(&opt.as_str()) {
            args.set_label(format!("bind {opt}"));
            supported_option(cx, &mut line, &opt, args)?;
            continue;
        }
        if REFUSED.contains(&opt.as_str()) {
            return Err(format!("bind option '{opt}' is not supported yet"));
        }
        if IGNORED_WITH_ARG.contains(&opt.as_str()) {
            args.set_label(format!("bind {opt}"));
            args.next_string("an argument")?;
        } else {
            let known: Vec<&str> = SUPPORTED
                .iter()
                .chain(REFUSED)
                .chain(IGNORED_WITH_ARG)
                .copied()
                .chain(crate::tls::opts::bind_names())
                .chain(["crt", "crt-list"])
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
    build_tls(cx, &mut line)?;
    let before = p.binds.len();
    add_addresses(cx, p, &list, "bind", line.defer_accept);
    if line.opts.id.is_some() && p.binds.len() - before > 1 {
        // As HAProxy: one id cannot name several sockets.
        return Err(format!(
            "'id' can only be used with a single socket (in '{list}')"
        ));
    }
    for b in &mut p.binds[before..] {
        b.opts = line.opts.clone();
    }
    Ok(())
}

/// Reads one option of [`SUPPORTED`] and its argument into `line`.
fn supported_option(
    cx: &mut Ctx<'_>,
    line: &mut LineOpts,
    opt: &str,
    args: &mut Args,
) -> Result<(), String> {
    let o = &mut line.opts;
    match opt {
        "defer-accept" => line.defer_accept = true,
        "ssl" => line.ssl = true,
        "name" => o.name = Some(args.next_string("a listener name")?),
        "id" => o.id = Some(positive(&args.next_string("a numeric id")?, opt)?),
        "backlog" => o.backlog = Some(positive(&args.next_string("a queue length")?, opt)?),
        "mss" => o.mss = Some(positive(&args.next_string("a segment size")?, opt)?),
        "v6only" => o.v6only = Some(true),
        "v4v6" => o.v6only = Some(false),
        "tfo" => o.tfo = true,
        "accept-proxy" => o.accept_proxy = true,
        "transparent" => o.transparent = true,
        "interface" => o.interface = Some(args.next_string("an interface name")?),
        // HAProxy: 0 leaves the listener with its frontend's limit only.
        "maxconn" => {
            o.maxconn =
                Some(count(&args.next_string("a connection count")?, opt)?).filter(|n| *n > 0)
        }
        _ => {
            // process/thread: every ringlb worker accepts on its own
            // SO_REUSEPORT copy of each listener; the kernel spreads the
            // connections, so pinning a listener to a thread has no meaning.
            args.next_string("a process or thread set")?;
            cx.warn(format!(
                "bind option '{opt}' is ignored: every ringlb worker thread accepts on \
                 its own copy of each listener"
            ));
        }
    }
    Ok(())
}

/// `crt`, `crt-list` and the TLS options of [`crate::tls::opts::bind_names`]
/// into `line`; `Ok(false)`: not a TLS option.
fn tls_option(
    cx: &mut Ctx<'_>,
    line: &mut LineOpts,
    opt: &str,
    args: &mut Args,
) -> Result<bool, String> {
    use crate::tls::opts;
    args.set_label(format!("bind {opt}"));
    let crt_base = |p: String| opts::with_base(&p, |g| g.crt_base.clone());
    let taken = match opt {
        "crt" => {
            let v = args.next_string("a certificate file or directory")?;
            line.crt.push(crt_base(v));
            true
        }
        "crt-list" => {
            // As HAProxy: `crt-base` applies to the certificates listed in
            // the file, not to the file itself.
            line.crt_lists.push(args.next_string("a crt-list file")?);
            true
        }
        _ => opts::parse(
            &mut line.tls,
            opts::Place::Bind,
            opt,
            &mut |what| args.next_string(what),
            &mut |w| cx.warn(w),
        )
        // A missing argument already names `bind <opt>`.
        .map_err(|e| match e.starts_with("'bind ") {
            true => e,
            false => format!("bind option '{opt}': {e}"),
        })?,
    };
    if taken && line.tls_opt.is_none() {
        line.tls_opt = Some(opt.to_string());
    }
    Ok(taken)
}

/// Builds the bind's TLS configuration when `ssl` is given (certificates
/// load here, so their errors carry this line's file:line).
fn build_tls(cx: &mut Ctx<'_>, line: &mut LineOpts) -> Result<(), String> {
    if !line.ssl {
        if let Some(opt) = &line.tls_opt {
            // As HAProxy: accepted, but the listener speaks plain TCP.
            cx.warn(format!(
                "bind option '{opt}' has no effect without 'ssl': this listener does not speak TLS"
            ));
        }
        return Ok(());
    }
    let tls = crate::tls::bind::BindTls::build_with(
        std::mem::take(&mut line.crt),
        std::mem::take(&mut line.crt_lists),
        line.tls.clone(),
        &mut |w| cx.warn(w),
    )?;
    tls.set_origin(cx.origin.to_string());
    line.opts.ssl = Some(std::sync::Arc::new(tls));
    Ok(())
}

/// A positive 32-bit number for bind option `opt`.
fn positive(v: &str, opt: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("bind option '{opt}' expects a positive number, got '{v}'"))
}

/// A number for bind option `opt`, 0 allowed.
fn count(v: &str, opt: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("bind option '{opt}' expects a number >= 0, got '{v}'"))
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
        match parse_bind_addresses(addr) {
            Ok(addresses) => p.binds.extend(addresses.into_iter().map(|address| Bind {
                address,
                defer_accept,
                // Set from the frontend's options once the section is read.
                keepalive: false,
                opts: BindOpts::default(),
                origin: cx.origin.clone(),
            })),
            Err(e) => {
                p.bind_errors = true;
                cx.error(format!("'{label}': {e}"));
            }
        }
    }
}
