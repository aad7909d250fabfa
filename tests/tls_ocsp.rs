//! OCSP stapling against HAProxy 2.6: `<crt>.ocsp` checked at load (a
//! response that may not be stapled is left out with HAProxy's warning; no
//! issuer is an error), `set ssl ocsp-response` (argument and payload) and
//! `show ssl ocsp-response` answering as HAProxy, and what `openssl
//! s_client -status` sees stapled after each change. The CA, certificates
//! and OCSP responses are made here with the `openssl` CLI (`openssl ocsp`
//! as the responder).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::*;

/// The files one run needs: a CA, `leaf.pem` (with `.ocsp`), `other.pem`
/// (without), and OCSP responses by name.
struct Pki {
    dir: TestDir,
}

impl Pki {
    fn make() -> Option<Pki> {
        if !have_openssl() {
            return None;
        }
        let dir = TestDir::new("ocsp");
        let d = dir.path().to_path_buf();
        openssl(
            &d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "30",
                "-subj",
                "/CN=ocsp-test-CA",
            ],
        );
        std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        let mut index = String::new();
        for n in ["leaf", "other", "unknown"] {
            openssl(
                &d,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &format!("{n}.key"),
                    "-out",
                    &format!("{n}.csr"),
                    "-subj",
                    "/CN=localhost",
                ],
            );
            openssl(
                &d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{n}.csr"),
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "30",
                    "-extfile",
                    "san.ext",
                    "-out",
                    &format!("{n}.crt"),
                ],
            );
            let pem = [
                std::fs::read(d.join(format!("{n}.crt"))).unwrap(),
                std::fs::read(d.join("ca.crt")).unwrap(),
                std::fs::read(d.join(format!("{n}.key"))).unwrap(),
            ]
            .concat();
            std::fs::write(d.join(format!("{n}.pem")), pem).unwrap();
            let serial = Command::new("openssl")
                .args(["x509", "-noout", "-serial", "-in", &format!("{n}.crt")])
                .current_dir(&d)
                .output()
                .unwrap();
            let serial = String::from_utf8_lossy(&serial.stdout);
            let serial = serial.trim().trim_start_matches("serial=");
            if n != "unknown" {
                index.push_str(&format!(
                    "V\t361231000000Z\t\t{serial}\tunknown\t/CN=localhost\n"
                ));
            }
        }
        std::fs::write(d.join("index.txt"), &index).unwrap();
        std::fs::write(d.join("index.txt.attr"), "unique_subject = no\n").unwrap();
        // leaf revoked: a second index.
        let revoked = index.replacen(
            "V\t361231000000Z\t\t",
            "R\t361231000000Z\t261201000000Z\t",
            1,
        );
        std::fs::write(d.join("revoked.txt"), revoked).unwrap();
        std::fs::write(d.join("revoked.txt.attr"), "unique_subject = no\n").unwrap();
        let req = |name: &str, certs: &[&str]| {
            let mut a = vec!["ocsp", "-issuer", "ca.crt", "-no_nonce", "-reqout", name];
            for c in certs {
                a.extend(["-cert", c]);
            }
            openssl(&d, &a);
        };
        req("leaf.req", &["leaf.crt"]);
        req("other.req", &["other.crt"]);
        req("unknown.req", &["unknown.crt"]);
        req("two.req", &["leaf.crt", "other.crt"]);
        // With a nonce: the response echoes it in an extension.
        openssl(
            &d,
            &[
                "ocsp",
                "-issuer",
                "ca.crt",
                "-cert",
                "leaf.crt",
                "-reqout",
                "nonce.req",
            ],
        );
        let resp = |index: &str, reqin: &str, out: &str, days: bool| {
            let mut a = vec![
                "ocsp", "-index", index, "-rsigner", "ca.crt", "-rkey", "ca.key", "-CA", "ca.crt",
                "-reqin", reqin, "-respout", out,
            ];
            if days {
                a.extend(["-ndays", "1"]);
            }
            openssl(&d, &a);
        };
        resp("index.txt", "leaf.req", "leaf.resp", true);
        resp("index.txt", "other.req", "other.resp", true);
        resp("index.txt", "unknown.req", "unknown.resp", true);
        resp("index.txt", "two.req", "two.resp", true);
        resp("revoked.txt", "leaf.req", "revoked.resp", true);
        resp("index.txt", "nonce.req", "nonce.resp", true);
        resp("index.txt", "leaf.req", "nonext.resp", false);
        // tryLater (3): an unsuccessful response has no body.
        std::fs::write(d.join("trylater.resp"), [0x30, 0x03, 0x0a, 0x01, 0x03]).unwrap();
        std::fs::copy(d.join("leaf.resp"), d.join("leaf.pem.ocsp")).unwrap();
        Some(Pki { dir })
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn b64(&self, f: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(self.path(f)).unwrap())
    }
}

