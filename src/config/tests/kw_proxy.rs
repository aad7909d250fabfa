//! Proxy keywords: section rules, mode, log, maxconn, bind, backends, retries,
//! errorfile, http-errors, monitor, timeouts and options.

use std::time::Duration;

use super::*;

// ---- proxy structure and section rules ----

#[test]
fn section_capabilities() {
    let head = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    let e = errors(&format!(
        "{head}frontend fe\n    bind :80\n    server s 127.0.0.1:80\n    default_backend be\nbackend be\n    bind :81\n    default_backend x\n    use_backend x\n    server s 127.0.0.1:80\n"
    ));
    assert_eq!(
        e,
        vec![
            "t.cfg:8: 'server' not allowed in 'frontend' section",
            "t.cfg:11: 'bind' not allowed in 'backend' section",
            "t.cfg:12: 'default_backend' not allowed in 'backend' section",
            "t.cfg:13: 'use_backend' not allowed in 'backend' section",
        ]
    );
    assert_eq!(
        errors("defaults\n    bind :80\n"),
        vec!["t.cfg:2: 'bind' not allowed in 'defaults' section"]
    );
    assert_eq!(
        errors("defaults\n    server s 127.0.0.1:80\n"),
        vec!["t.cfg:2: 'server' not allowed in 'defaults' section"]
    );
    // Tuning keywords in the wrong half are ignored with HAProxy's warning.
    let w = warnings(&format!(
        "{head}frontend fe\n    bind :80\n    balance leastconn\n    timeout server 5s\n    default_backend be\nbackend be\n    maxconn 5\n    option httplog\n    server s 127.0.0.1:80\n"
    ));
    assert_eq!(
        w,
        vec![
            "t.cfg:8: 'balance' ignored because frontend 'fe' has no backend capability.",
            "t.cfg:9: 'timeout server' ignored because frontend 'fe' has no backend capability.",
            "t.cfg:12: 'maxconn' ignored because backend 'be' has no frontend capability. Maybe you want 'fullconn' instead?",
            "t.cfg:13: 'option httplog' ignored because backend 'be' has no frontend capability.",
        ]
    );
}

#[test]
fn mode() {
    assert_eq!(fe("").mode, Mode::Http);
    assert_eq!(fe("    mode tcp").mode, Mode::Tcp);
    assert_eq!(
        err("    mode udp"),
        "'mode' expects 'http' or 'tcp', got 'udp'"
    );
    // HAProxy's default is tcp.
    assert_eq!(
        config("listen l\n    bind :80\n    server s 127.0.0.1:80\n").backends[0].mode,
        Mode::Tcp
    );
}

#[test]
fn proxy_log() {
    let f = fe("    log global\n    log 127.0.0.1:514 local0");
    assert_eq!(f.log.targets.len(), 2);
    assert_eq!(f.log.targets[0], LogTarget::Global);
    let cfg =
        "defaults\n    log global\nlisten l\n    bind :80\n    no log\n    server s 127.0.0.1:80\n";
    assert!(config(cfg).frontends[0].log.targets.is_empty());
    assert_eq!(
        err("    log global now"),
        "'log' has an unexpected argument 'now'"
    );
    assert_eq!(
        err("    no logs"),
        "'no' expects 'option <name>' or 'log', got 'logs'"
    );
    assert!(
        warns("    log global").is_empty(),
        "logging is built: 'log' no longer warns"
    );
}

#[test]
fn maxconn_and_fullconn() {
    assert_eq!(fe("    maxconn 2000").maxconn, Some(2000));
    assert_eq!(be("    fullconn 500").maxconn, Some(500));
    assert_eq!(
        err("    maxconn 0"),
        "'maxconn' expects a positive integer, got '0'"
    );
    assert_eq!(
        err("    fullconn -3"),
        "'fullconn' expects a positive integer, got '-3'"
    );
}

