//! `balance hash <expr>` (HAProxy 2.6): hash of a sample expression's
//! value, mapped to a server like the other hash algorithms.
//!
//! The expression is compiled at load (`config/kw/balance.rs`) with the
//! fetches and converters ACLs and rules use. At pick time it is evaluated
//! on the request head the balancer is given, parsed into header slices
//! (no copy), and the client address. As HAProxy: the value is the last
//! one the fetch yields, converted to binary (a string as is, an integer
//! as 8 bytes big-endian, an address as its 4 or 16 bytes), hashed with
//! `hash-type`'s function; no value (or an HTTP fetch on a TCP stream)
//! falls back to round robin.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};

use super::PickInput;
use super::hash::{Key, key_hash};
use crate::acl::{Expr, Fetch, HttparseSample, Scratch, Side, Val};
use crate::config::model::HashFunction;
use crate::http::request::MAX_HEADERS;

/// The key of `balance hash <expr>`.
pub struct HashExpr {
    expr: Expr,
    scratch: RefCell<Scratch>,
}

impl HashExpr {
    /// The key for a compiled expression (see [`supported`]).
    pub fn new(expr: Expr) -> HashExpr {
        HashExpr {
            expr,
            scratch: RefCell::new(Scratch::new()),
        }
    }
}

/// Whether `balance hash` can read `f` where servers are chosen: the
/// request's line, headers and cookies, and the client's address.
pub fn supported(f: &Fetch) -> bool {
    matches!(
        f,
        Fetch::Src
            | Fetch::Method
            | Fetch::Path
            | Fetch::Url
            | Fetch::PathQ
            | Fetch::Base
            | Fetch::Query
            | Fetch::UrlParam(..)
            | Fetch::Cook(_)
            | Fetch::CookCnt(_)
            | Fetch::ReqVer
            | Fetch::Hdr {
                side: Side::Req,
                ..
            }
            | Fetch::HdrCnt {
                side: Side::Req,
                ..
            }
    )
}

/// HAProxy's hash of a value cast to binary.
fn hash_val(f: HashFunction, v: Val<'_>) -> u32 {
    match v {
        Val::Str(b) => key_hash(f, b),
        Val::Int(n) => key_hash(f, &n.to_be_bytes()),
        Val::Bool(b) => key_hash(f, &i64::from(b).to_be_bytes()),
        Val::Ip(IpAddr::V4(a)) => key_hash(f, &a.octets()),
        Val::Ip(IpAddr::V6(a)) => key_hash(f, &a.octets()),
    }
}

impl Key for HashExpr {
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
        if input.head.is_none() && self.expr.fetch.needs_http() {
            return None;
        }
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut slots);
        if let Some(head) = input.head {
            // A head the session already parsed: only its slices are taken.
            req.parse(head).ok()?;
        }
        let s = HttparseSample {
            req: &req,
            src: input.client.map(|ip| SocketAddr::new(ip, 0)),
            dst: None,
            body_size: None,
            req_len: input.head.map_or(0, |h| h.len() as u64),
        };
        let mut sc = self.scratch.borrow_mut();
        let mut last = None;
        // The last value, as HAProxy's sample fetches answer.
        self.expr.for_each(&s, &mut sc, |v, _| {
            last = Some(hash_val(f, v));
            false
        });
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::parse_expr;

    fn key(expr: &str, head: &str, client: Option<IpAddr>) -> Option<u32> {
        let (e, _) = parse_expr(expr, None).unwrap();
        HashExpr::new(e).hash(
            &PickInput {
                client,
                head: (!head.is_empty()).then_some(head.as_bytes()),
                ..PickInput::default()
            },
            HashFunction::default(),
        )
    }

    #[test]
    fn hashes_the_last_value_as_binary() {
        let f = HashFunction::default();
        let head =
            "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nCookie: id=u1; z=2\r\nCookie: id=u2\r\n\r\n";
        assert_eq!(key("req.cook(id)", head, None), Some(key_hash(f, b"u2")));
        assert_eq!(key("path", head, None), Some(key_hash(f, b"/a/b")));
        assert_eq!(
            key("req.hdr(host),upper", head, None),
            Some(key_hash(f, b"H"))
        );
        assert_eq!(
            key("req.hdr_cnt(cookie)", head, None),
            Some(key_hash(f, &2i64.to_be_bytes()))
        );
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(key("src", "", Some(ip)), Some(key_hash(f, &[10, 1, 2, 3])));
        // No value, or an HTTP fetch without a request: round robin.
        assert_eq!(key("req.cook(none)", head, None), None);
        assert_eq!(key("path", "", Some(ip)), None);
    }

    #[test]
    fn only_request_and_address_fetches_are_read() {
        let ok = |e: &str| supported(&parse_expr(e, None).unwrap().0.fetch);
        assert!(ok("req.cook(id)") && ok("path") && ok("src") && ok("url_param(a)"));
        assert!(!ok("dst_port") && !ok("res.hdr(x)") && !ok("var(txn.x)"));
    }
}
