//! TLS for the `tls` scenario: the certificates every proxy is given (made
//! with the openssl CLI at start), the handshake check that proves a proxy
//! terminates TLS before it is loaded, and `openssl s_time`, the load
//! generator for full and resumed handshakes.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs::Proc;

/// The server key types measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsKey {
    /// ECDSA P-256, signed by the run's CA.
    Ecdsa,
    /// RSA-2048, signed by the run's CA.
    Rsa,
}

impl TlsKey {
    /// File stem and tag ("ecdsa", "rsa").
    pub fn tag(self) -> &'static str {
        match self {
            TlsKey::Ecdsa => "ecdsa",
            TlsKey::Rsa => "rsa",
        }
    }

    /// Name in table titles.
    pub fn label(self) -> &'static str {
        match self {
            TlsKey::Ecdsa => "ECDSA P-256",
            TlsKey::Rsa => "RSA-2048",
        }
    }

    /// `openssl req -newkey` arguments for this key.
    fn newkey_args(self) -> &'static [&'static str] {
        match self {
            TlsKey::Ecdsa => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            TlsKey::Rsa => &["-newkey", "rsa:2048"],
        }
    }
}

/// The directory inside the run's temp dir holding the certificates.
pub fn dir(tmp: &Path) -> PathBuf {
    tmp.join("tls")
}

/// The run's CA certificate (clients trust it).
pub fn ca_pem(tmp: &Path) -> PathBuf {
    dir(tmp).join("ca.pem")
}

/// Certificate + key in one PEM, HAProxy's (and ringlb's) `crt` form.
pub fn combined_pem(tmp: &Path, key: TlsKey) -> PathBuf {
    dir(tmp).join(format!("{}.pem", key.tag()))
}

/// nginx's `ssl_certificate` (the same certificate as [`combined_pem`]).
pub fn cert_pem(tmp: &Path, key: TlsKey) -> PathBuf {
    dir(tmp).join(format!("{}.crt", key.tag()))
}

/// nginx's `ssl_certificate_key` (the same key as [`combined_pem`]).
pub fn key_pem(tmp: &Path, key: TlsKey) -> PathBuf {
    dir(tmp).join(format!("{}.key", key.tag()))
}

/// Server certificate extensions: the names the clients use, and what
/// rustls/webpki require of a leaf.
const LEAF_EXT: &str = "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
                        basicConstraints=CA:FALSE\n\
                        keyUsage=digitalSignature,keyEncipherment\n\
                        extendedKeyUsage=serverAuth\n";

/// The name clients send as SNI and verify.
pub const SERVER_NAME: &str = "localhost";

