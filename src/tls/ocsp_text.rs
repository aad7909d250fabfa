//! `show ssl ocsp-response <id>`: a DER OCSP response as OpenSSL 3.0's
//! `OCSP_RESPONSE_print` writes it (the text `openssl ocsp -resp_text`
//! prints), then as HAProxy 2.6 hands it over (`ssl_ocsp_response_print`:
//! one buffer's worth, a space on each empty line).
//!
//! Printed as OpenSSL does: status, type, version, responder, times, each
//! single response (certificate ID, status, revocation, extensions), the
//! response's extensions (the nonce as OpenSSL decodes it; others as
//! `ASN1_STRING_print`'s raw text), the signature and its hex dump, and for
//! each embedded certificate OpenSSL's `X509_print` text (see
//! [`super::x509_text`]) then its PEM.

use std::fmt::Write as _;

use super::ocsp::{expect, take};
use crate::check::tcp_rules::hex_upper;

/// HAProxy reads OpenSSL's text into one trash chunk: `tune.bufsize` (16384)
/// less one byte; the rest is lost.
const HAPROXY_MAX: usize = 16383;

/// The text `show ssl ocsp-response <id>` answers for `resp` (HAProxy's
/// handling of OpenSSL's dump); `None` when `resp` does not parse.
pub fn haproxy_dump(resp: &[u8]) -> Option<String> {
    let text = dump(resp)?;
    let mut cut = text.len().min(HAPROXY_MAX);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    // HAProxy puts a space on each empty line so that the CLI's blank line
    // still ends the answer.
    Some(
        text[..cut]
            .replace("\n\n", "\n \n")
            .replace("\n\n", "\n \n"),
    )
}

/// OpenSSL's `OCSP_RESPONSE_print(bio, resp, 0)`; `None` when `resp` does not
/// parse (OpenSSL's `d2i_OCSP_RESPONSE` would fail).
pub fn dump(resp: &[u8]) -> Option<String> {
    let (seq, _) = expect(resp, 0x30)?;
    let (status, rest) = expect(seq, 0x0a)?;
    let status = small_int(status)?;
    let mut o = String::from("OCSP Response Data:\n");
    let _ = writeln!(
        o,
        "    OCSP Response Status: {} (0x{status:x})",
        response_status(status)
    );
    if rest.is_empty() {
        return Some(o);
    }
    let (bytes, _) = expect(rest, 0xa0)?;
    let (inner, _) = expect(bytes, 0x30)?;
    let (oid, rest) = expect(inner, 0x06)?;
    let (basic, _) = expect(rest, 0x04)?;
    o.push_str("    Response Type: ");
    o.push_str(&oid_name(oid));
    if oid != OCSP_BASIC {
        o.push_str(" (unknown response type)\n");
        return Some(o);
    }
    basic_response(&mut o, basic)?;
    Some(o)
}

/// BasicOCSPResponse: the data, the signature, the certificates.
fn basic_response(o: &mut String, basic: &[u8]) -> Option<()> {
    let (seq, _) = expect(basic, 0x30)?;
    let (tbs, rest) = expect(seq, 0x30)?;
    let (alg, rest) = expect(rest, 0x30)?;
    let (sig, rest) = expect(rest, 0x03)?;
    let certs = match take(rest) {
        Some((0xa0, c, _)) => Some(expect(c, 0x30)?.0),
        _ => None,
    };
    response_data(o, tbs)?;
    signature(o, alg, sig)?;
    let mut certs = certs.unwrap_or(&[]);
    while !certs.is_empty() {
        let (_, _, r) = take(certs)?;
        let whole = &certs[..certs.len() - r.len()];
        o.push_str(&super::x509_text::print(whole)?);
        o.push_str(&pem(whole));
        certs = r;
    }
    Some(())
}

/// ResponseData: version, responder, production time, responses, extensions.
fn response_data(o: &mut String, tbs: &[u8]) -> Option<()> {
    let mut rest = tbs;
    let mut version = 0;
    if let Some((0xa0, c, r)) = take(rest) {
        version = small_int(expect(c, 0x02)?.0)?;
        rest = r;
    }
    let _ = write!(o, "\n    Version: {} (0x{version:x})\n", version + 1);
    o.push_str("    Responder Id: ");
    let (tag, id, r) = take(rest)?;
    match tag {
        0xa1 => o.push_str(&name_oneline(expect(id, 0x30)?.0)?),
        0xa2 => o.push_str(&hex_string(expect(id, 0x04)?.0)),
        _ => return None,
    }
    let (produced, r) = expect(r, 0x18)?;
    let _ = write!(
        o,
        "\n    Produced At: {}\n    Responses:\n",
        gtime(produced)?
    );
    let (mut responses, r) = expect(r, 0x30)?;
    while !responses.is_empty() {
        let (s, next) = expect(responses, 0x30)?;
        single(o, s)?;
        responses = next;
    }
    if let Some((0xa1, c, _)) = take(r) {
        extensions(o, "Response Extensions", expect(c, 0x30)?.0, 4)?;
    }
    Some(())
}

