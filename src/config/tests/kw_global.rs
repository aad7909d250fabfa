//! `global` keywords, and keywords in the wrong kind of section.

use std::time::Duration;

use super::*;

#[test]
fn maxsslconn_is_a_process_limit() {
    let g = |t: &str| config(&global(t)).global.maxsslconn;
    assert_eq!(g("    maxsslconn 5"), Some(5));
    assert_eq!(g("    maxsslconn 0"), None, "0: no limit, as HAProxy");
    assert!(gerr("    maxsslconn many").contains("maxsslconn"));
}

#[test]
fn global_process_keywords() {
    let g = config(&global(
        "    daemon\n    maxconn 100\n    nbthread 4\n    pidfile /run/lb.pid\n    node lb1",
    ))
    .global;
    assert!(g.daemon);
    assert_eq!((g.maxconn, g.nbthread), (Some(100), Some(4)));
    assert_eq!(g.pidfile, Some("/run/lb.pid".into()));
    assert_eq!(g.node.as_deref(), Some("lb1"));
    assert_eq!(
        gerr("    daemon now"),
        "'daemon' has an unexpected argument 'now'"
    );
    assert_eq!(
        gerr("    maxconn 0"),
        "'maxconn' expects a positive integer, got '0'"
    );
    assert_eq!(gerr("    maxconn"), "'maxconn' expects a positive integer");
    assert_eq!(
        gerr("    nbthread x"),
        "'nbthread' expects an integer between 1 and 4096, got 'x'"
    );
    assert_eq!(gerr("    pidfile"), "'pidfile' expects a file path");
    assert_eq!(gerr("    node"), "'node' expects a node name");
}

#[test]
fn global_users_and_groups() {
    let g = config(&global("    uid 99\n    gid 98")).global;
    assert_eq!(
        (g.uid, g.gid, g.user, g.group),
        (Some(99), Some(98), None, None)
    );
    let g = config(&global("    user root\n    group root")).global;
    assert_eq!((g.uid, g.gid), (Some(0), Some(0)));
    assert_eq!(
        (g.user.as_deref(), g.group.as_deref()),
        (Some("root"), Some("root"))
    );
    assert_eq!(
        gerr("    uid abc"),
        "'uid' expects a non-negative integer, got 'abc'"
    );
    assert_eq!(
        gerr("    user no-such-user-xyz"),
        "'user': unknown user 'no-such-user-xyz'"
    );
    assert_eq!(
        gerr("    group no-such-group-xyz"),
        "'group': unknown group 'no-such-group-xyz'"
    );
}

#[test]
fn global_log() {
    let g = config(&global(
        "    log 10.0.0.1:5140 len 1024 local3 info notice\n    log /dev/log daemon",
    ))
    .global;
    assert_eq!(
        g.logs[0],
        LogTarget::Syslog {
            address: "10.0.0.1:5140".into(),
            len: Some(1024),
            format: LogFormat::Rfc3164,
            facility: "local3".into(),
            level: Some("info".into()),
            minlevel: Some("notice".into()),
        }
    );
    assert!(matches!(&g.logs[1], LogTarget::Syslog { address, .. } if address == "unix@/dev/log"));
    let g = config(&global("    log stdout local0")).global;
    assert!(matches!(&g.logs[0], LogTarget::Syslog { address, .. } if address == "stdout"));
    let g = config(&global(
        "    log stderr format raw local0\n    log 127.0.0.1 format short local1",
    ))
    .global;
    assert!(matches!(
        &g.logs[0],
        LogTarget::Syslog {
            format: LogFormat::Raw,
            ..
        }
    ));
    assert!(matches!(
        &g.logs[1],
        LogTarget::Syslog {
            format: LogFormat::Short,
            ..
        }
    ));
    assert_eq!(
        gerr("    log stdout format rfc5425 local0"),
        "'log format' expects rfc3164, rfc5424, short, raw, priority, iso or timed, got 'rfc5425'"
    );
    assert_eq!(
        gerr("    log stdout sample 0:2 local0"),
        "'log sample' has a bad range '0' (1 to the size) in '0:2' (expects <ranges>:<size>)"
    );
    assert_eq!(
        gerr("    log 127.0.0.1 local9"),
        "'log' expects a syslog facility, got 'local9'; did you mean 'local0'?"
    );
    assert_eq!(
        gerr("    log 127.0.0.1 local0 loud"),
        "'log' expects a level (emerg, alert, crit, err, warning, notice, info, debug), got 'loud'"
    );
    assert_eq!(
        gerr("    log 127.0.0.1 len 10 local0"),
        "'log len' expects an integer between 80 and 65535, got '10'"
    );
    assert_eq!(
        gerr("    log 127.0.0.1"),
        "'log' expects a syslog facility (local0 ... local7, daemon, ...)"
    );
    assert_eq!(
        gerr("    log global"),
        "'log global' is only valid in a proxy section (it uses the 'global' targets)"
    );
    // Any number of targets, as HAProxy 2.x (1.4 kept two).
    let c = config(&global(
        "    log 127.0.0.1 local0\n    log 127.0.0.1 local1\n    log 127.0.0.1 local2",
    ));
    assert_eq!(c.global.logs.len(), 3);
}