/// Makes the CA (ECDSA P-256) and one leaf per key type under
/// [`dir`]: `<key>.crt`, `<key>.key` and `<key>.pem` (certificate then key).
/// The leaf alone is the chain: every proxy sends the same bytes.
pub fn generate(tmp: &Path, openssl: &Path) -> Result<()> {
    let d = dir(tmp);
    std::fs::create_dir_all(&d)?;
    let run = |args: &[&str]| -> Result<()> {
        let out = Command::new(openssl)
            .args(args)
            .current_dir(&d)
            .output()
            .with_context(|| format!("running {}", openssl.display()))?;
        if !out.status.success() {
            bail!(
                "openssl {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    run(&[
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
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=ringlb bench CA",
    ])?;
    std::fs::write(d.join("leaf.ext"), LEAF_EXT)?;
    for key in [TlsKey::Ecdsa, TlsKey::Rsa] {
        let t = key.tag();
        let (k, csr, crt) = (format!("{t}.key"), format!("{t}.csr"), format!("{t}.crt"));
        let mut args = vec!["req"];
        args.extend_from_slice(key.newkey_args());
        args.extend_from_slice(&["-nodes", "-keyout", &k, "-out", &csr, "-subj"]);
        args.push("/CN=localhost");
        run(&args)?;
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
        ])?;
        let pem = std::fs::read_to_string(d.join(&crt))? + &std::fs::read_to_string(d.join(&k))?;
        std::fs::write(d.join(format!("{t}.pem")), pem)?;
    }
    // nginx workers may run as another user when the harness is root.
    for entry in std::fs::read_dir(&d)? {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(entry?.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// What the handshake check learnt: the negotiated parameters, for the notes.
pub fn describe_handshake(stderr: &str) -> String {
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    [
        field("Protocol version:"),
        field("Ciphersuite:"),
        field("Server Temp Key:").map(|k| k.split(',').next().unwrap_or("").to_string()),
        field("Signature type:"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

/// One TLS connection to 127.0.0.1:`port` with `openssl s_client`, which
/// must verify the certificate against the run's CA and answer 200 to
/// `GET path` (HTTP/1.0, so the proxy closes). At most 10 s: a proxy that
/// accepts and never completes a handshake fails here instead of hanging
/// the run. Returns the negotiated protocol, cipher, group and signature.
pub fn check_handshake(openssl: &Path, tmp: &Path, port: u16, path: &str) -> Result<String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "2", "10"])
        .arg(openssl)
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", SERVER_NAME, "-CAfile"])
        .arg(ca_pem(tmp))
        .args(["-verify_return_error", "-brief", "-ign_eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().context("running openssl s_client")?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(format!("GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n").as_bytes());
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let status_line = stdout.lines().next().unwrap_or("").trim().to_string();
    if out.status.code() == Some(124) || out.status.code() == Some(137) {
        bail!(
            "TLS handshake check: no answer within 10 s ({})",
            last_line(&stderr)
        );
    }
    if !stderr.contains("CONNECTION ESTABLISHED") {
        bail!("TLS handshake failed: {}", openssl_reason(&stderr));
    }
    if !(status_line.starts_with("HTTP/1.") && status_line.split_whitespace().nth(1) == Some("200"))
    {
        bail!("TLS handshake done but `GET {path}` got {status_line:?}");
    }
    Ok(describe_handshake(&stderr))
}

/// The reason of OpenSSL's first error line (`<hex>:error:<code>:<lib>:
/// <func>:<reason>:<file>:<line>:`), with what it means where it is known;
/// else the last lines.
fn openssl_reason(stderr: &str) -> String {
    let reason = stderr
        .lines()
        .find(|l| l.contains(":error:"))
        .and_then(|l| l.split(':').nth(5))
        .map(str::trim)
        .filter(|r| !r.is_empty());
    match reason {
        Some(r) if r.contains("wrong version number") => {
            format!("{r} (the port answered, but not with TLS)")
        }
        Some(r) => r.to_string(),
        None => last_line(stderr),
    }
}

fn last_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(2)..].join(" / ");
    if tail.is_empty() {
        "no output".into()
    } else {
        tail
    }
}

/// What the `s_time` processes of one run did together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handshakes {
    /// Connections completed (handshake + `GET /` + answer), all processes.
    pub connections: u64,
    /// Of those, the resumed ones (s_time's `r` marks).
    pub resumed: u64,
    /// Connections per second of wall time.
    pub per_sec: f64,
}

/// Reads one `openssl s_time` output: its mark line (`*` new session, `r`
/// resumed) and its `N connections in T real seconds` total.
pub fn parse_s_time(out: &str) -> Result<(u64, u64)> {
    let total = out
        .lines()
        .filter_map(|l| l.trim().split_once(" connections in "))
        .filter(|(_, rest)| rest.contains("real seconds"))
        .filter_map(|(n, _)| n.trim().parse::<u64>().ok())
        .next_back()
        .context("no `connections in ... real seconds` in s_time output")?;
    let resumed = out
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| matches!(c, '*' | 'r' | '1' | '2' | '3')))
        .map(|l| l.chars().filter(|&c| c == 'r').count() as u64)
        .sum();
    Ok((total, resumed))
}

