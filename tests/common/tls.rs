//! TLS test material: [`TlsCerts`] (a CA and ECDSA P-256 / RSA-2048 leaf
//! certificates made at run time with the `openssl` CLI, each leaf written as
//! HAProxy's `crt` wants it: certificate, chain, key in one PEM) and clients:
//! [`TlsClient`] (rustls over a std socket, with the exact HTTP framing of
//! [`read_response`]), [`curl_tls`], [`s_client`] and [`python_tls`].

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use super::*;

/// The names every leaf certificate carries (SAN DNS).
pub const TLS_NAMES: [&str; 2] = ["localhost", "test.example"];

/// A CA and two leaf certificates signed by it, in a temporary directory.
pub struct TlsCerts {
    dir: TestDir,
    /// The CA certificate (PEM), for clients' `--cacert`.
    pub ca: PathBuf,
    /// ECDSA P-256 leaf: certificate, CA, key.
    pub ec: PathBuf,
    /// RSA-2048 leaf: certificate, CA, key.
    pub rsa: PathBuf,
}

/// Whether the `openssl` CLI is there; says why the test skips when not.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("openssl is not installed: the TLS test is skipped");
    }
    ok
}

/// Runs the `openssl` CLI in `dir`; panics with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsCerts {
    /// Generates the CA and the leaves; `None` (with a note) without openssl.
    pub fn generate() -> Option<TlsCerts> {
        if !have_openssl() {
            return None;
        }
        let dir = TestDir::new("tls");
        let p = dir.path().to_path_buf();
        openssl(
            &p,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=ringlb test CA",
            ],
        );
        let san = TLS_NAMES.map(|n| format!("DNS:{n}")).join(",");
        dir.write(
            "leaf.ext",
            &format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"),
        );
        let leaf = |name: &str, newkey: &[&str]| -> PathBuf {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let crt = format!("{name}.crt");
            let mut req = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr];
            req.extend_from_slice(&["-subj", "/O=ringlb/CN=localhost", "-newkey"]);
            req.extend_from_slice(newkey);
            openssl(&p, &req);
            openssl(
                &p,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    &crt,
                    "-extfile",
                    "leaf.ext",
                ],
            );
            let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap();
            let pem = format!("{}{}{}", read(&crt), read("ca.crt"), read(&key));
            dir.write(&format!("{name}.pem"), &pem)
        };
        let ec = leaf("ec", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        let rsa = leaf("rsa", &["rsa:2048"]);
        Some(TlsCerts {
            ca: p.join("ca.crt"),
            ec,
            rsa,
            dir,
        })
    }

    /// The directory holding them.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A rustls client configuration trusting the test CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// A TLS client connection (rustls over a std socket with [`IO_TIMEOUT`]).
pub type TlsConn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// An HTTP client over TLS, reading responses with exact framing.
pub struct TlsClient {
    /// The buffered TLS connection.
    pub conn: BufStream<TlsConn>,
}

/// Connects to 127.0.0.1:`port` and completes a handshake for `localhost`.
pub fn tls_connect(port: u16, cfg: &Arc<rustls::ClientConfig>) -> io::Result<TlsConn> {
    tls_over(connect(port), cfg)
}

/// Completes a handshake for `localhost` over `sock`.
pub fn tls_over(mut sock: TcpStream, cfg: &Arc<rustls::ClientConfig>) -> io::Result<TlsConn> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(rustls::StreamOwned::new(conn, sock))
}

impl TlsClient {
    /// Connects and completes the handshake; panics on failure.
    pub fn connect(port: u16, cfg: &Arc<rustls::ClientConfig>) -> TlsClient {
        let s = tls_connect(port, cfg).unwrap_or_else(|e| panic!("TLS handshake: {e}"));
        TlsClient {
            conn: BufStream::new(s),
        }
    }

    /// Writes raw bytes (encrypted).
    pub fn send(&mut self, bytes: &[u8]) {
        self.conn.stream.write_all(bytes).expect("write request");
        self.conn.stream.flush().expect("flush request");
    }

    /// Sends `req` and reads one final response.
    pub fn request(&mut self, req: &[u8]) -> Response {
        self.send(req);
        self.response()
    }

    /// Reads one final response (interim ones skipped).
    pub fn response(&mut self) -> Response {
        loop {
            let r = read_response(&mut self.conn, false)
                .unwrap_or_else(|e| panic!("reading response: {e}"));
            if r.status / 100 != 1 {
                return r;
            }
        }
    }

    /// Reads until the peer closes (TLS close or socket end): what came.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = self.conn.buffered().to_vec();
        let mut buf = [0u8; 16384];
        loop {
            match self.conn.stream.read(&mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }
}

/// `curl -sS --cacert <ca> --resolve localhost:<port>:127.0.0.1
/// https://localhost:<port><path>` plus `extra` arguments.
pub fn curl_tls(certs: &TlsCerts, port: u16, path: &str, extra: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&certs.ca)
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .args(extra)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("run curl")
}

/// `openssl s_client` to 127.0.0.1:`port` with `input` on stdin: its stdout.
pub fn s_client(certs: &TlsCerts, port: u16, extra: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .arg("-CAfile")
        .arg(&certs.ca)
        .args(["-verify_return_error", "-ign_eof"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = wait_output(child, std::time::Duration::from_secs(10));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `python3 -c <script>` with `argv` (the CA path first): its output.
pub fn python_tls(certs: &TlsCerts, script: &str, argv: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&certs.ca)
        .args(argv)
        .output()
        .expect("run python3")
}

/// Waits for `child` at most `limit` (then kills it): its output.
fn wait_output(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}
