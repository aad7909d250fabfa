//! `option splice-*` end to end: the spliced relay carries 8 MB both ways
//! byte-exact with the client's half-close, counts the bytes in the log and
//! the stats exactly, holds no more than `maxpipes` pipes (a connection that
//! finds none copies instead), splices an HTTP tunnel after `101`, ends on
//! `shutdown sessions`, and splices the server's bytes only after the
//! `tcp-response content` rules let its first ones pass.
//! Whether a session splices is read from the proxy's open fds: a spliced
//! direction holds a pipe while it runs.

mod common;

use common::{
    ListenCfg, Ringlb, Syslog, TcpBackend, TestDir, assert_same_bytes, connect, free_port,
    parse_stats_csv, pattern, stats_command, stats_row,
};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

/// Pipes the process holds open now (each pipe's two ends count once).
fn pipes(pid: i32) -> usize {
    let mut seen: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|l| l.to_string_lossy().into_owned())
                .filter(|l| l.starts_with("pipe:"))
                .collect()
        })
        .unwrap_or_default();
    seen.sort();
    seen.dedup();
    seen.len()
}

/// The pipes the proxy holds once the start-up probe's session (which may
/// splice too) has ended: the same count twice, 100 ms apart (at most 5 s).
fn settled_pipes(pid: i32) -> usize {
    let mut last = pipes(pid);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = pipes(pid);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Waits (at most 10 s) until the proxy holds `n` pipes more than `base`.
fn wait_pipes(lb: &mut Ringlb, base: usize, n: usize) {
    let pid = lb.pid();
    lb.wait_until(&format!("{n} pipe(s) in use"), || pipes(pid) == base + n);
}

/// Writes `data` then half-closes, while reading until EOF on this thread.
fn send_half_close_read(s: TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        w.write_all(&data).expect("write to proxy");
        w.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut r = s;
    r.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let res = r.read_to_end(&mut got);
    writer.join().expect("writer thread");
    res.unwrap_or_else(|e| panic!("reading after {} bytes: {e}", got.len()));
    got
}

/// A `mode tcp` listen with `option splice-auto`, stats socket and syslog.
fn spliced_listen(echo: u16, syslog: &Syslog, sock: &std::path::Path) -> String {
    ListenCfg::tcp(free_port())
        .global(&format!("log 127.0.0.1:{} local0", syslog.port()))
        .global(&format!("stats socket {}", sock.display()))
        .global("tune.pipesize 131072")
        .line("log global")
        .line("option tcplog")
        .line("option splice-auto")
        .server("echo", echo)
        .render()
}

#[test]
fn splice_auto_relays_8mb_both_ways_and_counts_every_byte() {
    let echo = TcpBackend::echo();
    let mut syslog = Syslog::new();
    let dir = TestDir::new("splice-auto");
    let sock = dir.path().join("stats.sock");
    let mut lb = Ringlb::start(&spliced_listen(echo.port, &syslog, &sock));
    let base = settled_pipes(lb.pid());
    let size = 8 << 20;
    let data = pattern(size, 8);
    // Part of the data first, the connection held open: both directions
    // have filled a buffer, so both splice, each with its pipe.
    let s = connect(lb.port());
    let mut w = s.try_clone().unwrap();
    w.write_all(&data[..1 << 20]).unwrap();
    let mut r = s.try_clone().unwrap();
    let mut head = vec![0u8; 1 << 20];
    r.read_exact(&mut head).unwrap();
    wait_pipes(&mut lb, base, 2);
    let client = s.local_addr().unwrap();
    let rest = send_half_close_read(s, data[1 << 20..].to_vec());
    head.extend(rest);
    assert_same_bytes(&head, &data, "8 MB echoed through spliced directions");
    // The log's bytes (to the client) and the stats' both ways, exact.
    let port = format!("127.0.0.1:{} ", client.port());
    let line = syslog.wait("for the session", |l| l.contains(&port));
    assert!(
        line.contains(&format!(" {size} --")),
        "bytes read {size}, both sides closed normally: {line}"
    );
    lb.wait_until("stats counted", || {
        let rows = parse_stats_csv(&stats_command(&sock, "show stat"));
        let fe = stats_row(&rows, "test", "FRONTEND");
        fe["bin"] == size.to_string() && fe["bout"] == size.to_string()
    });
    wait_pipes(&mut lb, base, 0);
}

#[test]
fn spliced_relay_keeps_the_half_close() {
    // The server reads to the client's FIN, then answers 2 MB and closes:
    // the spliced server → client direction goes on after the other ended.
    let reply = pattern(2 << 20, 99);
    let expected = reply.clone();
    let backend = TcpBackend::start(move |mut s| {
        let mut sink = Vec::new();
        if s.read_to_end(&mut sink).is_err() {
            return;
        }
        let mut out = format!("got {} bytes\n", sink.len()).into_bytes();
        out.extend(&reply);
        let _ = s.write_all(&out);
    });
    let cfg = ListenCfg::tcp(free_port())
        .line("option splice-request")
        .line("option splice-response")
        .server("late", backend.port);
    let lb = Ringlb::start(&cfg.render());
    let got = send_half_close_read(connect(lb.port()), pattern(3 << 20, 5));
    let mut want = format!("got {} bytes\n", 3 << 20).into_bytes();
    want.extend(&expected);
    assert_same_bytes(&got, &want, "reply sent after the client's half-close");
}

#[test]
fn maxpipes_1_leaves_the_second_connection_on_the_copy_path() {
    let echo = TcpBackend::echo();
    let cfg = ListenCfg::tcp(free_port())
        .global("maxpipes 1")
        .line("option splice-request")
        .server("echo", echo.port);
    let mut lb = Ringlb::start(&cfg.render());
    let base = settled_pipes(lb.pid());
    let (a_data, b_data) = (pattern(3 << 20, 1), pattern(3 << 20, 2));
    let a = connect(lb.port());
    a.try_clone().unwrap().write_all(&a_data[..4096]).unwrap();
    let mut echoed = [0u8; 4096];
    a.try_clone().unwrap().read_exact(&mut echoed).unwrap();
    wait_pipes(&mut lb, base, 1);
    // The second connection finds no pipe free: it relays all the same.
    let b = connect(lb.port());
    let b_relay = thread::spawn(move || send_half_close_read(b, b_data.clone()) == b_data);
    assert!(b_relay.join().unwrap(), "second connection byte-exact");
    assert_eq!(pipes(lb.pid()), base + 1, "never more than maxpipes");
    let mut got = echoed.to_vec();
    got.extend(send_half_close_read(a, a_data[4096..].to_vec()));
    assert_same_bytes(&got, &a_data, "first (spliced) connection");
    wait_pipes(&mut lb, base, 0);
}

#[test]
fn http_upgrade_tunnel_splices_after_101() {
    // A backend that switches protocols, then echoes to EOF.
    let backend = TcpBackend::start(|mut s| {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                return;
            }
            head.push(b[0]);
        }
        let _ = s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        );
        common::echo_until_eof(s);
    });
    let cfg = ListenCfg::http(free_port())
        .line("option splice-auto")
        .server("up", backend.port);
    let mut lb = Ringlb::start(&cfg.render());
    let base = settled_pipes(lb.pid());
    let mut s = connect(lb.port());
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "response head");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    let data = pattern(8 << 20, 3);
    s.write_all(&data[..1 << 20]).unwrap();
    let mut got = vec![0u8; 1 << 20];
    s.read_exact(&mut got).unwrap();
    wait_pipes(&mut lb, base, 2);
    got.extend(send_half_close_read(s, data[1 << 20..].to_vec()));
    assert_same_bytes(&got, &data, "8 MB through the spliced tunnel");
    wait_pipes(&mut lb, base, 0);
}

