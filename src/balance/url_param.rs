//! `balance url_param <name>`: hash of one query-string parameter's value.
//!
//! As HAProxy: the parameter is looked up in the query string (after the first
//! `?`), parameters being separated by `&`; the name is matched exactly (case
//! sensitive) and must be followed by `=`. The value runs to the next `&` or
//! the end of the URI and is hashed even when empty. A request without the
//! parameter is balanced by round robin. (`check_post`, which looks in the
//! body, is not supported; the configuration loader says so.)

use memchr::memchr;

use super::PickInput;
use super::hash::{Key, key_hash};
use crate::config::model::HashFunction;

/// The key of `balance url_param`.
#[derive(Debug, Clone)]
pub struct UrlParam {
    name: Box<[u8]>,
}

impl UrlParam {
    /// `balance url_param <name>`.
    pub fn new(name: &str) -> UrlParam {
        UrlParam {
            name: name.as_bytes().into(),
        }
    }

    /// The parameter's value in `uri`, if the parameter is there.
    pub fn value<'a>(&self, uri: &'a [u8]) -> Option<&'a [u8]> {
        let q = memchr(b'?', uri)?;
        let mut rest = &uri[q + 1..];
        loop {
            let end = memchr(b'&', rest).unwrap_or(rest.len());
            let param = &rest[..end];
            if let Some(value) = param
                .strip_prefix(&*self.name)
                .and_then(|v| v.strip_prefix(b"="))
            {
                return Some(value);
            }
            if end == rest.len() {
                return None;
            }
            rest = &rest[end + 1..];
        }
    }
}

impl Key for UrlParam {
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
        self.value(input.uri?.as_bytes()).map(|v| key_hash(f, v))
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::{Hashed, Table};
    use super::super::testutil::*;
    use super::*;
    use crate::config::model::HashType;

    fn value(name: &str, uri: &str) -> Option<String> {
        UrlParam::new(name)
            .value(uri.as_bytes())
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    #[test]
    fn finds_the_value_as_haproxy() {
        assert_eq!(value("id", "/p?id=42"), Some("42".into()));
        assert_eq!(value("id", "/p?a=1&id=42&b=2"), Some("42".into()));
        assert_eq!(value("id", "/p?id="), Some("".into()));
        assert_eq!(value("id", "/p?uid=42&id=7"), Some("7".into()));
        assert_eq!(value("id", "/p?ID=42"), None);
        assert_eq!(value("id", "/p?id"), None);
        assert_eq!(value("id", "/p?idx=1"), None);
        assert_eq!(value("id", "/p/id=3"), None);
        assert_eq!(value("id", "/p"), None);
        assert_eq!(value("id", "/p?x=1&&id=a?b"), Some("a?b".into()));
    }

    #[test]
    fn same_value_same_server_absent_is_round_robin() {
        let s = farm(&[1, 1, 1]);
        // Short similar keys cluster on HAProxy's ring without `avalanche`.
        let aval = HashFunction {
            avalanche: true,
            ..HashFunction::default()
        };
        let mut b = Hashed::new(UrlParam::new("user"), Table::new(HashType::Consistent, &s))
            .with_function(aval);
        let mut seen = std::collections::HashSet::new();
        for u in 0..300 {
            let a = format!("/x?user={u}&t=1");
            let c = format!("/y?t=2&user={u}");
            let first = pick_uri(&mut b, &s, &a).unwrap();
            assert_eq!(pick_uri(&mut b, &s, &c), Some(first));
            seen.insert(first);
        }
        assert_eq!(seen.len(), 3);
        let none = PickInput {
            uri: Some("/x?t=1"),
            ..PickInput::default()
        };
        assert_eq!(counts(&mut b, &s, &none, 30), vec![10, 10, 10]);
    }
}
