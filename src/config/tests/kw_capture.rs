//! `capture ...`, `declare capture`, `unique-id-format`, `unique-id-header`:
//! where HAProxy 2.6 allows them and what it says otherwise (checked with
//! `haproxy -c` on the same lines).

use super::*;
use crate::log::capture::{CaptureSpec, CookieSpec, Slot};

fn slot(h: Option<&str>, len: usize) -> Slot {
    Slot {
        header: h.map(Into::into),
        len,
    }
}

#[test]
fn captures_in_declaration_order() {
    let f = fe(
        "    capture request header Host len 20\n    declare capture request len 5\n    \
         capture response header Content-Length len 10\n    capture cookie SESS len 100\n    \
         capture cookie JSESSIONID= len 32\n    declare capture response len 8",
    );
    assert_eq!(
        f.captures.as_deref(),
        Some(&CaptureSpec {
            request: vec![slot(Some("Host"), 20), slot(None, 5)],
            response: vec![slot(Some("Content-Length"), 10), slot(None, 8)],
            // The last cookie capture wins.
            cookie: Some(CookieSpec {
                prefix: "JSESSIONID=".into(),
                len: 32
            }),
        })
    );
    assert_eq!(fe("").captures, None);
}

#[test]
fn cookie_length_is_cut_to_63_with_a_warning() {
    let w = warns("    capture cookie a len 100");
    assert_eq!(
        w,
        vec!["truncating capture length to 63 bytes for listen 'l'"]
    );
    assert_eq!(
        fe("    capture cookie a len 100")
            .captures
            .unwrap()
            .cookie
            .as_ref()
            .unwrap()
            .len,
        63
    );
}

#[test]
fn capture_errors_name_the_keyword() {
    assert_eq!(
        err("    capture request header Host"),
        "'capture request' expects 'header' <header_name> 'len' <len>"
    );
    assert_eq!(
        err("    capture foo"),
        "'capture' expects 'cookie' or 'request header' or 'response header'"
    );
    assert_eq!(
        err("    capture request header Host len 5 extra"),
        "'capture request' has an unexpected argument 'extra'"
    );
    assert!(err("    capture response header X len x").contains("'capture response'"));
    assert_eq!(
        err("    declare capture foo len 3"),
        "'declare capture' requires a direction ('request' or 'response')"
    );
    let e = errors(
        "defaults\n    mode http\n    capture request header Host len 5\nlisten l\n    bind :80\n    \
         server s 127.0.0.1:80\n",
    );
    assert_has(
        &e,
        "t.cfg:3: 'capture request' not allowed in 'defaults' section",
    );
}

#[test]
fn captures_in_a_backend_are_ignored_with_haproxys_warning() {
    let text = "defaults\n    mode http\nfrontend f\n    bind :80\n    default_backend b\n\
                backend b\n    capture request header Host len 5\n    server s 127.0.0.1:80\n";
    assert_has(
        &warnings(text),
        "t.cfg:7: 'capture' ignored because backend 'b' has no frontend capability",
    );
    assert_eq!(config(text).frontends[0].captures, None);
    let e = errors(
        "defaults\n    mode http\nbackend b\n    declare capture request len 5\n    \
         server s 127.0.0.1:80\n",
    );
    assert_has(
        &e,
        "t.cfg:4: 'declare' only available in frontend or listen section",
    );
}

#[test]
fn unique_id_from_defaults_and_frontend() {
    let text = "defaults\n    mode http\n    unique-id-format %{+X}o\\ %ci:%cp_%rt\n    \
                unique-id-header X-Unique-ID\nlisten l\n    bind :80\n    server s 127.0.0.1:80\n";
    let u = config(text).frontends[0].unique_id.clone().unwrap();
    assert_eq!(u.format.text, "%{+X}o %ci:%cp_%rt");
    assert_eq!(u.header.as_deref(), Some("X-Unique-ID"));
    // A header without a format adds nothing (HAProxy accepts it so too).
    assert_eq!(fe("    unique-id-header X-Id").unique_id, None);
}

#[test]
fn unique_id_errors() {
    assert_eq!(
        err("    unique-id-format a b"),
        "'unique-id-format' expects only one argument, don't forget to escape spaces!"
    );
    assert!(err("    unique-id-format %[nosuch]").contains("nosuch"));
    assert!(err("    unique-id-format %zz").contains("'%zz'"));
    assert!(err("    unique-id-header X:Y").contains("'unique-id-header'"));
    let e = errors(&listen("    unique-id-format %[nbsrv(nope)]"));
    assert_has(&e, "no such backend 'nope'");
}
