//! Connection upgrades and interim responses in `mode http`: a WebSocket-style
//! `101 Switching Protocols` turns the exchange into a raw tunnel both ways;
//! `Expect: 100-continue` forwards the server's `100 Continue` so the client
//! sends its body only then.

mod common;

use common::{
    BufStream, HttpBackend, HttpClient, ListenCfg, Ringlb, TcpBackend, assert_same_bytes,
    echo_until_eof, free_port, pattern, read_response,
};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sent by the WebSocket backend right behind its 101 head, in the same write.
const SERVER_HELLO: &[u8] = b"srv-hello\n";

/// A backend that answers `GET /ws` with `Connection: Upgrade` and
/// `Upgrade: websocket` by `101 Switching Protocols` (followed at once by
/// [`SERVER_HELLO`]), then echoes raw bytes until the client half-closes.
/// Anything else gets a 400. Every request head it receives is logged.
fn websocket_backend(heads: Arc<Mutex<Vec<String>>>) -> TcpBackend {
    TcpBackend::start(move |s| {
        let _ = s.set_read_timeout(Some(common::IO_TIMEOUT));
        let mut bs = BufStream::new(s);
        let Ok(Some(head)) = bs.read_head() else {
            return;
        };
        let text = String::from_utf8_lossy(&head).into_owned();
        heads.lock().unwrap().push(text.clone());
        let lower = text.to_ascii_lowercase();
        let has = |name: &str, token: &str| {
            lower.lines().any(|l| {
                l.split_once(':').is_some_and(|(n, v)| {
                    n.trim() == name && v.split(',').any(|t| t.trim() == token)
                })
            })
        };
        let upgrade = lower.starts_with("get /ws ")
            && has("connection", "upgrade")
            && has("upgrade", "websocket");
        if !upgrade {
            let _ = bs.stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let mut reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            .to_vec();
        reply.extend_from_slice(SERVER_HELLO);
        if bs.stream.write_all(&reply).is_err() {
            return;
        }
        // Bytes that came with the head belong to the tunnel.
        let early = bs.buffered().to_vec();
        if !early.is_empty() && bs.stream.write_all(&early).is_err() {
            return;
        }
        echo_until_eof(bs.stream);
    })
}

#[test]
fn websocket_upgrade_becomes_a_raw_tunnel() {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let ws = websocket_backend(heads.clone());
    let cfg = ListenCfg::http(free_port()).server("ws", ws.port);
    let lb = Ringlb::start(&cfg.render());

    let mut c = HttpClient::connect(lb.port());
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let r = read_response(&mut c.conn, false).unwrap_or_else(|e| panic!("no 101: {e}"));
    assert_eq!(r.status, 101, "{:?}", r.headers);
    assert!(
        r.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "101 without Upgrade: websocket: {:?}",
        r.headers
    );
    assert!(
        r.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "101 without Connection: upgrade: {:?}",
        r.headers
    );
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // The server spoke first, in the same segment as its 101.
    let hello = c
        .conn
        .read_n(SERVER_HELLO.len())
        .unwrap_or_else(|e| panic!("server's first tunnel bytes: {e}"));
    assert_eq!(hello, SERVER_HELLO);

    // Raw bytes, including some that look like HTTP, come back unchanged.
    let mut s = c.conn.stream;
    let messages: [&[u8]; 4] = [
        b"\x81\x05hello",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\xff\r\n\r\n\x00",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ];
    for m in messages {
        s.write_all(m).unwrap();
        let mut got = vec![0u8; m.len()];
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("echo of {:?} through the tunnel: {e}", m));
        assert_eq!(got, m);
    }
    // A larger transfer, written and read concurrently so neither side stalls.
    let big = pattern(512 * 1024, 11);
    let mut writer = s.try_clone().unwrap();
    let to_send = big.clone();
    let w = std::thread::spawn(move || writer.write_all(&to_send));
    let mut got = vec![0u8; big.len()];
    s.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("512 KB echo through the tunnel: {e}"));
    w.join().unwrap().expect("write 512 KB into the tunnel");
    assert_same_bytes(&got, &big, "tunnel echo");

    // Half-close: the backend ends too and the client sees the end.
    s.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "extra bytes after the echo: {rest:?}"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("tunnel not closed after the client's half-close: {e}"),
    }

    // The backend received the upgrade request with its headers intact.
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let h = heads[0].to_ascii_lowercase();
    assert!(h.contains("upgrade: websocket"), "{h}");
    assert!(
        h.contains("sec-websocket-key: dghlihnhbxbszsbub25jzq=="),
        "{h}"
    );
}

#[test]
fn expect_100_continue_body_after_interim_response() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port()).server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    let body = pattern(100 * 1024, 5);

    let mut c = HttpClient::connect(lb.port());
    c.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    // The body is held back until the interim response arrives.
    let interim = read_response(&mut c.conn, false)
        .unwrap_or_else(|e| panic!("no interim response before the body: {e}"));
    assert_eq!(interim.status, 100, "{:?}", interim.headers);
    assert!(
        c.conn.buffered().is_empty(),
        "bytes after 100 Continue before the body was sent: {:?}",
        String::from_utf8_lossy(c.conn.buffered())
    );
    c.send(&body);
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains(&format!("body-len={}", body.len())),
        "{}",
        r.text()
    );
    let got = a.last();
    assert_eq!(got.path, "/upload");
    assert_same_bytes(&got.body, &body, "request body at the backend");

    // The connection is still in step: another exchange works.
    let r = c.get("/after");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a.last().path, "/after");
}
