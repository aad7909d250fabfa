//! The TLS options of `server` and `default-server` (`ssl`, `verify`,
//! `ca-file`, `crt`, `sni`, `alpn`, `check-ssl`, ...), into
//! [`ServerTlsOpts`]; `tls/server.rs` builds them when validating.

use crate::config::parse::{Args, Ctx};
use crate::tls::opts::{self, Place, SslOpts, with_base};
use crate::tls::server::{SYSTEM_CA_FILE, ServerTlsOpts, SniExpr, Verify};

/// The TLS options this file parses besides [`PROTO`] (the server parser
/// routes both here: [`is_option`]).
pub const OPTIONS: &[&str] = &[
    "ssl",
    "no-ssl",
    "check-ssl",
    "no-check-ssl",
    "verify",
    "verifyhost",
    "ca-file",
    "crt",
    "sni",
    "alpn",
    "check-sni",
    "check-alpn",
    "ssl-reuse",
    "no-ssl-reuse",
    "tls-tickets",
    "no-tls-tickets",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
];

/// The protocol options a server line shares with `bind` lines, parsed and
/// checked by the bind side's `tls::opts::parse` into `ServerTlsOpts::proto`.
pub const PROTO: &[&str] = &[
    "ciphers",
    "ciphersuites",
    "ssl-min-ver",
    "ssl-max-ver",
    "no-tlsv12",
    "no-tlsv13",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
];

/// Whether `opt` is a TLS option this file parses.
pub fn is_option(opt: &str) -> bool {
    OPTIONS.contains(&opt) || PROTO.contains(&opt)
}

/// TLS options refused: not built for servers yet, and ignoring them would
/// change what the connection accepts.
pub const NOT_YET: &[&str] = &["crl-file", "sigalgs", "client-sigalgs", "npn", "allow-0rtt"];

/// Parses one TLS option `opt` (already taken from `args`).
pub fn option(
    cx: &mut Ctx<'_>,
    t: &mut ServerTlsOpts,
    opt: &str,
    args: &mut Args,
) -> Result<(), String> {
    if PROTO.contains(&opt) {
        return proto(&mut t.proto, opt, args);
    }
    match opt {
        "ssl" => t.ssl = true,
        "no-ssl" => t.ssl = false,
        "check-ssl" => t.check_ssl = true,
        "no-check-ssl" => t.check_ssl = false,
        "ssl-reuse" => t.no_reuse = false,
        "no-ssl-reuse" => t.no_reuse = true,
        "tls-tickets" => t.no_tickets = Some(false),
        "no-tls-tickets" => t.no_tickets = Some(true),
        // rustls speaks TLS 1.2 and 1.3 only: these hold already.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
        "verify" => {
            let v = word(args, "'verify' : missing verify method.")?;
            t.verify = Some(Verify::parse(&v).ok_or_else(|| {
                format!(
                    "'verify' : unknown verify method '{v}', only 'none' and 'required' are \
                     supported."
                )
            })?);
        }
        "verifyhost" => {
            let h = word(args, "'verifyhost' : missing hostname to verify against.")?;
            t.verifyhost = Some(h);
        }
        "ca-file" => {
            let f = word(args, "'ca-file' : missing CAfile path.")?;
            // Relative paths are under `ca-base` / `crt-base`, as HAProxy.
            t.ca_file = Some(if f == "@system-ca" {
                SYSTEM_CA_FILE.to_string()
            } else {
                with_base(&f, |g| g.ca_base.clone())
            });
        }
        "crt" => {
            let f = word(args, "'crt' : missing certificate file path.")?;
            t.crt = Some(with_base(&f, |g| g.crt_base.clone()));
        }
        "sni" => {
            let text = word(args, "'sni' : missing sni expression.")?;
            let (expr, _) = crate::acl::parse_expr(&text, None)
                .map_err(|e| format!("error detected while parsing sni expression : {e}"))?;
            t.sni = Some(SniExpr { text, expr });
        }
        "check-sni" => t.check_sni = Some(word(args, "'check-sni' : missing SNI.")?),
        "alpn" | "check-alpn" => {
            let list = word(
                args,
                &format!("'{opt}' : missing the comma-delimited ALPN protocol suite."),
            )?;
            let offered = alpn(cx, opt, &list)?;
            if opt == "alpn" {
                t.alpn = Some(offered);
            } else {
                t.check_alpn = Some(offered);
            }
        }
        o => return Err(format!("unexpected TLS option '{o}'")),
    }
    Ok(())
}

/// A protocol option (`PROTO`), as a `bind` line reads it.
fn proto(o: &mut SslOpts, opt: &str, args: &mut Args) -> Result<(), String> {
    let mut next = |what: &str| {
        args.next_opt()
            .filter(|w| !w.is_empty())
            .ok_or_else(|| format!("'{opt}' : missing {what}."))
    };
    opts::parse(o, Place::Bind, opt, &mut next, &mut |_| {})?;
    Ok(())
}

/// The next word, or HAProxy's message for its absence.
fn word(args: &mut Args, missing: &str) -> Result<String, String> {
    match args.next_opt() {
        Some(w) if !w.is_empty() => Ok(w),
        _ => Err(missing.to_string()),
    }
}

/// An ALPN list: ringlb speaks HTTP/1.1 to servers, so `h2` is not offered
/// (a warning when other protocols remain, an error when it was alone).
fn alpn(cx: &mut Ctx<'_>, opt: &str, list: &str) -> Result<Vec<String>, String> {
    let all: Vec<&str> = list.split(',').collect();
    if all.iter().any(|p| p.is_empty() || p.len() > 255) {
        return Err(format!(
            "'{opt}' : invalid ALPN protocol list '{list}' (empty or over 255 bytes)."
        ));
    }
    let kept: Vec<String> = all
        .iter()
        .filter(|p| **p != "h2")
        .map(|p| p.to_string())
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "'{opt} {list}' is not supported: ringlb speaks HTTP/1.1 to servers, not HTTP/2 \
             (offer 'http/1.1')"
        ));
    }
    if kept.len() < all.len() {
        cx.warn(format!(
            "'{opt} {list}': ringlb speaks HTTP/1.1 to servers; 'h2' is not offered, only '{}'",
            kept.join(",")
        ));
    }
    Ok(kept)
}
