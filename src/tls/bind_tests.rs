//! Handshakes in memory against built bind configurations: SNI, ECDSA/RSA,
//! versions, ciphers, crt-list lines, client certificates, OCSP, the
//! certificate store and resumption.

use std::path::Path;
use std::sync::Arc;

use rustls::version::{TLS12, TLS13};
use rustls::{CipherSuite, HandshakeKind, ProtocolVersion, SignatureScheme};

use super::bind::BindTls;
use super::opts::{SslOpts, Verify};
use super::test_util::*;

/// The test certificate directory, or return (skipped) when openssl is missing.
macro_rules! dir {
    () => {
        match certs_dir() {
            Some(d) => d,
            None => return,
        }
    };
}

fn p(dir: &Path, f: &str) -> String {
    dir.join(f).to_string_lossy().into_owned()
}

fn bind(crt: &[String], lists: &[String], opts: SslOpts) -> BindTls {
    BindTls::build_with(crt.to_vec(), lists.to_vec(), opts, &mut |_| {}).unwrap()
}

fn both() -> Arc<rustls::ClientConfig> {
    client(&[&TLS13, &TLS12], all_schemes(), false).0
}

#[test]
fn sni_picks_exact_then_wildcard_else_default() {
    let d = dir!();
    let t = bind(
        &[p(d, "rsa_a.pem"), p(d, "rsa_b.pem")],
        &[],
        SslOpts::default(),
    );
    let cn = |sni| served_cn(&handshake(&t, both(), sni).unwrap().0);
    assert_eq!(cn(Some("b.example")), "b.example");
    assert_eq!(cn(Some("B.Example")), "b.example");
    assert_eq!(cn(Some("x.w.example")), "a.example");
    assert_eq!(cn(Some("unknown.example")), "a.example");
    assert_eq!(cn(None), "a.example");
}

#[test]
fn strict_sni_refuses_unknown_names() {
    let d = dir!();
    let o = SslOpts {
        strict_sni: true,
        ..Default::default()
    };
    let t = bind(&[p(d, "rsa_a.pem"), p(d, "rsa_b.pem")], &[], o);
    assert!(handshake(&t, both(), Some("b.example")).is_ok());
    assert_eq!(
        handshake(&t, both(), Some("c.example")).unwrap_err(),
        "refused"
    );
    assert_eq!(handshake(&t, both(), None).unwrap_err(), "refused");
}

#[test]
fn ecdsa_when_offered_else_rsa() {
    let d = dir!();
    let t = bind(
        &[p(d, "rsa_a.pem"), p(d, "ec_a.pem")],
        &[],
        SslOpts::default(),
    );
    let (c, _) = handshake(&t, both(), Some("a.example")).unwrap();
    assert!(served_ecdsa(&c));
    let rsa_only: Vec<SignatureScheme> = all_schemes()
        .into_iter()
        .filter(|s| format!("{s:?}").starts_with("RSA"))
        .collect();
    let (cfg, _) = client(&[&TLS13, &TLS12], rsa_only, false);
    let (c, _) = handshake(&t, cfg, Some("a.example")).unwrap();
    assert!(!served_ecdsa(&c));
}

#[test]
fn versions_and_ciphers() {
    let d = dir!();
    let crt = [p(d, "rsa_a.pem")];
    let o = SslOpts {
        max_ver: Some(super::opts::Ver::V12),
        ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256:!aNULL".into()),
        ..Default::default()
    };
    let (c, _) = handshake(&bind(&crt, &[], o), both(), Some("a.example")).unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        c.negotiated_cipher_suite().unwrap().suite(),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    );
    let o = SslOpts {
        min_ver: Some(super::opts::Ver::V13),
        ciphersuites: Some("TLS_CHACHA20_POLY1305_SHA256".into()),
        ..Default::default()
    };
    let t = bind(&crt, &[], o);
    let (c, _) = handshake(&t, both(), Some("a.example")).unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(
        c.negotiated_cipher_suite().unwrap().suite(),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    );
    let (tls12_only, _) = client(&[&TLS12], all_schemes(), false);
    assert!(handshake(&t, tls12_only, Some("a.example")).is_err());
}

