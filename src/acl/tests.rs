//! Cross-module tests: whole `acl` lines against requests, with expectations
//! taken from HAProxy's documented behaviour (configuration.txt §7).

use super::*;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// (acl line after `acl x`, request, expected), per configuration.txt §7.
#[test]
fn documented_behaviour_table() {
    let req = TestSample::get("/images/logo.PNG?lang=en&id=42")
        .header("Host", "www.Example.org:8080")
        .header("User-Agent", "curl/8.0")
        .header("Cookie", "SESSID=abc; theme=dark")
        .header("X-Forwarded-For", "10.0.0.1, 192.168.1.2");
    let mut sc = Scratch::new();
    for (line, want) in TABLE {
        let acl = parse_acl(&words(line), None).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(acl.matches(&req, &mut sc), *want, "acl x {line}");
    }
}

/// (acl line after `acl x`, expected) for the request of `documented_behaviour_table`.
const TABLE: &[(&str, bool)] = &[
    ("path /images/logo.PNG", true),
    ("path -i /images/logo.png", true),
    ("path_beg /images/ /css/", true),
    ("path_end .png", false),
    ("path_end -i .png", true),
    ("path_sub logo", true),
    ("path_dir images", true),
    ("path_dir image", false),
    ("path_reg ^/images/[a-z]+\\.", true),
    ("path_len 16", true),
    ("url_beg /images/logo.PNG?", true),
    ("query lang=en&id=42", true),
    ("urlp(id) 42", true),
    ("urlp_val(id) gt 40", true),
    ("urlp(lang) -m sub e", true),
    ("base_beg -i www.example.org:8080/images", true),
    ("hdr(host) -i www.example.org:8080", true),
    ("hdr_dom(host) -i example.org", true),
    ("hdr_dom(host) -i ample.org", false),
    ("hdr_beg(user-agent) curl/", true),
    ("hdr_sub(user-agent) -i CURL", true),
    ("hdr_ip(x-forwarded-for) 192.168.0.0/16", true),
    ("hdr_ip(x-forwarded-for,1) 192.168.0.0/16", false),
    ("req.hdr_ip(x-forwarded-for,-1) 192.168.0.0/16", true),
    ("hdr_cnt(x-forwarded-for) 2", true),
    ("req.fhdr_cnt(x-forwarded-for) 1", true),
    ("req.fhdr(x-forwarded-for) -m beg 10.0.0.1,", true),
    ("cook(SESSID) abc", true),
    ("cook_cnt(theme) 1", true),
    ("cook(theme) -m len 4", true),
    ("req.cook(missing) -m found", false),
    ("method GET", true),
    ("method get", false),
    ("method -i get", false),
    ("req.ver 1.1", true),
    ("src 192.0.2.0/24", true),
    ("src_port ge 1024", true),
    ("dst_port 80", true),
    ("dst 192.0.2.100", true),
    ("always_true", true),
    ("ssl_fc", false),
    ("ssl_fc_sni -m found", false),
    ("status -m found", false),
    ("req.body_size -m found", true),
    ("path,field(2,/) images", true),
    ("path,word(-1,/),lower logo.png", true),
    ("hdr(host),regsub(:[0-9]+$,),lower www.example.org", true),
    ("src,ipmask(16) 192.0.0.0", true),
    ("path,hex -m beg 2F696D", true),
    ("path,base64 L2ltYWdlcy9sb2dvLlBORw==", true),
    ("path,length 16", true),
    ("hdr(user-agent),json curl\\/8.0", true),
    ("hdr(user-agent),upper CURL/8.0", true),
    ("var(txn.x) -m found", false),
];

#[test]
fn parse_acl_line_takes_the_lexer_words() {
    let (name, acl) = parse_acl_line(&words("acl is_static path_beg /static"), None).unwrap();
    assert_eq!(name, "is_static");
    assert!(acl.matches(&TestSample::get("/static/x"), &mut Scratch::new()));
    assert!(parse_acl_line(&words("acl"), None).is_err());
    assert!(parse_acl_line(&words("use_backend x"), None).is_err());
    let e = parse_acl_line(&words("acl x nosuch(1) y"), None).unwrap_err();
    assert!(
        e.starts_with("in ACL 'x': unknown fetch method 'nosuch'"),
        "{e}"
    );
}

