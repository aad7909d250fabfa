//! `ringlb::tls::ocsp::check` and `ringlb::tls::ocsp_text::haproxy_dump`
//! (`show ssl ocsp-response <id>`'s text): a DER OCSP response, as a
//! `<crt>.ocsp` file or `set ssl ocsp-response` on the stats socket hands
//! it over.
//!
//! Input: arbitrary bytes (the seed corpus holds a real response from
//! `openssl ocsp`).
//!
//! Properties:
//! - never panics, whatever the lengths and tags say;
//! - an accepted response's certificate ID lies inside the input, is one
//!   whole DER SEQUENCE, and checking the same bytes again gives the same
//!   answer; its `nextUpdate` is not more than the skew in the past;
//! - a refusal is one of HAProxy's texts;
//! - the text dump never panics, and has no empty line (HAProxy's CLI
//!   would read one as the end of the answer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::tls::ocsp::check;
use ringlb::tls::ocsp_text::haproxy_dump;

/// 2026-12-06T12:00:00Z: a fixed "now", so a finding replays (the seeds
/// are valid then).
const NOW: i64 = 1_796_558_400;

const TEXTS: &[&str] = &[
    "Unable to parse OCSP response",
    "OCSP response status not successful",
    "Failed to get basic response from OCSP Response",
    "Failed to get OCSP single response",
    "OCSP single response: certificate status is unknown",
    "OCSP single response: missing nextupdate",
    "OCSP single response: no longer valid.",
];

fuzz_target!(|data: &[u8]| {
    if let Some(text) = haproxy_dump(data) {
        assert!(!text.contains("\n\n"), "{text}");
    }
    match check(data, NOW) {
        Ok(c) => {
            let start = c.cert_id.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + c.cert_id.len() <= data.len());
            assert_eq!(c.cert_id.first(), Some(&0x30));
            assert!(c.next_update >= NOW - 300);
            assert_eq!(check(data, NOW), Ok(c));
        }
        Err(e) => assert!(
            TEXTS.contains(&e.as_str())
                || e.starts_with("OCSP response ignored because contains multiple single responses ("),
            "{e}"
        ),
    }
});