#[test]
fn bind() {
    let f = fe(
        "    bind 127.0.0.1:81,[::1]:82 name web v4v6\n    bind unix@/run/x.sock\n    bind fd@3",
    );
    let addrs: Vec<Address> = f.binds.iter().map(|b| b.address.clone()).collect();
    assert_eq!(
        addrs,
        vec![
            sa("0.0.0.0:8080"),
            sa("127.0.0.1:81"),
            sa("[::1]:82"),
            Address::Unix("/run/x.sock".into()),
            Address::Fd(3)
        ]
    );
    // Only the bind line that says it defers its accepts, every address of it.
    let f = fe("    bind 127.0.0.1:81,127.0.0.1:82 defer-accept");
    let defer: Vec<bool> = f.binds.iter().map(|b| b.defer_accept).collect();
    assert_eq!(defer, vec![false, true, true]);
    assert!(warns("    bind :81 defer-accept").is_empty());
    assert_eq!(
        err("    bind :81 defer-acept"),
        "unknown bind option 'defer-acept'; did you mean 'defer-accept'?"
    );
    assert!(warns("    bind :81 v4v6").is_empty());
    assert!(
        err("    bind :443 ssl crt /nonexistent/x.pem")
            .starts_with("unable to load certificate from '/nonexistent/x.pem'")
    );
    assert!(warns("    bind :81 accept-proxy").is_empty());
    assert_eq!(
        err("    bind :81 namespace x"),
        "bind option 'namespace' is not supported yet"
    );
    assert_eq!(
        err("    bind :81 v4v7"),
        "unknown bind option 'v4v7'; did you mean 'v4v6'?"
    );
    assert_eq!(
        err("    bind 127.0.0.1"),
        "'bind': missing port in '127.0.0.1' (expected <address>:<port>)"
    );
    assert_eq!(
        err("    bind"),
        "'bind' expects an address: <ip>:<port>[,<ip>:<port>...]"
    );
}

#[test]
fn use_backend_and_default_backend() {
    let cfg = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
               backend be\n    server s 127.0.0.1:80\nfrontend fe\n    bind :80\n    use_backend be if { path_beg /x }\n    default_backend be\n";
    assert!(warnings(cfg).is_empty(), "{:?}", warnings(cfg));
    let c = load(cfg).unwrap().config;
    assert_eq!(c.frontends[0].backend, Some(0));
    assert_eq!(c.frontends[0].routing.rules.len(), 1);
    assert_eq!(c.frontends[0].routing.rules[0].backend, 0);
    assert_eq!(
        err("    default_backend"),
        "'default_backend' expects a backend name"
    );
}

#[test]
fn retries() {
    assert_eq!(be("").retries, 3);
    assert_eq!(be("    retries 0").retries, 0);
    assert_eq!(
        err("    retries many"),
        "'retries' expects a non-negative integer, got 'many'"
    );
}

