//! Keywords: the one `match` from keyword to the file that handles it, which
//! section allows which keyword (HAProxy's capability matrix), and the
//! "unknown keyword ...; did you mean ...?" message.
//!
//! One file per family: `global`, `bind`, `server`, `timeout`, `option`,
//! `balance`, `cookie`, `stats`, `log`, `errors` (error pages and the
//! `http-errors` section), `monitor`, `tcp_rules` (`tcp-request`,
//! `tcp-response`), `proxy` (the small proxy keywords), `persist`
//! (`use-server`, `force-`/`ignore-persist`, `http-send-name-header`,
//! `persist rdp-cookie`, `bind-process`), `userlist` (the
//! `userlist` section's lines), and `suggest` (the "did you mean", with its
//! work bounded). A keyword that
//! would change routing, content, access or limits and is not built yet is
//! refused where it is parsed, never accepted with a warning.

pub mod balance;
pub mod bind;
pub mod capture;
pub mod cookie;
pub mod cpu_map;
pub mod errors;
pub mod ext_checks;
pub mod global;
pub mod global_noops;
pub mod http_check;
pub mod http_rules;
pub mod log;
pub mod monitor;
pub mod option;
pub mod persist;
pub mod proxy;
pub mod resolvers;
pub mod server;
pub mod server_dns;
pub mod server_tls;
pub mod stats;
pub mod stick;
pub mod suggest;
pub mod tcp_check;
pub mod tcp_rules;
pub mod timeout;
pub mod userlist;

use super::parse::{Args, Ctx};
use super::raw::{RawGlobal, RawProxy, SectionKind};
pub use suggest::did_you_mean;

/// The section a keyword line writes into.
pub enum Target<'a> {
    /// The `global` section.
    Global(&'a mut RawGlobal),
    /// A `defaults`, `listen`, `frontend` or `backend` section.
    Proxy(&'a mut RawProxy),
}

/// Allowed in `defaults`.
pub const D: u8 = 1;
/// Allowed in `frontend`.
pub const F: u8 = 2;
/// Allowed in `listen`.
pub const L: u8 = 4;
/// Allowed in `backend`.
pub const B: u8 = 8;
/// Allowed in every proxy section.
pub const ALL: u8 = D | F | L | B;
/// Frontend-side keyword (defaults, frontend, listen).
pub const FE: u8 = D | F | L;
/// Backend-side keyword (defaults, listen, backend).
pub const BE: u8 = D | L | B;

/// How a keyword misplaced between frontend and backend is judged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Misplaced {
    /// Ignored with HAProxy's warning ("... has no backend capability").
    Warn,
    /// Refused: the keyword defines the proxy's structure (`bind`, `server`, ...).
    Error,
}