#[test]
fn alpn_offers_http11_only() {
    let d = dir!();
    let o = SslOpts {
        alpn: Some(vec!["http/1.1".into()]),
        ..Default::default()
    };
    let (c, _) = handshake(&bind(&[p(d, "rsa_a.pem")], &[], o), both(), None).unwrap();
    assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn crt_list_lines_carry_their_options() {
    let d = dir!();
    let list = d.join("list.crt-list");
    std::fs::write(
        &list,
        format!(
            "# test\n{} [alpn http/1.1]\n{} [ssl-max-ver TLSv1.2] b.example !bad.b.example\n",
            p(d, "rsa_a.pem"),
            p(d, "rsa_b.pem")
        ),
    )
    .unwrap();
    let t = bind(
        &[],
        &[list.to_string_lossy().into_owned()],
        SslOpts::default(),
    );
    let (c, _) = handshake(&t, both(), Some("b.example")).unwrap();
    assert_eq!(served_cn(&c), "b.example");
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(c.alpn_protocol(), None);
    let (c, _) = handshake(&t, both(), Some("a.example")).unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn client_certificates_required_and_optional() {
    let d = dir!();
    let o = |v| SslOpts {
        verify: Some(v),
        ca_file: Some(p(d, "ca.pem")),
        ..Default::default()
    };
    let crt = [p(d, "rsa_a.pem")];
    let req = bind(&crt, &[], o(Verify::Required));
    assert!(handshake(&req, both(), None).is_err());
    let (with, _) = client(&[&TLS13, &TLS12], all_schemes(), true);
    let (_, s) = handshake(&req, with.clone(), None).unwrap();
    assert!(s.peer_certificates().is_some());
    let opt = bind(&crt, &[], o(Verify::Optional));
    assert!(handshake(&opt, both(), None).is_ok());
    assert!(handshake(&opt, with, None).is_ok());
    let e = BindTls::build_with(
        crt.to_vec(),
        vec![],
        SslOpts {
            verify: Some(Verify::Required),
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.contains("no CA file"), "{e}");
}

#[test]
fn key_file_ocsp_file_and_directories() {
    let d = dir!();
    let sub = d.join("dir");
    std::fs::create_dir_all(&sub).unwrap();
    for f in ["rsa_b.pem", "ec_a.pem"] {
        std::fs::copy(d.join(f), sub.join(f)).unwrap();
    }
    // A response that is no OCSP response: left out with HAProxy's warning
    // (a stapled good one is tested end to end, tests/tls_ocsp.rs). The
    // self-signed leaf is its own issuer, named by `.issuer`.
    std::fs::write(sub.join("ec_a.pem.ocsp"), b"\x30\x03\x0a\x01\x00").unwrap();
    std::fs::copy(d.join("ec_a.crt"), sub.join("ec_a.pem.issuer")).unwrap();
    std::fs::write(sub.join("notes.key"), b"not a certificate").unwrap();
    let mut warnings = Vec::new();
    let t = BindTls::build_with(
        vec![sub.to_string_lossy().into_owned()],
        Vec::new(),
        SslOpts::default(),
        &mut |w| warnings.push(w),
    )
    .unwrap();
    assert_eq!(
        warnings,
        ["Loading: Failed to get basic response from OCSP Response. Content will be ignored."]
    );
    // Name order: ec_a.pem is the default.
    let (cfg, v) = client(&[&TLS13, &TLS12], all_schemes(), false);
    let (c, _) = handshake(&t, cfg, None).unwrap();
    assert_eq!(served_cn(&c), "a.example");
    assert!(v.ocsp.lock().unwrap().is_empty());
    // Without an issuer no certificate ID can be made: refused, as HAProxy.
    std::fs::remove_file(sub.join("ec_a.pem.issuer")).unwrap();
    let e = BindTls::build(vec![p(&sub, "ec_a.pem")]).unwrap_err();
    assert!(
        e.contains("impossible to compute the OCSP certificate ID"),
        "{e}"
    );
    let t = bind(&[p(d, "split.pem")], &[], SslOpts::default());
    assert_eq!(
        served_cn(&handshake(&t, both(), None).unwrap().0),
        "b.example"
    );
    std::fs::copy(d.join("rsa_a.pem"), d.join("sct.pem")).unwrap();
    std::fs::write(d.join("sct.pem.sctl"), b"x").unwrap();
    let e = BindTls::build(vec![p(d, "sct.pem")]).unwrap_err();
    assert!(e.contains("SCT stapling"), "{e}");
    let e = BindTls::build(vec![p(d, "missing.pem")]).unwrap_err();
    assert!(e.starts_with("unable to load certificate from '"), "{e}");
}

#[test]
fn store_replacement_is_served_at_once() {
    let d = dir!();
    let file = p(d, "replace-me.pem");
    std::fs::copy(d.join("rsa_a.pem"), &file).unwrap();
    let t = bind(std::slice::from_ref(&file), &[], SslOpts::default());
    assert_eq!(
        served_cn(&handshake(&t, both(), None).unwrap().0),
        "a.example"
    );
    assert!(super::certs::names().contains(&file));
    super::certs::replace(&file, &std::fs::read(d.join("rsa_b.pem")).unwrap()).unwrap();
    assert_eq!(
        served_cn(&handshake(&t, both(), None).unwrap().0),
        "b.example"
    );
    assert!(super::certs::replace(&file, b"junk").is_err());
    assert!(super::certs::replace("/nope.pem", b"").is_err());
    assert_eq!(super::certs::lookup(&file).unwrap().names, ["b.example"]);
}

#[test]
fn tickets_resume_across_binds_unless_disabled() {
    let d = dir!();
    let crt = [p(d, "rsa_a.pem")];
    let one = bind(&crt, &[], SslOpts::default());
    let two = bind(&crt, &[], SslOpts::default());
    let cfg = both();
    let (c, _) = handshake(&one, cfg.clone(), Some("a.example")).unwrap();
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
    let (c, _) = handshake(&two, cfg, Some("a.example")).unwrap();
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Resumed));
    // TLS 1.2 without tickets nor session cache: nothing resumes.
    super::opts::update_globals(|g| g.cachesize = 0);
    let o = SslOpts {
        no_tickets: true,
        ..Default::default()
    };
    let off = bind(&crt, &[], o);
    super::opts::reset_globals();
    let (tls12, _) = client(&[&TLS12], all_schemes(), false);
    for _ in 0..2 {
        let (c, _) = handshake(&off, tls12.clone(), Some("a.example")).unwrap();
        assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
    }
    // With the session-ID cache, TLS 1.2 resumes without tickets.
    let cached = bind(
        &crt,
        &[],
        SslOpts {
            no_tickets: true,
            ..Default::default()
        },
    );
    let (tls12, _) = client(&[&TLS12], all_schemes(), false);
    handshake(&cached, tls12.clone(), Some("a.example")).unwrap();
    let (c, _) = handshake(&cached, tls12, Some("a.example")).unwrap();
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Resumed));
}

#[test]
fn server_cipher_order_unless_prefer_client_ciphers() {
    let d = dir!();
    let crt = [p(d, "rsa_a.pem")];
    let server = |prefer| SslOpts {
        max_ver: Some(super::opts::Ver::V12),
        ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256".into()),
        prefer_client_ciphers: prefer,
        ..Default::default()
    };
    // The client lists AES128 first.
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    let (_, any) = client(&[&TLS12], all_schemes(), false);
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(any)
        .with_no_client_auth();
    let cfg = Arc::new(cfg);
    let suite = |prefer| {
        let (c, _) = handshake(&bind(&crt, &[], server(prefer)), cfg.clone(), None).unwrap();
        c.negotiated_cipher_suite().unwrap().suite()
    };
    assert_eq!(
        suite(false),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    );
    assert_eq!(
        suite(true),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    );
}
