//! `option nolinger`: SO_LINGER 0 on the sockets of the proxy's side(s), so
//! that closing a connection sends RST instead of FIN. With `option
//! httpclose` the proxy closes both connections after one exchange; each
//! peer in the test then looks at its own socket: reset (TCP state CLOSE, or
//! ECONNRESET on read) with `nolinger`, a FIN (CLOSE_WAIT, clean EOF)
//! without. HAProxy 2.6 runs the same configs and must agree, except that it
//! resets the server side even without the option.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

use common::{Haproxy, Ringlb, free_port};

/// TCP_CLOSE and TCP_CLOSE_WAIT from the kernel's `tcp_states.h`.
const CLOSE: u8 = 7;
const CLOSE_WAIT: u8 = 8;

/// The kernel's TCP state of `s` (`tcpi_state`).
fn tcp_state(s: &TcpStream) -> u8 {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes
    // into it and the fd is open for the call.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        assert_eq!(rc, 0, "getsockopt TCP_INFO");
        info.tcpi_state
    }
}

/// Reads until the peer closes; then, once the close has surely arrived,
/// whether it was a reset: ECONNRESET on read, or the socket in state CLOSE
/// (a RST after our EOF), rather than CLOSE_WAIT (a FIN only).
fn peer_reset(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("read: {e}"),
        }
    }
    thread::sleep(Duration::from_millis(200));
    match tcp_state(s) {
        CLOSE => true,
        CLOSE_WAIT => false,
        st => panic!("unexpected TCP state {st}"),
    }
}

/// One exchange through the proxy at `port`; whether the client and the
/// server (played here on `server`) each saw a reset.
fn exchange(port: u16, server: &TcpListener) -> (bool, bool) {
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (mut up, _) = server.accept().unwrap();
    up.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = up.read(&mut buf).unwrap();
        assert!(n > 0, "request cut");
        req.extend_from_slice(&buf[..n]);
    }
    up.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .unwrap();
    let mut head = [0u8; 12];
    client.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "response");
    let server_side = peer_reset(&mut up);
    (peer_reset(&mut client), server_side)
}

/// A `frontend` and a `backend`, `nolinger` on the sides named.
fn config(port: u16, server: u16, fe_opt: &str, be_opt: &str) -> String {
    format!(
        "defaults\n    mode http\n    option httpclose\n    timeout client 5s\n    \
         timeout server 5s\n    timeout connect 5s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n{fe_opt}\
         backend be\n    server s 127.0.0.1:{server}\n{be_opt}"
    )
}

/// Each side alone, both, neither: the resets follow the option (HAProxy's
/// server side differs on purpose, see below).
#[test]
fn nolinger_resets_the_sides_it_is_set_on_as_haproxy() {
    let on = "    option nolinger\n";
    let cases = [
        ("", "", (false, false)),
        (on, "", (true, false)),
        ("", on, (false, true)),
        (on, on, (true, true)),
    ];
    for haproxy in [false, true] {
        for (fe, be, want) in cases {
            let server = TcpListener::bind("127.0.0.1:0").unwrap();
            let sp = server.local_addr().unwrap().port();
            let port = free_port();
            let cfg = config(port, sp, fe, be);
            let _keep = if haproxy {
                let Some(h) = Haproxy::start(&cfg, port) else {
                    return;
                };
                (Some(h), None)
            } else {
                (None, Some(Ringlb::start(&cfg)))
            };
            // HAProxy closes a server connection it gives up in HTTP mode
            // with RST whatever the option (it spares itself TIME_WAIT
            // sockets); ringlb sends a FIN unless `nolinger` asks for RST.
            let want = if haproxy { (want.0, true) } else { want };
            assert_eq!(
                exchange(port, &server),
                want,
                "(client, server) reset; haproxy: {haproxy}; frontend {fe:?}, backend {be:?}"
            );
        }
    }
}
