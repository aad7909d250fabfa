//! Custom log lines: `log-format`, `log-format-sd` and `option httplog clf`
//! (HAProxy configuration.txt §8.2.4), compiled once at load by
//! [`crate::lf::LogFormat::parse_log`] and rendered at the log stage from
//! the same [`Record`] the built-in formats are written from.
//!
//! A frontend without a custom format never reaches this module: its lines
//! keep the built-in writers of `format.rs`.
//!
//! At the log stage the request is gone (as in HAProxy, which refuses
//! request-content fetches such as `req.hdr` or `path` in a log format):
//! samples see the connection (`src`, `dst`, `ssl_*`) and the method
//! (`status` is accepted and empty, as there), and the `%` variables see
//! everything the record holds.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::capture::{Side, quoted};
use super::clock::{self, Civil, MONTHS};
use super::format::{Record, date};
use crate::acl::{Fetch, Sample, Scratch};
use crate::http::unique_id::IdSlot;
use crate::lf::{Flags, LfVars, LogFormat, LogVar, Var};

/// HAProxy 2.6's `option httplog clf` format (`CLF_HTTP_LOG_FORMAT`).
pub const CLF: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw \
                       %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";

/// A proxy's compiled custom formats.
#[derive(Debug)]
pub struct Custom {
    /// `log-format` (or the CLF format).
    pub line: LogFormat,
    /// `log-format-sd`: the RFC 5424 structured data, when set.
    pub sd: Option<LogFormat>,
}

/// Compiles a log-format text, refusing what a log line cannot render.
pub fn compile(text: &str, keyword: &str) -> Result<LogFormat, String> {
    let lf = LogFormat::parse_log(text, None).map_err(|e| format!("'{keyword}': {e}"))?;
    if let Some(bad) = lf.find_fetch(|f| !at_log_time(f)) {
        return Err(format!(
            "'{keyword}': a sample fetch in '{bad}' reads the request or response content, \
             which is gone when the line is logged (HAProxy 2.6 refuses it too): use \
             'capture request header' and %hr, or a fetch of the connection"
        ));
    }
    Ok(lf)
}

/// The variables HAProxy 2.6 reserves for HTTP mode (its table's `H`),
/// refused in a `mode tcp` proxy as HAProxy refuses them.
const HTTP_ONLY: &[(Var, &str)] = &[
    (Var::Log(LogVar::ReqCookie), "CC"),
    (Var::Log(LogVar::ResCookie), "CS"),
    (Var::Method, "HM"),
    (Var::Path, "HP"),
    (Var::PathOnly, "HPO"),
    (Var::Query, "HQ"),
    (Var::Uri, "HU"),
    (Var::Version, "HV"),
    (Var::Log(LogVar::Ta), "Ta"),
    (Var::Log(LogVar::Ti), "Ti"),
    (Var::Log(LogVar::Tq), "Tq"),
    (Var::Log(LogVar::TR), "TR"),
    (Var::Log(LogVar::Tr), "Tr"),
    (Var::RequestLine, "r"),
    (Var::Log(LogVar::ReqGmtDate), "trg"),
    (Var::Log(LogVar::ReqLocalDate), "trl"),
    (Var::Log(LogVar::TermCookie), "tsc"),
];

/// Refuses, in a `mode tcp` proxy, a variable HAProxy keeps for HTTP mode.
pub fn check_mode(lf: &LogFormat, keyword: &str, http: bool) -> Result<(), String> {
    if http {
        return Ok(());
    }
    match lf
        .vars()
        .find_map(|v| HTTP_ONLY.iter().find(|(w, _)| *w == v))
    {
        Some((_, name)) => Err(format!(
            "'{keyword}': format variable '%{name}' is reserved for HTTP mode"
        )),
        None => Ok(()),
    }
}

/// The fetches a log line can evaluate: the connection's, the method and the
/// status (what HAProxy 2.6 accepts in a log format), and constants.
fn at_log_time(f: &Fetch) -> bool {
    matches!(
        f,
        Fetch::Src
            | Fetch::SrcPort
            | Fetch::Dst
            | Fetch::DstPort
            | Fetch::Method
            | Fetch::Status
            | Fetch::Str(_)
            | Fetch::Int(_)
            | Fetch::Bool(_)
            | Fetch::Env(..)
            | Fetch::AlwaysTrue
            | Fetch::AlwaysFalse
            | Fetch::SslFc
            | Fetch::SslSni
            | Fetch::Ssl(_)
    )
}

