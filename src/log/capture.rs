//! Header and cookie captures for httplog lines (HAProxy configuration.txt
//! §8.7, §8.8): `capture request|response header <name> len <n>`,
//! `declare capture request|response len <n>` and `capture cookie <name> len <n>`.
//!
//! A frontend's slots are numbered in the order they are declared, header
//! captures and declared slots alike (`http-request capture ... id <n>` fills
//! slot n through [`Captured::store`]). Each request header slot keeps the
//! last occurrence of its header, cut to its length; the cookie capture keeps
//! the first `name=value` whose name starts with the configured name, from
//! `Cookie` in the request and `Set-Cookie` in the response.
//!
//! In the line: `{req1|req2} {resp1}` (`%hr %hs`), each value with bytes
//! outside 32..126 and `"`, `#`, `{`, `|`, `}` written `#XX`; a side with no
//! slot writes nothing at all. `%CC %CS` are the cookies, `-` when none
//! (written as they are, as HAProxy does, but for non-printable bytes).

use std::cell::RefCell;
use std::sync::Arc;

/// HAProxy's `tune.http.cookielen` default: the longest cookie capture.
pub const COOKIE_LEN_MAX: usize = 63;

/// One capture slot of a frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The header captured into it; `None` for a `declare capture` slot.
    pub header: Option<String>,
    /// The most bytes kept.
    pub len: usize,
}

/// `capture cookie <name> len <n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSpec {
    /// The beginning of the cookie's name (`SESS`, or `SESS=` for exactly that name).
    pub prefix: String,
    /// The most bytes of `name=value` kept.
    pub len: usize,
}

/// A frontend's captures, as declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Request slots in declaration order.
    pub request: Vec<Slot>,
    /// Response slots in declaration order.
    pub response: Vec<Slot>,
    /// The cookie capture.
    pub cookie: Option<CookieSpec>,
}

impl CaptureSpec {
    /// Whether nothing is captured (then no capture work is done at all).
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty() && self.cookie.is_none()
    }
}

/// One exchange's captured values, buffers reused from exchange to exchange.
#[derive(Debug, Default)]
struct Values {
    request: Vec<Option<Vec<u8>>>,
    response: Vec<Option<Vec<u8>>>,
    cookie_req: Option<Vec<u8>>,
    cookie_resp: Option<Vec<u8>>,
}

/// The captures of one client connection's current exchange.
#[derive(Debug)]
pub struct Captured {
    spec: Arc<CaptureSpec>,
    v: RefCell<Values>,
}

/// Which side of the exchange a slot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `capture request ...`, `declare capture request`.
    Request,
    /// `capture response ...`, `declare capture response`.
    Response,
}

impl Captured {
    /// Empty captures for `spec`.
    pub fn new(spec: Arc<CaptureSpec>) -> Captured {
        let v = Values {
            request: vec![None; spec.request.len()],
            response: vec![None; spec.response.len()],
            ..Values::default()
        };
        Captured {
            spec,
            v: RefCell::new(v),
        }
    }

    /// Forgets the previous exchange's values.
    pub fn clear(&self) {
        let mut v = self.v.borrow_mut();
        let v = &mut *v;
        v.request
            .iter_mut()
            .chain(v.response.iter_mut())
            .for_each(|s| *s = None);
        v.cookie_req = None;
        v.cookie_resp = None;
    }

    /// Stores `value` into slot `id` of `side`, cut to the slot's length
    /// (for `http-request capture ... id <n>` and `http-response capture`);
    /// false when there is no such slot.
    pub fn store(&self, side: Side, id: usize, value: &[u8]) -> bool {
        let (slots, vals) = match side {
            Side::Request => (&self.spec.request, &mut self.v.borrow_mut().request),
            Side::Response => (&self.spec.response, &mut self.v.borrow_mut().response),
        };
        let Some(slot) = slots.get(id) else {
            return false;
        };
        keep(&mut vals[id], value, slot.len);
        true
    }

