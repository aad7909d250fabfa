//! HTTP rules: `http-request`, `http-response`, `http-after-response` and the
//! `redirect` keyword, compiled once at load (`parse.rs`) and run per
//! exchange (`run.rs`) on an editable head ([`Msg`]).
//!
//! Where each set runs (HAProxy's order, configuration.txt §4.2):
//! frontend `http-request` rules → frontend `redirect` rules → `use_backend`
//! → backend `http-request` rules (+ its `redirect` rules) → server → response:
//! backend `http-response` rules → frontend `http-response` rules →
//! `http-after-response` (backend, then frontend), which also sees the
//! responses ringlb makes itself (redirects, `return`, errors).
//!
//! A final action (`deny`, `tarpit`, `auth`, `redirect`, `return`) ends the
//! rule evaluation with a response ringlb makes (`reply.rs`); `allow` ends
//! the evaluation of the current rule set only.

pub mod msg;
mod parse;
mod reply;
pub mod run;
pub mod vars;

use regex::bytes::Regex;

use crate::acl::{AclSet, Condition, Expr};
use crate::lf::LogFormat;

pub use msg::Msg;
pub use parse::{Side, parse_legacy, parse_redirect_line, parse_rule};
pub use reply::{Local, LocalKind, default_page, status_reason};
pub use run::{Cx, Verdict, run_request, run_response};
pub use vars::{VarName, Vars};

/// One rule: an action and its condition.
#[derive(Debug, Clone)]
pub struct Rule {
    /// What to do.
    pub action: Action,
    /// When (`None`: always).
    pub cond: Option<Condition>,
    /// Where it was written (for messages found after parsing).
    pub origin: Option<crate::config::model::Origin>,
}

/// A proxy's HTTP rules and the ACLs their conditions index.
#[derive(Debug, Clone, Default)]
pub struct ProxyRules {
    /// The proxy's ACLs (shared with its `use_backend` rules).
    pub acls: AclSet,
    /// `http-request` rules in order.
    pub request: Vec<Rule>,
    /// `redirect` rules, run after the `http-request` rules.
    pub redirects: Vec<Rule>,
    /// `http-response` rules.
    pub response: Vec<Rule>,
    /// `http-after-response` rules.
    pub after: Vec<Rule>,
    /// 1.4 request filters (`reqrep`, `reqadd`, ...), run after `request`.
    pub legacy_request: Vec<Rule>,
    /// 1.4 response filters (`rsprep`, `rspadd`, ...), run after `response`.
    pub legacy_response: Vec<Rule>,
    /// How many `block` rules lead `request` (they run first, as in HAProxy 1.5+).
    pub blocks: usize,
}

/// What `check_sides` found: HAProxy's warnings and errors for fetches
/// used where their message is not there.
#[derive(Debug, Default)]
pub struct SideReport {
    /// "will never match" conditions (HAProxy warns), with the rule's line.
    pub warnings: Vec<(Option<crate::config::model::Origin>, String)>,
    /// Values that can't be rendered there (HAProxy refuses them).
    pub errors: Vec<(Option<crate::config::model::Origin>, String)>,
}

