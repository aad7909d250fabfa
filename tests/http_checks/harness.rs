//! The harness of `tests/http_checks.rs`: a recording check server, the
//! configurations and the differential runner (HAProxy, then ringlb).

use super::*;

/// Requests whose path starts with this are traffic (answered with the
/// server's name), not checks.
pub(super) const TRAFFIC: &str = "/traffic";

/// A check server: records every check request's raw bytes and answers it
/// with the current canned answer, closing after each.
pub(super) struct CheckServer {
    pub(super) port: u16,
    pub(super) name: String,
    pub(super) requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub(super) traffic: Arc<Mutex<usize>>,
}

impl CheckServer {
    pub(super) fn start(name: &str, answer: &[u8]) -> CheckServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let traffic = Arc::new(Mutex::new(0));
        let (reqs, served, answer, me) = (
            requests.clone(),
            traffic.clone(),
            answer.to_vec(),
            name.to_string(),
        );
        thread::spawn(move || {
            for c in l.incoming().flatten() {
                let (reqs, served, answer, me) =
                    (reqs.clone(), served.clone(), answer.clone(), me.clone());
                thread::spawn(move || serve(c, &reqs, &served, &answer, &me));
            }
        });
        CheckServer {
            port,
            name: name.into(),
            requests,
            traffic,
        }
    }

    pub(super) fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().expect("lock").clone()
    }

    pub(super) fn served(&self) -> usize {
        *self.traffic.lock().expect("lock")
    }
}

/// One connection: reads a request (head and `Content-Length` body), answers.
pub(super) fn serve(
    mut c: TcpStream,
    reqs: &Mutex<Vec<Vec<u8>>>,
    served: &Mutex<usize>,
    answer: &[u8],
    me: &str,
) {
    c.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match c.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                break;
            }
        }
    }
    if got.is_empty() {
        return;
    }
    let traffic = got
        .split(|&b| b == b' ')
        .nth(1)
        .is_some_and(|p| p.starts_with(TRAFFIC.as_bytes()));
    if traffic {
        *served.lock().expect("lock") += 1;
        let _ = c.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{me}",
                me.len()
            )
            .as_bytes(),
        );
        return;
    }
    reqs.lock().expect("lock").push(got);
    if answer == SILENT {
        // Holds the connection open without a word, past `timeout check`.
        thread::sleep(Duration::from_secs(2));
        return;
    }
    let _ = c.write_all(answer);
}

pub(super) const OK_HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Foo: bar, baz\r\n\r\nhello world";
pub(super) const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nsorry";
/// Not an answer: the server stays silent.
pub(super) const SILENT: &[u8] = b"(silent)";
pub(super) const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

/// What one implementation did with a configuration.
#[derive(Debug)]
pub(super) struct Seen {
    /// The first check request each check server received.
    pub(super) first_requests: Vec<Vec<u8>>,
    /// The first `log-health-checks` line about be/s1 (duration normalised).
    pub(super) check_line: String,
    /// The `Server be/s1 ...` state lines, in order.
    pub(super) state_lines: Vec<String>,
    /// `show stat`'s status of be/s1.
    pub(super) status: String,
    /// `show servers state`'s `srv_op_state` of be/s1 (2 running, 3 stopping).
    pub(super) op_state: String,
}

/// Which program runs the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Impl {
    Haproxy,
    Ringlb,
}

/// A running HAProxy or ringlb.
pub(super) enum Running {
    H(Haproxy),
    R(Ringlb),
}

impl Running {
    pub(super) fn stderr(&self) -> String {
        match self {
            Running::H(h) => h.stderr(),
            Running::R(r) => r.stderr(),
        }
    }
}

/// The configuration: `backend` gets the check servers' ports.
pub(super) fn config(port: u16, sock: &Path, backend: &str) -> String {
    format!(
        "global\n    log stderr format raw local0\n    stats socket {} level admin\n\
         defaults\n    mode http\n    log global\n    option log-health-checks\n\
         \x20   timeout connect 1s\n    timeout client 2s\n    timeout server 2s\n\
         backend be\n{backend}\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n",
        sock.display()
    )
}

/// `server s<i> ... check inter 100 rise 1 fall 1` for each port.
pub(super) fn server_lines(ports: &[u16], extra: &str) -> String {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "    server s{} 127.0.0.1:{p} check inter 100 rise 1 fall 1{extra}\n",
                i + 1
            )
        })
        .collect()
}

