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

mod vars;
mod write;

use self::vars::*;
pub use self::vars::{LogVar, Var};
use self::write::*;
pub use self::write::{sample_into, write_val};

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

#[cfg(test)]
mod tests;
