//! The `Authorization` header as HAProxy 2.6 reads it (`get_http_auth`),
//! quirks included, so that `http_auth` lets in exactly whom HAProxy lets in.
//!
//! - Only the first `Authorization` header counts, and of it only the first
//!   comma-separated value, trimmed (HAProxy's `http_find_header`).
//! - The scheme is the text before the first space; it is Basic when it is a
//!   case-insensitive *prefix* of `Basic` (`B`, `bas` and `BASIC` all are:
//!   HAProxy compares with `strncasecmp("Basic", scheme, len(scheme))`), else
//!   Bearer when a prefix of `Bearer`. Spaces after it are skipped; a tab
//!   is not a separator.
//! - The credentials are decoded with HAProxy's own base64 rules
//!   ([`decode_base64`]), then cut at the first NUL (HAProxy handles them as
//!   a C string), then split at the first `:`.

use crate::acl::Sample;

/// What an `Authorization` header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `Basic`: the user and password, decoded (any bytes, not only UTF-8).
    Basic {
        /// Before the first `:`.
        user: &'a [u8],
        /// After the first `:` (may contain more colons; may be empty).
        pass: &'a [u8],
    },
    /// `Bearer`: a token ringlb does not check (`http_auth_type` says `Bearer`).
    Bearer,
}

impl Credentials<'_> {
    /// `http_auth_type`'s answer.
    pub fn scheme(&self) -> &'static [u8] {
        match self {
            Credentials::Basic { .. } => b"Basic",
            Credentials::Bearer => b"Bearer",
        }
    }
}

/// The credentials of a request's first `Authorization` header (or
/// `Proxy-Authorization`, see [`Sample::proxy_auth`]), decoded into `buf`.
pub fn from_request<'b, S: Sample + ?Sized>(
    s: &S,
    buf: &'b mut Vec<u8>,
) -> Option<Credentials<'b>> {
    let name: &[u8] = if s.proxy_auth() {
        b"proxy-authorization"
    } else {
        b"authorization"
    };
    let value = (0..s.req_header_count())
        .map(|i| s.req_header(i))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))?
        .1;
    parse(value, buf)
}

/// Parses one header value (already the first comma-separated element, or a
/// whole value: anything after a comma is ignored); `buf` receives the decoded bytes.
pub fn parse<'b>(value: &[u8], buf: &'b mut Vec<u8>) -> Option<Credentials<'b>> {
    let value = match memchr::memchr(b',', value) {
        Some(i) => &value[..i],
        None => value,
    };
    let value = value.trim_ascii();
    let sp = memchr::memchr(b' ', value).filter(|&i| i > 0)?;
    let (scheme, rest) = value.split_at(sp);
    let token = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    if is_prefix_of(scheme, b"Basic") {
        decode_base64(token, buf)?;
        // HAProxy reads the decoded credentials as a C string.
        if let Some(nul) = memchr::memchr(0, buf) {
            buf.truncate(nul);
        }
        let colon = memchr::memchr(b':', buf)?;
        let (user, pass) = buf.split_at(colon);
        return Some(Credentials::Basic {
            user,
            pass: &pass[1..],
        });
    }
    is_prefix_of(scheme, b"Bearer").then_some(Credentials::Bearer)
}

/// `strncasecmp(word, scheme, len(scheme)) == 0` for a non-empty scheme.
fn is_prefix_of(scheme: &[u8], word: &[u8]) -> bool {
    scheme.len() <= word.len() && scheme.eq_ignore_ascii_case(&word[..scheme.len()])
}

/// The value of one base64 character (`=` is 64), HAProxy's alphabet.
fn sextet(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => PAD,
        _ => return None,
    })
}

const PAD: u8 = 64;