/// One SingleResponse, as OpenSSL's loop body prints it.
fn single(o: &mut String, s: &[u8]) -> Option<()> {
    let (id, rest) = expect(s, 0x30)?;
    cert_id(o, id)?;
    let (tag, st, rest) = take(rest)?;
    let status = match tag {
        0x80 => "good",
        0xa1 => "revoked",
        0x82 => "unknown",
        _ => return None,
    };
    let _ = write!(o, "    Cert Status: {status}");
    if tag == 0xa1 {
        let (when, r) = expect(st, 0x18)?;
        let _ = write!(o, "\n    Revocation Time: {}", gtime(when)?);
        if let Some((0xa0, c, _)) = take(r) {
            let reason = small_int(expect(c, 0x0a)?.0)?;
            let _ = write!(
                o,
                "\n    Revocation Reason: {} (0x{reason:x})",
                crl_reason(reason)
            );
        }
    }
    let (this, mut rest) = expect(rest, 0x18)?;
    let _ = write!(o, "\n    This Update: {}", gtime(this)?);
    if let Some((0xa0, c, r)) = take(rest) {
        let _ = write!(o, "\n    Next Update: {}", gtime(expect(c, 0x18)?.0)?);
        rest = r;
    }
    o.push('\n');
    if let Some((0xa1, c, _)) = take(rest) {
        extensions(o, "Response Single Extensions", expect(c, 0x30)?.0, 8)?;
    }
    o.push('\n');
    Some(())
}

/// OpenSSL's `ocsp_certid_print(bp, id, 4)`.
fn cert_id(o: &mut String, id: &[u8]) -> Option<()> {
    let (alg, r) = expect(id, 0x30)?;
    let (alg_oid, _) = expect(alg, 0x06)?;
    let (name_hash, r) = expect(r, 0x04)?;
    let (key_hash, r) = expect(r, 0x04)?;
    let (serial, _) = expect(r, 0x02)?;
    let _ = write!(
        o,
        "    Certificate ID:\n      Hash Algorithm: {}\n      Issuer Name Hash: {}\n      \
         Issuer Key Hash: {}\n      Serial Number: {}\n",
        oid_name(alg_oid),
        hex_string(name_hash),
        hex_string(key_hash),
        hex_integer(serial)
    );
    Some(())
}

/// OpenSSL's `X509V3_extensions_print(bp, title, exts, 0, indent)` for the
/// OCSP extensions: the nonce decoded, others as raw text.
pub(super) fn extensions(o: &mut String, title: &str, exts: &[u8], indent: usize) -> Option<()> {
    if exts.is_empty() {
        return Some(());
    }
    let _ = writeln!(o, "{:indent$}{title}:", "");
    let indent = indent + 4;
    let mut rest = exts;
    while !rest.is_empty() {
        let (ext, r) = expect(rest, 0x30)?;
        let (oid, mut e) = expect(ext, 0x06)?;
        let mut critical = false;
        if let Some((0x01, b, r2)) = take(e) {
            critical = b.first().is_some_and(|&x| x != 0);
            e = r2;
        }
        let (value, _) = expect(e, 0x04)?;
        let crit = if critical { "critical" } else { "" };
        let _ = writeln!(o, "{:indent$}{}: {crit}", "", oid_name(oid));
        if let Some(text) = super::x509_text::extension_value(oid, value, indent + 4) {
            o.push_str(&text);
        } else if oid == OCSP_NONCE {
            // i2r_ocsp_nonce: the whole value, inner OCTET STRING included.
            let _ = write!(o, "{:w$}{}", "", hex_string(value), w = indent + 4);
        } else {
            let _ = write!(o, "{:w$}{}", "", raw_text(value), w = indent + 4);
        }
        o.push('\n');
        rest = r;
    }
    Some(())
}

