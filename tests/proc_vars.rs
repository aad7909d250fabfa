//! `proc` variables end to end, against HAProxy 2.6 on the same text: the
//! global `set-var`/`set-var-fmt` evaluated at startup (`int()`, `env()`,
//! `str()`), read by ACLs and log-format values; `http-request set-var(proc.x)`
//! and `tcp-request content set-var(proc.x)` on one connection seen by the
//! next ones, whichever of the two workers takes them; `unset-var(proc.x)`;
//! `var(<name>,<default>)`; the log line (captures); the global section's
//! scope rule and `.diag` under `-dD`.

mod common;

use common::{
    HttpBackend, HttpClient, ListenCfg, Ringlb, Syslog, TestDir, free_port, haproxy_binary,
};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable both programs read through `env()`.
const ENV_NAME: &str = "RINGLB_PROC_VARS_TEST";
const ENV_VALUE: &str = "from-the-env";

fn config(port: u16, backend: u16) -> String {
    format!(
        "global
    nbthread 2
    set-var proc.limit int(2)
    set-var-fmt proc.env \"home=%[env({ENV_NAME})]\"
    set-var proc.greeting str(Hello),lower
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request content set-var(proc.peer) src
    http-request set-var(proc.count) req.hdr(x-set) if {{ req.hdr(x-set) -m found }}
    http-request unset-var(proc.count) if {{ path /unset }}
    http-request deny if {{ path /deny }} {{ var(proc.limit) -m int gt 1 }}
    http-request deny if {{ path /nodeny }} {{ var(proc.limit) -m int gt 5 }}
    http-request deny deny_status 429 if {{ path /gate }} {{ var(proc.count) -m str closed }}
    http-request deny deny_status 410 if {{ path /dint }} {{ var(txn.nope,3) -m int eq 3 }}
    http-response set-header X-Count %[var(proc.count)]
    http-response set-header X-Env %[var(proc.env)]
    http-response set-header X-Limit %[var(proc.limit)]
    http-response set-header X-Peer %[var(proc.peer)]
    http-response set-header X-Greeting %[var(proc.greeting)]
    http-response set-header X-Default %[var(txn.nope,dflt)]
    http-response set-header X-Pdefault %[var(proc.never_set,pd),upper]
    default_backend be
backend be
    server a 127.0.0.1:{backend}
"
    )
}

/// One request on a new connection: status and the variables' headers.
fn get(port: u16, path: &str, set: Option<&str>) -> String {
    let mut c = HttpClient::connect(port);
    let extra = set.map(|v| format!("X-Set: {v}\r\n")).unwrap_or_default();
    let r = c.request(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n").as_bytes(),
    );
    let h = |n: &str| r.header(n).unwrap_or("<none>").to_string();
    format!(
        "{} count={} env={} limit={} peer={} greeting={} default={}/{}",
        r.status,
        h("x-count"),
        h("x-env"),
        h("x-limit"),
        h("x-peer"),
        h("x-greeting"),
        h("x-default"),
        h("x-pdefault")
    )
}

/// The requests of the comparison, each on its own connection.
fn scenario(port: u16) -> Vec<String> {
    let mut out = vec![
        get(port, "/deny", None),
        get(port, "/nodeny", None),
        get(port, "/", None),
        get(port, "/", Some("v1")),
    ];
    // New connections, spread over both workers by SO_REUSEPORT: all see v1.
    for _ in 0..16 {
        out.push(get(port, "/", None));
    }
    // Each value set on one connection is the one the next connection reads.
    for i in 0..8 {
        get(port, "/", Some(&format!("n{i}")));
        out.push(get(port, "/", None));
    }
    out.push(get(port, "/gate", None));
    get(port, "/", Some("closed"));
    out.push(get(port, "/gate", None));
    out.push(get(port, "/unset", None));
    out.push(get(port, "/", None));
    out.push(get(port, "/dint", None));
    out
}

