//! `ringlb::tls::ciphers`: OpenSSL cipher-list expressions (`ciphers`,
//! `ssl-default-bind-ciphers`), TLS 1.3 `ciphersuites` and `curves`,
//! evaluated at load time into what rustls implements.
//!
//! Input: arbitrary bytes, read as text (lossy UTF-8).
//!
//! Properties:
//! - never panics (nor do `tls13_suites` and `curves`);
//! - the result holds only TLS 1.2 suites rustls's provider has, each once;
//! - `!X` removes X for good: no suite that `X` alone selects is in the
//!   result, and appending `:!X` to a list gives the list's result without
//!   X's suites, in the same order (or an error when nothing is left);
//! - `-X` at the end removes the same suites, and `!X` before `X` keeps X out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::tls::ciphers::{curves, tls12_suites, tls13_suites};
use rustls::CipherSuite;
use rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;

/// The suites `list` yields (empty on error).
fn eval(list: &str) -> Option<Vec<CipherSuite>> {
    tls12_suites(list)
        .ok()
        .map(|v| v.iter().map(|s| s.suite()).collect())
}

/// What `list` yields once `x`'s suites are taken out; `None` when empty.
fn without(list: &[CipherSuite], x: &[CipherSuite]) -> Option<Vec<CipherSuite>> {
    let v: Vec<CipherSuite> = list.iter().copied().filter(|s| !x.contains(s)).collect();
    (!v.is_empty()).then_some(v)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = tls13_suites(&text);
    let _ = curves(&text);
    let Some(got) = eval(&text) else { return };
    for (i, s) in got.iter().enumerate() {
        assert!(
            ALL_CIPHER_SUITES
                .iter()
                .any(|a| a.suite() == *s && a.version() == &rustls::version::TLS12),
            "{text:?}: {s:?} is not a TLS 1.2 suite rustls has"
        );
        assert!(!got[..i].contains(s), "{text:?}: {s:?} twice");
    }
    for item in text.split([':', ',', ' ']) {
        if let Some(x) = item.strip_prefix('!') {
            let killed = eval(x).unwrap_or_default();
            assert!(
                got.iter().all(|s| !killed.contains(s)),
                "{text:?}: '!{x}' but {got:?} holds some of {killed:?}"
            );
        }
    }
    // The last word of the input as X (an alias or name most of the time).
    let x = text.rsplit([':', ',', ' ']).next().unwrap_or("");
    let x = x.trim_start_matches(['!', '-', '+']);
    if x.is_empty() || x.starts_with('@') {
        return;
    }
    let xs = eval(x).unwrap_or_default();
    let expect = without(&got, &xs);
    assert_eq!(eval(&format!("{text}:!{x}")), expect, "{text:?} :!{x}");
    assert_eq!(eval(&format!("{text}:-{x}")), expect, "{text:?} :-{x}");
    let after = eval(&format!("!{x}:{text}:{x}"));
    if let Some(after) = after {
        assert!(
            after.iter().all(|s| !xs.contains(s)),
            "!{x}:{text:?}:{x} → {after:?}"
        );
    }
});
