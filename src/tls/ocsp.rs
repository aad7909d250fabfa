//! OCSP stapling's checks, as HAProxy 2.6 makes them (`ssl_sock_load_ocsp_response`):
//! the certificate ID of a loaded certificate, and reading a DER OCSP
//! response far enough to know whether it may be stapled for it.
//!
//! The certificate ID is HAProxy's key for a response: SHA-1 of the issuer's
//! name and of its public key, and the certificate's serial number, DER
//! encoded. A response is stapled only if it is successful, basic, holds
//! exactly one single response whose status is good or revoked, has a
//! `nextUpdate`, is valid now (with OpenSSL's five-minute skew) and names
//! that certificate ID. Error texts are HAProxy's.
//!
//! The signature of the response is not verified (HAProxy 2.6 does not
//! either: the client checks it).

use crate::check::tcp_rules::hex_upper;

/// OpenSSL's `OCSP_MAX_RESPONSE_TIME_SKEW`: five minutes either way.
const SKEW_SECS: i64 = 300;
/// DER of the OID id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// DER of the AlgorithmIdentifier sha1 with NULL parameters, as OpenSSL
/// writes it in a certificate ID.
const SHA1_ALG: &[u8] = &[
    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
];

/// A certificate ID (RFC 6960 CertID) with SHA-1, HAProxy's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    /// SHA-1 of the issuer's DER name.
    pub name_hash: [u8; 20],
    /// SHA-1 of the issuer's public key bits.
    pub key_hash: [u8; 20],
    /// The certificate's serial number: the DER INTEGER's content bytes.
    pub serial: Vec<u8>,
}

impl CertId {
    /// The certificate ID of `leaf` issued by `issuer` (both DER); `None`
    /// when either does not parse or `issuer` did not issue `leaf`.
    pub fn of(leaf: &[u8], issuer: &[u8]) -> Option<CertId> {
        let (_, l) = x509_parser::parse_x509_certificate(leaf).ok()?;
        let (_, i) = x509_parser::parse_x509_certificate(issuer).ok()?;
        if l.issuer().as_raw() != i.subject().as_raw() {
            return None;
        }
        let sha1 = super::certs::sha1;
        Some(CertId {
            name_hash: sha1(l.issuer().as_raw()),
            key_hash: sha1(&i.public_key().subject_public_key.data),
            serial: l.raw_serial().to_vec(),
        })
    }

    /// Its DER encoding: what a response's certificate ID must equal.
    pub fn der(&self) -> Vec<u8> {
        let mut body = SHA1_ALG.to_vec();
        tlv(&mut body, 0x04, &self.name_hash);
        tlv(&mut body, 0x04, &self.key_hash);
        tlv(&mut body, 0x02, &self.serial);
        let mut out = Vec::with_capacity(body.len() + 4);
        tlv(&mut out, 0x30, &body);
        out
    }

    /// Its key as `show ssl ocsp-response` prints it: the DER in lower-case hex.
    pub fn key(&self) -> String {
        hex_upper(&self.der()).to_ascii_lowercase()
    }

    /// The lines `show ssl ocsp-response` prints for it (HAProxy's layout,
    /// after OpenSSL's `i2a_ASN1_*`: upper-case hex, the serial's sign
    /// byte left out).
    pub fn describe(&self) -> String {
        let serial = match self.serial.iter().position(|&b| b != 0) {
            Some(i) => &self.serial[i..],
            None => &self.serial[self.serial.len().saturating_sub(1)..],
        };
        format!(
            "Certificate ID key : {}\n Certificate ID:\n   Issuer Name Hash: {}\n   \
             Issuer Key Hash: {}\n   Serial Number: {}\n",
            self.key(),
            hex_upper(&self.name_hash),
            hex_upper(&self.key_hash),
            hex_upper(serial)
        )
    }
}

