//! Log-format expressions (HAProxy configuration.txt §8.2.4): the strings
//! that `http-request set-header`, `redirect location`, `return lf-string`
//! and `unique-id-format` take, with `%[fetch,conv]` samples and `%` variables.
//!
//! Compiled once at load ([`LogFormat::parse`]) into literal runs, sample
//! expressions and variables; rendered per request into a caller's buffer
//! ([`LogFormat::render`]) without parsing. A field with no value renders
//! empty, as HAProxy renders header values and unique ids; a log line's
//! format ([`LogFormat::dash_for_missing`]) prints `-` instead.
//!
//! Log lines (`log-format`, [`LogFormat::parse_log`]) know more variables:
//! the [`LogVar`] timers, counts, captures and dates, rendered by the log's
//! context (`crate::log::custom`).
//!
//! Flags follow HAProxy: `%{+X}o` sets the flags of every following variable
//! (not of `%[...]` samples), a variable's own `%{+Q,-X}` adjusts them; `+Q`
//! quotes only text (names, addresses), `+X` writes addresses and numbers in
//! upper-case hexadecimal as HAProxy's `%02X`/`%04X` (an IPv4 address as 8
//! digits, a port as 4, `%Ts`, `%rt` and `%pid` at least 4, `%ms` at least 2);
//! `+E` escapes `"`, `\` and `]` with a backslash (a sample is then not
//! quoted, as HAProxy 2.6 does it).
//!
//! HAProxy 3.0's additions, which 2.6 accepts and ignores (ringlb follows
//! 3.x): a field may be named, `%(name)var` / `%(name:type)[expr]`, and
//! `+json` / `+cbor` encode it ([`crate::log::encode`]). Set by `%o`, the
//! encoding makes the whole line one object of the named fields (text and
//! unnamed fields left out); on one field, it encodes that value only.

use std::io::Write;
use std::path::Path;

use crate::acl::{Expr, Sample, Scratch, Val, parse_expr};
use crate::log::encode::{Cast, Enc, Typed};

/// A `%` variable: what it names, rendered by the sample or the [`LfVars`] context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `%ci`: client address.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%fi`: the address the client connected to.
    FrontendIp,
    /// `%fp`: the port the client connected to.
    FrontendPort,
    /// `%f`: frontend name.
    Frontend,
    /// `%ft`: frontend name, followed by `~` on a TLS connection.
    FrontendTransport,
    /// `%sslv`: the client connection's TLS version (`TLSv1.3`).
    SslVersion,
    /// `%sslc`: its cipher (OpenSSL's name).
    SslCipher,
    /// `%b`: backend name.
    Backend,
    /// `%s`: server name.
    Server,
    /// `%H`: this host's name.
    Hostname,
    /// `%pid`: process id.
    Pid,
    /// `%ID`: the request's unique id.
    UniqueId,
    /// `%rt`: the request counter.
    RequestCounter,
    /// `%Ts`: the request date, seconds since the epoch.
    Timestamp,
    /// `%ms`: the milliseconds of the request date.
    Millis,
    /// `%t` / `%tr`: the request date, `05/Dec/2026:13:06:36.714` (local time).
    Date,
    /// `%HM`: method.
    Method,
    /// `%HU`: request target.
    Uri,
    /// `%HP`: path.
    Path,
    /// `%HQ`: query string with its `?`.
    Query,
    /// `%HV`: version (`HTTP/1.1`).
    Version,
    /// `%ST`: status.
    Status,
    /// `%r`: the request line.
    RequestLine,
    /// `%HPO`: the path alone, without scheme, host or query.
    PathOnly,
    /// A log line's own field (`%Tw`, `%tsc`, ...), rendered by the log's context.
    Log(LogVar),
}

/// The variables only a log line knows (`log-format`): timers, counts,
/// termination state, captures, dates, the server's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogVar {
    /// `%Tq`: Th + Ti + TR.
    Tq,
    /// `%Th`: the connection's handshake.
    Th,
    /// `%Ti`: idle time before the request.
    Ti,
    /// `%TR`: receiving the request head.
    TR,
    /// `%Tw`: waiting in queues.
    Tw,
    /// `%Tc`: connecting to the server.
    Tc,
    /// `%Tr`: the server's response head.
    Tr,
    /// `%Ta`: the request's active time.
    Ta,
    /// `%Tt`: the whole session.
    Tt,
    /// `%Td`: Tt - (Tq + Tw + Tc + Tr).
    Td,
    /// `%Tu`: Tt - Ti.
    Tu,
    /// `%B`: bytes sent to the client.
    Bytes,
    /// `%ts`: termination state.
    Term,
    /// `%tsc`: termination state and cookie flags.
    TermCookie,
    /// `%ac`: the process's connections.
    Actconn,
    /// `%fc`: the frontend's connections.
    Feconn,
    /// `%bc`: the backend's connections.
    Beconn,
    /// `%sc`: the server's connections.
    Srvconn,
    /// `%rc`: retries (`+` first after a redispatch).
    Retries,
    /// `%sq`: the server's queue.
    SrvQueue,
    /// `%bq`: the backend's queue.
    BeQueue,
    /// `%hr`: captured request headers, `{a|b}`.
    ReqHeaders,
    /// `%hs`: captured response headers.
    ResHeaders,
    /// `%hrl`: captured request headers, CLF style (one field each).
    ReqHeadersList,
    /// `%hsl`: captured response headers, CLF style.
    ResHeadersList,
    /// `%CC`: captured request cookie.
    ReqCookie,
    /// `%CS`: captured response cookie.
    ResCookie,
    /// `%T`: the date in GMT, `05/Dec/2026:13:06:36 +0000`.
    GmtDate,
    /// `%Tl`: the local date with its offset.
    LocalDate,
    /// `%trg`: the request's date in GMT.
    ReqGmtDate,
    /// `%trl`: the request's local date with its offset.
    ReqLocalDate,
    /// `%si`: the server's address.
    ServerIp,
    /// `%sp`: the server's port.
    ServerPort,
    /// `%lc`: the proxy's log line counter.
    LogCount,
}