/// Proxy keywords: name, sections allowed, judgement when misplaced.
const PROXY_KEYWORDS: &[(&str, u8, Misplaced)] = &[
    ("mode", ALL, Misplaced::Warn),
    ("log", ALL, Misplaced::Warn),
    ("log-format", FE, Misplaced::Warn),
    ("log-format-sd", FE, Misplaced::Warn),
    ("error-log-format", FE, Misplaced::Warn),
    ("no", ALL, Misplaced::Warn),
    ("maxconn", FE, Misplaced::Warn),
    ("fullconn", BE, Misplaced::Warn),
    ("external-check", BE, Misplaced::Warn),
    ("backlog", FE, Misplaced::Warn),
    ("bind", F | L, Misplaced::Error),
    ("default_backend", FE, Misplaced::Error),
    ("use_backend", F | L, Misplaced::Error),
    ("acl", F | L | B, Misplaced::Error),
    ("timeout", ALL, Misplaced::Warn),
    ("contimeout", BE, Misplaced::Warn),
    ("clitimeout", FE, Misplaced::Warn),
    ("srvtimeout", BE, Misplaced::Warn),
    ("retries", BE, Misplaced::Warn),
    ("http-reuse", BE, Misplaced::Warn),
    ("redispatch", BE, Misplaced::Warn),
    ("option", ALL, Misplaced::Warn),
    ("balance", BE, Misplaced::Warn),
    ("hash-type", BE, Misplaced::Warn),
    ("hash-balance-factor", BE, Misplaced::Warn),
    ("cookie", BE, Misplaced::Warn),
    ("http-check", BE, Misplaced::Warn),
    ("stats", ALL, Misplaced::Warn),
    ("server", L | B, Misplaced::Error),
    ("server-template", L | B, Misplaced::Error),
    ("default-server", BE, Misplaced::Error),
    ("http-request", F | L | B, Misplaced::Error),
    ("http-response", F | L | B, Misplaced::Error),
    ("http-after-response", F | L | B, Misplaced::Error),
    ("redirect", F | L | B, Misplaced::Error),
    // Each sub-keyword checks its own sections (`kw/tcp_rules.rs`).
    ("tcp-request", ALL, Misplaced::Error),
    ("tcp-response", ALL, Misplaced::Error),
    ("errorfile", ALL, Misplaced::Warn),
    ("errorloc", ALL, Misplaced::Warn),
    ("errorloc302", ALL, Misplaced::Warn),
    ("errorloc303", ALL, Misplaced::Warn),
    ("errorfiles", ALL, Misplaced::Warn),
    ("http-error", ALL, Misplaced::Warn),
    ("monitor-uri", FE, Misplaced::Warn),
    ("monitor", F | L, Misplaced::Warn),
    ("monitor-net", FE, Misplaced::Warn),
    ("unique-id-format", ALL, Misplaced::Warn),
    ("unique-id-header", ALL, Misplaced::Warn),
    ("tcp-check", BE, Misplaced::Warn),
    ("capture", ALL, Misplaced::Warn),
    ("declare", ALL, Misplaced::Warn),
    ("source", BE, Misplaced::Warn),
    ("dispatch", L | B, Misplaced::Warn),
    ("disabled", ALL, Misplaced::Warn),
    ("enabled", ALL, Misplaced::Warn),
    ("rate-limit", FE, Misplaced::Warn),
    ("id", F | L | B, Misplaced::Error),
    ("grace", FE, Misplaced::Warn),
    ("use-server", L | B, Misplaced::Warn),
    ("force-persist", L | B, Misplaced::Warn),
    ("ignore-persist", L | B, Misplaced::Warn),
    ("http-send-name-header", BE, Misplaced::Warn),
    ("persist", BE, Misplaced::Warn),
    ("bind-process", ALL, Misplaced::Warn),
    ("stick-table", F | L | B, Misplaced::Error),
    ("stick", L | B, Misplaced::Warn),
];

