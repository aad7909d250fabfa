//! Helpers shared by ringlb's fuzz targets: the reference decisions each
//! target checks ringlb against, the fixed configurations they run under,
//! and the list of known bugs.
//!
//! The references are written from RFC 9112 directly and kept deliberately
//! small, so that they can be read and trusted on their own; a target fails
//! when ringlb and its reference disagree.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use ringlb::http::body::BodyKind;
use ringlb::http::cookie::CookieRt;

/// Bugs found by the targets and reported, not yet fixed (ringlb's HTTP files
/// are edited elsewhere). Each id names one narrowly checked divergence.
///
/// By default a target that meets one of these prints its id once and skips
/// the rest of that input, so that the bounded CI run keeps looking for new
/// problems; with `RINGLB_FUZZ_STRICT=1` (`scripts/fuzz --strict`) they fail
/// like any other finding. Remove an id once its bug is fixed.
pub const KNOWN_BUGS: &[(&str, &str)] = &[];

/// Whether known bugs fail the run (`RINGLB_FUZZ_STRICT=1`).
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var("RINGLB_FUZZ_STRICT").is_ok_and(|v| v == "1"))
}

/// Called where a property fails in a way [`KNOWN_BUGS`] describes: returns
/// true when the input is to be skipped (not strict), printing the id the
/// first time; panics in strict mode.
pub fn known_bug(id: &str, detail: &dyn std::fmt::Debug) -> bool {
    assert!(
        KNOWN_BUGS.iter().any(|(k, _)| *k == id),
        "unlisted known bug {id}"
    );
    if strict() {
        panic!("known bug {id}: {detail:?}");
    }
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.get_or_insert_with(HashSet::new).insert(id.to_string()) {
        eprintln!("ringlb-fuzz: known bug {id} (first seen on {detail:?})");
    }
    true
}

/// One header of a head, as httparse split it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name as written.
    pub name: String,
    /// Value, trimmed by httparse.
    pub value: Vec<u8>,
}

/// A request head split by httparse, independently of ringlb.
#[derive(Debug, Clone)]
pub struct Head {
    /// Method, or the status code's text for a response.
    pub method: String,
    /// Request target (empty for responses).
    pub uri: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Status (responses only).
    pub status: u16,
    /// Headers in order.
    pub fields: Vec<Field>,
    /// Bytes of the head.
    pub len: usize,
}

impl Head {
    /// The values of every header named `name` (case-insensitive), in order.
    pub fn values(&self, name: &str) -> Vec<&[u8]> {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_slice())
            .collect()
    }
}

/// Enough header slots for any head ringlb writes.
const SLOTS: usize = 1024;

/// Splits a complete request head (None when httparse does not find one).
pub fn split_request(buf: &[u8]) -> Option<Head> {
    let mut headers = vec![httparse::EMPTY_HEADER; SLOTS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    Some(Head {
        method: req.method?.to_string(),
        uri: req.path?.to_string(),
        version: req.version?,
        status: 0,
        fields: fields(req.headers),
        len,
    })
}

/// Splits a complete response head (None when httparse does not find one).
pub fn split_response(buf: &[u8]) -> Option<Head> {
    let mut headers = vec![httparse::EMPTY_HEADER; SLOTS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    Some(Head {
        method: String::new(),
        uri: String::new(),
        version: resp.version?,
        status: resp.code?,
        fields: fields(resp.headers),
        len,
    })
}

fn fields(h: &[httparse::Header<'_>]) -> Vec<Field> {
    h.iter()
        .map(|h| Field {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect()
}

/// The transfer codings of every `Transfer-Encoding` header, in order, lower case.
pub fn codings(head: &Head) -> Vec<String> {
    head.values("transfer-encoding")
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|c| String::from_utf8_lossy(c.trim_ascii()).to_ascii_lowercase())
        .collect()
}

/// A Content-Length value: 1*DIGIT (httparse has trimmed the whitespace).
fn content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Every Content-Length of the head, which must agree (None: there is none).
fn agreed_length(head: &Head) -> Result<Option<u64>, &'static str> {
    let mut n = None;
    // A value may be a list of the same number (`4, 4`, RFC 9110 §8.6).
    let values = head.values("content-length");
    let items = values
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|v| v.trim_ascii());
    for v in items {
        let v = content_length(v).ok_or("invalid Content-Length")?;
        if n.is_some_and(|n| n != v) {
            return Err("conflicting Content-Length");
        }
        n = Some(v);
    }
    Ok(n)
}

/// RFC 9112 §6.3 for a request: how its body is framed, or why it must be refused.
pub fn reference_request_framing(head: &Head) -> Result<BodyKind, &'static str> {
    let codings = codings(head);
    if !head.values("transfer-encoding").is_empty() {
        if head.version == 0 {
            return Err("Transfer-Encoding in HTTP/1.0");
        }
        // chunked must be the final coding, and applied once (§6.1).
        if codings.last().map(String::as_str) != Some("chunked") {
            return Err("chunked is not the final coding");
        }
        if codings.iter().filter(|c| *c == "chunked").count() != 1 {
            return Err("chunked applied more than once");
        }
        return Ok(BodyKind::Chunked);
    }
    Ok(match agreed_length(head)? {
        None | Some(0) => BodyKind::None,
        Some(n) => BodyKind::Length(n),
    })
}

/// RFC 9112 §6.3 for a response to a request (`head_request`: it was HEAD).
pub fn reference_response_framing(
    head: &Head,
    head_request: bool,
) -> Result<BodyKind, &'static str> {
    let s = head.status;
    if head_request || (100..200).contains(&s) || s == 204 || s == 304 {
        return Ok(BodyKind::None);
    }
    if !head.values("transfer-encoding").is_empty() {
        return Ok(match codings(head).last().map(String::as_str) {
            Some("chunked") => BodyKind::Chunked,
            // Another coding last: the body ends when the connection does.
            _ => BodyKind::UntilClose,
        });
    }
    Ok(match agreed_length(head)? {
        None => BodyKind::UntilClose,
        Some(0) => BodyKind::None,
        Some(n) => BodyKind::Length(n),
    })
}

