//! OCSP responses at run time (HAProxy 2.6 management.txt 9.3):
//! `set ssl ocsp-response <base64>|<<payload` staples a new response for the
//! certificate it names from the next handshake on; `show ssl ocsp-response`
//! lists the certificate IDs that have an OCSP entry (the certificates
//! loaded with a `<crt>.ocsp`). Answers and error texts are HAProxy's.
//!
//! On purpose unlike HAProxy 2.6, which takes `set ssl ocsp-response` at
//! every level: ringlb asks for the admin level, as for `set ssl cert` (the
//! response's signature is not checked here, so a lower level could staple
//! a forged "revoked" answer). `show ssl ocsp-response <id>` prints
//! OpenSSL's text dump in HAProxy; ringlb has no OpenSSL and says so.

use base64::Engine as _;

use crate::tls::certs;

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
    let ids = certs::ocsp_ids();
    match args.first().filter(|a| !a.is_empty()) {
        None => {
            let mut out = String::from("# Certificate IDs\n");
            for id in &ids {
                out.push_str(&id.describe());
            }
            out
        }
        Some(key) => {
            let known = ids.iter().any(|id| id.key().eq_ignore_ascii_case(key));
            if known {
                "ringlb cannot print an OCSP response as text (HAProxy prints OpenSSL's \
                 dump); 'show ssl ocsp-response' lists the certificate IDs.\n"
                    .into()
            } else {
                "Certificate ID does not match any certificate.\n".into()
            }
        }
    }
}