/// Dispatches one keyword line to its handler. An `Err` is the line's error.
pub fn dispatch(cx: &mut Ctx<'_>, target: Target<'_>, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    match target {
        Target::Global(g) => match kw.as_str() {
            "daemon" => global::daemon(g, args),
            "maxconn" => global::maxconn(g, args),
            "maxpipes" => global::maxpipes(g, args),
            "maxsslconn" => global::maxsslconn(g, args),
            "tune.pipesize" => global::pipesize(g, args),
            "strict-limits" => global::strict_limits(g, args),
            "no" => global::no(g, args),
            "nbthread" => global::nbthread(g, args),
            "ulimit-n" => global::ulimit_n(g, args),
            "nbproc" => global::nbproc(cx, g, args),
            "pidfile" => global::pidfile(g, args),
            "chroot" => global::chroot(g, args),
            "cpu-map" => cpu_map::cpu_map(cx, g, args),
            "hard-stop-after" => global::hard_stop_after(g, args),
            "tune.bufsize" | "tune.http.maxhdr" => global::fixed_limit(args),
            "maxconnrate" | "maxsessrate" => global::rate(g, args),
            "master-worker" => global::master_worker(g, args),
            "uid" | "gid" => global::id(cx, g, args),
            "user" | "group" => global::name(cx, g, args),
            "node" => global::node(g, args),
            "set-var" => global::set_var(args),
            "set-var-fmt" => global::set_var_fmt(args),
            "log" => log::global_log(g, args),
            "log-send-hostname" => log::send_hostname(g, args),
            "stats" => stats::global(cx, g, args),
            "external-check" | "insecure-fork-wanted" => ext_checks::global(g, args),
            k if global::TLS.contains(&k) => global::tls(cx, args),
            "ssl-server-verify" => global::ssl_server_verify(g, args),
            "ssl-default-server-options" => global::ssl_default_server_options(g, args),
            "ssl-default-server-ciphers" | "ssl-default-server-ciphersuites" => {
                global::ssl_default_server_ciphers(g, args)
            }
            k if global::IGNORED.contains(&k) => global::ignored(cx, args),
            k if k.starts_with("lua-") || k.starts_with("tune.lua.") => Err(format!(
                "'{k}': Lua is not supported by ringlb (the actions, fetches and services a \
                 script would define are missing)"
            )),
            "server-state-file" | "server-state-base" => Err(format!(
                "'{kw}' is not supported by ringlb yet: server states set at run time are not \
                 saved or read back"
            )),
            _ => Err(unknown(&kw, SectionKind::Global)),
        },
        Target::Proxy(p) => {
            if !allowed_here(cx, p, &kw)? {
                return Ok(());
            }
            match kw.as_str() {
                "mode" => proxy::mode(p, args),
                "log" => log::proxy_log(p, args),
                "log-format" => log::log_format(p, args, log::Which::Line),
                "log-format-sd" => log::log_format(p, args, log::Which::Sd),
                "error-log-format" => log::log_format(p, args, log::Which::Error),
                "no" => option::no(cx, p, args),
                "maxconn" => proxy::maxconn(p, args),
                "fullconn" => proxy::fullconn(p, args),
                "backlog" => proxy::backlog(p, args),
                "bind" => bind::bind(cx, p, args),
                "default_backend" => proxy::default_backend(cx, p, args),
                "use_backend" => proxy::use_backend(cx, p, args),
                "acl" => proxy::acl(p, args),
                "timeout" => timeout::timeout(cx, p, args),
                "contimeout" | "clitimeout" | "srvtimeout" => timeout::legacy(cx, p, args),
                "retries" => proxy::retries(p, args),
                "http-reuse" => proxy::http_reuse(p, args),
                "http-request" => http_rules::http_request(cx, p, args),
                "http-response" => http_rules::http_response(cx, p, args),
                "http-after-response" => http_rules::http_after_response(cx, p, args),
                "redirect" => http_rules::redirect(cx, p, args),
                k if http_rules::LEGACY.contains(&k) => http_rules::legacy(cx, p, args),
                "tcp-request" => tcp_rules::tcp_request(cx, p, args),
                "tcp-response" => tcp_rules::tcp_response(cx, p, args),
                "redispatch" => option::legacy_redispatch(cx, p, args),
                "option" => option::option(cx, p, args),
                "http-check" => http_check::http_check(p, args),
                "balance" => balance::balance(cx, p, args),
                "hash-type" => balance::hash_type(cx, p, args),
                "hash-balance-factor" => balance::hash_balance_factor(cx, p, args),
                "cookie" => cookie::cookie(cx, p, args),
                "stats" => stats::proxy(cx, p, args),
                "external-check" => ext_checks::proxy_keyword(p, args),
                "server" => server::server(cx, p, args),
                "default-server" => server::default_server(cx, p, args),
                "server-template" => server::server_template(cx, p, args),
                "errorfile" => errors::errorfile(cx, p, args),
                "errorloc" | "errorloc302" | "errorloc303" => errors::errorloc(p, args),
                "errorfiles" => errors::errorfiles(cx, p, args),
                "http-error" => errors::http_error(cx, p, args),
                "monitor-uri" => monitor::monitor_uri(p, args),
                "monitor" => monitor::monitor(p, args),
                "monitor-net" => monitor::monitor_net(cx, p, args),
                "capture" => capture::capture(cx, p, args),
                "declare" => capture::declare(p, args),
                "source" => proxy::source(p, args),
                "dispatch" => proxy::dispatch(p, args),
                "disabled" | "enabled" => proxy::disabled(p, args),
                "rate-limit" => proxy::rate_limit(p, args),
                "id" => proxy::id(p, args),
                "grace" => proxy::grace(cx, p, args),
                "use-server" => persist::use_server(cx, p, args),
                "force-persist" | "ignore-persist" => persist::persist_rule(p, args),
                "http-send-name-header" => persist::send_name_header(p, args),
                "persist" => persist::persist(p, args),
                "bind-process" => persist::bind_process(cx, args),
                "stick-table" => stick::stick_table(cx, p, args),
                "stick" => stick::stick(cx, p, args),
                "unique-id-format" => capture::unique_id_format(cx, p, args),
                "unique-id-header" => capture::unique_id_header(cx, p, args),
                "tcp-check" => tcp_check::rule(cx, p, args),
                k if proxy::IGNORED.contains(&k) => proxy::ignored(cx, args),
                k if proxy::UNSUPPORTED.contains(&k) => proxy::unsupported(args),
                _ => Err(unknown(&kw, p.kind)),
            }
        }
    }
}

