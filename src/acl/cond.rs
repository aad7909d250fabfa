//! Conditions (`if|unless <cond>`) and the per-proxy ACL table they index.
//!
//! A condition is an OR (`||` or `or`) of AND-ed terms (juxtaposition); a
//! term is an ACL name or an anonymous `{ <fetch> ... }` block, negated by `!`.
//! Names are looked up when the rule is parsed, as HAProxy does: an ACL must
//! be declared above the rule using it. Predefined ACLs (`TRUE`,
//! `METH_GET`, ...) are compiled into the table the first time a rule uses them.

use std::collections::HashMap;
use std::path::Path;

use super::fetch::{Fetch, Names};
use super::predefined;
use super::rule::{Acl, parse_acl};
use super::sample::{Sample, Scratch};

/// A three-valued test result (HAProxy's `ACL_TEST_PASS/MISS/FAIL`): `Miss`
/// while a fetch waits for bytes that may still arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    /// Matched.
    Pass,
    /// Not decided yet: more data may change the answer.
    Miss,
    /// Did not match.
    Fail,
}

impl Tri {
    /// Negation (`!`, `unless`): a miss stays a miss.
    pub fn negate(self) -> Tri {
        match self {
            Tri::Pass => Tri::Fail,
            Tri::Fail => Tri::Pass,
            Tri::Miss => Tri::Miss,
        }
    }

    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::Fail, _) | (_, Tri::Fail) => Tri::Fail,
            (Tri::Miss, _) | (_, Tri::Miss) => Tri::Miss,
            _ => Tri::Pass,
        }
    }

    fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::Pass, _) | (_, Tri::Pass) => Tri::Pass,
            (Tri::Miss, _) | (_, Tri::Miss) => Tri::Miss,
            _ => Tri::Fail,
        }
    }
}

/// One named ACL: every `acl` line with that name, OR-ed.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    alts: Vec<Acl>,
}

/// The ACLs of one proxy, by index; conditions refer to entries by index.
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
}

/// Whether `name` is a valid ACL name (letters, digits, `-_.:`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

impl AclSet {
    /// An empty table.
    pub fn new() -> AclSet {
        AclSet::default()
    }

    /// Adds one `acl` line: `words` are what follows the `acl` keyword
    /// (`<name> <fetch> [flags] [operator] <value>...`).
    pub fn add_line(&mut self, words: &[String], base: Option<&Path>) -> Result<usize, String> {
        let Some(name) = words.first() else {
            return Err("'acl' expects an ACL name and a fetch method".to_string());
        };
        if !valid_name(name) {
            return Err(format!(
                "invalid character in ACL name '{name}' (letters, digits, '-', '_', '.', ':')"
            ));
        }
        let acl = parse_acl(&words[1..], base).map_err(|e| format!("in ACL '{name}': {e}"))?;
        Ok(self.push(name, acl))
    }

    /// Adds a compiled ACL under `name` (OR-ed with earlier lines of that name).
    pub fn push(&mut self, name: &str, acl: Acl) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            self.entries[i].alts.push(acl);
            return i;
        }
        let i = self.push_anonymous(name, acl);
        self.by_name.insert(name.to_string(), i);
        i
    }

    fn push_anonymous(&mut self, label: &str, acl: Acl) -> usize {
        self.entries.push(Entry {
            name: label.to_string(),
            alts: vec![acl],
        });
        self.entries.len() - 1
    }

    /// The index of ACL `name`, compiling a predefined ACL on first use.
    pub fn lookup(&mut self, name: &str) -> Result<usize, String> {
        if let Some(&i) = self.by_name.get(name) {
            return Ok(i);
        }
        let Some(words) = predefined::words(name) else {
            return Err(format!("no such ACL : '{name}'"));
        };
        let words: Vec<String> = words.split(' ').map(String::from).collect();
        let acl = parse_acl(&words, None).map_err(|e| format!("predefined ACL '{name}': {e}"))?;
        Ok(self.push(name, acl))
    }

    /// The name of entry `i` (anonymous blocks read `{...}`).
    pub fn name(&self, i: usize) -> &str {
        &self.entries[i].name
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether entry `i` matches (any of its lines).
    #[inline]
    pub fn matches<S: Sample + ?Sized>(&self, i: usize, s: &S, sc: &mut Scratch) -> bool {
        self.entries[i].alts.iter().any(|a| a.matches(s, sc))
    }

    /// Entry `i` tested three-valued: any line passing passes, else any
    /// waiting for data misses.
    pub fn test<S: Sample + ?Sized>(&self, i: usize, s: &S, sc: &mut Scratch) -> Tri {
        let mut res = Tri::Fail;
        for a in &self.entries[i].alts {
            res = res.or(a.test(s, sc));
            if res == Tri::Pass {
                break;
            }
        }
        res
    }

    /// The first ACL of `cond` whose fetch `bad` refuses, by name, with that fetch.
    pub fn find_acl(&self, cond: &Condition, mut bad: impl FnMut(&Fetch) -> bool) -> Option<&str> {
        cond.any_of.iter().flatten().find_map(|t| {
            let e = &self.entries[t.acl];
            e.alts
                .iter()
                .any(|a| bad(&a.expr.fetch))
                .then_some(e.name.as_str())
        })
    }

    /// The first ACL of `cond` that reads the HTTP request or response (not
    /// available to a `mode tcp` rule evaluated at connection time), by name.
    pub fn http_acl(&self, cond: &Condition) -> Option<&str> {
        cond.any_of.iter().flatten().find_map(|t| {
            let e = &self.entries[t.acl];
            e.alts
                .iter()
                .any(|a| a.expr.fetch.needs_http())
                .then_some(e.name.as_str())
        })
    }

    /// Resolves proxy and server names in every ACL (after the whole configuration is read).
    pub fn link(&mut self, n: &dyn Names) -> Result<(), String> {
        for e in &mut self.entries {
            for a in &mut e.alts {
                a.expr
                    .link(n)
                    .map_err(|err| format!("in ACL '{}': {err}", e.name))?;
            }
        }
        Ok(())
    }
}

