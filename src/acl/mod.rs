//! ACLs and conditions (HAProxy configuration.txt §7), compiled once at load,
//! evaluated per request without parsing or allocating.
//!
//! # Pipeline
//! Config words (from `config/lex.rs`) → compiled forms → evaluation:
//!
//! - `expr.rs`: splits `req.hdr(host,1),lower,map(f)` into calls.
//! - `fetch.rs`: [`Fetch`] (what is read: `src`, `path`, `hdr()`, `nbsrv()`,
//!   ...), ACL suffix forms (`path_beg`, `hdr_cnt`, `urlp_val`) split into
//!   fetch + default match method + cast, and [`Names`] to resolve proxy,
//!   server and userlist names once the whole configuration is read
//!   (`fetch/auth.rs`: `http_auth`, `http_auth_group` and friends).
//! - `conv.rs`: [`Conv`] converters (`lower`, `map_*`, `field`, `regsub`, ...).
//! - `pattern.rs`: [`Patterns`], one structure per match method (hash set
//!   for `str`, tries for `beg`/`end`, a `RegexSet` for `reg`, ranges for
//!   `int`/`len`); `iptable.rs`: [`IpTable`], longest-prefix match for
//!   IPv4/IPv6 networks; `map.rs`: pattern and map files, [`MapTable`].
//! - `rule.rs`: one `acl` line → [`Acl`] (an [`Expr`] and its [`Patterns`]).
//! - `cond.rs`: [`AclSet`] (a proxy's ACLs by index; same-name lines OR-ed;
//!   predefined ACLs from `predefined.rs` compiled on first use) and
//!   [`Condition`] (`if|unless`, implicit AND, `||`, `!`, `{ ... }`).
//! - `payload.rs`: the raw-bytes readers of TCP content inspection
//!   (`req.payload`, `req.ssl_sni`, `req.ssl_hello_type`, ...), each able
//!   to say "too few bytes yet".
//! - `sample.rs`: the [`Sample`] trait the session implements (request head,
//!   addresses, run-time counters), [`Scratch`] buffers, [`TestSample`] and
//!   [`HttparseSample`].
//!
//! # Wiring (for `use_backend`, `http-request deny if ...`)
//! Per proxy, keep one [`AclSet`]. For each `acl` line call
//! [`AclSet::add_line`] with the words after `acl`; for each rule, split off
//! the words from `if`/`unless` and call [`Condition::parse`] with the same
//! set (an ACL must be declared above the rule, as in HAProxy). After every
//! section is read, call [`AclSet::link`] with the configuration's
//! [`Names`]. At run time each worker owns one [`Scratch`]; a rule fires when
//! `cond.eval(&set, &sample, &mut scratch)` is true. TCP content inspection
//! uses `cond.test(...)` instead, which answers [`Tri::Miss`] while a fetch
//! waits for bytes that may still arrive (HAProxy's `ACL_TEST_MISS`). Pattern and map files
//! resolve relative paths under the `base` directory the caller passes
//! (HAProxy's `default-path`, `current` by default: the startup directory).
//!
//! Errors are plain `String`s naming the keyword; the config layer prefixes
//! `file:line`. Anything ringlb does not support is an error, never ignored.

mod cond;
mod conv;
mod expr;
mod fetch;
mod iptable;
mod map;
mod pattern;
pub mod payload;
mod predefined;
mod rule;
mod sample;

use std::path::Path;

pub use cond::{AclSet, Condition, Term, Tri};
pub use conv::{Conv, JsonMode, Out, Piece};
pub use expr::{Call, split_expr};
pub use fetch::{AclKeyword, Cast, Fetch, Layer, Names, Side, Target, UserlistRef};
pub use iptable::{IpTable, parse_cidr};
pub use map::{MapTable, MapValue, OutType, TempFile, resolve as resolve_path};
pub use pattern::{Builder, Method, Patterns};
pub use predefined::PREDEFINED;
pub use rule::{Acl, Expr, parse_acl, parse_expr};
pub use sample::{HttparseSample, Sample, Scratch, TestSample, Val};

/// Parses a whole `acl <name> <fetch> ...` line (the words the lexer gives,
/// keyword included) into its name and compiled ACL.
pub fn parse_acl_line(words: &[String], base_dir: Option<&Path>) -> Result<(String, Acl), String> {
    match words {
        [kw, name, rest @ ..] if kw == "acl" => {
            let acl = parse_acl(rest, base_dir).map_err(|e| format!("in ACL '{name}': {e}"))?;
            Ok((name.clone(), acl))
        }
        [kw] if kw == "acl" => Err("'acl' expects an ACL name and a fetch method".to_string()),
        _ => Err("not an 'acl' line".to_string()),
    }
}

#[cfg(test)]
mod tests;
