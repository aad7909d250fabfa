//! OpenSSL cipher strings (`ciphers`, `ciphersuites`, `curves`, `ecdhe`)
//! evaluated into what rustls implements, once at load time.
//!
//! A TLS 1.2 `ciphers` string is an OpenSSL cipher-list expression
//! (`HIGH:!aNULL:!MD5`, `ECDHE+AESGCM`, `-`/`+`/`!` prefixes, `@STRENGTH`):
//! it is evaluated as OpenSSL would, over the six suites rustls has, keeping
//! OpenSSL's order. Names rustls lacks (CBC, DHE, RSA key exchange, ...)
//! match nothing, as OpenSSL's own unknown names do; only a list that
//! leaves nothing is an error.

use super::hkdf;
use rustls::SupportedCipherSuite;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group};

/// One TLS 1.2 suite rustls implements, with the OpenSSL attributes aliases select on.
struct Tls12 {
    name: &'static str,
    suite: SupportedCipherSuite,
    ecdsa: bool,
    /// `AES128`, `AES256` or `CHACHA20`.
    enc: &'static str,
    /// The PRF digest (`SHA256` / `SHA384`).
    digest: &'static str,
    bits: u16,
}

/// The suites in OpenSSL's default order (strength, then ECDSA before RSA).
fn tls12() -> [Tls12; 6] {
    let s = |name, suite, ecdsa, enc, digest, bits| Tls12 {
        name,
        suite,
        ecdsa,
        enc,
        digest,
        bits,
    };
    [
        s(
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            true,
            "AES256",
            "SHA384",
            256,
        ),
        s(
            "ECDHE-RSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            false,
            "AES256",
            "SHA384",
            256,
        ),
        s(
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            true,
            "CHACHA20",
            "SHA256",
            256,
        ),
        s(
            "ECDHE-RSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            false,
            "CHACHA20",
            "SHA256",
            256,
        ),
        s(
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            true,
            "AES128",
            "SHA256",
            128,
        ),
        s(
            "ECDHE-RSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            false,
            "AES128",
            "SHA256",
            128,
        ),
    ]
}

/// Whether OpenSSL alias or cipher name `word` selects suite `c` (unknown
/// words and suites rustls lacks select nothing).
fn selects(word: &str, c: &Tls12) -> bool {
    if word.eq_ignore_ascii_case(c.name) {
        return true;
    }
    match word {
        "ALL" | "DEFAULT" | "HIGH" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH" | "ECDH" | "AEAD"
        | "TLSv1.2" | "PROFILE=SYSTEM" | "SECURE" => true,
        "aECDSA" | "ECDSA" => c.ecdsa,
        "aRSA" => !c.ecdsa,
        "AES" => c.enc != "CHACHA20",
        "AESGCM" => c.enc != "CHACHA20",
        "AES128" | "AES256" | "CHACHA20" => c.enc == word,
        "SHA256" | "SHA384" => c.digest == word,
        "FIPS" => c.enc != "CHACHA20",
        _ => false,
    }
}

