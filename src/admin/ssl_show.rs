//! How `show ssl cert <file>` prints a certificate, field by field as
//! HAProxy 2.6 does (OpenSSL's one-line names and `ASN1_TIME_print` dates).

use std::fmt::Write as _;

use x509_parser::prelude::*;

/// The lines after `Filename:` and `Status:` for a chain (leaf first).
pub fn details(chain: &[Vec<u8>]) -> String {
    let mut out = String::new();
    let Some(Ok((_, leaf))) = chain.first().map(|d| parse_x509_certificate(d)) else {
        return out;
    };
    let serial: String = leaf
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
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

/// OpenSSL's `X509_NAME_oneline`: `/C=FR/O=Org/CN=name`.
fn oneline(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for rdn in name.iter() {
        for a in rdn.iter() {
            let short = match a.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.6" => "C".into(),
                "2.5.4.7" => "L".into(),
                "2.5.4.8" => "ST".into(),
                "2.5.4.10" => "O".into(),
                "2.5.4.11" => "OU".into(),
                "1.2.840.113549.1.9.1" => "emailAddress".into(),
                other => other.to_string(),
            };
            let v = a.as_str().unwrap_or("");
            let _ = write!(out, "/{short}={v}");
        }
    }
    out
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

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// SHA-1 (FIPS 180-4) of `data`: only for the fingerprint HAProxy prints.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
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
