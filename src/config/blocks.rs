//! Conditional blocks and messages (configuration.txt §2.4): `.if`, `.elif`,
//! `.else`, `.endif`, `.diag`, `.notice`, `.warning`, `.alert`.
//!
//! Runs on each line's words before the section parser: it decides whether
//! the line is active and consumes the directives. Lines inside a branch not
//! taken are dropped, nested `.if` there are not evaluated (as HAProxy).

use super::cond;
use super::lex::EnvLookup;
use super::model::Origin;
use super::parse::Ctx;

/// Where one open `.if` stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// The current branch is taken.
    Taken,
    /// No branch taken yet: a later `.elif`/`.else` may be.
    Pending,
    /// A branch was taken already, or the enclosing block is not: skip the rest.
    Closed,
}

/// One open `.if`.
#[derive(Debug)]
struct Frame {
    state: State,
    seen_else: bool,
}

/// The stack of open `.if` blocks across all files of one load.
#[derive(Debug, Default)]
pub struct Blocks {
    stack: Vec<Frame>,
}

impl Blocks {
    /// Whether lines are taken at this point.
    fn active(&self) -> bool {
        self.stack.iter().all(|f| f.state == State::Taken)
    }

    /// Handles one line's words: `true` when the section parser should see it.
    pub fn line(&mut self, cx: &mut Ctx<'_>, words: &[String], env: EnvLookup<'_>) -> bool {
        let kw = words[0].as_str();
        let cond = || words[1..].join(" ");
        match kw {
            ".if" => {
                let state = if !self.active() {
                    State::Closed
                } else {
                    match eval(cx, &cond(), env, kw) {
                        true => State::Taken,
                        false => State::Pending,
                    }
                };
                self.stack.push(Frame {
                    state,
                    seen_else: false,
                });
            }
            ".elif" | ".else" => self.branch(cx, kw, &cond(), env),
            ".endif" => {
                if self.stack.pop().is_none() {
                    cx.error("lone '.endif' with no matching '.if'.");
                }
            }
            _ if !self.active() => {}
            ".diag" | ".notice" | ".warning" | ".alert" => message(cx, words),
            _ if kw.starts_with('.') => cx.error(format!("unknown directive '{kw}'.")),
            _ => return true,
        }
        false
    }

    /// `.elif <cond>` / `.else`.
    fn branch(&mut self, cx: &mut Ctx<'_>, kw: &str, cond: &str, env: EnvLookup<'_>) {
        let Some(top) = self.stack.last() else {
            cx.error(format!("lone '{kw}' with no matching '.if'."));
            return;
        };
        if top.seen_else {
            cx.error(format!("'{kw}' after '.else' is not permitted."));
            return;
        }
        let next = match top.state {
            State::Taken | State::Closed => State::Closed,
            State::Pending if kw == ".else" || eval(cx, cond, env, kw) => State::Taken,
            State::Pending => State::Pending,
        };
        let top = self.stack.last_mut().expect("checked above");
        top.state = next;
        top.seen_else = kw == ".else";
    }

    /// At the end of each file: blocks do not span files (HAProxy reads each
    /// file on its own). One error, at the file's last line, as HAProxy.
    pub fn end_of_file(&mut self, diag: &mut super::parse::Diag, last: &Origin) {
        if !self.stack.is_empty() {
            diag.error_at(last, "non-terminated '.if' block.");
            self.stack.clear();
        }
    }
}

/// Evaluates a condition; an error is reported and counts as false.
fn eval(cx: &mut Ctx<'_>, text: &str, env: EnvLookup<'_>, kw: &str) -> bool {
    cond::eval(text, env).unwrap_or_else(|e| {
        cx.error(format!("{e} in '{kw}'"));
        false
    })
}