/// The variables HAProxy documents that ringlb renders, by name.
const VARS: &[(&str, Var)] = &[
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("f", Var::Frontend),
    ("ft", Var::FrontendTransport),
    ("sslv", Var::SslVersion),
    ("sslc", Var::SslCipher),
    ("b", Var::Backend),
    ("s", Var::Server),
    ("H", Var::Hostname),
    ("pid", Var::Pid),
    ("ID", Var::UniqueId),
    ("rt", Var::RequestCounter),
    ("Ts", Var::Timestamp),
    ("ms", Var::Millis),
    ("t", Var::Date),
    ("tr", Var::Date),
    ("HM", Var::Method),
    ("HU", Var::Uri),
    ("HP", Var::Path),
    ("HQ", Var::Query),
    ("HV", Var::Version),
    ("ST", Var::Status),
    ("r", Var::RequestLine),
];

/// The variables of log lines only (`log-format`, `log-format-sd`).
const LOG_VARS: &[(&str, Var)] = &[
    ("HPO", Var::PathOnly),
    ("Tq", Var::Log(LogVar::Tq)),
    ("Th", Var::Log(LogVar::Th)),
    ("Ti", Var::Log(LogVar::Ti)),
    ("TR", Var::Log(LogVar::TR)),
    ("Tw", Var::Log(LogVar::Tw)),
    ("Tc", Var::Log(LogVar::Tc)),
    ("Tr", Var::Log(LogVar::Tr)),
    ("Ta", Var::Log(LogVar::Ta)),
    ("Tt", Var::Log(LogVar::Tt)),
    ("Td", Var::Log(LogVar::Td)),
    ("Tu", Var::Log(LogVar::Tu)),
    ("B", Var::Log(LogVar::Bytes)),
    ("ts", Var::Log(LogVar::Term)),
    ("tsc", Var::Log(LogVar::TermCookie)),
    ("ac", Var::Log(LogVar::Actconn)),
    ("fc", Var::Log(LogVar::Feconn)),
    ("bc", Var::Log(LogVar::Beconn)),
    ("sc", Var::Log(LogVar::Srvconn)),
    ("rc", Var::Log(LogVar::Retries)),
    ("sq", Var::Log(LogVar::SrvQueue)),
    ("bq", Var::Log(LogVar::BeQueue)),
    ("hr", Var::Log(LogVar::ReqHeaders)),
    ("hs", Var::Log(LogVar::ResHeaders)),
    ("hrl", Var::Log(LogVar::ReqHeadersList)),
    ("hsl", Var::Log(LogVar::ResHeadersList)),
    ("CC", Var::Log(LogVar::ReqCookie)),
    ("CS", Var::Log(LogVar::ResCookie)),
    ("T", Var::Log(LogVar::GmtDate)),
    ("Tl", Var::Log(LogVar::LocalDate)),
    ("trg", Var::Log(LogVar::ReqGmtDate)),
    ("trl", Var::Log(LogVar::ReqLocalDate)),
    ("si", Var::Log(LogVar::ServerIp)),
    ("sp", Var::Log(LogVar::ServerPort)),
    ("lc", Var::Log(LogVar::LogCount)),
];

/// Variables HAProxy documents that a ringlb log line cannot tell yet:
/// refused at load rather than logged wrong.
const LOG_UNKNOWN: &[&str] = &["U", "bi", "bp"];

/// What a variable renders from beyond the sample: names, counters, the date.
pub trait LfVars {
    /// Writes variable `v` into `out`; false when there is no value (`-` is written).
    fn var(&self, v: Var, out: &mut Vec<u8>) -> bool;

    /// Writes a log line's own variable with its flags (the context quotes
    /// and encodes it as HAProxy does); false when there is no value.
    fn log_var(&self, _v: LogVar, _f: Flags, _out: &mut Vec<u8>) -> bool {
        false
    }

