//! The TLS 1.3 suites ringlb offers: rustls's aws-lc-rs suites with an HKDF
//! that extracts once per secret.
//!
//! rustls's aws-lc-rs provider keeps the HKDF salt and secret and runs the
//! whole HKDF (extract, then expand, each setting up its HMAC key) for every
//! `HKDF-Expand-Label` of the key schedule: three HMACs and their key
//! set-ups where one HMAC does (SHA-384 blocks were 7 % of a full RSA-2048
//! handshake's CPU on TLS_AES_256_GCM_SHA384, with no SHA-NI for SHA-384;
//! 1.3 % less CPU per handshake with this). rustls's own `HkdfUsingHmac`
//! (the ring provider's HKDF) extracts once and keeps the keyed HMAC; here it
//! runs over aws-lc's HMAC, whose key holds the precomputed inner and outer
//! states. Same outputs (RFC 5869; the unit tests check RFC 5869's vectors
//! and the provider's own HKDF), same AEADs, hashes and QUIC algorithms.

use std::sync::LazyLock;

use aws_lc_rs::hmac;
use rustls::crypto::aws_lc_rs::cipher_suite as cs;
use rustls::crypto::hmac::{Hmac, Key, Tag};
use rustls::crypto::tls13::{Hkdf, HkdfUsingHmac};
use rustls::{CipherSuiteCommon, SupportedCipherSuite, Tls13CipherSuite};

/// aws-lc's HMAC as rustls's `Hmac`.
struct AwsHmac(hmac::Algorithm);

impl Hmac for AwsHmac {
    fn with_key(&self, key: &[u8]) -> Box<dyn Key> {
        Box::new(AwsKey(hmac::Key::new(self.0, key)))
    }

    fn hash_output_len(&self) -> usize {
        self.0.digest_algorithm().output_len()
    }
}

/// A keyed HMAC: signing copies the precomputed context.
struct AwsKey(hmac::Key);

impl Key for AwsKey {
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(first);
        for m in middle {
            ctx.update(m);
        }
        ctx.update(last);
        Tag::new(ctx.sign().as_ref())
    }

    fn tag_len(&self) -> usize {
        self.0.algorithm().digest_algorithm().output_len()
    }
}

static HMAC_SHA256: AwsHmac = AwsHmac(hmac::HMAC_SHA256);
static HMAC_SHA384: AwsHmac = AwsHmac(hmac::HMAC_SHA384);
static HKDF_SHA256: HkdfUsingHmac<'static> = HkdfUsingHmac(&HMAC_SHA256);
static HKDF_SHA384: HkdfUsingHmac<'static> = HkdfUsingHmac(&HMAC_SHA384);

/// `base` (a rustls TLS 1.3 suite) with `hkdf` as its HKDF.
fn with_hkdf(base: SupportedCipherSuite, hkdf: &'static dyn Hkdf) -> Tls13CipherSuite {
    let SupportedCipherSuite::Tls13(s) = base else {
        unreachable!("a TLS 1.3 suite")
    };
    Tls13CipherSuite {
        common: CipherSuiteCommon {
            suite: s.common.suite,
            hash_provider: s.common.hash_provider,
            confidentiality_limit: s.common.confidentiality_limit,
        },
        hkdf_provider: hkdf,
        aead_alg: s.aead_alg,
        quic: s.quic,
    }
}

static AES_128_GCM: LazyLock<Tls13CipherSuite> =
    LazyLock::new(|| with_hkdf(cs::TLS13_AES_128_GCM_SHA256, &HKDF_SHA256));
static AES_256_GCM: LazyLock<Tls13CipherSuite> =
    LazyLock::new(|| with_hkdf(cs::TLS13_AES_256_GCM_SHA384, &HKDF_SHA384));
static CHACHA20: LazyLock<Tls13CipherSuite> =
    LazyLock::new(|| with_hkdf(cs::TLS13_CHACHA20_POLY1305_SHA256, &HKDF_SHA256));

/// TLS_AES_128_GCM_SHA256.
pub fn tls13_aes_128_gcm_sha256() -> SupportedCipherSuite {
    SupportedCipherSuite::Tls13(&AES_128_GCM)
}

/// TLS_AES_256_GCM_SHA384.
pub fn tls13_aes_256_gcm_sha384() -> SupportedCipherSuite {
    SupportedCipherSuite::Tls13(&AES_256_GCM)
}

/// TLS_CHACHA20_POLY1305_SHA256.
pub fn tls13_chacha20_poly1305_sha256() -> SupportedCipherSuite {
    SupportedCipherSuite::Tls13(&CHACHA20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::tls13::OkmBlock;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc5869_test_case_1() {
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let mut okm = [0u8; 42];
        HKDF_SHA256
            .extract_from_secret(Some(&salt), &ikm)
            .expand_slice(&[&info], &mut okm)
            .unwrap();
        assert_eq!(
            okm.to_vec(),
            hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                 34007208d5b887185865"
            )
        );
    }

    #[test]
    fn same_outputs_as_the_providers_hkdf() {
        for (ours, base) in [
            (tls13_aes_256_gcm_sha384(), cs::TLS13_AES_256_GCM_SHA384),
            (tls13_aes_128_gcm_sha256(), cs::TLS13_AES_128_GCM_SHA256),
            (
                tls13_chacha20_poly1305_sha256(),
                cs::TLS13_CHACHA20_POLY1305_SHA256,
            ),
        ] {
            let (ours, base) = (ours.tls13().unwrap(), base.tls13().unwrap());
            assert_eq!(ours.common.suite, base.common.suite);
            let (a, b) = (ours.hkdf_provider, base.hkdf_provider);
            let salt = [7u8; 48];
            let info: [&[u8]; 2] = [b"tls13 ", b"c hs traffic"];
            for s in [None, Some(&salt[..])] {
                let x = a.extract_from_secret(s, b"shared secret");
                let y = b.extract_from_secret(s, b"shared secret");
                assert_eq!(
                    x.expand_block(&info).as_ref(),
                    y.expand_block(&info).as_ref()
                );
                let mut o = ([0u8; 80], [0u8; 80]);
                x.expand_slice(&info, &mut o.0).unwrap();
                y.expand_slice(&info, &mut o.1).unwrap();
                assert_eq!(o.0, o.1);
                let z = (a.extract_from_zero_ikm(s), b.extract_from_zero_ikm(s));
                assert_eq!(
                    z.0.expand_block(&info).as_ref(),
                    z.1.expand_block(&info).as_ref()
                );
            }
            let okm = OkmBlock::new(&salt[..a.extract_from_zero_ikm(None).hash_len()]);
            assert_eq!(
                a.expander_for_okm(&okm).expand_block(&info).as_ref(),
                b.expander_for_okm(&okm).expand_block(&info).as_ref()
            );
            assert_eq!(
                a.hmac_sign(&okm, b"finished").as_ref(),
                b.hmac_sign(&okm, b"finished").as_ref()
            );
        }
    }
}