/// `.notice "text"` and friends: exactly one argument.
fn message(cx: &mut Ctx<'_>, words: &[String]) {
    let kw = words[0].as_str();
    if let Some(extra) = words.get(2) {
        cx.error(format!(
            "Unexpected argument '{extra}' for '{kw}'. Use quotes if the message should contain spaces."
        ));
        return;
    }
    let text = format!("'{}'.", words.get(1).map(String::as_str).unwrap_or(""));
    match kw {
        ".alert" => cx.error(text),
        ".warning" => cx.warn(text),
        ".notice" => cx.notice(text),
        // Printed only in diagnostic mode (`-dD`), as HAProxy.
        _ => cx.diag(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::Diag;

    /// Runs lines through the blocks; returns the lines passed on and the diagnostics.
    fn run(text: &str) -> (Vec<String>, Diag) {
        let mut b = Blocks::default();
        let mut diag = Diag::default();
        let mut kept = Vec::new();
        let env = |n: &str| (n == "SET").then(String::new);
        for (i, line) in text.lines().enumerate() {
            let words = crate::config::lex::split_line(line, &env).unwrap();
            if words.is_empty() {
                continue;
            }
            let mut cx = Ctx {
                origin: Origin {
                    file: "t.cfg".into(),
                    line: i + 1,
                },
                diag: &mut diag,
            };
            if b.line(&mut cx, &words, &env) {
                kept.push(words.join(" "));
            }
        }
        let last = Origin {
            file: "t.cfg".into(),
            line: text.lines().count(),
        };
        b.end_of_file(&mut diag, &last);
        (kept, diag)
    }

    #[test]
    fn branches() {
        let (kept, d) = run(
            "a\n.if 0\nb\n.elif defined(SET)\nc\n.elif 1\nd\n.else\ne\n.endif\n\
             .if 0\nf\n.else\ng\n.endif\n",
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(kept, ["a", "c", "g"]);
    }

    #[test]
    fn nesting_skips_inner_conditions() {
        let (kept, d) =
            run(".if 0\n.if bogus(\nx\n.endif\n.alert \"no\"\n.else\n.if 1\ny\n.endif\n.endif\n");
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(kept, ["y"]);
    }

    #[test]
    fn unbalanced_blocks_name_the_line() {
        let (_, d) = run("x\n.if 1\n.if 1\ny\n");
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].0.line, 4);
        assert!(d.errors[0].1.contains("non-terminated '.if'"));
        let (_, d) = run(".endif\n.else\n.elif 1\n");
        let msgs: Vec<_> = d.errors.iter().map(|(o, m)| (o.line, m.as_str())).collect();
        assert_eq!(
            msgs,
            [
                (1, "lone '.endif' with no matching '.if'."),
                (2, "lone '.else' with no matching '.if'."),
                (3, "lone '.elif' with no matching '.if'."),
            ]
        );
        let (_, d) = run(".if 1\n.else\n.elif 1\n.else\n.endif\n");
        assert_eq!(d.errors.len(), 2);
        assert!(d.errors[0].1.contains("'.elif' after '.else'"));
    }

    #[test]
    fn messages() {
        let (_, d) = run(".notice \"n\"\n.warning \"w\"\n.diag \"d\"\n.alert \"a\"\n.notice a b\n");
        assert_eq!(d.notices[0].message, "'n'.");
        assert_eq!(d.warnings[0].message, "'w'.");
        assert_eq!(d.errors[0].1, "'a'.");
        assert!(
            d.errors[1]
                .1
                .contains("Unexpected argument 'b' for '.notice'")
        );
        assert_eq!(d.errors.len(), 2);
        // `.diag` is kept apart, for diagnostic mode (`-dD`) only.
        assert_eq!(d.diags.len(), 1);
        assert_eq!((d.diags[0].origin.line, &*d.diags[0].message), (3, "'d'."));
    }

    #[test]
    fn bad_condition_is_an_error() {
        let (_, d) = run(".if foo(1)\n.endif\n");
        assert!(d.errors[0].1.contains("'.if'"), "{:?}", d.errors);
    }
}