    /// For an encoded line (`+json`): the raw values of a captured field,
    /// one per slot for `%hr`/`%hs`/`%hrl`/`%hsl`, one for `%CC`/`%CS`
    /// (`None` when empty); `None` when there is no capture at all.
    fn log_raw(&self, _v: LogVar) -> Option<Vec<Option<Vec<u8>>>> {
        None
    }
}

/// A context that knows no variable beyond the sample.
pub struct NoVars;

impl LfVars for NoVars {
    fn var(&self, _v: Var, _out: &mut Vec<u8>) -> bool {
        false
    }
}

/// How a field is encoded (`%{+Q}`, `%{+X}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `+Q`: in double quotes.
    pub quote: bool,
    /// `+X`: numbers in hexadecimal.
    pub hex: bool,
    /// `+E`: `"`, `\` and `]` escaped with a backslash (RFC 5424 values).
    pub escape: bool,
    /// `+json` / `+cbor` (HAProxy 3.0): the value typed and encoded.
    pub enc: Option<Enc>,
}

/// A field's `%(name:type)` (HAProxy 3.0): its key in an encoded line and
/// the type its value is cast to.
#[derive(Debug, Clone, Default)]
struct Field {
    name: Option<Box<str>>,
    cast: Option<Cast>,
}

/// One piece of a compiled format.
#[derive(Debug, Clone)]
enum Seg {
    Lit(Vec<u8>),
    /// A run of spaces: one space, written only after something else
    /// (HAProxy's separator: leading and repeated spaces vanish).
    Sep,
    Expr(Box<Expr>, Flags, Field),
    Var(Var, Flags, Field),
}

/// A compiled log-format string.
#[derive(Debug, Clone, Default)]
pub struct LogFormat {
    segs: Vec<Seg>,
    /// The text as written (for messages and `-c` dumps).
    pub text: String,
    /// A field with no value prints `-` (log lines) rather than nothing.
    dash: bool,
    /// `%{+json}o` / `%{+cbor}o`: the line is one object of the named fields.
    enc: Option<Enc>,
}

impl LogFormat {
    /// Compiles `text`; pattern and map files of its expressions resolve under `base`.
    pub fn parse(text: &str, files: Option<&Path>) -> Result<LogFormat, String> {
        Self::compile(text, files, false)
    }

    /// Compiles the format of a log line (`log-format`): the log's own
    /// variables (timers, counts, captures) are known, missing fields print `-`.
    pub fn parse_log(text: &str, files: Option<&Path>) -> Result<LogFormat, String> {
        Ok(Self::compile(text, files, true)?.dash_for_missing())
    }

