//! Whole-file behaviour: several files, error collection, sections, `defaults`
//! inheritance, `listen` → frontend + backend, validation, the 1.4 forms.

use std::time::Duration;

use super::*;

#[test]
fn several_files_act_as_one() {
    let a = "global\n    maxconn 10\ndefaults\n    mode http\n    timeout client 1s\n";
    let b = "    timeout connect 1s\n    timeout server 1s\nbackend be\n    server s 127.0.0.1:80\n\
             frontend fe\n    bind :80\n    default_backend be\n    balanse x\n";
    let e = load_with_env(&[("a.cfg", a), ("b.cfg", b)], &env).unwrap_err();
    assert_eq!(
        e.errors,
        vec!["b.cfg:8: unknown keyword 'balanse' in 'frontend' section; did you mean 'balance'?"]
    );
    let b = b.replace("    balanse x\n", "");
    let l = load_with_env(&[("a.cfg", a), ("b.cfg", &b)], &env).expect("loads");
    assert_eq!(l.config.global.maxconn, Some(10));
    assert_eq!(
        l.config.frontends[0].timeouts.connect,
        Some(Duration::from_secs(1))
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn errors_quoting_escaped_line_feeds_stay_on_their_line() {
    // `\n` in a word is a line feed; the error quoting it must still be one line.
    let e = errors("defaults\n    zz\\nzz x\n");
    assert_eq!(
        e,
        vec!["t.cfg:2: unknown keyword 'zz\\nzz' in 'defaults' section"]
    );
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let e = errors(
        "global\n    maxconn x\n    nbthred 2\nlisten l\n    bind :80\n    server a b:x\n    weight 3\n",
    );
    assert_eq!(
        e,
        vec![
            "t.cfg:2: 'maxconn' expects a positive integer, got 'x'",
            "t.cfg:3: unknown keyword 'nbthred' in 'global' section; did you mean 'nbthread'?",
            "t.cfg:6: server 'a': 'x' is not a valid port in 'b:x' (expected 1 to 65535)",
            "t.cfg:7: unknown keyword 'weight' in 'listen' section",
        ]
    );
}

#[test]
fn keyword_out_of_section() {
    assert_eq!(
        errors("maxconn 10\n"),
        vec!["t.cfg:1: unknown keyword 'maxconn' out of section"]
    );
}

#[test]
fn misspelt_section_suggests_the_section() {
    assert_eq!(
        errors("frontnd x\n"),
        vec!["t.cfg:1: unknown keyword 'frontnd' out of section; did you mean 'frontend'?"]
    );
    assert_eq!(
        errors("backnd x\n"),
        vec!["t.cfg:1: unknown keyword 'backnd' out of section; did you mean 'backend'?"]
    );
}

#[test]
fn warnings_travel_with_errors() {
    let e =
        crate::config::load_sources(&[("t.cfg", "peers p\nfrontend f\n    bind :1\n    bogus\n")])
            .unwrap_err();
    assert_eq!(e.errors.len(), 1, "{e:?}");
    // The section, the missing timeouts, the frontend without a backend.
    assert_eq!(e.warnings.len(), 3, "{e:?}");
    assert!(
        e.warnings[0].starts_with("t.cfg:1: section 'peers'"),
        "{e:?}"
    );
}

#[test]
fn unterminated_quote_names_file_and_line() {
    let e = errors("global\n    node \"abc\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("t.cfg:2: unmatched double quote"), "{e:?}");
}

#[test]
fn env_in_bind() {
    let l = load(&listen("    bind \"${LB_ADDR}\":\"$LB_PORT\"")).expect("loads");
    assert_eq!(l.config.frontends[0].binds[1].address, sa("127.0.0.1:9090"));
}

#[test]
fn defaults_are_inherited_and_replaced() {
    let cfg = "defaults\n    mode http\n    option forwardfor\n    retries 5\n    timeout connect 1s\n\
               timeout client 1s\n    timeout server 1s\n    default-server inter 3s weight 7\n\
               backend a\n    server s 127.0.0.1:80\n\
               defaults\n    timeout connect 2s\n    timeout client 2s\n    timeout server 2s\n\
               backend b\n    server s 127.0.0.1:80\n";
    let l = load(cfg).expect("loads");
    let (a, b) = (&l.config.backends[0], &l.config.backends[1]);
    assert_eq!(
        (a.mode, a.retries, a.http.forwardfor.is_some()),
        (Mode::Http, 5, true)
    );
    assert_eq!(
        (a.servers[0].inter, a.servers[0].weight),
        (Duration::from_secs(3), 7)
    );
    // The second `defaults` starts from scratch.
    assert_eq!(
        (b.mode, b.retries, b.http.forwardfor.is_some()),
        (Mode::Tcp, 3, false)
    );
    assert_eq!(
        (b.servers[0].inter, b.servers[0].weight),
        (Duration::from_secs(2), 1)
    );
    assert_eq!(b.timeouts.connect, Some(Duration::from_secs(2)));
}

#[test]
fn no_option_cancels_an_inherited_option() {
    let cfg = "defaults\n    mode http\n    option httpclose\n    option redispatch\n    timeout connect 1s\n\
               timeout client 1s\n    timeout server 1s\nlisten l\n    bind :80\n    no option httpclose\n\
               no option redispatch\n    server s 127.0.0.1:80\n";
    let l = load(cfg).expect("loads");
    assert!(!l.config.frontends[0].http.httpclose);
    assert!(!l.config.backends[0].redispatch);
}

#[test]
fn listen_gives_frontend_and_backend() {
    let l = load(&listen("    option http-server-close")).expect("loads");
    let c = &l.config;
    assert_eq!((c.frontends.len(), c.backends.len()), (1, 1));
    assert_eq!(c.frontends[0].name, "l");
    assert_eq!(c.backends[c.frontends[0].backend.unwrap()].name, "l");
    assert!(c.frontends[0].http.http_server_close && c.backends[0].http.http_server_close);
}

#[test]
fn frontend_backend_pair() {
    let cfg = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
               backend other\n    server o 127.0.0.1:81\nbackend be\n    option forwardfor\n    server s 127.0.0.1:80\n\
               frontend fe\n    bind :80,:81\n    option httpclose\n    default_backend be\n";
    let c = load(cfg).expect("loads").config;
    let fe = &c.frontends[0];
    assert_eq!(fe.binds.len(), 2);
    assert_eq!(c.backends[fe.backend.unwrap()].name, "be");
    assert!(fe.http.httpclose && fe.http.forwardfor.is_none());
    assert!(!c.backends[1].http.httpclose && c.backends[1].http.forwardfor.is_some());
}

#[test]
fn frontend_validation_errors() {
    let head = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    // No backend: accepted as HAProxy does (every request gets 503), with a
    // warning only when nothing in the frontend answers by itself.
    let w = warnings(&format!("{head}frontend fe\n    mode http\n    bind :80\n"));
    assert_eq!(
        w,
        vec![
            "t.cfg:5: frontend 'fe' has no 'default_backend', no 'use_backend' rule and nothing that answers by itself: every request will get 503 Service Unavailable"
        ]
    );
    let tcp = format!("{head}frontend fe\n    bind :80\n");
    assert_eq!(
        warnings(&tcp),
        vec![
            "t.cfg:5: frontend 'fe' has no 'default_backend', no 'use_backend' rule and nothing that answers by itself: every connection will be closed"
        ]
    );
    for answers in [
        "redirect scheme https code 301",
        "http-request redirect scheme https unless { ssl_fc }",
        "http-request return status 200",
        "monitor-uri /health",
        "stats enable",
        "stats uri /stats",
    ] {
        let cfg = format!("{head}frontend fe\n    mode http\n    bind :80\n    {answers}\n");
        let c = load(&cfg)
            .unwrap_or_else(|e| panic!("{answers}: {e}"))
            .config;
        assert_eq!(c.frontends[0].backend, None, "{answers}");
        assert_eq!(warnings(&cfg), Vec::<String>::new(), "{answers}");
    }
    let e = errors(&format!(
        "{head}frontend fe\n    default_backend be\nbackend be\n    server s 127.0.0.1:80\n"
    ));
    assert_eq!(
        e,
        vec!["t.cfg:5: frontend 'fe' has no 'bind' address; it cannot accept connections"]
    );
    let e = errors(&format!(
        "{head}frontend fe\n    bind :80\n    default_backend bee\nbackend be\n    server s 127.0.0.1:80\n"
    ));
    assert_eq!(
        e,
        vec![
            "t.cfg:7: frontend 'fe': 'default_backend' names 'bee', but there is no such backend; did you mean 'be'?"
        ]
    );
    let e = errors(&format!(
        "{head}frontend fe\n    mode http\n    bind :80\n    default_backend be\nbackend be\n    server s 127.0.0.1:80\n"
    ));
    assert_eq!(
        e,
        vec![
            "t.cfg:8: http frontend 'fe' (t.cfg:5) tries to use incompatible tcp backend 'be' (t.cfg:9) as its default backend (see 'mode')"
        ]
    );
}

#[test]
fn duplicate_names() {
    let head = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    let e = errors(&format!(
        "{head}backend be\n    server s1 127.0.0.1:80\n    server s1 127.0.0.1:81\nbackend be\n    server s 127.0.0.1:80\n"
    ));
    // Two servers of one name: HAProxy 2.6 refuses them, 1.4 took both;
    // ringlb warns (checked in tests/legacy_configs.rs) and keeps both.
    assert_eq!(
        e,
        vec!["t.cfg:8: backend 'be' has the same name as backend 'be' declared at t.cfg:5"]
    );
    // A frontend and a backend may share a name, as in HAProxy; a listen may not.
    let ok = format!(
        "{head}backend app\n    server s 127.0.0.1:80\nfrontend app\n    bind :80\n    default_backend app\n"
    );
    assert!(load(&ok).is_ok());
    let e = errors(&format!("{ok}listen app\n    bind :81\n"));
    assert_eq!(
        e,
        vec!["t.cfg:10: listen 'app' has the same name as frontend 'app' declared at t.cfg:7"]
    );
}

#[test]
fn missing_timeouts_warn_and_default() {
    let w = warnings("listen l\n    bind :80\n    timeout client 10s\n    server s 127.0.0.1:80\n");
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("t.cfg:1: missing timeouts for proxy 'l'."),
        "{w:?}"
    );
    let c = load("listen l\n    bind :80\n    timeout client 10s\n    server s 127.0.0.1:80\n")
        .expect("loads")
        .config;
    let t = &c.backends[0].timeouts;
    assert_eq!(t.client, Some(Duration::from_secs(10)));
    assert_eq!(t.connect, Some(Duration::from_secs(5)));
    assert_eq!(t.server, Some(Duration::from_secs(30)));
    assert_eq!(
        c.frontends[0].timeouts.client,
        Some(Duration::from_secs(10))
    );
    // A frontend only needs `timeout client`; a zero timeout counts as missing.
    let w = warnings(
        "backend be\n    timeout connect 1s\n    timeout server 0\n    server s 127.0.0.1:80\nfrontend fe\n    bind :80\n    timeout client 1s\n    default_backend be\n",
    );
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("t.cfg:1: missing timeouts for proxy 'be'"),
        "{w:?}"
    );
}

#[test]
fn backend_without_server_warns() {
    let w = warnings(
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten l\n    bind :80\n",
    );
    assert_eq!(
        w,
        vec!["t.cfg:5: listen 'l' has no server; its requests will get 503 Service Unavailable"]
    );
    // A stats page or a rule that answers needs none.
    for line in [
        "stats uri /",
        "stats enable",
        "monitor-uri /up",
        "http-request return status 200",
    ] {
        let w = warnings(&format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\nlisten l\n    bind :80\n    {line}\n"
        ));
        assert!(w.is_empty(), "{line}: {w:?}");
    }
}

