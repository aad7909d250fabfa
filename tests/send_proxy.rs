//! `send-proxy`, `send-proxy-v2`, `proxy-v2-options` and `check-send-proxy`
//! through the binary, next to HAProxy 2.6 on the same configuration: a
//! backend that keeps the PROXY header each connection starts with must get
//! the same bytes from both, in mode http and mode tcp, for IPv4, IPv6 and
//! Unix-socket clients, and from health checks. The ports that change from
//! run to run (the client's, the frontend's, a check's own) are checked
//! against the connection they describe, then blanked; a CRC32c TLV is
//! checked, then blanked, as it covers them.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BufStream, Haproxy, HttpClient, Ringlb, TcpBackend, TestDir, free_port};
use common::{find, read_response};

const SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// One connection the backend accepted.
#[derive(Debug, Clone)]
struct Conn {
    /// The proxy's end of it (a check's own address and port), unless the
    /// proxy had reset it already.
    peer: Option<SocketAddr>,
    /// The PROXY header it started with (empty: none).
    header: Vec<u8>,
    /// HTTP requests it carried.
    requests: usize,
    /// Their targets.
    targets: Vec<String>,
    /// The header (or its absence) is known.
    settled: bool,
}

/// A backend that takes the PROXY header off each connection, then answers
/// HTTP requests (`200`, the target as body) or echoes anything else.
struct PpBackend {
    backend: TcpBackend,
    conns: Arc<Mutex<Vec<Conn>>>,
    /// Connections before this one are forgotten (kept: their threads
    /// still write to their slots).
    skip: std::cell::Cell<usize>,
}

impl PpBackend {
    fn start() -> PpBackend {
        let conns = Arc::new(Mutex::new(Vec::new()));
        let c = conns.clone();
        let backend = TcpBackend::start(move |s| serve(s, &c));
        PpBackend {
            backend,
            conns,
            skip: Default::default(),
        }
    }

    fn port(&self) -> u16 {
        self.backend.port
    }

    fn conns(&self) -> Vec<Conn> {
        self.conns.lock().unwrap()[self.skip.get()..].to_vec()
    }

    fn clear(&self) {
        self.skip.set(self.conns.lock().unwrap().len());
    }

