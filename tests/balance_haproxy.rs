//! Hash-based balancing compared with HAProxy 2.6: the same configuration
//! (five weighted servers; `uri` with its options, `url_param`, `hdr`,
//! `hdr(Host) use_domain_only`, `source`, `rdp-cookie`, `hash <expr>`; `hash-type map-based`
//! and `consistent` with each function, with and without `avalanche`) runs
//! through ringlb and through HAProxy, and 200 keys per algorithm are sent to
//! both on fresh connections; every key must reach the same server on both.
//! A fleet mixing ringlb and HAProxy then sends a client to one place.
//! (`hash-type ... none` is HAProxy 2.7's and 2.6 refuses it: it is checked by
//! the unit tests of `src/balance/hash.rs` only.)

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

use common::{
    BufStream, Haproxy, HttpBackend, IO_TIMEOUT, Ringlb, TcpBackend, free_port, raw_exchange,
    read_response,
};

/// Server weights, in declaration order (HAProxy ids 1..5).
const WEIGHTS: [u32; 5] = [1, 3, 2, 5, 1];
/// Keys per algorithm.
const KEYS: usize = 200;

/// How a key is sent.
#[derive(Clone, Copy)]
enum Probe {
    /// An HTTP GET: `(uri, host, extra header lines)` from key number k.
    Http(fn(usize) -> (String, String, String)),
    /// An HTTP GET of `/` from client address 127.x.y.z chosen by k.
    Source,
    /// An RDP connection request with `Cookie: mstshash=<user k>`.
    Rdp,
}

/// One `listen` section under test.
struct Case {
    name: &'static str,
    lines: &'static [&'static str],
    probe: Probe,
    /// Server weights (the default [`WEIGHTS`] when `None`).
    weights: Option<&'static [u32]>,
}

fn uri_key(k: usize) -> (String, String, String) {
    let uri = format!(
        "/d{}/s{}/item-{}.html?q={k}&r={}",
        k % 13,
        k % 7,
        k * 7919,
        k * 31
    );
    (uri, "t".into(), String::new())
}

fn absolute_key(k: usize) -> (String, String, String) {
    if k.is_multiple_of(2) {
        let host = format!("h{}.example", k % 5);
        (
            format!("http://{host}/abs/{k}?x={}", k % 3),
            host,
            String::new(),
        )
    } else {
        uri_key(k)
    }
}

fn param_key(k: usize) -> (String, String, String) {
    let uri = format!("/app?a=1&userid={}&z=9", k * 104_729 % 1_000_003);
    (uri, "t".into(), String::new())
}

fn hdr_key(k: usize) -> (String, String, String) {
    // Some values carry a list: the first element is the key.
    let v = if k.is_multiple_of(4) {
        format!("tenant-{k}, other")
    } else {
        format!("tenant-{}-{}", k * 17, k % 3)
    };
    ("/".into(), "t".into(), format!("X-Key: {v}\r\n"))
}

fn cookie_key(k: usize) -> (String, String, String) {
    // Some carry it twice: the last one is the key. (Without it both fall
    // back to round robin, whose position depends on the thread.)
    let extra = if k.is_multiple_of(9) {
        format!("Cookie: id=x\r\nCookie: other=1; id=User-{k}\r\n")
    } else {
        format!("Cookie: a=1; id=User-{}; z=2\r\n", k * 31)
    };
    ("/".into(), "t".into(), extra)
}

fn host_key(k: usize) -> (String, String, String) {
    let host = match k % 3 {
        0 => format!("www.site{k}.com"),
        1 => format!("a.b.shop{k}.example.org"),
        _ => format!("site{k}.net"),
    };
    ("/".into(), host, String::new())
}

