//! Keywords of the `global` section (process settings). `log`,
//! `log-send-hostname` and `stats` live in their own families.

use crate::config::parse::{Args, Ctx};
use crate::config::raw::{Ident, RawGlobal};
use crate::http::rules::vars::{ProcVar, check_name, set_at_boot, set_fmt_at_boot};
use crate::lf::LogFormat;

pub use super::global_noops::{IGNORED, NOOPS, ignored};

/// Every keyword `global` understands (for suggestions and misplacement hints).
pub const KEYWORDS: &[&str] = &[
    "daemon",
    // Applied by the parser itself, to the lines after them (`parse.rs`).
    "setenv",
    "presetenv",
    "unsetenv",
    "resetenv",
    "external-check",
    "insecure-fork-wanted",
    "maxconn",
    "strict-limits",
    "nbthread",
    "pidfile",
    "uid",
    "gid",
    "user",
    "group",
    "node",
    "log",
    "log-send-hostname",
    "stats",
    "tune.bufsize",
    "tune.http.maxhdr",
    "maxpipes",
    "tune.pipesize",
    "maxconnrate",
    "maxsessrate",
    "hard-stop-after",
    "master-worker",
    "ulimit-n",
    "nbproc",
    "chroot",
    "cpu-map",
    "set-var",
    "set-var-fmt",
    "ssl-server-verify",
    "ssl-default-server-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-bind-options",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-curves",
    "crt-base",
    "ca-base",
    "ssl-load-extra-files",
    "tune.ssl.cachesize",
    "tune.ssl.lifetime",
    "tune.ssl.maxrecord",
    "maxsslconn",
    "ssl-engine",
    "ssl-mode-async",
];

/// The listening-side TLS globals, handled by [`tls`].
pub const TLS: &[&str] = &[
    "ssl-default-bind-options",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-curves",
    "crt-base",
    "ca-base",
    "ssl-load-extra-files",
    "tune.ssl.cachesize",
    "tune.ssl.lifetime",
    "tune.ssl.maxrecord",
    "ssl-engine",
    "ssl-mode-async",
];

/// `ssl-server-verify none|required`: the `verify` of servers that say none.
pub fn ssl_server_verify(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    const EXPECTS: &str = "'ssl-server-verify' expects 'none' or 'required' as argument.";
    let v = args.next_opt().ok_or(EXPECTS)?;
    args.finish()?;
    g.server_tls.verify = crate::tls::server::Verify::parse(&v).ok_or(EXPECTS)?;
    Ok(())
}

/// `ssl-default-server-options <option>...`: TLS options every server starts
/// from (`no-tls-tickets`; the versions rustls never speaks hold already).
pub fn ssl_default_server_options(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    while let Some(o) = args.next_opt() {
        match o.as_str() {
            "no-tls-tickets" => g.server_tls.no_tickets = true,
            // rustls speaks TLS 1.2 and 1.3 only: these hold already.
            "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
            // The version options, as a `bind` line reads them (`tls/opts.rs`).
            "ssl-min-ver" | "ssl-max-ver" | "no-tlsv12" | "no-tlsv13" | "force-sslv3"
            | "force-tlsv10" | "force-tlsv11" | "force-tlsv12" | "force-tlsv13" => {
                let mut next = |what: &str| {
                    args.next_opt()
                        .ok_or_else(|| format!("'{kw} {o}' : missing {what}."))
                };
                let proto = &mut g.server_tls.proto;
                crate::tls::opts::parse(
                    proto,
                    crate::tls::opts::Place::Bind,
                    &o,
                    &mut next,
                    &mut |_| {},
                )?;
            }
            _ => return Err(format!("unknown option '{o}' on global statement '{kw}'.")),
        }
    }
    Ok(())
}

/// `ssl-default-server-ciphers` / `-ciphersuites`: the lists servers
/// without their own `ciphers` / `ciphersuites` use (mapped as on binds).
pub fn ssl_default_server_ciphers(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    let v = args
        .next_opt()
        .ok_or_else(|| format!("'{kw}' : missing cipher suite."))?;
    args.finish()?;
    if kw == "ssl-default-server-ciphersuites" {
        crate::tls::ciphers::tls13_suites(&v)?;
        g.server_tls.proto.ciphersuites = Some(v);
    } else {
        crate::tls::ciphers::tls12_suites(&v)?;
        g.server_tls.proto.ciphers = Some(v);
    }
    Ok(())
}