    fn compile(text: &str, files: Option<&Path>, log: bool) -> Result<LogFormat, String> {
        let b = text.as_bytes();
        let mut segs = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        // Set by `%{...}o` for the variables that follow.
        let mut base = Flags::default();
        while i < b.len() {
            if b[i] == b' ' {
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                }
                if !matches!(segs.last(), Some(Seg::Sep)) {
                    segs.push(Seg::Sep);
                }
                i += 1;
                continue;
            }
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            i += 1;
            if b.get(i) == Some(&b'%') {
                lit.push(b'%');
                i += 1;
                continue;
            }
            let field = parse_field(text, &mut i)?;
            let mut own = None;
            if b.get(i) == Some(&b'{') {
                let end = text[i..]
                    .find('}')
                    .ok_or_else(|| format!("missing '}}' in log-format '{text}'"))?;
                own = Some(&text[i + 1..i + end]);
                i += end + 1;
            }
            if !lit.is_empty() {
                segs.push(Seg::Lit(std::mem::take(&mut lit)));
            }
            if b.get(i) == Some(&b'[') {
                let end = closing_bracket(b, i)
                    .ok_or_else(|| format!("missing ']' in log-format '{text}'"))?;
                let (expr, _) = parse_expr(&text[i + 1..end], files)
                    .map_err(|e| format!("in log-format '{text}': {e}"))?;
                // Samples take only their own flags, not those of `%o`.
                let flags = apply_flags(Flags::default(), own, text)?;
                segs.push(Seg::Expr(Box::new(expr), flags, field));
                i = end + 1;
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let name = &text[start..i];
            if name == "o" && field.name.is_none() && field.cast.is_none() {
                base = apply_flags(base, own, text)?;
                continue;
            }
            let flags = apply_flags(base, own, text)?;
            if name.is_empty() {
                return Err(format!(
                    "in log-format '{text}': '%' must be followed by a variable, '[' or '%'"
                ));
            }
            let table = VARS.iter().chain(if log { LOG_VARS } else { &[] });
            if log && LOG_UNKNOWN.contains(&name) {
                return Err(format!(
                    "in log-format '{text}': format variable '%{name}' is not supported by ringlb"
                ));
            }
            let v = table
                .clone()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    format!(
                        "in log-format '{text}': format variable '%{name}' is not supported by \
                         ringlb (use a sample expression '%[...]')"
                    )
                })?;
            segs.push(Seg::Var(v, flags, field));
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit));
        }
        Ok(LogFormat {
            segs,
            text: text.to_string(),
            dash: false,
            enc: base.enc,
        })
    }

    /// A format of literal text (`%` is not special), for 1.4 `reqadd`.
    pub fn literal_text(text: &str) -> LogFormat {
        LogFormat {
            segs: vec![Seg::Lit(text.as_bytes().to_vec())],
            text: text.to_string(),
            dash: false,
            enc: None,
        }
    }

    /// The same format for a log line: a field with no value prints `-`
    /// (HAProxy's `LOG_OPT_MANDATORY`).
    pub fn dash_for_missing(mut self) -> LogFormat {
        self.dash = true;
        self
    }

    /// Whether a `%` variable of kind `v` appears (e.g. `%ID` in a unique-id format).
    pub fn uses(&self, v: Var) -> bool {
        self.segs
            .iter()
            .any(|s| matches!(s, Seg::Var(w, ..) if *w == v))
    }

    /// The `%` variables the format uses, in order.
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.segs.iter().filter_map(|s| match s {
            Seg::Var(v, ..) => Some(*v),
            _ => None,
        })
    }

    /// A format that is only literal text (no space in it).
    pub fn literal(&self) -> Option<&[u8]> {
        match self.segs.as_slice() {
            [] => Some(b""),
            [Seg::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// Resolves proxy and server names in the expressions.
    pub fn link(&mut self, n: &dyn crate::acl::Names) -> Result<(), String> {
        for s in &mut self.segs {
            if let Seg::Expr(e, ..) = s {
                e.link(n)?;
            }
        }
        Ok(())
    }

    /// The first sample fetch `bad` refuses, by its text.
    pub fn find_fetch(&self, mut bad: impl FnMut(&crate::acl::Fetch) -> bool) -> Option<&str> {
        if self
            .segs
            .iter()
            .any(|s| matches!(s, Seg::Expr(e, ..) if bad(&e.fetch)))
        {
            Some(&self.text)
        } else {
            None
        }
    }

    /// The first `%[...]` fetch or `%` variable that needs traffic, by its
    /// text (`None` when the format renders at startup: global `set-var-fmt`).
    pub fn needs_traffic(&self) -> Option<&str> {
        let bad = |s: &Seg| match s {
            Seg::Expr(e, ..) => !e.fetch.needs_no_traffic(),
            Seg::Var(v, ..) => *v != Var::Pid,
            _ => false,
        };
        self.segs.iter().any(bad).then_some(&*self.text)
    }

    /// The first `%` variable not in `ok`, if any: a context without a
    /// session (health checks) takes only the variables it can render.
    pub fn var_outside(&self, ok: &[Var]) -> Option<Var> {
        self.segs.iter().find_map(|s| match s {
            Seg::Var(v, ..) if !ok.contains(v) => Some(*v),
            _ => None,
        })
    }

    /// Whether an expression reads the HTTP request or response.
    pub fn needs_http(&self) -> bool {
        self.segs
            .iter()
            .any(|s| matches!(s, Seg::Expr(e, ..) if e.fetch.needs_http()))
    }

    /// Appends the rendered text to `out`.
    pub fn render<S: Sample + ?Sized>(
        &self,
        s: &S,
        vars: &dyn LfVars,
        sc: &mut Scratch,
        out: &mut Vec<u8>,
    ) {
        if let Some(enc) = self.enc {
            return self.render_object(enc, s, vars, sc, out);
        }
        // As HAProxy: a separator only after some other piece.
        let mut after_sep = true;
        for seg in &self.segs {
            let start = out.len();
            if let Seg::Sep = seg {
                if !after_sep {
                    out.push(b' ');
                }
                after_sep = true;
                continue;
            }
            let was_sep = after_sep;
            after_sep = false;
            let found = match seg {
                Seg::Sep => true,
                Seg::Lit(l) => {
                    out.extend_from_slice(l);
                    true
                }
                Seg::Expr(_, Flags { enc: Some(enc), .. }, field)
                | Seg::Var(_, Flags { enc: Some(enc), .. }, field) => {
                    let v = typed(seg, field, s, vars, sc);
                    crate::log::encode::value(*enc, &v, out);
                    true
                }
                Seg::Expr(e, f, _) => {
                    // HAProxy 2.6 escapes a sample instead of quoting it.
                    let f = &Flags {
                        quote: f.quote && !f.escape,
                        ..*f
                    };
                    if f.quote {
                        out.push(b'"');
                    }
                    let at = out.len();
                    let found = sample_into(e, s, sc, *f, out);
                    if f.escape {
                        escape_from(out, at);
                    }
                    if found && f.quote {
                        out.push(b'"');
                    }
                    found
                }
                Seg::Var(v, f, _) => {
                    let found = render_var(*v, *f, s, vars, out);
                    // A log field with nothing to say (`%hr` without a
                    // capture) is no field: the separators around it merge.
                    if found && out.len() == start && matches!(v, Var::Log(_)) {
                        after_sep = was_sep;
                    }
                    found
                }
            };
            if !found {
                out.truncate(start);
                // HAProxy's `lf_text_len`: `""` for a quoted field, `-` otherwise.
                let quoted = matches!(seg, Seg::Expr(_, f, _) | Seg::Var(_, f, _) if f.quote);
                match (self.dash, quoted) {
                    (true, true) => out.extend_from_slice(b"\"\""),
                    (true, false) => out.push(b'-'),
                    _ => {}
                }
            }
        }
    }
}

impl LogFormat {
    /// HAProxy 3.0's `%{+json}o` / `%{+cbor}o` line: one object whose
    /// members are the named fields, in order; literal text and fields
    /// without a name are left out, as 3.0 leaves them out.
    fn render_object<S: Sample + ?Sized>(
        &self,
        enc: Enc,
        s: &S,
        vars: &dyn LfVars,
        sc: &mut Scratch,
        out: &mut Vec<u8>,
    ) {
        let fields = self.segs.iter().filter_map(|seg| match seg {
            Seg::Expr(_, _, f) | Seg::Var(_, _, f) => f.name.as_deref().map(|n| (n, seg, f)),
            _ => None,
        });
        // The values are computed first: the sample scratch is borrowed once each.
        let values: Vec<(&str, Typed)> = fields
            .map(|(n, seg, f)| (n, typed(seg, f, s, vars, sc)))
            .collect();
        crate::log::encode::object(enc, values.into_iter(), out);
    }
}

/// A field's value with its type (numbers as numbers, text as text, no
/// value as null), cast by its `%(name:type)`.
fn typed<S: Sample + ?Sized>(
    seg: &Seg,
    field: &Field,
    s: &S,
    vars: &dyn LfVars,
    sc: &mut Scratch,
) -> Typed {
    let v = match seg {
        Seg::Expr(e, f, _) => {
            let mut v = Typed::Null;
            e.for_each(s, sc, |val, _| {
                v = match val {
                    Val::Int(n) if !f.hex => Typed::Int(n),
                    Val::Bool(b) => Typed::Bool(b),
                    other => {
                        let mut t = Vec::new();
                        write_val(other, *f, &mut t);
                        Typed::Str(t)
                    }
                };
                false
            });
            v
        }
        Seg::Var(v, f, _) => typed_var(*v, *f, s, vars),
        _ => Typed::Null,
    };
    match field.cast {
        Some(c) => c.apply(v),
        None => v,
    }
}

/// A variable's value with its type.
fn typed_var<S: Sample + ?Sized>(v: Var, f: Flags, s: &S, vars: &dyn LfVars) -> Typed {
    use LogVar as L;
    if let Var::Log(l) = v {
        match l {
            L::ReqHeaders | L::ResHeaders | L::ReqHeadersList | L::ResHeadersList => {
                return vars.log_raw(l).map_or(Typed::Null, Typed::List);
            }
            L::ReqCookie | L::ResCookie => {
                let one = vars.log_raw(l).and_then(|mut c| c.pop().flatten());
                return one.map_or(Typed::Null, Typed::Str);
            }
            _ => {}
        }
    }
    let plain = Flags {
        quote: false,
        escape: false,
        enc: None,
        ..f
    };
    let mut t = Vec::new();
    if !render_var(v, plain, s, vars, &mut t) {
        return Typed::Null;
    }
    let n = (is_number(v) && !f.hex)
        .then(|| std::str::from_utf8(&t).ok()?.parse::<i64>().ok())
        .flatten();
    n.map_or(Typed::Str(t), Typed::Int)
}

/// Whether a variable is a number (encoded as one by `+json`).
fn is_number(v: Var) -> bool {
    use LogVar as L;
    match v {
        Var::Log(l) => !matches!(
            l,
            L::Term
                | L::TermCookie
                | L::ServerIp
                | L::GmtDate
                | L::LocalDate
                | L::ReqGmtDate
                | L::ReqLocalDate
        ),
        _ => !is_text(v),
    }
}

/// `%(name)` or `%(name:type)` at `*i` (after the `%`), HAProxy 3.0's
/// field name; an empty name only casts (`%(:sint)`).
fn parse_field(text: &str, i: &mut usize) -> Result<Field, String> {
    if text.as_bytes().get(*i) != Some(&b'(') {
        return Ok(Field::default());
    }
    let end = text[*i..]
        .find(')')
        .ok_or_else(|| format!("missing ')' in log-format '{text}'"))?;
    let inner = &text[*i + 1..*i + end];
    *i += end + 1;
    let (name, cast) = match inner.split_once(':') {
        Some((n, t)) => {
            let c = Cast::parse(t).ok_or_else(|| {
                format!(
                    "in log-format '{text}': unknown type '{t}' for field '{n}' (expected                      'str', 'sint' or 'bool')"
                )
            })?;
            (n, Some(c))
        }
        None => (inner, None),
    };
    if let Some(bad) = name
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '%' | '{' | '}' | '[' | ']'))
    {
        return Err(format!(
            "in log-format '{text}': character '{bad}' is not allowed in field name '{name}'"
        ));
    }
    Ok(Field {
        name: (!name.is_empty()).then(|| name.into()),
        cast,
    })
}