const CASES: &[Case] = &[
    Case {
        name: "hash_cookie_map",
        lines: &["balance hash req.cook(id)"],
        probe: Probe::Http(cookie_key),
        weights: None,
    },
    Case {
        name: "hash_cookie_lower_consistent",
        lines: &["balance hash req.cook(id),lower", "hash-type consistent"],
        probe: Probe::Http(cookie_key),
        weights: None,
    },
    Case {
        name: "hash_path_map_djb2",
        lines: &["balance hash path", "hash-type map-based djb2"],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        // An integer: hashed as 8 bytes, big-endian.
        name: "hash_path_length_int",
        lines: &["balance hash path,length"],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        name: "hash_src_consistent_avalanche",
        lines: &["balance hash src", "hash-type consistent sdbm avalanche"],
        probe: Probe::Source,
        weights: None,
    },
    Case {
        name: "uri_map_sdbm",
        lines: &["balance uri"],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        name: "uri_consistent_sdbm",
        lines: &["balance uri", "hash-type consistent"],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        name: "uri_consistent_named_sdbm",
        lines: &["balance uri", "hash-type consistent sdbm"],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        name: "uri_len_depth_whole_djb2",
        lines: &[
            "balance uri len 12 depth 2 whole",
            "hash-type map-based djb2",
        ],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        name: "uri_whole_consistent_wt6_avalanche",
        lines: &["balance uri whole", "hash-type consistent wt6 avalanche"],
        probe: Probe::Http(uri_key),
        weights: None,
    },
    Case {
        name: "uri_path_only_consistent_crc32",
        lines: &["balance uri path-only", "hash-type consistent crc32"],
        probe: Probe::Http(absolute_key),
        weights: None,
    },
    Case {
        name: "uri_map_gcd_weights",
        lines: &["balance uri", "hash-type map-based sdbm avalanche"],
        probe: Probe::Http(uri_key),
        weights: Some(&[4, 6, 2, 8]),
    },
    Case {
        name: "uri_consistent_avalanche",
        lines: &["balance uri", "hash-type consistent sdbm avalanche"],
        probe: Probe::Http(uri_key),
        weights: Some(&[10, 1, 30, 7]),
    },
    Case {
        name: "url_param_map_crc32_avalanche",
        lines: &[
            "balance url_param userid",
            "hash-type map-based crc32 avalanche",
        ],
        probe: Probe::Http(param_key),
        weights: None,
    },
    Case {
        name: "url_param_consistent_sdbm",
        lines: &["balance url_param userid", "hash-type consistent"],
        probe: Probe::Http(param_key),
        weights: None,
    },
    Case {
        name: "hdr_map_wt6",
        lines: &["balance hdr(x-key)", "hash-type map-based wt6"],
        probe: Probe::Http(hdr_key),
        weights: None,
    },
    Case {
        name: "hdr_consistent_djb2_avalanche",
        lines: &["balance hdr(X-Key)", "hash-type consistent djb2 avalanche"],
        probe: Probe::Http(hdr_key),
        weights: None,
    },
    Case {
        name: "hdr_host_domain_only",
        lines: &["balance hdr(Host) use_domain_only"],
        probe: Probe::Http(host_key),
        weights: None,
    },
    Case {
        name: "hdr_host_domain_only_consistent",
        lines: &[
            "balance hdr(host) use_domain_only",
            "hash-type consistent sdbm avalanche",
        ],
        probe: Probe::Http(host_key),
        weights: None,
    },
    Case {
        name: "source_map",
        lines: &["balance source"],
        probe: Probe::Source,
        weights: None,
    },
    Case {
        name: "source_map_avalanche",
        lines: &["balance source", "hash-type map-based djb2 avalanche"],
        probe: Probe::Source,
        weights: None,
    },
    Case {
        name: "source_consistent",
        lines: &["balance source", "hash-type consistent"],
        probe: Probe::Source,
        weights: None,
    },
    Case {
        name: "source_consistent_avalanche",
        lines: &["balance source", "hash-type consistent sdbm avalanche"],
        probe: Probe::Source,
        weights: None,
    },
    Case {
        name: "rdp_cookie_map",
        lines: &[
            "tcp-request inspect-delay 5s",
            "tcp-request content accept if { req.rdp_cookie_cnt gt 0 }",
            "balance rdp-cookie",
        ],
        probe: Probe::Rdp,
        weights: None,
    },
    Case {
        name: "rdp_cookie_consistent_avalanche",
        lines: &[
            "tcp-request inspect-delay 5s",
            "tcp-request content accept if { req.rdp_cookie_cnt gt 0 }",
            "balance rdp-cookie(mstshash)",
            "hash-type consistent sdbm avalanche",
        ],
        probe: Probe::Rdp,
        weights: None,
    },
];