/// Appends a DER TLV (definite length).
fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// What an acceptable response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked<'a> {
    /// The DER bytes of its certificate ID, as found in it.
    pub cert_id: &'a [u8],
    /// Its `nextUpdate`, in seconds since the epoch.
    pub next_update: i64,
}

/// Why a response may not be stapled: HAProxy's texts.
pub const UNPARSABLE: &str = "Unable to parse OCSP response";
/// The response parsed, but holds no basic response that does.
const NO_BASIC: &str = "Failed to get basic response from OCSP Response";

/// Reads `resp` (DER) and checks it as HAProxy does at `now` (seconds since
/// the epoch); the error is HAProxy's text.
pub fn check(resp: &[u8], now: i64) -> Result<Checked<'_>, String> {
    let basic = outer(resp).ok_or(UNPARSABLE)??;
    let singles = basic_singles(basic).ok_or(NO_BASIC)?;
    let s = match singles.as_slice() {
        [] => return Err("Failed to get OCSP single response".into()),
        [s] => s,
        more => {
            return Err(format!(
                "OCSP response ignored because contains multiple single responses ({})",
                more.len()
            ));
        }
    };
    if s.status == 2 {
        return Err("OCSP single response: certificate status is unknown".into());
    }
    let Some(next) = s.next_update else {
        return Err("OCSP single response: missing nextupdate".into());
    };
    // OpenSSL's OCSP_check_validity(this, next, skew, -1).
    if s.this_update > now + SKEW_SECS || next < now - SKEW_SECS || next < s.this_update {
        return Err("OCSP single response: no longer valid.".into());
    }
    Ok(Checked {
        cert_id: s.cert_id,
        next_update: next,
    })
}

/// One DER element: tag, content, and what follows it.
pub(super) fn take(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    // Multi-byte tags never occur in OCSP; refuse them.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Like [`take`], expecting `tag`.
pub(super) fn expect(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, c, rest) = take(b)?;
    (t == tag).then_some((c, rest))
}

/// OCSPResponse: the BasicOCSPResponse bytes, or the status error. As
/// OpenSSL's `d2i`, bytes after the response are not read.
fn outer(resp: &[u8]) -> Option<Result<&[u8], String>> {
    let (seq, _) = expect(resp, 0x30)?;
    let (status, rest) = expect(seq, 0x0a)?;
    let no_basic = || Some(Err(NO_BASIC.to_string()));
    if rest.is_empty() {
        // responseBytes is optional: the response parses, holds nothing.
        return if status == [0] {
            no_basic()
        } else {
            Some(Err("OCSP response status not successful".into()))
        };
    }
    let (bytes, _) = expect(rest, 0xa0)?;
    let (inner, _) = expect(bytes, 0x30)?;
    let (oid, rest) = expect(inner, 0x06)?;
    let (basic, _) = expect(rest, 0x04)?;
    if status != [0] {
        return Some(Err("OCSP response status not successful".into()));
    }
    if oid != OCSP_BASIC {
        return no_basic();
    }
    Some(Ok(basic))
}

/// BasicOCSPResponse: its single responses; `None` when it does not parse.
fn basic_singles(basic: &[u8]) -> Option<Vec<Single<'_>>> {
    let (seq, _) = expect(basic, 0x30)?;
    let (tbs, _) = expect(seq, 0x30)?;
    let mut rest = tbs;
    // version [0] EXPLICIT, optional.
    if let Some((0xa0, _, r)) = take(rest) {
        rest = r;
    }
    // responderID: byName [1] or byKey [2].
    let (tag, _, r) = take(rest)?;
    if tag != 0xa1 && tag != 0xa2 {
        return None;
    }
    let (_, r) = expect(r, 0x18)?; // producedAt
    let (mut responses, _) = expect(r, 0x30)?;
    let mut singles = Vec::new();
    while !responses.is_empty() {
        let (c, r) = expect(responses, 0x30)?;
        singles.push(single_response(c)?);
        responses = r;
    }
    Some(singles)
}

