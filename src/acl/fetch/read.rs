//! Reading values out of a request without allocating: header occurrences,
//! cookies, the path, query and URL parameters, `base`.

use super::*;

pub(super) fn hdr_each<S, F>(s: &S, side: Side, name: &[u8], occ: Occ, full: bool, mut f: F) -> bool
where
    S: Sample + ?Sized,
    F: FnMut(Val<'_>) -> bool,
{
    let mut it = HdrVals::new(s, side, name, full);
    let pick = match occ {
        0 => return it.any(|v| f(Val::Str(v))),
        n if n > 0 => it.nth((n - 1) as usize),
        n => {
            let total = HdrVals::new(s, side, name, full).count() as i64;
            let i = total + n;
            if i < 0 {
                return false;
            }
            it.nth(i as usize)
        }
    };
    pick.is_some_and(|v| f(Val::Str(v)))
}

/// The values of one header (or of every header when `name` is empty), in order.
pub struct HdrVals<'a, S: ?Sized> {
    s: &'a S,
    side: Side,
    name: &'a [u8],
    full: bool,
    line: usize,
    rest: Option<&'a [u8]>,
}

impl<'a, S: Sample + ?Sized> HdrVals<'a, S> {
    /// Values of `name` (lower-case) on `side`; `full`: whole lines.
    pub fn new(s: &'a S, side: Side, name: &'a [u8], full: bool) -> Self {
        HdrVals {
            s,
            side,
            name,
            full,
            line: 0,
            rest: None,
        }
    }

    fn next_line(&mut self) -> Option<&'a [u8]> {
        let count = match self.side {
            Side::Req => self.s.req_header_count(),
            Side::Res => self.s.res_header_count(),
        };
        while self.line < count {
            let (n, v) = match self.side {
                Side::Req => self.s.req_header(self.line),
                Side::Res => self.s.res_header(self.line),
            };
            self.line += 1;
            if self.name.is_empty() || n.eq_ignore_ascii_case(self.name) {
                return Some(v);
            }
        }
        None
    }
}

impl<'a, S: Sample + ?Sized> Iterator for HdrVals<'a, S> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.full {
            return self.next_line().map(<[u8]>::trim_ascii);
        }
        loop {
            if let Some(rest) = self.rest {
                let (v, after) = match memchr::memchr(b',', rest) {
                    Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                    None => (rest, None),
                };
                self.rest = after;
                return Some(v.trim_ascii());
            }
            self.rest = Some(self.next_line()?);
        }
    }
}

/// The values of the cookies called `name` (the first cookie's when empty).
pub(super) fn cookies<'a, S: Sample + ?Sized>(
    s: &'a S,
    name: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> {
    let mut first = name.is_empty();
    HdrVals::new(s, Side::Req, b"cookie", true)
        .flat_map(|line| line.split(|b| *b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii();
            let (n, v) = match memchr::memchr(b'=', pair) {
                Some(i) => (pair[..i].trim_ascii(), pair[i + 1..].trim_ascii()),
                None => return None,
            };
            if first {
                first = false;
                return Some(v);
            }
            (!name.is_empty() && n == name).then_some(v)
        })
}

/// The values of the cookies called `name` that the server sets, one per
/// `Set-Cookie` line (its first `name=value`, the attributes after `;`
/// skipped); the first one's when `name` is empty.
pub(super) fn set_cookies<'a, S: Sample + ?Sized>(
    s: &'a S,
    name: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> {
    let mut first = name.is_empty();
    HdrVals::new(s, Side::Res, b"set-cookie", true).filter_map(move |line| {
        let pair = line.split(|b| *b == b';').next()?.trim_ascii();
        let i = memchr::memchr(b'=', pair)?;
        let (n, v) = (pair[..i].trim_ascii(), pair[i + 1..].trim_ascii());
        if first {
            first = false;
            return Some(v);
        }
        (!name.is_empty() && n == name).then_some(v)
    })
}

/// The path of a request target (origin or absolute form), without the query.
pub fn path(uri: &[u8]) -> &[u8] {
    let p = pathq(uri);
    match memchr::memchr(b'?', p) {
        Some(i) => &p[..i],
        None => p,
    }
}

/// The path and query of a request target (an absolute form's scheme and
/// authority dropped): `pathq`, `capture.req.uri`.
pub fn pathq(uri: &[u8]) -> &[u8] {
    let mut p = uri;
    if p.first() != Some(&b'/')
        && let Some(i) = memchr::memmem::find(p, b"://")
    {
        let after = &p[i + 3..];
        p = match memchr::memchr(b'/', after) {
            Some(j) => &after[j..],
            None => b"",
        };
    }
    p
}

pub(super) fn query(uri: &[u8]) -> Option<&[u8]> {
    memchr::memchr(b'?', uri).map(|i| &uri[i + 1..])
}

pub(super) fn url_param_value<'a>(uri: &'a [u8], name: &[u8], d: u8) -> Option<&'a [u8]> {
    query(uri)?.split(|b| *b == d).find_map(|pair| {
        let (n, v) = match memchr::memchr(b'=', pair) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (name.is_empty() || n == name).then_some(v)
    })
}

/// `base`: the first `Host` value followed by the path, built into `buf`.
pub(super) fn base<'b, S: Sample + ?Sized>(s: &S, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    buf.clear();
    if let Some(h) = HdrVals::new(s, Side::Req, b"host", true).next() {
        buf.extend_from_slice(h);
    }
    buf.extend_from_slice(path(s.uri()));
    Some(buf)
}