#[test]
fn global_log_send_hostname() {
    assert_eq!(
        config(&global("    log-send-hostname lb1"))
            .global
            .log_send_hostname,
        Some(Some("lb1".into()))
    );
    assert_eq!(
        config(&global("    log-send-hostname"))
            .global
            .log_send_hostname,
        Some(None)
    );
    assert_eq!(
        gerr("    log-send-hostname a b"),
        "'log-send-hostname' has an unexpected argument 'b'"
    );
}

#[test]
fn global_stats() {
    let g = config(&global(
        "    stats socket /run/lb.sock mode 600 level admin\n    stats timeout 2m",
    ))
    .global;
    assert_eq!(
        g.stats_sockets,
        vec![StatsSocket {
            address: Address::Unix("/run/lb.sock".into()),
            mode: Some(0o600),
            level: "admin".into(),
            uid: None,
            gid: None,
            expose_fd: false,
        }]
    );
    assert_eq!(g.stats_timeout, Some(Duration::from_secs(120)));
    let g = config(&global("    stats socket /x expose-fd listeners")).global;
    assert!(g.stats_sockets[0].expose_fd);
    assert!(gerr("    stats socket /x expose-fd all").contains("expects 'listeners'"));
    assert!(gerr("    stats socket 127.0.0.1:9 expose-fd listeners").contains("Unix socket"));
    assert!(
        warnings(&global("    stats socket 127.0.0.1:9999")).is_empty(),
        "the stats socket is built: it no longer warns"
    );
    assert_eq!(
        gerr("    stats socket /x level root"),
        "'stats socket level' expects user, operator or admin, got 'root'"
    );
    assert_eq!(
        gerr("    stats socket /x mode 999"),
        "'stats socket mode' expects an octal mode such as 600, got '999'"
    );
    assert_eq!(
        gerr("    stats timeout soon"),
        "'stats timeout': expected a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d), got 'soon'"
    );
    assert_eq!(
        gerr("    stats enable"),
        "'stats' in 'global' expects 'socket', 'timeout' or 'maxconn', got 'enable'"
    );
    // `stats maxconn` (HAProxy's default 10 when unset) and its bounds.
    assert_eq!(
        config(&global("    stats maxconn 20")).global.stats_maxconn,
        Some(20)
    );
    assert_eq!(config(&global("    daemon")).global.stats_maxconn, None);
    assert!(
        warnings(&global("    stats maxconn 20")).is_empty(),
        "built: no warning"
    );
    assert!(
        gerr("    stats maxconn 0").starts_with("'stats maxconn'"),
        "{}",
        gerr("    stats maxconn 0")
    );
    assert_eq!(
        gerr("    stats timeout 0"),
        "'stats timeout' expects a positive value"
    );
}