/// Writes one variable with its flags; false when it has no value.
fn render_var<S: Sample + ?Sized>(
    v: Var,
    f: Flags,
    s: &S,
    vars: &dyn LfVars,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    if let Var::Log(l) = v {
        return vars.log_var(l, f, out);
    }
    if f.hex {
        let written = match v {
            Var::ClientIp => s.src().map(|a| hex_ip(a.ip(), out)),
            Var::FrontendIp => s.dst().map(|a| hex_ip(a.ip(), out)),
            Var::ClientPort => s.src().map(|a| write!(out, "{:04X}", a.port())),
            Var::FrontendPort => s.dst().map(|a| write!(out, "{:04X}", a.port())),
            _ => None,
        };
        if written.is_some() {
            return true;
        }
    }
    // HAProxy quotes text fields only; numbers and hexadecimal never.
    let quote = f.quote && is_text(v);
    if quote {
        out.push(b'"');
    }
    // `%ft` is `%f` and the transport's mark.
    let named = if v == Var::FrontendTransport {
        Var::Frontend
    } else {
        v
    };
    if !(sample_var(named, s, out) || vars.var(named, out)) {
        out.truncate(start);
        return false;
    }
    if v == Var::FrontendTransport && s.tls().is_some() {
        out.push(b'~');
    }
    if f.escape {
        escape_from(out, start + usize::from(quote));
    }
    if f.hex {
        let width = if v == Var::Millis { 2 } else { 4 };
        hexify(out, start, width);
    }
    if quote {
        out.push(b'"');
    }
    true
}

