//! The TLS stream in one process: both sides over a socket pair, each split
//! into halves used at the same time, with reads smaller than a record.
//! Certificates come from [`super::test_util`] (skipped without `openssl`).

use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};

use super::bind::BindTls;
use super::test_util::certs_dir;
use crate::stream::{Peek, Stream};

fn client_config(ca: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Sends `data` in writes of every size while reading what the peer sends
/// back in reads of `read_size`: both halves at once.
async fn both_ways(s: Stream, data: Arc<Vec<u8>>, read_size: usize) -> Vec<u8> {
    let (mut r, mut w) = s.into_split();
    let writer = async move {
        let (mut at, mut k) = (0, 0usize);
        while at < data.len() {
            k += 1;
            let end = (at + 1 + (k * 7919) % 20000).min(data.len());
            w.write_all(data[at..end].to_vec()).await.0.unwrap();
            at = end;
        }
        w.shutdown().await.unwrap();
    };
    let reader = async move {
        let mut got = Vec::new();
        loop {
            let (n, buf) = r.read(Vec::with_capacity(read_size)).await;
            match n.unwrap() {
                0 => return got,
                _ => got.extend_from_slice(&buf),
            }
        }
    };
    monoio::join!(writer, reader).1
}

#[test]
fn both_sides_split_and_carry_records_of_every_size() {
    carry_both_ways(false);
}

/// A KeyUpdate asking for the server's comes while the server writes: its
/// read side must answer without mixing bytes into the write in flight.
#[test]
fn a_key_update_is_answered_while_both_halves_work() {
    carry_both_ways(true);
}

fn carry_both_ways(key_update: bool) {
    let Some(dir) = certs_dir() else {
        return;
    };
    let pem = dir.join("localhost.pem").display().to_string();
    let ca = dir.join("ca.pem").display().to_string();
    let bind = BindTls::build(vec![pem]).unwrap();
    let client_cfg = client_config(&ca);
    let data: Arc<Vec<u8>> = Arc::new((0..600_000u32).map(|i| (i % 253) as u8).collect());
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (a, b) = monoio::net::UnixStream::pair().unwrap();
        let server = async {
            let s = super::handshake::accept(Stream::Unix(a), &bind, None)
                .await
                .unwrap();
            assert_eq!(s.tls_info().unwrap().sni.as_deref(), Some("localhost"));
            // The client may have started writing: open either way, and what
            // the peek took in is still read below.
            assert_ne!(s.peek(), Peek::Closed);
            both_ways(s, data.clone(), 7).await
        };
        let client = async {
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let s = super::connect(Stream::Unix(b), client_cfg, name)
                .await
                .unwrap();
            assert_eq!(s.tls_info().unwrap().version, "TLSv1.3");
            if let (true, Stream::Tls(t)) = (key_update, &s) {
                t.request_key_update();
            }
            both_ways(s, data.clone(), 64 * 1024).await
        };
        let (at_server, at_client) = monoio::join!(server, client);
        // Each side read all the other wrote, then its close_notify as EOF.
        assert!(at_server == *data, "the server read other bytes");
        assert!(at_client == *data, "the client read other bytes");
    });
}
