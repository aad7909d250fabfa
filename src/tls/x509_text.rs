//! A DER certificate as OpenSSL 3.0's `X509_print` writes it: what
//! `show ssl ocsp-response <id>` prints for each certificate embedded in an
//! OCSP response (usually the responder's).
//!
//! Covered as OpenSSL prints them: RSA and named-curve EC keys, and the
//! extensions a CA or responder certificate usually holds (key identifiers,
//! basic constraints, key usage, extended key usage, alternative names).
//! Another key type prints one line saying so, another extension its raw
//! bytes as OpenSSL's fallback does; there ringlb and HAProxy may differ.

use std::fmt::Write as _;

use super::ocsp::{expect, take};
use super::ocsp_text::{colon_hex, dotted, extensions, gtime, oid_name, signature, twos_magnitude};

/// `X509_print` of `der` (a whole Certificate); `None` when it does not parse.
pub fn print(der: &[u8]) -> Option<String> {
    let (cert, _) = expect(der, 0x30)?;
    let (tbs, r) = expect(cert, 0x30)?;
    let (alg, r) = expect(r, 0x30)?;
    let (sig, _) = expect(r, 0x03)?;
    let mut o = String::from("Certificate:\n    Data:\n");
    let mut rest = tbs;
    let mut version = 0;
    if let Some((0xa0, c, r)) = take(rest) {
        let v = expect(c, 0x02)?.0;
        version = *v.last()?;
        rest = r;
    }
    let _ = writeln!(
        o,
        "        Version: {} (0x{version:x})",
        u16::from(version) + 1
    );
    let (serial, r) = expect(rest, 0x02)?;
    o.push_str(&serial_line(serial));
    let (tbs_alg, r) = expect(r, 0x30)?;
    let _ = writeln!(
        o,
        "        Signature Algorithm: {}",
        oid_name(expect(tbs_alg, 0x06)?.0)
    );
    let (issuer, r) = expect(r, 0x30)?;
    let (validity, r) = expect(r, 0x30)?;
    let (subject, r) = expect(r, 0x30)?;
    let (spki, mut r) = expect(r, 0x30)?;
    let (nb_tag, nb, v) = take(validity)?;
    let (na_tag, na, _) = take(v)?;
    let _ = write!(
        o,
        "        Issuer: {}\n        Validity\n            Not Before: {}\n            \
         Not After : {}\n        Subject: {}\n",
        name_compat(issuer)?,
        time(nb_tag, nb)?,
        time(na_tag, na)?,
        name_compat(subject)?
    );
    public_key(&mut o, spki)?;
    while let Some((tag, c, next)) = take(r) {
        if tag == 0xa3 {
            extensions(&mut o, "X509v3 extensions", expect(c, 0x30)?.0, 8)?;
        }
        r = next;
    }
    signature(&mut o, alg, sig)?;
    Some(o)
}

/// The serial line(s): decimal and hex when it fits a `long`, else colon hex.
fn serial_line(serial: &[u8]) -> String {
    let neg = serial.first().is_some_and(|&b| b & 0x80 != 0);
    let mag = if neg {
        twos_magnitude(serial)
    } else {
        let skip = usize::from(serial.len() > 1 && serial[0] == 0);
        serial[skip..].to_vec()
    };
    let fits = mag.len() < 8 || (mag.len() == 8 && mag[0] & 0x80 == 0);
    if fits {
        let v = mag.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        let s = if neg { "-" } else { "" };
        return format!("        Serial Number: {s}{v} ({s}0x{v:x})\n");
    }
    let mut out = String::from("        Serial Number:\n            ");
    if neg {
        out = String::from("        Serial Number:\n             (Negative)");
    }
    let hex: Vec<String> = mag.iter().map(|b| format!("{b:02x}")).collect();
    out.push_str(&hex.join(":"));
    out.push('\n');
    out
}

