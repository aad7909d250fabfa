//! Cookie stickiness (`cookie <name> insert|rewrite|prefix ...` and the
//! servers' `cookie <value>`): which server a request's cookie names, and how
//! cookies are rewritten on the way in and out.
//!
//! The cookie carries the server, so no table is shared: any worker, and any
//! ringlb node with the same configuration, routes a cookie the same way.
//! - `insert`: ringlb adds `Set-Cookie: <name>=<value>; path=/` to a response
//!   when the client did not present a valid cookie for the server that
//!   answered (`nocache` adds `Cache-control: private` then); a server's own
//!   cookie of that name is removed; `indirect` also removes the cookie from
//!   requests, so the application never sees it.
//! - `rewrite`: the server sets `<name>`; ringlb replaces its value with the
//!   server's.
//! - `prefix`: the server's `<name>=abc` goes out as `<name>=<value>~abc`; on
//!   the way in, `<value>~` picks the server and is stripped (even when it
//!   names no server, as HAProxy), so the application sees only `abc`.

use std::collections::HashMap;

use crate::config::model::{self, CookieMode};

/// A backend's stickiness cookie, resolved for the data path.
#[derive(Debug, Clone)]
pub struct CookieRt {
    name: Vec<u8>,
    mode: CookieMode,
    indirect: bool,
    nocache: bool,
    postonly: bool,
    /// `; path=/; domain=...; HttpOnly; Secure; <attr>...` as written after the
    /// value on insert.
    attributes: String,
    /// `option persist`: follow a cookie to a server even when it is down.
    pub persist: bool,
    /// Each server's cookie value, by server index.
    values: Vec<Option<Vec<u8>>>,
    by_value: HashMap<Vec<u8>, usize>,
}

/// What a request's cookies said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sticky {
    /// The server the cookie names, if it names a known one.
    pub server: Option<usize>,
}