/// HAProxy on `cfg` with the test's environment variable set.
fn start_haproxy(bin: &Path, dir: &TestDir, cfg: &str, port: u16) -> Child {
    let path = dir.write("haproxy.cfg", cfg);
    let mut child = Command::new(bin)
        .args(["-db", "-f"])
        .arg(path)
        .env(ENV_NAME, ENV_VALUE)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn haproxy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "haproxy exited");
        assert!(Instant::now() < deadline, "haproxy did not accept");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn proc_variables_are_process_wide_like_haproxy() {
    let backend = HttpBackend::start("a");
    let port = free_port();
    let cfg = config(port, backend.port());
    let mut lb = Ringlb::spawn_with(&cfg, &["-db"], |c| {
        c.env(ENV_NAME, ENV_VALUE);
    });
    lb.wait_ready();
    let ours = scenario(port);
    drop(lb);

    let peer = "peer=127.0.0.1";
    let env = format!("env=home={ENV_VALUE}");
    assert!(ours[0].starts_with("403 "), "{}", ours[0]);
    let first = format!("200 count= {env} limit=2 {peer} greeting=hello default=dflt/PD");
    assert_eq!(ours[1], first);
    assert_eq!(ours[2], first);
    let v1 = format!("200 count=v1 {env} limit=2 {peer} greeting=hello default=dflt/PD");
    assert!(ours[3..20].iter().all(|r| *r == v1), "{:#?}", &ours[3..20]);
    for i in 0..8 {
        assert!(
            ours[20 + i].starts_with(&format!("200 count=n{i} ")),
            "{ours:#?}"
        );
    }
    assert!(ours[28].starts_with("200 "), "{}", ours[28]);
    assert!(ours[29].starts_with("429 "), "{}", ours[29]);
    assert!(ours[31].starts_with("200 count= "), "{}", ours[31]);
    assert!(ours[32].starts_with("410 "), "{}", ours[32]);

    let Some(bin) = haproxy_binary() else {
        eprintln!("haproxy not installed: the comparison with HAProxy is skipped");
        return;
    };
    let port = free_port();
    let dir = TestDir::new("haproxy");
    let mut h = start_haproxy(&bin, &dir, &config(port, backend.port()), port);
    let theirs = scenario(port);
    let _ = h.kill();
    let _ = h.wait();
    assert_eq!(ours, theirs);
}