/// A SingleResponse's fields HAProxy reads.
struct Single<'a> {
    cert_id: &'a [u8],
    /// 0 good, 1 revoked, 2 unknown.
    status: u8,
    this_update: i64,
    next_update: Option<i64>,
}

fn single_response(s: &[u8]) -> Option<Single<'_>> {
    let (id_content, rest) = expect(s, 0x30)?;
    let cert_id = &s[..s.len() - rest.len()];
    cert_id_fields(id_content)?;
    let (tag, _, rest) = take(rest)?;
    let status = match tag {
        0x80 => 0,
        0xa1 => 1,
        0x82 => 2,
        _ => return None,
    };
    let (this, rest) = expect(rest, 0x18)?;
    let this_update = generalized_time(this)?;
    let next_update = match take(rest) {
        Some((0xa0, c, _)) => Some(generalized_time(expect(c, 0x18)?.0)?),
        _ => None,
    };
    Some(Single {
        cert_id,
        status,
        this_update,
        next_update,
    })
}

/// Checks a CertID's shape: algorithm, two hashes, serial.
fn cert_id_fields(c: &[u8]) -> Option<()> {
    let (_, r) = expect(c, 0x30)?; // hashAlgorithm
    let (_, r) = expect(r, 0x04)?;
    let (_, r) = expect(r, 0x04)?;
    let (serial, _) = expect(r, 0x02)?;
    (!serial.is_empty()).then_some(())
}