/// Where a chunked body stands after some bytes, as [`reference_chunked`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedEnd {
    /// The body ended after `end` bytes, carrying `payload` bytes of data.
    Done { end: usize, payload: u64 },
    /// Every byte was body; more are needed (`payload` data bytes so far).
    NeedMore { payload: u64 },
    /// The framing is broken.
    Invalid,
}

/// Whether `b` is a control byte (HTAB allowed, as in field values).
fn ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// RFC 9110 tchar.
fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `line` (without CRLF) is a chunk-size line, or with `partial`
/// could still become one. chunk-size is 1 to 15 hex digits (ringlb's bound,
/// far from overflow), optional whitespace, then an extension after `;`
/// (its content only checked for control bytes).
fn size_line(line: &[u8], partial: bool) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits > 15 || (digits == 0 && !(partial && line.is_empty())) {
        return None;
    }
    let mut rest = line[digits..]
        .iter()
        .skip_while(|&&b| b == b' ' || b == b'\t');
    match rest.next() {
        None => {}
        Some(b';') if !rest.any(|&b| ctl(b)) => {}
        Some(_) => return None,
    }
    Some(u64::from_str_radix(std::str::from_utf8(&line[..digits]).ok()?, 16).unwrap_or(0))
}

/// Whether `line` (without CRLF) is a trailer field `name ":" OWS value`, or
/// with `partial` could still become one. Not `strict`: any line without
/// control bytes (what ringlb checks today, known bug `trailer-field-syntax`).
fn trailer_line(line: &[u8], partial: bool, strict: bool) -> bool {
    if !strict {
        return !line.iter().any(|&b| ctl(b));
    }
    let name = line.iter().take_while(|&&b| tchar(b)).count();
    match line.get(name) {
        None => partial,
        Some(b':') => name > 0 && !line[name + 1..].iter().any(|&b| ctl(b)),
        Some(_) => false,
    }
}

/// A plain chunked decoder over the whole input: line by line, strict CRLF;
/// `strict_trailers`: trailer lines must be `name: value` fields.
pub fn reference_chunked(data: &[u8], strict_trailers: bool) -> ChunkedEnd {
    let mut pos = 0;
    let mut payload = 0u64;
    // Finds the line at `pos`: Ok(Some(line)) with its CRLF, Ok(None) when it
    // has not ended yet, Err when a CR is followed by something else.
    let line_at = |pos: usize| -> Result<Option<&[u8]>, ()> {
        let rest = &data[pos..];
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            None => Ok(None),
            Some(i) if rest[i] == b'\n' => Err(()),
            Some(i) => match rest.get(i + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some(&rest[..i])),
                Some(_) => Err(()),
            },
        }
    };
    loop {
        let size = match line_at(pos) {
            Err(()) => return ChunkedEnd::Invalid,
            Ok(None) => {
                // A line cut before its CR may still grow; one cut after it may not.
                let (line, partial) = match data[pos..].strip_suffix(b"\r") {
                    Some(line) => (line, false),
                    None => (&data[pos..], true),
                };
                return match size_line(line, partial) {
                    Some(_) => ChunkedEnd::NeedMore { payload },
                    None => ChunkedEnd::Invalid,
                };
            }
            Ok(Some(line)) => {
                let Some(size) = size_line(line, false) else {
                    return ChunkedEnd::Invalid;
                };
                pos += line.len() + 2;
                size
            }
        };
        if size == 0 {
            break;
        }
        let have = (data.len() - pos) as u64;
        if have < size {
            return ChunkedEnd::NeedMore {
                payload: payload + have,
            };
        }
        payload += size;
        pos += size as usize;
        match &data[pos..] {
            [b'\r', b'\n', ..] => pos += 2,
            [] | [b'\r'] => return ChunkedEnd::NeedMore { payload },
            _ => return ChunkedEnd::Invalid,
        }
    }
    // Trailer section: fields, then an empty line.
    loop {
        match line_at(pos) {
            Err(()) => return ChunkedEnd::Invalid,
            Ok(None) => {
                let (line, partial) = match data[pos..].strip_suffix(b"\r") {
                    Some(line) => (line, false),
                    None => (&data[pos..], true),
                };
                return if line.is_empty() || trailer_line(line, partial, strict_trailers) {
                    ChunkedEnd::NeedMore { payload }
                } else {
                    ChunkedEnd::Invalid
                };
            }
            Ok(Some([])) => {
                return ChunkedEnd::Done {
                    end: pos + 2,
                    payload,
                };
            }
            Ok(Some(line)) => {
                if !trailer_line(line, false, strict_trailers) {
                    return ChunkedEnd::Invalid;
                }
                pos += line.len() + 2;
            }
        }
    }
}