fn config(pki: &Pki, sock: &Path, ports: [u16; 2], be: u16) -> String {
    format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
         timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{} ssl crt {}\n    bind 127.0.0.1:{} ssl crt {}\n    \
         default_backend b\n\
         backend b\n    server a 127.0.0.1:{be}\n",
        sock.display(),
        ports[0],
        pki.path("leaf.pem").display(),
        ports[1],
        pki.path("other.pem").display()
    )
}

/// The stapled response's status as `s_client -status` prints it.
fn stapled(port: u16) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-status",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("OCSP response: no response sent") {
        return "none".into();
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Cert Status: "))
        .unwrap_or("?")
        .to_string()
}

/// The socket answers and stapled statuses of one scripted run.
fn script(pki: &Pki, start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>) -> Vec<String> {
    let be = Recorder::start();
    let dir = TestDir::new("ocsp-sock");
    let sock = dir.path().join("s.sock");
    let ports = [free_port(), free_port()];
    let _p = start(&config(pki, &sock, ports, be.port()), ports[1]);
    let mut out = vec![format!(
        "staple {} {}",
        stapled(ports[0]),
        stapled(ports[1])
    )];
    let mut cmd = |c: &str| out.push(format!("{c:.40} => {}", stats_command(&sock, c)));
    cmd("show ssl ocsp-response");
    // The stapled response as OpenSSL's text dump (good, then revoked, then
    // with a nonce), byte for byte as HAProxy prints it.
    let key = leaf_key(&sock);
    let dump = format!("show ssl ocsp-response {key}");
    cmd(&dump);
    cmd(&format!("set ssl ocsp-response {}", pki.b64("other.resp")));
    cmd(&format!(
        "set ssl ocsp-response {}",
        pki.b64("revoked.resp")
    ));
    cmd(&dump);
    for f in [
        "unknown.resp",
        "two.resp",
        "nonext.resp",
        "trylater.resp",
        "leaf.crt",
    ] {
        cmd(&format!("set ssl ocsp-response {}", pki.b64(f)));
    }
    cmd("set ssl ocsp-response !!notbase64");
    cmd("set ssl ocsp-response");
    cmd("show ssl ocsp-response 3031");
    out.push(format!(
        "staple {} {}",
        stapled(ports[0]),
        stapled(ports[1])
    ));
    let mut cmd = |c: &str| out.push(format!("{c:.40} => {}", stats_command(&sock, c)));
    cmd(&format!("set ssl ocsp-response {}", pki.b64("nonce.resp")));
    cmd(&dump);
    // The payload form, wrapped as `base64` wraps it.
    let wrapped: Vec<String> = pki
        .b64("leaf.resp")
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let payload = format!("set ssl ocsp-response <<\n{}\n\n", wrapped.join("\n"));
    out.push(format!(
        "payload => {}",
        stats_exchange(&sock, payload.as_bytes())
    ));
    out.push(format!(
        "staple {} {}",
        stapled(ports[0]),
        stapled(ports[1])
    ));
    out
}

/// The certificate ID key of the one OCSP entry (`leaf.pem`'s).
fn leaf_key(sock: &Path) -> String {
    let list = stats_command(sock, "show ssl ocsp-response");
    list.lines()
        .find_map(|l| l.strip_prefix("Certificate ID key : "))
        .unwrap_or_else(|| panic!("no certificate ID in {list:?}"))
        .trim()
        .to_string()
}

