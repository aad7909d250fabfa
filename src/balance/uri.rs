//! `balance uri [len N] [depth N] [whole]`: hash of the request URI.
//!
//! As HAProxy: the URI as sent (path, or the whole absolute form), up to the
//! `?` unless `whole` is given; `len N` keeps only its first N characters and
//! `depth N` only its first N directories (the hash stops before the
//! (N+1)-th `/`); with both, whichever ends first.

use super::PickInput;
use super::hash::{Key, hash_bytes};

/// The key of `balance uri`.
#[derive(Debug, Clone, Copy)]
pub struct Uri {
    len: Option<usize>,
    /// Slash at which hashing stops: `depth + 1` (HAProxy stores the same).
    stop_slash: Option<usize>,
    whole: bool,
}

impl Uri {
    /// `balance uri` with its options.
    pub fn new(len: Option<usize>, depth: Option<usize>, whole: bool) -> Uri {
        Uri {
            len,
            stop_slash: depth.map(|d| d.saturating_add(1)),
            whole,
        }
    }

    /// The part of `uri` that is hashed.
    pub fn key<'a>(&self, uri: &'a [u8]) -> &'a [u8] {
        let uri = match self.len {
            Some(n) if n < uri.len() => &uri[..n],
            _ => uri,
        };
        let mut slashes = 0;
        for (i, &c) in uri.iter().enumerate() {
            if c == b'/' {
                slashes += 1;
                if Some(slashes) == self.stop_slash {
                    return &uri[..i];
                }
            } else if c == b'?' && !self.whole {
                return &uri[..i];
            }
        }
        uri
    }
}

impl Key for Uri {
    fn hash(&self, input: &PickInput<'_>) -> Option<u64> {
        Some(hash_bytes(self.key(input.uri?.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::{Hashed, Table};
    use super::super::testutil::*;
    use super::*;
    use crate::config::model::HashType;

    fn key(u: &Uri, uri: &str) -> String {
        String::from_utf8(u.key(uri.as_bytes()).to_vec()).unwrap()
    }

    #[test]
    fn options_cut_the_key_as_haproxy() {
        let plain = Uri::new(None, None, false);
        assert_eq!(key(&plain, "/a/b/c?x=1"), "/a/b/c");
        assert_eq!(key(&Uri::new(None, None, true), "/a/b/c?x=1"), "/a/b/c?x=1");
        assert_eq!(key(&Uri::new(Some(4), None, false), "/a/b/c?x=1"), "/a/b");
        assert_eq!(key(&Uri::new(None, Some(1), false), "/a/b/c?x=1"), "/a");
        assert_eq!(key(&Uri::new(None, Some(2), false), "/a/b/c?x=1"), "/a/b");
        assert_eq!(key(&Uri::new(None, Some(5), false), "/a/b?x=/y/z"), "/a/b");
        assert_eq!(key(&Uri::new(None, Some(2), true), "/a?x=/y/z"), "/a?x=/y");
        // len and depth together: whichever stops first.
        assert_eq!(key(&Uri::new(Some(3), Some(2), false), "/abc/d/e"), "/ab");
        assert_eq!(key(&Uri::new(Some(30), Some(1), false), "/abc/d/e"), "/abc");
        assert_eq!(key(&plain, "*"), "*");
        // An absolute-form URI is hashed as sent, scheme included (HAProxy
        // without `path-only`), so its slashes count too.
        assert_eq!(
            key(&Uri::new(None, Some(1), false), "http://h/p/q"),
            "http:/"
        );
    }

    #[test]
    fn same_uri_same_server_query_ignored() {
        let s = farm(&[1, 1, 1, 1]);
        let mut b = Hashed::new(
            Uri::new(None, None, false),
            Table::new(HashType::MapBased, &s),
        );
        let mut seen = std::collections::HashSet::new();
        for p in 0..200 {
            let a = format!("/page/{p}?v=1");
            let c = format!("/page/{p}?v=2");
            let first = pick_uri(&mut b, &s, &a).unwrap();
            assert_eq!(pick_uri(&mut b, &s, &c), Some(first));
            seen.insert(first);
        }
        assert_eq!(seen.len(), 4);
    }
}
