//! `userlist` sections and the `http_auth` / `http_auth_group` ACLs end to
//! end: the real binary routes each request by who its `Authorization`
//! header authenticates (`use_backend ops if { http_auth_group(L) ops }`),
//! with insecure, SHA-512, SHA-256, MD5 and DES passwords; the same config
//! and the same requests go through HAProxy 2.6, which must pick the same
//! backend for each, HAProxy's header quirks included (a scheme that is a
//! prefix of `Basic`, lenient padding, a NUL ending the password). `-c`
//! refuses a list's mistakes with `file:line`, where HAProxy refuses too.
//! The 401/407 bytes `ringlb::auth` provides for `http-request auth` are
//! compared with what HAProxy sends.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Haproxy, HttpBackend, HttpClient, Ringlb, TestDir, free_port, run_cli};

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// Passwords: bob `pw6` (SHA-512), carol `pw1` (MD5), dave `pwdes` (DES),
/// erin `pw5` (SHA-256), from `openssl passwd` and Python's crypt.
const USERLIST: &str = "userlist L\n\
    \x20   group admins users alice\n\
    \x20   group ops\n\
    \x20   user alice insecure-password secret\n\
    \x20   user bob password $6$saltsalt$vqfwhgbpDQsmrvB6w5/8F5c4CO40.Qu2BBSXMRAH03mtpJ3D3UncG8x1f8qam566S8Gqa9EQmwIXTEp9knEjA. groups ops\n\
    \x20   user carol password $1$saltsalt$bIQc.PIdGyyoVvhKbQOAT/ groups ops,admins\n\
    \x20   user dave password abpBHE1iFCMtc\n\
    \x20   user erin password $5$saltsalt$zOFVkp0Kz29x0a6a4dSx8FZisA8Iwb0KzzvoRDFTN/8 groups admins\n";

struct Farm {
    ops: HttpBackend,
    admin: HttpBackend,
    user: HttpBackend,
    anon: HttpBackend,
}

impl Farm {
    fn start() -> Farm {
        Farm {
            ops: HttpBackend::start("ops"),
            admin: HttpBackend::start("admin"),
            user: HttpBackend::start("user"),
            anon: HttpBackend::start("anon"),
        }
    }

    /// The frontend on `port` (the userlist after it: names resolve at load) and the backends.
    fn config(&self, port: u16) -> String {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{port}\n\
             \x20   acl authed http_auth(L)\n\
             \x20   use_backend ops if {{ http_auth_group(L) ops }}\n\
             \x20   use_backend admin if {{ http_auth_group(L) admins }}\n\
             \x20   use_backend user if authed\n\
             \x20   default_backend anon\n\
             backend ops\n    server s 127.0.0.1:{}\n\
             backend admin\n    server s 127.0.0.1:{}\n\
             backend user\n    server s 127.0.0.1:{}\n\
             backend anon\n    server s 127.0.0.1:{}\n{USERLIST}",
            self.ops.port(),
            self.admin.port(),
            self.user.port(),
            self.anon.port()
        )
    }
}

fn basic(creds: &[u8]) -> Vec<u8> {
    let mut v = b"Authorization: Basic ".to_vec();
    v.extend_from_slice(STANDARD.encode(creds).as_bytes());
    v
}

