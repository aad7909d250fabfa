//! A `server` line's TLS settings (`ssl`, `verify`, `ca-file`, `crt`, `sni`,
//! `alpn`, `check-ssl`, ...) and the rustls client configurations built from
//! them once, when the configuration is loaded.
//!
//! Each server gets its own `ClientConfig` and so its own in-memory session
//! cache: reconnecting to a server resumes its last session, as HAProxy does
//! by default (`no-ssl-reuse` turns that off).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, Tls12Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore};
use rustls::{SignatureScheme, pki_types::UnixTime};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::acl::{Expr, Sample, Scratch, Val};
use crate::tls::opts::SslOpts;

/// Where `ca-file @system-ca` reads the system's trusted authorities.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Sessions kept per server (one name per server in practice).
const SESSIONS_PER_SERVER: usize = 32;

/// `verify none|required` (and global `ssl-server-verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// No certificate check at all.
    None,
    /// The chain must lead to `ca-file`, and the name match (SNI or `verifyhost`).
    #[default]
    Required,
}

impl Verify {
    /// Parses `none|required`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Verify> {
        match s {
            "none" => Some(Verify::None),
            "required" => Some(Verify::Required),
            _ => None,
        }
    }
}

/// `sni <expr>`: the text written and its compiled sample expression.
#[derive(Debug, Clone)]
pub struct SniExpr {
    /// The expression as written.
    pub text: String,
    /// Compiled once at load; evaluated per connection.
    pub expr: Expr,
}

/// Two expressions are alike when written alike.
impl PartialEq for SniExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SniExpr {}

/// A server's TLS options as written (`default-server` carries them to
/// later servers; `no-ssl`, `no-check-ssl`... turn flags back off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTlsOpts {
    /// `ssl`: traffic to the server is TLS.
    pub ssl: bool,
    /// `check-ssl`: health checks are TLS.
    pub check_ssl: bool,
    /// `verify none|required` (unset: global `ssl-server-verify`).
    pub verify: Option<Verify>,
    /// `verifyhost <name>`: the name the certificate must carry.
    pub verifyhost: Option<String>,
    /// `ca-file <file>` (`@system-ca` resolved to [`SYSTEM_CA_FILE`]).
    pub ca_file: Option<String>,
    /// `crt <file>`: client certificate chain and key (key in `<file>.key` otherwise).
    pub crt: Option<String>,
    /// `sni <expr>`.
    pub sni: Option<SniExpr>,
    /// `alpn <list>`: the protocols offered (`h2` filtered out at parse).
    pub alpn: Option<Vec<String>>,
    /// `check-sni <name>`.
    pub check_sni: Option<String>,
    /// `check-alpn <list>`.
    pub check_alpn: Option<Vec<String>>,
    /// `no-ssl-reuse` (true) / `ssl-reuse` (false): no session resumption.
    pub no_reuse: bool,
    /// `no-tls-tickets` (true) / `tls-tickets` (false); unset: global default.
    pub no_tickets: Option<bool>,
    /// `ciphers`, `ciphersuites`, `ssl-min-ver`, `ssl-max-ver`,
    /// `no-tlsv1x`, `force-tlsv1x`: parsed and mapped as on `bind` lines
    /// (`tls/opts.rs`, `tls/ciphers.rs`).
    pub proto: SslOpts,
}

/// Global settings a server's TLS starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTlsDefaults {
    /// `ssl-server-verify` (default `required`).
    pub verify: Verify,
    /// `ssl-default-server-options no-tls-tickets`.
    pub no_tickets: bool,
    /// `ssl-default-server-ciphers`, `-ciphersuites` and the version
    /// options of `ssl-default-server-options`.
    pub proto: SslOpts,
}

impl ServerTlsDefaults {
    /// A server's protocol options over these defaults: its own lists and
    /// bounds win; a `no-tlsv1x` flag from either side holds.
    pub fn proto_for(&self, line: &SslOpts) -> SslOpts {
        SslOpts {
            no_tls12: line.no_tls12 || self.proto.no_tls12,
            no_tls13: line.no_tls13 || self.proto.no_tls13,
            ..self.proto.overlay(line)
        }
    }
}

