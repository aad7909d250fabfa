//! Unit tests of the fetches: compiling calls and reading samples.

use super::super::sample::TestSample;
use super::*;

fn all(f: &Fetch, s: &TestSample) -> Vec<String> {
    let mut out = Vec::new();
    f.for_each(s, &mut Vec::new(), |v| {
        out.push(match v {
            Val::Str(b) => String::from_utf8_lossy(b).into_owned(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Ip(a) => a.to_string(),
        });
        false
    });
    out
}

fn kw(name: &str, args: &[&str]) -> AclKeyword {
    let c = Call {
        name: name.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    acl_keyword(&c).unwrap()
}

#[test]
fn uri_parts() {
    assert_eq!(path(b"/a/b?x=1"), b"/a/b");
    assert_eq!(path(b"http://h:80/a?q"), b"/a");
    assert_eq!(path(b"http://h"), b"");
    let abs = TestSample::get("http://h:80/a/b?q=1");
    assert_eq!(
        all(&compile::compile("capture.req.uri", &[]).unwrap(), &abs),
        ["/a/b?q=1"]
    );
    assert_eq!(
        all(
            &compile::compile("pathq", &[]).unwrap(),
            &TestSample::get("/x?y")
        ),
        ["/x?y"]
    );
    let s = TestSample::get("/p?a=1&b=2&a=3").header("Host", "ex.com");
    assert_eq!(all(&Fetch::Query, &s), ["a=1&b=2&a=3"]);
    assert_eq!(all(&Fetch::Base, &s), ["ex.com/p"]);
    assert_eq!(all(&kw("urlp", &["b"]).fetch, &s), ["2"]);
    assert_eq!(
        all(&kw("url_param", &["zz"]).fetch, &s),
        Vec::<String>::new()
    );
    assert_eq!(
        all(&Fetch::Query, &TestSample::get("/")),
        Vec::<String>::new()
    );
}

#[test]
fn headers_and_occurrences() {
    let s = TestSample::get("/")
        .header("X-A", "1, 2")
        .header("x-a", "3")
        .header("Other", "z");
    assert_eq!(all(&kw("hdr", &["x-a"]).fetch, &s), ["1", "2", "3"]);
    assert_eq!(all(&kw("hdr", &["x-a", "2"]).fetch, &s), ["2"]);
    assert_eq!(all(&kw("hdr", &["x-a", "-1"]).fetch, &s), ["3"]);
    assert_eq!(
        all(&kw("hdr", &["x-a", "-9"]).fetch, &s),
        Vec::<String>::new()
    );
    assert_eq!(all(&kw("req.fhdr", &["x-a"]).fetch, &s), ["1, 2", "3"]);
    assert_eq!(all(&kw("hdr_cnt", &["X-A"]).fetch, &s), ["3"]);
    assert_eq!(all(&kw("req.fhdr_cnt", &["x-a"]).fetch, &s), ["2"]);
    assert_eq!(all(&kw("hdr_cnt", &[]).fetch, &s), ["4"]);
    let k = kw("hdr_val", &["x-a"]);
    assert_eq!((k.method, k.cast), (Method::Int, Cast::Int));
    let k = kw("hdr_beg", &["host"]);
    assert_eq!(k.method, Method::Beg);
}

#[test]
fn cookies_and_counts() {
    let s = TestSample::get("/")
        .header("Cookie", "a=1; SRV=s1")
        .header("Cookie", "a=2");
    assert_eq!(all(&kw("req.cook", &["a"]).fetch, &s), ["1", "2"]);
    assert_eq!(all(&kw("cook", &["SRV"]).fetch, &s), ["s1"]);
    assert_eq!(all(&kw("cook", &[]).fetch, &s), ["1"]);
    assert_eq!(all(&kw("cook_cnt", &["a"]).fetch, &s), ["2"]);
}

#[test]
fn connection_and_state() {
    let mut s = TestSample::get("/").src("[2001:db8::1]:5000");
    s.up_servers = vec![0, 3];
    s.be_conns = vec![7];
    assert_eq!(all(&Fetch::Src, &s), ["2001:db8::1"]);
    assert_eq!(all(&Fetch::SrcPort, &s), ["5000"]);
    assert_eq!(all(&Fetch::DstPort, &s), ["80"]);
    assert_eq!(all(&kw("be_conn", &[]).fetch, &s), ["7"]);
    let mut f = kw("nbsrv", &["app"]).fetch;
    assert_eq!(all(&f, &s), Vec::<String>::new());
    struct N;
    impl Names for N {
        fn backend(&self, n: &str) -> Option<usize> {
            (n == "app").then_some(1)
        }
        fn frontend(&self, _: &str) -> Option<usize> {
            None
        }
        fn server(&self, b: usize, n: &str) -> Option<usize> {
            (b == 1 && n == "s2").then_some(1)
        }
    }
    f.link(&N).unwrap();
    assert_eq!(all(&f, &s), ["3"]);
    let mut up = kw("srv_is_up", &["app/s2"]).fetch;
    up.link(&N).unwrap();
    assert_eq!(all(&up, &s), ["false"]);
    s.servers_up.push((1, 1));
    assert_eq!(all(&up, &s), ["true"]);
    assert!(kw("srv_is_up", &["app/s9"]).fetch.link(&N).is_err());
    assert!(kw("nbsrv", &["nope"]).fetch.link(&N).is_err());
    assert_eq!(all(&Fetch::SslFc, &s), ["false"]);
    assert_eq!(all(&Fetch::SslSni, &s), Vec::<String>::new());
    assert_eq!(all(&Fetch::UniqueId, &s), Vec::<String>::new());
    s.unique_id = Some(b"7F000001:1F90_0001".to_vec());
    assert_eq!(all(&Fetch::UniqueId, &s), ["7F000001:1F90_0001"]);
    assert_eq!(kw("unique-id", &[]).fetch, Fetch::UniqueId);
}

#[test]
fn unknown_fetches_are_named() {
    let e = |n: &str| {
        acl_keyword(&Call {
            name: n.into(),
            args: vec![],
        })
        .unwrap_err()
    };
    assert!(e("req.ssl_frob").contains("unknown fetch method 'req.ssl_frob'"));
    assert!(e("src_beg").contains("'src_beg'"));
    assert!(e("query_beg").contains("'query_beg'"));
    assert!(e("path_cnt").contains("'path_cnt'"));
    assert!(e("ssl_fc_sni_beg").contains("'ssl_fc_sni_beg'"));
    assert_eq!(kw("ssl_fc_sni_end", &[]).method, Method::End);
}

#[test]
fn proxy_header_fetches() {
    // HAProxy 2.6 has these three; `fc_pp_tlv` came in 2.9.
    for (n, f, m) in [
        ("fc_pp_authority", Fetch::PpAuthority, Method::Str),
        ("fc_pp_unique_id", Fetch::PpUniqueId, Method::Str),
        ("fc_rcvd_proxy", Fetch::RcvdProxy, Method::Bool),
    ] {
        let k = kw(n, &[]);
        assert_eq!((k.fetch.clone(), k.method), (f, m), "{n}");
        assert_eq!(k.fetch.layer(), Layer::Connection, "{n}");
    }
    let e = acl_keyword(&Call {
        name: "fc_pp_tlv".into(),
        args: vec!["0x05".into()],
    })
    .unwrap_err();
    assert!(e.contains("unknown fetch method 'fc_pp_tlv'"), "{e}");
    // Without a PROXY header: nothing found, not received.
    let s = TestSample::get("/");
    assert!(all(&Fetch::PpAuthority, &s).is_empty());
    assert_eq!(all(&Fetch::RcvdProxy, &s), ["false"]);
}

#[test]
fn constants_env_and_proc_variables() {
    let s = TestSample::get("/");
    let c = |name: &str, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        compile::compile(name, &args)
    };
    assert_eq!(all(&c("str", &["a b"]).unwrap(), &s), ["a b"]);
    assert_eq!(all(&c("int", &["-3"]).unwrap(), &s), ["-3"]);
    assert_eq!(all(&c("bool", &["0"]).unwrap(), &s), ["false"]);
    assert!(c("int", &["x"]).is_err());
    assert!(c("bool", &["yes"]).is_err());
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(all(&c("env", &["PATH"]).unwrap(), &s), [path]);
    assert!(all(&c("env", &["RINGLB_SURELY_UNSET_VAR"]).unwrap(), &s).is_empty());
    // `var(proc.x)` is its process-wide slot; the other scopes stay names.
    let f = c("var", &["proc.fetch_unit"]).unwrap();
    assert!(matches!(&f, Fetch::ProcVar(p, None) if p.name() == "proc.fetch_unit"));
    assert!(all(&f, &s).is_empty());
    crate::http::rules::vars::ProcVar::resolve("proc.fetch_unit").set(Val::Int(5));
    assert_eq!(all(&f, &s), ["5"]);
    assert_eq!(c("var", &["txn.a"]), Ok(Fetch::Var("txn.a".into(), None)));
    // A default, as a string, when the variable is unset (HAProxy 2.6).
    assert_eq!(all(&c("var", &["txn.a", "d"]).unwrap(), &s), ["d"]);
    assert_eq!(
        all(&c("var", &["proc.fetch_unset", "pd"]).unwrap(), &s),
        ["pd"]
    );
    assert_eq!(
        all(&c("var", &["proc.fetch_unit", "pd"]).unwrap(), &s),
        ["5"]
    );
    assert!(
        c("var", &["a"])
            .unwrap_err()
            .contains("invalid args in fetch method 'var'")
    );
    assert!(f.needs_no_traffic() && !Fetch::Src.needs_no_traffic());
}