    /// Captures from the client's request headers (before any rule changes them).
    pub fn request<'h>(&self, headers: impl Iterator<Item = (&'h [u8], &'h [u8])>) {
        let mut v = self.v.borrow_mut();
        let v = &mut *v;
        for (name, value) in headers {
            capture_header(&self.spec.request, &mut v.request, name, value);
            if let Some(c) = &self.spec.cookie
                && v.cookie_req.is_none()
                && name.eq_ignore_ascii_case(b"cookie")
            {
                v.cookie_req = request_cookie(value, c);
            }
        }
    }

    /// Captures from the server's response head (the raw bytes, status line included).
    pub fn response(&self, head: &[u8]) {
        let mut v = self.v.borrow_mut();
        let v = &mut *v;
        for (name, value) in header_lines(head) {
            capture_header(&self.spec.response, &mut v.response, name, value);
            if let Some(c) = &self.spec.cookie
                && v.cookie_resp.is_none()
                && name.eq_ignore_ascii_case(b"set-cookie")
            {
                v.cookie_resp = set_cookie(value, c);
            }
        }
    }

    /// Writes `%CC %CS` (each `-` when not seen).
    pub fn write_cookies(&self, out: &mut Vec<u8>) {
        let v = self.v.borrow();
        for (i, c) in [&v.cookie_req, &v.cookie_resp].into_iter().enumerate() {
            if i == 1 {
                out.push(b' ');
            }
            match c {
                Some(c) => encode_cookie(c, out),
                None => out.push(b'-'),
            }
        }
    }

    /// Writes ` {req1|req2} {resp1}` (`%hr %hs`, each with its leading
    /// space), leaving out a side with no slot.
    pub fn write_headers(&self, out: &mut Vec<u8>) {
        let v = self.v.borrow();
        for vals in [&v.request, &v.response] {
            if vals.is_empty() {
                continue;
            }
            out.extend_from_slice(b" {");
            for (i, val) in vals.iter().enumerate() {
                if i > 0 {
                    out.push(b'|');
                }
                if let Some(val) = val {
                    encode(val, out);
                }
            }
            out.push(b'}');
        }
    }
}

impl Captured {
    /// `%hr`/`%hs` (`list` false: `{a|b}`) or `%hrl`/`%hsl` (`list`: one
    /// field per slot, `-` or `""` when empty) of one side, as HAProxy's
    /// custom log formats write them; nothing when the side has no slot.
    pub fn write_side(&self, side: Side, list: bool, quote: bool, out: &mut Vec<u8>) {
        let v = self.v.borrow();
        let vals = match side {
            Side::Request => &v.request,
            Side::Response => &v.response,
        };
        if vals.is_empty() {
            return;
        }
        if !list {
            out.extend_from_slice(if quote { b"\"{" } else { b"{" });
        }
        for (i, val) in vals.iter().enumerate() {
            if i > 0 {
                out.push(if list { b' ' } else { b'|' });
            }
            let val = val.as_deref().filter(|v| !v.is_empty());
            match (list, val) {
                (false, Some(val)) => encode(val, out),
                (false, None) => {}
                (true, val) => quoted(val, quote, out, encode),
            }
        }
        if !list {
            out.extend_from_slice(if quote { b"}\"" } else { b"}" });
        }
    }

    /// The raw values of one side's slots (`None` when empty), for an
    /// encoded (`+json`) line; `None` when the side has no slot.
    pub fn raw_side(&self, side: Side) -> Option<Vec<Option<Vec<u8>>>> {
        let v = self.v.borrow();
        let vals = match side {
            Side::Request => &v.request,
            Side::Response => &v.response,
        };
        let keep = |s: &Option<Vec<u8>>| s.clone().filter(|s| !s.is_empty());
        (!vals.is_empty()).then(|| vals.iter().map(keep).collect())
    }

    /// The raw captured cookie of one side, for an encoded line.
    pub fn raw_cookie(&self, side: Side) -> Option<Vec<u8>> {
        let v = self.v.borrow();
        match side {
            Side::Request => v.cookie_req.clone(),
            Side::Response => v.cookie_resp.clone(),
        }
    }

    /// `%CC`/`%CS`: the captured cookie, `-` (or `""` with `+Q`) when none.
    pub fn write_cookie(&self, side: Side, quote: bool, out: &mut Vec<u8>) {
        let v = self.v.borrow();
        let c = match side {
            Side::Request => &v.cookie_req,
            Side::Response => &v.cookie_resp,
        };
        quoted(c.as_deref(), quote, out, encode_cookie);
    }
}

/// One text field as HAProxy's `lf_text_len` writes it: in quotes with
/// `+Q`, and `-` for no value only without them.
pub fn quoted(val: Option<&[u8]>, quote: bool, out: &mut Vec<u8>, enc: fn(&[u8], &mut Vec<u8>)) {
    if quote {
        out.push(b'"');
    }
    match val {
        Some(v) => enc(v, out),
        None if !quote => out.push(b'-'),
        None => {}
    }
    if quote {
        out.push(b'"');
    }
}

/// Keeps at most `len` bytes of `value` in `slot`, reusing its buffer.
fn keep(slot: &mut Option<Vec<u8>>, value: &[u8], len: usize) {
    let buf = slot.get_or_insert_with(Vec::new);
    buf.clear();
    buf.extend_from_slice(&value[..value.len().min(len)]);
}

/// Every slot naming this header takes its value (the last occurrence wins).
fn capture_header(slots: &[Slot], vals: &mut [Option<Vec<u8>>], name: &[u8], value: &[u8]) {
    for (slot, val) in slots.iter().zip(vals.iter_mut()) {
        if slot
            .header
            .as_ref()
            .is_some_and(|h| h.as_bytes().eq_ignore_ascii_case(name))
        {
            keep(val, value, slot.len);
        }
    }
}