/// The TLS side of one server: what was written, and what it built.
pub struct ServerTls {
    /// The options as written.
    pub opts: ServerTlsOpts,
    /// `verify` after the global default.
    pub verify: Verify,
    /// The configuration of traffic connections (`alpn`, the session cache).
    config: Arc<ClientConfig>,
    /// The configuration of health checks (`check-alpn`; no resumption).
    check_config: Arc<ClientConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("opts", &self.opts)
            .field("verify", &self.verify)
            .finish()
    }
}

/// Two servers are alike when written alike (the built configuration follows).
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        self.opts == other.opts && self.verify == other.verify
    }
}

impl Eq for ServerTls {}

/// The name given when no SNI is sent: an address, so rustls sends no
/// `server_name` and the verifier checks the chain only.
fn no_sni() -> ServerName<'static> {
    ServerName::from(Ipv4Addr::UNSPECIFIED)
}

impl ServerTls {
    /// The configuration of traffic connections, for `tls::stream::connect`.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The configuration of health-check connections.
    pub fn check_config(&self) -> Arc<ClientConfig> {
        self.check_config.clone()
    }

    /// The compiled `sni` expression, if any (evaluate it per request).
    pub fn sni_expr(&self) -> Option<&Expr> {
        self.opts.sni.as_ref().map(|s| &s.expr)
    }

    /// The name for a connection whose `sni` expression gave `value` (or
    /// nothing): a host name is sent as SNI; an address, an invalid name or
    /// no value sends none (the certificate is then checked against
    /// `verifyhost` when given, else only its chain, as HAProxy).
    pub fn server_name(&self, value: Option<&[u8]>) -> ServerName<'static> {
        let Some(s) = value.and_then(|v| std::str::from_utf8(v).ok()) else {
            return no_sni();
        };
        if s.is_empty() || s.parse::<IpAddr>().is_ok() {
            return no_sni();
        }
        ServerName::try_from(s.to_string()).unwrap_or_else(|_| no_sni())
    }

    /// Evaluates `sni` on a request and answers the name to connect with
    /// (its first value; no expression or no value: no SNI).
    pub fn eval_server_name<S: Sample + ?Sized>(
        &self,
        s: &S,
        sc: &mut Scratch,
    ) -> ServerName<'static> {
        let Some(expr) = self.sni_expr() else {
            return no_sni();
        };
        let mut name = no_sni();
        expr.for_each(s, sc, |v, _| {
            if let Val::Str(b) = v {
                name = self.server_name(Some(b));
            }
            true
        });
        name
    }

    /// The name health checks connect with (`check-sni`, else no SNI).
    pub fn check_server_name(&self) -> ServerName<'static> {
        self.server_name(self.opts.check_sni.as_deref().map(str::as_bytes))
    }

    /// Loads `ca-file` and `crt` and builds both client configurations.
    /// `label` is HAProxy's `'server <backend>/<name>'`, for its messages.
    pub fn build(
        opts: &ServerTlsOpts,
        defaults: &ServerTlsDefaults,
        label: &str,
    ) -> Result<ServerTls, String> {
        let verify = opts.verify.unwrap_or(defaults.verify);
        if verify == Verify::Required && opts.ca_file.is_none() {
            // HAProxy 2.6's wording, word for word.
            return Err(format!(
                "{label} : verify is enabled by default but no CA file specified. If you're \
                 running on a LAN where you're certain to trust the server's certificate, please \
                 set an explicit 'verify none' statement on the 'server' line, or use \
                 'ssl-server-verify none' in the global section to disable server-side \
                 verifications by default."
            ));
        }
        let (provider, versions) = crate::tls::ciphers::provider(&defaults.proto_for(&opts.proto))
            .map_err(|e| format!("{label} : {e}"))?;
        // As HAProxy, `ca-file` is loaded (and must load) even with `verify none`.
        let roots = match &opts.ca_file {
            Some(ca) => Some(load_roots(ca, label)?),
            None => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (roots, verify) {
            (Some(roots), Verify::Required) => Arc::new(CaVerifier::new(
                roots,
                opts.verifyhost.as_deref(),
                provider.clone(),
                label,
            )?),
            _ => Arc::new(NoVerifier(provider.clone())),
        };
        let client_auth = match &opts.crt {
            Some(crt) => Some(load_crt(crt, label)?),
            None => None,
        };
        let no_tickets = opts.no_tickets.unwrap_or(defaults.no_tickets);
        let resumption = if opts.no_reuse {
            Resumption::disabled()
        } else {
            Resumption::in_memory_sessions(SESSIONS_PER_SERVER).tls12_resumption(if no_tickets {
                Tls12Resumption::SessionIdOnly
            } else {
                Tls12Resumption::SessionIdOrTickets
            })
        };
        let make = |alpn: &Option<Vec<String>>, resumption: Resumption| {
            let b = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&versions)
                .map_err(|e| format!("{label} : {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone());
            let mut c = match &client_auth {
                Some((chain, key)) => b
                    .with_client_auth_cert(chain.clone(), key.clone_key())
                    .map_err(|e| format!("{label} : 'crt': {e}"))?,
                None => b.with_no_client_auth(),
            };
            c.alpn_protocols = alpn
                .iter()
                .flatten()
                .map(|p| p.as_bytes().to_vec())
                .collect();
            c.resumption = resumption;
            Ok::<_, String>(Arc::new(c))
        };
        Ok(ServerTls {
            opts: opts.clone(),
            verify,
            config: make(&opts.alpn, resumption)?,
            check_config: make(&opts.check_alpn, Resumption::disabled())?,
        })
    }
}

/// The trusted authorities of `ca-file`.
fn load_roots(ca: &str, label: &str) -> Result<RootCertStore, String> {
    super::certs::load_roots(ca).map_err(|e| match e {
        super::certs::RootsError::Read(e) => {
            format!(
                "{label} : Couldn't open the ca-file '{ca}' ({}).",
                pem_err(&e)
            )
        }
        super::certs::RootsError::Empty => format!("{label} : 'ca-file' : unable to load {ca}."),
    })
}

/// `crt <file>`: its chain, and its key (from `<file>.key` when the file
/// has none, as HAProxy).
fn load_crt(
    crt: &str,
    label: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(crt)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            format!(
                "{label} : unable to stat SSL certificate from file '{crt}' : {}.",
                pem_err(&e)
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "{label} : unable to load SSL certificate from file '{crt}' : no certificate found."
        ));
    }
    let key = PrivateKeyDer::from_pem_file(crt)
        .or_else(|_| PrivateKeyDer::from_pem_file(format!("{crt}.key")))
        .map_err(|_| format!("{label} : No Private Key found in '{crt}.key'."))?;
    Ok((chain, key))
}

