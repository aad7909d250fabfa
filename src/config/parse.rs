//! Parser: words of each line → sections with file:line → raw structs.
//!
//! Owns the section state machine (`global`, `defaults`, `listen`, `frontend`,
//! `backend`, `http-errors`, `userlist`), the [`Args`] cursor keyword handlers read their arguments with,
//! and [`Diag`]/[`Ctx`], which collect every error and warning with its origin
//! so that loading reports all problems at once, like `haproxy -c`.

use std::collections::HashMap;
use std::time::Duration;

use super::duration;
use super::kw::{self, Target};
use super::lex::{self, EnvLookup};
use super::model::{Origin, Warning};
use super::raw::{RawGlobal, RawHttpErrors, RawProxy, RawUserlist, SectionKind};

/// Every error and warning found, in the order found (sorted when loading ends).
#[derive(Debug, Default)]
pub struct Diag {
    /// Fatal problems: loading fails when any is present.
    pub errors: Vec<(Origin, String)>,
    /// Problems the operator should see; loading goes on.
    pub warnings: Vec<Warning>,
    /// Informational messages (`.notice`), printed unless quiet.
    pub notices: Vec<Warning>,
    /// Diagnostic messages (`.diag`), printed only in diagnostic mode (`-dD`).
    pub diags: Vec<Warning>,
}

impl Diag {
    /// Records an error at `origin`.
    pub fn error_at(&mut self, origin: &Origin, message: impl Into<String>) {
        self.errors.push((origin.clone(), one_line(message.into())));
    }

    /// Records a warning at `origin`.
    pub fn warn_at(&mut self, origin: &Origin, message: impl Into<String>) {
        self.warnings.push(Warning {
            origin: origin.clone(),
            message: one_line(message.into()),
        });
    }
}

/// A diagnostic as printed: one line after its `file:line`, whatever words
/// it quotes (a `\n` escape in the configuration is a real line feed), so
/// control characters are escaped.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    let mut s = String::with_capacity(message.len() + 8);
    for c in message.chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s
}

/// What a keyword handler sees besides its arguments: where it stands and the diagnostics.
pub struct Ctx<'d> {
    /// The line being parsed.
    pub origin: Origin,
    /// Where errors and warnings go.
    pub diag: &'d mut Diag,
}

impl Ctx<'_> {
    /// Warns about the current line.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.diag.warn_at(&self.origin, message);
    }

    /// Records a notice (`.notice`) on the current line.
    pub fn notice(&mut self, message: impl Into<String>) {
        self.diag.notices.push(Warning {
            origin: self.origin.clone(),
            message: one_line(message.into()),
        });
    }

    /// Records a diagnostic message (`.diag`) on the current line.
    pub fn diag(&mut self, message: impl Into<String>) {
        self.diag.diags.push(Warning {
            origin: self.origin.clone(),
            message: one_line(message.into()),
        });
    }

    /// Records an error on the current line (for errors beyond the one a handler returns).
    pub fn error(&mut self, message: impl Into<String>) {
        self.diag.error_at(&self.origin, message);
    }
}

/// A cursor over one line's arguments, like mini-redis's `Parse`.
///
/// `label` names the keyword in messages (`'timeout client' expects ...`); handlers
/// narrow it as they descend into sub-keywords.
#[derive(Debug)]
pub struct Args {
    words: Vec<String>,
    pos: usize,
    label: String,
}

impl Args {
    /// Wraps a line's words; the first word is the keyword.
    pub fn new(words: Vec<String>) -> Self {
        let label = words.first().cloned().unwrap_or_default();
        Args {
            words,
            pos: 1,
            label,
        }
    }