/// The first `name=value` of a `Cookie` header whose name starts with the prefix.
fn request_cookie(value: &[u8], c: &CookieSpec) -> Option<Vec<u8>> {
    value
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .find(|kv| kv.starts_with(c.prefix.as_bytes()))
        .map(|kv| kv[..kv.len().min(c.len)].to_vec())
}

/// The `name=value` of a `Set-Cookie` header (its attributes left out) when
/// its name starts with the prefix.
fn set_cookie(value: &[u8], c: &CookieSpec) -> Option<Vec<u8>> {
    let kv = value.split(|&b| b == b';').next()?.trim_ascii();
    kv.starts_with(c.prefix.as_bytes())
        .then(|| kv[..kv.len().min(c.len)].to_vec())
}

/// The header lines of a raw head (after its first line), as (name, value)
/// with the value's surrounding blanks trimmed.
fn header_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            Some((&l[..colon], l[colon + 1..].trim_ascii()))
        })
}

/// A captured cookie as HAProxy logs it: as it is, but for bytes outside
/// 32..126 (which `#XX` keeps on one line).
fn encode_cookie(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        if (0x20..0x7f).contains(&b) {
            out.push(b);
        } else {
            encode(&[b], out);
        }
    }
}

/// HAProxy's header encoding in logs: bytes outside 32..126 and `"`, `#`,
/// `{`, `|`, `}` become `#XX`; spaces stay.
pub fn encode(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if !(0x20..0x7f).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}') {
            out.extend_from_slice(&[b'#', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(h: Option<&str>, len: usize) -> Slot {
        Slot {
            header: h.map(Into::into),
            len,
        }
    }

    /// The frontend HAProxy 2.6 logged
    /// `SESSX=q SESS=abc12 ... {127.0|a#7Cb#7Bc#7D#22#23 #C3#A9|UA x} {second|188}` with.
    fn spec() -> Arc<CaptureSpec> {
        Arc::new(CaptureSpec {
            request: vec![
                slot(Some("Host"), 5),
                slot(Some("X-A"), 20),
                slot(Some("User-Agent"), 64),
            ],
            response: vec![slot(Some("X-Resp"), 20), slot(Some("Content-Length"), 10)],
            cookie: Some(CookieSpec {
                prefix: "SESS".into(),
                len: 10,
            }),
        })
    }

    fn line(c: &Captured) -> String {
        let mut out = Vec::new();
        c.write_cookies(&mut out);
        c.write_headers(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn as_haproxy_logs_them() {
        let c = Captured::new(spec());
        let req: Vec<(&[u8], &[u8])> = vec![
            (b"host", b"127.0.0.1:9080"),
            (b"User-Agent", b"UA x"),
            (b"X-A", b"first"),
            (b"x-a", "a|b{c}\"# é".as_bytes()),
            (b"Cookie", b"a=1; SESSX=q; SESS=hello_world_long"),
        ];
        c.request(req.into_iter());
        c.response(
            b"HTTP/1.1 200 OK\r\nX-Resp: a|b{c}#d\r\nX-Resp:   second \r\nContent-Length: 188\r\n\
              Set-Cookie: SESS=abc123; path=/\r\nSet-Cookie: SESSX=zzz\r\n\r\nbody",
        );
        assert_eq!(
            line(&c),
            "SESSX=q SESS=abc12 {127.0|a#7Cb#7Bc#7D#22#23 #C3#A9|UA x} {second|188}"
        );
        c.clear();
        assert_eq!(line(&c), "- - {||} {|}");
    }

    #[test]
    fn declared_slots_take_stored_values() {
        let spec = Arc::new(CaptureSpec {
            request: vec![slot(Some("Host"), 20), slot(None, 5)],
            response: vec![slot(None, 8)],
            cookie: None,
        });
        let c = Captured::new(spec);
        assert!(c.store(Side::Request, 1, b"/abcdefgh"));
        assert!(c.store(Side::Response, 0, b"second"));
        assert!(!c.store(Side::Response, 1, b"x"));
        c.request([(&b"Host"[..], &b"h:1"[..])].into_iter());
        assert_eq!(line(&c), "- - {h:1|/abcd} {second}");
    }

    #[test]
    fn exact_cookie_names_and_missing_sides() {
        let spec = Arc::new(CaptureSpec {
            request: vec![],
            response: vec![slot(Some("Location"), 3)],
            cookie: Some(CookieSpec {
                prefix: "id=".into(),
                len: 63,
            }),
        });
        let c = Captured::new(spec);
        c.request([(&b"cookie"[..], &b"idx=1; id=7"[..])].into_iter());
        c.response(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nSet-Cookie: idz=1\r\n\r\n");
        assert_eq!(line(&c), "id=7 - {/el}");
        assert!(CaptureSpec::default().is_empty());
    }
}