/// One term of a condition: an ACL entry, maybe negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// Index into the proxy's [`AclSet`].
    pub acl: usize,
    /// `!`.
    pub negate: bool,
}

/// A compiled `if|unless` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `unless`: the result is inverted.
    pub unless: bool,
    /// OR of AND-ed terms.
    pub any_of: Vec<Vec<Term>>,
}

impl Condition {
    /// Compiles the words from `if`/`unless` on (the keyword included), adding
    /// anonymous ACLs and predefined ones to `set`.
    pub fn parse(
        words: &[String],
        set: &mut AclSet,
        base: Option<&Path>,
    ) -> Result<Condition, String> {
        let unless = match words.first().map(String::as_str) {
            Some("if") => false,
            Some("unless") => true,
            _ => return Err("a condition starts with 'if' or 'unless'".to_string()),
        };
        let mut any_of = vec![Vec::new()];
        let mut negate = false;
        let mut i = 1;
        while i < words.len() {
            let w = words[i].as_str();
            i += 1;
            match w {
                // HAProxy takes `or` in any case (`OR` is common).
                _ if w == "||" || w.eq_ignore_ascii_case("or") => {
                    if negate || any_of.last().is_some_and(Vec::is_empty) {
                        return Err(format!("missing ACL before '{w}' in condition"));
                    }
                    any_of.push(Vec::new());
                    continue;
                }
                "!" => {
                    negate = !negate;
                    continue;
                }
                _ => {}
            }
            let (neg, name) = strip_bangs(w);
            let acl = if name == "{" {
                let (acl, next) = anonymous(words, i, set, base)?;
                i = next;
                acl
            } else if name.is_empty() {
                negate ^= neg;
                continue;
            } else {
                set.lookup(name)?
            };
            let term = Term {
                acl,
                negate: negate ^ neg,
            };
            any_of.last_mut().expect("never empty").push(term);
            negate = false;
        }
        if negate || any_of.iter().any(Vec::is_empty) {
            return Err(format!("missing ACL in condition '{}'", words.join(" ")));
        }
        Ok(Condition { unless, any_of })
    }

    /// Evaluates the condition three-valued, for content inspection: `Miss`
    /// while it cannot be decided on the bytes buffered so far.
    pub fn test<S: Sample + ?Sized>(&self, set: &AclSet, s: &S, sc: &mut Scratch) -> Tri {
        let mut res = Tri::Fail;
        for and in &self.any_of {
            let mut suite = Tri::Pass;
            for t in and {
                let r = set.test(t.acl, s, sc);
                suite = suite.and(if t.negate { r.negate() } else { r });
                if suite == Tri::Fail {
                    break;
                }
            }
            res = res.or(suite);
            if res == Tri::Pass {
                break;
            }
        }
        if self.unless { res.negate() } else { res }
    }

    /// Evaluates the condition against one request.
    #[inline]
    pub fn eval<S: Sample + ?Sized>(&self, set: &AclSet, s: &S, sc: &mut Scratch) -> bool {
        let hit = self
            .any_of
            .iter()
            .any(|and| and.iter().all(|t| set.matches(t.acl, s, sc) != t.negate));
        hit != self.unless
    }
}

/// Leading `!`s of a word: (odd count, the rest).
fn strip_bangs(w: &str) -> (bool, &str) {
    let rest = w.trim_start_matches('!');
    ((w.len() - rest.len()) % 2 == 1, rest)
}

/// Compiles `{ <acl words> }` starting after the `{` at `words[i]`.
fn anonymous(
    words: &[String],
    i: usize,
    set: &mut AclSet,
    base: Option<&Path>,
) -> Result<(usize, usize), String> {
    let Some(len) = words[i..].iter().position(|w| w == "}") else {
        return Err("missing closing '}' in condition".to_string());
    };
    let inner = &words[i..i + len];
    if inner.is_empty() {
        return Err("empty anonymous ACL '{ }' in condition".to_string());
    }
    let acl = parse_acl(inner, base)
        .map_err(|e| format!("in anonymous ACL '{{ {} }}': {e}", inner.join(" ")))?;
    let label = format!("{{ {} }}", inner.join(" "));
    Ok((set.push_anonymous(&label, acl), i + len + 1))
}