#[test]
fn errorfile() {
    let dir = std::env::temp_dir().join(format!("ringlb-kwproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("503.http");
    std::fs::write(&file, "HTTP/1.1 503 Down\r\nContent-Length: 0\r\n\r\n").unwrap();
    let f = file.display();
    let fe = fe(&format!("    errorfile 503 {f}"));
    assert_eq!(fe.errors.get(503).unwrap().status, 503);
    assert_eq!(
        err("    errorfile 503 /nonexistent/503.http"),
        "'errorfile': error opening file '/nonexistent/503.http': No such file or directory (os error 2)"
    );
    assert!(
        err(&format!("    errorfile abc {f}"))
            .starts_with("'errorfile': status code 'abc' not handled")
    );
    assert!(
        err(&format!("    errorfile 414 {f}"))
            .starts_with("'errorfile': status code '414' not handled")
    );
    // Unknown sections are found once every section is read, at the line naming them.
    let e = errors(&listen("    errorfiles nosuch"));
    assert_eq!(
        e,
        vec!["t.cfg:8: proxy 'l': unknown http-errors section 'nosuch'"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn http_errors_sections_and_inheritance() {
    let dir = std::env::temp_dir().join(format!("ringlb-kwsect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("403.http");
    std::fs::write(&file, "HTTP/1.1 403 No\r\nContent-Length: 0\r\n\r\n").unwrap();
    let text = format!(
        "http-errors site\n    errorfile 403 {}\n{}",
        file.display(),
        listen("    errorfiles site\n    monitor-uri /up\n    monitor fail if FALSE")
    )
    .replace("defaults\n", "defaults\n    errorloc 503 http://x/down\n");
    let c = config(&text);
    let f = &c.frontends[0];
    assert!(
        f.errors
            .get(403)
            .unwrap()
            .closing()
            .starts_with(b"HTTP/1.1 403 No\r\n")
    );
    assert_eq!(f.errors.get(503).unwrap().status, 302);
    assert_eq!(c.backends[0].errors, f.errors);
    assert_eq!(f.monitor.uri.as_deref(), Some("/up"));
    assert_eq!(f.monitor.fail.len(), 1);
    assert_has(
        &errors(&format!("{text}http-errors site\n")),
        "http-errors section 'site' has the same name as the one declared at t.cfg:1",
    );
    assert_has(
        &errors(&format!("{text}http-errors other\n    errorloc 503 /x\n")),
        "unknown keyword 'errorloc' in 'http-errors' section",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn monitor_keywords_where_haproxy_allows_them() {
    assert_has(
        &errors(&listen("").replace("defaults\n", "defaults\n    monitor fail if TRUE\n")),
        "'monitor' not allowed in 'defaults' section",
    );
    assert_has(
        &warns("    monitor-net 10.0.0.0/8"),
        "'monitor-net' was removed in HAProxy 2.0",
    );
    assert_eq!(
        fe("    monitor-net 10.0.0.0/8").monitor.net,
        Some(("10.0.0.0".parse().unwrap(), 8))
    );
}

#[test]
fn ignored_proxy_keywords_warn() {
    assert_eq!(
        warns("    description my farm"),
        vec!["'description' is not supported by ringlb and is ignored"]
    );
}

// ---- timeouts ----

#[test]
fn every_timeout() {
    let body = "    timeout connect 1s\n    timeout client 2s\n    timeout server 3s\n    timeout http-request 4s\n\
                timeout http-keep-alive 5s\n    timeout queue 6s\n    timeout check 7s\n    timeout client-fin 8s\n\
                timeout server-fin 9s\n    timeout tunnel 1h";
    let t = be(body).timeouts;
    let s = |n| Some(Duration::from_secs(n));
    assert_eq!(
        t,
        Timeouts {
            connect: s(1),
            client: s(2),
            server: s(3),
            http_request: s(4),
            http_keep_alive: s(5),
            queue: s(6),
            check: s(7),
            client_fin: s(8),
            server_fin: s(9),
            tunnel: s(3600),
            tarpit: None,
        }
    );
    // Health checks are built: `timeout check` takes effect without a
    // warning; so is `timeout queue` (the server queues).
    let w = warns("    timeout queue 1s\n    timeout check 1s");
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn bad_timeouts() {
    assert_eq!(
        err("    timeout clinet 5s"),
        "'timeout' expects one of connect, client, server, http-request, http-keep-alive, queue, check, client-fin, server-fin, tunnel, tarpit, got 'clinet'; did you mean 'client'?"
    );
    assert_eq!(
        err("    timeout client 5x"),
        "'timeout client': unknown unit 'x' in '5x'; expected a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d)"
    );
    assert_eq!(
        err("    timeout client"),
        "'timeout client' expects a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d)"
    );
    assert_eq!(
        err("    contimeout"),
        "'contimeout' expects a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d)"
    );
}

// ---- options ----

#[test]
fn connection_mode_options() {
    let h = |body| fe(body).http;
    assert!(h("    option httpclose").httpclose);
    let x = h("    option httpclose\n    option http-server-close");
    assert!(!x.httpclose && x.http_server_close);
    let x = h("    option http-server-close\n    option http-keep-alive");
    assert!(!x.httpclose && !x.http_server_close);
    assert_eq!(
        err("    option httpclose now"),
        "'option httpclose' has an unexpected argument 'now'"
    );
}

#[test]
fn option_redispatch_and_persist() {
    let b = be("    option redispatch\n    option persist");
    assert!(b.redispatch && b.persist);
    assert!(warns("    option persist").is_empty());
    assert_eq!(b.redispatch_after, -1);
    let b = be("    option redispatch 2");
    assert!(b.redispatch && b.redispatch_after == 2);
    assert!(!be("    option redispatch 0").redispatch, "0 turns it off");
    assert_eq!(be("    option redispatch -2").redispatch_after, -2);
    assert_eq!(
        err("    option redispatch x"),
        "'option redispatch' expects an integer interval, got 'x'"
    );
    assert_eq!(
        err("    option redispatch 1 2"),
        "'option redispatch' has an unexpected argument '2'"
    );
}

#[test]
fn option_forwardfor() {
    let f = fe("    option forwardfor except 10.0.0.0/8 header X-Client if-none")
        .http
        .forwardfor;
    assert_eq!(
        f,
        Some(ForwardFor {
            header: "X-Client".into(),
            except: Some(("10.0.0.0".parse().expect("ip"), 8)),
            if_none: true
        })
    );
    assert_eq!(
        err("    option forwardfor except"),
        "'option forwardfor' expects 'except' followed by a network (<ip>[/<prefix>])"
    );
    assert_eq!(
        err("    option forwardfor sometimes"),
        "'option forwardfor' expects 'except <net>', 'header <name>' or 'if-none', got 'sometimes'"
    );
    assert_eq!(
        err("    no option forwardfor"),
        "negation is not supported for option 'forwardfor' (as HAProxy)"
    );
}

#[test]
fn option_httpchk() {
    let c = |body| be(body).httpchk.expect("httpchk set");
    let hc = |m: &str, u: &str, v: &str| HttpCheck {
        method: m.into(),
        uri: u.into(),
        version: v.into(),
    };
    assert_eq!(c("    option httpchk"), hc("OPTIONS", "/", "HTTP/1.0"));
    assert_eq!(
        c("    option httpchk /health"),
        hc("OPTIONS", "/health", "HTTP/1.0")
    );
    assert_eq!(
        c("    option httpchk HEAD /health"),
        hc("HEAD", "/health", "HTTP/1.0")
    );
    assert_eq!(
        c(r"    option httpchk GET /h HTTP/1.1\r\nHost:\ www"),
        hc("GET", "/h", "HTTP/1.1\r\nHost: www")
    );
    assert_eq!(
        err("    option httpchk a b c d"),
        "'option httpchk' has an unexpected argument 'd'"
    );
}

#[test]
fn logging_options() {
    let f = fe("    option httplog\n    option dontlognull\n    option log-health-checks");
    assert!(f.log.httplog && f.log.dontlognull && f.log.log_health_checks && !f.log.tcplog);
    let f = fe("    option httplog clf\n    option tcplog");
    assert!(f.log.tcplog && !f.log.httplog);
    assert!(
        warns("    option httplog\n    option tcplog\n    option dontlognull").is_empty(),
        "logging is built: its options no longer warn"
    );
    assert_eq!(
        err("    option httplog json"),
        "'option httplog' has an unexpected argument 'json'"
    );
    assert_eq!(
        err("    option dontlognul"),
        "unknown option 'dontlognul'; did you mean 'dontlognull'?"
    );
}

#[test]
fn ignored_and_refused_options() {
    // Tuning only: a warning.
    assert_eq!(
        warns("    option logasap"),
        vec!["'option logasap' is not supported by ringlb and is ignored"]
    );
    // Built now: no warning.
    assert!(warns("    option tcpka\n    option originalto").is_empty());
    let f = fe("    option accept-invalid-http-request");
    assert!(f.http.accept_invalid_request && !f.http.accept_invalid_response);
    let b = be("    option accept-invalid-http-response");
    assert!(b.http.accept_invalid_response);
    assert!(fe("    option http-use-proxy-header").http.use_proxy_header);
    assert_eq!(
        err("    option http_proxy"),
        "'option http_proxy' is not supported any more since HAProxy 2.5 (as HAProxy 2.6 says); \
         use 'http-request set-dst' and 'http-request set-uri'"
    );
    // What would change traffic is refused, with what it would change.
    for (opt, why) in [
        ("spop-check", "health check"),
        ("checkcache", "uncacheable"),
    ] {
        let e = err(&format!("    option {opt}"));
        assert!(
            e.starts_with(&format!("'option {opt}' is not supported")) && e.contains(why),
            "{e}"
        );
    }
    assert_eq!(err("    option"), "'option' expects an option name");
}

#[test]
fn reuse_and_exchange_options_are_built() {
    use crate::config::model::HttpReuse;
    assert_eq!(be("").http.reuse, HttpReuse::Safe, "HAProxy's default");
    for (word, mode) in [
        ("never", HttpReuse::Never),
        ("safe", HttpReuse::Safe),
        ("aggressive", HttpReuse::Aggressive),
        ("always", HttpReuse::Always),
    ] {
        assert_eq!(be(&format!("    http-reuse {word}")).http.reuse, mode);
    }
    assert!(err("    http-reuse sometimes").contains("'http-reuse' expects"));
    assert!(err("    http-reuse").contains("'http-reuse'"));
    let body =
        "    option prefer-last-server\n    option abortonclose\n    option http-buffer-request";
    assert!(warns(body).is_empty(), "{:?}", warns(body));
    let h = be(body).http;
    assert!(h.prefer_last_server && h.abortonclose && h.buffer_request);
    let off = format!(
        "{body}\n    no option prefer-last-server\n    no option abortonclose\n    no option http-buffer-request"
    );
    let h = be(&off).http;
    assert!(!h.prefer_last_server && !h.abortonclose && !h.buffer_request);
    assert!(fe("    option http-buffer-request").http.buffer_request);
    assert!(warns("    option independent-streams").is_empty());
    assert!(
        be("    option independent-streams")
            .http
            .independent_streams
    );
}

#[test]
fn nolinger_and_log_error_options_are_built() {
    let body = "    option nolinger\n    option dontlog-normal\n    option log-separate-errors";
    assert!(warns(body).is_empty(), "{:?}", warns(body));
    let (f, b) = (fe(body), be(body));
    assert!(f.nolinger && b.nolinger);
    assert!(f.log.dontlog_normal && f.log.log_separate_errors);
    let off = "    option nolinger\n    no option nolinger\n    option dontlog-normal\n    no option dontlog-normal";
    assert!(!fe(off).nolinger && !fe(off).log.dontlog_normal);
    assert!(!fe("").nolinger && !fe("").log.log_separate_errors);
}

const ROUTE_HEAD: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                          backend api\n    server s 127.0.0.1:80\nbackend static\n    server s 127.0.0.1:81\n";

fn route(front: &str) -> String {
    format!("{ROUTE_HEAD}frontend fe\n    bind :80\n{front}")
}

#[test]
fn use_backend_rules_compile_in_order() {
    let c = load(&route(
        "    acl is_api path_beg /api\n    use_backend api if is_api || { hdr(host) -i api.example }\n    \
         use_backend static unless is_api\n",
    ))
    .unwrap()
    .config;
    let f = &c.frontends[0];
    assert_eq!(f.backend, None, "use_backend alone is enough");
    let r: Vec<usize> = f.routing.rules.iter().map(|r| r.backend).collect();
    assert_eq!(r, vec![0, 1]);
    assert!(f.routing.rules[1].cond.as_ref().unwrap().unless);
}

#[test]
fn use_backend_errors_name_the_line() {
    let e = errors(&route("    use_backend apii\n"));
    assert_eq!(
        e,
        vec![
            "t.cfg:12: frontend 'fe': 'use_backend' names 'apii', but there is no such backend; did you mean 'api'?"
        ]
    );
    let e = errors(&route("    use_backend api if nope\n"));
    assert_eq!(e, vec!["t.cfg:12: 'use_backend api': no such ACL : 'nope'"]);
    // Declared below the rule: HAProxy refuses it too.
    let e = errors(&route(
        "    use_backend api if late\n    acl late path /x\n",
    ));
    assert_eq!(e, vec!["t.cfg:12: 'use_backend api': no such ACL : 'late'"]);
    let e = errors(&route("    use_backend %[req.hdrx(host)]\n"));
    assert!(
        e[0].starts_with("t.cfg:12: 'use_backend %[req.hdrx(host)]'"),
        "{e:?}"
    );
    let e = errors(&route("    use_backend api when x\n"));
    assert!(e[0].contains("expects 'if' or 'unless'"), "{e:?}");
    let e = errors(&route("    acl a pathx /x\n    default_backend api\n"));
    assert!(e[0].starts_with("t.cfg:12: 'acl': in ACL 'a':"), "{e:?}");
    let e = errors(&format!(
        "{ROUTE_HEAD}defaults\n    mode http\n    acl a path /x\n"
    ));
    assert_eq!(e, vec!["t.cfg:12: 'acl' not allowed in 'defaults' section"]);
    let e = errors(&route(
        "    acl a nbsrv(nosuch) gt 0\n    default_backend api\n",
    ));
    assert!(e[0].contains("no such backend 'nosuch'"), "{e:?}");
}

#[test]
fn use_backend_in_tcp_mode_takes_layer4_conditions_only() {
    let head = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                backend be\n    server s 127.0.0.1:80\nfrontend fe\n    bind :80\n";
    let ok = load(&format!(
        "{head}    acl lan src 10.0.0.0/8\n    use_backend be if lan {{ dst_port 80 }}\n"
    ));
    assert!(ok.is_ok(), "{ok:?}");
    let e = errors(&format!("{head}    use_backend be if {{ path /x }}\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "t.cfg:10: frontend 'fe': 'use_backend be': ACL '{ path /x }' reads the HTTP request"
        ),
        "{e:?}"
    );
}

#[test]
fn use_backend_to_a_backend_of_another_mode_is_refused() {
    let cfg = format!(
        "{ROUTE_HEAD}backend raw\n    mode tcp\n    server s 127.0.0.1:82\nfrontend fe\n    bind :80\n    use_backend raw\n"
    );
    let e = errors(&cfg);
    assert!(
        e[0].contains("in a 'use_backend' rule (see 'mode')"),
        "{e:?}"
    );
}

#[test]
fn splice_options_reach_both_halves() {
    assert!(warns("    option splice-auto").is_empty());
    let c = config(&listen("    option splice-request\n    option splice-auto"));
    let want = crate::tcp::splice::SpliceOpts {
        auto: true,
        request: true,
        response: false,
    };
    assert_eq!((c.frontends[0].splice, c.backends[0].splice), (want, want));
    let c = config(&listen("    option splice-auto\n    no option splice-auto"));
    assert_eq!(c.frontends[0].splice, Default::default());
}
