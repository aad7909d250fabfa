//! Certificates changed at run time through the stats socket, without a
//! reload: `set/commit/abort ssl cert` replace what every worker serves from
//! the next handshake on (open connections keep working), `new ssl cert` +
//! `add ssl crt-list` serve a new SNI name, `del ssl crt-list` removes it;
//! the `show ssl cert` / `show ssl crt-list` outputs and the error texts are
//! compared with HAProxy 2.6 driven by the same commands.
//!
//! Certificates are made at test time with the `openssl` CLI; without it
//! every test says so and skips.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// Makes a self-signed RSA certificate for `cn` (SANs `sans`) with its key
/// in `<dir>/<file>`; also writes the certificate alone and the key alone.
fn mkcert(dir: &Path, file: &str, cn: &str, sans: &[&str]) -> PathBuf {
    mkcert_with(dir, file, cn, sans, &["-newkey", "rsa:2048"])
}

/// As [`mkcert`], with the key made by `newkey` (`-newkey ...` arguments).
fn mkcert_with(dir: &Path, file: &str, cn: &str, sans: &[&str], newkey: &[&str]) -> PathBuf {
    let crt = dir.join(format!("{file}.crt"));
    let key = dir.join(format!("{file}.key"));
    let san: Vec<String> = sans.iter().map(|s| format!("DNS:{s}")).collect();
    let st = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30"])
        .args(newkey)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-subj", &format!("/CN={cn}")])
        .args(["-addext", &format!("subjectAltName={}", san.join(","))])
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(st.success());
    let pem = dir.join(file);
    let mut body = std::fs::read(&crt).unwrap();
    body.extend(std::fs::read(&key).unwrap());
    std::fs::write(&pem, body).unwrap();
    pem
}

/// The subject of the certificate served for `sni` on `port` (`CN = x`).
fn served(port: u16, sni: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", sni])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .map(|s| s.replace(' ', ""))
        .unwrap_or_else(|| format!("no certificate: {text}"))
}

/// A PEM as a `<<` payload ends: with its empty line.
fn payload(pem: &Path) -> String {
    let mut p = std::fs::read_to_string(pem).unwrap();
    if !p.ends_with('\n') {
        p.push('\n');
    }
    p.push('\n');
    p
}

/// One command with its payload on the socket at `sock`; the answer.
fn with_payload(sock: &Path, cmd: &str, pem: &Path) -> String {
    stats_exchange(sock, format!("{cmd} <<\n{}", payload(pem)).as_bytes())
}

/// The test files: a.pem (default), b.pem in list.txt, and replacements.
struct Files {
    dir: TestDir,
    a: PathBuf,
    b: PathBuf,
    a2: PathBuf,
    c: PathBuf,
    list: PathBuf,
}

