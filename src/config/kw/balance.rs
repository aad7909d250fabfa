//! `balance <algorithm> [args]` and `hash-type <method> [<function>] [avalanche]`.

use crate::config::model::{Balance, HashFn, HashFunction, HashType};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;

/// Algorithms, as listed in messages.
const ALGORITHMS: &[&str] = &[
    "roundrobin",
    "static-rr",
    "leastconn",
    "source",
    "uri",
    "url_param",
    "hdr(<name>)",
    "rdp-cookie",
    "first",
    "random[(<draws>)]",
    "hash <expr>",
];

/// HAProxy algorithms ringlb refuses until built.
const REFUSED: &[&str] = &[];

/// `balance ...`.
pub fn balance(_cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    // A bare `balance` is round robin, as in HAProxy.
    let Some(algo) = args.next_opt() else {
        p.balance = Balance::RoundRobin;
        return Ok(());
    };
    let label = format!("balance {algo}");
    args.set_label(label.as_str());
    let b = match algo.as_str() {
        "roundrobin" => Balance::RoundRobin,
        "static-rr" => Balance::StaticRr,
        "leastconn" => Balance::LeastConn,
        "source" => Balance::Source,
        "uri" => uri(args)?,
        "url_param" => {
            let name = args.next_string("a query parameter name")?;
            if args.peek() == Some("check_post") {
                // Hashing a POST body would need the body read before the
                // server is chosen; refused rather than balanced differently.
                return Err(
                    "'balance url_param ... check_post' is not supported by ringlb (the \
                     parameter is looked up in the query string only)"
                        .into(),
                );
            }
            Balance::UrlParam(name)
        }
        "rdp-cookie" => Balance::RdpCookie("mstshash".into()),
        "first" => Balance::First,
        "random" => Balance::Random { draws: 2 },
        "hash" => hash(args)?,
        a if a.starts_with("random(") => Balance::Random { draws: draws(a)? },
        a if a.starts_with("hdr(") => {
            let name = inner(a, "hdr(")?;
            let domain_only = args.peek() == Some("use_domain_only");
            if domain_only {
                args.next_opt();
            }
            Balance::Hdr { name, domain_only }
        }
        a if a.starts_with("rdp-cookie(") => Balance::RdpCookie(inner(a, "rdp-cookie(")?),
        a if REFUSED
            .iter()
            .any(|r| a == *r || a.starts_with(&format!("{r}("))) =>
        {
            return Err(format!("balance '{a}' is not supported by ringlb yet"));
        }
        a => {
            let names: Vec<&str> = ALGORITHMS.iter().chain(REFUSED).copied().collect();
            return Err(format!(
                "'balance' expects one of {}, got '{a}'{}",
                ALGORITHMS.join(", "),
                super::did_you_mean(a, &names)
            ));
        }
    };
    args.finish()?;
    p.balance = b;
    Ok(())
}

/// `uri [len N] [depth N] [whole] [path-only]`.
fn uri(args: &mut Args) -> Result<Balance, String> {
    let (mut len, mut depth, mut whole, mut path_only) = (None, None, false, false);
    while let Some(word) = args.next_opt() {
        match word.as_str() {
            "len" => {
                args.set_label("balance uri len");
                len = Some(args.next_int(1, u32::MAX)? as usize);
            }
            "depth" => {
                args.set_label("balance uri depth");
                depth = Some(args.next_int(1, u32::MAX)? as usize);
            }
            "whole" => whole = true,
            "path-only" => path_only = true,
            _ => {
                return Err(format!(
                    "'balance uri' expects 'len <n>', 'depth <n>', 'whole' or 'path-only', got '{word}'"
                ));
            }
        }
    }
    Ok(Balance::Uri {
        len,
        depth,
        whole,
        path_only,
    })
}

/// The `<draws>` of `random(<draws>)`: an integer of at least 1, as HAProxy.
fn draws(word: &str) -> Result<u32, String> {
    let inner = word
        .strip_prefix("random(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("'balance' expects random(<draws>), got '{word}'"))?;
    match inner.parse::<u32>() {
        Ok(0) => Err("'balance random': number of draws must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "'balance random' expects an integer number of draws, got '{inner}'"
        )),
    }
}