#[test]
fn global_stats_socket_owner() {
    // Numeric ids, and names resolved when loading (root exists everywhere).
    let g = config(&global("    stats socket /run/lb.sock uid 123 gid 45")).global;
    assert_eq!(
        (g.stats_sockets[0].uid, g.stats_sockets[0].gid),
        (Some(123), Some(45))
    );
    let g = config(&global(
        "    stats socket /run/lb.sock user root group root",
    ))
    .global;
    assert_eq!(
        (g.stats_sockets[0].uid, g.stats_sockets[0].gid),
        (Some(0), Some(0))
    );
    assert_eq!(
        gerr("    stats socket /x user no-such-user-here"),
        "'stats socket user': unknown user 'no-such-user-here'"
    );
    assert_eq!(
        gerr("    stats socket /x group no-such-group-here"),
        "'stats socket group': unknown group 'no-such-group-here'"
    );
    // On a TCP socket, owner and mode cannot apply: said, not silently dropped.
    let w = warnings(&global("    stats socket 127.0.0.1:9999 uid 1 mode 600"));
    assert!(
        w.iter()
            .any(|w| w.contains("'stats socket uid' applies to Unix socket files only")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("'stats socket mode' applies to Unix socket files only")),
        "{w:?}"
    );
    // Options ringlb does not have are named, not skipped.
    let w = warnings(&global("    stats socket /x name n"));
    assert!(
        w.iter().any(|w| w.contains("'name' is not supported")),
        "{w:?}"
    );
    assert!(
        gerr("    stats socket /x accept-proxy")
            .starts_with("unknown stats socket option 'accept-proxy'"),
        "{}",
        gerr("    stats socket /x accept-proxy")
    );
}

#[test]
fn global_ignored_keywords_warn_with_their_reason() {
    for kw in [
        "quiet",
        "description a b c",
        "tune.ssl.force-private-cache",
        "spread-checks 5",
        "localpeer me",
        "tune.maxaccept 10",
        "noepoll",
        "nosplice",
        "busy-polling",
        "thread-groups 1",
        "httpclient.ssl.verify none",
    ] {
        let w = warnings(&global(&format!("    {kw}")));
        let name = kw.split(' ').next().unwrap_or_default();
        let reason = crate::config::kw::global::NOOPS
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("no reason listed for {name}"));
        assert_eq!(
            w,
            vec![format!("t.cfg:2: '{name}' is ignored by ringlb: {reason}")]
        );
    }
}

#[test]
fn lua_and_server_state_are_refused_with_the_reason() {
    assert!(gerr("    lua-load /etc/haproxy/x.lua").contains("Lua is not supported"));
    assert!(gerr("    tune.lua.maxmem 10").contains("Lua is not supported"));
    assert!(
        gerr("    server-state-file /var/lib/haproxy/state").contains("not saved or read back")
    );
}

#[test]
fn every_ignored_global_has_one_reason() {
    use crate::config::kw::global::{IGNORED, NOOPS};
    assert_eq!(IGNORED.len(), NOOPS.len());
    for kw in IGNORED {
        assert_eq!(NOOPS.iter().filter(|(k, _)| k == kw).count(), 1, "{kw}");
    }
}

#[test]
fn ulimit_n_is_kept_for_startup() {
    assert_eq!(
        config(&global("    ulimit-n 2000")).global.ulimit_n,
        Some(2000)
    );
    assert_eq!(config(&global("")).global.ulimit_n, None);
    assert!(gerr("    ulimit-n 0").contains("'ulimit-n' expects a positive integer"));
}

#[test]
fn nbproc_maps_to_threads_unless_nbthread_is_given() {
    let w = warnings(&global("    nbproc 3"));
    assert_has(&w, "'nbproc' is not supported since HAProxy 2.5");
    assert_eq!(config(&global("    nbproc 3")).global.nbthread, Some(3));
    let both = "    nbthread 2\n    nbproc 3";
    assert_eq!(config(&global(both)).global.nbthread, Some(2));
    let both = "    nbproc 3\n    nbthread 2";
    assert_eq!(config(&global(both)).global.nbthread, Some(2));
}

#[test]
fn unknown_tune_keywords_are_refused() {
    assert!(gerr("    tune.made-up 10").contains("tune.made-up"));
    // tune.vars.* bound what variables may hold: a limit, not listed as a no-op.
    assert!(gerr("    tune.vars.txn-max-size 10").contains("tune.vars.txn-max-size"));
}

#[test]
fn global_limits_hold_or_are_refused() {
    // The limits ringlb has as constants: the same value is exact, another
    // would not hold; rate limits are not built.
    for same in ["tune.bufsize 16384", "tune.http.maxhdr 128"] {
        assert!(
            warnings(&global(&format!("    {same}"))).is_empty(),
            "{same}"
        );
    }
    assert_eq!(
        gerr("    tune.bufsize 32768"),
        "'tune.bufsize 32768' is not supported: ringlb's buffers are fixed at 16384"
    );
    assert_eq!(
        gerr("    tune.http.maxhdr 101"),
        "'tune.http.maxhdr 101' is not supported: ringlb's header limit is fixed at 128"
    );
    // The lower of the two rates holds; 0 is no limit.
    let rate = |body: &str| config(&global(body)).global.max_rate;
    assert_eq!(rate("    maxconnrate 100"), Some(100));
    assert_eq!(rate("    maxconnrate 100\n    maxsessrate 40"), Some(40));
    assert_eq!(rate("    maxsessrate 0"), None);
    assert_eq!(rate("    maxconnrate 10\n    maxconnrate 30"), Some(30));
    assert!(gerr("    maxsessrate -1").contains("'maxsessrate'"));
}