#[test]
fn httparse_sample_reads_the_parsed_head() {
    let raw = b"POST /api/v1?q=1 HTTP/1.0\r\nHost: a.example\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
    let mut hs = [httparse::EMPTY_HEADER; 8];
    let mut req = httparse::Request::new(&mut hs);
    req.parse(raw).unwrap();
    let s = HttparseSample {
        req: &req,
        src: Some("127.0.0.1:5555".parse().unwrap()),
        dst: None,
        body_size: Some(0),
        req_len: raw.len() as u64,
    };
    let mut set = AclSet::new();
    set.add_line(&words("api path_beg /api"), None).unwrap();
    set.add_line(&words("two hdr_cnt(x-a) 2"), None).unwrap();
    let c = Condition::parse(
        &words("if api two METH_POST HTTP_1.0 LOCALHOST { hdr(host) a.example } REQ_CONTENT"),
        &mut set,
        None,
    )
    .unwrap();
    assert!(c.eval(&set, &s, &mut Scratch::new()));
}

#[test]
fn unknown_names_in_linking() {
    struct NoNames;
    impl Names for NoNames {
        fn backend(&self, _: &str) -> Option<usize> {
            None
        }
        fn frontend(&self, _: &str) -> Option<usize> {
            None
        }
        fn server(&self, _: usize, _: &str) -> Option<usize> {
            None
        }
    }
    let mut set = AclSet::new();
    set.add_line(&words("dead nbsrv(app) lt 1"), None).unwrap();
    let e = set.link(&NoNames).unwrap_err();
    assert_eq!(e, "in ACL 'dead': no such backend 'app'");
}

/// Lines ringlb refuses; HAProxy 2.6 refuses each of them too (checked below).
const REFUSED: &[&str] = &[
    "path -m nope x",
    "nosuch(1) x",
    "path -x",
    "src 10.0.0.0/40",
    "query_beg x",
    "path_cnt 1",
    "src_beg 1",
    "ssl_fc_sni_beg x",
    "urlp_cnt(a) 1",
    "req.hdr_beg(a) x",
    "var(txn.x) x",
];

#[test]
fn refused_lines() {
    for l in REFUSED {
        assert!(parse_acl(&words(l), None).is_err(), "{l}");
    }
}

/// `haproxy -c` agrees: every line of TABLE is valid, every REFUSED line is not.
/// Skipped without haproxy unless `CI` is set.
#[test]
fn haproxy_agrees_on_syntax() {
    let haproxy = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(haproxy) = haproxy else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI set but haproxy missing"
        );
        eprintln!("haproxy not installed: skipped");
        return;
    };
    let check = |acl: &str| {
        let cfg = format!(
            "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
             frontend f\n bind 127.0.0.1:1\n acl x {acl}\n http-request deny if x\n\
             default_backend b\nbackend b\n server s 127.0.0.1:2\n"
        );
        let f = TempFile::new("haproxy.cfg", &cfg);
        std::process::Command::new(haproxy)
            .args(["-c", "-q", "-f"])
            .arg(&f.0)
            .output()
            .expect("run haproxy")
            .status
            .success()
    };
    for (line, _) in TABLE {
        assert!(check(line), "haproxy refuses 'acl x {line}'");
    }
    for line in REFUSED {
        assert!(!check(line), "haproxy accepts 'acl x {line}'");
    }
}

/// The raw request of `documented_behaviour_table`, for HAProxy.
const RAW_REQ: &str = "GET /images/logo.PNG?lang=en&id=42 HTTP/1.1\r\n\
    Host: www.Example.org:8080\r\nUser-Agent: curl/8.0\r\n\
    Cookie: SESSID=abc; theme=dark\r\nX-Forwarded-For: 10.0.0.1, 192.168.1.2\r\n";

