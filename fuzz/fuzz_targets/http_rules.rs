//! `http-request` rules (`ringlb::http::rules`) on arbitrary rule lines and
//! request heads: the rule is compiled by the configuration loader, run on
//! the parsed head, and the head ringlb would send is parsed again.
//!
//! Input: the first line is the rule (the words after `http-request`, or a
//! whole 1.4 `req*`/`block` line), the rest a request head.
//!
//! Properties:
//! - compiling or running a rule never panics;
//! - a request a rule lets through is written as exactly one request head
//!   that ringlb's own parser reads back whole (no byte a rewrite added can
//!   split a header or end the head early), with the client's framing: the
//!   same body kind, `Content-Length` and `Transfer-Encoding` values
//!   (rules can't smuggle a second request);
//! - a response a rule makes is one complete HTTP/1.1 response whose
//!   `content-length`, when given, is its body's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::acl::Scratch;
use ringlb::config::load_sources;
use ringlb::http::request::{self, Parsed, Rewrite};
use ringlb::http::rules::run::{Bufs, Effects};
use ringlb::http::rules::{Cx, Msg, Vars, Verdict, run_request};
use ringlb::route::ConnAddrs;
use ringlb::runtime::Shared;

/// The rule in a frontend: an `http-request` action, or a whole 1.4 filter
/// line (`reqrep ...`, `reqadd ...`, `block ...`).
fn config(rule: &str) -> String {
    let line = if rule.starts_with("req") || rule.starts_with("block") {
        rule.to_string()
    } else {
        format!("http-request {rule}")
    };
    format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
         frontend f\n bind 127.0.0.1:1\n {line}\n default_backend b\n\
         backend b\n server s 127.0.0.1:2\n"
    )
}

/// The values of every header named `name`.
fn values<'a>(h: &'a [httparse::Header<'a>], name: &str) -> Vec<&'a [u8]> {
    h.iter()
        .filter(|x| x.name.eq_ignore_ascii_case(name))
        .map(|x| x.value)
        .collect()
}

fn check_reply(page: &[u8]) {
    let mut hs = [httparse::EMPTY_HEADER; 256];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(page) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("reply is not a response head: {other:?} {:?}", String::from_utf8_lossy(page)),
    };
    if let Some(cl) = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let cl: usize = std::str::from_utf8(cl.value).unwrap().parse().unwrap();
        assert_eq!(cl, page.len() - n, "content-length of a reply");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(rule) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    // One rule line, and no file for `file`/`-f` arguments to name.
    if rule.contains('\r') || rule.contains('\0') || rule.contains('/') {
        return;
    }
    let Ok(loaded) = load_sources(&[("f.cfg", &config(rule))]) else {
        return;
    };
    let shared = Shared::build(&loaded.config, false, 1);
    let rules = shared.frontends[0].model.rules.0.clone();
    let buf = &data[nl + 1..];
    let mut slots = request::header_slots();
    let Ok(Parsed::Complete(head)) = request::parse_head(buf, &mut slots) else {
        return;
    };
    let mut msg = Msg::default();
    msg.load(head.line(), head.req.headers.iter().map(|h| (h.name.as_bytes(), h.value)));
    let addrs = ConnAddrs::new(-1, Some("10.1.2.3:4000".parse().unwrap()));
    let cx = Cx {
        addrs: &addrs,
        shared: &shared,
        fe: 0,
        be: None,
        server: None,
        body_size: head.body_size(),
        req_len: head.head_len as u64,
        uid: None,
        captures: None,
    };
    let (mut sc, mut tmp, mut tmp2) = (Scratch::new(), Vec::new(), Vec::new());
    let mut b = Bufs {
        sc: &mut sc,
        tmp: &mut tmp,
        tmp2: &mut tmp2,
    };
    let mut vars = Vars::default();
    let mut fx = Effects::default();
    let mut v = Verdict::Continue;
    for list in [&rules.request, &rules.legacy_request, &rules.redirects] {
        v = run_request(list, &rules.acls, &mut msg, &mut vars, &cx, &mut b, &mut fx);
        if let Verdict::Reply(_) = v {
            break;
        }
    }
    if let Verdict::Reply(l) = v {
        check_reply(&l.page);
        return;
    }
    let rw = Rewrite {
        forwardfor: None,
        client: None,
        originalto: None,
        close_server: false,
        pretend_keepalive: false,
        cookie: None,
        extra: None,
        server_name: None,
    };
    let mut out = Vec::new();
    if request::rewrite_msg(&head, &msg, &rw, &mut out).is_err() {
        return;
    }
    let mut slots2 = request::header_slots();
    // A rule may write `#` or UTF-8 into the target, which HAProxy sends as
    // written too; ringlb's strict client-side parser refuses them
    // (`option accept-invalid-http-request` takes them), so the head is read
    // back with that option's flags.
    let lenient = request::ParseFlags {
        accept_invalid: true,
    };
    let again = match request::parse_head_with(&out, &mut slots2, lenient) {
        Ok(Parsed::Complete(h)) => h,
        // A rule may remove `Host` (HAProxy then sends the request without
        // one too); ringlb's client-side parser refuses that, so read such a
        // head with plain httparse.
        Err(_) if !has_host(&out) => {
            let mut hs = [httparse::EMPTY_HEADER; 256];
            let mut r = httparse::Request::new(&mut hs);
            match r.parse(&out) {
                Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len(), "one head"),
                other => panic!("not a head: {other:?} {:?}", String::from_utf8_lossy(&out)),
            }
            for name in ["content-length", "transfer-encoding"] {
                let before = values(head.req.headers, name);
                let after = values(r.headers, name);
                if name == "transfer-encoding" || before.len() <= 1 {
                    assert_eq!(after, before, "{name} kept");
                }
            }
            return;
        }
        other => panic!(
            "the head sent does not parse back: {:?} {:?}",
            other.map(|_| ()),
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.head_len, out.len(), "one head, nothing after it");
    assert_eq!(again.body, head.body, "framing kept");
    for name in ["content-length", "transfer-encoding"] {
        let before = values(head.req.headers, name);
        let after = values(again.req.headers, name);
        if name == "transfer-encoding" || before.len() <= 1 {
            assert_eq!(after, before, "{name} kept");
        }
    }
});

/// Whether a written head has a `Host` header.
fn has_host(out: &[u8]) -> bool {
    out.split(|&b| b == b'\n')
        .any(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case(b"host:"))
}