#[cfg(test)]
mod tests {
    use super::super::sample::TestSample;
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn set() -> AclSet {
        let mut s = AclSet::new();
        for l in [
            "is_api path_beg /api",
            "is_img path_end .png",
            "is_img path_end .jpg",
            "local src 10.0.0.0/8",
        ] {
            s.add_line(&w(l), None).unwrap();
        }
        s
    }

    fn eval(cond: &str, req: &TestSample) -> bool {
        let mut s = set();
        let c = Condition::parse(&w(cond), &mut s, None).unwrap_or_else(|e| panic!("{e}"));
        c.eval(&s, req, &mut Scratch::new())
    }

    #[test]
    fn and_or_not_unless() {
        let api = TestSample::get("/api/x");
        let img = TestSample::get("/a.jpg").src("10.0.0.1:1");
        assert!(eval("if is_api", &api));
        assert!(!eval("unless is_api", &api));
        assert!(eval("if is_img", &img));
        assert!(eval("if is_img local", &img));
        assert!(!eval("if is_img local", &TestSample::get("/a.jpg")));
        assert!(eval("if is_api || is_img", &img));
        assert!(eval("if is_api or is_img", &api));
        assert!(eval("if !is_api", &img));
        assert!(eval("if ! is_api", &img));
        assert!(!eval("if !!is_api", &img));
        assert!(eval("if is_api !local || local is_img", &api));
        assert!(eval("if is_api !local || local is_img", &img));
        assert!(!eval("unless is_api || is_img", &img));
    }

    #[test]
    fn anonymous_and_predefined() {
        let get = TestSample::get("/x");
        assert!(eval("if { path /x }", &get));
        assert!(eval("if !{ path /y } METH_GET", &get));
        assert!(eval("if { path_beg /a } || { method GET }", &get));
        assert!(eval("if { path_beg /a } OR { method GET }", &get));
        assert!(!eval("if { path_beg /a } Or { method POST }", &get));
        assert!(eval(
            "if METH_GET HTTP_1.1 HTTP HTTP_URL_SLASH TRUE WAIT_END",
            &get
        ));
        assert!(!eval(
            "if FALSE || METH_POST || HTTP_1.0 || HTTP_URL_ABS",
            &get
        ));
        assert!(eval("if HTTP_URL_ABS", &TestSample::get("http://h/x")));
        assert!(eval("if METH_GET", &get.clone().method("HEAD")));
        assert!(eval("if LOCALHOST", &get.clone().src("127.0.0.2:1")));
        assert!(eval("if LOCALHOST", &get.clone().src("[::1]:1")));
        assert!(!eval("if LOCALHOST", &get));
        assert!(!eval("if HTTP_CONTENT || REQ_CONTENT", &get));
        let mut post = get.clone().method("POST").header("Content-Length", "3");
        post.req_len = 100;
        assert!(eval("if METH_POST HTTP_CONTENT REQ_CONTENT", &post));
        for m in ["CONNECT", "DELETE", "OPTIONS", "PUT", "TRACE"] {
            let r = get.clone().method(m);
            assert!(eval(&format!("if METH_{m}"), &r), "{m}");
            assert!(!eval("if METH_GET", &r), "{m}");
        }
    }

    #[test]
    fn errors_name_the_culprit() {
        let mut s = set();
        let e = |c: &str, s: &mut AclSet| Condition::parse(&w(c), s, None).unwrap_err();
        assert_eq!(e("if nope", &mut s), "no such ACL : 'nope'");
        assert!(e("if is_api ||", &mut s).contains("missing ACL"));
        assert!(e("if || is_api", &mut s).contains("missing ACL"));
        assert!(e("if", &mut s).contains("missing ACL"));
        assert!(e("if !", &mut s).contains("missing ACL"));
        assert!(e("when x", &mut s).contains("'if' or 'unless'"));
        assert!(e("if { path /x", &mut s).contains("missing closing"));
        assert!(e("if { }", &mut s).contains("empty"));
        assert!(e("if { nofetch x }", &mut s).contains("nofetch"));
        let err = s.add_line(&w("bad/name path /"), None).unwrap_err();
        assert!(err.contains("bad/name"));
        let err = s.add_line(&w("x path -m foo /"), None).unwrap_err();
        assert!(
            err.starts_with("in ACL 'x': unknown match method 'foo'"),
            "{err}"
        );
    }

    #[test]
    fn same_name_lines_are_ored_and_indexed_once() {
        let s = set();
        assert_eq!(s.len(), 3);
        assert_eq!(s.name(1), "is_img");
    }
}
