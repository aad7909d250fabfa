//! The built client configurations against an in-memory rustls server
//! (no sockets), with certificates the `openssl` CLI makes per test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConnection, HandshakeKind, ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::*;

/// A CA, a server certificate it signed for `a.test`, a self-signed one
/// for `a.test`, and a client certificate it signed (chain and key in one file).
struct Pki {
    dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Pki {
    /// `None` (with a message) when the `openssl` CLI is missing.
    fn new() -> Option<Pki> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("skipped: the openssl CLI is missing");
            return None;
        }
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ringlb-srvtls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        let d = pki.dir.as_path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let ok = |a: &[&str]| assert!(openssl(d, a), "openssl {a:?}");
        ok(&[
            &["req", "-x509"],
            &ec[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=test ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat());
        for (name, ext) in [
            (
                "srv",
                "subjectAltName=DNS:a.test\nextendedKeyUsage=serverAuth\n",
            ),
            ("cli", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
            ok(&[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            ]
            .concat());
            ok(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.pem"),
                "-extfile",
                &format!("{name}.ext"),
            ]);
        }
        ok(&[
            &["req", "-x509"],
            &ec[..],
            &[
                "-keyout",
                "self.key",
                "-out",
                "self.pem",
                "-days",
                "2",
                "-subj",
                "/CN=a.test",
                "-addext",
                "subjectAltName=DNS:a.test",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ],
        ]
        .concat());
        // The client certificate with its key in one file, as `crt` takes it.
        let both = [pki.read("cli.pem"), pki.read("cli.key")].concat();
        std::fs::write(d.join("client.pem"), both).unwrap();
        Some(pki)
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).to_string_lossy().into_owned()
    }

    fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.dir.join(f)).unwrap()
    }

    /// A server showing `cert`; asks for a client certificate from the CA
    /// when `client_auth`; offers `alpn`.
    fn server(&self, cert: &str, client_auth: bool, alpn: &[&str]) -> Arc<ServerConfig> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(self.path(&format!("{cert}.pem")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(self.path(&format!("{cert}.key"))).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let b = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let b = if client_auth {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            b.with_client_cert_verifier(v)
        } else {
            b.with_no_client_auth()
        };
        let mut c = b.with_single_cert(chain, key).unwrap();
        c.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Arc::new(c)
    }

    /// Options with `ssl verify required ca-file <ca>`.
    fn opts(&self) -> ServerTlsOpts {
        ServerTlsOpts {
            ssl: true,
            verify: Some(Verify::Required),
            ca_file: Some(self.path("ca.pem")),
            ..Default::default()
        }
    }
}

fn build(o: &ServerTlsOpts) -> ServerTls {
    ServerTls::build(o, &ServerTlsDefaults::default(), "'server b/s1'").unwrap()
}

/// The result of one in-memory handshake, both ends.
struct Done {
    client: ClientConnection,
    server: ServerConnection,
}

/// Runs a handshake (and the post-handshake tickets) between a client of
/// `cfg` connecting as `name` and a server of `srv`.
fn handshake(
    cfg: Arc<ClientConfig>,
    name: ServerName<'static>,
    srv: Arc<ServerConfig>,
) -> Result<Done, Error> {
    let mut client = ClientConnection::new(cfg, name)?;
    let mut server = ServerConnection::new(srv)?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            server.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() && !server.wants_write() {
            return Ok(Done { client, server });
        }
    }
    panic!("handshake did not finish");
}

#[test]
fn verify_required_accepts_the_ca_and_the_name() {
    let Some(pki) = Pki::new() else { return };
    let t = build(&pki.opts());
    let name = t.server_name(Some(b"a.test"));
    let done = handshake(t.config(), name, pki.server("srv", false, &[])).unwrap();
    assert_eq!(done.server.server_name(), Some("a.test"));
}