/// The configuration: one `listen` per case on its port, servers named
/// `s0..` on the given HTTP (or RDP) backend ports.
fn config(ports: &[u16], http: &[u16], rdp: &[u16]) -> String {
    let mut s = String::from(
        "global\n    nbthread 1\n\ndefaults\n    timeout connect 2s\n    \
         timeout client 5s\n    timeout server 5s\n",
    );
    for (case, port) in CASES.iter().zip(ports) {
        let (mode, backends) = match case.probe {
            Probe::Rdp => ("tcp", rdp),
            _ => ("http", http),
        };
        s += &format!(
            "\nlisten {}\n    mode {mode}\n    bind 127.0.0.1:{port}\n",
            case.name
        );
        for l in case.lines {
            s += &format!("    {l}\n");
        }
        let weights = case.weights.unwrap_or(&WEIGHTS);
        for (i, w) in weights.iter().enumerate() {
            s += &format!("    server s{i} 127.0.0.1:{} weight {w}\n", backends[i]);
        }
    }
    s
}

/// The client address for source key `k`: spread over 127.0.0.0/8.
fn source_addr(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        (1 + k % 9) as u8,
        (k * 37 % 256) as u8,
        (1 + k * 13 % 250) as u8,
    )
}

/// Which server answers a GET sent from `from` (any loopback address).
fn http_server(port: u16, from: Option<Ipv4Addr>, uri: &str, host: &str, extra: &str) -> String {
    let stream = match from {
        None => TcpStream::connect(("127.0.0.1", port)).unwrap(),
        Some(ip) => {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
            sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
                .unwrap();
            sock.into()
        }
    };
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let req = format!("GET {uri} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    (&stream).write_all(req.as_bytes()).unwrap();
    let r = read_response(&mut BufStream::new(stream), false).unwrap();
    assert_eq!(r.status, 200, "{uri}: {}", r.text());
    r.server()
}

/// An X.224 Connection Request carrying `Cookie: mstshash=<user>`.
fn rdp_request(user: &str) -> Vec<u8> {
    let mut tail = format!("Cookie: mstshash={user}\r\n").into_bytes();
    tail.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x0b, 0x00, 0x00, 0x00]);
    let len = 11 + tail.len();
    let mut p = vec![0x03, 0x00, (len >> 8) as u8, len as u8];
    p.extend_from_slice(&[(len - 5) as u8, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00]);
    p.extend_from_slice(&tail);
    p
}

/// A TCP server that reads one TPKT, answers its name and a newline, and closes.
fn rdp_backend(name: String) -> TcpBackend {
    TcpBackend::start(move |mut s| {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < 4 || got.len() < usize::from(u16::from_be_bytes([got[2], got[3]])) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(format!("{name}\n").as_bytes());
    })
}

/// The server a proxy on `port` picks for key `k` of `case`.
fn pick(case: &Case, port: u16, k: usize) -> String {
    match case.probe {
        Probe::Http(key) => {
            let (uri, host, extra) = key(k);
            http_server(port, None, &uri, &host, &extra)
        }
        Probe::Source => http_server(port, Some(source_addr(k)), "/", "t", ""),
        Probe::Rdp => {
            let (out, _) = raw_exchange(port, &rdp_request(&format!("user{k}")), IO_TIMEOUT);
            let text = String::from_utf8_lossy(&out);
            text.split('\n').next().unwrap_or("").to_string()
        }
    }
}