    /// The keyword (first word of the line).
    pub fn keyword(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    /// How messages name the keyword now.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Renames the keyword in messages (e.g. `timeout` → `timeout client`).
    pub fn set_label(&mut self, label: impl Into<String>) {
        self.label = label.into();
    }

    /// The next argument without consuming it.
    pub fn peek(&self) -> Option<&str> {
        self.words.get(self.pos).map(String::as_str)
    }

    /// Consumes the next argument if there is one.
    pub fn next_opt(&mut self) -> Option<String> {
        let w = self.words.get(self.pos).cloned();
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    /// Consumes the next argument, or says `'<label>' expects <what>`.
    pub fn next_string(&mut self, what: &str) -> Result<String, String> {
        self.next_opt()
            .ok_or_else(|| format!("'{}' expects {what}", self.label))
    }

    /// Consumes an integer in `min..=max`.
    pub fn next_int(&mut self, min: u32, max: u32) -> Result<u32, String> {
        let what = int_expectation(min, max);
        let s = self.next_string(&what)?;
        parse_int(&self.label, &s, min, max)
    }

    /// Consumes a duration (`1000`, `5s`, ...).
    pub fn next_duration(&mut self) -> Result<Duration, String> {
        let s = self.next_string(duration::EXPECTED)?;
        parse_duration_for(&self.label, &s)
    }

    /// Consumes and returns every remaining argument.
    pub fn rest(&mut self) -> Vec<String> {
        let rest = self
            .words
            .get(self.pos..)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        self.pos = self.words.len();
        rest
    }

    /// Whether every argument was consumed.
    pub fn is_done(&self) -> bool {
        self.pos >= self.words.len()
    }

    /// Errors if arguments remain: `'<label>' has an unexpected argument 'x'`.
    pub fn finish(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(extra) => Err(format!(
                "'{}' has an unexpected argument '{extra}'",
                self.label
            )),
        }
    }
}

/// How an integer range is described in messages.
pub fn int_expectation(min: u32, max: u32) -> String {
    match (min, max) {
        (0, u32::MAX) => "a non-negative integer".into(),
        (1, u32::MAX) => "a positive integer".into(),
        _ => format!("an integer between {min} and {max}"),
    }
}

/// Parses an integer in `min..=max`: `'weight' expects an integer between 0 and 256, got 'abc'`.
pub fn parse_int(label: &str, s: &str, min: u32, max: u32) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("'{label}' expects {}, got '{s}'", int_expectation(min, max)))
}

/// Parses a duration, naming the keyword in the error.
pub fn parse_duration_for(label: &str, s: &str) -> Result<Duration, String> {
    duration::parse_duration(s).map_err(|e| format!("'{label}': {e}"))
}

/// HAProxy's words for a keyword before any section, with the nearest
/// section name when one is a small edit away (`frontnd`).
fn out_of_section(keyword: &str) -> String {
    let mut sections = vec![
        "global",
        "defaults",
        "listen",
        "frontend",
        "backend",
        "http-errors",
        "userlist",
        "resolvers",
    ];
    sections.extend_from_slice(SKIPPED_SECTIONS);
    format!(
        "unknown keyword '{keyword}' out of section{}",
        kw::suggest::did_you_mean(keyword, &sections)
    )
}

/// Sections HAProxy has and ringlb skips (with one warning for the section).
const SKIPPED_SECTIONS: &[&str] = &[
    "peers",
    "mailers",
    "program",
    "cache",
    "ring",
    "namespace_list",
];

/// The section lines are currently going to.
enum Current {
    /// Before the first section.
    Outside,
    /// Inside `global`.
    Global,
    /// Inside `defaults`, `listen`, `frontend` or `backend`.
    Proxy(Box<RawProxy>),
    /// Inside an `http-errors <name>` section.
    HttpErrors(Box<(String, RawHttpErrors)>),
    /// Inside a `userlist`.
    Userlist(Box<RawUserlist>),
    /// Inside a `resolvers` section.
    Resolvers(Box<super::model::Resolvers>),
    /// Inside a section that is skipped, or whose header was invalid.
    Skipped,
}

/// Everything parsed, ready for validation.
#[derive(Debug)]
pub struct Parsed {
    /// The `global` sections, merged.
    pub global: RawGlobal,
    /// `listen`, `frontend` and `backend` sections in file order.
    pub proxies: Vec<RawProxy>,
    /// `http-errors` sections by name.
    pub http_errors: HashMap<String, RawHttpErrors>,
    /// `userlist` sections in file order.
    pub userlists: Vec<RawUserlist>,
    /// `resolvers` sections in file order.
    pub resolvers: Vec<super::model::Resolvers>,
}

