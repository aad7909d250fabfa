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
    pub peer_subject: Option<Dn>,
    /// Its issuer, as `ssl_c_i_dn` prints it.
    pub peer_issuer: Option<Dn>,
    /// Its serial number's bytes (`ssl_c_serial`, binary).
    pub peer_serial: Option<Box<[u8]>>,
    /// The session was resumed (`ssl_fc_is_resumed`).
    pub resumed: bool,
}

impl TlsInfo {
    /// Reads it off a connection whose handshake completed.
    pub fn of(conn: &Connection) -> Self {
        let sni = match conn {
            Connection::Server(s) => s.server_name().map(Into::into),
            Connection::Client(_) => None,
        };
        let first = conn.peer_certificates().and_then(|c| c.first());
        let peer = first.and_then(|c| PeerCert::parse(c));
        let (peer_subject, peer_issuer, peer_serial) = match peer {
            Some(p) => (Some(p.subject), Some(p.issuer), Some(p.serial)),
            None => (None, None, None),
        };
        TlsInfo {
            version: conn.protocol_version().map_or("", version_name),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or("", |s| cipher_name(s.suite())),
            sni,
            alpn: conn.alpn_protocol().map(Into::into),
            peer_cert: first.is_some(),
            peer_subject,
            peer_issuer,
            peer_serial,
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }

    /// The cipher's symmetric key size in bits, as OpenSSL's
    /// `SSL_get_cipher_bits` reports it (`ssl_fc_alg_keysize`,
    /// `ssl_fc_use_keysize`: the same for the AEAD suites rustls has).
    pub fn cipher_bits(&self) -> Option<i64> {
        let c = self.cipher;
        if c.contains("AES128") || c.contains("AES_128") {
            Some(128)
        } else if c.contains("AES256") || c.contains("AES_256") || c.contains("CHACHA20") {
            Some(256)
        } else {
            None
        }
    }
}

/// What the fetches read off the client's certificate, parsed once at the
/// end of the handshake (the DER is not kept).
struct PeerCert {
    subject: Dn,
    issuer: Dn,
    serial: Box<[u8]>,
}

impl PeerCert {
    fn parse(der: &[u8]) -> Option<PeerCert> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        Some(PeerCert {
            subject: Dn::of(cert.subject()),
            issuer: Dn::of(cert.issuer()),
            serial: cert.raw_serial().into(),
        })
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

/// A distinguished name: its entries in order, and OpenSSL's one-line
/// form HAProxy prints (`/C=FR/O=x/CN=name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dn {
    /// The one-line form.
    pub oneline: Box<str>,
    /// (short name, value) per attribute, in the certificate's order.
    pub entries: Box<[(Box<str>, Box<str>)]>,
}

impl Dn {
    /// The name's one-line form and entries.
    pub(crate) fn of(name: &x509_parser::x509::X509Name<'_>) -> Dn {
        let mut out = String::new();
        let mut entries = Vec::new();
        for rdn in name.iter() {
            for attr in rdn.iter() {
                let id = attr.attr_type().to_id_string();
                let key = short_name(&id).map_or(id, str::to_owned);
                let value = attr.as_str().unwrap_or("");
                out.push('/');
                out.push_str(&key);
                out.push('=');
                out.push_str(value);
                entries.push((key.into(), value.into()));
            }
        }
        Dn {
            oneline: out.into(),
            entries: entries.into(),
        }
    }

    /// The value of entry `key` (`CN`), occurrence `pos` counted from the
    /// first (1) or the last (-1), as `ssl_c_s_dn(CN,1)` reads it.
    pub fn entry(&self, key: &str, pos: i64) -> Option<&str> {
        let mut it = self.entries.iter().filter(|(k, _)| **k == *key);
        let found = match pos {
            0 => return None,
            p if p > 0 => it.nth(p as usize - 1),
            p => it.rev().nth((-p) as usize - 1),
        };
        found.map(|(_, v)| &**v)
    }
}

/// OpenSSL's short name of a DN attribute (the dotted OID otherwise, as
/// OpenSSL prints an attribute it has no name for).
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
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

    #[test]
    fn dn_attributes_use_openssls_short_names() {
        assert_eq!(short_name("2.5.4.3"), Some("CN"));
        assert_eq!(short_name("1.2.840.113549.1.9.1"), Some("emailAddress"));
        assert_eq!(short_name("1.2.3.4"), None);
        let d = Dn {
            oneline: "/CN=a/OU=x/CN=b".into(),
            entries: vec![
                ("CN".into(), "a".into()),
                ("OU".into(), "x".into()),
                ("CN".into(), "b".into()),
            ]
            .into(),
        };
        assert_eq!(d.entry("CN", 1), Some("a"));
        assert_eq!(d.entry("CN", 2), Some("b"));
        assert_eq!(d.entry("CN", -1), Some("b"));
        assert_eq!(d.entry("CN", 3), None);
        assert_eq!(d.entry("CN", 0), None);
    }
}