#[test]
fn ocsp_commands_and_staples_match_haproxy() {
    let Some(pki) = Pki::make() else {
        return;
    };
    let ringlb = |t: &str, _| -> Box<dyn std::any::Any> { Box::new(Ringlb::start(t)) };
    let ours = script(&pki, &ringlb);
    let text = ours.join("\n");
    println!("{text}");
    assert!(text.starts_with("staple good none"), "{text}");
    assert!(text.contains("=> OCSP Response updated!"), "{text}");
    assert!(text.contains("staple revoked none"), "{text}");
    assert!(text.ends_with("staple good none"), "{text}");
    // The dumps: the embedded responder certificate (the CA's) included.
    for status in ["good", "revoked"] {
        assert!(
            text.contains(&format!("    Cert Status: {status}\n")),
            "{text}"
        );
    }
    assert!(text.contains("Responder Id: CN = ocsp-test-CA\n"), "{text}");
    assert!(
        text.contains("        OCSP Nonce: \n            0410"),
        "{text}"
    );
    assert!(text.contains("-----END CERTIFICATE-----\n"), "{text}");
    if haproxy_binary().is_none() {
        return;
    }
    let haproxy =
        |t: &str, p| -> Box<dyn std::any::Any> { Box::new(Haproxy::start(t, p).expect("haproxy")) };
    assert_eq!(ours, script(&pki, &haproxy), "ringlb, then HAProxy");
}

/// `ringlb -c` / `haproxy -c` on one bind line: exit status and the lines
/// about OCSP.
fn check(bin: &str, pki: &Pki, crt: &str) -> (bool, Vec<String>) {
    let dir = TestDir::new("ocsp-check");
    let cfg = dir.write(
        "c.cfg",
        &format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    \
             timeout server 5s\nfrontend fe\n    bind 127.0.0.1:1 ssl crt {}\n    \
             default_backend b\nbackend b\n    server a 127.0.0.1:2\n",
            pki.path(crt).display()
        ),
    );
    let out = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let lines = text
        .lines()
        .filter(|l| l.contains("OCSP"))
        .map(|l| {
            // The text after HAProxy's or ringlb's prefix.
            let i = l
                .find("Loading:")
                .or_else(|| l.find(&*pki.path("").to_string_lossy()));
            l[i.unwrap_or(0)..].to_string()
        })
        .collect();
    (out.status.success(), lines)
}

#[test]
fn ocsp_files_are_checked_at_load_as_haproxy_does() {
    let Some(pki) = Pki::make() else {
        return;
    };
    let ours = |crt: &str| check(&binary(), &pki, crt);
    // A response for another certificate: left out with a warning.
    std::fs::copy(pki.path("other.resp"), pki.path("leaf.pem.ocsp")).unwrap();
    let mismatch = ours("leaf.pem");
    assert_eq!(
        mismatch,
        (true, vec!["Loading: OCSP single response: Certificate ID does not match certificate and issuer. Content will be ignored.".to_string()])
    );
    std::fs::write(pki.path("leaf.pem.ocsp"), b"garbage").unwrap();
    let garbage = ours("leaf.pem");
    assert_eq!(
        garbage.1,
        ["Loading: Unable to parse OCSP response. Content will be ignored."]
    );
    // No issuer in the chain nor a `.issuer` file: an error.
    let lone = [
        std::fs::read(pki.path("leaf.crt")).unwrap(),
        std::fs::read(pki.path("leaf.key")).unwrap(),
    ]
    .concat();
    std::fs::write(pki.path("lone.pem"), lone).unwrap();
    std::fs::copy(pki.path("leaf.resp"), pki.path("lone.pem.ocsp")).unwrap();
    let (ok, lines) = ours("lone.pem");
    assert!(
        !ok && lines
            .iter()
            .any(|l| l.contains("impossible to compute the OCSP certificate ID")),
        "{lines:?}"
    );
    // ... which `.issuer` names.
    std::fs::copy(pki.path("ca.crt"), pki.path("lone.pem.issuer")).unwrap();
    let with_issuer = ours("lone.pem");
    std::fs::remove_file(pki.path("lone.pem.issuer")).unwrap();
    assert_eq!(with_issuer, (true, vec![]));
    let Some(h) = haproxy_binary() else {
        return;
    };
    let theirs = |crt: &str| check(&h.to_string_lossy(), &pki, crt);
    std::fs::copy(pki.path("other.resp"), pki.path("leaf.pem.ocsp")).unwrap();
    assert_eq!(mismatch, theirs("leaf.pem"));
    std::fs::write(pki.path("leaf.pem.ocsp"), b"garbage").unwrap();
    assert_eq!(garbage.1, theirs("leaf.pem").1);
    assert!(!theirs("lone.pem").0);
    std::fs::copy(pki.path("ca.crt"), pki.path("lone.pem.issuer")).unwrap();
    assert_eq!(with_issuer, theirs("lone.pem"));
}