/// `clients` `openssl s_time` processes pinned to `cpus`, each connecting
/// to 127.0.0.1:`port` one connection at a time for `secs` s: `-new` (a
/// full handshake every time) or `-reuse` (every connection after each
/// process's first resumes its session). Each connection sends `GET /`
/// (HTTP/1.0: the proxy answers and closes).
pub fn s_time(
    openssl: &Path,
    cpus: &str,
    clients: u32,
    port: u16,
    resume: bool,
    secs: u64,
    log_stem: &Path,
) -> Result<Handshakes> {
    let start = Instant::now();
    let mut procs = Vec::new();
    for c in 0..clients {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", cpus])
            .arg(openssl)
            .args(["s_time", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .arg(if resume { "-reuse" } else { "-new" })
            .args(["-time", &secs.to_string(), "-www", "/"]);
        let log = log_stem.with_extension(format!("{c}.log"));
        procs.push(Proc::spawn("s_time", &mut cmd, &log)?);
    }
    let mut h = Handshakes::default();
    for mut p in procs {
        let status = p.wait_for(Duration::from_secs(secs + 30))?;
        let out = p.output();
        if !status.success() {
            bail!("s_time failed ({status}): {}", p.output_tail(2));
        }
        let (n, r) = parse_s_time(&out)?;
        h.connections += n;
        h.resumed += r;
    }
    // s_time's own time is whole seconds: the wall time around all of
    // them is closer (it includes their start, a few ms).
    h.per_sec = h.connections as f64 / start.elapsed().as_secs_f64();
    if h.connections == 0 {
        bail!("s_time completed no connection");
    }
    Ok(h)
}

/// `--ciphersuites`: one TLS 1.3 suite list for every proxy (set once
/// before the first proxy starts; unset: each proxy's defaults).
static CIPHERSUITES: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the TLS 1.3 suite list every proxy is configured with.
pub fn set_ciphersuites(list: &str) {
    let _ = CIPHERSUITES.set(list.to_string());
}

/// The `bind` line of HAProxy and ringlb: `ssl crt <combined pem>` and
/// nothing else, so both run on their defaults (TLS 1.2 and 1.3, tickets
/// on, session cache on), or `ciphersuites` with `--ciphersuites`.
pub fn bind_suffix(tmp: &Path, key: TlsKey) -> String {
    let mut s = format!(" ssl crt {}", combined_pem(tmp, key).display());
    if let Some(list) = CIPHERSUITES.get() {
        s += &format!(" ciphersuites {list}");
    }
    s
}

/// nginx's `listen ... ssl` server settings equivalent to HAProxy's defaults.
pub fn nginx_server_lines(tmp: &Path, key: TlsKey) -> String {
    format!(
        "        ssl_certificate {crt};\n\
         \x20       ssl_certificate_key {key};\n\
         \x20       ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20       ssl_session_tickets on;\n\
         \x20       ssl_session_cache shared:SSL:20m;\n\
         \x20       ssl_session_timeout 5m;\n\
         \x20       ssl_prefer_server_ciphers on;\n{suites}",
        crt = cert_pem(tmp, key).display(),
        key = key_pem(tmp, key).display(),
        suites = CIPHERSUITES
            .get()
            .map(|l| format!("        ssl_conf_command Ciphersuites {l};\n"))
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_time_output() {
        let out = "Collecting connection statistics for 2 seconds\n\
                   ********\n\n\
                   8 connections in 0.46s; 17.39 connections/user sec, bytes read 704\n\
                   8 connections in 3 real seconds, 88 bytes read per connection\n";
        assert_eq!(parse_s_time(out).unwrap(), (8, 0));
        let out = "\n\nNow timing with session id reuse.\nstarting\nrrrr*rr\n\n\
                   7 connections in 0.32s; 3700.00 connections/user sec, bytes read 616\n\
                   7 connections in 3 real seconds, 88 bytes read per connection\n";
        assert_eq!(parse_s_time(out).unwrap(), (7, 6));
        assert!(parse_s_time("connect: Connection refused").is_err());
    }

    #[test]
    fn openssl_errors() {
        let e = "806B5BEFE07F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version \
                 number:../ssl/record/ssl3_record.c:350:\n";
        assert_eq!(
            openssl_reason(e),
            "wrong version number (the port answered, but not with TLS)"
        );
        assert_eq!(openssl_reason("connect:errno=111\n"), "connect:errno=111");
    }

    #[test]
    fn handshake_description() {
        let err = "CONNECTION ESTABLISHED\nProtocol version: TLSv1.3\n\
                   Ciphersuite: TLS_AES_256_GCM_SHA384\nSignature type: ECDSA\n\
                   Verification: OK\nServer Temp Key: X25519, 253 bits\n";
        assert_eq!(
            describe_handshake(err),
            "TLSv1.3, TLS_AES_256_GCM_SHA384, X25519, ECDSA"
        );
    }

    #[test]
    fn certificates_verify() {
        let Some(openssl) = crate::sys::find_program(None, &["openssl"]) else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path(), &openssl).unwrap();
        for key in [TlsKey::Ecdsa, TlsKey::Rsa] {
            let out = Command::new(&openssl)
                .args(["verify", "-CAfile"])
                .arg(ca_pem(tmp.path()))
                .arg(cert_pem(tmp.path(), key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{key:?}: {out:?}");
            let pem = std::fs::read_to_string(combined_pem(tmp.path(), key)).unwrap();
            assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"));
        }
        assert!(bind_suffix(tmp.path(), TlsKey::Rsa).ends_with("tls/rsa.pem"));
    }
}