#[test]
fn hashing_picks_the_server_haproxy_picks() {
    let most = CASES
        .iter()
        .map(|c| c.weights.map_or(WEIGHTS.len(), <[u32]>::len))
        .max()
        .unwrap();
    let http: Vec<HttpBackend> = (0..most)
        .map(|i| HttpBackend::start(&format!("s{i}")))
        .collect();
    let rdp: Vec<TcpBackend> = (0..most).map(|i| rdp_backend(format!("s{i}"))).collect();
    let http_ports: Vec<u16> = http.iter().map(HttpBackend::port).collect();
    let rdp_ports: Vec<u16> = rdp.iter().map(|b| b.port).collect();
    let ours: Vec<u16> = CASES.iter().map(|_| free_port()).collect();
    let theirs: Vec<u16> = CASES.iter().map(|_| free_port()).collect();
    let Some(_haproxy) = Haproxy::start(&config(&theirs, &http_ports, &rdp_ports), theirs[0])
    else {
        return;
    };
    let _lb = Ringlb::start(&config(&ours, &http_ports, &rdp_ports));
    let mut report = Vec::new();
    let mut total = 0;
    for (i, case) in CASES.iter().enumerate() {
        let mut differ = Vec::new();
        let mut used = std::collections::BTreeSet::new();
        for k in 0..KEYS {
            let want = pick(case, theirs[i], k);
            let got = pick(case, ours[i], k);
            if want != got {
                differ.push(format!("key {k}: haproxy {want}, ringlb {got}"));
            }
            used.insert(want);
        }
        total += KEYS;
        // Keys that all land on one server would prove nothing.
        assert!(used.len() >= 3, "{}: HAProxy used only {used:?}", case.name);
        if !differ.is_empty() {
            report.push(format!(
                "{}: {} of {KEYS} keys differ, e.g. {:?}",
                case.name,
                differ.len(),
                &differ[..differ.len().min(3)]
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    eprintln!(
        "{total} keys over {} configurations: all equal",
        CASES.len()
    );
}

/// The servers answering `n` GETs, each on a new connection, through `port`.
fn rotation(port: u16, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| http_server(port, None, "/", "t", ""))
        .collect()
}

/// `balance roundrobin` with two threads: new connections rotate strictly,
/// whichever thread (ringlb worker) accepts them, in HAProxy's order.
#[test]
fn roundrobin_rotates_strictly_across_threads_as_haproxy() {
    let http: Vec<HttpBackend> = (0..3)
        .map(|i| HttpBackend::start(&format!("s{i}")))
        .collect();
    let cfg = |equal: u16, weighted: u16| {
        let mut s = String::from(
            "global\n    nbthread 2\n\ndefaults\n    mode http\n    timeout connect 2s\n    \
             timeout client 5s\n    timeout server 5s\n",
        );
        for (name, port, weights) in [
            ("equal", equal, [1, 1, 1]),
            ("weighted", weighted, [3, 1, 2]),
        ] {
            s += &format!("\nlisten {name}\n    bind 127.0.0.1:{port}\n    balance roundrobin\n");
            for (i, (b, w)) in http.iter().zip(weights).enumerate() {
                s += &format!("    server s{i} 127.0.0.1:{} weight {w}\n", b.port());
            }
        }
        s
    };
    let (ours, theirs) = ((free_port(), free_port()), (free_port(), free_port()));
    let Some(_haproxy) = Haproxy::start(&cfg(theirs.0, theirs.1), theirs.0) else {
        return;
    };
    let _lb = Ringlb::start(&cfg(ours.0, ours.1));
    let (want, got) = (rotation(theirs.0, 30), rotation(ours.0, 30));
    for seq in [&want, &got] {
        for w in seq.windows(3) {
            assert!(w[0] != w[1] && w[1] != w[2] && w[0] != w[2], "{seq:?}");
        }
    }
    assert_eq!(got, want, "equal weights: ringlb's order is HAProxy's");
    // Weighted: every period of 6 connections holds each server's weight.
    for (who, port) in [("haproxy", theirs.1), ("ringlb", ours.1)] {
        let seq = rotation(port, 36);
        for period in seq.chunks(6) {
            let count = |s: &str| period.iter().filter(|x| *x == s).count();
            assert_eq!(
                (count("s0"), count("s1"), count("s2")),
                (3, 1, 2),
                "{who}: {seq:?}"
            );
        }
    }
}