#[test]
fn verify_required_refuses_self_signed_and_wrong_name() {
    let Some(pki) = Pki::new() else { return };
    let t = build(&pki.opts());
    let self_signed = handshake(
        t.config(),
        t.server_name(Some(b"a.test")),
        pki.server("self", false, &[]),
    );
    assert!(
        matches!(
            self_signed,
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ),
        "{:?}",
        self_signed.err()
    );
    let wrong = handshake(
        t.config(),
        t.server_name(Some(b"b.test")),
        pki.server("srv", false, &[]),
    );
    assert!(
        matches!(
            wrong,
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{:?}",
        wrong.err()
    );
}

#[test]
fn no_sni_checks_the_chain_only_and_verifyhost_the_name() {
    let Some(pki) = Pki::new() else { return };
    let srv = pki.server("srv", false, &[]);
    // No SNI and no verifyhost: the chain only, as HAProxy.
    let t = build(&pki.opts());
    let done = handshake(t.config(), t.server_name(None), srv.clone()).unwrap();
    assert_eq!(done.server.server_name(), None, "no SNI sent");
    assert!(
        handshake(
            t.config(),
            t.server_name(None),
            pki.server("self", false, &[])
        )
        .is_err()
    );
    // verifyhost names what the certificate must carry, SNI or not.
    let good = build(&ServerTlsOpts {
        verifyhost: Some("a.test".into()),
        ..pki.opts()
    });
    handshake(good.config(), good.server_name(None), srv.clone()).unwrap();
    handshake(
        good.config(),
        good.server_name(Some(b"b.test")),
        srv.clone(),
    )
    .unwrap();
    let bad = build(&ServerTlsOpts {
        verifyhost: Some("b.test".into()),
        ..pki.opts()
    });
    assert!(handshake(bad.config(), bad.server_name(None), srv.clone()).is_err());
    assert!(handshake(bad.config(), bad.server_name(Some(b"a.test")), srv).is_err());
}

#[test]
fn verify_none_accepts_anything() {
    let Some(pki) = Pki::new() else { return };
    let t = build(&ServerTlsOpts {
        ssl: true,
        verify: Some(Verify::None),
        ..Default::default()
    });
    handshake(
        t.config(),
        t.server_name(Some(b"x.test")),
        pki.server("self", false, &[]),
    )
    .unwrap();
}

#[test]
fn crt_presents_the_client_certificate() {
    let Some(pki) = Pki::new() else { return };
    let srv = pki.server("srv", true, &[]);
    let without = build(&pki.opts());
    assert!(
        handshake(
            without.config(),
            without.server_name(Some(b"a.test")),
            srv.clone()
        )
        .is_err()
    );
    let with = build(&ServerTlsOpts {
        crt: Some(pki.path("client.pem")),
        ..pki.opts()
    });
    let done = handshake(with.config(), with.server_name(Some(b"a.test")), srv).unwrap();
    assert_eq!(done.server.peer_certificates().map(<[_]>::len), Some(1));
    // The key beside the certificate, in `<crt>.key`, as HAProxy.
    std::fs::copy(pki.path("cli.key"), pki.path("cli.pem.key")).unwrap();
    build(&ServerTlsOpts {
        crt: Some(pki.path("cli.pem")),
        ..pki.opts()
    });
}

#[test]
fn alpn_is_offered_and_check_alpn_for_checks() {
    let Some(pki) = Pki::new() else { return };
    let t = build(&ServerTlsOpts {
        alpn: Some(vec!["http/1.1".into()]),
        check_alpn: Some(vec!["x-check".into()]),
        ..pki.opts()
    });
    let srv = pki.server("srv", false, &["h2", "http/1.1", "x-check"]);
    let done = handshake(t.config(), t.server_name(Some(b"a.test")), srv.clone()).unwrap();
    assert_eq!(done.client.alpn_protocol(), Some(&b"http/1.1"[..]));
    let done = handshake(t.check_config(), t.server_name(Some(b"a.test")), srv).unwrap();
    assert_eq!(done.client.alpn_protocol(), Some(&b"x-check"[..]));
}

#[test]
fn sessions_resume_unless_no_ssl_reuse() {
    let Some(pki) = Pki::new() else { return };
    let srv = pki.server("srv", false, &[]);
    let t = build(&pki.opts());
    let name = || t.server_name(Some(b"a.test"));
    let first = handshake(t.config(), name(), srv.clone()).unwrap();
    assert_eq!(first.client.handshake_kind(), Some(HandshakeKind::Full));
    let again = handshake(t.config(), name(), srv.clone()).unwrap();
    assert_eq!(again.client.handshake_kind(), Some(HandshakeKind::Resumed));
    // Each server has its own cache: another server's config starts full.
    let other = build(&pki.opts());
    let o = handshake(other.config(), name(), srv.clone()).unwrap();
    assert_eq!(o.client.handshake_kind(), Some(HandshakeKind::Full));
    let off = build(&ServerTlsOpts {
        no_reuse: true,
        ..pki.opts()
    });
    for _ in 0..2 {
        let d = handshake(off.config(), name(), srv.clone()).unwrap();
        assert_eq!(d.client.handshake_kind(), Some(HandshakeKind::Full));
    }
}

#[test]
fn load_errors_say_what_haproxy_says() {
    let err = |o: &ServerTlsOpts, d: &ServerTlsDefaults| {
        ServerTls::build(o, d, "'server b/s1'").unwrap_err()
    };
    let ssl = ServerTlsOpts {
        ssl: true,
        ..Default::default()
    };
    // HAProxy 2.6 `-c`, word for word.
    assert_eq!(
        err(&ssl, &ServerTlsDefaults::default()),
        "'server b/s1' : verify is enabled by default but no CA file specified. If you're \
         running on a LAN where you're certain to trust the server's certificate, please set an \
         explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' \
         in the global section to disable server-side verifications by default."
    );
    let lax = ServerTlsDefaults {
        verify: Verify::None,
        ..Default::default()
    };
    assert!(
        ServerTls::build(&ssl, &lax, "s").is_ok(),
        "ssl-server-verify none"
    );
    let o = ServerTlsOpts {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..ssl.clone()
    };
    assert_eq!(
        err(&o, &lax),
        "'server b/s1' : Couldn't open the ca-file '/nonexistent/ca.pem' (No such file or \
         directory)."
    );
    let o = ServerTlsOpts {
        crt: Some("/nonexistent/c.pem".into()),
        ..ssl.clone()
    };
    assert_eq!(
        err(&o, &lax),
        "'server b/s1' : unable to stat SSL certificate from file '/nonexistent/c.pem' : No \
         such file or directory."
    );
    let Some(pki) = Pki::new() else { return };
    let o = ServerTlsOpts {
        crt: Some(pki.path("ca.pem")),
        ..ssl.clone()
    };
    assert_eq!(
        err(&o, &lax),
        format!(
            "'server b/s1' : No Private Key found in '{}.key'.",
            pki.path("ca.pem")
        )
    );
    let o = ServerTlsOpts {
        ca_file: Some(pki.path("ca.key")),
        ..ssl
    };
    assert!(
        err(&o, &lax).contains("unable to load"),
        "{}",
        err(&o, &lax)
    );
}

#[test]
fn server_names() {
    let t = ServerTls::build(
        &ServerTlsOpts {
            ssl: true,
            verify: Some(Verify::None),
            check_sni: Some("c.test".into()),
            sni: Some(SniExpr {
                text: "req.hdr(host)".into(),
                expr: crate::acl::parse_expr("req.hdr(host)", None).unwrap().0,
            }),
            ..Default::default()
        },
        &ServerTlsDefaults::default(),
        "s",
    )
    .unwrap();
    let dns = |s: &str| ServerName::try_from(s.to_string()).unwrap();
    assert_eq!(t.server_name(Some(b"a.test")), dns("a.test"));
    for none in [
        None,
        Some(&b""[..]),
        Some(b"10.0.0.1"),
        Some(b"::1"),
        Some(b"bad name"),
    ] {
        assert!(
            matches!(t.server_name(none), ServerName::IpAddress(_)),
            "{none:?}"
        );
    }
    assert_eq!(t.check_server_name(), dns("c.test"));
    let mut sc = Scratch::new();
    let req = crate::acl::TestSample::get("/").header("host", "h.test");
    assert_eq!(t.eval_server_name(&req, &mut sc), dns("h.test"));
    let no_host = crate::acl::TestSample::get("/");
    assert!(matches!(
        t.eval_server_name(&no_host, &mut sc),
        ServerName::IpAddress(_)
    ));
}

#[test]
fn no_tls_tickets_resumes_tls12_by_session_id_only() {
    let Some(pki) = Pki::new() else { return };
    // A TLS 1.2 server that resumes by ticket only (no session-id cache).
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.path("srv.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path("srv.key")).unwrap();
    let mut c = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    c.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    c.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    let srv = Arc::new(c);
    let kinds = |t: &ServerTls| {
        [0, 1].map(|_| {
            handshake(t.config(), t.server_name(Some(b"a.test")), srv.clone())
                .unwrap()
                .client
                .handshake_kind()
        })
    };
    let full = Some(HandshakeKind::Full);
    assert_eq!(
        kinds(&build(&pki.opts())),
        [full, Some(HandshakeKind::Resumed)]
    );
    let no_tickets = build(&ServerTlsOpts {
        no_tickets: Some(true),
        ..pki.opts()
    });
    assert_eq!(kinds(&no_tickets), [full, full]);
    // `ssl-default-server-options no-tls-tickets`, and `tls-tickets` over it.
    let global = ServerTlsDefaults {
        no_tickets: true,
        ..Default::default()
    };
    let t = ServerTls::build(&pki.opts(), &global, "s").unwrap();
    assert_eq!(kinds(&t), [full, full]);
    let back = ServerTlsOpts {
        no_tickets: Some(false),
        ..pki.opts()
    };
    let t = ServerTls::build(&back, &global, "s").unwrap();
    assert_eq!(kinds(&t), [full, Some(HandshakeKind::Resumed)]);
}