/// `daemon`.
pub fn daemon(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    args.finish()?;
    g.daemon = true;
    Ok(())
}

/// `maxconnrate <n>` / `maxsessrate <n>`: both limit the accepts of the
/// whole process per second (every accepted connection is a session here,
/// bar those `tcp-request connection` rules reject); the lower one holds.
pub fn rate(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    // 0 means no limit, as HAProxy.
    let n = args.next_int(0, u32::MAX)?;
    args.finish()?;
    let slot = usize::from(args.keyword() == "maxsessrate");
    g.max_rates[slot] = Some(n).filter(|&n| n > 0);
    Ok(())
}

/// `maxpipes <n>`: splice pipes held at once (0: none, splicing never starts).
pub fn maxpipes(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(0, u32::MAX)?;
    args.finish()?;
    g.maxpipes = Some(n);
    Ok(())
}

/// `tune.pipesize <bytes>`: each splice pipe's size (F_SETPIPE_SZ; the
/// kernel rounds it up to pages, and caps it at /proc/sys/fs/pipe-max-size).
pub fn pipesize(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(1, i32::MAX as u32)?;
    args.finish()?;
    g.pipesize = Some(n);
    Ok(())
}

/// `maxconn <n>` (n > 0).
pub fn maxconn(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(1, u32::MAX)?;
    args.finish()?;
    g.maxconn = Some(n);
    Ok(())
}

/// `maxsslconn <n>`: at most n TLS client connections at once in the
/// process (`tls::limit`); 0 is no limit. HAProxy reads a non-number as 0
/// (`atol`); ringlb refuses it rather than guess.
pub fn maxsslconn(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(0, u32::MAX)?;
    args.finish()?;
    g.maxsslconn = (n > 0).then_some(n);
    Ok(())
}

/// `strict-limits`: refuse to start when the open-file limit is too low.
pub fn strict_limits(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    args.finish()?;
    g.strict_limits = Some(true);
    Ok(())
}

/// `no <keyword>`: only `no strict-limits` in `global`.
pub fn no(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    match args.next_string("'strict-limits'")?.as_str() {
        "strict-limits" => {
            args.finish()?;
            g.strict_limits = Some(false);
            Ok(())
        }
        other => Err(format!(
            "'no {other}' is not supported in 'global' (only 'no strict-limits')"
        )),
    }
}

/// `nbthread <n>`: number of pinned workers.
pub fn nbthread(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    // HAProxy's own ceiling on threads.
    let n = args.next_int(1, 4096)?;
    args.finish()?;
    g.nbthread = Some(n as usize);
    g.nbthread_set = true;
    Ok(())
}

/// `hard-stop-after <time>`: the longest a soft stop may take.
pub fn hard_stop_after(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let t = args.next_duration()?;
    args.finish()?;
    g.hard_stop_after = Some(t);
    Ok(())
}

/// `master-worker [no-exit-on-failure]`: as `-W` on the command line.
pub fn master_worker(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    if args.peek().is_some() {
        let w = args.next_string("'no-exit-on-failure'")?;
        if w != "no-exit-on-failure" {
            return Err(format!(
                "unknown option '{w}' (expects 'no-exit-on-failure')"
            ));
        }
    }
    args.finish()?;
    g.master_worker = true;
    Ok(())
}

/// Limits ringlb has as constants: accepted when they say what ringlb does
/// (`tune.bufsize 16384`, `tune.http.maxhdr 128`), refused otherwise, since
/// a different limit would silently not hold.
pub fn fixed_limit(args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    let (ours, what) = match kw.as_str() {
        "tune.bufsize" => (crate::bufpool::BUF_SIZE as u32, "buffers are"),
        _ => (crate::http::request::MAX_HEADERS as u32, "header limit is"),
    };
    let n = args.next_int(1, u32::MAX)?;
    args.finish()?;
    if n == ours {
        Ok(())
    } else {
        Err(format!(
            "'{kw} {n}' is not supported: ringlb's {what} fixed at {ours}"
        ))
    }
}