/// `ASN1_TIME_print` of a UTCTime (0x17) or GeneralizedTime (0x18).
fn time(tag: u8, t: &[u8]) -> Option<String> {
    match tag {
        0x18 => gtime(t),
        0x17 => {
            let yy: u32 = std::str::from_utf8(t.get(..2)?).ok()?.parse().ok()?;
            let century = if yy >= 50 { b"19" } else { b"20" };
            gtime(&[century.as_slice(), t].concat())
        }
        _ => None,
    }
}

/// A Name as `X509_NAME_print` (XN_FLAG_COMPAT): OpenSSL's one-line form
/// `/C=FR/O=Org` with each `/` before an upper-case short name made `, `.
fn name_compat(name: &[u8]) -> Option<String> {
    let mut line = String::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (set, r) = expect(rest, 0x31)?;
        let mut s = set;
        while !s.is_empty() {
            let (ava, r2) = expect(s, 0x30)?;
            let (oid, v) = expect(ava, 0x06)?;
            let (_, value, _) = take(v)?;
            let field =
                super::ocsp_text::attr_short_name(oid).map_or_else(|| dotted(oid), str::to_string);
            let _ = write!(line, "/{field}=");
            for &c in value {
                if (b' '..=b'~').contains(&c) {
                    line.push(c as char);
                } else {
                    let _ = write!(line, "\\x{c:02X}");
                }
            }
            s = r2;
        }
        rest = r;
    }
    Some(split_compat(&line))
}

/// `X509_NAME_print`'s loop: a `/` followed by one or two upper-case letters
/// and `=` separates; others stay.
fn split_compat(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut start = 1.min(b.len());
    for i in 1..=b.len() {
        let sep = i == b.len()
            || (b[i] == b'/'
                && b.get(i + 1).is_some_and(u8::is_ascii_uppercase)
                && (b.get(i + 2) == Some(&b'=')
                    || (b.get(i + 2).is_some_and(u8::is_ascii_uppercase)
                        && b.get(i + 3) == Some(&b'='))));
        if sep {
            out.push_str(&line[start..i]);
            if i < b.len() {
                out.push_str(", ");
            }
            start = i + 1;
        }
    }
    out
}

/// "Subject Public Key Info" as OpenSSL 3.0's text encoders print RSA and
/// named-curve EC keys.
fn public_key(o: &mut String, spki: &[u8]) -> Option<()> {
    let (alg, r) = expect(spki, 0x30)?;
    let (bits, _) = expect(r, 0x03)?;
    let (_, key) = bits.split_first()?;
    let (oid, params) = expect(alg, 0x06)?;
    let _ = write!(
        o,
        "        Subject Public Key Info:\n            Public Key Algorithm: {}\n",
        oid_name(oid)
    );
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let text = match oid {
        RSA => rsa_key(key),
        EC => ec_key(params, key),
        _ => None,
    };
    let pad = " ".repeat(16);
    match text {
        Some(t) => t.lines().for_each(|l| {
            let _ = writeln!(o, "{pad}{l}");
        }),
        None => {
            let _ = writeln!(o, "{pad}Unable to load Public Key");
        }
    }
    Some(())
}

/// An RSAPublicKey: size, modulus, exponent.
fn rsa_key(key: &[u8]) -> Option<String> {
    let (seq, _) = expect(key, 0x30)?;
    let (n, r) = expect(seq, 0x02)?;
    let (e, _) = expect(r, 0x02)?;
    let skip = n.iter().position(|&b| b != 0)?;
    let bits = (n.len() - skip) * 8 - n[skip].leading_zeros() as usize;
    let mut s = format!("Public-Key: ({bits} bit)\nModulus:\n");
    s.push_str(&colon_hex(n, 15, 4, true));
    if e.len() <= 8 && e.first().is_some_and(|&b| b & 0x80 == 0) {
        let v = e.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        let _ = writeln!(s, "Exponent: {v} (0x{v:x})");
    } else {
        s.push_str("Exponent:\n");
        s.push_str(&colon_hex(e, 15, 4, true));
    }
    Some(s)
}

