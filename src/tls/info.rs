//! What a TLS handshake settled, kept with the stream for the fetches
//! (`ssl_fc`, `ssl_fc_sni`, `ssl_fc_protocol`, ...) and the logs, in the
//! spelling HAProxy prints (OpenSSL's names).

use rustls::{CipherSuite, Connection, ProtocolVersion};

/// The outcome of one handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The version as HAProxy prints it (`TLSv1.3`, `TLSv1.2`).
    pub version: &'static str,
    /// The cipher suite in OpenSSL's spelling (`TLS_AES_256_GCM_SHA384`,
    /// `ECDHE-RSA-AES128-GCM-SHA256`).
    pub cipher: &'static str,
    /// The SNI: the name the client asked for (accepting side), or the
    /// name sent (connecting side, `server ... sni`).
    pub sni: Option<Box<str>>,
    /// The protocol ALPN chose.
    pub alpn: Option<Box<[u8]>>,
    /// The peer sent a certificate.
    pub peer_cert: bool,
    /// Its subject, as HAProxy's `ssl_c_s_dn` prints it (`/C=FR/CN=name`).
    pub peer_subject: Option<Box<str>>,
}

impl TlsInfo {
    /// Reads it off a connection whose handshake completed.
    pub fn of(conn: &Connection) -> Self {
        let sni = match conn {
            Connection::Server(s) => s.server_name().map(Into::into),
            Connection::Client(_) => None,
        };
        let first = conn.peer_certificates().and_then(|c| c.first());
        TlsInfo {
            version: conn.protocol_version().map_or("", version_name),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or("", |s| cipher_name(s.suite())),
            sni,
            alpn: conn.alpn_protocol().map(Into::into),
            peer_cert: first.is_some(),
            peer_subject: first.and_then(|c| subject_dn(c)),
        }
    }
}

/// HAProxy's (OpenSSL's) name for a protocol version.
pub fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        ProtocolVersion::TLSv1_1 => "TLSv1.1",
        ProtocolVersion::TLSv1_0 => "TLSv1",
        ProtocolVersion::SSLv3 => "SSLv3",
        _ => "unknown",
    }
}

/// OpenSSL's name for a cipher suite (the suites rustls implements).
pub fn cipher_name(s: CipherSuite) -> &'static str {
    use CipherSuite as C;
    match s {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => "unknown",
    }
}

/// A certificate's subject in OpenSSL's one-line form (`/C=FR/O=x/CN=name`).
fn subject_dn(der: &[u8]) -> Option<Box<str>> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for rdn in cert.subject().iter() {
        for attr in rdn.iter() {
            let key = x509_parser::objects::oid2sn(attr.attr_type(), registry)
                .map(str::to_owned)
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
            let value = attr.as_str().unwrap_or("");
            out.push('/');
            out.push_str(&key);
            out.push('=');
            out.push_str(value);
        }
    }
    Some(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_haproxy_prints_them() {
        assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(version_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
        assert_eq!(
            cipher_name(CipherSuite::TLS13_AES_256_GCM_SHA384),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            cipher_name(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "ECDHE-RSA-AES128-GCM-SHA256"
        );
    }
}