#[test]
fn shutdown_sessions_ends_a_spliced_session() {
    let echo = TcpBackend::echo();
    let dir = TestDir::new("splice-kill");
    let sock = dir.path().join("admin.sock");
    let cfg = ListenCfg::tcp(free_port())
        .global(&format!("stats socket {} level admin", sock.display()))
        .timeout_client("30s")
        .timeout_server("30s")
        .line("option splice-request")
        .line("option splice-response")
        .server("echo", echo.port);
    let mut lb = Ringlb::start(&cfg.render());
    let base = settled_pipes(lb.pid());
    let mut s = connect(lb.port());
    let data = pattern(64 << 10, 4);
    s.write_all(&data).unwrap();
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).unwrap();
    assert_same_bytes(&back, &data, "spliced both ways");
    wait_pipes(&mut lb, base, 2);
    assert_eq!(
        stats_command(&sock, "shutdown sessions server test/echo"),
        "\n"
    );
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!("{n} bytes after the kill"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "still open after 'shutdown sessions': {e}"
        ),
    }
    wait_pipes(&mut lb, base, 0);
}

#[test]
fn tcp_response_rules_see_the_first_bytes_before_splicing() {
    // 'b' asks for a reply the rule rejects, anything else for 2 MB.
    let big = pattern(2 << 20, 6);
    let reply = big.clone();
    let backend = TcpBackend::start(move |mut s| {
        let mut b = [0u8; 1];
        if s.read_exact(&mut b).is_err() {
            return;
        }
        let out: &[u8] = if b[0] == b'b' {
            b"BAD!and more"
        } else {
            &reply
        };
        let _ = s.write_all(out);
    });
    let cfg = ListenCfg::tcp(free_port())
        .line("tcp-response inspect-delay 2s")
        .line("tcp-response content reject if { res.payload(0,4) -m bin 42414421 }")
        .line("option splice-response")
        .server("s", backend.port);
    let lb = Ringlb::start(&cfg.render());
    let mut bad = connect(lb.port());
    bad.write_all(b"b").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = bad.read_to_end(&mut got);
    assert!(got.is_empty(), "rejected reply reached the client: {got:?}");
    let mut good = connect(lb.port());
    good.write_all(b"g").unwrap();
    good.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    good.read_to_end(&mut got).unwrap();
    assert_same_bytes(&got, &big, "accepted reply, spliced after the rules");
}