#[test]
fn http_settings_dropped_in_tcp_mode() {
    let cfg = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten l\n    bind :80\n\
               option forwardfor\n    balance uri\n    server s 127.0.0.1:80\n";
    let l = load(cfg).expect("loads");
    let w: Vec<String> = l.warnings.iter().map(|w| w.message.clone()).collect();
    assert_has(
        &w,
        "'option forwardfor' ignored for proxy 'l' as it requires HTTP mode.",
    );
    assert_has(
        &w,
        "Layer 7 hash not possible for proxy 'l' (needs 'mode http'). Falling back to round robin.",
    );
    assert_eq!(l.config.backends[0].balance, Balance::RoundRobin);
    assert!(l.config.frontends[0].http.forwardfor.is_none());
}

#[test]
fn the_1_4_forms_warn() {
    let cfg = "listen l 127.0.0.1:80,127.0.0.1:81\n    contimeout 1000\n    clitimeout 2s\n    srvtimeout 3s\n\
               redispatch\n    option forceclose\n    server s 127.0.0.1:80\n";
    let l = load(cfg).expect("loads");
    let w: Vec<String> = l
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.origin, w.message))
        .collect();
    assert_eq!(
        w,
        vec![
            "t.cfg:1: the address on the 'listen' line is deprecated since HAProxy 1.6; use 'bind <addr>'",
            "t.cfg:2: 'contimeout' is deprecated since HAProxy 1.5 and refused by 2.1; use 'timeout connect'",
            "t.cfg:3: 'clitimeout' is deprecated since HAProxy 1.5 and refused by 2.1; use 'timeout client'",
            "t.cfg:4: 'srvtimeout' is deprecated since HAProxy 1.5 and refused by 2.1; use 'timeout server'",
            "t.cfg:5: 'redispatch' is deprecated since HAProxy 1.5 and refused by 2.1; use 'option redispatch'",
            "t.cfg:6: 'option forceclose' is refused since HAProxy 2.5; use 'option httpclose' (ringlb treats it as 'option httpclose')",
        ]
    );
    let (f, b) = (&l.config.frontends[0], &l.config.backends[0]);
    assert_eq!(f.binds.len(), 2);
    assert_eq!(b.timeouts.connect, Some(Duration::from_secs(1)));
    assert_eq!(f.timeouts.client, Some(Duration::from_secs(2)));
    assert_eq!(b.timeouts.server, Some(Duration::from_secs(3)));
    assert!(b.redispatch && f.http.httpclose && b.http.httpclose);
}