/// `pidfile <path>`.
pub fn pidfile(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let path = args.next_string("a file path")?;
    args.finish()?;
    g.pidfile = Some(path.into());
    Ok(())
}

/// `chroot <dir>`: applied at startup once the sockets are bound.
pub fn chroot(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let path = args.next_string("a directory")?;
    args.finish()?;
    g.chroot = Some(path.into());
    Ok(())
}

/// `uid <n>` / `gid <n>`.
pub fn id(_cx: &mut Ctx<'_>, g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(0, u32::MAX)?;
    args.finish()?;
    let slot = if args.keyword() == "uid" {
        &mut g.user
    } else {
        &mut g.group
    };
    *slot = Some(Ident::Id(n));
    Ok(())
}

/// `user <name>` / `group <name>`: resolved to ids when the configuration is validated.
pub fn name(cx: &mut Ctx<'_>, g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let what = if args.keyword() == "user" {
        "a user name"
    } else {
        "a group name"
    };
    let name = args.next_string(what)?;
    args.finish()?;
    let slot = if args.keyword() == "user" {
        &mut g.user
    } else {
        &mut g.group
    };
    *slot = Some(Ident::Name(name, cx.origin.clone()));
    Ok(())
}

/// `node <name>`.
pub fn node(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("a node name")?;
    args.finish()?;
    g.node = Some(name);
    Ok(())
}

/// `ulimit-n <n>`: the open-file limit to set at startup, instead of the one
/// computed from maxconn (as HAProxy).
pub fn ulimit_n(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(1, u32::MAX)?;
    args.finish()?;
    g.ulimit_n = Some(n);
    Ok(())
}

/// `nbproc <n>`: HAProxy 1.x's process count, refused by HAProxy since 2.5.
/// ringlb maps it to `nbthread` (unless `nbthread` is given) with a warning,
/// so that 1.x configurations keep their parallelism.
pub fn nbproc(cx: &mut Ctx<'_>, g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let n = args.next_int(1, 4096)?;
    args.finish()?;
    let threads = if n == 1 { "thread" } else { "threads" };
    cx.warn(format!(
        "'nbproc' is not supported since HAProxy 2.5 (which refuses it); ringlb runs \
         {n} worker {threads} instead, as 'nbthread {n}' would"
    ));
    g.nbproc = true;
    if !g.nbthread_set {
        g.nbthread = Some(n as usize);
    }
    Ok(())
}

/// Resolves a user name to its uid (`Ok(None)`: no such user).
#[cfg(not(fuzzing))]
pub fn user_id(name: &str) -> Result<Option<u32>, String> {
    let c = std::ffi::CString::new(name).map_err(|_| "the name contains a NUL byte".to_string())?;
    lookup(|buf, len| {
        // SAFETY: all-zero is a valid `passwd` (integers and null pointers).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf` holds `len` bytes;
        // the reentrant variant keeps parallel loads (tests) from sharing state.
        let rc = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pwd, buf, len, &mut found) };
        (rc, (!found.is_null()).then_some(pwd.pw_uid))
    })
}