/// HAProxy's `+E`: `"`, `\` and `]` of `out[start..]` get a backslash.
fn escape_from(out: &mut Vec<u8>, start: usize) {
    if !out[start..]
        .iter()
        .any(|b| matches!(b, b'"' | b'\\' | b']'))
    {
        return;
    }
    let tail = out.split_off(start);
    for b in tail {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Whether HAProxy writes this variable as text (the `+Q` flag applies).
fn is_text(v: Var) -> bool {
    use LogVar as L;
    if let Var::Log(l) = v {
        // Numbers, and the fields that quote themselves (`%hr`, `%CC`).
        return matches!(l, L::Term | L::TermCookie | L::ServerIp);
    }
    !matches!(
        v,
        Var::ClientPort
            | Var::FrontendPort
            | Var::Pid
            | Var::RequestCounter
            | Var::Timestamp
            | Var::Millis
            | Var::Status
    )
}

/// An address in hexadecimal, most significant byte first (`7F000001`).
fn hex_ip(ip: std::net::IpAddr, out: &mut Vec<u8>) -> std::io::Result<()> {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6.into(), Into::into),
        v4 => v4,
    };
    match ip {
        std::net::IpAddr::V4(a) => a.octets().iter().try_for_each(|b| write!(out, "{b:02X}")),
        std::net::IpAddr::V6(a) => a.octets().iter().try_for_each(|b| write!(out, "{b:02X}")),
    }
}

/// `%HPO`: the path of a request target, without an absolute form's
/// scheme and authority.
fn path_only(target: &[u8]) -> &[u8] {
    let Some(p) = target.windows(3).position(|w| w == b"://") else {
        return target;
    };
    let rest = &target[p + 3..];
    rest.iter()
        .position(|&b| b == b'/')
        .map_or(&b"/"[..], |i| &rest[i..])
}

