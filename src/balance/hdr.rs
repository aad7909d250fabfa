//! `balance hdr(<name>)`: hash of a request header's value.
//!
//! As HAProxy: the first occurrence of the header (name matched without
//! regard to case), and of its value the first comma-separated element,
//! without surrounding blanks. A request without the header, or whose first
//! element is empty, is balanced by round robin. With `use_domain_only` the
//! key is the main domain name alone, found as HAProxy finds it: scanning
//! back from the end, the part between the last dot and the dot before it
//! (`www.example.com` hashes `example`; no dot: the whole value; one dot:
//! what precedes it).
//!
//! The header is found in the raw request head (`PickInput::head`), so
//! nothing is parsed or allocated for requests to other backends.

use memchr::memchr;

use super::PickInput;
use super::hash::{Key, key_hash};
use crate::config::model::HashFunction;

/// The key of `balance hdr(<name>)`.
#[derive(Debug, Clone)]
pub struct Hdr {
    name: Box<[u8]>,
    domain_only: bool,
}

/// The main domain name of a host value, as HAProxy's `use_domain_only`
/// scan finds it (from the end: the last dot ends it, the dot before starts it).
pub fn main_domain(v: &[u8]) -> &[u8] {
    let mut end = v.len();
    let mut at = v.len();
    let mut found = false;
    while at > 0 {
        if found {
            if v[at - 1] == b'.' {
                break;
            }
        } else if v.get(at) == Some(&b'.') {
            end = at;
            found = true;
        }
        at -= 1;
    }
    &v[at..end]
}

/// Strips spaces and tabs on both sides.
fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

impl Hdr {
    /// `balance hdr(<name>)`.
    pub fn new(name: &str) -> Hdr {
        Hdr {
            name: name.as_bytes().into(),
            domain_only: false,
        }
    }

    /// The first element of the header's first occurrence in `head`, if present.
    pub fn value<'a>(&self, head: &'a [u8]) -> Option<&'a [u8]> {
        // Skip the request line.
        let mut rest = &head[memchr(b'\n', head)? + 1..];
        while !rest.is_empty() {
            let end = memchr(b'\n', rest).unwrap_or(rest.len());
            let line = &rest[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                // End of the head.
                return None;
            }
            if let Some(colon) = memchr(b':', line)
                && line[..colon].eq_ignore_ascii_case(&self.name)
            {
                let value = &line[colon + 1..];
                let first = &value[..memchr(b',', value).unwrap_or(value.len())];
                return Some(trim(first));
            }
            rest = &rest[(end + 1).min(rest.len())..];
        }
        None
    }
}

impl Hdr {
    /// `use_domain_only`: hash the main domain name alone.
    pub fn domain_only(mut self, on: bool) -> Hdr {
        self.domain_only = on;
        self
    }
}

impl Key for Hdr {
    fn hash(&self, input: &PickInput<'_>, f: HashFunction) -> Option<u32> {
        let v = self.value(input.head?).filter(|v| !v.is_empty())?;
        Some(key_hash(
            f,
            if self.domain_only { main_domain(v) } else { v },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Balancer;
    use super::super::hash::{Hashed, Table};
    use super::super::testutil::*;
    use super::*;
    use crate::config::model::HashType;

    fn value(name: &str, head: &str) -> Option<String> {
        Hdr::new(name)
            .value(head.as_bytes())
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    #[test]
    fn finds_the_first_element_of_the_first_occurrence() {
        let head = "GET /host: x HTTP/1.1\r\nHost: a.example\r\nX-Key:  k1 , k2\r\n\
                    x-key: k3\r\nEmpty:\r\n\r\n";
        assert_eq!(value("host", head), Some("a.example".into()));
        assert_eq!(value("X-KEY", head), Some("k1".into()));
        assert_eq!(value("empty", head), Some("".into()));
        assert_eq!(value("missing", head), None);
        assert_eq!(
            value("host", "GET / HTTP/1.1\nHost: lf-only\n\n"),
            Some("lf-only".into())
        );
        // Nothing after the blank line counts (that is the body).
        assert_eq!(value("x", "GET / HTTP/1.1\r\n\r\nx: body\r\n"), None);
        assert_eq!(
            Hdr::new("empty").hash(
                &PickInput {
                    head: Some(head.as_bytes()),
                    ..PickInput::default()
                },
                HashFunction::default()
            ),
            None
        );
    }

    #[test]
    fn main_domain_as_haproxy() {
        let d = |v: &str| String::from_utf8(main_domain(v.as_bytes()).to_vec()).unwrap();
        assert_eq!(d("www.example.com"), "example");
        assert_eq!(d("a.b.example.org"), "example");
        assert_eq!(d("example.com"), "example");
        assert_eq!(d("localhost"), "localhost");
        assert_eq!(d("www.example.com:8080"), "example");
        // HAProxy never looks at the first byte for the closing dot.
        assert_eq!(d(".com"), ".com");
        assert_eq!(d("a..b"), "a.");
    }

    #[test]
    fn same_value_same_server_absent_is_round_robin() {
        let s = farm(&[1, 1, 1]);
        let mut b = Hashed::new(Hdr::new("X-User"), Table::new(HashType::MapBased, &s));
        let mut seen = std::collections::HashSet::new();
        for u in 0..300 {
            let a = format!("GET /a HTTP/1.1\r\nHost: h\r\nX-User: u{u}\r\n\r\n");
            let c = format!("GET /b HTTP/1.1\r\nx-user: u{u}\r\nHost: i\r\n\r\n");
            let pa = PickInput {
                head: Some(a.as_bytes()),
                ..PickInput::default()
            };
            let pc = PickInput {
                head: Some(c.as_bytes()),
                ..PickInput::default()
            };
            let first = b.pick(&s, &pa, None).unwrap();
            assert_eq!(b.pick(&s, &pc, None), Some(first));
            seen.insert(first);
        }
        assert_eq!(seen.len(), 3);
        let head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let none = PickInput {
            head: Some(head),
            ..PickInput::default()
        };
        assert_eq!(counts(&mut b, &s, &none, 30), vec![10, 10, 10]);
    }
}