/// What a custom line is rendered from beyond the [`Record`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Extra<'u> {
    /// The address the client connected to (`%fi`, `%fp`, `dst`).
    pub local: Option<SocketAddr>,
    /// The server's address (`%si`, `%sp`).
    pub server: Option<SocketAddr>,
    /// The frontend is in HTTP mode.
    pub http: bool,
    /// The exchange's unique id and request number (`%ID`, `%rt`).
    pub uid: Option<&'u IdSlot>,
    /// `%lc`: the line's number among the proxy's lines.
    pub lc: Option<u64>,
}

/// The record seen as a sample and as the variables' context.
struct Line<'r, 'a> {
    rec: &'r Record<'a>,
    extra: Extra<'r>,
    /// The request line's method, target and version.
    parts: [&'a [u8]; 3],
}

impl<'r, 'a> Line<'r, 'a> {
    fn new(rec: &'r Record<'a>, extra: Extra<'r>) -> Self {
        let mut parts: [&'a [u8]; 3] = [b"", b"", b""];
        if let Some(line) = rec.request {
            let mut it = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
            for p in &mut parts {
                *p = it.next().unwrap_or_default();
            }
        }
        Line { rec, extra, parts }
    }
}

/// Appends the line `lf` renders for `rec`.
pub fn render(
    lf: &LogFormat,
    rec: &Record<'_>,
    extra: Extra<'_>,
    sc: &mut Scratch,
    out: &mut Vec<u8>,
) {
    let line = Line::new(rec, extra);
    lf.render(&line, &line, sc, out);
}

impl Sample for Line<'_, '_> {
    fn method(&self) -> &[u8] {
        self.parts[0]
    }
    fn uri(&self) -> &[u8] {
        self.parts[1]
    }
    fn version(&self) -> &[u8] {
        self.parts[2].strip_prefix(b"HTTP/").unwrap_or_default()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.rec.client
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.extra.local
    }
    fn is_http(&self) -> bool {
        self.extra.http
    }
    // `status` reads the response, gone at the log stage: HAProxy 2.6
    // accepts it in a log format and logs `-` (use `%ST`).
    fn status(&self) -> Option<u16> {
        None
    }
    fn tls(&self) -> Option<&crate::tls::info::TlsInfo> {
        self.rec.tls
    }
}

impl Line<'_, '_> {
    /// The timers HAProxy derives from the record's (`-1` stays unknown).
    fn timer(&self, l: LogVar) -> i64 {
        let r = self.rec;
        // No handshake is timed apart from the connection's first bytes.
        let th = 0;
        let ti = if r.t_total >= 0 && r.t_active >= 0 {
            r.t_total - r.t_active
        } else {
            -1
        };
        let tq = if r.t_request >= 0 {
            th + ti.max(0) + r.t_request
        } else {
            -1
        };
        match l {
            LogVar::Th => th,
            LogVar::Ti => ti,
            LogVar::TR => r.t_request,
            LogVar::Tq => tq,
            LogVar::Tw => r.t_queue,
            LogVar::Tc => r.t_connect,
            LogVar::Tr => r.t_response,
            LogVar::Ta => r.t_active,
            LogVar::Tt => r.t_total,
            LogVar::Tu => r.t_total - ti.max(0),
            LogVar::Td => {
                let parts = [tq.max(0), r.t_queue, r.t_connect, r.t_response];
                if parts.iter().all(|&p| p >= 0) && r.t_total >= 0 {
                    r.t_total - parts.iter().sum::<i64>()
                } else {
                    -1
                }
            }
            _ => -1,
        }
    }
}

impl LfVars for Line<'_, '_> {
    fn var(&self, v: Var, out: &mut Vec<u8>) -> bool {
        let r = self.rec;
        let name = match v {
            Var::Frontend => r.frontend,
            Var::Backend => r.backend,
            Var::Server => r.server,
            Var::Hostname => {
                return super::system_hostname().is_some_and(|h| write!(out, "{h}").is_ok());
            }
            // The record's status (`-1` for none), not the `status` sample;
            // HAProxy has no HTTP transaction in `mode tcp` and logs 0.
            Var::Status if !self.extra.http => return write!(out, "{}", r.status.max(0)).is_ok(),
            Var::Status => return write!(out, "{}", r.status).is_ok(),
            Var::Timestamp => return write!(out, "{}", epoch(r.date).as_secs()).is_ok(),
            Var::Millis => return write!(out, "{:03}", epoch(r.date).subsec_millis()).is_ok(),
            Var::Date => {
                date(r.date, out);
                return true;
            }
            // Made for the exchange (`unique-id-format`); `-` without one.
            Var::UniqueId => {
                let id = self
                    .extra
                    .uid
                    .and_then(IdSlot::get)
                    .filter(|id| !id.is_empty());
                return id.is_some_and(|id| {
                    out.extend_from_slice(id);
                    true
                });
            }
            // The exchange's number, the same `%rt` its unique id saw.
            Var::RequestCounter => {
                return self
                    .extra
                    .uid
                    .is_some_and(|u| write!(out, "{}", u.counter()).is_ok());
            }
            // No request line: HAProxy's `<BADREQ>`.
            Var::RequestLine | Var::Method => "<BADREQ>",
            _ => return false,
        };
        out.extend_from_slice(name.as_bytes());
        true
    }