/// Where the `]` closing the `[` at `open` is (brackets nest in regexes).
fn closing_bracket(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// `base` adjusted by the `{+Q,-X}` text `own`, when there is one.
fn apply_flags(base: Flags, own: Option<&str>, text: &str) -> Result<Flags, String> {
    let mut f = base;
    let Some(s) = own else { return Ok(f) };
    for part in s.split(',') {
        let (on, name) = match part.as_bytes().first() {
            Some(b'+') => (true, &part[1..]),
            Some(b'-') => (false, &part[1..]),
            _ => {
                return Err(format!(
                    "in log-format '{text}': flag '{part}' must start with '+' or '-'"
                ));
            }
        };
        match name {
            "Q" => f.quote = on,
            "X" => f.hex = on,
            "E" => f.escape = on,
            // HAProxy 2.6 accepts and ignores these; 3.0 defines them and
            // ringlb follows 3.0 (`crate::log::encode`).
            "json" => f.enc = on.then_some(Enc::Json),
            "cbor" => f.enc = on.then_some(Enc::Cbor),
            // Keeps a binary sample binary in CBOR: ringlb's samples are
            // text, numbers and booleans, so there is nothing to keep.
            "bin" => {}
            _ => return Err(format!("in log-format '{text}': unknown flag '{name}'")),
        }
    }
    Ok(f)
}

/// Rewrites the decimal number written at `out[start..]` in upper-case
/// hexadecimal, at least `width` digits (HAProxy's `%04X`).
fn hexify(out: &mut Vec<u8>, start: usize, width: usize) {
    let n = std::str::from_utf8(&out[start..])
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    if let Some(n) = n {
        out.truncate(start);
        let _ = write!(out, "{n:0width$X}");
    }
}

/// Writes the sample's value (the last one, as HAProxy's sample fetches
/// answer); false when there is none.
pub fn sample_into<S: Sample + ?Sized>(
    e: &Expr,
    s: &S,
    sc: &mut Scratch,
    f: Flags,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    let mut found = false;
    e.for_each(s, sc, |v, _| {
        out.truncate(start);
        found = true;
        write_val(v, f, out);
        false
    });
    found
}

/// Writes one value as text.
pub fn write_val(v: Val<'_>, f: Flags, out: &mut Vec<u8>) {
    match v {
        Val::Str(b) => out.extend_from_slice(b),
        Val::Int(n) if f.hex => {
            let _ = write!(out, "{n:X}");
        }
        Val::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Bool(b) => out.push(if b { b'1' } else { b'0' }),
        Val::Ip(a) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// The variables the sample itself answers.
fn sample_var<S: Sample + ?Sized>(v: Var, s: &S, out: &mut Vec<u8>) -> bool {
    let uri = s.uri();
    let qpos = uri.iter().position(|&c| c == b'?');
    match v {
        Var::ClientIp => s.src().map(|a| write!(out, "{}", a.ip())).is_some(),
        Var::ClientPort => s.src().map(|a| write!(out, "{}", a.port())).is_some(),
        Var::FrontendIp => s.dst().map(|a| write!(out, "{}", a.ip())).is_some(),
        Var::FrontendPort => s.dst().map(|a| write!(out, "{}", a.port())).is_some(),
        Var::Pid => write!(out, "{}", std::process::id()).is_ok(),
        Var::Method if !s.method().is_empty() => {
            out.extend_from_slice(s.method());
            true
        }
        Var::Uri if !uri.is_empty() => {
            out.extend_from_slice(uri);
            true
        }
        Var::Path if !uri.is_empty() => {
            out.extend_from_slice(&uri[..qpos.unwrap_or(uri.len())]);
            true
        }
        Var::Query if !uri.is_empty() => {
            out.extend_from_slice(qpos.map_or(&b""[..], |p| &uri[p..]));
            true
        }
        Var::Version if !s.version().is_empty() => {
            out.extend_from_slice(b"HTTP/");
            out.extend_from_slice(s.version());
            true
        }
        Var::RequestLine if !s.method().is_empty() => {
            out.extend_from_slice(s.method());
            out.push(b' ');
            out.extend_from_slice(uri);
            out.extend_from_slice(b" HTTP/");
            out.extend_from_slice(s.version());
            true
        }
        Var::Status => s.status().map(|c| write!(out, "{c}")).is_some(),
        Var::PathOnly if !uri.is_empty() => {
            out.extend_from_slice(path_only(&uri[..qpos.unwrap_or(uri.len())]));
            true
        }
        Var::SslVersion => s.tls().is_some_and(|t| {
            out.extend_from_slice(t.version.as_bytes());
            !t.version.is_empty()
        }),
        Var::SslCipher => s.tls().is_some_and(|t| {
            out.extend_from_slice(t.cipher.as_bytes());
            !t.cipher.is_empty()
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::TestSample;

    fn render(fmt: &str, s: &TestSample) -> String {
        let lf = LogFormat::parse(fmt, None).unwrap_or_else(|e| panic!("{fmt}: {e}"));
        let mut out = Vec::new();
        lf.render(s, &NoVars, &mut Scratch::new(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tls_variables() {
        let mut s = TestSample::get("/");
        assert_eq!(render("%ft|%sslv|%sslc|%[ssl_fc]", &s), "|||0");
        s.tls = Some(crate::tls::info::TlsInfo {
            version: "TLSv1.2",
            cipher: "ECDHE-RSA-AES128-GCM-SHA256",
            ..Default::default()
        });
        // No frontend name without a context: `%ft` stays empty (the `~`
        // follows a name; tests/tls_fetches.rs checks `fe~`).
        assert_eq!(
            render("%ft|%sslv|%sslc|%[ssl_fc]", &s),
            "|TLSv1.2|ECDHE-RSA-AES128-GCM-SHA256|1"
        );
    }

    #[test]
    fn literals_samples_and_variables() {
        let s = TestSample::get("/a/b?x=1")
            .header("Host", "Example.com")
            .src("10.0.0.1:4000");
        assert_eq!(render("plain", &s), "plain");
        assert_eq!(render("100%%", &s), "100%");
        assert_eq!(render("%[req.hdr(host),lower]", &s), "example.com");
        assert_eq!(
            render("https://%[hdr(host)]%[path]", &s),
            "https://Example.com/a/b"
        );
        assert_eq!(render("%ci:%cp %HP%HQ", &s), "10.0.0.1:4000 /a/b?x=1");
        assert_eq!(render("%{+Q}[hdr(host)]", &s), "\"Example.com\"");
        // No value: nothing, as HAProxy renders a header value.
        assert_eq!(render("[%[hdr(x-none)]]", &s), "[]");
        assert_eq!(render("%b", &s), "");
        assert_eq!(render("%{+X}cp", &s), "0FA0");
        assert_eq!(render("%[path,regsub(/,_,g)]", &s), "_a_b");
    }

    /// Outputs HAProxy 2.6 gave for the same formats (as a unique-id-format
    /// sent in a header, client 127.0.0.1:43050 on 127.0.0.1:47180).
    #[test]
    fn flags_as_haproxy_applies_them() {
        let s = TestSample::get("/a?b")
            .src("127.0.0.1:43050")
            .dst("127.0.0.1:47180");
        assert_eq!(
            render("%{+Q}o %ci %[src] %{-Q}cp %fp %{-Q}ci", &s),
            "\"127.0.0.1\" 127.0.0.1 43050 47180 127.0.0.1"
        );
        assert_eq!(
            render("%{+X}o %ci:%cp_%fi:%fp %[src_port] %{-X}cp", &s),
            "7F000001:A82A_7F000001:B84C 43050 43050"
        );
        assert_eq!(
            render("%{+X}pid", &s).len().max(4),
            render("%{+X}pid", &s).len()
        );
        assert_eq!(render("%{+Q}[path]", &s), "\"/a\"");
        assert_eq!(render("%{+Q}[hdr(x-none)]", &s), "");
        let v6 = TestSample::get("/").src("[2001:db8::1]:80");
        assert_eq!(render("%{+X}ci", &v6), "20010DB8000000000000000000000001");
    }

    /// HAProxy 2.6 sent `a b%c` for `a\ \ b%%c`, and `/a   /a?b` for
    /// `%[path]\ %[req.hdr(x-none)]\ %{+Q}[req.hdr(x-none)]\ %HU`.
    #[test]
    fn spaces_are_separators() {
        let s = TestSample::get("/a?b");
        assert_eq!(render("a  b%%c", &s), "a b%c");
        assert_eq!(render(" %{+X}o  x ", &s), "x ");
        assert_eq!(
            render("%[path] %[req.hdr(x-none)] %{+Q}[req.hdr(x-none)] %HU", &s),
            "/a   /a?b"
        );
    }

    #[test]
    fn log_lines_print_a_dash_for_missing_fields() {
        let s = TestSample::get("/");
        let lf = LogFormat::parse("%[hdr(x)] %b %HM", None)
            .unwrap()
            .dash_for_missing();
        let mut out = Vec::new();
        lf.render(&s, &NoVars, &mut Scratch::new(), &mut out);
        assert_eq!(out, b"- - GET");
    }

    /// HAProxy 2.6 answered `a\"b\]c\\d|a\"b\]c\\d|"/a\]"` for the
    /// `lf-string` `%{+E}[req.hdr(x)]|%{+Q,+E}[req.hdr(x)]|%{+E,+Q}HU` with
    /// `x: a"b]c\d` and target `/a]`: an escaped sample is not quoted, an
    /// escaped variable is.
    #[test]
    fn escape_flag() {
        let s = TestSample::get("/a]").header("X", "a\"b]c\\d");
        assert_eq!(
            render("%{+E}[hdr(x)]|%{+Q,+E}[hdr(x)]|%{+E,+Q}HU", &s),
            "a\\\"b\\]c\\\\d|a\\\"b\\]c\\\\d|\"/a\\]\""
        );
    }

    #[test]
    fn last_occurrence_is_the_sample() {
        let s = TestSample::get("/").header("X", "1").header("X", "2");
        assert_eq!(render("%[hdr(x)]", &s), "2");
        assert_eq!(render("%[hdr(x,1)]", &s), "1");
    }

    #[test]
    fn errors_name_the_problem() {
        for (fmt, want) in [
            ("%[path", "missing ']'"),
            ("%{+Q", "missing '}'"),
            ("%zz", "'%zz'"),
            ("% x", "must be followed"),
            ("%[nosuch]", "nosuch"),
            ("%{Q}ci", "'+' or '-'"),
        ] {
            let e = LogFormat::parse(fmt, None).unwrap_err();
            assert!(e.contains(want), "{fmt}: {e}");
        }
    }
}