    /// Waits until `n` connections have a header (or ended without one).
    fn wait_conns(&self, n: usize) -> Vec<Conn> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let c = self.conns();
            if c.len() >= n && c.iter().all(|c| c.settled) {
                return c;
            }
            if Instant::now() > deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How long the header at the start of `b` is: `Some(0)` when there is
/// none, `None` until enough has come to tell.
fn header_len(b: &[u8]) -> Option<usize> {
    if b.len() >= 12 && b.starts_with(SIG) {
        let n = 16 + usize::from(u16::from_be_bytes([*b.get(14)?, *b.get(15)?]));
        return (b.len() >= n).then_some(n);
    }
    let proxy = b"PROXY ";
    let k = b.len().min(12);
    if b.is_empty() || SIG.starts_with(&b[..k]) || proxy.starts_with(&b[..b.len().min(6)]) {
        if b.len() >= 6 && b.starts_with(proxy) {
            return find(b, b"\r\n").map(|i| i + 2);
        }
        return None;
    }
    Some(0)
}

fn serve(mut s: TcpStream, log: &Arc<Mutex<Vec<Conn>>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let peer = s.peer_addr().ok();
    let idx = {
        let mut l = log.lock().unwrap();
        l.push(Conn {
            peer,
            header: Vec::new(),
            requests: 0,
            targets: Vec::new(),
            settled: false,
        });
        l.len() - 1
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut read = |s: &mut TcpStream, buf: &mut Vec<u8>| loop {
        match s.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    };
    let n = loop {
        if let Some(n) = header_len(&buf) {
            break n;
        }
        if !read(&mut s, &mut buf) {
            let mut l = log.lock().unwrap();
            (l[idx].header, l[idx].settled) = (buf, true);
            return;
        }
    };
    {
        let mut l = log.lock().unwrap();
        (l[idx].header, l[idx].settled) = (buf.drain(..n).collect(), true);
    }
    loop {
        while buf.starts_with(b"GET ") {
            let Some(end) = find(&buf, b"\r\n\r\n") else {
                break;
            };
            let line = String::from_utf8_lossy(&buf[..end]).into_owned();
            let target = line.split(' ').nth(1).unwrap_or("").to_string();
            buf.drain(..end + 4);
            {
                let mut l = log.lock().unwrap();
                l[idx].requests += 1;
                l[idx].targets.push(target.clone());
            }
            let r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{target}",
                target.len()
            );
            if s.write_all(r.as_bytes()).is_err() {
                return;
            }
        }
        if !buf.is_empty() && !b"GET ".starts_with(&buf[..buf.len().min(4)]) {
            if s.write_all(&buf).is_err() {
                return;
            }
            buf.clear();
        }
        if !read(&mut s, &mut buf) {
            return;
        }
    }
}

/// Bitwise CRC32c, independent of ringlb's table-driven one.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `header` with the ports blanked once checked: the source port must be
/// `src_port`, the destination `dst_port`. A CRC32c TLV must be right.
fn normalize(header: &[u8], src_port: Option<u16>, dst_port: u16) -> Vec<u8> {
    if header.starts_with(b"PROXY ") {
        let text = String::from_utf8_lossy(header).into_owned();
        let mut f: Vec<String> = text.trim_end().split(' ').map(String::from).collect();
        if f.len() == 6 {
            if let Some(p) = src_port {
                assert_eq!(f[4], p.to_string(), "source port in {text:?}");
            }
            assert_eq!(f[5], dst_port.to_string(), "destination port in {text:?}");
            f[4] = "SPORT".into();
            f[5] = "DPORT".into();
        }
        return format!("{}\r\n", f.join(" ")).into_bytes();
    }
    let mut h = header.to_vec();
    if !h.starts_with(SIG) || h.len() < 16 {
        return h;
    }
    let ports = match h[13] {
        0x11 => Some(24),
        0x21 => Some(48),
        _ => None,
    };
    let tlvs = 16 + ports.map_or(0, |p| p + 4 - 16);
    // The CRC first: it covers the ports.
    let mut i = tlvs;
    while i + 3 <= h.len() {
        let len = usize::from(u16::from_be_bytes([h[i + 1], h[i + 2]]));
        if h[i] == 0x03 {
            let got = u32::from_be_bytes(h[i + 3..i + 7].try_into().unwrap());
            h[i + 3..i + 7].fill(0);
            assert_eq!(crc32c(&h), got, "CRC32c of {header:?}");
        }
        i += 3 + len;
    }
    assert_eq!(i, h.len(), "TLVs fill the header: {header:?}");
    if let Some(p) = ports {
        let sp = u16::from_be_bytes([h[p], h[p + 1]]);
        let dp = u16::from_be_bytes([h[p + 2], h[p + 3]]);
        assert_eq!(dp, dst_port, "destination port in {header:?}");
        if let Some(p) = src_port {
            assert_eq!(sp, p, "source port in {header:?}");
        }
        h[p..p + 4].fill(0);
    }
    h
}

/// One HTTP request from a new client at `addr` ("127.0.0.1:port" or
/// "[::1]:port"): the client's port, after the answer came.
fn http_once(addr: &str, path: &str) -> u16 {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = s.local_addr().unwrap().port();
    let mut bs = BufStream::new(s);
    bs.stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let r = read_response(&mut bs, false).expect("response");
    assert_eq!((r.status, r.text()), (200, path.to_string()));
    port
}

/// One echo exchange from a new TCP client: the client's port.
fn tcp_once(port: u16) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    s.read_exact(&mut got).expect("echo");
    assert_eq!(&got, b"ping");
    s.local_addr().unwrap().port()
}