/// Evaluates an OpenSSL TLS 1.2 cipher list into rustls suites, in order.
pub fn tls12_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = tls12();
    let mut active: Vec<usize> = Vec::new();
    let mut killed = [false; 6];
    for item in list.split([':', ',', ' ']).filter(|s| !s.is_empty()) {
        if item == "@STRENGTH" {
            active.sort_by_key(|&i| std::cmp::Reverse(all[i].bits));
            continue;
        }
        if item.starts_with("@SECLEVEL=") || item == "COMPLEMENTOFDEFAULT" {
            // Every suite rustls has passes any security level.
            continue;
        }
        let (op, expr) = match item.as_bytes()[0] {
            b'!' | b'-' | b'+' => (item.as_bytes()[0], &item[1..]),
            _ => (b' ', item),
        };
        // `A+B`: the suites every alias selects.
        let hit = |c: &Tls12| expr.split('+').all(|w| selects(w, c));
        match op {
            b'!' | b'-' => {
                active.retain(|&i| !hit(&all[i]));
                if op == b'!' {
                    for (i, c) in all.iter().enumerate() {
                        killed[i] |= hit(c);
                    }
                }
            }
            b'+' => {
                let (moved, kept): (Vec<usize>, Vec<usize>) =
                    active.iter().partition(|&&i| hit(&all[i]));
                active = kept.into_iter().chain(moved).collect();
            }
            _ => {
                for (i, c) in all.iter().enumerate() {
                    if hit(c) && !killed[i] && !active.contains(&i) {
                        active.push(i);
                    }
                }
            }
        }
    }
    if active.is_empty() {
        return Err(format!(
            "cipher list '{list}' leaves no TLS 1.2 cipher that ringlb implements (it has: {})",
            all.iter().map(|c| c.name).collect::<Vec<_>>().join(":")
        ));
    }
    Ok(active.into_iter().map(|i| all[i].suite).collect())
}

/// TLS 1.3 suites OpenSSL knows but rustls does not implement (dropped).
const TLS13_UNIMPLEMENTED: &[&str] = &["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"];

/// Parses a TLS 1.3 `ciphersuites` list (OpenSSL names, `:`-separated).
pub fn tls13_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut out = Vec::new();
    for name in list.split(':').filter(|s| !s.is_empty()) {
        let suite = match name {
            "TLS_AES_128_GCM_SHA256" => hkdf::tls13_aes_128_gcm_sha256(),
            "TLS_AES_256_GCM_SHA384" => hkdf::tls13_aes_256_gcm_sha384(),
            "TLS_CHACHA20_POLY1305_SHA256" => hkdf::tls13_chacha20_poly1305_sha256(),
            n if TLS13_UNIMPLEMENTED.contains(&n) => continue,
            _ => return Err(format!("unknown TLS 1.3 cipher suite '{name}'")),
        };
        out.push(suite);
    }
    if out.is_empty() {
        return Err(format!(
            "ciphersuites '{list}' leaves no TLS 1.3 suite that ringlb implements \
             (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)"
        ));
    }
    Ok(out)
}

/// Parses a `curves` list (`:`-separated OpenSSL group names).
pub fn curves(list: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
    let mut out = Vec::new();
    for name in list.split(':').filter(|s| !s.is_empty()) {
        out.push(curve(name)?);
    }
    if out.is_empty() {
        return Err("an empty curve list".into());
    }
    Ok(out)
}

/// One curve by its OpenSSL names.
pub fn curve(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    match name {
        "X25519" | "x25519" => Ok(kx_group::X25519),
        "P-256" | "prime256v1" | "secp256r1" => Ok(kx_group::SECP256R1),
        "P-384" | "secp384r1" => Ok(kx_group::SECP384R1),
        _ => Err(format!(
            "curve '{name}' is not implemented by ringlb's TLS library (rustls): \
             use X25519, P-256 (prime256v1) or P-384 (secp384r1)"
        )),
    }
}

/// The TLS 1.3 order where no `ciphersuites` is configured: AES-256-GCM
/// first, as OpenSSL (HAProxy, nginx) does. AES-128-GCM first costs 5.9 %
/// less CPU per RSA-2048 handshake (SHA-256 runs on SHA-NI), but was tried
/// and undone: a client holding a ticket from HAProxy (a SHA-384 session)
/// that gets a HelloRetryRequest choosing a SHA-256 suite drops its PSK from
/// the second ClientHello, which rustls's server refuses (missing_extension):
/// a fleet mixing HAProxy and ringlb under one name would fail handshakes.
pub const DEFAULT_TLS13: &str =
    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

/// The TLS 1.2 order where no `ciphers` is configured (AES-256-GCM first,
/// for the reasons of `DEFAULT_TLS13`; ECDSA before RSA, as rustls).
pub const DEFAULT_TLS12: &str = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:\
     ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:\
     ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305";