impl CookieRt {
    /// The stickiness of a backend, if it has a `cookie` line and HTTP mode.
    pub fn build(b: &model::Backend) -> Option<CookieRt> {
        let c = b.cookie.as_ref()?;
        let mut attributes = String::from("; path=/");
        // HAProxy's order: every domain, HttpOnly, Secure, then each `attr`.
        for d in &c.domains {
            attributes.push_str("; domain=");
            attributes.push_str(d);
        }
        if c.httponly {
            attributes.push_str("; HttpOnly");
        }
        if c.secure {
            attributes.push_str("; Secure");
        }
        for a in &c.attrs {
            attributes.push_str("; ");
            attributes.push_str(a);
        }
        let values: Vec<Option<Vec<u8>>> = b
            .servers
            .iter()
            .map(|s| s.cookie.as_ref().map(|v| v.as_bytes().to_vec()))
            .collect();
        let by_value = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.clone().map(|v| (v, i)))
            .collect();
        Some(CookieRt {
            name: c.name.as_bytes().to_vec(),
            mode: c.mode,
            indirect: c.indirect,
            nocache: c.nocache,
            postonly: c.postonly,
            attributes,
            persist: b.persist,
            values,
            by_value,
        })
    }

    /// The server a cookie value designates: the whole value (insert,
    /// rewrite) or the part before `~` (prefix).
    fn designated(&self, value: &[u8]) -> Option<usize> {
        let key = match self.mode {
            CookieMode::Prefix => &value[..memchr::memchr(b'~', value)?],
            _ => value,
        };
        self.by_value.get(key).copied()
    }

    /// Writes a request's `Cookie` header toward the server (or nothing when
    /// no cookie is left) and notes which server it designates.
    pub fn request_header(
        &self,
        header_name: &str,
        value: &[u8],
        sticky: &mut Sticky,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.extend_from_slice(header_name.as_bytes());
        out.extend_from_slice(b": ");
        let body_start = out.len();
        for pair in value.split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let (name, v) = split_pair(pair);
            let mut keep: &[u8] = pair;
            let mut stripped: Option<&[u8]> = None;
            if name == self.name.as_slice() {
                if let Some(server) = self.designated(v)
                    && sticky.server.is_none()
                {
                    sticky.server = Some(server);
                }
                match self.mode {
                    // Ours, valid or stale: not the application's business.
                    CookieMode::Insert if self.indirect => continue,
                    // As HAProxy: up to the first `~` is ours even when it names
                    // no server (a renamed server's clients keep their session id).
                    CookieMode::Prefix => {
                        stripped = v.iter().position(|&b| b == b'~').map(|p| &v[p + 1..]);
                    }
                    _ => {}
                }
            }
            if out.len() > body_start {
                out.extend_from_slice(b"; ");
            }
            if let Some(rest) = stripped {
                out.extend_from_slice(name);
                out.push(b'=');
                out.extend_from_slice(rest);
            } else {
                keep = keep.trim_ascii();
                out.extend_from_slice(keep);
            }
        }
        if out.len() == body_start {
            out.truncate(start);
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Writes a server's `Set-Cookie` header toward the client, rewritten for
    /// `server` when it is the stickiness cookie (or dropped in insert mode).
    pub fn response_header(
        &self,
        header_name: &str,
        value: &[u8],
        server: usize,
        out: &mut Vec<u8>,
    ) {
        let (name, v) = split_pair(first_pair(value));
        let own = self.values.get(server).and_then(|v| v.as_deref());
        if name != self.name.as_slice() || own.is_none() {
            push_header(out, header_name.as_bytes(), value);
            return;
        }
        let own = own.unwrap_or_default();
        let attrs = &value[first_pair(value).len()..];
        match self.mode {
            // ringlb's own cookie replaces the server's.
            CookieMode::Insert => {}
            CookieMode::Rewrite => {
                out.extend_from_slice(header_name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(name);
                out.push(b'=');
                out.extend_from_slice(own);
                out.extend_from_slice(attrs);
                out.extend_from_slice(b"\r\n");
            }
            CookieMode::Prefix => {
                out.extend_from_slice(header_name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(name);
                out.push(b'=');
                out.extend_from_slice(own);
                out.push(b'~');
                out.extend_from_slice(v);
                out.extend_from_slice(attrs);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Whether ringlb must insert its cookie in this response: insert mode, the
    /// server has a cookie value, and the client did not already name it.
    pub fn must_insert(&self, sticky: Sticky, server: usize, is_post: bool) -> bool {
        self.mode == CookieMode::Insert
            && self.values.get(server).is_some_and(Option::is_some)
            && sticky.server != Some(server)
            && (!self.postonly || is_post)
    }

    /// `nocache`: an inserted cookie marks a cacheable response private.
    pub fn nocache(&self) -> bool {
        self.nocache
    }

    /// Writes ringlb's own `Set-Cookie` (and, with `nocache`, `Cache-control:
    /// private` when the response is `cacheable`: [`Cacheability`]).
    pub fn insert_headers(&self, server: usize, cacheable: bool, out: &mut Vec<u8>) {
        let Some(Some(value)) = self.values.get(server) else {
            return;
        };
        out.extend_from_slice(b"Set-Cookie: ");
        out.extend_from_slice(&self.name);
        out.push(b'=');
        out.extend_from_slice(value);
        out.extend_from_slice(self.attributes.as_bytes());
        out.extend_from_slice(b"\r\n");
        if self.nocache && cacheable {
            out.extend_from_slice(b"Cache-control: private\r\n");
        }
    }
}

/// Whether HAProxy 2.6 deems a response cacheable, which is when `cookie
/// ... nocache` marks it `private` (an uncacheable one needs nothing): a GET
/// or HEAD (or `Cache-Control: public`), a status cacheable by default
/// (RFC 7231 6.1), no `Pragma: no-cache`, no `private`, `no-cache`,
/// `no-store`, `max-age=0` or `s-maxage=0`, and an expiry (`max-age`,
/// `s-maxage`, `Expires`) or a validator (`Last-Modified`, `ETag`).
/// Checked against HAProxy 2.6 in tests/config_forms.rs.
#[derive(Debug, Clone, Copy)]
pub struct Cacheability {
    cacheable: bool,
    barred: bool,
    fresh: bool,
    validator: bool,
}

impl Cacheability {
    /// Before the headers: the status and whether the method was GET or HEAD.
    pub fn new(status: &[u8], safe_method: bool) -> Cacheability {
        let by_status = matches!(
            status,
            b"200"
                | b"203"
                | b"204"
                | b"206"
                | b"300"
                | b"301"
                | b"404"
                | b"405"
                | b"410"
                | b"414"
                | b"501"
        );
        Cacheability {
            cacheable: safe_method,
            barred: !by_status,
            fresh: false,
            validator: false,
        }
    }

    /// Takes one response header into account.
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        let elements = || {
            value
                .split(|&b| b == b',')
                .map(|e| e.trim_ascii())
                .filter(|e| !e.is_empty())
        };
        if name.eq_ignore_ascii_case(b"pragma") {
            if elements().any(|e| e.eq_ignore_ascii_case(b"no-cache")) {
                self.barred = true;
            }
        } else if name.eq_ignore_ascii_case(b"cache-control") {
            for e in elements() {
                let is = |w: &[u8]| e.eq_ignore_ascii_case(w);
                if is(b"public") {
                    self.cacheable = true;
                } else if is(b"private")
                    || is(b"no-cache")
                    || is(b"no-store")
                    || is(b"max-age=0")
                    || is(b"s-maxage=0")
                {
                    self.cacheable = false;
                } else if super::header::starts_with_ci(e, b"max-age")
                    || super::header::starts_with_ci(e, b"s-maxage")
                {
                    self.fresh = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expires") {
            self.fresh = true;
        } else if name.eq_ignore_ascii_case(b"last-modified") || name.eq_ignore_ascii_case(b"etag")
        {
            self.validator = true;
        }
    }

    /// After the headers: the verdict.
    pub fn cacheable(&self) -> bool {
        self.cacheable && !self.barred && (self.fresh || self.validator)
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `name=value` part of a `Set-Cookie` value, before its attributes.
fn first_pair(value: &[u8]) -> &[u8] {
    match memchr::memchr(b';', value) {
        Some(p) => &value[..p],
        None => value,
    }
}

/// Splits `name=value` (both trimmed); a pair without `=` is all name.
fn split_pair(pair: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'=', pair) {
        Some(p) => (pair[..p].trim_ascii(), pair[p + 1..].trim_ascii()),
        None => (pair.trim_ascii(), b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_sources;

    fn rt(cookie_line: &str) -> CookieRt {
        let text = format!(
            "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             listen l\n bind 127.0.0.1:1\n {cookie_line}\n\
             server a 127.0.0.1:2 cookie s1\n server b 127.0.0.1:3 cookie s2\n"
        );
        let loaded = load_sources(&[("t.cfg", &text)]).unwrap();
        CookieRt::build(&loaded.config.backends[0]).unwrap()
    }

    fn req(c: &CookieRt, value: &str) -> (Sticky, String) {
        let mut sticky = Sticky::default();
        let mut out = Vec::new();
        c.request_header("Cookie", value.as_bytes(), &mut sticky, &mut out);
        (sticky, String::from_utf8(out).unwrap())
    }

    fn resp(c: &CookieRt, value: &str, server: usize) -> String {
        let mut out = Vec::new();
        c.response_header("Set-Cookie", value.as_bytes(), server, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prefix_routes_and_strips_among_other_cookies() {
        let c = rt("cookie JSESSIONID prefix");
        let (s, out) = req(&c, "a=1; JSESSIONID=s2~abc; b=2");
        assert_eq!(s.server, Some(1));
        assert_eq!(out, "Cookie: a=1; JSESSIONID=abc; b=2\r\n");
        assert_eq!(
            resp(&c, "JSESSIONID=abc; Path=/app", 0),
            "Set-Cookie: JSESSIONID=s1~abc; Path=/app\r\n"
        );
        assert_eq!(resp(&c, "other=1", 0), "Set-Cookie: other=1\r\n");
    }

    #[test]
    fn forged_prefix_is_stripped_and_missing_one_left_alone() {
        let c = rt("cookie JSESSIONID prefix");
        let (s, out) = req(&c, "JSESSIONID=zz~abc");
        assert_eq!(s.server, None);
        assert_eq!(out, "Cookie: JSESSIONID=abc\r\n");
        let (s, _) = req(&c, "JSESSIONID=abc");
        assert_eq!(s.server, None);
    }

    #[test]
    fn insert_indirect_hides_the_cookie_and_inserts_once() {
        let c = rt("cookie SERVERID insert indirect nocache httponly");
        let (s, out) = req(&c, "SERVERID=s1");
        assert_eq!(s.server, Some(0));
        assert_eq!(out, "", "the only cookie was ours: no Cookie header left");
        assert!(
            !c.must_insert(s, 0, false),
            "client already has the right cookie"
        );
        assert!(c.must_insert(s, 1, false), "redispatched to another server");
        let mut out = Vec::new();
        c.insert_headers(1, true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Set-Cookie: SERVERID=s2; path=/; HttpOnly\r\nCache-control: private\r\n"
        );
        assert_eq!(
            resp(&c, "SERVERID=x", 0),
            "",
            "the server's own copy is removed"
        );
    }

    #[test]
    fn insert_writes_every_domain_then_flags_then_attrs() {
        let c = rt(
            "cookie S insert httponly secure domain .a.com domain .b.com \
                    attr SameSite=None attr Partitioned",
        );
        let mut out = Vec::new();
        c.insert_headers(0, true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Set-Cookie: S=s1; path=/; domain=.a.com; domain=.b.com; HttpOnly; Secure; \
             SameSite=None; Partitioned\r\n"
        );
    }

    #[test]
    fn cacheability_follows_haproxy() {
        // (status, GET?, headers, cacheable): each seen from HAProxy 2.6.
        type Case = (
            &'static [u8],
            bool,
            &'static [(&'static str, &'static str)],
            bool,
        );
        let cases: &[Case] = &[
            (b"200", true, &[], false),
            (
                b"200",
                true,
                &[("Cache-Control", "public, max-age=60")],
                true,
            ),
            (
                b"200",
                false,
                &[("Cache-Control", "public, max-age=60")],
                true,
            ),
            (b"200", false, &[("Cache-Control", "max-age=60")], false),
            (
                b"200",
                true,
                &[("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")],
                true,
            ),
            (b"200", true, &[("ETag", "\"a\"")], true),
            (
                b"200",
                true,
                &[("Expires", "Wed, 21 Oct 2035 07:28:00 GMT")],
                true,
            ),
            (
                b"200",
                true,
                &[("Cache-Control", "private, max-age=60")],
                false,
            ),
            (
                b"200",
                true,
                &[("Cache-Control", "max-age=0, s-maxage=30")],
                false,
            ),
            (
                b"200",
                true,
                &[("Cache-Control", "no-cache=\"set-cookie\", max-age=60")],
                true,
            ),
            (
                b"200",
                true,
                &[("Pragma", "no-cache"), ("Cache-Control", "max-age=60")],
                false,
            ),
            (b"302", true, &[("Cache-Control", "max-age=60")], false),
            (b"404", true, &[("Cache-Control", "max-age=60")], true),
            (b"500", true, &[("Cache-Control", "max-age=60")], false),
            (b"200", true, &[("Cache-Control", "public")], false),
        ];
        for (status, get, headers, want) in cases {
            let mut c = Cacheability::new(status, *get);
            for (n, v) in *headers {
                c.header(n.as_bytes(), v.as_bytes());
            }
            assert_eq!(c.cacheable(), *want, "{status:?} GET={get} {headers:?}");
        }
    }

    #[test]
    fn insert_without_indirect_keeps_request_cookie() {
        let c = rt("cookie SERVERID insert");
        let (s, out) = req(&c, "SERVERID=s2; x=1");
        assert_eq!(s.server, Some(1));
        assert_eq!(out, "Cookie: SERVERID=s2; x=1\r\n");
    }

    #[test]
    fn rewrite_replaces_the_servers_value() {
        let c = rt("cookie SERVERID rewrite");
        assert_eq!(
            resp(&c, "SERVERID=whatever; path=/", 1),
            "Set-Cookie: SERVERID=s2; path=/\r\n"
        );
        let (s, out) = req(&c, "SERVERID=s2");
        assert_eq!(s.server, Some(1));
        assert_eq!(out, "Cookie: SERVERID=s2\r\n");
    }

    #[test]
    fn postonly_inserts_only_on_post() {
        let c = rt("cookie SERVERID insert postonly");
        assert!(!c.must_insert(Sticky::default(), 0, false));
        assert!(c.must_insert(Sticky::default(), 0, true));
    }
}
