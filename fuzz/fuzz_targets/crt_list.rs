//! `ringlb::tls::crt_list::parse`: a `crt-list` file's text (one
//! certificate a line, `[options]`, SNI filters).
//!
//! Input: arbitrary bytes, read as text (lossy UTF-8).
//!
//! Properties:
//! - never panics;
//! - a parse that succeeds yields exactly one line per non-empty,
//!   non-comment input line;
//! - every parsed line's certificate path is non-empty, holds no
//!   whitespace, and is the first word of an input line (no `crt-base` here);
//! - its SNI filters come from the rest of that same input line (ASCII
//!   lowercased), `!` filters without their `!`, none holds whitespace;
//! - an error names its line (`line N: ...`) or says the list is empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::tls::crt_list::parse;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let content: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let lines = match parse(&text, &mut |_| {}) {
        Ok(l) => l,
        Err(e) => {
            assert!(
                e.starts_with("line ") || e == "holds no certificate",
                "{text:?}: {e}"
            );
            return;
        }
    };
    assert_eq!(lines.len(), content.len(), "{text:?}");
    for (l, src) in lines.iter().zip(&content) {
        assert!(!l.crt.is_empty(), "{text:?}: empty path");
        assert!(
            !l.crt.contains(char::is_whitespace),
            "{text:?}: {:?}",
            l.crt
        );
        let first = src.split_whitespace().next().unwrap();
        assert_eq!(l.crt, first, "{text:?}");
        // Filters follow the path (and the `[...]` options) on the same line.
        let lower = src.to_ascii_lowercase();
        let tail = &lower[first.len()..];
        for f in &l.filters {
            assert!(
                !f.is_empty() && !f.contains(char::is_whitespace),
                "{text:?}: {f:?}"
            );
            assert!(tail.contains(f.as_str()), "{text:?}: filter {f:?}");
            assert!(!f.starts_with('!'), "{text:?}: {f:?}");
        }
        for n in &l.negs {
            assert!(!n.contains(char::is_whitespace), "{text:?}: {n:?}");
            assert!(tail.contains(&format!("!{n}")), "{text:?}: !{n:?}");
        }
    }
});
