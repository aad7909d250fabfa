//! File syntax and command line against HAProxy 2.6 on the same files:
//! `.if` blocks pick the same lines (seen through `.notice` lines, which both
//! print with file:line), `${VAR-default}`/`${VAR[*]}`, unbalanced blocks,
//! `-cc`, `-f <dir>`, `-q`, `-C`, `-L`, durations with text after the unit;
//! then `ulimit-n` on a running ringlb.

mod common;

use common::{Ringlb, TestDir, binary, free_port, haproxy_binary};
use std::path::Path;
use std::process::Command;

/// Exit code and stderr of one run.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Environment both programs see.
const ENV: &[(&str, &str)] = &[
    ("FOO", "foo"),
    ("EMPTY", ""),
    ("PAIR", "x  y"),
    ("TWO", "a b"),
];

fn run(bin: &str, cwd: &Path, args: &[&str]) -> Out {
    let out = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env_remove("UNSET")
        .envs(ENV.iter().copied())
        .output()
        .expect("spawn");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// ringlb and HAProxy (None when HAProxy is not installed) on the same arguments.
fn both(cwd: &Path, args: &[&str]) -> (Out, Option<Out>) {
    let ours = run(&binary(), cwd, args);
    let theirs = haproxy_binary().map(|h| run(h.to_str().unwrap(), cwd, args));
    (ours, theirs)
}

/// The `.notice` lines as `(file:line, 'text'.)`, from either program's stderr.
fn notices(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter(|l| l.contains("NOTICE") && l.ends_with("'."))
        .filter_map(|l| {
            // HAProxy: `... : parsing [f.cfg:3]: 'x'.`; ringlb: `[NOTICE] f.cfg:3: 'x'.`
            if let Some(rest) = l.split("parsing [").nth(1) {
                let (loc, msg) = rest.split_once("]: ")?;
                return Some((loc.to_string(), msg.to_string()));
            }
            let rest = l.strip_prefix("[NOTICE] ")?;
            let (loc, msg) = rest.split_once(": ")?;
            Some((loc.to_string(), msg.to_string()))
        })
        .collect()
}

/// A listener so that HAProxy's `-c` answers 0 (it says 2 with none); -c binds nothing.
fn listener() -> String {
    format!(
        "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n\
         listen l\n  bind 127.0.0.1:{}\n  server s 127.0.0.1:{}\n",
        free_port(),
        free_port()
    )
}

const BRANCHES: &str = "global
.if version_atleast(2.4)
  .notice \"atleast 2.4\"
.else
  .notice \"not atleast 2.4\"
.endif
.if version_atleast(2.7) || version_before(2.6)
  .notice \"wrong version\"
.elif version_atleast(2.6.0) && version_before(3)
  .notice \"2.6 branch\"
.else
  .notice \"else branch\"
.endif
.if defined(EMPTY) && !defined(UNSET)
  .notice \"defined\"
  .if streq(a,b)
    .notice \"inner streq\"
  .elif strneq(a,b)
    .notice \"inner strneq\"
  .endif
.endif
.if 0
  .if bogus(
  .endif
  unknown-keyword here
.endif
.if feature(THREAD) && feature(EPOLL)
  .notice \"threads\"
.endif
.if 007 && -1 && (0 || 1)
  .notice \"numbers\"
.endif
.if
  .notice \"empty is false\"
.endif
  .notice \"${FOO-d} [${EMPTY-d}] ${UNSET-d e} ${UNSET-$FOO} x${UNSET}x\"
.if \"streq(${PAIR[*]},x y)\" && !\"streq(${PAIR},x y)\"
  .notice \"split\"
.endif
  .notice \"${.FILE} ${.LINE} ${.SECTION}\"
  .notice '${FOO}'
";

#[test]
fn if_blocks_and_expansion_pick_what_haproxy_picks() {
    let dir = TestDir::new("syntax-branches");
    dir.write("b.cfg", &format!("{BRANCHES}{}", listener()));
    let (ours, theirs) = both(dir.path(), &["-c", "-f", "b.cfg"]);
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    let got = notices(&ours.stderr);
    let texts: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        texts,
        [
            "'atleast 2.4'.",
            "'2.6 branch'.",
            "'defined'.",
            "'inner strneq'.",
            "'threads'.",
            "'numbers'.",
            "'foo [] d e $FOO xx'.",
            "'split'.",
            "'b.cfg 40 global'.",
            "'${FOO}'.",
        ]
    );
    if let Some(h) = theirs {
        assert_eq!(h.code, Some(0), "{}", h.stderr);
        assert_eq!(got, notices(&h.stderr), "haproxy: {}", h.stderr);
    }
}

#[test]
fn unbalanced_blocks_and_alerts_fail_at_the_same_line() {
    // The listener adds 8 lines: a block left open is reported at the last one.
    for (body, line, needle) in [
        (".if 1\n", 10, "non-terminated '.if' block"),
        (".endif\n", 2, "lone '.endif'"),
        (".else\n", 2, "lone '.else'"),
        (
            ".if 1\n.else\n.elif 1\n.endif\n",
            4,
            "'.elif' after '.else'",
        ),
        (".if 1\n.else\n.else\n.endif\n", 4, "'.else' after '.else'"),
        (".alert \"stop\"\n", 2, "'stop'."),
        (
            ".notice \"${TWO[*]}\"\n",
            2,
            "Unexpected argument 'b' for '.notice'",
        ),
        (".if x\n.endif\n", 2, "conditional expression 'x'"),
        (".foo\n", 2, "unknown directive '.foo'"),
    ] {
        let dir = TestDir::new("syntax-unbalanced");
        dir.write("u.cfg", &format!("global\n{body}{}", listener()));
        let (ours, theirs) = both(dir.path(), &["-c", "-f", "u.cfg"]);
        let at = format!("u.cfg:{line}");
        assert_eq!(ours.code, Some(1), "{body}: {}", ours.stderr);
        assert!(
            ours.stderr.contains(&at) && ours.stderr.contains(needle),
            "{body}: {}",
            ours.stderr
        );
        if let Some(h) = theirs {
            assert_eq!(h.code, Some(1), "{body}: {}", h.stderr);
            assert!(
                h.stderr.contains(&at) && h.stderr.contains(needle),
                "{body}: {}",
                h.stderr
            );
        }
    }
}

#[test]
fn cc_exit_codes_match_haproxy() {
    let dir = TestDir::new("syntax-cc");
    for (cond, code) in [
        ("version_atleast(2.4)", 0),
        ("version_atleast(2.6.12)", 0),
        ("version_before(2.6)", 1),
        ("defined(FOO) && !defined(UNSET)", 0),
        ("streq(a,b)", 1),
        ("1 && 0", 1),
        ("0 || !0", 0),
        ("feature(THREAD)", 0),
        ("feature(QUIC)", 1),
        ("streq(a, a)", 1),
        ("defined( FOO)", 1),
        (" ! 0", 0),
        ("!(1)", 1),
        ("(1)&&(1)", 0),
        ("version_atleast(2.6-dev1)", 0),
        ("version_before(abc)", 1),
        ("foo(", 2),
        ("x", 2),
    ] {
        let (ours, theirs) = both(dir.path(), &["-cc", cond]);
        assert_eq!(ours.code, Some(code), "{cond}: {}", ours.stderr);
        if let Some(h) = theirs {
            assert_eq!(h.code, Some(code), "haproxy {cond}: {}", h.stderr);
        }
    }
}

/// ringlb speaks TLS (rustls): `feature(OPENSSL)` is true, as in HAProxy's
/// Debian build, so configurations keep their TLS lines.
#[test]
fn openssl_feature_is_true_with_tls() {
    let dir = TestDir::new("syntax-openssl");
    let ours = run(&binary(), dir.path(), &["-cc", "feature(OPENSSL)"]);
    assert_eq!(ours.code, Some(0));
    let vv = run(&binary(), dir.path(), &["-vv"]);
    assert!(
        vv.stdout
            .contains("Feature list : +CPU_AFFINITY +EPOLL +OPENSSL +THREAD"),
        "{}",
        vv.stdout
    );
    assert!(vv.stdout.contains("2.6.12"), "{}", vv.stdout);
}

#[test]
fn f_directory_reads_cfg_files_in_name_order() {
    let dir = TestDir::new("syntax-fdir");
    let d = dir.path().join("conf.d");
    std::fs::create_dir_all(d.join("sub.cfg")).unwrap();
    let note = |t: &str| format!("global\n  .notice \"{t}\"\n");
    dir.write("conf.d/b.cfg", &format!("{}{}", note("b"), listener()));
    dir.write("conf.d/a.cfg", &note("a"));
    dir.write("conf.d/A.cfg", &note("A"));
    dir.write("conf.d/c.conf", &note("not .cfg"));
    dir.write("conf.d/.h.cfg", &note("hidden"));
    dir.write("conf.d/sub.cfg/x.cfg", &note("in a subdirectory"));
    let (ours, theirs) = both(dir.path(), &["-c", "-f", "conf.d"]);
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    let got = notices(&ours.stderr);
    let texts: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(texts, ["'A'.", "'a'.", "'b'."]);
    if let Some(h) = theirs {
        assert_eq!(h.code, Some(0), "{}", h.stderr);
        assert_eq!(got, notices(&h.stderr));
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ours, theirs) = both(dir.path(), &["-c", "-f", "empty"]);
    assert_eq!(ours.code, Some(1), "{}", ours.stderr);
    if let Some(h) = theirs {
        assert_eq!(h.code, Some(1));
    }
}

#[test]
fn quiet_chdir_and_localpeer() {
    let dir = TestDir::new("syntax-cli");
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    dir.write(
        "sub/q.cfg",
        &format!(
            "global\n  .warning \"w\"\n  .notice \"peer=${{HAPROXY_LOCALPEER}}\"\n{}",
            listener()
        ),
    );
    let (ours, theirs) = both(dir.path(), &["-c", "-q", "-C", "sub", "-f", "q.cfg"]);
    assert_eq!(ours.code, Some(0), "{}", ours.stderr);
    assert_eq!((ours.stdout.as_str(), ours.stderr.as_str()), ("", ""));
    if let Some(h) = theirs {
        assert_eq!(h.code, Some(0));
        assert_eq!((h.stdout.as_str(), h.stderr.as_str()), ("", ""));
    }
    let (ours, theirs) = both(
        dir.path(),
        &["-c", "-L", "edge1", "-C", "sub", "-f", "q.cfg"],
    );
    assert_eq!(notices(&ours.stderr)[0].1, "'peer=edge1'.");
    assert!(ours.stderr.contains("q.cfg:2: 'w'."), "{}", ours.stderr);
    assert!(ours.stdout.contains("Configuration file is valid"));
    if let Some(h) = theirs {
        assert_eq!(notices(&h.stderr)[0].1, "'peer=edge1'.");
        assert!(h.stdout.contains("Configuration file is valid"));
    }
}

#[test]
fn durations_with_text_after_the_unit_warn_as_haproxy() {
    let dir = TestDir::new("syntax-durations");
    let cfg = |t: &str| {
        format!(
            "defaults\n  mode http\n  timeout client {t}\n  timeout server 1s\n  timeout connect 1s\n\
             listen l\n  bind 127.0.0.1:{}\n  server s 127.0.0.1:{}\n",
            free_port(),
            free_port()
        )
    };
    for (t, code, needle) in [
        (
            "15min",
            0,
            "unexpected character 'i' after the timer value '15min', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. This will be reported as an error in next versions.",
        ),
        (
            "10sec",
            0,
            "unexpected character 'e' after the timer value '10sec'",
        ),
        ("1.5s", 1, "timeout client"),
        ("5S", 1, "timeout client"),
    ] {
        dir.write("d.cfg", &cfg(t));
        let (ours, theirs) = both(dir.path(), &["-c", "-f", "d.cfg"]);
        assert_eq!(ours.code, Some(code), "{t}: {}", ours.stderr);
        assert!(ours.stderr.contains(needle), "{t}: {}", ours.stderr);
        if let Some(h) = theirs {
            assert_eq!(h.code, Some(code), "{t}: {}", h.stderr);
            assert!(h.stderr.contains(needle), "{t}: {}", h.stderr);
        }
    }
}

/// `ulimit-n` sets the open-file limit of the running process.
#[test]
fn ulimit_n_sets_the_open_file_limit() {
    let cfg = format!(
        "global\n  ulimit-n 1500\n  maxconn 100\n  nbthread 1\n\
         defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n\
         listen l\n  bind 127.0.0.1:{}\n  server s 127.0.0.1:{}\n",
        free_port(),
        free_port()
    );
    let r = Ringlb::start(&cfg);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", r.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    // `Max open files  <soft>  <hard>  files`
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], "1500", "{line}");
}

/// `-N`: frontends without `maxconn` get this one (seen as `slim` in the
/// stats); one with its own keeps it.
#[test]
fn n_sets_the_default_frontend_maxconn() {
    let dir = TestDir::new("syntax-maxpconn");
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n  stats socket {}\n  nbthread 1\n\
         defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n\
         listen plain\n  bind 127.0.0.1:{}\n  server s 127.0.0.1:{}\n\
         listen own\n  bind 127.0.0.1:{}\n  maxconn 3\n  server s 127.0.0.1:{}\n",
        sock.display(),
        free_port(),
        free_port(),
        free_port(),
        free_port()
    );
    let _r = Ringlb::start_with_args(&cfg, &["-N", "7"]);
    let rows = common::parse_stats_csv(&common::stats_command(&sock, "show stat"));
    assert_eq!(
        common::stats_num(common::stats_row(&rows, "plain", "FRONTEND"), "slim"),
        7
    );
    assert_eq!(
        common::stats_num(common::stats_row(&rows, "own", "FRONTEND"), "slim"),
        3
    );
}
