//! Custom log formats end to end, next to HAProxy 2.6 on the same
//! configuration and requests: `log-format` with HAProxy's `%` variables,
//! `%[fetch,conv]` samples and the `+Q`, `+X`, `+E` flags; `option httplog
//! clf`; `log-format-sd` in RFC 5424 lines; the `log ... format` framings
//! (rfc5424, priority, short, raw, iso, timed); and the fetches a log line
//! cannot read, refused by both.
//!
//! Lines go to a UDP socket the test reads. Fields that legitimately differ
//! between two programs (client ports, dates, durations, pids, the tag
//! `ringlb`/`haproxy`) are masked: digits become `N`.

mod common;

use std::time::Duration;

use common::{Haproxy, HttpBackend, HttpClient, Ringlb, Syslog, TestDir, free_port, run_cli};

/// A frontend logging with `front` (its log and format lines) to a backend.
fn config(syslog: u16, framing: &str, port: u16, backend: u16, front: &str) -> String {
    format!(
        "global\n    log 127.0.0.1:{syslog} {framing} local0\n\
         defaults\n    mode http\n    log global\n    timeout connect 2s\n    \
         timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n{front}    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{backend}\n"
    )
}

/// The lines one program logs for `paths` (one connection each) on this config.
fn run(haproxy: bool, framing: &str, front: &str, paths: &[&str]) -> Option<Vec<String>> {
    let backend = HttpBackend::start("origin");
    let mut syslog = Syslog::new();
    let port = free_port();
    let cfg = config(syslog.port(), framing, port, backend.port(), front);
    let (_h, _r);
    if haproxy {
        _h = Some(Haproxy::start(&cfg, port)?);
    } else {
        _r = Some(Ringlb::start(&cfg));
    }
    for p in paths {
        let mut c = HttpClient::connect(port);
        let _ = c.request(
            format!(
                "GET {p} HTTP/1.1\r\nHost: Example.COM\r\nCookie: SESS=abc\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    let mut lines = Vec::new();
    for p in paths {
        let want = format!("GET {p} ");
        lines.push(syslog.wait(&want, |l| l.contains(&want) && !l.contains(" started.")));
    }
    syslog.collect(Duration::from_millis(100));
    Some(
        lines
            .into_iter()
            .map(|l| l.trim_end().to_string())
            .collect(),
    )
}

/// Digits masked (durations, ports, dates, pids), and the program's tag.
/// (A run of digits that is itself `N` stays apart from a literal `N`: no
/// compared field has one.)
fn mask(s: &str) -> String {
    s.replace("haproxy", "TAG")
        .replace("ringlb", "TAG")
        .chars()
        .fold(String::new(), |mut m, c| {
            // A run of digits is one `N`: durations differ in length.
            match (c.is_ascii_digit(), m.ends_with('N')) {
                (true, true) => {}
                (true, false) => m.push('N'),
                _ => m.push(c),
            }
            m
        })
}

/// Compares field by field: `exact` fields as they are, the others masked.
fn same(ours: &str, theirs: &str, sep: char, exact: &[usize]) {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.split(sep).collect(), theirs.split(sep).collect());
    assert_eq!(a.len(), b.len(), "ringlb: {ours}\nhaproxy: {theirs}");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if exact.contains(&i) {
            assert_eq!(x, y, "field {i}\nringlb: {ours}\nhaproxy: {theirs}");
        } else {
            assert_eq!(
                mask(x),
                mask(y),
                "field {i}\nringlb: {ours}\nhaproxy: {theirs}"
            );
        }
    }
}

/// The message after an RFC 3164 header.
fn msg(line: &str) -> &str {
    line.split_once("]: ").map_or(line, |(_, m)| m)
}

/// Most of §8.2.4's variables, samples with converters and the flags, in
/// one line separated by `|` (spaces collapse: a second format checks
/// them). Fields 0.. that do not depend on time or ports are compared as
/// they are, the others with their digits masked.
const MANY: &str = "%ci|%{+Q}ci|%{+X}ci|%fi|%f|%ft|%b|%s|%{+Q}si|%sp|%ST|%ts|%tsc|%rc|%sq/%bq|\
%HM|%HU|%HP|%HPO|%HQ|%HV|%{+Q}r|%[method]|%[status]|%[src,ipmask(24)]|%{+Q}[env(RINGLB_NO_SUCH_VAR),lower]|\
%[env(RINGLB_NO_SUCH_VAR),lower]|%{+E}[str(ab)]|%CC|%{+Q}CS|%hr|%{+Q}hr|%hrl|%{+Q}hrl|%H|%Tw|%Th|%Ti|%ac/%fc/%bc/%sc|\
%cp|%fp|%Tq|%TR|%Tc|%Tr|%Ta|%Tt|%Td|%Tu|%B|%t|%tr|%T|%Tl|%trg|%trl|%Ts|%ms|%pid";

/// How many leading fields of [`MANY`] compare exactly (but `%sp`: each
/// run has its own origin server). `%bc/%sc` come after them: HAProxy has
/// closed the server connection of a `Connection: close` exchange by then.
const MANY_EXACT: usize = 38;

#[test]
fn log_format_variables_samples_and_flags_as_haproxy() {
    let front = format!(
        "    capture request header Host len 20\n    capture request header X-None len 5\n    \
         capture cookie SESS len 20\n    log-format \"{MANY}\"\n"
    );
    let paths = ["/a/b?x=1", "/c"];
    let ours = run(false, "", &front, &paths).unwrap();
    let Some(theirs) = run(true, "", &front, &paths) else {
        return;
    };
    let exact: Vec<usize> = (0..MANY_EXACT).filter(|&i| i != 9).collect();
    for (o, t) in ours.iter().zip(&theirs) {
        same(msg(o), msg(t), '|', &exact);
    }
    // Spot checks that hold whatever HAProxy says.
    let f: Vec<&str> = msg(&ours[0]).split('|').collect();
    assert_eq!(
        &f[..4],
        ["127.0.0.1", "\"127.0.0.1\"", "7F000001", "127.0.0.1"]
    );
    assert_eq!(f[17], "/a/b", "%HP");
    assert_eq!(f[19], "?x=1", "%HQ");
    assert_eq!(f[27], "ab", "+E");
    // `%hr` is `{Example.COM|}` (the empty X-None slot after the `|`).
    assert_eq!((f[30], f[31]), ("{Example.COM", "}"), "%hr");
}

/// Spaces in a format are separators that merge, an empty `%hr` vanishes
/// with them, `%{+Q}o` sets the flag for the variables after it.
#[test]
fn separators_and_the_o_flag_as_haproxy() {
    let front = "    log-format \"A  %hr %hs %{+Q}o %b %s %{-Q}f %ST  %{+Q}[env(RINGLB_NO_SUCH_VAR),lower] %r Z\"\n";
    let ours = run(false, "", front, &["/s"]).unwrap();
    assert_eq!(
        msg(&ours[0]),
        "A \"be\" \"s1\" fe 200 \"\" \"GET /s HTTP/1.1\" Z"
    );
    if let Some(theirs) = run(true, "", front, &["/s"]) {
        assert_eq!(msg(&ours[0]), msg(&theirs[0]));
    }
}

/// `option httplog clf`: HAProxy's Common Log Format line.
#[test]
fn httplog_clf_as_haproxy() {
    let front = "    option httplog clf\n    capture request header Host len 20\n";
    let ours = run(false, "", front, &["/clf?q"]).unwrap();
    let m = msg(&ours[0]);
    assert!(m.starts_with("127.0.0.1 - - ["), "{m}");
    assert!(m.contains("] \"GET /clf?q HTTP/1.1\" 200 "), "{m}");
    assert!(m.contains(" \"fe\" \"be\" \"s1\" "), "{m}");
    assert!(m.ends_with(" \"Example.COM\""), "{m}");
    if let Some(theirs) = run(true, "", front, &["/clf?q"]) {
        // The date's fields are compared masked, everything else split on spaces.
        let exact = [
            0, 1, 2, 5, 6, 7, 8, 10, 11, 14, 15, 16, 22, 27, 28, 29, 30, 31, 32,
        ];
        same(m, msg(&theirs[0]), ' ', &exact);
    }
}

/// `log-format-sd` in RFC 5424 lines, and each `log ... format` framing:
/// the same header as HAProxy 2.6 once digits and the tag are masked.
#[test]
fn framings_and_structured_data_as_haproxy() {
    let front = "    log-format \"%b %ST %{+Q}r\"\n    \
                 log-format-sd \"[ex@32473 be=\\\"%b\\\" m=\\\"%{+E}[method]\\\"]\"\n";
    for framing in [
        "format rfc5424",
        "format priority",
        "format short",
        "format raw",
        "format iso",
        "format timed",
        "format rfc3164",
        "",
    ] {
        let ours = run(false, framing, front, &["/f"]).unwrap();
        let o = &ours[0];
        let want_msg = "be 200 \"GET /f HTTP/1.1\"";
        assert!(o.ends_with(want_msg), "{framing}: {o}");
        match framing {
            "format rfc5424" => {
                assert!(o.starts_with("<134>1 "), "{o}");
                assert!(o.contains(" - ringlb "), "{o}");
                assert!(
                    o.contains(" - [ex@32473 be=\"be\" m=\"GET\"] be 200"),
                    "{o}"
                );
            }
            "format priority" => assert_eq!(o, &format!("<134>{want_msg}")),
            "format short" => assert_eq!(o, &format!("<6>{want_msg}")),
            "format raw" => assert_eq!(o, want_msg),
            "format timed" => assert!(o.starts_with("<6>20") && o.contains('T'), "{o}"),
            "format iso" => assert!(
                o.starts_with("20") && o.as_bytes()[26] == b'+' || o.as_bytes()[26] == b'-',
                "{o}"
            ),
            _ => assert!(o.starts_with("<134>") && o.contains(" ringlb["), "{o}"),
        }
        if let Some(theirs) = run(true, framing, front, &["/f"]) {
            let t = &theirs[0];
            // RFC 3164 headers are `logging.rs`'s (HAProxy 2.6 names a host
            // there, `localhost`, even without `log-send-hostname`).
            let (o, t) = if o.contains("]: ") {
                (msg(o), msg(t))
            } else {
                (o.as_str(), t.as_str())
            };
            assert_eq!(mask(o), mask(t), "{framing}\nringlb: {o}\nhaproxy: {t}");
        }
    }
}

/// A sample of the request or response content is gone at the log stage:
/// HAProxy 2.6 refuses it in a log format, and so does ringlb, naming the
/// keyword; `log-format ""` goes back to the options' format.
#[test]
fn request_content_fetches_are_refused_as_haproxy() {
    let dir = TestDir::new("log-format");
    for fetch in ["req.hdr(host)", "path", "res.hdr(server)", "url"] {
        let cfg = config(
            514,
            "",
            free_port(),
            1,
            &format!("    log-format \"%[{fetch}]\"\n"),
        );
        let path = dir.write("bad.cfg", &cfg);
        let out = run_cli(dir.path(), &["-c", "-f", path.to_str().unwrap()]);
        assert_ne!(out.code, Some(0), "{fetch}");
        assert!(
            out.stderr.contains("'log-format'"),
            "{fetch}: {}",
            out.stderr
        );
        if let Some(bin) = common::haproxy_binary() {
            let st = std::process::Command::new(bin)
                .args(["-c", "-q", "-f", path.to_str().unwrap()])
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(!st.success(), "HAProxy refuses %[{fetch}] too");
        }
    }
    let front = "    log-format \"X %b\"\n    log-format \"\"\n    option httplog\n";
    let ours = run(false, "", front, &["/e"]).unwrap();
    assert!(msg(&ours[0]).contains(" fe be/s1 "), "{}", ours[0]);
}

/// `log ... sample 1,3:4`: of the lines a target would take (the proxy's
/// `Proxy fe started.` first, then one per request), the 1st, 3rd, 5th,
/// 7th, ... are sent, as configuration.txt and HAProxy's "log sampling"
/// article describe it. Differs on purpose from the installed HAProxy
/// 2.6.12, which sent every line with this config (UDP or stdout, `sample`
/// in `global` or in the proxy): the documented behaviour is built, and the
/// test says so if HAProxy ever agrees.
#[test]
fn log_sample_takes_the_same_lines_as_haproxy() {
    let logged = |haproxy: bool| -> Option<Vec<String>> {
        let backend = HttpBackend::start("origin");
        let mut syslog = Syslog::new();
        let port = free_port();
        let cfg = config(
            syslog.port(),
            "sample 1,3:4",
            port,
            backend.port(),
            "    log-format \"%HU\"\n",
        );
        let (_h, _r);
        if haproxy {
            _h = Some(Haproxy::start(&cfg, port)?);
        } else {
            _r = Some(Ringlb::start(&cfg));
        }
        for i in 0..8 {
            let mut c = HttpClient::connect(port);
            let _ = c.request(
                format!("GET /{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
            );
        }
        syslog.collect(Duration::from_millis(500));
        let mut v: Vec<String> = syslog
            .with(" /")
            .iter()
            .map(|l| msg(l).trim_end().to_string())
            .collect();
        v.sort();
        Some(v)
    };
    let ours = logged(false).unwrap();
    // Line 1 of the frontend's target is `Proxy fe started.`: the requests
    // are lines 2 to 9, and lines 3, 5, 7, 9 are sent.
    assert_eq!(ours, ["/1", "/3", "/5", "/7"]);
    if let Some(theirs) = logged(true)
        && theirs != ours
    {
        assert!(
            theirs.len() >= 8,
            "HAProxy 2.6.12 sends every line: {theirs:?}"
        );
    }
}

/// `error-log-format`: a connection whose PROXY header is bad logs the
/// proxy's own line (HAProxy 2.6's `sess_log`: `PR`, status 0, the
/// frontend as backend, `<NOSRV>`, `<BADREQ>`), the same as HAProxy's.
#[test]
fn error_log_format_for_a_bad_proxy_header_as_haproxy() {
    let line = |haproxy: bool| -> Option<String> {
        let mut syslog = Syslog::new();
        let port = free_port();
        let cfg = format!(
            "global\n    log 127.0.0.1:{} local0\n\
             defaults\n    mode http\n    log global\n    timeout connect 2s\n    \
             timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{port} accept-proxy\n    log-format \"%HU\"\n    \
             error-log-format \"ELF %ci %{{+Q}}ft %ts %b %s %ST %HM %{{+Q}}r %Tw\"\n    \
             default_backend be\n\
             backend be\n    server s1 127.0.0.1:1\n",
            syslog.port()
        );
        let (_h, _r);
        if haproxy {
            _h = Some(Haproxy::start(&cfg, port)?);
        } else {
            _r = Some(Ringlb::start(&cfg));
        }
        let mut s = common::connect(port);
        std::io::Write::write_all(&mut s, b"GARBAGE\r\n\r\n").unwrap();
        let _ = std::io::Read::read(&mut s, &mut [0u8; 64]);
        Some(
            msg(&syslog.wait("the error line", |l| l.contains("ELF ")))
                .trim_end()
                .to_string(),
        )
    };
    let ours = line(false).unwrap();
    assert_eq!(
        ours,
        "ELF 127.0.0.1 \"fe\" PR fe <NOSRV> 0 <BADREQ> \"<BADREQ>\" -1"
    );
    if let Some(theirs) = line(true) {
        assert_eq!(ours, theirs);
    }
}

/// A `mode tcp` listener with a `log-format`: the session's line at its
/// end, the same as HAProxy's (timers and the byte count masked: the
/// client closes as soon as it has its echo). HTTP-only variables are
/// refused in `mode tcp`, as HAProxy 2.6 refuses them.
#[test]
fn log_format_in_mode_tcp_as_haproxy() {
    let echo = common::TcpBackend::echo();
    let line = |haproxy: bool| -> Option<String> {
        let mut syslog = Syslog::new();
        let port = free_port();
        let cfg = format!(
            "global\n    log 127.0.0.1:{} local0\n\
             defaults\n    mode tcp\n    log global\n    option dontlognull\n    timeout connect 2s\n    \
             timeout client 5s\n    timeout server 5s\n\
             listen li\n    bind 127.0.0.1:{port}\n    \
             log-format \"T %ci %{{+Q}}ft %b/%s %{{+Q}}si %ts %ST %[src] %[dst] %fi %sq/%bq %Tw %Tc %Tt %B\"\n    \
             server s1 127.0.0.1:{}\n",
            syslog.port(),
            echo.port
        );
        let (_h, _r);
        if haproxy {
            _h = Some(Haproxy::start(&cfg, port)?);
        } else {
            _r = Some(Ringlb::start(&cfg));
        }
        let mut s = common::connect(port);
        std::io::Write::write_all(&mut s, b"hello").unwrap();
        let mut buf = [0u8; 5];
        std::io::Read::read_exact(&mut s, &mut buf).unwrap();
        drop(s);
        Some(
            msg(&syslog.wait("the session line", |l| l.contains(" T 127.")))
                .trim_end()
                .to_string(),
        )
    };
    let dir = TestDir::new("tcp-log-format");
    let cfg = "defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    \
               timeout connect 1s\nlisten li\n    bind 127.0.0.1:1\n    log-format \"%ci %HM\"\n    \
               server s 127.0.0.1:2\n";
    let path = dir.write("tcp.cfg", cfg);
    let out = run_cli(dir.path(), &["-c", "-f", path.to_str().unwrap()]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("'%HM' is reserved for HTTP mode"),
        "{}",
        out.stderr
    );
    let ours = line(false).unwrap();
    assert!(
        ours.starts_with(
            "T 127.0.0.1 \"li\" li/s1 \"127.0.0.1\" -- 0 127.0.0.1 127.0.0.1 127.0.0.1 0/0 0 "
        ),
        "{ours}"
    );
    if let Some(theirs) = line(true) {
        same(&ours, &theirs, ' ', &(0..11).collect::<Vec<_>>());
    }
}

/// `%ID` and `%rt`: the request's unique id (made for every request once
/// `unique-id-format` is set, even without `unique-id-header`, as HAProxy
/// makes it) and its number, as HAProxy 2.6 logs them (digits masked: the
/// numbers differ, HAProxy counts its readiness probe too).
#[test]
fn unique_id_and_request_counter_as_haproxy() {
    let front = "    unique-id-format %rt-%ci-%b\n    log-format \"%ID|%rt|%{+Q}r\"\n";
    let paths = ["/id1", "/id2"];
    let ours = run(false, "", front, &paths).unwrap();
    for (l, p) in ours.iter().zip(paths) {
        let f: Vec<&str> = msg(l).split('|').collect();
        // The id and the log line see the same request number.
        assert_eq!(f[0], format!("{}-127.0.0.1-be", f[1]), "{l}");
        assert_eq!(f[2], format!("\"GET {p} HTTP/1.1\""));
    }
    let Some(theirs) = run(true, "", front, &paths) else {
        return;
    };
    for (o, t) in ours.iter().zip(&theirs) {
        same(msg(o), msg(t), '|', &[2]);
    }
}

/// `%lc`: the frontend's log line counter, from 0 (HAProxy's `log_count`;
/// its numbers are masked: HAProxy also logs the test's readiness probe).
#[test]
fn log_counter_as_haproxy() {
    let front = "    log-format \"%lc|%{+Q}r\"\n";
    let paths = ["/lc1", "/lc2", "/lc3"];
    let ours = run(false, "", front, &paths).unwrap();
    let counts: Vec<&str> = ours
        .iter()
        .map(|l| msg(l).split('|').next().unwrap())
        .collect();
    assert_eq!(counts, ["0", "1", "2"], "{ours:?}");
    let Some(theirs) = run(true, "", front, &paths) else {
        return;
    };
    for (o, t) in ours.iter().zip(&theirs) {
        same(msg(o), msg(t), '|', &[1]);
    }
}