#[test]
fn bad_section_headers() {
    assert_eq!(
        errors("listen\n"),
        vec!["t.cfg:1: 'listen' expects a proxy name"]
    );
    assert_eq!(
        errors("backend a/b\n"),
        vec!["t.cfg:1: invalid character '/' in backend name 'a/b'"]
    );
    assert_eq!(
        errors("global now\n"),
        vec!["t.cfg:1: 'global' has an unexpected argument 'now'"]
    );
    assert_has(
        &errors("backend be 1.2.3.4:80\n"),
        "t.cfg:1: 'backend' has an unexpected argument '1.2.3.4:80'",
    );
    assert_eq!(
        errors("listen l 1.2.3.4\n    server s 127.0.0.1:80\n"),
        vec!["t.cfg:1: 'listen': missing port in '1.2.3.4' (expected <address>:<port>)"]
    );
}

#[test]
fn skipped_sections_warn_once() {
    let w = warnings("peers p\n    peer a 127.0.0.1:1\nglobal\n    maxconn 5\n");
    assert_eq!(
        w,
        vec!["t.cfg:1: section 'peers' is not supported by ringlb; its content is ignored"]
    );
}

#[test]
fn never_panics_on_odd_input() {
    for text in [
        "",
        "\n\n",
        "#",
        "\"",
        "'",
        "\\",
        "listen \"\"\n",
        "global\n stats\n",
        "listen l\n server\n",
        "listen l\n timeout\n",
        "listen l\n option\n",
        "listen l\n no\n",
        "listen l\n cookie\n",
        "listen l\n balance hdr(\n",
        "listen l\n bind ,\n",
        "global\n log\n",
        "listen l\n stats auth\n",
        "listen l\n server a [::1\n",
        "global\n user \"a\\x00b\"\n",
        "listen l\n log 1.2.3.4 len\n",
    ] {
        let _ = load(text);
    }
}