/// `check duration: 12ms` → `check duration: Nms`.
pub(super) fn normalize(line: &str) -> String {
    let key = "check duration: ";
    let Some(i) = line.find(key) else {
        return line.to_string();
    };
    let start = i + key.len();
    let digits = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .count();
    format!("{}N{}", &line[..start], &line[start + digits..])
}

/// Starts `which` on the configuration `backend(ports)` gives, against fresh
/// check servers answering `answers`, waits until be/s1 was checked twice
/// and logged, runs `traffic` on the frontend port, and reports.
pub(super) fn observe(
    which: Impl,
    answers: &[&[u8]],
    backend: &dyn Fn(&[u16]) -> String,
    traffic: &dyn Fn(u16, &[CheckServer]),
) -> Option<Seen> {
    let servers: Vec<CheckServer> = answers
        .iter()
        .enumerate()
        .map(|(i, a)| CheckServer::start(&format!("s{}", i + 1), a))
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let dir = TestDir::new("http-checks");
    let sock = dir.path().join("stats.sock");
    let port = free_port();
    let cfg = config(port, &sock, &backend(&ports));
    let running = match which {
        Impl::Haproxy => Running::H(Haproxy::start(&cfg, port)?),
        Impl::Ringlb => Running::R(Ringlb::start(&cfg)),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logged = running
            .stderr()
            .lines()
            .any(|l| l.starts_with("Health check for server be/s1 "));
        if logged && servers[0].requests().len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{which:?}: be/s1 not checked twice; stderr:\n{}",
            running.stderr()
        );
        thread::sleep(Duration::from_millis(20));
    }
    traffic(port, &servers);
    let stderr = running.stderr();
    let check_line = stderr
        .lines()
        .find(|l| l.starts_with("Health check for server be/s1 "))
        .map(normalize)
        .unwrap_or_default();
    let state_lines = stderr
        .lines()
        .filter(|l| l.starts_with("Server be/s1 "))
        .map(str::to_string)
        .collect();
    let rows = parse_stats_csv(&stats_command(&sock, "show stat"));
    let status = stats_row(&rows, "be", "s1")["status"].clone();
    let op_state = stats_command(&sock, "show servers state be")
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(3) == Some(&"s1"))
        .and_then(|f| f.get(5).map(|s| s.to_string()))
        .unwrap_or_default();
    // Each run has its own check servers: their ports read as PORT.
    let first_requests = servers
        .iter()
        .map(|s| {
            let mut text =
                String::from_utf8_lossy(&s.requests().into_iter().next().unwrap_or_default())
                    .into_owned();
            for p in &ports {
                text = text.replace(&format!("port={p};"), "port=PORT;");
            }
            // A PROXY line names the check's own ephemeral port.
            if let Some(end) = text.find("\r\n").filter(|_| text.starts_with("PROXY ")) {
                text.replace_range(..end, "PROXY");
            }
            text.into_bytes()
        })
        .collect();
    Some(Seen {
        first_requests,
        check_line,
        state_lines,
        status,
        op_state,
    })
}

/// Runs ringlb (and HAProxy when installed) and asserts they agree; returns ringlb's view.
pub(super) fn differential(
    answers: &[&[u8]],
    backend: &dyn Fn(&[u16]) -> String,
    traffic: &dyn Fn(u16, &[CheckServer]),
) -> Seen {
    let ours = observe(Impl::Ringlb, answers, backend, traffic).expect("ringlb runs");
    if let Some(theirs) = observe(Impl::Haproxy, answers, backend, traffic) {
        for (i, (a, b)) in ours
            .first_requests
            .iter()
            .zip(&theirs.first_requests)
            .enumerate()
        {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b),
                "check request to server {i} (ringlb, haproxy)"
            );
        }
        assert_eq!(
            ours.check_line, theirs.check_line,
            "log line (ringlb, haproxy)"
        );
        assert_eq!(
            ours.state_lines, theirs.state_lines,
            "state lines (ringlb, haproxy)"
        );
        assert_eq!(
            ours.status, theirs.status,
            "show stat status (ringlb, haproxy)"
        );
    }
    ours
}

pub(super) fn no_traffic(_: u16, _: &[CheckServer]) {}

/// A backend of `option httpchk <args>` plus `rules`, one server per answer.
pub(super) fn rules(
    httpchk: &'static str,
    rules: &'static [&'static str],
) -> impl Fn(&[u16]) -> String {
    move |ports| {
        let mut s = format!("    option httpchk{httpchk}\n");
        for r in rules {
            s += &format!("    http-check {r}\n");
        }
        s + &server_lines(ports, "")
    }
}

pub(super) fn check_line(tail: &str) -> String {
    format!("Health check for server be/s1 {tail}")
}
