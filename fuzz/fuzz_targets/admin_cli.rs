//! The stats socket's command line (`ringlb::admin::cli`).
//!
//! Input: one byte choosing the socket's level (user, operator, admin), then
//! what a client sends on the socket, cut into commands as the listener does
//! (and the unterminated rest run last, as when the client closes). Each run
//! starts from a fresh runtime, so a finding replays alike.
//!
//! Properties:
//! - `next_command` consumes at least one byte and no more than it has;
//! - a command's words round-trip: escaped and joined again they read back
//!   the same, and make one command ending at the same place;
//! - every answer that is not a listing (`help`, any `show ...`) is at most
//!   one line, so that a script splitting answers at the empty line cannot
//!   be misled; a listing that failed is one line too; no answer holds an
//!   empty line before its end.
#![no_main]

use std::sync::Arc;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringlb::admin::cli::{self, After, Level, Session};
use ringlb::config::{load_with_env, model::Config};
use ringlb::runtime::Shared;

/// Two backends (one static-rr, for the weight rules); state changes are
/// logged to a Unix socket that does not exist, so they cost nothing.
const CONFIG: &str = "\
defaults
 mode http
 timeout connect 1s
 timeout client 1s
 timeout server 1s
 log unix@/nonexistent/ringlb-fuzz.sock local0
listen web
 bind 127.0.0.1:1
 server a 127.0.0.1:2 weight 10
 server b 127.0.0.1:3 backup
backend st
 balance static-rr
 server c 127.0.0.1:4
";

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        load_with_env(&[("cli.cfg", CONFIG)], &|_| None)
            .expect("the CLI configuration loads")
            .config
    })
}

/// Escapes a word so that `cli::words` reads it back as it is.
fn escape(word: &str) -> String {
    let mut s = String::new();
    for c in word.chars() {
        if matches!(c, ' ' | '\t' | '\\' | ';' | '\n' | '\r') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn check(session: &mut Session<'_>, cmd: &str) -> After {
    let words = cli::words(cmd);
    // Round trip: the words, escaped and joined, are one command again.
    let joined = words
        .iter()
        .map(|w| escape(w))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(cli::words(&joined), words, "words do not round-trip");
    let mut line = joined.clone().into_bytes();
    line.push(b'\n');
    assert_eq!(
        cli::next_command(&line),
        Some((joined.clone(), line.len())),
        "an escaped command does not end at its line feed"
    );

    let (answer, after) = session.run(cmd);
    let listing = matches!(
        words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        // Every `show` lists (info, stat, servers state|conn, activity,
        // sess, errors, table, schema, ssl cert|crt-list|ocsp-response);
        // its failures are checked below.
        ["help", ..] | ["show", ..]
    ) || answer.starts_with("Unknown command");
    if !listing || answer.ends_with("not supported by ringlb\n") {
        let body = answer.strip_suffix('\n').unwrap_or(&answer);
        assert!(
            !body.contains('\n') && !body.contains('\r'),
            "a one-line answer on several lines: {cmd:?} -> {answer:?}"
        );
    }
    // No answer holds an empty line: the client reads one as the end of it.
    assert!(
        !answer.trim_end_matches('\n').contains("\n\n"),
        "an empty line inside an answer: {cmd:?} -> {answer:?}"
    );
    // A listing that failed is a one-line message too.
    for msg in [
        "Certificate ID does not match",
        "ringlb cannot print an OCSP response",
        "ringlb supports only",
        "ringlb knows only",
        "Invalid ",
        "Usage: show stat",
        "Can't find",
    ] {
        if answer.starts_with(msg) {
            assert_eq!(answer.lines().count(), 1, "{cmd:?} -> {answer:?}");
        }
    }
    after
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut buf)) = data.split_first() else {
        return;
    };
    let level = match sel % 3 {
        0 => Level::User,
        1 => Level::Operator,
        _ => Level::Admin,
    };
    let shared: Arc<Shared> = Shared::build(config(), false, 1);
    let mut session = Session::new(&shared, level);
    while let Some((cmd, used)) = cli::next_command(buf) {
        assert!(
            used >= 1 && used <= buf.len(),
            "used {used} of {}",
            buf.len()
        );
        assert!(cmd.len() <= used * 3, "the command grew");
        buf = &buf[used..];
        if check(&mut session, &cmd) == After::Quit {
            return;
        }
    }
    if !buf.is_empty() && buf.len() <= cli::MAX_COMMAND {
        let last = String::from_utf8_lossy(buf).into_owned();
        check(&mut session, &last);
    }
});