/// The cookie lines the cookie-aware targets choose from, with the servers'
/// `cookie` values `s1`, `s2` and a third server without one.
pub const COOKIE_LINES: &[&str] = &[
    "cookie SERVERID insert",
    "cookie SERVERID insert indirect nocache",
    "cookie SERVERID insert indirect nocache postonly httponly secure domain .example.com",
    "cookie JSESSIONID prefix",
    "cookie SERVERID rewrite",
    "cookie JSESSIONID prefix indirect",
];

/// Number of servers in the cookie configurations.
pub const COOKIE_SERVERS: usize = 3;

/// The servers' cookie values, by server index.
pub const COOKIE_VALUES: [Option<&str>; COOKIE_SERVERS] = [Some("s1"), Some("s2"), None];

/// One backend's [`CookieRt`] per line of [`COOKIE_LINES`], built once
/// through the configuration loader (numeric addresses only).
pub fn cookie_configs() -> &'static [CookieRt] {
    static CONFIGS: OnceLock<Vec<CookieRt>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        COOKIE_LINES
            .iter()
            .map(|line| {
                let text = format!(
                    "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n \
                     timeout server 1s\nlisten l\n bind 127.0.0.1:1\n {line}\n \
                     server a 127.0.0.1:2 cookie s1\n server b 127.0.0.1:3 cookie s2\n \
                     server c 127.0.0.1:4\n"
                );
                let loaded = ringlb::config::load_with_env(&[("cookie.cfg", &text)], &|_| None)
                    .expect("the cookie configurations load");
                CookieRt::build(&loaded.config.backends[0]).expect("a cookie line")
            })
            .collect()
    })
}

/// The cookie name of configuration `i` of [`COOKIE_LINES`].
pub fn cookie_name(i: usize) -> &'static str {
    COOKIE_LINES[i].split(' ').nth(1).unwrap_or("")
}

/// Whether a header value is one httparse can produce: no control bytes but HTAB.
pub fn field_value_ok(v: &[u8]) -> bool {
    !v.iter().any(|&b| ctl(b))
}

/// Cuts `data` at the positions given as little-endian u16s in `splits`
/// (each taken modulo the length + 1, sorted): the pieces, in order, that
/// together are `data`.
pub fn pieces<'a>(data: &'a [u8], splits: &[u8]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = splits
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (data.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for c in cuts {
        out.push(&data[at..c]);
        at = c;
    }
    out.push(&data[at..]);
    out
}

/// What ringlb forwards for these `Content-Length` values (already checked to
/// agree): one header, the value in plain decimal; nothing for none.
pub fn normalized_length(values: &[&[u8]]) -> Vec<Vec<u8>> {
    let n = values
        .iter()
        .filter_map(|v| ringlb::http::header::parse_content_length(v))
        .next();
    n.map(|n| n.to_string().into_bytes()).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_chunked_decodes() {
        let body = b"4\r\nWiki\r\n5;a=b\r\npedia\r\n0\r\nX-T: 1\r\n\r\nGET";
        assert_eq!(
            reference_chunked(body, true),
            ChunkedEnd::Done {
                end: body.len() - 3,
                payload: 9
            }
        );
        assert_eq!(
            reference_chunked(b"4\r\nWi", true),
            ChunkedEnd::NeedMore { payload: 2 }
        );
        assert_eq!(
            reference_chunked(b"0\r\nbad\r\n\r\n", true),
            ChunkedEnd::Invalid
        );
        assert_eq!(reference_chunked(b"4\nWiki", true), ChunkedEnd::Invalid);
        assert_eq!(
            reference_chunked(b"0\r\nX-T: 1\r", true),
            ChunkedEnd::NeedMore { payload: 0 }
        );
    }
}