#[test]
fn keywords_in_the_wrong_kind_of_section() {
    assert_eq!(
        gerr("    server s 127.0.0.1:80"),
        "'server' not allowed in 'global' section (it belongs in a proxy section)"
    );
    assert_eq!(
        err("    daemon"),
        "'daemon' not allowed in 'listen' section (it belongs in the 'global' section)"
    );
    assert_eq!(
        err("    balanse roundrobin"),
        "unknown keyword 'balanse' in 'listen' section; did you mean 'balance'?"
    );
    assert_eq!(
        err("    http-response track-sc0 src"),
        "'http-response track-sc0': this action is not supported by ringlb yet"
    );
}

#[test]
fn global_set_var_is_evaluated_at_load_in_the_proc_scope() {
    use crate::acl::Val;
    use crate::http::rules::vars::ProcVar;
    config(&global(
        "    set-var proc.kw_g_int int(42)\n    set-var proc.kw_g_str str(AbC),lower\n    \
         set-var proc.kw_g_bool bool(true)\n    set-var proc.kw_g_copy var(proc.kw_g_int)\n    \
         set-var-fmt proc.kw_g_fmt \"x-%[var(proc.kw_g_str)]-%[int(7)]\"",
    ));
    let get = |n: &str| ProcVar::resolve(n).with(|v| Some(format!("{v:?}")));
    assert_eq!(get("proc.kw_g_int"), Some(format!("{:?}", Val::Int(42))));
    assert_eq!(
        get("proc.kw_g_str"),
        Some(format!("{:?}", Val::Str(b"abc")))
    );
    assert_eq!(
        get("proc.kw_g_bool"),
        Some(format!("{:?}", Val::Bool(true)))
    );
    assert_eq!(get("proc.kw_g_copy"), Some(format!("{:?}", Val::Int(42))));
    assert_eq!(
        get("proc.kw_g_fmt"),
        Some(format!("{:?}", Val::Str(b"x-abc-7")))
    );
    // HAProxy's messages for a scope other than `proc` and a missing argument.
    assert_eq!(
        gerr("    set-var txn.x int(2)"),
        "'set-var': cannot set variable 'txn.x', only scope 'proc' is permitted in the global section."
    );
    assert_eq!(
        gerr("    set-var proc.x"),
        "'set-var' requires a process-wide variable name ('proc.<name>') and a sample expression."
    );
    assert_eq!(
        gerr("    set-var-fmt proc.x"),
        "'set-var-fmt' requires a process-wide variable name ('proc.<name>') and a format string."
    );
    // Fetches that need traffic are refused, naming the keyword.
    assert!(gerr("    set-var proc.x src").starts_with("'set-var': sample 'src' reads traffic"));
    assert!(gerr("    set-var-fmt proc.x \"%[req.hdr(host)]\"").starts_with("'set-var-fmt':"));
    assert!(gerr("    set-var-fmt proc.x \"%ci\"").contains("reads traffic"));
    assert!(gerr("    set-var proc.x int(abc)").contains("failed to parse 'abc'"));
    assert!(gerr("    set-var proc.x bool(yes)").contains("Expects 'true', 'false', '0' or '1'"));
    assert!(gerr("    set-var x int(1)").contains("scope"));
}

#[test]
fn global_pipes_for_splice() {
    let g = config(&global("    maxpipes 2\n    tune.pipesize 262144")).global;
    assert_eq!((g.maxpipes, g.pipesize), (Some(2), Some(262144)));
    assert!(warnings(&global("    maxpipes 0")).is_empty());
    assert_eq!(
        gerr("    tune.pipesize 0"),
        "'tune.pipesize' expects an integer between 1 and 2147483647, got '0'"
    );
    assert!(gerr("    maxpipes x").starts_with("'maxpipes' expects"));
}