/// Parses the sources in order, as one concatenated configuration.
pub fn parse_sources(sources: &[(&str, &str)], env: EnvLookup<'_>, diag: &mut Diag) -> Parsed {
    // The `global` TLS settings the binds read start anew with each load.
    crate::tls::opts::reset_globals();
    let mut p = Parser {
        global: RawGlobal::default(),
        proxies: Vec::new(),
        userlists: Vec::new(),
        resolvers: Vec::new(),
        defaults: RawProxy::new_defaults(String::new(), Origin::default()),
        named_defaults: HashMap::new(),
        current: Current::Outside,
        http_errors: HashMap::new(),
    };
    let mut blocks = super::blocks::Blocks::default();
    // `.SECTION`: the name of the section lines are going to.
    let mut section = String::new();
    duration::collect_warnings(true);
    let mut env_set = EnvOverlay::default();
    let process_env = env;
    for (file, text) in sources {
        for (n, line) in text.lines().enumerate() {
            let origin = Origin {
                file: (*file).to_string(),
                line: n + 1,
            };
            let line_no = (n + 1).to_string();
            let env = |name: &str| match name {
                ".FILE" => Some((*file).to_string()),
                ".LINE" => Some(line_no.clone()),
                ".SECTION" => Some(section.clone()),
                _ => env_set.lookup(name, process_env),
            };
            let mut cx = Ctx {
                origin,
                diag: &mut *diag,
            };
            let words = match lex::split_line(line, &env) {
                Ok(words) if words.is_empty() => continue,
                Ok(words) => words,
                Err(e) => {
                    cx.error(e);
                    continue;
                }
            };
            if !blocks.line(&mut cx, &words, &env) {
                continue;
            }
            if let Some(name) = section_name(&words) {
                section = name;
            }
            if matches!(p.current, Current::Global)
                && let Some(r) = env_set.keyword(&words, process_env)
            {
                if let Err(e) = r {
                    cx.error(e);
                }
                continue;
            }
            p.line(&mut cx, Args::new(words));
            for w in duration::take_warnings() {
                cx.warn(w);
            }
        }
        let last = Origin {
            file: (*file).to_string(),
            line: text.lines().count(),
        };
        blocks.end_of_file(diag, &last);
    }
    duration::collect_warnings(false);
    p.flush();
    Parsed {
        global: p.global,
        proxies: p.proxies,
        http_errors: p.http_errors,
        userlists: p.userlists,
        resolvers: p.resolvers,
    }
}

/// What `setenv`, `presetenv`, `unsetenv` and `resetenv` in `global` did
/// to the environment that `${NAME}` reads in the lines after them.
#[derive(Default)]
struct EnvOverlay {
    /// Set (`Some`) or unset (`None`) names.
    names: HashMap<String, Option<String>>,
    /// After `resetenv`: the names of the process environment still seen.
    kept: Option<Vec<String>>,
}

impl EnvOverlay {
    /// `${name}` through the overlay, then the process environment.
    fn lookup(&self, name: &str, env: EnvLookup<'_>) -> Option<String> {
        if let Some(v) = self.names.get(name) {
            return v.clone();
        }
        match &self.kept {
            Some(kept) if !kept.iter().any(|k| k == name) => None,
            _ => env(name),
        }
    }

    /// Applies one of the four keywords (`None`: the line is not one of them).
    fn keyword(&mut self, words: &[String], env: EnvLookup<'_>) -> Option<Result<(), String>> {
        let kw = words[0].as_str();
        let args = &words[1..];
        let r = match kw {
            "setenv" | "presetenv" => match args {
                [name, value] => {
                    if kw == "setenv" || self.lookup(name, env).is_none() {
                        self.names.insert(name.clone(), Some(value.clone()));
                    }
                    Ok(())
                }
                _ => Err(format!("'{kw}' expects a name and a value")),
            },
            "unsetenv" => {
                for name in args {
                    self.names.insert(name.clone(), None);
                }
                Ok(())
            }
            "resetenv" => {
                let kept: Vec<String> = args
                    .iter()
                    .filter(|n| self.lookup(n, env).is_some())
                    .cloned()
                    .collect();
                self.names.retain(|n, v| v.is_some() && kept.contains(n));
                self.kept = Some(kept);
                Ok(())
            }
            _ => return None,
        };
        Some(r)
    }
}