/// Resolves a group name to its gid (`Ok(None)`: no such group).
#[cfg(not(fuzzing))]
pub fn group_id(name: &str) -> Result<Option<u32>, String> {
    let c = std::ffi::CString::new(name).map_err(|_| "the name contains a NUL byte".to_string())?;
    lookup(|buf, len| {
        // SAFETY: all-zero is a valid `group` (integers and null pointers).
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user_id`.
        let rc = unsafe { libc::getgrnam_r(c.as_ptr(), &mut grp, buf, len, &mut found) };
        (rc, (!found.is_null()).then_some(grp.gr_gid))
    })
}

/// Fuzz builds (`--cfg fuzzing`) never ask NSS (which may query LDAP or
/// similar over the network): a fixed table stands in for the user database.
#[cfg(fuzzing)]
pub fn user_id(name: &str) -> Result<Option<u32>, String> {
    Ok(fuzz_ids(name))
}

/// As [`user_id`] in fuzz builds: a fixed table instead of the group database.
#[cfg(fuzzing)]
pub fn group_id(name: &str) -> Result<Option<u32>, String> {
    Ok(fuzz_ids(name))
}

/// The names fuzz builds know, for users and groups alike.
#[cfg(fuzzing)]
fn fuzz_ids(name: &str) -> Option<u32> {
    match name {
        "root" => Some(0),
        "haproxy" => Some(99),
        "nobody" | "nogroup" => Some(65534),
        _ => None,
    }
}

/// Runs a `get*nam_r` call, growing the scratch buffer while it says ERANGE.
#[cfg(not(fuzzing))]
fn lookup(
    call: impl Fn(*mut libc::c_char, usize) -> (libc::c_int, Option<u32>),
) -> Result<Option<u32>, String> {
    let mut size = 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        match call(buf.as_mut_ptr(), buf.len()) {
            (0, id) => return Ok(id),
            (libc::ERANGE, _) if size < 1 << 20 => size *= 4,
            // "Not found" is reported through errno-like codes by some libcs.
            (libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM, _) => return Ok(None),
            (rc, _) => return Err(std::io::Error::from_raw_os_error(rc).to_string()),
        }
    }
}

/// The `proc.` variable a global `set-var`/`set-var-fmt` names: HAProxy
/// permits no other scope there.
fn boot_var(kw: &str, name: Option<String>, what: &str) -> Result<ProcVar, String> {
    let Some(name) = name else {
        return Err(format!(
            "'{kw}' requires a process-wide variable name ('proc.<name>') and {what}."
        ));
    };
    check_name(&name).map_err(|e| format!("'{kw}': {e}"))?;
    if !name.starts_with("proc.") {
        return Err(format!(
            "'{kw}': cannot set variable '{name}', only scope 'proc' is permitted in the global section."
        ));
    }
    Ok(ProcVar::resolve(&name))
}

/// `set-var <proc.name> <expr>`: the expression is evaluated now, once
/// (HAProxy evaluates it at boot), so only fetches that need no traffic
/// (`str()`, `int()`, `bool()`, `env()`, `proc` variables) are allowed.
pub fn set_var(args: &mut Args) -> Result<(), String> {
    let what = "a sample expression";
    let var = boot_var("set-var", args.next_opt(), what)?;
    let Some(text) = args.next_opt() else {
        return Err(format!(
            "'set-var' requires a process-wide variable name ('proc.<name>') and {what}."
        ));
    };
    args.finish()?;
    let (expr, _) = crate::acl::parse_expr(&text, None).map_err(|e| format!("'set-var': {e}"))?;
    if !expr.fetch.needs_no_traffic() {
        return Err(format!(
            "'set-var': sample '{text}' reads traffic, which is not available at startup \
             (str(), int(), bool(), env() and proc variables are)"
        ));
    }
    set_at_boot(&var, &expr);
    Ok(())
}

/// `set-var-fmt <proc.name> <fmt>`: rendered now, once, as `set-var`.
pub fn set_var_fmt(args: &mut Args) -> Result<(), String> {
    let what = "a format string";
    let var = boot_var("set-var-fmt", args.next_opt(), what)?;
    let Some(text) = args.next_opt() else {
        return Err(format!(
            "'set-var-fmt' requires a process-wide variable name ('proc.<name>') and {what}."
        ));
    };
    args.finish()?;
    let f = LogFormat::parse(&text, None).map_err(|e| format!("'set-var-fmt': {e}"))?;
    if let Some(bad) = f.needs_traffic() {
        return Err(format!(
            "'set-var-fmt': '{bad}' reads traffic, which is not available at startup \
             (str(), int(), bool(), env(), proc variables and %pid are)"
        ));
    }
    set_fmt_at_boot(&var, &f);
    Ok(())
}

/// A global of [`TLS`]: recorded in the TLS settings the binds after it use
/// (as HAProxy, a bind takes the settings written before it).
pub fn tls(cx: &mut Ctx<'_>, args: &mut Args) -> Result<(), String> {
    use crate::tls::opts::{self, Place};
    let kw = args.keyword().to_string();
    let mut g = opts::globals();
    match kw.as_str() {
        "ssl-default-bind-options" => {
            let words = args.rest();
            let mut it = words.iter();
            while let Some(w) = it.next() {
                let mut next = |what: &str| {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("'{w}' expects {what}"))
                };
                if !opts::parse(&mut g.bind, Place::Defaults, w, &mut next, &mut |m| {
                    cx.warn(m)
                })? {
                    return Err(format!("unknown option '{w}'"));
                }
            }
        }
        "ssl-default-bind-ciphers" => {
            let v = args.next_string("an OpenSSL cipher list")?;
            crate::tls::ciphers::tls12_suites(&v)?;
            g.bind.ciphers = Some(v);
        }
        "ssl-default-bind-ciphersuites" => {
            let v = args.next_string("a TLS 1.3 cipher suite list")?;
            crate::tls::ciphers::tls13_suites(&v)?;
            g.bind.ciphersuites = Some(v);
        }
        "ssl-default-bind-curves" => {
            let v = args.next_string("a curve list")?;
            crate::tls::ciphers::curves(&v)?;
            g.bind.curves = Some(v);
        }
        "crt-base" => g.crt_base = Some(args.next_string("a directory")?),
        "ca-base" => g.ca_base = Some(args.next_string("a directory")?),
        "ssl-load-extra-files" => load_extra_files(&mut g, args)?,
        "tune.ssl.cachesize" => g.cachesize = args.next_int(0, i32::MAX as u32)? as usize,
        "tune.ssl.lifetime" => {
            // As HAProxy: a bare number counts seconds here, not milliseconds.
            let v = args.next_string(crate::config::duration::EXPECTED)?;
            let secs = match v.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let d = crate::config::parse::parse_duration_for(&kw, &v)?;
                    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
                }
            };
            g.lifetime = secs;
        }
        "tune.ssl.maxrecord" => {
            // rustls cannot send records under 27 payload bytes.
            let n = args.next_int(0, u32::MAX)?;
            if n != 0 && n < 27 {
                return Err(format!("'{kw}' must be 0 or at least 27 bytes, got {n}"));
            }
            g.maxrecord = n as usize;
        }
        _ => {
            return Err(format!(
                "'{kw}' is not supported: ringlb's TLS is rustls, with no OpenSSL engine"
            ));
        }
    }
    args.finish()?;
    opts::update_globals(|cur| *cur = g);
    Ok(())
}

/// `ssl-load-extra-files none|all|key|ocsp|issuer|sctl|bundle ...`.
fn load_extra_files(g: &mut crate::tls::opts::Globals, args: &mut Args) -> Result<(), String> {
    let words = args.rest();
    if words.is_empty() {
        return Err("expects none, all, key, ocsp, issuer, sctl or bundle".into());
    }
    (g.extra_key, g.extra_ocsp, g.extra_sctl) = (false, false, false);
    g.extra_issuer = false;
    for w in &words {
        match w.as_str() {
            "none" if words.len() == 1 => {}
            "all" => {
                (g.extra_key, g.extra_ocsp, g.extra_sctl) = (true, true, true);
                g.extra_issuer = true;
            }
            "key" => g.extra_key = true,
            "ocsp" => g.extra_ocsp = true,
            // The OCSP certificate ID's issuer, when the chain lacks it.
            "issuer" => g.extra_issuer = true,
            "sctl" | "bundle" => {
                return Err(format!(
                    "'{w}' is not supported: rustls has no {} (list the other kinds)",
                    if w == "sctl" {
                        "SCT stapling"
                    } else {
                        "multi-certificate bundles: give each certificate its own 'crt'"
                    }
                ));
            }
            _ => {
                return Err(format!(
                    "unknown kind '{w}' (none, all, key, ocsp, issuer, sctl, bundle)"
                ));
            }
        }
    }
    Ok(())
}
