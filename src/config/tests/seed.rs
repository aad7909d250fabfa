//! The seed configuration (SPEC §1): exact model and warnings, from text and from disk.

use std::time::Duration;

use super::*;

fn origin(line: usize) -> Origin {
    Origin {
        file: "seed.cfg".into(),
        line,
    }
}

const SEED: &str = include_str!("../../../configs/seed-webfarm.cfg");

#[test]
fn seed_config_model() {
    let loaded = load_with_env(&[("seed.cfg", SEED)], &env).expect("the seed loads");
    let c = loaded.config;
    let syslog = |facility: &str, level: Option<&str>| LogTarget::Syslog {
        address: "127.0.0.1:514".into(),
        len: None,
        format: LogFormat::Rfc3164,
        facility: facility.into(),
        level: level.map(str::to_string),
        minlevel: None,
    };
    let global = Global {
        daemon: true,
        maxconn: Some(4096),
        uid: Some(99),
        gid: Some(99),
        logs: vec![syslog("local0", None), syslog("local1", Some("notice"))],
        log_send_hostname: Some(None),
        ..Global::default()
    };
    assert_eq!(c.global, global);
    let timeouts = Timeouts {
        connect: Some(Duration::from_secs(5)),
        client: Some(Duration::from_secs(30)),
        server: Some(Duration::from_secs(30)),
        ..Timeouts::default()
    };
    let http = HttpOptions {
        pretend_keepalive: false,
        accept_invalid_request: false,
        accept_invalid_response: false,
        use_proxy_header: false,
        originalto: None,
        max_body: None,
        httpclose: true,
        http_server_close: false,
        forwardfor: Some(ForwardFor {
            header: "X-Forwarded-For".into(),
            except: None,
            if_none: false,
        }),
        ..HttpOptions::default()
    };
    let log = LogOptions {
        targets: vec![LogTarget::Global],
        log_health_checks: true,
        ..LogOptions::default()
    };
    let stats = Stats {
        enabled: true,
        uri: Some("/admin".into()),
        ..Stats::default()
    };
    let server = |name: &str, addr: &str, cookie: &str, line| Server {
        name: name.into(),
        address: sa(addr),
        port_offset: None,
        weight: 1,
        cookie: Some(cookie.into()),
        check: true,
        inter: Duration::from_millis(1000),
        fastinter: None,
        downinter: None,
        rise: 2,
        fall: 5,
        check_port: None,
        check_addr: None,
        backup: false,
        maxconn: None,
        maxqueue: None,
        disabled: false,
        health: Default::default(),
        dns: None,
        unresolved: false,
        source: None,
        minconn: None,
        id: None,
        send_proxy: None,
        check_send_proxy: None,
        ssl: None,
        check_ssl: None,
        agent: None,
        tcpcheck_tls: None,
        origin: origin(line),
    };
    let backend = Backend {
        persistence: Default::default(),
        keepalive: false,
        nolinger: false,
        splice: Default::default(),
        rules: Default::default(),
        name: "webfarm".into(),
        mode: Mode::Http,
        balance: Balance::RoundRobin,
        hash_type: HashType::MapBased,
        hash_function: Default::default(),
        hash_balance_factor: 0,
        servers: vec![
            server("xvadm01.ncli", "127.0.0.1:8081", "admin_portal_1", 22),
            server("xvadm02.ncli", "127.0.0.1:8082", "admin_portal_2", 23),
        ],
        timeouts: timeouts.clone(),
        retries: 3,
        redispatch: false,
        redispatch_after: -1,
        allbackups: false,
        persist: false,
        cookie: Some(Cookie {
            name: "JSESSIONID".into(),
            mode: CookieMode::Prefix,
            indirect: false,
            nocache: false,
            httponly: false,
            secure: false,
            postonly: false,
            attrs: Vec::new(),
            domains: vec![],
            maxidle: None,
            maxlife: None,
            origin: origin(18),
        }),
        external_check: None,
        http_check: Default::default(),
        httpchk: Some(HttpCheck {
            method: "GET".into(),
            uri: "/l7check.html".into(),
            version: "HTTP/1.0".into(),
        }),
        tcpcheck: None,
        http: http.clone(),
        log: log.clone(),
        stats: stats.clone(),
        maxconn: None,
        errors: Default::default(),
        tcp: Default::default(),
        acls: Default::default(),
        settings: Default::default(),
        origin: origin(11),
        stick: Default::default(),
    };
    let frontend = Frontend {
        rules: Default::default(),
        name: "webfarm".into(),
        mode: Mode::Http,
        binds: vec![Bind {
            keepalive: false,
            address: sa("127.0.0.1:8080"),
            defer_accept: false,
            opts: Default::default(),
            origin: origin(11),
        }],
        nolinger: false,
        splice: Default::default(),
        maxconn: None,
        backend: Some(0),
        routing: Default::default(),
        tcp: Default::default(),
        timeouts,
        http,
        log,
        stats,
        errors: Default::default(),
        monitor: Default::default(),
        captures: None,
        unique_id: None,
        settings: Default::default(),
        origin: origin(11),
    };
    assert_eq!(c.backends, vec![backend]);
    assert_eq!(c.frontends, vec![frontend]);
}

#[test]
fn seed_config_warnings() {
    let loaded = load_with_env(&[("seed.cfg", SEED)], &env).expect("the seed loads");
    let got: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.origin, w.message))
        .collect();
    let expected: Vec<String> = vec![
        "seed.cfg:11: the address on the 'listen' line is deprecated since HAProxy 1.6; use 'bind <addr>'".into(),
        "seed.cfg:11: missing timeouts for proxy 'webfarm'. While not properly invalid, you will certainly \
         encounter various problems with such a configuration. To fix this, please ensure that all following \
         timeouts are set to a non-zero value: 'client', 'connect', 'server'."
            .into(),
        "seed.cfg:18: 'cookie' at line 18 overrides 'cookie' at line 17; only the last one is used (as HAProxy)".into(),
    ];
    assert_eq!(got, expected);
}

#[test]
fn seed_file_loads_from_disk() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/seed-webfarm.cfg");
    let loaded = crate::config::load_files(&[path]).expect("the seed file loads");
    assert_eq!(loaded.config.frontends.len(), 1);
    assert!(loaded.warnings[0].origin.file.ends_with("seed-webfarm.cfg"));
}

#[test]
fn missing_file_is_an_error() {
    let e = crate::config::load_files(&["/nonexistent/x.cfg".into()]).unwrap_err();
    assert_has(
        &e.errors,
        "/nonexistent/x.cfg: cannot open configuration file",
    );
}