impl ProxyRules {
    /// Checks each rule's fetches against the message its list sees, as
    /// HAProxy does: a response fetch in request rules, or a request fetch
    /// in response rules, makes a condition that never matches (a warning)
    /// and a value that cannot be rendered (an error).
    pub fn check_sides(&self) -> SideReport {
        use crate::acl::Side;
        let mut out = SideReport::default();
        let lists: [(&[Rule], Side, &str); 6] = [
            (&self.request, Side::Res, "http-request"),
            (&self.legacy_request, Side::Res, "http-request"),
            (&self.redirects, Side::Res, "redirect"),
            (&self.response, Side::Req, "http-response"),
            (&self.legacy_response, Side::Req, "http-response"),
            (&self.after, Side::Req, "http-after-response"),
        ];
        for (rules, absent, kw) in lists {
            let what = if absent == Side::Req {
                "HTTP request headers"
            } else {
                "HTTP response headers"
            };
            let bad = |f: &crate::acl::Fetch| f.message() == Some(absent);
            for r in rules {
                if let Some(c) = &r.cond
                    && let Some(name) = self.acls.find_acl(c, bad)
                {
                    out.warnings.push((
                        r.origin.clone(),
                        format!(
                            "acl '{name}' will never match in a '{kw}' rule because it uses a \
                         keyword that needs {what}, which are not available there"
                        ),
                    ));
                }
                for f in r.action.formats() {
                    if let Some(t) = f.find_fetch(bad) {
                        out.errors.push((
                            r.origin.clone(),
                            format!(
                                "'{kw}' rule: '{t}' may not be reliably used here because it \
                             needs {what}, which are not available there"
                            ),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Whether there is nothing to run on requests.
    pub fn no_request_rules(&self) -> bool {
        self.request.is_empty() && self.redirects.is_empty() && self.legacy_request.is_empty()
    }

    /// Whether there is nothing to run on responses.
    pub fn no_response_rules(&self) -> bool {
        self.response.is_empty() && self.after.is_empty() && self.legacy_response.is_empty()
    }

    /// Whether there is nothing at all.
    pub fn is_empty(&self) -> bool {
        self.no_request_rules() && self.no_response_rules()
    }

    /// Resolves proxy and server names in conditions and formats.
    pub fn link(&mut self, n: &dyn crate::acl::Names) -> Result<(), String> {
        self.acls.link(n)?;
        for r in self
            .request
            .iter_mut()
            .chain(&mut self.redirects)
            .chain(&mut self.response)
            .chain(&mut self.after)
            .chain(&mut self.legacy_request)
            .chain(&mut self.legacy_response)
        {
            r.action.link(n)?;
        }
        Ok(())
    }
}

/// The part of the start line a `set-*`/`replace-*` action rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// `set-method`.
    Method,
    /// `set-path` / `replace-path`: the path, the query kept.
    Path,
    /// `set-pathq` / `replace-pathq`: path and query.
    PathQ,
    /// `set-query`: the query (without `?`; empty removes it).
    Query,
    /// `set-uri` / `replace-uri`: the whole target.
    Uri,
}

/// How `del-header -m` matches names.
#[derive(Debug, Clone)]
pub enum NameMatch {
    /// Exact, case-insensitive (the default).
    Str(Vec<u8>),
    /// Prefix, case-insensitive.
    Beg(Vec<u8>),
    /// Suffix, case-insensitive.
    End(Vec<u8>),
    /// Substring, case-insensitive.
    Sub(Vec<u8>),
    /// Regular expression.
    Reg(Regex),
}

/// What a `return`, `deny` or `tarpit` answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `content-type`.
    pub content_type: Option<String>,
    /// The body.
    pub body: ReplyBody,
    /// `hdr <name> <fmt>` headers.
    pub headers: Vec<(String, LogFormat)>,
}

/// Where a reply's body comes from.
#[derive(Debug, Clone)]
pub enum ReplyBody {
    /// No body.
    Empty,
    /// The proxy's error page for the status (`default-errorfiles`, or `deny`
    /// without a payload).
    ErrorPage,
    /// A whole response read from a file (`errorfile <file>`).
    Raw(Vec<u8>),
    /// `string` or `file`.
    Static(Vec<u8>),
    /// `lf-string` or `lf-file`.
    Format(LogFormat),
}

/// Where a redirect goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `location <fmt>`: exactly there.
    Location,
    /// `prefix <fmt>`: the prefix then the request's path (and query).
    Prefix,
    /// `scheme <fmt>`: `<scheme>://<host><target>`.
    Scheme,
}

/// A `redirect` rule's target and options.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// location, prefix or scheme.
    pub kind: RedirectKind,
    /// The location, prefix or scheme.
    pub to: LogFormat,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    /// `drop-query`.
    pub drop_query: bool,
    /// `append-slash`.
    pub append_slash: bool,
    /// `set-cookie NAME[=value]`.
    pub set_cookie: Option<String>,
    /// `clear-cookie NAME[=]`.
    pub clear_cookie: Option<String>,
}

/// Where a `capture` action stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// `len <n>`: a new slot of that length (resolved to `Id` at load).
    Len(usize),
    /// `id <n>`: a `declare capture` slot.
    Id(usize),
}

/// An action.
#[derive(Debug, Clone)]
pub enum Action {
    /// Stop evaluating this rule set; the message passes.
    Allow,
    /// Answer with the reply and do not forward (request: 403, response: 502).
    Deny(Reply),
    /// Hold the client for `timeout tarpit`, then answer the reply (500).
    Tarpit(Reply),
    /// Answer 401 with a `WWW-Authenticate: Basic realm=...` challenge.
    Auth {
        /// The realm (the proxy's name when not given).
        realm: String,
    },
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer with the reply.
    Return(Reply),
    /// `use-service prometheus-exporter`: answer with the exporter's page
    /// (`stats/prometheus.rs`), made from the counters at that moment.
    PrometheusExporter,
    /// `set-header` (replace all) or `add-header` (append).
    SetHeader {
        /// The header name.
        name: String,
        /// The value.
        value: LogFormat,
        /// `add-header`: keep existing ones.
        add: bool,
    },
    /// `del-header <name> [-m <method>]`.
    DelHeader(NameMatch),
    /// `replace-header` (the whole value) or `replace-value` (each
    /// comma-separated value) when the regex matches.
    Replace {
        /// The header name.
        name: String,
        /// The regex.
        re: Regex,
        /// The replacement, `\1`..`\9` naming groups.
        with: LogFormat,
        /// `replace-value`.
        each_value: bool,
    },
    /// `set-method`, `set-path`, `set-pathq`, `set-query`, `set-uri`.
    SetLine(Line, LogFormat),
    /// `replace-path`, `replace-pathq`, `replace-uri`.
    ReplaceLine(Line, Regex, LogFormat),
    /// `set-var(<name>) <expr>`.
    SetVar(VarName, Box<Expr>),
    /// `set-var-fmt(<name>) <fmt>`.
    SetVarFmt(VarName, LogFormat),
    /// `unset-var(<name>)`.
    UnsetVar(VarName),
    /// `set-status <code> [reason <str>]`.
    SetStatus(u16, Option<String>),
    /// `set-log-level <level>`: `silent` drops the exchange's log line.
    SetLogLevel(Option<u8>),
    /// 1.4 `reqrep`/`rsprep`: each line (start line included) the regex
    /// matches is replaced by the expansion (`\1`..`\9`).
    LineReplace(Regex, Vec<u8>),
    /// 1.4 `reqdel`/`rspdel`: each header line the regex matches is removed.
    LineDelete(Regex),
    /// 1.4 `reqdeny`/`reqallow`/`reqtarpit`/`rspdeny`: the action runs when
    /// some line matches the regex.
    LineMatch(Regex, Box<Action>),
    /// `capture <sample> len <n>|id <n>`: the sample's value into capture
    /// slot `n` of the frontend (`len` slots are added at load).
    Capture(Box<Expr>, Capture),
    /// `strict-mode on`: ringlb's only mode (a rewrite that would produce an
    /// invalid message answers 500), so nothing to do.
    Nothing,
}

impl Action {
    /// The log-format strings and sample expressions the action renders.
    fn formats(&self) -> Vec<&LogFormat> {
        match self {
            Action::SetHeader { value, .. } => vec![value],
            Action::Replace { with, .. } => vec![with],
            Action::SetLine(_, f) | Action::ReplaceLine(_, _, f) | Action::SetVarFmt(_, f) => {
                vec![f]
            }
            Action::Redirect(r) => vec![&r.to],
            Action::Deny(r) | Action::Tarpit(r) | Action::Return(r) => {
                let mut v: Vec<&LogFormat> = r.headers.iter().map(|(_, f)| f).collect();
                if let ReplyBody::Format(f) = &r.body {
                    v.push(f);
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// Resolves the proxy and server names its expressions read.
    pub fn link(&mut self, n: &dyn crate::acl::Names) -> Result<(), String> {
        let fmts: Vec<&mut LogFormat> = match self {
            Action::SetHeader { value, .. } => vec![value],
            Action::Replace { with, .. } => vec![with],
            Action::SetLine(_, f) | Action::ReplaceLine(_, _, f) | Action::SetVarFmt(_, f) => {
                vec![f]
            }
            Action::SetVar(_, e) | Action::Capture(e, _) => return e.link(n),
            Action::Redirect(r) => vec![&mut r.to],
            Action::Deny(r) | Action::Tarpit(r) | Action::Return(r) => {
                let mut v: Vec<&mut LogFormat> = r.headers.iter_mut().map(|(_, f)| f).collect();
                if let ReplyBody::Format(f) = &mut r.body {
                    v.push(f);
                }
                v
            }
            _ => Vec::new(),
        };
        for f in fmts {
            f.link(n)?;
        }
        Ok(())
    }
}
