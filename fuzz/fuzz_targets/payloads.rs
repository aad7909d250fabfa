//! The parsers of raw client bytes the ACL fetches read: the TLS ClientHello
//! (`req.ssl_sni`, `req.ssl_hello_type`, `req.ssl_ver`), length-prefixed
//! payloads (`req.payload_lv`), and the `Authorization` header
//! (`http_auth*`, `auth/basic.rs`).
//!
//! Input: the first byte chooses the parser and a cut point; the rest is the
//! bytes (or the header value).
//!
//! Properties:
//! - nothing panics;
//! - a server name is a slice of the input, and what the first bytes of a
//!   hello decide, more bytes never change (a rule that decided while
//!   waiting for data decided right);
//! - Basic credentials: the user has no `:`, and encoding `user:pass` again
//!   parses back to the same pair.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::acl::payload::{self, Got, LvStart};
use ringlb::auth::basic::{self, Credentials};

fn encode(input: &[u8]) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fn settled<T: PartialEq + std::fmt::Debug>(short: Got<T>, long: Got<T>, what: &str) {
    if !matches!(short, Got::Short) {
        assert_eq!(short, long, "{what}: more bytes changed a decided answer");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        let mut buf = Vec::new();
        if let Some(Credentials::Basic { user, pass }) = basic::parse(rest, &mut buf) {
            assert!(!user.contains(&b':'), "user {user:?}");
            if user.contains(&0) || pass.contains(&0) {
                return;
            }
            let mut pair = user.to_vec();
            pair.push(b':');
            pair.extend_from_slice(pass);
            let mut value = b"Basic ".to_vec();
            value.extend_from_slice(&encode(&pair));
            let mut buf2 = Vec::new();
            let again = basic::parse(&value, &mut buf2);
            assert_eq!(again, Some(Credentials::Basic { user, pass }), "round trip");
        }
        return;
    }
    let cut = (sel as usize >> 1) % (rest.len() + 1);
    let (head, all) = (&rest[..cut], rest);
    if let Got::Found(name) = payload::ssl_sni(all) {
        let (a, n) = (all.as_ptr() as usize, name.as_ptr() as usize);
        assert!(n >= a && n + name.len() <= a + all.len(), "name outside the input");
    }
    settled(payload::ssl_sni(head), payload::ssl_sni(all), "ssl_sni");
    settled(payload::ssl_hello_type(head), payload::ssl_hello_type(all), "ssl_hello_type");
    settled(payload::ssl_ver(head), payload::ssl_ver(all), "ssl_ver");
    for start in [LvStart::After, LvStart::At(2)] {
        let _ = payload::payload_lv(all, 1, 2, start, 1 << 16);
    }
});