fn files() -> Option<Files> {
    if !tls::have_openssl() {
        eprintln!("openssl is not installed: skipped");
        return None;
    }
    let dir = TestDir::new("ssl-cli");
    let a = mkcert(dir.path(), "a.pem", "a.example", &["a.example"]);
    let b = mkcert(dir.path(), "b.pem", "b.example", &["b.example"]);
    let a2 = mkcert(dir.path(), "a2.pem", "a2.example", &["a.example"]);
    let c = mkcert(
        dir.path(),
        "c.pem",
        "c.example",
        &["c.example", "www.c.example"],
    );
    mkcert_with(
        dir.path(),
        "e.pem",
        "e.example",
        &["e.example"],
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let list = dir.write(
        "list.txt",
        &format!("{} [alpn h2] b.example\n", b.display()),
    );
    Some(Files {
        dir,
        a,
        b,
        a2,
        c,
        list,
    })
}

/// A TLS TCP relay to an echo backend, 4 threads, an admin socket at `sock`.
fn config(f: &Files, port: u16, echo: u16, sock: &Path) -> String {
    format!(
        "global\n    nbthread 4\n    stats socket {sock} level admin\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen t\n    bind 127.0.0.1:{port} ssl crt {a} crt {e} crt-list {list}\n    \
         server e 127.0.0.1:{echo}\n",
        sock = sock.display(),
        a = f.a.display(),
        e = f.dir.path().join("e.pem").display(),
        list = f.list.display()
    )
}

#[test]
fn set_and_commit_serve_the_new_certificate_on_every_worker() {
    let Some(f) = files() else { return };
    let echo = TcpBackend::echo();
    let sock = f.dir.path().join("admin.sock");
    let lb = Ringlb::start(&config(&f, free_port(), echo.port, &sock));
    let port = lb.port();
    assert_eq!(served(port, "a.example"), "CN=a.example");
    // A connection opened before the change keeps working after it.
    let mut open = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["-servername", "a.example"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = open.stdin.take().unwrap();
    input.write_all(b"before\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    let set = with_payload(&sock, &format!("set ssl cert {}", f.a.display()), &f.a2);
    assert_eq!(
        set,
        format!("Transaction created for certificate {}!\n\n", f.a.display())
    );
    // Not served before the commit.
    assert_eq!(served(port, "a.example"), "CN=a.example");
    let list = stats_command(&sock, "show ssl cert");
    assert!(
        list.starts_with(&format!("# transaction\n*{}\n", f.a.display())),
        "{list}"
    );
    let commit = stats_command(&sock, &format!("commit ssl cert {}", f.a.display()));
    assert_eq!(
        commit,
        format!("Committing {}.\nSuccess!\n\n", f.a.display())
    );
    // Every worker: enough handshakes to land on each of the 4 threads.
    for _ in 0..12 {
        assert_eq!(served(port, "a.example"), "CN=a2.example");
    }
    // b.example is still b's; an unknown name gets the new default.
    assert_eq!(served(port, "b.example"), "CN=b.example");
    assert_eq!(served(port, "x.example"), "CN=a2.example");

    input.write_all(b"after\n").unwrap();
    drop(input);
    let mut out = String::new();
    open.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = open.wait();
    assert_eq!(out, "before\nafter\n");
}

#[test]
fn abort_and_bad_payloads_leave_the_old_certificate() {
    let Some(f) = files() else { return };
    let echo = TcpBackend::echo();
    let sock = f.dir.path().join("admin.sock");
    let lb = Ringlb::start(&config(&f, free_port(), echo.port, &sock));
    let a = f.a.display().to_string();
    with_payload(&sock, &format!("set ssl cert {a}"), &f.a2);
    assert_eq!(
        stats_command(&sock, &format!("abort ssl cert {a}")),
        format!("Transaction aborted for certificate '{a}'!\n\n")
    );
    assert_eq!(served(lb.port(), "a.example"), "CN=a.example");
    let bad = stats_exchange(
        &sock,
        format!("set ssl cert {a} <<\nGARBAGE\n\n").as_bytes(),
    );
    assert_eq!(
        bad,
        format!(
            "unable to load certificate from file '{a}'.\nCan't load the payload\n\
             Can't update {a}!\n\n"
        )
    );
    // A key that is not the certificate's: accepted by set, refused by commit.
    let crt = std::fs::read_to_string(f.dir.path().join("a2.pem.crt")).unwrap();
    let key = std::fs::read_to_string(f.dir.path().join("b.pem.key")).unwrap();
    let mixed = f.dir.write("mixed.pem", &format!("{crt}{key}"));
    with_payload(&sock, &format!("set ssl cert {a}"), &mixed);
    assert_eq!(
        stats_command(&sock, &format!("commit ssl cert {a}")),
        format!(
            "inconsistencies between private key and certificate loaded '{a}'.\n\
             Can't commit {a}!\n\n"
        )
    );
    // One transaction at a time. HAProxy 2.6 answers "Transaction updated
    // for certificate <the other file>!" here, leaving it unclear which file
    // the payload went to; ringlb refuses as HAProxy's own commit does.
    let b = f.b.display().to_string();
    assert_eq!(
        with_payload(&sock, &format!("set ssl cert {b}"), &f.b),
        format!(
            "The ongoing transaction is about '{a}' but you are trying to set '{b}'\n\
             Can't update {b}!\n\n"
        )
    );
    stats_command(&sock, &format!("abort ssl cert {a}"));
    assert_eq!(served(lb.port(), "a.example"), "CN=a.example");
}

#[test]
fn new_certificate_added_to_a_crt_list_serves_its_name() {
    let Some(f) = files() else { return };
    let echo = TcpBackend::echo();
    let sock = f.dir.path().join("admin.sock");
    let lb = Ringlb::start(&config(&f, free_port(), echo.port, &sock));
    let (c, list) = (f.c.display().to_string(), f.list.display().to_string());
    assert_eq!(served(lb.port(), "c.example"), "CN=a.example");
    assert_eq!(
        stats_command(&sock, &format!("new ssl cert {c}")),
        format!("New empty certificate store '{c}'!\n\n")
    );
    with_payload(&sock, &format!("set ssl cert {c}"), &f.c);
    assert_eq!(
        stats_command(&sock, &format!("commit ssl cert {c}")),
        format!("Committing {c}\nSuccess!\n\n")
    );
    let add = stats_exchange(
        &sock,
        format!("add ssl crt-list {list} <<\n{c} [alpn h2] c.example\n\n").as_bytes(),
    );
    assert_eq!(
        add,
        format!("Inserting certificate '{c}' in crt-list '{list}'.\nSuccess!\n\n")
    );
    for _ in 0..8 {
        assert_eq!(served(lb.port(), "c.example"), "CN=c.example");
    }
    // The line's filter replaces the certificate's names.
    assert_eq!(served(lb.port(), "www.c.example"), "CN=a.example");
    assert!(
        stats_command(&sock, &format!("del ssl cert {c}")).contains("in use, can't be deleted!")
    );
    assert_eq!(
        stats_command(&sock, &format!("del ssl crt-list {list} {c}")),
        format!("Entry '{c}' deleted in crtlist '{list}'!\n\n")
    );
    assert_eq!(served(lb.port(), "c.example"), "CN=a.example");
    assert_eq!(
        stats_command(&sock, &format!("del ssl cert {c}")),
        format!("Certificate '{c}' deleted!\n\n")
    );
}

#[test]
fn user_level_is_refused() {
    let Some(f) = files() else { return };
    let echo = TcpBackend::echo();
    let sock = f.dir.path().join("admin.sock");
    let user = f.dir.path().join("user.sock");
    let cfg = config(&f, free_port(), echo.port, &sock).replace(
        "    nbthread 4\n",
        &format!(
            "    nbthread 4\n    stats socket {} level operator\n",
            user.display()
        ),
    );
    let _lb = Ringlb::start(&cfg);
    assert_eq!(
        stats_command(&user, "show ssl cert"),
        "Permission denied\n\n"
    );
    assert_eq!(
        stats_command(&user, &format!("del ssl cert {}", f.b.display())),
        "Permission denied\n\n"
    );
}

/// HAProxy 2.6 writes a NUL after the last ALPN name of a line added at run
/// time and a space before `]` for lines read from the file; ringlb prints
/// the options as written.
fn normalize(s: &str) -> String {
    s.replace('\0', "").replace(" ]", "]")
}

/// The same command sequence on ringlb and HAProxy: every answer that does
/// not hold a timestamp of the run must be the same text.
#[test]
fn answers_match_haproxy() {
    let Some(f) = files() else { return };
    if haproxy_binary().is_none() {
        eprintln!("haproxy not installed: the comparison with HAProxy is skipped");
        return;
    }
    let (a, c, list) = (
        f.a.display().to_string(),
        f.c.display().to_string(),
        f.list.display().to_string(),
    );
    let script = |sock: &Path| -> Vec<String> {
        let mut out = Vec::new();
        let mut cmd = |c: &str| out.push(normalize(&stats_command(sock, c)));
        cmd("show ssl cert");
        cmd(&format!("show ssl cert {a}"));
        cmd(&format!(
            "show ssl cert {}",
            f.dir.path().join("e.pem").display()
        ));
        cmd("show ssl cert /nope.pem");
        cmd("show ssl crt-list");
        cmd(&format!("show ssl crt-list {list}"));
        cmd(&format!("show ssl crt-list -n {list}"));
        cmd("show ssl crt-list /nope");
        cmd(&format!("commit ssl cert {a}"));
        cmd(&format!("abort ssl cert {a}"));
        cmd(&format!("del ssl cert {a}"));
        cmd("del ssl cert /nope.pem");
        cmd(&format!("new ssl cert {a}"));
        cmd(&format!("new ssl cert {c}"));
        cmd(&format!("show ssl cert {c}"));
        cmd(&format!("add ssl crt-list {list} {c}"));
        cmd(&format!("add ssl crt-list /nope {c}"));
        cmd(&format!("add ssl crt-list {list} /nope.pem"));
        cmd("set ssl cert");
        cmd("commit ssl cert");
        cmd("abort ssl cert");
        cmd("new ssl cert");
        cmd("del ssl cert");
        out.push(with_payload(sock, "set ssl cert /nope.pem", &f.c));
        out.push(with_payload(sock, &format!("set ssl cert {c}"), &f.c));
        out.push(stats_command(sock, &format!("commit ssl cert {a}")));
        out.push(stats_command(sock, "show ssl cert"));
        out.push(stats_command(sock, &format!("show ssl cert *{c}")));
        out.push(stats_command(sock, &format!("commit ssl cert {c}")));
        out.push(stats_command(sock, &format!("show ssl cert {c}")));
        out.push(stats_command(sock, &format!("add ssl crt-list {list} {c}")));
        out.push(normalize(&stats_exchange(
            sock,
            format!("add ssl crt-list {list} <<\n{c} [alpn h2] c.example !www.c.example\n\n")
                .as_bytes(),
        )));
        out.push(normalize(&stats_command(
            sock,
            &format!("show ssl crt-list -n {list}"),
        )));
        out.push(stats_command(sock, &format!("show ssl cert {c}")));
        out.push(stats_command(sock, &format!("del ssl cert {c}")));
        out.push(stats_command(sock, &format!("del ssl crt-list {list} {c}")));
        out.push(stats_command(
            sock,
            &format!("del ssl crt-list {list} {c}:2"),
        ));
        out.push(stats_command(
            sock,
            &format!("del ssl crt-list {list} {c}:2"),
        ));
        out.push(stats_command(sock, &format!("del ssl crt-list /nope {c}")));
        out.push(normalize(&stats_command(
            sock,
            &format!("show ssl crt-list -n {list}"),
        )));
        out.push(stats_command(sock, &format!("del ssl crt-list {list} {c}")));
        out.push(stats_command(sock, &format!("del ssl cert {c}")));
        out.push(stats_command(sock, "show ssl cert"));
        out
    };
    let echo = TcpBackend::echo();
    let sock = f.dir.path().join("lb.sock");
    let lb = Ringlb::start(&config(&f, free_port(), echo.port, &sock));
    let ours = script(&sock);
    drop(lb);
    let hsock = f.dir.path().join("h.sock");
    let port = free_port();
    let Some(_h) = Haproxy::start(&config(&f, port, echo.port, &hsock), port) else {
        return;
    };
    let theirs = script(&hsock);
    let diffs: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .enumerate()
        .filter(|(_, (o, t))| o != t)
        .map(|(i, (o, t))| format!("answer {i}:\n ringlb: {o:?}\nhaproxy: {t:?}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "differs from HAProxy:\n{}",
        diffs.join("\n")
    );
    assert_eq!(ours.len(), theirs.len());
}

/// `file:line` of a refusal names each side's own configuration file.
fn same_location(s: &str) -> String {
    s.lines()
        .map(|l| match (l.strip_prefix("\t- "), l.rsplit_once(':')) {
            (Some(_), Some((_, line))) => format!("\t- CFG:{line}"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crt <directory>` is a crt-list of its files, as in HAProxy 2.6: `show
/// ssl crt-list` names it, `add`/`del ssl crt-list` change what the bind
/// serves, and neither a directory's nor a crt-list's first line (the
/// bind's default certificate) can be deleted. Same answers as HAProxy;
/// ringlb's served certificates checked after each change.
#[test]
fn a_certificate_directory_is_a_crt_list_as_in_haproxy() {
    let Some(f) = files() else { return };
    let d = f.dir.path().join("certs");
    std::fs::create_dir(&d).unwrap();
    for n in ["a.pem", "b.pem"] {
        std::fs::copy(f.dir.path().join(n), d.join(n)).unwrap();
    }
    let (dir, c) = (d.display().to_string(), d.join("c.pem"));
    let list2 = f.dir.write("list2.txt", &format!("{}\n", f.b.display()));
    let cfg = |port: u16, port2: u16, echo: u16, sock: &Path| {
        format!(
            "global\n    stats socket {sock} level admin\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\n\
             listen t\n    bind 127.0.0.1:{port} ssl crt {dir}\n    server e 127.0.0.1:{echo}\n\
             listen u\n    bind 127.0.0.1:{port2} ssl crt-list {l2}\n    \
             server e 127.0.0.1:{echo}\n",
            sock = sock.display(),
            l2 = list2.display()
        )
    };
    let l2 = list2.display().to_string();
    let cs = c.display().to_string();
    let script = |sock: &Path, port: Option<u16>| -> Vec<String> {
        let mut out = Vec::new();
        let mut cmd = |c: &str| out.push(same_location(&stats_command(sock, c)));
        cmd("show ssl crt-list");
        cmd(&format!("show ssl crt-list -n {dir}"));
        cmd(&format!("new ssl cert {cs}"));
        out.push(with_payload(sock, &format!("set ssl cert {cs}"), &f.c));
        let mut cmd = |c: &str| out.push(same_location(&stats_command(sock, c)));
        cmd(&format!("commit ssl cert {cs}"));
        cmd(&format!("add ssl crt-list {dir} {cs}"));
        cmd(&format!("show ssl crt-list -n {dir}"));
        if let Some(p) = port {
            assert_eq!(served(p, "c.example"), "CN=c.example");
            assert_eq!(served(p, "b.example"), "CN=b.example");
        }
        cmd(&format!(
            "del ssl crt-list {dir} {}",
            d.join("a.pem").display()
        ));
        cmd(&format!(
            "del ssl crt-list {dir} {}",
            d.join("b.pem").display()
        ));
        cmd(&format!("del ssl crt-list {l2} {}", f.b.display()));
        cmd(&format!("show ssl crt-list -n {dir}"));
        cmd(&format!("show ssl crt-list {l2}"));
        if let Some(p) = port {
            // b.example now gets the default certificate, the directory's first.
            assert_eq!(served(p, "b.example"), "CN=a.example");
            assert_eq!(served(p, "c.example"), "CN=c.example");
        }
        out
    };
    let echo = TcpBackend::echo();
    let sock = f.dir.path().join("lb.sock");
    let port = free_port();
    let lb = Ringlb::start(&cfg(port, free_port(), echo.port, &sock));
    let ours = script(&sock, Some(port));
    drop(lb);
    assert!(
        ours[0].contains(&dir) && ours[0].contains(&l2),
        "both lists named: {:?}",
        ours[0]
    );
    assert!(
        ours[7].contains("used as default certificate"),
        "{:?}",
        ours[7]
    );
    if haproxy_binary().is_none() {
        eprintln!("haproxy not installed: the comparison with HAProxy is skipped");
        return;
    }
    let hsock = f.dir.path().join("h.sock");
    let hport = free_port();
    let Some(_h) = Haproxy::start(&cfg(hport, free_port(), echo.port, &hsock), hport) else {
        return;
    };
    let theirs = script(&hsock, None);
    eprintln!(
        "compared {} answers with HAProxy: {:?}",
        theirs.len(),
        theirs[7]
    );
    assert_eq!(ours, theirs, "differs from HAProxy 2.6");
}