/// A named-curve EC point: size, point, curve names.
fn ec_key(params: &[u8], point: &[u8]) -> Option<String> {
    let (curve, _) = expect(params, 0x06)?;
    let (bits, asn1, nist) = match curve {
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => (256, "prime256v1", "P-256"),
        [0x2b, 0x81, 0x04, 0x00, 0x22] => (384, "secp384r1", "P-384"),
        [0x2b, 0x81, 0x04, 0x00, 0x23] => (521, "secp521r1", "P-521"),
        _ => return None,
    };
    let mut s = format!("Public-Key: ({bits} bit)\npub:\n");
    s.push_str(&colon_hex(point, 15, 4, true));
    let _ = write!(s, "ASN1 OID: {asn1}\nNIST CURVE: {nist}\n");
    Some(s)
}

/// OpenSSL's long name of a certificate extension.
pub(super) fn ext_name(oid: &[u8]) -> Option<&'static str> {
    if let [0x55, 0x1d, n] = oid {
        return Some(match n {
            14 => "X509v3 Subject Key Identifier",
            15 => "X509v3 Key Usage",
            17 => "X509v3 Subject Alternative Name",
            18 => "X509v3 Issuer Alternative Name",
            19 => "X509v3 Basic Constraints",
            31 => "X509v3 CRL Distribution Points",
            32 => "X509v3 Certificate Policies",
            35 => "X509v3 Authority Key Identifier",
            37 => "X509v3 Extended Key Usage",
            _ => return None,
        });
    }
    match oid {
        [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01] => Some("Authority Information Access"),
        [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, n] => Some(match n {
            1 => "TLS Web Server Authentication",
            2 => "TLS Web Client Authentication",
            3 => "Code Signing",
            4 => "E-mail Protection",
            8 => "Time Stamping",
            9 => "OCSP Signing",
            _ => return None,
        }),
        _ => None,
    }
}

/// The text OpenSSL's method for a certificate extension prints (its lines
/// indented by `indent`, no final newline); `None` for one not covered.
pub(super) fn extension_value(oid: &[u8], value: &[u8], indent: usize) -> Option<String> {
    let [0x55, 0x1d, n] = oid else {
        return None;
    };
    let pad = " ".repeat(indent);
    let text = match n {
        14 => upper_colon_hex(expect(value, 0x04)?.0),
        15 => key_usage(expect(value, 0x03)?.0),
        17 => general_names(expect(value, 0x30)?.0)?,
        19 => basic_constraints(expect(value, 0x30)?.0)?,
        35 => return authority_key_id(expect(value, 0x30)?.0, &pad),
        37 => ext_key_usage(expect(value, 0x30)?.0)?,
        _ => return None,
    };
    Some(format!("{pad}{text}"))
}

/// Colon-separated upper-case hex (`OPENSSL_buf2hexstr`).
fn upper_colon_hex(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02X}")).collect();
    hex.join(":")
}

/// Key usage bits by name, in OpenSSL's words.
fn key_usage(bits: &[u8]) -> String {
    const NAMES: [&str; 9] = [
        "Digital Signature",
        "Non Repudiation",
        "Key Encipherment",
        "Data Encipherment",
        "Key Agreement",
        "Certificate Sign",
        "CRL Sign",
        "Encipher Only",
        "Decipher Only",
    ];
    let data = bits.get(1..).unwrap_or(&[]);
    let set = |i: usize| data.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
    let on: Vec<&str> = (0..9).filter(|&i| set(i)).map(|i| NAMES[i]).collect();
    on.join(", ")
}

