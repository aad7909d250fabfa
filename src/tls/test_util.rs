//! Test helpers: certificates made with the `openssl` CLI once per test
//! process, and an in-memory rustls handshake against a [`BindTls`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::Acceptor;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConnection, SignatureScheme,
};

use super::bind::BindTls;

/// The directory of the test certificates, `None` (with a message) when
/// the `openssl` CLI is missing.
pub fn certs_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(make_certs).as_deref()
}

/// Runs `openssl` in `dir`.
fn ossl(dir: &Path, args: &str) -> bool {
    Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Makes: rsa_a.pem (a.example, *.w.example), ec_a.pem (a.example),
/// rsa_b.pem (b.example), split.pem + split.pem.key, ca.pem, client.pem
/// (+ client.key, signed by ca), localhost.pem (EC leaf for `localhost`,
/// signed by ca).
fn make_certs() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ringlb-tls-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    if !ossl(&dir, "version") {
        eprintln!("openssl CLI missing: TLS handshake tests skipped");
        return None;
    }
    let selfsigned = |name: &str, key: &str, cn: &str, san: &str| {
        ossl(
            &dir,
            &format!(
                "req -x509 -newkey {key} -nodes -keyout {name}.key -out {name}.crt -days 30 \
                 -subj /CN={cn} -addext subjectAltName={san}"
            ),
        )
    };
    let ok = selfsigned(
        "rsa_a",
        "rsa:2048",
        "a.example",
        "DNS:a.example,DNS:*.w.example",
    ) && selfsigned(
        "ec_a",
        "ec -pkeyopt ec_paramgen_curve:P-256",
        "a.example",
        "DNS:a.example",
    ) && selfsigned("rsa_b", "rsa:2048", "b.example", "DNS:b.example")
        && selfsigned("ca", "rsa:2048", "TestCA", "DNS:ca.example")
        && ossl(
            &dir,
            "req -new -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client",
        );
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .ok()?;
    std::fs::write(dir.join("localhost.ext"), "subjectAltName=DNS:localhost\n").ok()?;
    let ok =
        ok && ossl(
            &dir,
            "x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.pem \
             -days 30 -extfile client.ext",
        ) && ossl(
            &dir,
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout localhost.key \
             -out localhost.csr -subj /CN=localhost",
        ) && ossl(
            &dir,
            "x509 -req -in localhost.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
             -out localhost.crt -days 30 -extfile localhost.ext",
        );
    // openssl is there: a failure here is a bug in the test, never a skip.
    assert!(
        ok,
        "openssl could not make the test certificates in {dir:?}"
    );
    for n in ["rsa_a", "ec_a", "rsa_b", "localhost"] {
        let mut pem = std::fs::read(dir.join(format!("{n}.crt"))).ok()?;
        pem.extend(std::fs::read(dir.join(format!("{n}.key"))).ok()?);
        std::fs::write(dir.join(format!("{n}.pem")), pem).ok()?;
    }
    std::fs::copy(dir.join("rsa_b.crt"), dir.join("split.pem")).ok()?;
    std::fs::copy(dir.join("rsa_b.key"), dir.join("split.pem.key")).ok()?;
    std::fs::copy(dir.join("ca.crt"), dir.join("ca.pem")).ok()?;
    Some(dir)
}

/// A client that accepts any server certificate and records the OCSP
/// response it was given.
#[derive(Debug)]
pub struct AnyServer {
    /// The signature schemes the client offers.
    pub schemes: Vec<SignatureScheme>,
    /// The last OCSP response stapled.
    pub ocsp: Mutex<Vec<u8>>,
}

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        ocsp: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.ocsp.lock().unwrap() = ocsp.to_vec();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Every scheme rustls's provider verifies.
pub fn all_schemes() -> Vec<SignatureScheme> {
    rustls::crypto::aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .supported_schemes()
}

/// A client configuration (versions, schemes, ALPN, optional client cert).
pub fn client(
    versions: &[&'static rustls::SupportedProtocolVersion],
    schemes: Vec<SignatureScheme>,
    client_cert: bool,
) -> (Arc<ClientConfig>, Arc<AnyServer>) {
    let v = Arc::new(AnyServer {
        schemes,
        ocsp: Mutex::new(Vec::new()),
    });
    let b = ClientConfig::builder_with_protocol_versions(versions)
        .dangerous()
        .with_custom_certificate_verifier(v.clone());
    let mut cfg = if client_cert {
        let dir = certs_dir().unwrap();
        let chain = rustls_pki_types::pem::PemObject::pem_file_iter(dir.join("client.pem"))
            .unwrap()
            .collect::<Result<Vec<CertificateDer<'static>>, _>>()
            .unwrap();
        let key = rustls_pki_types::pem::PemObject::from_pem_file(dir.join("client.key")).unwrap();
        b.with_client_auth_cert(chain, key).unwrap()
    } else {
        b.with_no_client_auth()
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (Arc::new(cfg), v)
}

/// One handshake in memory; `sni` `None` sends no server name.
pub fn handshake(
    tls: &BindTls,
    cfg: Arc<ClientConfig>,
    sni: Option<&str>,
) -> Result<(ClientConnection, ServerConnection), String> {
    let mut cfg = (*cfg).clone();
    cfg.enable_sni = sni.is_some();
    // A name is needed even when not sent.
    let name = ServerName::try_from(sni.unwrap_or("nosni.invalid").to_string()).unwrap();
    let mut c = ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    c.write_tls(&mut buf).unwrap();
    let mut acc = Acceptor::default();
    acc.read_tls(&mut &buf[..]).unwrap();
    let accepted = acc
        .accept()
        .map_err(|(e, _)| e.to_string())?
        .ok_or("incomplete ClientHello")?;
    let sc = tls.config_for(&accepted.client_hello()).ok_or("refused")?;
    let mut s = accepted
        .into_connection(sc)
        .map_err(|(e, _)| e.to_string())?;
    for _ in 0..10 {
        let mut b = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut b).unwrap();
        }
        c.read_tls(&mut &b[..]).ok();
        c.process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        let mut b = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut b).unwrap();
        }
        s.read_tls(&mut &b[..]).ok();
        s.process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        if !c.is_handshaking() && !s.is_handshaking() && !s.wants_write() {
            return Ok((c, s));
        }
    }
    Err("handshake did not finish".into())
}

/// The CN of the certificate the server sent.
pub fn served_cn(c: &ClientConnection) -> String {
    let der = &c.peer_certificates().unwrap()[0];
    let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
    let cn = x.subject().iter_common_name().next().unwrap();
    cn.as_str().unwrap().to_string()
}

/// Whether the server sent an ECDSA certificate.
pub fn served_ecdsa(c: &ClientConnection) -> bool {
    let der = &c.peer_certificates().unwrap()[0];
    let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
    x.public_key().algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1"
}