/// Exit code and stderr of `<bin> <args>` in `dir`.
fn check(bin: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A listener so that `-c` answers 0 for HAProxy.
fn listener() -> String {
    format!(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n\
         listen l\n bind 127.0.0.1:{}\n server s 127.0.0.1:{}\n",
        free_port(),
        free_port()
    )
}

#[test]
fn global_set_var_takes_only_the_proc_scope_and_no_traffic() {
    let dir = TestDir::new("procvars");
    let cfg = |g: &str| format!("global\n {g}\n{}", listener());
    dir.write("scope.cfg", &cfg("set-var txn.x int(2)"));
    dir.write("fmt.cfg", &cfg("set-var-fmt req.x \"%[int(1)]\""));
    dir.write("traffic.cfg", &cfg("set-var proc.x src"));
    dir.write("fmt_traffic.cfg", &cfg("set-var-fmt proc.x \"%[src]\""));
    dir.write("ok.cfg", &cfg("set-var proc.x env(HOME),upper"));
    let ringlb = common::binary();
    let haproxy = haproxy_binary();
    for (file, needle) in [
        (
            "scope.cfg",
            "scope.cfg:2: 'set-var': cannot set variable 'txn.x', only scope 'proc' is permitted in the global section.",
        ),
        (
            "fmt.cfg",
            "fmt.cfg:2: 'set-var-fmt': cannot set variable 'req.x', only scope 'proc' is permitted in the global section.",
        ),
        (
            "traffic.cfg",
            "traffic.cfg:2: 'set-var': sample 'src' reads traffic",
        ),
        (
            "fmt_traffic.cfg",
            "fmt_traffic.cfg:2: 'set-var-fmt': '%[src]' reads traffic",
        ),
    ] {
        let (code, err) = check(&ringlb, dir.path(), &["-c", "-f", file]);
        assert_eq!(code, Some(1), "{file}: {err}");
        assert!(err.contains(needle), "{file}: {err}");
        if let Some(h) = &haproxy {
            let (code, err) = check(h.to_str().unwrap(), dir.path(), &["-c", "-f", file]);
            assert_ne!(code, Some(0), "haproxy accepted {file}: {err}");
            // The scope message is HAProxy's own, word for word.
            if file.ends_with("scope.cfg") || file == "fmt.cfg" {
                let msg = needle.split_once(": ").unwrap().1;
                assert!(err.contains(msg), "{err}");
            }
        }
    }
    let (code, err) = check(&ringlb, dir.path(), &["-c", "-f", "ok.cfg"]);
    assert_eq!(code, Some(0), "{err}");
    if let Some(h) = &haproxy {
        let (code, err) = check(h.to_str().unwrap(), dir.path(), &["-c", "-f", "ok.cfg"]);
        assert_eq!(code, Some(0), "{err}");
    }
}

/// `(file:line, 'text'.)` of the `[DIAG]` lines of either program's stderr.
fn diag_lines(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter(|l| l.starts_with("[DIAG]"))
        .filter_map(|l| {
            // HAProxy: `[DIAG] (pid) : config : parsing [f.cfg:3]: 'x'.`; ringlb: `[DIAG] f.cfg:3: 'x'.`
            if let Some(rest) = l.split("parsing [").nth(1) {
                let (loc, msg) = rest.split_once("]: ")?;
                return Some((loc.to_string(), msg.to_string()));
            }
            let (loc, msg) = l.strip_prefix("[DIAG] ")?.split_once(": ")?;
            Some((loc.to_string(), msg.to_string()))
        })
        .collect()
}

#[test]
fn diag_prints_only_in_diagnostic_mode_like_haproxy() {
    let dir = TestDir::new("diag");
    let text = format!(
        "global\n.diag \"hello world\"\n.diag\n.if 1\n  .diag \"inside\"\n.endif\n\
         .if 0\n  .diag \"skipped\"\n.endif\n{}",
        listener()
    );
    dir.write("d.cfg", &text);
    let ringlb = common::binary();
    let (code, plain) = check(&ringlb, dir.path(), &["-c", "-f", "d.cfg"]);
    assert_eq!(code, Some(0), "{plain}");
    assert!(!plain.contains("DIAG"), "{plain}");
    let (code, err) = check(&ringlb, dir.path(), &["-dD", "-q", "-c", "-f", "d.cfg"]);
    assert_eq!(code, Some(0), "{err}");
    let ours = diag_lines(&err);
    let want = [
        ("d.cfg:2", "'hello world'."),
        ("d.cfg:3", "''."),
        ("d.cfg:5", "'inside'."),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(ours, want, "{err}");
    if let Some(h) = haproxy_binary() {
        let h = h.to_str().unwrap().to_string();
        let (code, plain) = check(&h, dir.path(), &["-c", "-f", "d.cfg"]);
        assert_eq!(code, Some(0), "{plain}");
        assert!(!plain.contains("DIAG"), "{plain}");
        let (_, err) = check(&h, dir.path(), &["-dD", "-q", "-c", "-f", "d.cfg"]);
        assert_eq!(diag_lines(&err), want, "{err}");
    }
}

/// ringlb has no `log-format` yet: the log line reads the variables through
/// `capture` (log-format values in rules are checked above, `set-header`).
#[test]
fn log_line_reads_proc_variables() {
    let mut syslog = Syslog::new();
    let be = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global(&format!("log 127.0.0.1:{} local0", syslog.port()))
        .global("set-var proc.boot str(booted)")
        .line("log global")
        .line("option httplog")
        .line("http-request set-var(proc.last) path")
        .line("http-request capture var(proc.boot) len 20")
        .line("http-request capture var(proc.last) len 20")
        .server("a", be.port());
    let lb = Ringlb::start(&cfg.render());
    for path in ["/one", "/two"] {
        let mut c = HttpClient::connect(lb.port());
        let r = c.request(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200);
    }
    let line = syslog.wait("the second line", |l| l.contains("GET /two"));
    assert!(line.contains("{booted|/two}"), "{line}");
}
