//! What servers and clients send to the checks, the exporter and the stats
//! page's form: agent reply lines (`check/agent.rs`), HTTP check answers
//! (`check/http_rules.rs`), the exporter's query string
//! (`stats/prometheus.rs`) and the form's url-encoded values
//! (`stats/admin.rs`).
//!
//! Input: the first byte chooses the parser; the rest is the bytes.
//!
//! Properties:
//! - nothing panics;
//! - an agent line means the same whichever separator (space, tab, comma)
//!   stands between its words (before a `#` comment);
//! - a parsed check answer has a status of three digits and a body that is the
//!   input's tail; a complete answer has a head;
//! - adding `no-maint` to an accepted exporter query keeps its scopes;
//! - any text percent-encoded byte by byte decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::check::{agent, http_rules};
use ringlb::stats::{admin, prometheus};

fn agent_line(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    let reply = agent::parse(&line);
    // Rotate the separators of the words (not of the comment).
    let (words, comment) = match line.find('#') {
        Some(i) => line.split_at(i),
        None => (&line[..], ""),
    };
    let rotated: String = words
        .chars()
        .map(|c| match c {
            ' ' => '\t',
            '\t' => ',',
            ',' => ' ',
            c => c,
        })
        .collect();
    let again = agent::parse(&format!("{rotated}{comment}"));
    assert_eq!(reply, again, "separators changed the meaning of {line:?}");
}

fn check_answer(data: &[u8]) {
    if let Some(a) = http_rules::parse_answer(data) {
        // Three digits, as HAProxy's parser reads them (`003` is 3: a wrong status).
        assert!(a.code <= 999, "status {} from {data:?}", a.code);
        assert!(data.ends_with(&a.body), "body not the input's tail");
    }
    if http_rules::answer_complete(data) {
        assert!(data.windows(4).any(|w| w == b"\r\n\r\n"));
    }
}

fn exporter_query(data: &[u8]) {
    let mut uri = b"/metrics?".to_vec();
    uri.extend_from_slice(data);
    if let Some(q) = prometheus::parse_query(&uri) {
        uri.extend_from_slice(b"&no-maint");
        let more = prometheus::parse_query(&uri).expect("no-maint refused");
        assert!(more.no_maint);
        assert_eq!(more.scopes, q.scopes);
    }
}

fn form_value(data: &[u8]) {
    let _ = admin::url_decode(&String::from_utf8_lossy(data));
    let text = String::from_utf8_lossy(data);
    let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(admin::url_decode(&encoded).as_deref(), Some(&text[..]));
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, data)) = input.split_first() else {
        return;
    };
    match which % 4 {
        0 => agent_line(data),
        1 => check_answer(data),
        2 => exporter_query(data),
        _ => form_value(data),
    }
});
