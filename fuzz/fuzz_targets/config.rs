//! The configuration loader on arbitrary text.
//!
//! Input: configuration text (decoded leniently, as `load_files` does); a NUL
//! byte splits it into two files, loaded in order like `-f a.cfg -f b.cfg`.
//! Fuzz builds (`--cfg fuzzing`) never call the system resolver or NSS
//! (`config/address.rs`, `config/kw/global.rs`), so no input sends a query.
//!
//! Properties:
//! - errors and warnings each name `file:line` of a line that exists, are one
//!   line, and come in file order;
//! - a configuration that loads is consistent: every frontend's backend
//!   exists, the runtime builds from it, and every backend's balancer picks
//!   only its own servers;
//! - loading is deterministic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::balance::{self, PickInput};
use ringlb::config::{load_with_env, model::Origin};
use ringlb::runtime::Shared;

/// A fixed environment for `"${VAR}"`.
fn env(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("8080".into()),
        "ADDR" => Some("127.0.0.1".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\0').unwrap_or((&text, ""));
    let sources = [("a.cfg", a), ("b.cfg", b)];
    // The line count of each file as `str::lines` sees it, plus one for an
    // error at the end of a file (an unterminated section).
    let lines = |file: &str| -> usize {
        let t = if file == "a.cfg" { a } else { b };
        t.split('\n').count()
    };
    let check_origin = |o: &Origin, what: &str| {
        assert!(
            (o.file == "a.cfg" || o.file == "b.cfg") && o.line >= 1 && o.line <= lines(&o.file),
            "{what} at {o}, outside the files ({} and {} lines)",
            lines("a.cfg"),
            lines("b.cfg")
        );
    };
    let rank = |o: &Origin| (o.file != "a.cfg", o.line);
    match load_with_env(&sources, &env) {
        Err(e) => {
            assert!(!e.errors.is_empty(), "an error without a message");
            let mut last = (false, 0);
            for msg in &e.errors {
                assert!(!msg.contains('\n'), "error on several lines: {msg:?}");
                let (file, rest) = msg.split_once(':').expect("error without file:line");
                let (line, text) = rest.split_once(": ").expect("error without file:line");
                let line: usize = line
                    .parse()
                    .unwrap_or_else(|_| panic!("error without a line number: {msg:?}"));
                let o = Origin {
                    file: file.to_string(),
                    line,
                };
                check_origin(&o, msg);
                assert!(!text.is_empty(), "empty error message: {msg:?}");
                assert!(rank(&o) >= last, "errors out of file order");
                last = rank(&o);
            }
        }
        Ok(loaded) => {
            let mut last = (false, 0);
            for w in &loaded.warnings {
                check_origin(&w.origin, &w.message);
                assert!(!w.message.contains('\n'), "warning on several lines: {w:?}");
                assert!(rank(&w.origin) >= last, "warnings out of file order");
                last = rank(&w.origin);
            }
            let config = &loaded.config;
            // Every backend a frontend can send to exists. One with nowhere
            // to send (no default, no use_backend rule) is accepted as
            // HAProxy does; in `mode tcp` it is always warned about (every
            // connection closes), in `mode http` unless it answers itself.
            let n = config.backends.len();
            for f in &config.frontends {
                if f.backend.is_none() && f.routing.rules.is_empty() {
                    let warned = loaded.warnings.iter().any(|w| {
                        w.message
                            .starts_with(&format!("frontend '{}' has no 'default_backend'", f.name))
                            || w.message.starts_with(&format!(
                                "listen '{}' has no 'default_backend'",
                                f.name
                            ))
                    });
                    assert!(
                        warned || f.mode == ringlb::config::model::Mode::Http,
                        "frontend {} has nowhere to send and no warning says so",
                        f.name
                    );
                }
                assert!(
                    f.backend.is_none_or(|b| b < n)
                        && f.routing.rules.iter().all(|r| r.backend < n),
                    "frontend {} names a backend that does not exist",
                    f.name
                );
            }
            let shared = Shared::build(config, false, 1);
            let input = PickInput {
                client: Some("192.0.2.1".parse().unwrap()),
                uri: Some("/a/b?x=1&y=2"),
                head: Some(b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nCookie: mstshash=u\r\n\r\n"),
                payload: Some(b"\x03\x00\x00\x13Cookie: mstshash=u\r\n"),
                ..PickInput::default()
            };
            for (b, rt) in config.backends.iter().zip(&shared.backends) {
                let mut lb = balance::for_backend(b, &rt.rotation);
                for exclude in [None, Some(0)] {
                    if let Some(i) = lb.pick(&rt.servers, &input, exclude) {
                        assert!(i < b.servers.len(), "backend {} picked server {i}", b.name);
                    }
                }
            }
            // The same text loads to the same configuration.
            let again = load_with_env(&sources, &env).expect("loads once, not twice");
            assert_eq!(&again.config, config, "loading is not deterministic");
        }
    }
});