/// One HTTP request over a Unix socket.
fn unix_once(path: &Path) {
    let s = UnixStream::connect(path).expect("connect to the unix socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut bs = BufStream::new(s);
    bs.stream
        .write_all(b"GET /u HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut bs, false).expect("response");
    assert_eq!(r.status, 200);
}

const DEFAULTS: &str = "defaults\n    timeout connect 2s\n    timeout client 5s\n    \
                        timeout server 5s\n";

/// The HTTP and TCP frontends, one per header kind, on `ports` (7) and a
/// Unix socket at `sock`, all to `be`.
fn data_config(ports: &[u16], sock: &Path, be: u16) -> String {
    let front = |name: &str, mode: &str, bind: String, extra: &str, srv: &str| {
        format!(
            "listen {name}\n    mode {mode}\n    bind {bind}\n{extra}    \
             server s 127.0.0.1:{be} {srv}\n"
        )
    };
    let b4 = |i: usize| format!("127.0.0.1:{}", ports[i]);
    [
        front("h1", "http", b4(0), "", "send-proxy"),
        front("h2", "http", b4(1), "", "send-proxy-v2"),
        front(
            "h2tlv",
            "http",
            b4(2),
            "    unique-id-format abc%[src]\n",
            "send-proxy-v2 proxy-v2-options crc32c,unique-id,authority",
        ),
        front("hopts", "http", b4(3), "", "proxy-v2-options crc32c"),
        front(
            "h6",
            "http",
            format!("[::1]:{}", ports[4]),
            "",
            "send-proxy-v2",
        ),
        front("t1", "tcp", b4(5), "", "send-proxy"),
        front(
            "t2",
            "tcp",
            b4(6),
            "",
            "send-proxy-v2 proxy-v2-options crc32c",
        ),
        front(
            "hunix",
            "http",
            format!("unix@{}", sock.display()),
            "",
            "send-proxy",
        ),
        front(
            "hunix2",
            "http",
            format!("unix@{}2", sock.display()),
            "",
            "send-proxy-v2",
        ),
    ]
    .concat()
}

/// Every case on the proxy listening on `ports`/`sock`: the normalized
/// headers `be` got, by case.
fn data_headers(be: &PpBackend, ports: &[u16], sock: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut one = |name: &'static str, dst: u16, f: &dyn Fn() -> u16| {
        be.clear();
        let src = f();
        let c = be.wait_conns(1);
        assert_eq!(c.len(), 1, "{name}: one server connection: {c:?}");
        out.push((name, normalize(&c[0].header, Some(src), dst)));
    };
    one("http v1", ports[0], &|| {
        http_once(&format!("127.0.0.1:{}", ports[0]), "/a")
    });
    one("http v2", ports[1], &|| {
        http_once(&format!("127.0.0.1:{}", ports[1]), "/b")
    });
    one("http v2 tlvs", ports[2], &|| {
        http_once(&format!("127.0.0.1:{}", ports[2]), "/c")
    });
    one("http options alone", ports[3], &|| {
        http_once(&format!("127.0.0.1:{}", ports[3]), "/d")
    });
    one("http v2 ipv6", ports[4], &|| {
        http_once(&format!("[::1]:{}", ports[4]), "/e")
    });
    one("tcp v1", ports[5], &|| tcp_once(ports[5]));
    one("tcp v2 crc32c", ports[6], &|| tcp_once(ports[6]));
    one("unix v1", 0, &|| {
        unix_once(sock);
        0
    });
    let sock2 = format!("{}2", sock.display());
    one("unix v2", 0, &|| {
        unix_once(Path::new(&sock2));
        0
    });
    out
}

fn ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

#[test]
fn data_connections_start_with_haproxys_header() {
    let be = PpBackend::start();
    let dir = TestDir::new("send-proxy");
    let sock = dir.path().join("lb.sock");
    let (lb_ports, hp_ports) = (ports(7), ports(7));

    let mut lb = Ringlb::spawn(
        &format!("{DEFAULTS}{}", data_config(&lb_ports, &sock, be.port())),
        &["-db"],
    );
    let s2 = format!("{}2", sock.display());
    lb.wait_until("unix sockets", || {
        UnixStream::connect(&sock).is_ok() && UnixStream::connect(&s2).is_ok()
    });
    let ours = data_headers(&be, &lb_ports, &sock);
    drop(lb);

    // What the headers must say, whatever HAProxy does.
    let text = |i: usize| String::from_utf8_lossy(&ours[i].1).into_owned();
    assert_eq!(text(0), "PROXY TCP4 127.0.0.1 127.0.0.1 SPORT DPORT\r\n");
    assert_eq!(text(3), "PROXY TCP4 127.0.0.1 127.0.0.1 SPORT DPORT\r\n");
    assert_eq!(text(7), "PROXY UNKNOWN\r\n");
    let mut v2 = SIG.to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(ours[1].1, v2);
    assert!(
        ours[2].1.ends_with(b"\x05\x00\x0cabc127.0.0.1"),
        "{:?}",
        ours[2].1
    );
    assert_eq!(&ours[4].1[12..16], &[0x21, 0x21, 0, 36]);
    let mut local = SIG.to_vec();
    local.extend_from_slice(&[0x20, 0, 0, 0]);
    assert_eq!(ours[8].1, local);

    let hsock = dir.path().join("hp.sock");
    let cfg = format!("{DEFAULTS}{}", data_config(&hp_ports, &hsock, be.port()));
    let Some(_h) = Haproxy::start(&cfg, hp_ports[0]) else {
        return;
    };
    let theirs = data_headers(&be, &hp_ports, &hsock);
    for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "{name}: ringlb's header, then HAProxy 2.6's"
        );
    }
}

