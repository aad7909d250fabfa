//! `balance uri [len N] [depth N] [whole]`: hash of the request URI.
//!
//! As HAProxy: the URI as sent (path, or the whole absolute form), up to the
//! `?` unless `whole` is given; `len N` keeps only its first N characters and
//! `depth N` only its first N directories (the hash stops before the
//! (N+1)-th `/`); with both, whichever ends first.

use super::PickInput;
use super::hash::{Key, key_hash};
use crate::config::model::HashFunction;

/// The key of `balance uri`.
#[derive(Debug, Clone, Copy)]
pub struct Uri {
    len: Option<usize>,
    /// Slash at which hashing stops: `depth + 1` (HAProxy stores the same).
    stop_slash: Option<usize>,
    whole: bool,
    path_only: bool,
}

impl Uri {
    /// `balance uri` with its options.
    pub fn new(len: Option<usize>, depth: Option<usize>, whole: bool) -> Uri {
        Uri {
            len,
            stop_slash: depth.map(|d| d.saturating_add(1)),
            whole,
            path_only: false,
        }
    }

    /// `path-only`: the key is taken from the path, without the scheme and
    /// authority of an absolute URI.
    pub fn path_only(mut self, on: bool) -> Uri {
        self.path_only = on;
        self
    }

    /// The part of `uri` that is hashed.
    pub fn key<'a>(&self, uri: &'a [u8]) -> &'a [u8] {
        let uri = if self.path_only { path(uri) } else { uri };
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

/// The path (and query) of a request URI, as HAProxy's URI parser finds it:
/// an origin-form URI is all path; an absolute one loses `scheme://authority`
/// (nothing left when no `/` follows the authority); any other form (`*`,
/// `host:port`) has no path.
fn path(uri: &[u8]) -> &[u8] {
    if uri.first() == Some(&b'/') {
        return uri;
    }
    let Some(sep) = uri.windows(3).position(|w| w == b"://") else {
        return b"";
    };
    let after = &uri[sep + 3..];
    match after.iter().position(|&c| c == b'/') {
        Some(slash) => &after[slash..],
        None => b"",
    }
}

impl Key for Uri {
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
        Some(key_hash(f, self.key(input.uri?.as_bytes())))
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
        let path_only = Uri::new(None, Some(1), false).path_only(true);
        assert_eq!(key(&path_only, "http://h/p/q"), "/p");
        assert_eq!(key(&path_only, "/p/q"), "/p");
        let whole_path = Uri::new(None, None, true).path_only(true);
        assert_eq!(key(&whole_path, "https://h:8/a?b"), "/a?b");
        assert_eq!(key(&whole_path, "http://h"), "");
        assert_eq!(key(&whole_path, "*"), "");
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
