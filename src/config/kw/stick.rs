//! `stick-table` and `stick on|match|store-request|store-response`
//! (server persistence, `crate::stick`).

use std::time::Duration;

use crate::acl::Condition;
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawProxy;
use crate::stick::{KeyType, StickKind, StickRule, TableSpec};

/// Default `len` of string and binary keys, as HAProxy.
const DEFAULT_KEY_LEN: usize = 32;

/// `stick-table type <type> [len <n>] size <n>[k|m|g] [expire <t>]
/// [nopurge] [store server_id,...]`; `peers` and the counters are refused.
pub fn stick_table(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let mut key = None;
    let mut size = None;
    let mut spec_expire: Option<Duration> = None;
    let mut nopurge = false;
    while let Some(w) = args.next_opt() {
        match w.as_str() {
            "type" => key = Some(key_type(args)?),
            "size" => size = Some(parse_size(&args.next_string("a size")?)?),
            "expire" => {
                let d = args.next_duration()?;
                if d.as_millis() > i32::MAX as u128 {
                    return Err("'stick-table': 'expire' is too large".into());
                }
                spec_expire = Some(d);
            }
            "nopurge" => nopurge = true,
            "store" => store(&args.next_string("a data type")?)?,
            "srvkey" => {
                let k = args.next_string("'name' or 'addr'")?;
                if k != "name" {
                    return Err(format!(
                        "'stick-table srvkey {k}': ringlb keys servers by name only"
                    ));
                }
            }
            "peers" => {
                return Err(
                    "'stick-table peers': ringlb has no 'peers' sections (tables are not \
                     synchronised between processes)"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "'stick-table': unknown argument '{other}' (expects type, size, expire, \
                     nopurge, store)"
                ));
            }
        }
    }
    let key = key.ok_or("'stick-table': missing 'type'")?;
    let size = size.ok_or("'stick-table': missing 'size'")?;
    if p.stick.table.is_some() {
        return Err("'stick-table': only one stick-table per proxy".into());
    }
    p.stick.table = Some((
        TableSpec {
            name: p.name.clone(),
            key,
            size,
            expire: spec_expire,
            nopurge,
            server_key: false,
        },
        cx.origin.clone(),
    ));
    Ok(())
}

/// `type ip|ipv6|integer|string [len <n>]|binary [len <n>]`.
fn key_type(args: &mut Args) -> Result<KeyType, String> {
    let t = args.next_string("a key type")?;
    let len = |args: &mut Args| -> Result<usize, String> {
        if args.peek() == Some("len") {
            args.next_opt();
            Ok(args.next_int(1, 65535)? as usize)
        } else {
            Ok(DEFAULT_KEY_LEN)
        }
    };
    Ok(match t.as_str() {
        "ip" => KeyType::Ip,
        "ipv6" => KeyType::Ipv6,
        "integer" => KeyType::Integer,
        "string" => KeyType::String(len(args)?),
        "binary" => KeyType::Binary(len(args)?),
        _ => {
            return Err(format!(
                "'stick-table': unknown type '{t}' (expects ip, ipv6, integer, string, binary)"
            ));
        }
    })
}

/// A size with HAProxy's `k`, `m`, `g` multipliers (powers of 1024).
fn parse_size(s: &str) -> Result<u32, String> {
    let bad = || format!("'stick-table size' expects a number with k, m or g, got '{s}'");
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    u32::try_from(n * mult)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(bad)
}

/// `store <type>,...`: only `server_id` (what persistence stores).
fn store(list: &str) -> Result<(), String> {
    for t in list.split(',') {
        let name = t.split('(').next().unwrap_or(t);
        match name {
            "server_id" => {}
            "" => return Err("'stick-table store' expects a data type".into()),
            _ => {
                return Err(format!(
                    "'stick-table store {name}': ringlb stores only 'server_id' (the counters \
                     and rates are read by 'track-sc' rules, which ringlb does not build)"
                ));
            }
        }
    }
    Ok(())
}

/// `stick on|match|store-request|store-response <pattern> [table <name>]
/// [if|unless <cond>]`: the pattern and condition compiled now, the table
/// resolved when validating.
pub fn stick(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let what = args.next_string("'on', 'match', 'store-request' or 'store-response'")?;
    let kind = match what.as_str() {
        "on" => StickKind::On,
        "match" => StickKind::Match,
        "store-request" => StickKind::StoreRequest,
        "store-response" => StickKind::StoreResponse,
        _ => {
            return Err(format!(
                "'stick' expects 'on', 'match', 'store-request' or 'store-response', got '{what}'"
            ));
        }
    };
    let label = format!("stick {what}");
    let text = args.next_string("a sample expression")?;
    let (expr, _) =
        crate::acl::parse_expr(&text, None).map_err(|e| format!("'{label} {text}': {e}"))?;
    let mut table = p.name.clone();
    if args.peek() == Some("table") {
        args.next_opt();
        table = args.next_string("a table name")?;
    }
    let words = args.rest();
    let cond = match words.first().map(String::as_str) {
        None => None,
        Some("if" | "unless") => Some(
            Condition::parse(&words, &mut p.acls, None)
                .map_err(|e| format!("'{label} {text}': {e}"))?,
        ),
        Some(w) => {
            return Err(format!(
                "'{label} {text}': expects 'table', 'if' or 'unless', got '{w}'"
            ));
        }
    };
    p.stick.rules.push(StickRule {
        kind,
        text,
        expr,
        table,
        table_index: 0,
        cond,
        origin: cx.origin.clone(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_multipliers() {
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err() && parse_size("x").is_err());
        assert!(parse_size("8g").is_err());
    }

    #[test]
    fn only_server_id_is_stored() {
        assert!(store("server_id").is_ok());
        let e = store("server_id,gpc0").unwrap_err();
        assert!(e.contains("gpc0") && e.contains("track-sc"), "{e}");
        assert!(
            store("http_req_rate(10s)")
                .unwrap_err()
                .contains("http_req_rate")
        );
    }
}