/// OpenSSL's `X509_signature_print`: the algorithm and the signature's hex
/// dump (18 bytes a line), as it prints it for RSA and ECDSA.
pub(super) fn signature(o: &mut String, alg: &[u8], sig: &[u8]) -> Option<()> {
    let (oid, _) = expect(alg, 0x06)?;
    // A BIT STRING: its first byte counts the unused bits.
    let (_, bits) = sig.split_first()?;
    let _ = write!(
        o,
        "    Signature Algorithm: {}\n    Signature Value:\n",
        oid_name(oid)
    );
    o.push_str(&colon_hex(bits, 18, 8, true));
    Some(())
}

/// Bytes in lower-case hex, a colon after each but the last, `per` a line,
/// each line indented; `last_nl` ends the last line.
pub(super) fn colon_hex(b: &[u8], per: usize, indent: usize, last_nl: bool) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if i % per == 0 {
            if i > 0 {
                s.push('\n');
            }
            let _ = write!(s, "{:indent$}", "");
        }
        let sep = if i + 1 == b.len() { "" } else { ":" };
        let _ = write!(s, "{x:02x}{sep}");
    }
    if last_nl {
        s.push('\n');
    }
    s
}

/// A PEM block, 64 base64 characters a line, as `PEM_write_bio_X509`.
fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// DER of id-pkix-ocsp-basic.
const OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// DER of id-pkix-ocsp-nonce.
const OCSP_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// A small non-negative INTEGER or ENUMERATED (status, version, reason).
fn small_int(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 8 || b[0] & 0x80 != 0 {
        return None;
    }
    Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// `OCSP_response_status_str`.
fn response_status(s: u64) -> &'static str {
    match s {
        0 => "successful",
        1 => "malformedrequest",
        2 => "internalerror",
        3 => "trylater",
        5 => "sigrequired",
        6 => "unauthorized",
        _ => "(UNKNOWN)",
    }
}

/// `OCSP_crl_reason_str`.
fn crl_reason(r: u64) -> &'static str {
    match r {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        _ => "(UNKNOWN)",
    }
}

/// `i2a_ASN1_STRING`: upper-case hex, a `\` line break every 35 bytes, "0"
/// for nothing.
pub(super) fn hex_string(b: &[u8]) -> String {
    if b.is_empty() {
        return "0".into();
    }
    let lines: Vec<String> = b.chunks(35).map(hex_upper).collect();
    lines.join("\\\n")
}

/// `i2a_ASN1_INTEGER` of a DER INTEGER's content: the sign byte left out.
fn hex_integer(b: &[u8]) -> String {
    if b.is_empty() {
        return "00".into();
    }
    if b[0] & 0x80 != 0 {
        // Negative: OpenSSL prints '-' and the magnitude.
        return format!("-{}", hex_string(&twos_magnitude(b)));
    }
    let skip = usize::from(b.len() > 1 && b[0] == 0);
    hex_string(&b[skip..])
}

/// The magnitude of a negative two's complement number.
pub(super) fn twos_magnitude(b: &[u8]) -> Vec<u8> {
    let mut m: Vec<u8> = b.iter().map(|x| !x).collect();
    for x in m.iter_mut().rev() {
        let (v, carry) = x.overflowing_add(1);
        *x = v;
        if !carry {
            break;
        }
    }
    let skip = m
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(m.len().saturating_sub(1));
    m[skip..].to_vec()
}

/// `ASN1_STRING_print`: printable bytes as they are, others as '.', a line
/// break every 80 characters.
fn raw_text(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, &c) in b.iter().enumerate() {
        if i > 0 && i % 80 == 0 {
            s.push('\n');
        }
        let printable = (b' '..=b'~').contains(&c) || c == b'\n' || c == b'\r';
        s.push(if printable { c as char } else { '.' });
    }
    s
}

/// `ASN1_GENERALIZEDTIME_print`: `Dec  6 04:05:19 2026 GMT` (fraction kept).
pub(super) fn gtime(t: &[u8]) -> Option<String> {
    let t = std::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, format!(".{f}")),
        None => (t, String::new()),
    };
    if whole.len() != 14 || !whole.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| whole[a..b].parse::<usize>().ok();
    let month = MONTHS.get(n(4, 6)?.checked_sub(1)?)?;
    Some(format!(
        "{month} {:2} {}:{}:{}{frac} {} GMT",
        n(6, 8)?,
        &whole[8..10],
        &whole[10..12],
        &whole[12..14],
        &whole[..4]
    ))
}

