//! `stats auth <user>:<password>`: HTTP Basic authentication of the stats page.
//!
//! With at least one `stats auth` line, a request is served only if its
//! `Authorization: Basic` header decodes to one of the configured pairs;
//! otherwise it gets 401 with `WWW-Authenticate` naming `stats realm`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// HAProxy's realm when `stats realm` is not set.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";

/// Whether the request head carries credentials matching one of `users`
/// (always true when `users` is empty: no `stats auth`, no authentication).
pub fn allowed(head: &[u8], users: &[(String, String)]) -> bool {
    if users.is_empty() {
        return true;
    }
    let Some(given) = basic_credentials(head) else {
        return false;
    };
    users.iter().any(|(u, p)| {
        // Compare the whole `user:password` in one pass whose time does not
        // depend on where the first difference is.
        let want = format!("{u}:{p}");
        constant_time_eq(want.as_bytes(), &given)
    })
}

/// The decoded `user:password` of the first `Authorization: Basic` header.
fn basic_credentials(head: &[u8]) -> Option<Vec<u8>> {
    let value = header(head, b"authorization")?;
    let value = value.trim_ascii();
    let (scheme, token) = split_once(value, b' ')?;
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    STANDARD.decode(token.trim_ascii()).ok()
}

/// The value of the first header named `name` (lowercase) in a request head.
pub fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| split_once(line, b':'))
        .find(|(n, _)| n.trim_ascii().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_ascii())
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The 401 answer: HAProxy's page, `WWW-Authenticate` with the realm.
pub fn unauthorized(realm: Option<&str>) -> Vec<u8> {
    let body = "<html><body><h1>401 Unauthorized</h1>\n\
                You need a valid user and password to access this content.\n\
                </body></html>\n";
    // The realm is a quoted-string: escape what would end or break it.
    let realm: String = realm
        .unwrap_or(DEFAULT_REALM)
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!(
        "HTTP/1.1 401 Unauthorized\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-cache\r\n\
         Content-Type: text/html\r\n\
         WWW-Authenticate: Basic realm=\"{realm}\"\r\n\
         \r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<(String, String)> {
        vec![
            ("admin".into(), "secret".into()),
            ("ops".into(), "x:y".into()),
        ]
    }

    fn head(auth: Option<&str>) -> Vec<u8> {
        let mut h = b"GET /admin HTTP/1.1\r\nHost: x\r\n".to_vec();
        if let Some(a) = auth {
            h.extend_from_slice(format!("authorization:  {a}\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    }

    #[test]
    fn configured_pairs_pass() {
        let ok = STANDARD.encode("admin:secret");
        assert!(allowed(&head(Some(&format!("Basic {ok}"))), &users()));
        let colon = STANDARD.encode("ops:x:y");
        assert!(allowed(&head(Some(&format!("basic {colon}"))), &users()));
    }

    #[test]
    fn missing_wrong_or_garbled_credentials_fail() {
        assert!(!allowed(&head(None), &users()));
        let bad = STANDARD.encode("admin:wrong");
        assert!(!allowed(&head(Some(&format!("Basic {bad}"))), &users()));
        assert!(!allowed(&head(Some("Basic !!!not-base64")), &users()));
        assert!(!allowed(&head(Some("Bearer abc")), &users()));
        assert!(!allowed(&head(Some("Basic")), &users()));
        assert!(allowed(&head(None), &[]), "no stats auth: open");
    }

    #[test]
    fn realm_is_quoted() {
        let r = String::from_utf8(unauthorized(Some("Web \"farm\""))).unwrap();
        assert!(r.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        assert!(r.contains("WWW-Authenticate: Basic realm=\"Web \\\"farm\\\"\"\r\n"));
        let r = String::from_utf8(unauthorized(None)).unwrap();
        assert!(r.contains("realm=\"HAProxy Statistics\""));
    }
}