#[test]
fn haproxy_relays_the_same_bytes_on_the_same_config() {
    // Differential: the same `splice-auto` config text through HAProxy 2.6
    // and ringlb, 8 MB echoed with the client's half-close, and the same
    // byte count in the tcplog line.
    let echo = TcpBackend::echo();
    let data = pattern(8 << 20, 12);
    let mut seen = Vec::new();
    for haproxy in [false, true] {
        let mut syslog = Syslog::new();
        let port = free_port();
        let cfg = ListenCfg::tcp(port)
            .global(&format!("log 127.0.0.1:{} local0", syslog.port()))
            .line("log global")
            .line("option tcplog")
            .line("option splice-auto")
            .server("echo", echo.port)
            .render();
        let (_r, _h);
        if haproxy {
            let Some(h) = common::Haproxy::start(&cfg, port) else {
                continue;
            };
            _h = h;
        } else {
            _r = Ringlb::start(&cfg);
        }
        let s = connect(port);
        let client = format!("127.0.0.1:{} ", s.local_addr().unwrap().port());
        let got = send_half_close_read(s, data.clone());
        assert_same_bytes(&got, &data, if haproxy { "haproxy" } else { "ringlb" });
        let line = syslog.wait("for the session", |l| l.contains(&client));
        let bytes = line
            .split_whitespace()
            .skip_while(|w| !w.contains("/echo"))
            .nth(2)
            .map(str::to_string);
        seen.push(bytes);
    }
    let want = Some((8 << 20).to_string());
    let runs = if common::haproxy_binary().is_some() {
        2
    } else {
        1
    };
    assert_eq!(seen, vec![want; runs], "ringlb, then HAProxy");
}