    fn log_var(&self, l: LogVar, f: Flags, out: &mut Vec<u8>) -> bool {
        let r = self.rec;
        let num = |n: i64, out: &mut Vec<u8>| {
            let _ = if f.hex && n >= 0 {
                write!(out, "{n:04X}")
            } else {
                write!(out, "{n}")
            };
        };
        match l {
            LogVar::Tq
            | LogVar::Th
            | LogVar::Ti
            | LogVar::TR
            | LogVar::Tw
            | LogVar::Tc
            | LogVar::Tr
            | LogVar::Ta
            | LogVar::Tt
            | LogVar::Td
            | LogVar::Tu => num(self.timer(l), out),
            LogVar::Bytes => num(r.bytes_out as i64, out),
            LogVar::Actconn => num(r.conns.process as i64, out),
            LogVar::Feconn => num(r.conns.frontend as i64, out),
            LogVar::Beconn => num(r.conns.backend as i64, out),
            LogVar::Srvconn => num(r.conns.server as i64, out),
            LogVar::Retries => {
                if r.redispatched {
                    out.push(b'+');
                }
                num(i64::from(r.retries), out);
            }
            LogVar::SrvQueue => num(i64::from(r.queues.0), out),
            LogVar::BeQueue => num(i64::from(r.queues.1), out),
            LogVar::Term => out.extend_from_slice(&r.term[..2]),
            LogVar::TermCookie => out.extend_from_slice(&r.term),
            LogVar::ReqHeaders
            | LogVar::ResHeaders
            | LogVar::ReqHeadersList
            | LogVar::ResHeadersList => {
                let side = match l {
                    LogVar::ReqHeaders | LogVar::ReqHeadersList => Side::Request,
                    _ => Side::Response,
                };
                let list = matches!(l, LogVar::ReqHeadersList | LogVar::ResHeadersList);
                if let Some(c) = r.captures {
                    c.write_side(side, list, f.quote, out);
                }
            }
            LogVar::ReqCookie | LogVar::ResCookie => {
                let side = if l == LogVar::ReqCookie {
                    Side::Request
                } else {
                    Side::Response
                };
                match r.captures {
                    Some(c) => c.write_cookie(side, f.quote, out),
                    None => quoted(None, f.quote, out, |_, _| {}),
                }
            }
            LogVar::GmtDate | LogVar::ReqGmtDate => zoned(clock::utc(r.date), 0, out),
            LogVar::LocalDate | LogVar::ReqLocalDate => {
                let (c, off) = clock::local_with_offset(r.date);
                zoned(c, off, out);
            }
            LogVar::ServerIp => match self.extra.server {
                Some(a) => quoted(Some(a.ip().to_string().as_bytes()), f.quote, out, |v, o| {
                    o.extend_from_slice(v)
                }),
                None => return false,
            },
            LogVar::ServerPort => match self.extra.server {
                Some(a) => num(i64::from(a.port()), out),
                None => return false,
            },
            LogVar::LogCount => match self.extra.lc {
                Some(n) => num(n as i64, out),
                None => return false,
            },
        }
        true
    }