#[test]
fn random_token_soup_never_panics() {
    // A fixed linear congruential generator: reproducible, no dependency.
    let mut state: u64 = 0x5eed;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    let vocab = [
        "global",
        "defaults",
        "listen",
        "frontend",
        "backend",
        "l",
        "be",
        "server",
        "bind",
        "mode",
        "http",
        "tcp",
        "option",
        "no",
        "log",
        "timeout",
        "client",
        "cookie",
        "insert",
        "stats",
        "balance",
        "uri",
        "len",
        "hdr(x)",
        "default_backend",
        "default-server",
        "weight",
        "check",
        "inter",
        "0",
        "1",
        "300",
        "5s",
        "-1",
        ":80",
        "127.0.0.1:80",
        "[::1]:80",
        "unix@/x",
        "fd@3",
        "[",
        ",",
        "@",
        "\"",
        "'",
        "\\",
        "\\x4",
        "$",
        "${",
        "\"${LB_ADDR}\"",
        "#",
        "httpchk",
        "forwardfor",
        "except",
        "auth",
        "a:b",
        "user",
        "local0",
        "retries",
        "maxconn",
        "hash-type",
    ];
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..next(12) {
            for _ in 0..=next(6) {
                text.push_str(vocab[next(vocab.len())]);
                text.push(' ');
            }
            text.push('\n');
        }
        let _ = load(&text);
    }
}

