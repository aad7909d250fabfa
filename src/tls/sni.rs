//! Picking a bind's certificate by the ClientHello: SNI against each
//! certificate's names (exact names first, then `*.` wildcards of one
//! label, case-insensitive), ECDSA over RSA when the client can verify it,
//! else the bind's first certificate unless `strict-sni`.
//!
//! Certificates are read from the store (`certs.rs`) at each handshake, so
//! a run-time replacement is served at once.

use std::sync::Arc;

use arc_swap::ArcSwap;

use rustls::SignatureScheme;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::{self, Cert};

/// One certificate of a bind, as its line wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file (the store's key).
    pub file: String,
    /// A crt-list line's SNI filters, lowercase: they replace the names.
    pub filters: Vec<String>,
    /// A crt-list line's `!name` filters: names this entry does not serve.
    pub negs: Vec<String>,
    /// Which of the bind's configurations (crt-list line options) it uses.
    pub policy: usize,
}

/// Every certificate of one bind, in order (the first is the default).
#[derive(Debug)]
pub struct Sni {
    /// The entries.
    pub entries: Vec<Entry>,
    /// `strict-sni`: no match refuses the handshake.
    pub strict: bool,
}

/// Whether pattern `pat` (a name or `*.domain`) matches lowercase `name`.
fn matches(pat: &str, name: &str, wildcard: bool) -> bool {
    match (wildcard, pat.strip_prefix("*.")) {
        (false, None) => pat == name,
        (true, Some(domain)) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == domain),
        _ => false,
    }
}

/// Whether the client offers an ECDSA signature scheme.
fn offers_ecdsa(schemes: &[SignatureScheme]) -> bool {
    schemes.iter().any(|s| {
        matches!(
            s,
            SignatureScheme::ECDSA_NISTP256_SHA256
                | SignatureScheme::ECDSA_NISTP384_SHA384
                | SignatureScheme::ECDSA_NISTP521_SHA512
        )
    })
}

impl Sni {
    /// The entry and certificate for `server_name` (lowercased here) and
    /// the client's signature schemes; `None`: refuse (strict-sni).
    pub fn select(
        &self,
        server_name: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<(&Entry, Arc<Cert>)> {
        let ecdsa = offers_ecdsa(schemes);
        if let Some(name) = server_name.map(str::to_ascii_lowercase) {
            for wildcard in [false, true] {
                if let Some(hit) = self.best(&name, wildcard, ecdsa) {
                    return Some(hit);
                }
            }
        }
        if self.strict {
            return None;
        }
        let first = self.entries.first()?;
        Some((first, certs::lookup(&first.file)?))
    }

    /// The matching entry, the ECDSA one first when the client offers ECDSA.
    fn best(&self, name: &str, wildcard: bool, ecdsa: bool) -> Option<(&Entry, Arc<Cert>)> {
        let mut fallback = None;
        for e in &self.entries {
            if e.negs
                .iter()
                .any(|n| matches(n, name, false) || matches(n, name, true))
            {
                continue;
            }
            let Some(cert) = certs::lookup(&e.file) else {
                continue;
            };
            let pats = if e.filters.is_empty() {
                &cert.names
            } else {
                &e.filters
            };
            if !pats.iter().any(|p| matches(p, name, wildcard)) {
                continue;
            }
            if cert.ecdsa == ecdsa {
                return Some((e, cert));
            }
            fallback.get_or_insert((e, cert));
        }
        fallback
    }
}

/// The rustls resolver of a bind's configurations (all of them share it):
/// the entries are read through an `ArcSwap` so a run-time crt-list change
/// (`add ssl crt-list`) is served from the next handshake on, lock-free.
#[derive(Debug)]
pub struct Resolver(pub Arc<ArcSwap<Sni>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let (_, cert) = self
            .0
            .load()
            .select(hello.server_name(), hello.signature_schemes())?;
        Some(cert.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards_match_one_label() {
        assert!(matches("*.example.com", "www.example.com", true));
        assert!(!matches("*.example.com", "a.b.example.com", true));
        assert!(!matches("*.example.com", "example.com", true));
        assert!(!matches("*.example.com", "www.example.com", false));
        assert!(matches("example.com", "example.com", false));
    }
}
