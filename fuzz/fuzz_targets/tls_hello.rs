//! The accepting side's ClientHello step (`bind ... ssl`): the bytes a
//! client sends first, fed to rustls's `Acceptor` as `tls::handshake`
//! does, then `BindTls::config_for` on the hello and the server connection
//! it starts, on a bind built from a test certificate (ECDSA P-256 and
//! RSA-2048, made once with the `openssl` CLI).
//!
//! Input: the first byte picks the bind (plain, or `strict-sni` with a
//! crt-list and SNI filters) and how the rest is cut into reads; the rest
//! is what the client sends.
//!
//! Properties:
//! - never panics, never loops: every read is consumed or refused;
//! - a hello accepted is answered: the connection started from it either
//!   fails with an alert or has a ServerHello flight to write.
#![no_main]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringlb::tls::bind::BindTls;
use ringlb::tls::opts::SslOpts;
use rustls::server::Acceptor;

/// Makes `ec.pem`, `rsa.pem` and a crt-list in a temporary directory.
fn make_certs() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringlb-fuzz-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ossl = |args: &str| {
        let ok = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "tls_hello needs the openssl CLI: openssl {args} failed");
    };
    for (name, key) in [
        ("ec", "ec -pkeyopt ec_paramgen_curve:P-256"),
        ("rsa", "rsa:2048"),
    ] {
        ossl(&format!(
            "req -x509 -newkey {key} -nodes -keyout {name}.key -out {name}.crt -days 30 \
             -subj /CN=a.example -addext subjectAltName=DNS:a.example,DNS:*.w.example"
        ));
        let read = |f: String| std::fs::read_to_string(dir.join(f)).unwrap();
        let pem = read(format!("{name}.crt")) + &read(format!("{name}.key"));
        std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
    }
    let list = format!(
        "{d}/ec.pem [alpn h2,http/1.1 ssl-min-ver TLSv1.3] a.example\n\
         {d}/rsa.pem [ciphers ECDHE-RSA-AES128-GCM-SHA256] *.w.example !x.w.example\n",
        d = dir.display()
    );
    std::fs::write(dir.join("list"), list).unwrap();
    dir
}

/// The two binds: default options on both certificates, and `strict-sni`
/// with the crt-list.
fn binds() -> &'static [BindTls; 2] {
    static B: OnceLock<[BindTls; 2]> = OnceLock::new();
    B.get_or_init(|| {
        let d = make_certs();
        let path = |f: &str| d.join(f).display().to_string();
        let plain = BindTls::build(vec![path("ec.pem"), path("rsa.pem")]).unwrap();
        let strict = SslOpts {
            strict_sni: true,
            ..SslOpts::default()
        };
        let listed =
            BindTls::build_with(Vec::new(), vec![path("list")], strict, &mut |_| {}).unwrap();
        let _ = std::fs::remove_dir_all(&d);
        [plain, listed]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let bind = &binds()[usize::from(sel & 1)];
    // Reads of 1..=64 bytes, or all at once, as the socket may give them.
    let chunk = match sel >> 1 {
        0 => data.len().max(1),
        n => usize::from(n % 64) + 1,
    };
    let mut acceptor = Acceptor::default();
    let mut pieces = data.chunks(chunk);
    let accepted = loop {
        let Some(piece) = pieces.next() else { return };
        let mut rd = piece;
        // As tls::handshake: every byte read goes in, or the handshake fails.
        let mut spins = 0;
        while !rd.is_empty() {
            match acceptor.read_tls(&mut rd) {
                Ok(_) => {}
                Err(_) => return,
            }
            spins += 1;
            assert!(spins < 100_000, "read_tls does not consume its input");
        }
        match acceptor.accept() {
            Ok(Some(a)) => break a,
            Ok(None) => {}
            Err((_, mut alert)) => {
                let _ = alert.write_all(&mut Vec::new());
                return;
            }
        }
    };
    let Some(config) = bind.config_for(&accepted.client_hello()) else {
        return;
    };
    match accepted.into_connection(config) {
        Ok(mut conn) => {
            // The server's first flight is ready to go.
            assert!(conn.wants_write(), "a hello accepted and nothing to answer");
            let mut out = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut out).unwrap();
            }
            assert!(out.first() == Some(&0x16), "{out:?}");
            // The rest of the input as the client's next flight.
            for piece in pieces {
                let mut rd = piece;
                while !rd.is_empty() {
                    if conn.read_tls(&mut rd).is_err() {
                        return;
                    }
                }
                if conn.process_new_packets().is_err() {
                    return;
                }
            }
        }
        Err((_, mut alert)) => {
            let _ = alert.write_all(&mut Vec::new());
        }
    }
});
