//! Responses made with `openssl ocsp` (testdata/*.der) and the text
//! `openssl ocsp -respin R -resp_text -noverify` printed for each
//! (testdata/*.txt): an RSA responder's revoked answer with a reason and a
//! nonce, an EC responder named by key, and one naming itself with a
//! quoted name and embedding its certificate (key usage, EKU, SAN).

use super::*;

const CASES: &[(&[u8], &str)] = &[
    (
        include_bytes!("testdata/ocsp_reason.der"),
        include_str!("testdata/ocsp_reason.txt"),
    ),
    (
        include_bytes!("testdata/ocsp_ec.der"),
        include_str!("testdata/ocsp_ec.txt"),
    ),
    (
        include_bytes!("testdata/ocsp_eckey.der"),
        include_str!("testdata/ocsp_eckey.txt"),
    ),
];

#[test]
fn dumps_equal_openssl_resp_text() {
    for (der, text) in CASES {
        let ours = dump(der).expect("parses");
        assert_eq!(ours, *text);
    }
}

#[test]
fn haproxy_puts_a_space_on_empty_lines() {
    let ours = haproxy_dump(CASES[0].0).expect("parses");
    assert!(
        ours.contains("GMT\n \n    Response Extensions:\n"),
        "{ours}"
    );
    assert!(!ours.contains("\n\n"));
    assert_eq!(
        haproxy_dump(&[0x30, 0x03, 0x0a, 0x01, 0x03]).as_deref(),
        Some("OCSP Response Data:\n    OCSP Response Status: trylater (0x3)\n")
    );
}

#[test]
fn garbage_and_truncations_never_panic() {
    assert!(dump(b"").is_none());
    assert!(dump(b"garbage").is_none());
    for (der, _) in CASES {
        for n in 0..der.len() {
            assert!(dump(&der[..n]).is_none(), "{n}");
        }
        // Every byte flipped: any answer, no panic.
        for i in 0..der.len() {
            let mut d = der.to_vec();
            d[i] ^= 0xff;
            let _ = haproxy_dump(&d);
        }
    }
}

#[test]
fn names_and_numbers_as_openssl_prints_them() {
    assert_eq!(rfc2253_value(0x0c, b"a,b", b""), "\"a,b\"");
    assert_eq!(rfc2253_value(0x0c, b"a\"b", b""), "a\\\"b");
    assert_eq!(rfc2253_value(0x0c, "é".as_bytes(), b""), "\\C3\\A9");
    assert_eq!(rfc2253_value(0x02, &[1], &[2, 1, 1]), "#020101");
    assert_eq!(hex_integer(&[0x00, 0x80]), "80");
    assert_eq!(hex_integer(&[0xff]), "-01");
    assert_eq!(hex_string(&[0xab; 36]).matches("\\\n").count(), 1);
    assert_eq!(
        dotted(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]),
        "1.3.6.1.4.1.311"
    );
    assert_eq!(
        gtime(b"20260101000000.5Z").as_deref(),
        Some("Jan  1 00:00:00.5 2026 GMT")
    );
    assert_eq!(gtime(b"20261301000000Z"), None);
}