    fn log_raw(&self, l: LogVar) -> Option<Vec<Option<Vec<u8>>>> {
        self.raw(l)
    }
}

impl Line<'_, '_> {
    /// The captured values `log_raw` hands to an encoded line.
    fn raw(&self, l: LogVar) -> Option<Vec<Option<Vec<u8>>>> {
        let c = self.rec.captures?;
        match l {
            LogVar::ReqHeaders | LogVar::ReqHeadersList => c.raw_side(Side::Request),
            LogVar::ResHeaders | LogVar::ResHeadersList => c.raw_side(Side::Response),
            LogVar::ReqCookie => Some(vec![c.raw_cookie(Side::Request)]),
            LogVar::ResCookie => Some(vec![c.raw_cookie(Side::Response)]),
            _ => None,
        }
    }
}

/// Time since the epoch (zero before it).
fn epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `05/Dec/2026:13:06:36 +0100`: HAProxy's `%T`, `%Tl`, `%trg`, `%trl`.
fn zoned(c: Civil, offset: i64, out: &mut Vec<u8>) {
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs() / 60;
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
        c.day,
        MONTHS[c.month],
        c.year,
        c.hour,
        c.min,
        c.sec,
        off / 60,
        off % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::Conns;

    fn rec() -> Record<'static> {
        Record {
            client: Some("10.0.1.2:33317".parse().unwrap()),
            date: UNIX_EPOCH + Duration::from_millis(1_795_570_512_345),
            frontend: "fe",
            backend: "be",
            server: "s1",
            t_request: 10,
            t_queue: 0,
            t_connect: 30,
            t_response: 69,
            t_active: 109,
            t_total: 120,
            status: 200,
            bytes_out: 2750,
            term: *b"--NI",
            conns: Conns {
                process: 4,
                frontend: 3,
                backend: 2,
                server: 1,
            },
            retries: 1,
            redispatched: true,
            queues: (5, 6),
            request: Some(b"GET http://h/a/b?c=d HTTP/1.1"),
            captures: None,
            tls: None,
        }
    }