/// Decodes like HAProxy's `base64dec`: the length must be a multiple of 4;
/// padding may start at the second character of a group (`X===` decodes to
/// nothing), must run to the end of its group, and may be followed by more
/// groups; trailing bits are not checked. Answers `None` where HAProxy fails.
pub fn decode_base64(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    if !input.len().is_multiple_of(4) {
        return None;
    }
    for group in input.chunks_exact(4) {
        let mut t = [0u8; 4];
        let mut pad = 0;
        for (i, &c) in group.iter().enumerate() {
            let b = sextet(c)?;
            if pad > 0 && (b != PAD || i < 2) {
                return None;
            }
            if b == PAD {
                pad += 1;
            }
            t[i] = b;
        }
        // The pad value's bits land in the bytes dropped below, as in HAProxy.
        let bytes = [
            (t[0] << 2) | (t[1] >> 4),
            (t[1] << 4) | (t[2] >> 2),
            (t[2] << 6) | t[3],
        ];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn basic(value: &str) -> Option<(String, String)> {
        let mut buf = Vec::new();
        match parse(value.as_bytes(), &mut buf)? {
            Credentials::Basic { user, pass } => Some((
                String::from_utf8_lossy(user).into_owned(),
                String::from_utf8_lossy(pass).into_owned(),
            )),
            Credentials::Bearer => Some(("<bearer>".into(), String::new())),
        }
    }

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    fn pair(u: &str, p: &str) -> Option<(String, String)> {
        Some((u.into(), p.into()))
    }

    #[test]
    fn plain_basic() {
        assert_eq!(
            basic(&format!("Basic {}", b64(b"alice:secret"))),
            pair("alice", "secret")
        );
        assert_eq!(basic(&format!("Basic {}", b64(b"a:b:c"))), pair("a", "b:c"));
        assert_eq!(basic(&format!("Basic {}", b64(b"a:"))), pair("a", ""));
        assert_eq!(basic(&format!("Basic {}", b64(b":"))), pair("", ""));
    }

    #[test]
    fn scheme_is_a_case_insensitive_prefix_of_basic() {
        let t = b64(b"u:p");
        for s in ["basic", "BASIC", "Bas", "B", "b"] {
            assert_eq!(basic(&format!("{s} {t}")), pair("u", "p"), "{s}");
        }
        for s in ["Basicx", "Basi c", "X"] {
            assert_eq!(basic(&format!("{s} {t}")), None, "{s}");
        }
        assert_eq!(
            basic("Bearer abc"),
            Some(("<bearer>".into(), String::new()))
        );
        assert_eq!(basic("bea abc"), Some(("<bearer>".into(), String::new())));
        assert_eq!(basic("Digest abc"), None);
    }

    #[test]
    fn spaces_tabs_and_commas() {
        let t = b64(b"u:p");
        assert_eq!(basic(&format!("Basic   {t}")), pair("u", "p"));
        assert_eq!(basic(&format!("  Basic {t}\t ")), pair("u", "p"));
        assert_eq!(
            basic(&format!("Basic\t{t}")),
            None,
            "a tab does not separate"
        );
        assert_eq!(basic(&format!(" {t}")), None);
        assert_eq!(basic(&format!("Basic {t}, Basic xx")), pair("u", "p"));
        assert_eq!(basic(&format!("Basic xx, Basic {t}")), None);
        assert_eq!(basic("Basic"), None);
        assert_eq!(basic("Basic "), None);
        assert_eq!(basic(""), None);
    }

    #[test]
    fn missing_colon_and_bad_base64() {
        assert_eq!(basic(&format!("Basic {}", b64(b"nocolon"))), None);
        assert_eq!(
            basic("Basic YWxpY2U6c2VjcmV0=="),
            None,
            "length not a multiple of 4"
        );
        assert_eq!(basic("Basic YWxpY2U6c2VjcmV"), None);
        assert_eq!(basic("Basic YWxp Y2U6c2VjcmV0"), None);
        assert_eq!(
            basic("Basic YWxpY2U6c2Vjc=V0"),
            None,
            "padding in the middle"
        );
        assert_eq!(basic("Basic YWxpY2U6c2VjcmV0===="), None);
        assert_eq!(basic("Basic YWxpY2U6c2VjcmV0dA=a"), None);
        assert_eq!(basic("Basic YWxp-2U6c2VjcmV0"), None, "url-safe alphabet");
    }

    #[test]
    fn haproxy_base64_leniency() {
        // Trailing bits are not checked: `dB==` and `dA==` both give `t`.
        assert_eq!(
            basic("Basic YWxpY2U6c2VjcmV0dB=="),
            pair("alice", "secrett")
        );
        // `X===` decodes to nothing.
        assert_eq!(basic("Basic YWxpY2U6c2VjcmV0d==="), pair("alice", "secret"));
        let mut out = Vec::new();
        assert_eq!(decode_base64(b"YQ==YQ==", &mut out), Some(()));
        assert_eq!(out, b"aa");
        assert_eq!(decode_base64(b"", &mut out), Some(()));
        assert!(out.is_empty());
    }

    #[test]
    fn nul_and_non_utf8() {
        // Cut at the first NUL, as HAProxy's C string: the password ends there...
        assert_eq!(
            basic(&format!("Basic {}", b64(b"alice:secret\0zz"))),
            pair("alice", "secret")
        );
        // ... and a NUL in the user hides the colon.
        assert_eq!(basic(&format!("Basic {}", b64(b"al\0ice:secret"))), None);
        let mut buf = Vec::new();
        let v = format!("Basic {}", b64(b"\xff\xfe:\xc3\x28"));
        assert_eq!(
            parse(v.as_bytes(), &mut buf),
            Some(Credentials::Basic {
                user: b"\xff\xfe",
                pass: b"\xc3\x28"
            })
        );
    }

    #[test]
    fn decoder_agrees_with_the_standard_one_on_canonical_input() {
        let mut out = Vec::new();
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(len))
                .collect();
            decode_base64(STANDARD.encode(&data).as_bytes(), &mut out).unwrap();
            assert_eq!(out, data, "len {len}");
        }
    }
}