/// `YYYYMMDDHHMMSS[.fff]Z` as seconds since the epoch.
fn generalized_time(t: &[u8]) -> Option<i64> {
    let t = t.strip_suffix(b"Z")?;
    let whole = t.split(|&c| c == b'.').next()?;
    if whole.len() != 14 || !whole.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |a: usize, b: usize| -> i64 {
        whole[a..b]
            .iter()
            .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'))
    };
    let (y, mo, d) = (n(0, 4), n(4, 6), n(6, 8));
    let (h, mi, s) = (n(8, 10), n(10, 12), n(12, 14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_epoch() {
        assert_eq!(generalized_time(b"19700101000000Z"), Some(0));
        assert_eq!(generalized_time(b"20261206005349Z"), Some(1_796_518_429));
        assert_eq!(generalized_time(b"20000229120000.5Z"), Some(951_825_600));
        assert_eq!(generalized_time(b"20261306005349Z"), None);
        assert_eq!(generalized_time(b"2026120600534Z"), None);
    }

    #[test]
    fn der_lengths_round_trip_and_truncation_is_refused() {
        let mut v = Vec::new();
        tlv(&mut v, 0x04, &[7u8; 300]);
        assert_eq!(&v[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (tag, c, rest) = take(&v).unwrap();
        assert_eq!((tag, c.len(), rest.len()), (0x04, 300, 0));
        assert!(take(&v[..200]).is_none());
        assert!(take(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(take(&[0x1f, 0x00]).is_none());
    }

    /// A response built by hand: `status` 0x80 good / 0x82 unknown, times.
    fn response(id: &CertId, status: u8, this: &str, next: Option<&str>, n: usize) -> Vec<u8> {
        let mut single = id.der();
        single.extend_from_slice(&[status, 0]);
        tlv(&mut single, 0x18, this.as_bytes());
        if let Some(next) = next {
            let mut t = Vec::new();
            tlv(&mut t, 0x18, next.as_bytes());
            tlv(&mut single, 0xa0, &t);
        }
        let mut singles = Vec::new();
        for _ in 0..n {
            tlv(&mut singles, 0x30, &single);
        }
        let mut tbs = Vec::new();
        tlv(&mut tbs, 0xa2, &[0x04, 0x01, 0x00]);
        tlv(&mut tbs, 0x18, b"20261206000000Z");
        tlv(&mut tbs, 0x30, &singles);
        let mut basic_body = Vec::new();
        tlv(&mut basic_body, 0x30, &tbs);
        basic_body.extend_from_slice(SHA1_ALG);
        tlv(&mut basic_body, 0x03, &[0, 1, 2]);
        let mut basic = Vec::new();
        tlv(&mut basic, 0x30, &basic_body);
        let mut rb = Vec::new();
        tlv(&mut rb, 0x06, OCSP_BASIC);
        tlv(&mut rb, 0x04, &basic);
        let mut rbs = Vec::new();
        tlv(&mut rbs, 0x30, &rb);
        let mut body = vec![0x0a, 0x01, 0x00];
        tlv(&mut body, 0xa0, &rbs);
        let mut out = Vec::new();
        tlv(&mut out, 0x30, &body);
        out
    }

    fn id() -> CertId {
        CertId {
            name_hash: [1; 20],
            key_hash: [2; 20],
            serial: vec![0x00, 0x9a, 0x01],
        }
    }

    #[test]
    fn a_good_current_response_passes_with_its_cert_id() {
        let now = generalized_time(b"20261206120000Z").unwrap();
        let r = response(&id(), 0x80, "20261206000000Z", Some("20261207000000Z"), 1);
        let c = check(&r, now).unwrap();
        assert_eq!(c.cert_id, id().der().as_slice());
        assert_eq!(c.next_update, generalized_time(b"20261207000000Z").unwrap());
    }

    #[test]
    fn haproxy_refusals_in_its_words() {
        let now = generalized_time(b"20261206120000Z").unwrap();
        let e = |r: Vec<u8>| check(&r, now).unwrap_err();
        let cur = Some("20261207000000Z");
        assert_eq!(
            e(response(&id(), 0x82, "20261206000000Z", cur, 1)),
            "OCSP single response: certificate status is unknown"
        );
        assert_eq!(
            e(response(&id(), 0x80, "20261206000000Z", None, 1)),
            "OCSP single response: missing nextupdate"
        );
        assert_eq!(
            e(response(
                &id(),
                0x80,
                "20261201000000Z",
                Some("20261202000000Z"),
                1
            )),
            "OCSP single response: no longer valid."
        );
        assert_eq!(
            e(response(
                &id(),
                0x80,
                "20261207000000Z",
                Some("20261208000000Z"),
                1
            )),
            "OCSP single response: no longer valid."
        );
        assert_eq!(
            e(response(&id(), 0x80, "20261206000000Z", cur, 2)),
            "OCSP response ignored because contains multiple single responses (2)"
        );
        assert_eq!(
            e(vec![0x30, 0x03, 0x0a, 0x01, 0x03]),
            "OCSP response status not successful"
        );
        assert_eq!(e(b"garbage".to_vec()), UNPARSABLE);
        assert_eq!(
            e(vec![0x30, 0x03, 0x0a, 0x01, 0x00]),
            "Failed to get basic response from OCSP Response"
        );
        // A certificate ID that is no SEQUENCE (found by the fuzz target).
        let mut r = response(&id(), 0x80, "20261206000000Z", cur, 1);
        let der = id().der();
        let at = r
            .windows(der.len())
            .position(|w| w == der.as_slice())
            .unwrap();
        r[at] = 0x31;
        assert_eq!(e(r), "Failed to get basic response from OCSP Response");
        // Bytes after the response are not read, as OpenSSL's d2i.
        let mut r = response(&id(), 0x80, "20261206000000Z", cur, 1);
        r.push(0);
        assert!(check(&r, now).is_ok());
    }

    #[test]
    fn the_serial_shows_without_its_sign_byte_and_the_key_as_der() {
        let d = id().describe();
        assert!(d.contains("Serial Number: 9A01\n"), "{d}");
        assert!(
            d.starts_with("Certificate ID key : 303c300906052b0e03021a0500"),
            "{d}"
        );
    }
}