/// The crypto provider and protocol versions an option set asks for
/// (`ciphers`, `ciphersuites`, `curves`, the version options), for the
/// binds' server configurations and the servers' client ones alike.
pub fn provider(
    o: &super::opts::SslOpts,
) -> Result<
    (
        std::sync::Arc<rustls::crypto::CryptoProvider>,
        Vec<&'static rustls::SupportedProtocolVersion>,
    ),
    String,
> {
    use super::opts::Ver;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let versions = o.versions()?;
    let mut suites = Vec::new();
    if versions.contains(&Ver::V13) {
        suites.extend(tls13_suites(
            o.ciphersuites.as_deref().unwrap_or(DEFAULT_TLS13),
        )?);
    }
    if versions.contains(&Ver::V12) {
        suites.extend(tls12_suites(o.ciphers.as_deref().unwrap_or(DEFAULT_TLS12))?);
    }
    provider.cipher_suites = suites;
    if let Some(c) = &o.curves {
        provider.kx_groups = curves(c)?;
    }
    let vers = versions
        .iter()
        .map(|v| match v {
            Ver::V12 => &rustls::version::TLS12,
            Ver::V13 => &rustls::version::TLS13,
        })
        .collect();
    Ok((std::sync::Arc::new(provider), vers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite as C;

    fn names(list: &str) -> Vec<C> {
        tls12_suites(list)
            .unwrap()
            .iter()
            .map(|s| s.suite())
            .collect()
    }

    #[test]
    fn single_names_keep_their_order() {
        assert_eq!(
            names("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:!aNULL"),
            [
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            ]
        );
    }

    #[test]
    fn expressions_evaluate_as_openssl() {
        assert_eq!(names("HIGH:!aNULL:!MD5").len(), 6);
        assert_eq!(names("PROFILE=SYSTEM").len(), 6);
        assert_eq!(
            names("ECDHE+AESGCM:!aECDSA"),
            [
                C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
        // `!` is final, `-` may be added back.
        assert_eq!(names("ALL:!aRSA:aRSA").len(), 3);
        assert_eq!(names("ALL:-aRSA:aRSA").len(), 6);
        // `+` moves to the end.
        let l = names("ALL:+CHACHA20");
        assert_eq!(l[4], C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256);
        // CBC and DHE suites rustls lacks are skipped.
        assert_eq!(
            names("DHE-RSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-CHACHA20-POLY1305"),
            [C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]
        );
        assert_eq!(
            names("AES128:AES256:@STRENGTH")[0],
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        );
    }

    #[test]
    fn nothing_left_is_an_error() {
        let e = tls12_suites("RC4:DES-CBC3-SHA").unwrap_err();
        assert!(e.contains("'RC4:DES-CBC3-SHA'"), "{e}");
    }

    #[test]
    fn defaults_are_rustls_order_with_every_suite() {
        // The order rustls's own default list has (what ringlb used before
        // the lists were spelled out here).
        let rustls_default: Vec<C> = rustls::crypto::aws_lc_rs::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let ours: Vec<C> = tls13_suites(DEFAULT_TLS13)
            .unwrap()
            .iter()
            .chain(tls12_suites(DEFAULT_TLS12).unwrap().iter())
            .map(|s| s.suite())
            .collect();
        assert_eq!(ours, rustls_default);
    }

    #[test]
    fn tls13_and_curves() {
        assert_eq!(
            tls13_suites("TLS_AES_128_CCM_SHA256:TLS_AES_256_GCM_SHA384").unwrap()[0].suite(),
            C::TLS13_AES_256_GCM_SHA384
        );
        assert!(tls13_suites("TLS_FOO").unwrap_err().contains("TLS_FOO"));
        assert_eq!(curves("X25519:prime256v1:P-384").unwrap().len(), 3);
        assert!(curves("X448").unwrap_err().contains("X448"));
    }
}
