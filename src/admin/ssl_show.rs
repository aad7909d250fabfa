//! How `show ssl cert <file>` prints a certificate, field by field as
//! HAProxy 2.6 does (OpenSSL's one-line names and `ASN1_TIME_print` dates).

use std::fmt::Write as _;

use x509_parser::prelude::*;

use crate::check::tcp_rules::hex_upper;
use crate::tls::certs::sha1;

/// The lines after `Filename:` and `Status:` for a chain (leaf first).
pub fn details(chain: &[Vec<u8>]) -> String {
    let mut out = String::new();
    let Some(Ok((_, leaf))) = chain.first().map(|d| parse_x509_certificate(d)) else {
        return out;
    };
    let serial = hex_upper(leaf.raw_serial());
    let _ = writeln!(out, "Serial: {serial}");
    let _ = writeln!(out, "notBefore: {}", asn1_time(&leaf.validity().not_before));
    let _ = writeln!(out, "notAfter: {}", asn1_time(&leaf.validity().not_after));
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
                _ => None,
            })
            .collect();
        let _ = writeln!(out, "Subject Alternative Name: {}", names.join(", "));
    }
    let _ = writeln!(out, "Algorithm: {}", algorithm(&leaf));
    let _ = writeln!(out, "SHA1 FingerPrint: {}", hex_upper(&sha1(&chain[0])));
    let _ = writeln!(out, "Subject: {}", oneline(leaf.subject()));
    let _ = writeln!(out, "Issuer: {}", oneline(leaf.issuer()));
    for der in &chain[1..] {
        if let Ok((_, c)) = parse_x509_certificate(der) {
            let _ = writeln!(out, "Chain Subject: {}", oneline(c.subject()));
            let _ = writeln!(out, "Chain Issuer: {}", oneline(c.issuer()));
        }
    }
    out
}

/// `RSA2048`, `EC256`: the key type and size as HAProxy names them.
fn algorithm(c: &X509Certificate<'_>) -> String {
    let spki = c.public_key();
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA{}", r.key_size()),
        Ok(x509_parser::public_key::PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let bits = match curve.as_str() {
                "1.2.840.10045.3.1.7" => 256,
                "1.3.132.0.34" => 384,
                "1.3.132.0.35" => 521,
                _ => 0,
            };
            format!("EC{bits}")
        }
        Ok(x509_parser::public_key::PublicKey::DSA(_)) => "DSA".into(),
        _ => "Unknown".into(),
    }
}

/// OpenSSL's `X509_NAME_oneline`: `/C=FR/O=Org/CN=name` (the same form as
/// `ssl_c_s_dn`, `tls/info.rs`).
fn oneline(name: &X509Name<'_>) -> Box<str> {
    crate::tls::info::Dn::of(name).oneline
}

/// OpenSSL's `ASN1_TIME_print`: `Dec  5 19:11:55 2026 GMT`.
fn asn1_time(t: &ASN1Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = t.to_datetime();
    format!(
        "{} {:>2} {:02}:{:02}:{:02} {} GMT",
        MONTHS[usize::from(u8::from(d.month())) - 1],
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answers() {
        assert_eq!(
            hex_upper(&sha1(b"abc")),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        assert_eq!(
            hex_upper(&sha1(b"")),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            hex_upper(&sha1(&long)),
            "291E9A6C66994949B57BA5E650361E98FC36B1BA"
        );
    }
}