/// Checks the keyword against the capability table; `Ok(false)` means warned and ignored.
fn allowed_here(cx: &mut Ctx<'_>, p: &RawProxy, kw: &str) -> Result<bool, String> {
    match PROXY_KEYWORDS.iter().find(|(name, ..)| *name == kw) {
        Some(&(_, caps, misplaced)) => check_caps(cx, p, kw, caps, misplaced),
        // The 1.4 filters stood where `http-request` rules stand.
        None if http_rules::LEGACY.contains(&kw) => {
            check_caps(cx, p, kw, F | L | B, Misplaced::Error)
        }
        None => Ok(true),
    }
}

/// Whether a (sub-)keyword labelled `label` may stand in this proxy section.
///
/// Wrong section: an error in `defaults` or for structural keywords, otherwise
/// HAProxy's warning and the line is ignored (`Ok(false)`).
pub fn check_caps(
    cx: &mut Ctx<'_>,
    p: &RawProxy,
    label: &str,
    caps: u8,
    misplaced: Misplaced,
) -> Result<bool, String> {
    let bit = match p.kind {
        SectionKind::Defaults => D,
        SectionKind::Frontend => F,
        SectionKind::Listen => L,
        SectionKind::Backend => B,
        SectionKind::Global => 0,
    };
    if caps & bit != 0 {
        return Ok(true);
    }
    if p.kind == SectionKind::Defaults || misplaced == Misplaced::Error {
        return Err(format!(
            "'{label}' not allowed in '{}' section",
            p.kind.name()
        ));
    }
    let missing = if p.kind == SectionKind::Frontend {
        "backend"
    } else {
        "frontend"
    };
    let hint = if label == "maxconn" {
        " Maybe you want 'fullconn' instead?"
    } else {
        ""
    };
    cx.warn(format!(
        "'{label}' ignored because {} has no {missing} capability.{hint}",
        p.label()
    ));
    Ok(false)
}

/// "unknown keyword", or "not allowed" when the keyword belongs to the other kind of section.
fn unknown(kw: &str, section: SectionKind) -> String {
    let in_global = section == SectionKind::Global;
    let other_side = if in_global {
        PROXY_KEYWORDS.iter().any(|(k, ..)| *k == kw)
            || proxy::IGNORED.contains(&kw)
            || proxy::UNSUPPORTED.contains(&kw)
    } else {
        global::KEYWORDS.contains(&kw) || global::IGNORED.contains(&kw)
    };
    if other_side {
        let home = if in_global {
            "a proxy section"
        } else {
            "the 'global' section"
        };
        return format!(
            "'{kw}' not allowed in '{}' section (it belongs in {home})",
            section.name()
        );
    }
    let candidates: Vec<&str> = if in_global {
        global::KEYWORDS
            .iter()
            .chain(global::IGNORED)
            .copied()
            .collect()
    } else {
        PROXY_KEYWORDS
            .iter()
            .map(|(k, ..)| *k)
            .chain(proxy::IGNORED.iter().copied())
            .chain(proxy::UNSUPPORTED.iter().copied())
            .collect()
    };
    format!(
        "unknown keyword '{kw}' in '{}' section{}",
        section.name(),
        did_you_mean(kw, &candidates)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_messages() {
        assert_eq!(
            unknown("balanse", SectionKind::Listen),
            "unknown keyword 'balanse' in 'listen' section; did you mean 'balance'?"
        );
        assert_eq!(
            unknown("daemon", SectionKind::Backend),
            "'daemon' not allowed in 'backend' section (it belongs in the 'global' section)"
        );
        assert_eq!(
            unknown("server", SectionKind::Global),
            "'server' not allowed in 'global' section (it belongs in a proxy section)"
        );
        assert_eq!(
            unknown("frobnicate", SectionKind::Global),
            "unknown keyword 'frobnicate' in 'global' section"
        );
    }
}