/// English month abbreviations, as OpenSSL prints them.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The name OpenSSL's `i2a_ASN1_OBJECT` gives an OID (its long name), else
/// the dotted form.
pub(super) fn oid_name(oid: &[u8]) -> String {
    const KNOWN: &[(&[u8], &str)] = &[
        (&[0x2b, 0x0e, 0x03, 0x02, 0x1a], "sha1"),
        (
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            "sha256",
        ),
        (
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
            "sha384",
        ),
        (
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03],
            "sha512",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            "rsaEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
            "sha1WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
            "rsassaPss",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
            "sha256WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
            "sha384WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
            "sha512WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
            "id-ecPublicKey",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
            "ecdsa-with-SHA1",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
            "ecdsa-with-SHA256",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
            "ecdsa-with-SHA384",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
            "ecdsa-with-SHA512",
        ),
        (&[0x2b, 0x65, 0x70], "ED25519"),
        (OCSP_BASIC, "Basic OCSP Response"),
        (OCSP_NONCE, "OCSP Nonce"),
        (
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x03],
            "OCSP CRL ID",
        ),
        (
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x05],
            "OCSP No Check",
        ),
        (
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x06],
            "OCSP Archive Cutoff",
        ),
    ];
    if let Some((_, n)) = KNOWN.iter().find(|(o, _)| *o == oid) {
        return (*n).to_string();
    }
    super::x509_text::ext_name(oid)
        .map(str::to_string)
        .unwrap_or_else(|| dotted(oid))
}

/// An OID in dotted decimal (OpenSSL's `OBJ_obj2txt` with no name).
pub(super) fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut cur: u128 = 0;
    for &b in oid {
        cur = (cur << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(cur);
            cur = 0;
        }
        if cur > u128::from(u64::MAX) {
            return "<INVALID>".into();
        }
    }
    let Some(&first) = arcs.first() else {
        return "<INVALID>".into();
    };
    let (a, b) = if first < 80 {
        (first / 40, first % 40)
    } else {
        (2, first - 80)
    };
    let mut s = format!("{a}.{b}");
    for x in &arcs[1..] {
        let _ = write!(s, ".{x}");
    }
    s
}

/// A Name as `X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE)`:
/// `C = FR, O = Org, CN = ocsp`.
pub(super) fn name_oneline(name: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let (set, r) = expect(rest, 0x31)?;
        let mut avas = Vec::new();
        let mut s = set;
        while !s.is_empty() {
            let (ava, r2) = expect(s, 0x30)?;
            let (oid, v) = expect(ava, 0x06)?;
            let (tag, value, _) = take(v)?;
            let whole = v.get(..v.len() - take(v)?.2.len())?;
            let field = attr_short_name(oid).map_or_else(|| dotted(oid), str::to_string);
            avas.push(format!("{field} = {}", rfc2253_value(tag, value, whole)));
            s = r2;
        }
        parts.push(avas.join(" + "));
        rest = r;
    }
    Some(parts.join(", "))
}

/// The short names OpenSSL prints for name attributes.
pub(super) fn attr_short_name(oid: &[u8]) -> Option<&'static str> {
    if let [0x55, 0x04, n] = oid {
        return Some(match n {
            3 => "CN",
            4 => "SN",
            5 => "serialNumber",
            6 => "C",
            7 => "L",
            8 => "ST",
            9 => "street",
            10 => "O",
            11 => "OU",
            12 => "title",
            17 => "postalCode",
            42 => "GN",
            46 => "dnQualifier",
            _ => return None,
        });
    }
    match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => Some("emailAddress"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    }
}

/// A name's value with `ASN1_STRFLGS_RFC2253 | ASN1_STRFLGS_ESC_QUOTE`:
/// specials make the value quoted, `"` and `\` are escaped, bytes outside
/// ASCII printables as `\XX`; a non-string type is dumped as `#` and its DER.
fn rfc2253_value(tag: u8, value: &[u8], whole: &[u8]) -> String {
    // UTF8String, PrintableString, T61String, IA5String, BMPString, etc.
    const STRINGS: &[u8] = &[0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e];
    if !STRINGS.contains(&tag) {
        return format!("#{}", hex_upper(whole));
    }
    let mut out = String::new();
    let mut quote = false;
    let last = value.len().saturating_sub(1);
    for (i, &c) in value.iter().enumerate() {
        let edge = (i == 0 && (c == b'#' || c == b' ')) || (i == last && c == b' ');
        match c {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(c as char);
            }
            b',' | b'+' | b'<' | b'>' | b';' => {
                quote = true;
                out.push(c as char);
            }
            _ if edge => {
                quote = true;
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\{c:02X}");
            }
        }
    }
    if quote { format!("\"{out}\"") } else { out }
}

#[cfg(test)]
#[path = "ocsp_text_tests.rs"]
mod tests;
