//! A `bind` line's TLS settings (`ssl`, `crt`, ...) and the rustls server
//! configuration built from them once, when the configuration is loaded.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS side of one `bind` line: what was written, and what it built.
pub struct BindTls {
    /// `crt <file|dir>` arguments, in order (the first is the default certificate).
    pub crt: Vec<String>,
    /// The configuration every handshake on this bind uses, shared by the
    /// workers (so are its session tickets).
    pub config: Arc<ServerConfig>,
}

impl std::fmt::Debug for BindTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindTls").field("crt", &self.crt).finish()
    }
}

/// Two binds are alike when written alike (the built configuration follows).
impl PartialEq for BindTls {
    fn eq(&self, other: &Self) -> bool {
        self.crt == other.crt
    }
}

impl Eq for BindTls {}

impl BindTls {
    /// The configuration for a handshake whose ClientHello is `hello` (SNI
    /// picks the certificate and a `crt-list` line's options); `None` refuses
    /// the handshake (`strict-sni` and no certificate for the name).
    pub fn config_for(
        &self,
        _hello: &rustls::server::ClientHello<'_>,
    ) -> Option<Arc<ServerConfig>> {
        Some(self.config.clone())
    }

    /// Loads the certificates and builds the server configuration.
    pub fn build(crt: Vec<String>) -> Result<BindTls, String> {
        let Some(first) = crt.first() else {
            return Err("'ssl' needs a certificate: add 'crt <file>'".into());
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(first)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| format!("unable to load certificate chain from '{first}': {e}"))?;
        if chain.is_empty() {
            return Err(format!("no certificate found in '{first}'"));
        }
        let key = PrivateKeyDer::from_pem_file(first)
            .map_err(|e| format!("unable to load private key from '{first}': {e}"))?;
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("'{first}': {e}"))?;
        Ok(BindTls {
            crt,
            config: Arc::new(config),
        })
    }
}