/// The `<name>` of `hdr(<name>)` or `rdp-cookie(<name>)`.
fn inner(word: &str, open: &str) -> Result<String, String> {
    word.strip_prefix(open)
        .and_then(|s| s.strip_suffix(')'))
        .filter(|s| !s.is_empty() && !s.contains(['(', ')']))
        .map(str::to_string)
        .ok_or_else(|| format!("'balance' expects {open}<name>), got '{word}'"))
}

/// `hash <expr>`: one sample expression (fetch and converters), compiled
/// now; only what is known where servers are chosen may be read.
fn hash(args: &mut Args) -> Result<Balance, String> {
    let text = args.next_string("a sample expression")?;
    if !args.is_done() {
        return Err("'balance hash' takes a single sample expression (no spaces)".into());
    }
    let (expr, _) = crate::acl::parse_expr(&text, None)
        .map_err(|e| format!("failed to parse 'balance hash' expression '{text}': {e}"))?;
    if !crate::balance::expr::supported(&expr.fetch) {
        return Err(format!(
            "'balance hash {text}': ringlb reads only the request line, headers and cookies \
             and the client address ('src') when choosing a server"
        ));
    }
    Ok(Balance::Hash(crate::config::model::HashSample {
        text,
        expr,
    }))
}

/// `hash-type map-based|consistent [<function>] [avalanche]`.
pub fn hash_type(_cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let method = args.next_string("'map-based' or 'consistent'")?;
    let ht = match method.as_str() {
        "map-based" => HashType::MapBased,
        "consistent" => HashType::Consistent,
        m => {
            return Err(format!(
                "'hash-type' expects 'map-based' or 'consistent', got '{m}'{}",
                super::did_you_mean(m, &["map-based", "consistent"])
            ));
        }
    };
    // As HAProxy: a function must be named before `avalanche`.
    let named = args.next_opt();
    let func = match named.as_deref() {
        None => HashFn::Sdbm,
        Some("sdbm") => HashFn::Sdbm,
        Some("djb2") => HashFn::Djb2,
        Some("wt6") => HashFn::Wt6,
        Some("crc32") => HashFn::Crc32,
        // HAProxy 2.7's `none` (2.6 refuses it): the key is the hash.
        Some("none") => HashFn::None,
        Some(w) => {
            return Err(format!(
                "'hash-type' only supports 'sdbm', 'djb2', 'crc32', 'wt6' or 'none' hash \
                 functions, got '{w}'"
            ));
        }
    };
    let avalanche = match args.next_opt().as_deref() {
        // As HAProxy: `consistent` without a function is sdbm with avalanche.
        None => named.is_none() && ht == HashType::Consistent,
        Some("avalanche") => true,
        Some(w) => {
            return Err(format!(
                "'hash-type' only supports 'avalanche' as a modifier for hash functions, got '{w}'"
            ));
        }
    };
    args.finish()?;
    p.hash_type = ht;
    p.hash_function = HashFunction { func, avalanche };
    Ok(())
}

/// `hash-balance-factor <factor>`: 0 (off) or more than 100 (% of the average
/// load a server may carry), as HAProxy. Used by `hash-type consistent` and
/// `balance random`; like HAProxy, a map-based backend has no use for it.
pub fn hash_balance_factor(
    _cx: &mut Ctx<'_>,
    p: &mut RawProxy,
    args: &mut Args,
) -> Result<(), String> {
    let Some(word) = args.next_opt() else {
        return Err("'hash-balance-factor' expects an integer argument".into());
    };
    let factor = word
        .parse::<u32>()
        .map_err(|_| format!("'hash-balance-factor' expects an integer argument, got '{word}'"))?;
    if factor != 0 && factor <= 100 {
        return Err("'hash-balance-factor' must be 0 or greater than 100".into());
    }
    args.finish()?;
    p.hash_balance_factor = factor;
    Ok(())
}
