//! OCSP responses at run time (HAProxy 2.6 management.txt 9.3):
//! `set ssl ocsp-response <base64>|<<payload` staples a new response for the
//! certificate it names from the next handshake on; `show ssl ocsp-response`
//! lists the certificate IDs that have an OCSP entry (the certificates
//! loaded with a `<crt>.ocsp`). Answers and error texts are HAProxy's.
//!
//! On purpose unlike HAProxy 2.6, which takes `set ssl ocsp-response` at
//! every level: ringlb asks for the admin level, as for `set ssl cert` (the
//! response's signature is not checked here, so a lower level could staple
//! a forged "revoked" answer). `show ssl ocsp-response <id>` prints the
//! stapled response as OpenSSL's text dump, as HAProxy does, made in Rust
//! (tls/ocsp_text.rs); nothing when the entry has no response.

use base64::Engine as _;

use crate::tls::{certs, ocsp_text};

/// `set ssl ocsp-response <resp>` or with a `<<` payload.
pub fn set(args: &[&str], payload: Option<&str>) -> String {
    let b64: String = match (args.first(), payload) {
        (Some(a), _) if !a.is_empty() => a.to_string(),
        (_, Some(p)) => p.chars().filter(|c| *c != '\r' && *c != '\n').collect(),
        _ => return "'set ssl ocsp-response' expects response in base64 encoding.\n".into(),
    };
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) else {
        return "'set ssl ocsp-response' received invalid base64 encoded response.\n".into();
    };
    match certs::set_ocsp(&der) {
        Ok(()) => "OCSP Response updated!\n".into(),
        Err(e) => format!("{e}.\n"),
    }
}

/// `show ssl ocsp-response [<id>]`.
pub fn show(args: &[&str]) -> String {
    match args.first().filter(|a| !a.is_empty()) {
        None => {
            let ids = certs::ocsp_ids();
            let mut out = String::from("# Certificate IDs\n");
            for id in &ids {
                out.push_str(&id.describe());
            }
            out
        }
        Some(key) => match certs::ocsp_response(key) {
            None => "Certificate ID does not match any certificate.\n".into(),
            // HAProxy prints nothing for an entry without a response.
            Some(None) => String::new(),
            Some(Some(der)) => ocsp_text::haproxy_dump(&der)
                .unwrap_or_else(|| "Unable to parse OCSP response".into()),
        },
    }
}