/// The name `${.SECTION}` gives after a section header line: the proxy or
/// list name, or the keyword for `global` and unnamed sections.
fn section_name(words: &[String]) -> Option<String> {
    let kw = words[0].as_str();
    let is_header = matches!(
        kw,
        "global"
            | "defaults"
            | "listen"
            | "frontend"
            | "backend"
            | "http-errors"
            | "userlist"
            | "resolvers"
    ) || SKIPPED_SECTIONS.contains(&kw);
    is_header.then(|| words.get(1).unwrap_or(&words[0]).clone())
}

/// The section state machine.
struct Parser {
    global: RawGlobal,
    proxies: Vec<RawProxy>,
    userlists: Vec<RawUserlist>,
    resolvers: Vec<super::model::Resolvers>,
    /// The `defaults` in force for the next proxy.
    defaults: RawProxy,
    /// Named `defaults` sections, for `from <name>` (HAProxy 2.4+).
    named_defaults: HashMap<String, RawProxy>,
    current: Current,
    /// `http-errors` sections read so far.
    http_errors: HashMap<String, RawHttpErrors>,
}

impl Parser {
    /// Handles one non-empty line: a section header or a keyword.
    fn line(&mut self, cx: &mut Ctx<'_>, mut args: Args) {
        let kind = match args.keyword() {
            "global" => Some(SectionKind::Global),
            "defaults" => Some(SectionKind::Defaults),
            "listen" => Some(SectionKind::Listen),
            "frontend" => Some(SectionKind::Frontend),
            "backend" => Some(SectionKind::Backend),
            _ => None,
        };
        if let Some(kind) = kind {
            self.flush();
            self.current = match self.header(cx, kind, &mut args) {
                Ok(c) => c,
                Err(e) => {
                    cx.error(e);
                    Current::Skipped
                }
            };
            return;
        }
        if args.keyword() == "http-errors" {
            self.flush();
            self.current = match self.http_errors_header(cx, &mut args) {
                Ok(c) => c,
                Err(e) => {
                    cx.error(e);
                    Current::Skipped
                }
            };
            return;
        }
        if args.keyword() == "userlist" {
            self.flush();
            self.current = match kw::userlist::header(&mut args, &cx.origin) {
                Ok(ul) => Current::Userlist(Box::new(ul)),
                Err(e) => {
                    cx.error(e);
                    Current::Skipped
                }
            };
            return;
        }
        if args.keyword() == "resolvers" {
            self.flush();
            self.current = match kw::resolvers::header(&mut args, &cx.origin) {
                Ok(r) => Current::Resolvers(Box::new(r)),
                Err(e) => {
                    cx.error(e);
                    Current::Skipped
                }
            };
            return;
        }
        if SKIPPED_SECTIONS.contains(&args.keyword()) {
            self.flush();
            cx.warn(format!(
                "section '{}' is not supported by ringlb; its content is ignored",
                args.keyword()
            ));
            self.current = Current::Skipped;
            return;
        }
        let result = match &mut self.current {
            Current::Outside => Err(out_of_section(args.keyword())),
            Current::Skipped => Ok(()),
            Current::Global => kw::dispatch(cx, Target::Global(&mut self.global), &mut args),
            Current::Proxy(p) => kw::dispatch(cx, Target::Proxy(p), &mut args),
            Current::HttpErrors(s) => kw::errors::section_line(cx, &mut s.1.pages, &mut args),
            Current::Userlist(ul) => kw::userlist::line(cx, ul, &mut args),
            Current::Resolvers(r) => kw::resolvers::line(cx, r, &mut args),
        };
        if let Err(e) = result {
            cx.error(e);
        }
    }

