//! [`FakeDns`]: a DNS server on UDP 127.0.0.1 (random port) answering A
//! records from a table the test changes at run time, and [`IpBackend`], an
//! HTTP server on one loopback address that answers with that address (so a
//! test sees which resolved address got a request).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};

/// What the fake server says about a name.
#[derive(Debug, Clone)]
enum Entry {
    /// These A records (AAAA: none, NOERROR).
    A(Vec<Ipv4Addr>),
    /// NXDOMAIN.
    Nx,
}

/// A UDP DNS server answering from a table; stopped on drop.
pub struct FakeDns {
    /// Its UDP port on 127.0.0.1.
    pub port: u16,
    table: Arc<Mutex<HashMap<String, Entry>>>,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeDns {
    /// Starts the server with an empty table (every name NXDOMAIN).
    pub fn start() -> FakeDns {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind fake dns");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let table: Arc<Mutex<HashMap<String, Entry>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, q, st) = (table.clone(), queries.clone(), stop.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = answer(&buf[..n], &t.lock().unwrap()) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        FakeDns {
            port,
            table,
            queries,
            stop,
        }
    }

    /// Answers `name` with these IPv4 addresses from now on.
    pub fn set(&self, name: &str, ips: &[&str]) {
        let ips = ips.iter().map(|s| s.parse().expect("test IPv4")).collect();
        self.table
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), Entry::A(ips));
    }

    /// Answers NXDOMAIN for `name` from now on.
    pub fn nx(&self, name: &str) {
        self.table
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), Entry::Nx);
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The reply to one query, from the table.
fn answer(query: &[u8], table: &HashMap<String, Entry>) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    let question = q.questions.first()?.clone();
    let mut p = Packet::new_reply(q.id());
    p.set_flags(PacketFlag::RECURSION_AVAILABLE);
    let name = question.qname.to_string().to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    match table.get(name) {
        None | Some(Entry::Nx) => *p.rcode_mut() = RCODE::NameError,
        Some(Entry::A(ips)) => {
            if question.qtype == QTYPE::TYPE(TYPE::A) {
                for ip in ips {
                    p.answers.push(ResourceRecord::new(
                        question.qname.clone(),
                        CLASS::IN,
                        1,
                        RData::A(A {
                            address: u32::from(*ip),
                        }),
                    ));
                }
            }
        }
    }
    p.questions.push(question);
    p.build_bytes_vec().ok()
}

/// An HTTP server on `<ip>:<port>` whose every answer's body is `<ip>`;
/// connections are kept alive, so ringlb pools them.
pub struct IpBackend {
    /// Requests answered.
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl IpBackend {
    /// Listens on `ip:port` (a loopback address).
    pub fn start(ip: &str, port: u16) -> IpBackend {
        let listener = TcpListener::bind((ip, port)).expect("bind ip backend");
        listener.set_nonblocking(true).unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st, body) = (hits.clone(), stop.clone(), ip.to_string());
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((s, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (h, body) = (h.clone(), body.clone());
                thread::spawn(move || serve_keep_alive(s, &h, &body));
            }
        });
        IpBackend { hits, stop }
    }
}

/// Answers GETs on one connection (kept alive, so ringlb may pool it) until
/// the peer closes or stays silent for 2 s.
fn serve_keep_alive(mut s: std::net::TcpStream, hits: &AtomicUsize, body: &str) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        req.drain(..end);
        hits.fetch_add(1, Ordering::Relaxed);
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

impl Drop for IpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