/// An I/O error as `strerror` words ("No such file or directory").
fn pem_err(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => {
            let s = io.to_string();
            // Drop Rust's " (os error N)".
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
        other => format!("{other:?}"),
    }
}

/// `verify required`: the chain must lead to `ca-file`; the name checked
/// is `verifyhost`, else the SNI sent; with neither, only the chain
/// (HAProxy 2.6's `ssl_sock_srv_verifycbk`).
#[derive(Debug)]
struct CaVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verifyhost: Option<ServerName<'static>>,
}

impl CaVerifier {
    fn new(
        roots: RootCertStore,
        verifyhost: Option<&str>,
        provider: Arc<CryptoProvider>,
        label: &str,
    ) -> Result<CaVerifier, String> {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("{label} : 'ca-file' : {e}"))?;
        let verifyhost = match verifyhost {
            Some(h) => Some(
                ServerName::try_from(h.to_string())
                    .map_err(|_| format!("{label} : 'verifyhost' : invalid host name '{h}'."))?,
            ),
            None => None,
        };
        Ok(CaVerifier { inner, verifyhost })
    }
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let name = self.verifyhost.as_ref().unwrap_or(server_name);
        let r = self
            .inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now);
        let chain_only = self.verifyhost.is_none() && matches!(name, ServerName::IpAddress(_));
        match r {
            // webpki checks the chain before the name: a name error means
            // the chain was good, all that is asked without a name.
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if chain_only => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `verify none`: any certificate; the handshake's signatures are still
/// checked (they prove the peer holds the key it showed).
#[derive(Debug)]
struct NoVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