    /// Parses a section line and opens the section.
    fn header(
        &mut self,
        cx: &mut Ctx<'_>,
        kind: SectionKind,
        args: &mut Args,
    ) -> Result<Current, String> {
        if kind == SectionKind::Global {
            args.finish()?;
            return Ok(Current::Global);
        }
        if kind == SectionKind::Defaults {
            let name = args.next_opt().unwrap_or_default();
            // A new `defaults` starts from scratch (or from the named one after
            // `from`): it replaces the previous one.
            let d = match self.named_base(args)? {
                Some(base) => {
                    RawProxy::from_defaults(base, SectionKind::Defaults, name, cx.origin.clone())
                }
                None => RawProxy::new_defaults(name, cx.origin.clone()),
            };
            args.finish()?;
            return Ok(Current::Proxy(Box::new(d)));
        }
        let name = args.next_string("a proxy name")?;
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(format!(
                "invalid character '{bad}' in {} name '{name}'",
                kind.name()
            ));
        }
        let base = self.named_base(args)?.unwrap_or(&self.defaults);
        let mut proxy = RawProxy::from_defaults(base, kind, name, cx.origin.clone());
        if let Some(addrs) = args.next_opt() {
            if kind == SectionKind::Backend {
                return Err(format!(
                    "'backend' has an unexpected argument '{addrs}' (a backend does not listen)"
                ));
            }
            args.finish()?;
            cx.warn(format!(
                "the address on the '{}' line is deprecated since HAProxy 1.6; use 'bind <addr>'",
                kind.name()
            ));
            // The section stays open even if an address is bad: report and go on.
            kw::bind::add_addresses(cx, &mut proxy, &addrs, kind.name(), false);
        }
        Ok(Current::Proxy(Box::new(proxy)))
    }

    /// `from <name>` on a section line: the named `defaults` section to start
    /// from instead of the last one.
    fn named_base(&self, args: &mut Args) -> Result<Option<&RawProxy>, String> {
        if args.peek() != Some("from") {
            return Ok(None);
        }
        args.next_opt();
        let name = args.next_string("the name of a 'defaults' section")?;
        self.named_defaults
            .get(&name)
            .map(Some)
            .ok_or_else(|| format!("'from {name}': no 'defaults' section named '{name}' before it"))
    }

    /// Opens an `http-errors <name>` section; a name may be used once.
    fn http_errors_header(&self, cx: &mut Ctx<'_>, args: &mut Args) -> Result<Current, String> {
        let name = args.next_string("a name")?;
        args.finish()?;
        if let Some(first) = self.http_errors.get(&name) {
            return Err(format!(
                "http-errors section '{name}' has the same name as the one declared at {}",
                first.origin
            ));
        }
        let section = RawHttpErrors {
            pages: Default::default(),
            origin: cx.origin.clone(),
        };
        Ok(Current::HttpErrors(Box::new((name, section))))
    }

    /// Closes the current section.
    fn flush(&mut self) {
        match std::mem::replace(&mut self.current, Current::Outside) {
            Current::Proxy(p) if p.kind == SectionKind::Defaults => {
                if !p.name.is_empty() {
                    self.named_defaults.insert(p.name.clone(), (*p).clone());
                }
                self.defaults = *p;
            }
            Current::Proxy(p) => self.proxies.push(*p),
            Current::HttpErrors(s) => {
                let (name, section) = *s;
                self.http_errors.insert(name, section);
            }
            Current::Userlist(ul) => self.userlists.push(*ul),
            Current::Resolvers(r) => self.resolvers.push(*r),
            Current::Outside | Current::Global | Current::Skipped => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_cursor() {
        let mut a = Args::new(vec!["server".into(), "a".into(), "12".into(), "5s".into()]);
        assert_eq!(a.keyword(), "server");
        assert_eq!(a.next_string("a name"), Ok("a".into()));
        assert_eq!(a.next_int(0, 256), Ok(12));
        assert_eq!(a.next_duration(), Ok(Duration::from_secs(5)));
        assert!(a.is_done());
        assert_eq!(a.finish(), Ok(()));
        assert_eq!(
            a.next_string("a value"),
            Err("'server' expects a value".into())
        );
    }

    #[test]
    fn int_messages() {
        assert_eq!(
            parse_int("weight", "abc", 0, 256),
            Err("'weight' expects an integer between 0 and 256, got 'abc'".into())
        );
        assert_eq!(
            parse_int("maxconn", "0", 1, u32::MAX),
            Err("'maxconn' expects a positive integer, got '0'".into())
        );
        assert_eq!(
            parse_int("retries", "-1", 0, u32::MAX),
            Err("'retries' expects a non-negative integer, got '-1'".into())
        );
    }

    #[test]
    fn finish_names_the_extra_argument() {
        let mut a = Args::new(vec!["daemon".into(), "now".into()]);
        a.set_label("daemon");
        assert_eq!(
            a.finish(),
            Err("'daemon' has an unexpected argument 'now'".into())
        );
    }
}