/// HAProxy evaluates TABLE against the same request (`http-request return
/// status 200 if` the ACL, else 403) and must agree with the expectations.
/// Lines reading the connection's addresses are left out (the test's client
/// differs). Skipped without haproxy unless `CI` is set.
#[test]
fn haproxy_agrees_on_matches() {
    use std::io::{Read, Write};
    let Some(haproxy) = Some("/usr/sbin/haproxy").filter(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI set but haproxy missing"
        );
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let lines: Vec<(usize, &str, bool)> = TABLE
        .iter()
        .enumerate()
        .filter(|(_, (l, _))| !l.starts_with("src") && !l.starts_with("dst"))
        .map(|(i, (l, w))| (i, *l, *w))
        .collect();
    let mut cfg = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 1s\n\
         frontend f\n bind 127.0.0.1:{port}\n"
    );
    for (i, l, _) in &lines {
        cfg.push_str(&format!(
            " acl a{i} {l}\n http-request return status 200 if {{ req.hdr(x-t) -m str {i} }} a{i}\n"
        ));
    }
    cfg.push_str(" http-request return status 403\n");
    let f = TempFile::new("haproxy-run.cfg", &cfg);
    let mut child = std::process::Command::new(haproxy)
        .args(["-db", "-q", "-f"])
        .arg(&f.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start haproxy");
    let ask = |i: usize| -> Option<bool> {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        c.write_all(format!("{RAW_REQ}X-T: {i}\r\nConnection: close\r\n\r\n").as_bytes())
            .ok()?;
        let mut out = String::new();
        c.read_to_string(&mut out).ok()?;
        Some(out.starts_with("HTTP/1.1 200"))
    };
    let mut ready = false;
    for _ in 0..50 {
        if ask(usize::MAX).is_some() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut wrong = Vec::new();
    if ready {
        for (i, l, want) in &lines {
            if ask(*i) != Some(*want) {
                wrong.push(*l);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "haproxy did not start");
    assert!(wrong.is_empty(), "haproxy disagrees on: {wrong:?}");
}

/// Content inspection: fetches on buffered bytes, and the three-valued test
/// that lets a rule wait while the bytes may still grow.
mod content {
    use crate::acl::payload::{client_hello_record, sni_extension};
    use crate::acl::{AclSet, Condition, Scratch, TestSample, Tri};

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn test(cond: &str, s: &TestSample) -> Tri {
        let mut set = AclSet::new();
        let c = Condition::parse(&w(cond), &mut set, None).unwrap_or_else(|e| panic!("{e}"));
        c.test(&set, s, &mut Scratch::new())
    }

    fn hello(host: &str) -> Vec<u8> {
        client_hello_record(&[(0, sni_extension(host))])
    }

    #[test]
    fn sni_waits_then_decides() {
        let h = hello("a.example");
        let sni = "if { req.ssl_sni -i A.example }";
        assert_eq!(test(sni, &TestSample::tcp(&h, true)), Tri::Pass);
        assert_eq!(test(sni, &TestSample::tcp(&h[..10], true)), Tri::Miss);
        assert_eq!(test(sni, &TestSample::tcp(&h[..10], false)), Tri::Fail);
        assert_eq!(test(sni, &TestSample::tcp(b"", true)), Tri::Miss);
        assert_eq!(
            test("if { req_ssl_sni b.example }", &TestSample::tcp(&h, true)),
            Tri::Fail
        );
        assert_eq!(
            test("if { req.ssl_hello_type 1 }", &TestSample::tcp(&h, true)),
            Tri::Pass
        );
        assert_eq!(
            test(
                "if { req_ssl_hello_type 1 }",
                &TestSample::tcp(b"\x16", true)
            ),
            Tri::Miss
        );
        // Not TLS at all: decided at once, whatever the delay.
        assert_eq!(
            test(sni, &TestSample::tcp(b"GET / HTTP/1.1\r\n", true)),
            Tri::Fail
        );
        // `unless` and `!` keep a miss a miss; `||` with a pass passes.
        let partial = TestSample::tcp(&h[..10], true);
        assert_eq!(test("unless { req.ssl_sni x }", &partial), Tri::Miss);
        assert_eq!(test("if !{ req.ssl_sni x }", &partial), Tri::Miss);
        assert_eq!(test("if { req.ssl_sni x } || TRUE", &partial), Tri::Pass);
        assert_eq!(test("if { req.ssl_sni x } FALSE", &partial), Tri::Fail);
    }

    #[test]
    fn length_payload_and_wait_end() {
        let s = TestSample::tcp(b"HELO x\r\n", true);
        assert_eq!(test("if { req.len gt 3 }", &s), Tri::Pass);
        assert_eq!(test("if { req.len gt 30 }", &s), Tri::Miss);
        assert_eq!(
            test("if { req_len gt 30 }", &TestSample::tcp(b"HELO", false)),
            Tri::Fail
        );
        assert_eq!(
            test("if { req.payload(0,4) -m bin 48454c4f }", &s),
            Tri::Pass
        );
        assert_eq!(test("if { req.payload(0,4),lower helo }", &s), Tri::Pass);
        assert_eq!(test("if { payload(6,8) -m found }", &s), Tri::Miss);
        assert_eq!(test("if { req.payload(0,0) -m sub x }", &s), Tri::Pass);
        assert_eq!(test("if { req.payload(0,0) -m sub y }", &s), Tri::Miss);
        assert_eq!(
            test(
                "if { req.payload_lv(0,1) -m found }",
                &TestSample::tcp(b"\x02ab", true)
            ),
            Tri::Pass
        );
        assert_eq!(test("if WAIT_END", &s), Tri::Miss);
        assert_eq!(test("if WAIT_END", &TestSample::tcp(b"", false)), Tri::Pass);
        assert_eq!(test("if { req.proto_http }", &s), Tri::Fail);
        assert_eq!(
            test("if HTTP", &TestSample::tcp(b"GET / HTTP/1.1\r\n", true)),
            Tri::Miss
        );
        assert_eq!(
            test("if HTTP", &TestSample::tcp(b"GET / HTTP/1.1\r\n\r\n", true)),
            Tri::Pass
        );
        assert_eq!(test("if { src 192.0.2.1 }", &s), Tri::Pass);
        assert_eq!(test("if { src 10.0.0.0/8 }", &s), Tri::Fail);
        // HTTP samples are final: no rule ever waits on them.
        assert_eq!(test("if WAIT_END", &TestSample::get("/")), Tri::Pass);
    }

    #[test]
    fn rdp_cookie_fetches() {
        let rdp = crate::balance::rdp_cookie::connection_request(Some("Cookie: mstshash=alice"));
        let s = TestSample::tcp(&rdp, true);
        assert_eq!(test("if { req.rdp_cookie(mstshash) alice }", &s), Tri::Pass);
        assert_eq!(test("if { rdp_cookie_cnt(mstshash) 1 }", &s), Tri::Pass);
        assert_eq!(
            test(
                "if { req.rdp_cookie(mstshash) bob }",
                &TestSample::tcp(&rdp[..14], true)
            ),
            Tri::Miss
        );
        let none = crate::balance::rdp_cookie::connection_request(None);
        assert_eq!(
            test("if { req.rdp_cookie_cnt 0 }", &TestSample::tcp(&none, true)),
            Tri::Pass
        );
    }

    #[test]
    fn response_bytes() {
        let mut s = TestSample::tcp(b"", true);
        s.res_payload = Some(b"220 smtp ready\r\n".to_vec());
        assert_eq!(test("if { res.len gt 3 }", &s), Tri::Pass);
        assert_eq!(test("if { res.payload(0,3) -m bin 323230 }", &s), Tri::Pass);
        assert_eq!(test("if { res.payload(0,3) -m bin 353030 }", &s), Tri::Fail);
    }
}

#[test]
fn ssl_version_patterns_are_dotted() {
    use crate::acl::payload::{client_hello_record, sni_extension};
    use crate::acl::{AclSet, Condition, Scratch, TestSample};
    let hello = client_hello_record(&[(0, sni_extension("x"))]);
    let s = TestSample::tcp(&hello, false);
    let mut set = AclSet::new();
    for (cond, want) in [
        ("if { req.ssl_ver 3.1 }", true),
        ("if { req.ssl_ver 3.0 }", false),
        ("if { req_ssl_ver 3.0:3.3 }", true),
        ("if { req.ssl_ver ge 3.2 }", false),
        ("if { req.ssl_ver 196609 }", true),
    ] {
        let words: Vec<String> = cond.split_whitespace().map(String::from).collect();
        let c = Condition::parse(&words, &mut set, None).unwrap();
        assert_eq!(c.eval(&set, &s, &mut Scratch::new()), want, "{cond}");
    }
}
