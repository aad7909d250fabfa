//! Conditions of `.if`/`.elif` and `-cc` (configuration.txt §2.4), as HAProxy 2.6.
//!
//! A condition is the line's words joined by spaces, then parsed as
//! `term (('&&' | '||') term)*` (`&&` binds tighter), where a term is `!term`,
//! `(expr)`, an integer (0 is false) or a predicate: `defined(name)`,
//! `feature(name)`, `streq(a,b)`, `strneq(a,b)`, `version_atleast(v)`,
//! `version_before(v)`. An empty condition is false, as in HAProxy.

use super::lex::EnvLookup;

/// The HAProxy version ringlb answers `version_atleast`/`version_before` with.
///
/// ringlb implements HAProxy 2.6's syntax and is tested against HAProxy
/// 2.6.12; claiming that exact release makes configurations pick the same
/// branch as the oracle does.
pub const HAPROXY_VERSION: &str = "2.6.12";

/// Build features `feature(<name>)` is true for, as in `haproxy -vv`'s list.
///
/// Only what ringlb really has: `EPOLL` (the fallback driver), `THREAD`
/// (thread per core), `CPU_AFFINITY` (workers are pinned to cores) and
/// `OPENSSL` (TLS, with rustls; configurations test it before `ssl`
/// keywords). Everything else — `LUA`, `PCRE2`, `ZLIB`, `SLZ`,
/// `QUIC`, `PROMEX`, `LINUX_SPLICE`, `TPROXY`, ... — is false.
pub const FEATURES: &[&str] = &["CPU_AFFINITY", "EPOLL", "OPENSSL", "THREAD"];

/// Evaluates a condition; the error names the position like HAProxy's.
pub fn eval(text: &str, env: EnvLookup<'_>) -> Result<bool, String> {
    let mut p = CondParser {
        s: text.as_bytes(),
        pos: 0,
        env,
    };
    p.skip_blanks();
    if p.pos == p.s.len() {
        return Ok(false);
    }
    let v = p
        .expr()
        .map_err(|e| format!("{e} in conditional expression '{text}'"))?;
    p.skip_blanks();
    if let Some(&c) = p.s.get(p.pos) {
        return Err(format!(
            "unexpected character '{}' at the end of conditional expression '{text}' at position {}",
            c as char,
            p.pos + 1
        ));
    }
    Ok(v)
}

/// A recursive-descent parser over the condition's bytes.
struct CondParser<'a, 'e> {
    s: &'a [u8],
    pos: usize,
    env: EnvLookup<'e>,
}

impl CondParser<'_, '_> {
    fn skip_blanks(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Consumes `op` if it comes next (after blanks).
    fn eat(&mut self, op: &str) -> bool {
        self.skip_blanks();
        if self.s[self.pos..].starts_with(op.as_bytes()) {
            self.pos += op.len();
            true
        } else {
            false
        }
    }

    /// `and ('||' and)*`; every operand is parsed (errors are errors) before combining.
    fn expr(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.term()?;
        while self.eat("&&") {
            let r = self.term()?;
            v = v && r;
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<bool, String> {
        self.skip_blanks();
        let at = self.pos + 1;
        if self.eat("!") {
            return Ok(!self.term()?);
        }
        if self.eat("(") {
            let v = self.expr()?;
            if !self.eat(")") {
                return Err(format!("expected ')' at position {}", self.pos + 1));
            }
            return Ok(v);
        }
        let start = self.pos;
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let digits = self.s[self.pos..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            self.pos += digits;
            let n = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("0");
            return Ok(n.parse::<i64>().map(|n| n != 0).unwrap_or(true));
        }
        self.pos = start;
        let len = self.s[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        let name = String::from_utf8_lossy(&self.s[start..start + len]).into_owned();
        self.pos += len;
        if len == 0 || self.s.get(self.pos) != Some(&b'(') {
            return Err(format!("unparsable term at position {at}"));
        }
        self.pos += 1;
        let args = self.args(&name)?;
        self.predicate(&name, &args, at)
    }

    /// The arguments up to `)`, split on commas, as written.
    fn args(&mut self, name: &str) -> Result<Vec<String>, String> {
        let close = self.s[self.pos..]
            .iter()
            .position(|&c| c == b')')
            .ok_or_else(|| format!("missing ')' after the arguments of predicate '{name}'"))?;
        let inner = String::from_utf8_lossy(&self.s[self.pos..self.pos + close]).into_owned();
        self.pos += close + 1;
        if inner.is_empty() {
            return Ok(Vec::new());
        }
        Ok(inner.split(',').map(str::to_string).collect())
    }

    fn predicate(&self, name: &str, args: &[String], at: usize) -> Result<bool, String> {
        let want = match name {
            "defined" | "feature" | "version_atleast" | "version_before" => 1,
            "streq" | "strneq" => 2,
            _ => return Err(format!("unknown predicate '{name}' at position {at}")),
        };
        if args.len() != want {
            return Err(format!(
                "predicate '{name}' expects {want} argument(s), got {}",
                args.len()
            ));
        }
        Ok(match name {
            "defined" => (self.env)(&args[0]).is_some(),
            "feature" => FEATURES.contains(&args[0].as_str()),
            "streq" => args[0] == args[1],
            "strneq" => args[0] != args[1],
            "version_atleast" => version_cmp(HAPROXY_VERSION, &args[0]) != std::cmp::Ordering::Less,
            _ => version_cmp(HAPROXY_VERSION, &args[0]) == std::cmp::Ordering::Less,
        })
    }
}

/// Compares dotted versions numerically (`2.6.12` > `2.6.2`); missing parts are 0.
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| {
                let d: String = p.chars().take_while(char::is_ascii_digit).collect();
                d.parse().unwrap_or(0)
            })
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    let n = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| at(&a, i).cmp(&at(&b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn ev(s: &str) -> bool {
        eval(s, &env).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn numbers_and_empty() {
        assert!(!ev(""));
        assert!(!ev("0"));
        assert!(ev("1"));
        assert!(ev("007"));
        assert!(ev("-1"));
    }

    #[test]
    fn predicates() {
        assert!(ev("defined(SET)") && ev("defined(EMPTY)") && !ev("defined(NOPE)"));
        assert!(ev("feature(THREAD)") && ev("feature(OPENSSL)") && !ev("feature(LUA)"));
        assert!(ev("streq(a b,a b)") && !ev("streq(a,b)") && ev("strneq(a,b)"));
        assert!(ev("version_atleast(2.4)") && ev("version_atleast(2.6.12)"));
        assert!(!ev("version_atleast(2.6.13)") && !ev("version_atleast(2.7)"));
        assert!(ev("version_before(2.7)") && !ev("version_before(2.6.12)"));
        assert!(!ev("version_before(2.6.1)"));
    }

    #[test]
    fn operators() {
        assert!(ev("!0") && !ev("!1") && ev("!!1"));
        assert!(ev("0 || (1 && !0)"));
        assert!(!ev("1 && 0"));
        assert!(ev("1 || 0 && 0"));
        assert!(ev("defined(SET) && 1"));
    }

    #[test]
    fn errors() {
        for bad in [
            "x",
            "foo(1)",
            "1 2",
            "(1",
            "streq(a)",
            "defined(A,B)",
            "defined(A",
        ] {
            assert!(eval(bad, &env).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("2.6.12", "2.6.2"), Greater);
        assert_eq!(version_cmp("2.6", "2.6.0"), Equal);
        assert_eq!(version_cmp("2.6.12", "2.10"), Less);
    }
}