    fn line(fmt: &str) -> String {
        let lf = compile(fmt, "log-format").unwrap();
        let extra = Extra {
            local: Some("127.0.0.1:80".parse().unwrap()),
            server: Some("192.0.2.7:8080".parse().unwrap()),
            http: true,
            uid: None,
            lc: Some(7),
        };
        let mut out = Vec::new();
        render(&lf, &rec(), extra, &mut Scratch::new(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timers_and_derived_timers() {
        assert_eq!(
            line("%TR/%Tw/%Tc/%Tr/%Ta %Tt %Ti %Th %Tq %Tu %Td"),
            "10/0/30/69/109 120 11 0 21 109 0"
        );
    }

    #[test]
    fn counts_states_and_names() {
        assert_eq!(
            line("%ac/%fc/%bc/%sc/%rc %sq/%bq %ts %tsc %f %b %s %{+Q}si:%sp %fi:%fp %B %ST"),
            "4/3/2/1/+1 5/6 -- --NI fe be s1 \"192.0.2.7\":8080 127.0.0.1:80 2750 200"
        );
    }

    #[test]
    fn log_counter_and_no_unique_id() {
        // `%ID` without an id slot (a `mode tcp` line): `-`.
        assert_eq!(line("%lc %ID %{+json}lc"), "7 - 7");
    }

    #[test]
    fn request_parts_and_method_sample() {
        assert_eq!(
            line("%HM %HU %HP %HPO %HQ %HV %{+Q}r %[method] %[status]"),
            "GET http://h/a/b?c=d http://h/a/b /a/b ?c=d HTTP/1.1 \"GET http://h/a/b?c=d HTTP/1.1\" GET -"
        );
    }

    #[test]
    fn dates() {
        let s = line("%Ts %ms %{+X}Ts %T");
        assert!(s.starts_with("1795570512 345 6B063B50 "), "{s}");
        assert!(
            s.ends_with(" +0000") || s.contains(" +") || s.contains(" -"),
            "{s}"
        );
        assert!(line("%trg").starts_with("25/Nov/2026:01:35:12 +0000"));
    }

    #[test]
    fn missing_values_and_quotes_as_haproxy() {
        // HAProxy 2.6 wrote `"" - "" -` for these without captures.
        assert_eq!(
            line(
                "%{+Q}CC %CC %{+Q}[env(RINGLB_NO_SUCH_VAR),lower] %[env(RINGLB_NO_SUCH_VAR),lower]"
            ),
            "\"\" - \"\" -"
        );
        // No capture slot: the field vanishes with its separator.
        assert_eq!(line("a %hr %{+Q}hr %hrl %hsl b"), "a b");
    }

    /// HAProxy 3.0's `%{+json}o`: one object of the named fields, typed;
    /// text and unnamed fields are left out (HAProxy 2.6 ignores `+json`).
    #[test]
    fn json_line_is_an_object_of_named_fields() {
        let s = line(
            "%{+json}o %(client_ip)ci %(client_port)cp text %ci %(status)ST %(Tr)Tr \
             %(retries)rc %(term)tsc %(backend)b %(srv)si %(date)tr %(hdrs)hr %(cookie)CC \
             %(none)[env(RINGLB_NO_SUCH_VAR)] %(n:sint)[str(42)] %(s:str)B %(t)[bool(1)] \
             %(req)r",
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys.len(), 16, "{s}");
        assert!(
            s.starts_with("{\"client_ip\": \"10.0.1.2\", \"client_port\": 33317, "),
            "{s}"
        );
        assert_eq!(v["status"], 200);
        assert_eq!(v["Tr"], 69);
        assert_eq!(v["retries"], 1);
        assert_eq!(v["term"], "--NI");
        assert_eq!(v["backend"], "be");
        assert_eq!(v["srv"], "192.0.2.7");
        assert!(v["date"].as_str().unwrap().ends_with(":35:12.345"), "{s}");
        // No capture slot, no cookie, no value: null.
        assert!(
            v["hdrs"].is_null() && v["cookie"].is_null() && v["none"].is_null(),
            "{s}"
        );
        assert_eq!(v["n"], 42);
        assert_eq!(v["s"], "2750");
        assert_eq!(v["t"], true);
        assert_eq!(v["req"], "GET http://h/a/b?c=d HTTP/1.1");
    }

    #[test]
    fn cbor_line_and_per_field_encoding() {
        // `{"st": 200}`: BF 62 "st" 18 C8 FF.
        assert_eq!(line("%{+cbor}o %(st)ST x %B"), "BF62737418C8FF");
        // Without `%o`, only the flagged field's value is encoded.
        assert_eq!(
            line("%{+json}b %{+json}ST %{+json}[env(RINGLB_NO_SUCH_VAR)] %{+cbor}[bool(1)] %b"),
            "\"be\" 200 null F5 be"
        );
    }

    #[test]
    fn field_names_are_checked() {
        for (f, want) in [
            ("%(a:uint)ci", "'uint'"),
            ("%(a\"b)ci", "not allowed"),
            ("%(abc", "missing ')'"),
        ] {
            let e = compile(f, "log-format").unwrap_err();
            assert!(e.contains(want), "{f}: {e}");
        }
        // Without an encoding the names change nothing.
        assert_eq!(line("%(x)b %(y:sint)ST"), "be 200");
    }

    #[test]
    fn request_content_is_refused() {
        for f in [
            "%[req.hdr(host)]",
            "%[path]",
            "%[res.hdr(server)]",
            "%[url]",
        ] {
            let e = compile(f, "log-format").unwrap_err();
            assert!(e.contains("'log-format'") && e.contains("gone"), "{f}: {e}");
        }
        assert!(compile("%U", "log-format").unwrap_err().contains("'%U'"));
        compile(CLF, "option httplog clf").unwrap();
    }
}