fn raw(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// (header lines, the backend that must answer).
fn cases() -> Vec<(Vec<Vec<u8>>, &'static str)> {
    let alice = STANDARD.encode("alice:secret");
    vec![
        (vec![], "anon"),
        (vec![basic(b"alice:secret")], "admin"),
        (vec![basic(b"alice:wrong")], "anon"),
        (vec![basic(b"alice:")], "anon"),
        (vec![basic(b"ALICE:secret")], "anon"),
        (vec![basic(b"bob:pw6")], "ops"),
        (vec![basic(b"bob:pw6x")], "anon"),
        (vec![basic(b"carol:pw1")], "ops"),
        (vec![basic(b"dave:pwdes")], "user"),
        (vec![basic(b"dave:pwdesX")], "anon"),
        (vec![basic(b"erin:pw5")], "admin"),
        (vec![basic(b"nobody:secret")], "anon"),
        (vec![basic(b"alicesecret")], "anon"),
        (vec![basic(b"\xff\xfe:secret")], "anon"),
        // HAProxy's reading of the header, which ringlb follows.
        (vec![raw(&format!("authorization: basic {alice}"))], "admin"),
        (vec![raw(&format!("Authorization: Bas {alice}"))], "admin"),
        (vec![raw(&format!("Authorization: Basicx {alice}"))], "anon"),
        (
            vec![raw(&format!("Authorization: Basic   {alice}"))],
            "admin",
        ),
        (vec![raw(&format!("Authorization: Basic\t{alice}"))], "anon"),
        (
            vec![raw(&format!("Authorization: Basic {alice}, Basic xx"))],
            "admin",
        ),
        (
            vec![
                raw("Authorization: Basic xx"),
                raw(&format!("Authorization: Basic {alice}")),
            ],
            "anon",
        ),
        (vec![basic(b"alice:secret\0trailing")], "admin"),
        (
            vec![raw("Authorization: Basic YWxpY2U6c2VjcmV0d===")],
            "admin",
        ),
        (
            vec![raw("Authorization: Basic YWxpY2U6c2VjcmV0dB==")],
            "anon",
        ),
        (vec![raw("Authorization: Basic YWxpY2U6c2VjcmV0==")], "anon"),
        (vec![raw("Authorization: Bearer abc")], "anon"),
        (
            vec![raw(&format!("Proxy-Authorization: Basic {alice}"))],
            "anon",
        ),
    ]
}

fn request(headers: &[Vec<u8>], close: bool) -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for h in headers {
        r.extend_from_slice(h);
        r.extend_from_slice(b"\r\n");
    }
    if close {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

fn show(headers: &[Vec<u8>]) -> String {
    headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn check_cases(port: u16, who: &str) {
    for (headers, want) in cases() {
        let mut c = HttpClient::connect(port);
        let r = c.request(&request(&headers, true));
        assert_eq!(
            (r.status, r.server().as_str()),
            (200, want),
            "{who}: {}",
            show(&headers)
        );
    }
    // One keep-alive connection, several users in turn, each repeated (the
    // second check of a crypt password is answered from the worker's cache).
    let mut c = HttpClient::connect(port);
    for (creds, want) in [
        (&b"bob:pw6"[..], "ops"),
        (b"bob:pw6", "ops"),
        (b"alice:secret", "admin"),
        (b"bob:wrong", "anon"),
        (b"bob:pw6", "ops"),
        (b"erin:pw5", "admin"),
        (b"erin:pw5", "admin"),
    ] {
        let r = c.request(&request(&[basic(creds)], false));
        assert_eq!(
            (r.status, r.server().as_str()),
            (200, want),
            "{who}: keep-alive {}",
            String::from_utf8_lossy(creds)
        );
    }
}

#[test]
fn requests_are_routed_by_who_they_authenticate_as() {
    let farm = Farm::start();
    let port = free_port();
    let _lb = Ringlb::start(&farm.config(port));
    check_cases(port, "ringlb");
}

#[test]
fn haproxy_routes_the_same_requests_alike() {
    let farm = Farm::start();
    let port = free_port();
    let Some(_h) = Haproxy::start(&farm.config(port), port) else {
        return;
    };
    check_cases(port, "haproxy 2.6");
}

/// Configurations both ringlb and HAProxy refuse, and the `file:line` ringlb names.
#[test]
fn check_refuses_a_lists_mistakes() {
    let fe = |acl: &str| {
        format!(
            "{DEFAULTS}frontend fe\n    bind 127.0.0.1:{}\n    {acl}\n    default_backend b\n\
             backend b\n    server s 127.0.0.1:{}\n",
            free_port(),
            free_port()
        )
    };
    let bad = [
        (
            fe("use_backend b if { http_auth(L) }") + "userlist L\n    user a groups nope\n",
            "t.cfg:13: userlist 'L': no such group 'nope' specified in user 'a'",
        ),
        (
            fe("use_backend b if { http_auth(L) }") + "userlist L\n    group g users zed\n",
            "t.cfg:13: userlist 'L': no such user 'zed' specified in group 'g'",
        ),
        (
            fe("use_backend b if { http_auth(M) }") + "userlist L\n",
            "t.cfg:6: frontend 'fe': in ACL",
        ),
        (
            fe("use_backend b if { http_auth_group(L) nope }") + "userlist L\n    group g\n",
            "invalid group 'nope'",
        ),
        (
            fe("use_backend b if { http_auth_group(L) -m beg g }") + "userlist L\n    group g\n",
            "'-m', '-f' and converters are not allowed",
        ),
        (
            fe("use_backend b if { http_auth(L) }") + "userlist L\n    user a only\n",
            "t.cfg:13: 'user' only supports 'password', 'insecure-password' and 'groups' options",
        ),
    ];
    let dir = TestDir::new("userlist-check");
    for (cfg, want) in &bad {
        dir.write("t.cfg", cfg);
        let out = run_cli(dir.path(), &["-c", "-f", "t.cfg"]);
        assert_eq!(out.code, Some(1), "ringlb accepted:\n{cfg}");
        assert!(out.stderr.contains(want), "{want:?} not in {}", out.stderr);
        if let Some(bin) = common::haproxy_binary() {
            let st = std::process::Command::new(bin)
                .args(["-c", "-f"])
                .arg(dir.path().join("t.cfg"))
                .output()
                .unwrap();
            assert!(!st.status.success(), "haproxy accepted:\n{cfg}");
        }
    }
    // A valid list passes `-c`.
    dir.write(
        "ok.cfg",
        &(fe("use_backend b if { http_auth_group(L) g }")
            + "userlist L\n    group g users a\n    user a insecure-password x\n"),
    );
    let out = run_cli(dir.path(), &["-c", "-f", "ok.cfg"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// `auth::challenge` and `auth::proxy_challenge` (for the `http-request
/// auth` action) are the bytes HAProxy 2.6 sends: a 401 to an HTTP/1.1
/// client, kept alive, and a 407 when `option http-use-proxy-header` sees an
/// absolute URI.
#[test]
fn challenges_are_the_bytes_haproxy_sends() {
    let port = free_port();
    let proxy_port = free_port();
    let cfg = format!(
        "{DEFAULTS}    timeout http-keep-alive 200ms\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    http-request auth realm \"My Realm\"\n\
         frontend px\n    bind 127.0.0.1:{proxy_port}\n    option http-use-proxy-header\n\
         \x20   http-request auth realm X\n"
    );
    let Some(_h) = Haproxy::start(&cfg, port) else {
        return;
    };
    let wait = std::time::Duration::from_secs(3);
    let (got, _) = common::raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", wait);
    common::assert_same_bytes(&got, &ringlb::auth::challenge("My Realm"), "401");
    let (got, _) = common::raw_exchange(
        proxy_port,
        b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
        wait,
    );
    common::assert_same_bytes(&got, &ringlb::auth::proxy_challenge("X"), "407");
}