#[test]
fn frontend_line_address_is_accepted_with_warning() {
    let cfg = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
               backend be\n    server s 127.0.0.1:80\nfrontend fe :8081\n    default_backend be\n";
    let w = warnings(cfg);
    assert_eq!(
        w,
        vec![
            "t.cfg:7: the address on the 'frontend' line is deprecated since HAProxy 1.6; use 'bind <addr>'"
        ]
    );
    assert_eq!(
        load(cfg).expect("loads").config.frontends[0].binds[0].address,
        sa("0.0.0.0:8081")
    );
}

#[test]
fn named_defaults_and_from() {
    let t = "defaults base\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\ndefaults tcpdefs from base\n    mode tcp\n\
             frontend f from base\n    bind :80\n    default_backend be\n\
             backend be from base\n    server s 127.0.0.1:81\n\
             listen l from tcpdefs\n    bind :82\n    server s 127.0.0.1:81\n\
             listen last\n    bind :83\n    server s 127.0.0.1:81\n";
    let c = load(t).expect("loads").config;
    let fe = |n: &str| c.frontends.iter().find(|f| f.name == n).unwrap();
    assert_eq!(fe("f").mode, Mode::Http, "from base");
    assert_eq!(fe("l").mode, Mode::Tcp, "from tcpdefs");
    assert_eq!(fe("last").mode, Mode::Tcp, "no from: the last defaults");
    assert_eq!(
        fe("l").timeouts.client,
        Some(std::time::Duration::from_secs(5)),
        "tcpdefs took base's timeouts"
    );
    assert_eq!(
        errors("defaults a\n    mode http\nfrontend f from zz\n    bind :1\n"),
        vec!["t.cfg:3: 'from zz': no 'defaults' section named 'zz' before it"]
    );
}

#[test]
fn setenv_and_friends_reach_the_lines_after_them() {
    // The test environment has LB_ADDR=127.0.0.1 and LB_PORT=9090.
    let t = "global\n    setenv BE_PORT 20001\n    presetenv LB_PORT 1\n    presetenv NEWV 7\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\nlisten l\n    bind \":${LB_PORT}\"\n    \
             server s \"127.0.0.1:${BE_PORT}\"\n    server t \"${NEWV}.0.0.1:80\"\n";
    let c = load(t).expect("loads").config;
    assert_eq!(
        c.frontends[0].binds[0].address,
        sa("0.0.0.0:9090"),
        "presetenv keeps"
    );
    let s = &c.backends[0].servers;
    assert_eq!(s[0].address, sa("127.0.0.1:20001"), "setenv");
    assert_eq!(
        s[1].address,
        sa("7.0.0.1:80"),
        "presetenv sets what is unset"
    );
    let t = "global\n    unsetenv LB_PORT\n    resetenv BE\n    setenv X 1\n    \
             setenv Y \"${LB_ADDR}${X}\"\n";
    assert!(load(t).is_ok());
}