/// Two clients at once on `port` under `http-reuse always`, each making two
/// requests: the server connections and what their headers name.
fn reuse_case(be: &PpBackend, port: u16) -> (Vec<Conn>, [u16; 2]) {
    be.clear();
    let mut a = HttpClient::connect(port);
    let mut b = HttpClient::connect(port);
    let pa = a.conn.stream.local_addr().unwrap().port();
    let pb = b.conn.stream.local_addr().unwrap().port();
    for _ in 0..2 {
        assert_eq!(a.get(&format!("/{pa}")).status, 200);
        assert_eq!(b.get(&format!("/{pb}")).status, 200);
    }
    (be.wait_conns(2), [pa, pb])
}

#[test]
fn a_connection_with_a_header_serves_only_its_client() {
    let be = PpBackend::start();
    let cfg = |port: u16| {
        // One thread: both clients meet the same pool of idle connections.
        format!(
            "global\n    nbthread 1\n{DEFAULTS}listen l\n    mode http\n    bind 127.0.0.1:{port}\n    \
             http-reuse always\n    server s 127.0.0.1:{} send-proxy\n",
            be.port()
        )
    };
    // Each client asks for its own port: a connection carries only the
    // requests of the client its header names.
    let check = |who: &str, conns: &[Conn]| {
        for c in conns {
            let h = String::from_utf8_lossy(&c.header).into_owned();
            let named = h.split(' ').nth(4).unwrap_or("?");
            assert!(
                c.targets.iter().all(|t| t[1..] == *named),
                "{who}: a connection whose header is {h:?} carried {:?}",
                c.targets
            );
        }
        assert_eq!(conns.iter().map(|c| c.requests).sum::<usize>(), 4, "{who}");
    };
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    let (conns, _) = reuse_case(&be, port);
    check("ringlb", &conns);
    // Each client's second request reused its own connection. (HAProxy
    // 2.6 sometimes opens a new one for it: measured, three connections.)
    assert_eq!(
        conns.len(),
        2,
        "ringlb: one connection per client: {conns:?}"
    );
    drop(lb);

    let port = free_port();
    let Some(_h) = Haproxy::start(&cfg(port), port) else {
        return;
    };
    let (conns, _) = reuse_case(&be, port);
    check("haproxy 2.6", &conns);
}

/// One backend per check server; the header of the first check connection
/// each got with one (normalized; the source port is the check's own), or
/// nothing when none came with one for 2 s. (HAProxy resets a finished
/// check's connection, sometimes before the backend read it.)
fn check_headers(bes: &[PpBackend]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let with_header = |b: &PpBackend| {
        let c = b.conns();
        c.into_iter().find(|c| c.settled && !c.header.is_empty())
    };
    while bes.iter().any(|b| with_header(b).is_none()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    bes.iter()
        .map(|b| {
            // HAProxy resets a check that sends nothing so early that the
            // backend may never accept it: no connection, no header.
            with_header(b).map_or_else(Vec::new, |c| {
                normalize(&c.header, c.peer.map(|p| p.port()), b.port())
            })
        })
        .collect()
}

#[test]
fn checks_start_with_haproxys_header() {
    let bes: Vec<PpBackend> = (0..5).map(|_| PpBackend::start()).collect();
    let opts = [
        "send-proxy-v2",
        "check-send-proxy",
        "send-proxy check-send-proxy",
        "send-proxy-v2 proxy-v2-options crc32c",
        // A check port of its own: no header unless asked for.
        "send-proxy port {self}",
    ];
    let cfg = |port: u16| {
        // Mode http: the readiness probes of the harnesses reach no server.
        let mut c = format!("{DEFAULTS}listen l\n    mode http\n    bind 127.0.0.1:{port}\n");
        for (i, (o, b)) in opts.iter().zip(&bes).enumerate() {
            let o = o.replace("{self}", &b.port().to_string());
            c += &format!(
                "    server s{i} 127.0.0.1:{} {o} check inter 300ms\n",
                b.port()
            );
        }
        c
    };
    let port = free_port();
    let lb = Ringlb::start(&cfg(port));
    let ours = check_headers(&bes);
    drop(lb);
    let mut local = SIG.to_vec();
    local.extend_from_slice(&[0x20, 0, 0, 0]);
    assert_eq!(ours[0], local);
    assert_eq!(ours[1], b"PROXY TCP4 127.0.0.1 127.0.0.1 SPORT DPORT\r\n");
    assert_eq!(ours[4], b"");
    assert!(
        !bes[4].conns().is_empty(),
        "ringlb checked the server with a port"
    );

    bes.iter().for_each(PpBackend::clear);
    let port = free_port();
    let Some(_h) = Haproxy::start(&cfg(port), port) else {
        return;
    };
    let theirs = check_headers(&bes);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "check of '{}': ringlb's header, then HAProxy 2.6's",
            opts[i]
        );
    }
}