/// Basic constraints: `CA:TRUE`, `pathlen:N`.
fn basic_constraints(c: &[u8]) -> Option<String> {
    let mut ca = false;
    let mut rest = c;
    if let Some((0x01, b, r)) = take(rest) {
        ca = b.first().is_some_and(|&x| x != 0);
        rest = r;
    }
    let mut s = format!("CA:{}", if ca { "TRUE" } else { "FALSE" });
    if let Some((0x02, n, _)) = take(rest) {
        let v = n.iter().take(8).fold(0u64, |a, &x| (a << 8) | u64::from(x));
        let _ = write!(s, ", pathlen:{v}");
    }
    Some(s)
}

/// The authority key identifier: its key ID alone on a line (OpenSSL 3.0
/// names it `keyid:` only beside an issuer or serial).
fn authority_key_id(c: &[u8], pad: &str) -> Option<String> {
    let mut lines = Vec::new();
    let mut rest = c;
    let mut named = false;
    let mut keyid = None;
    while let Some((tag, v, r)) = take(rest) {
        match tag {
            0x80 => keyid = Some(upper_colon_hex(v)),
            0xa1 | 0x82 => named = true,
            _ => {}
        }
        if tag == 0x82 {
            lines.push(format!("{pad}serial:{}", upper_colon_hex(v)));
        }
        rest = r;
    }
    if named {
        // An issuer name: OpenSSL prints it as a GeneralName; not covered.
        return None;
    }
    let id = keyid?;
    lines.insert(0, format!("{pad}{id}"));
    Some(lines.join("\n"))
}

/// Extended key usage purposes by name.
fn ext_key_usage(c: &[u8]) -> Option<String> {
    let mut names = Vec::new();
    let mut rest = c;
    while !rest.is_empty() {
        let (oid, r) = expect(rest, 0x06)?;
        names.push(ext_name(oid).map_or_else(|| dotted(oid), str::to_string));
        rest = r;
    }
    Some(names.join(", "))
}

/// GeneralNames as `i2v_GENERAL_NAMES`: `DNS:x, IP Address:1.2.3.4, ...`.
fn general_names(c: &[u8]) -> Option<String> {
    let mut names = Vec::new();
    let mut rest = c;
    while !rest.is_empty() {
        let (tag, v, r) = take(rest)?;
        let text = |p: &str| format!("{p}:{}", String::from_utf8_lossy(v));
        names.push(match tag {
            0x81 => text("email"),
            0x82 => text("DNS"),
            0x86 => text("URI"),
            0x87 if v.len() == 4 => format!("IP Address:{}.{}.{}.{}", v[0], v[1], v[2], v[3]),
            0x87 if v.len() == 16 => {
                let ip = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?);
                format!("IP Address:{}", ipv6_openssl(&ip))
            }
            _ => return None,
        });
        rest = r;
    }
    Some(names.join(", "))
}

/// IPv6 as OpenSSL 3.0 prints it in a name: eight groups, upper-case hex,
/// no compression.
fn ipv6_openssl(ip: &std::net::Ipv6Addr) -> String {
    let groups: Vec<String> = ip.segments().iter().map(|g| format!("{g:X}")).collect();
    groups.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_names_split_before_upper_case_fields_only() {
        assert_eq!(split_compat("/C=FR/O=Org/CN=x"), "C=FR, O=Org, CN=x");
        assert_eq!(split_compat("/CN=a/emailAddress=b"), "CN=a/emailAddress=b");
        assert_eq!(split_compat(""), "");
    }

    #[test]
    fn serials_print_as_openssl_does() {
        assert_eq!(
            serial_line(&[0x10, 0x00]),
            "        Serial Number: 4096 (0x1000)\n"
        );
        assert_eq!(
            serial_line(&[0x00, 0x80, 1, 2, 3, 4, 5, 6, 7]),
            "        Serial Number:\n            80:01:02:03:04:05:06:07\n"
        );
    }

    #[test]
    fn garbage_certificates_do_not_parse() {
        assert!(print(b"").is_none());
        assert!(print(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_none());
    }
}
