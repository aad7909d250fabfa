//! `agent-check` end to end, on ringlb and then on HAProxy 2.6 with the same
//! configuration text and the same scripted agent answers: the server's
//! state and weight read through each process's stats socket (`show
//! servers state`), the agent's log lines (`option log-health-checks`, on
//! stderr: ringlb prints `[WARNING] ` before them, HAProxy `[WARNING]
//! (<pid>) : `, so lines are compared from "Agent check"/"Server " on), what
//! the agent receives (`agent-send`), and that a drained server gets no new
//! clients.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Haproxy, Ringlb, TcpBackend, TestDir, free_port, parse_stats_csv, stats_command, stats_row,
};

/// A scripted agent: answers every connection with the current line.
struct Agent {
    port: u16,
    line: Arc<Mutex<String>>,
    /// Connections answered with the current line.
    served: Arc<AtomicUsize>,
    /// What the last connection sent before the answer.
    received: Arc<Mutex<Vec<u8>>>,
}

impl Agent {
    fn start(first: &str) -> Agent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let line = Arc::new(Mutex::new(first.to_string()));
        let served = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (ln, sv, rc) = (line.clone(), served.clone(), received.clone());
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                c.set_read_timeout(Some(Duration::from_millis(100))).ok();
                let mut got = Vec::new();
                let mut buf = [0u8; 256];
                // `agent-send` ends with a line feed here; without it, the
                // read times out and the agent answers anyway.
                while !got.ends_with(b"\n") {
                    match c.read(&mut buf) {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                *rc.lock().unwrap() = got;
                let answer = ln.lock().unwrap().clone();
                let _ = c.write_all(answer.as_bytes());
                sv.fetch_add(1, Ordering::SeqCst);
            }
        });
        Agent {
            port,
            line,
            served,
            received,
        }
    }

    /// Answers `line` from now on and waits until two checks got it.
    fn say(&self, line: &str) {
        *self.line.lock().unwrap() = line.to_string();
        self.served.store(0, Ordering::SeqCst);
        let start = Instant::now();
        while self.served.load(Ordering::SeqCst) < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the agent was not asked"
            );
            thread::sleep(Duration::from_millis(10));
        }
        // The answer is applied just after it is written.
        thread::sleep(Duration::from_millis(50));
    }
}

/// One server's `show servers state` fields: op state, admin state, uweight.
fn server_state(sock: &Path, be: &str, srv: &str) -> (String, String, String) {
    let out = stats_command(sock, &format!("show servers state {be}"));
    let mut lines = out.lines().filter(|l| !l.is_empty());
    let _version = lines.next();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(' ')
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        if f[col("srv_name")] == srv {
            return (
                f[col("srv_op_state")].into(),
                f[col("srv_admin_state")].into(),
                f[col("srv_uweight")].into(),
            );
        }
    }
    panic!("no server {be}/{srv} in:\n{out}");
}

/// `show servers state`'s check and agent columns of `test/a`.
fn agent_columns(sock: &Path) -> Vec<String> {
    let out = stats_command(sock, "show servers state test");
    let mut lines = out.lines().filter(|l| !l.is_empty()).skip(1);
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(' ')
        .collect();
    let f: Vec<&str> = lines.next().unwrap().split(' ').collect();
    [
        "srv_check_status",
        "srv_check_result",
        "srv_check_health",
        "srv_check_state",
        "srv_agent_state",
        "srv_agent_addr",
        "srv_agent_port",
    ]
    .iter()
    .map(|c| format!("{c}={}", f[header.iter().position(|h| h == c).unwrap()]))
    .collect()
}

/// The `show stat` fields of server `test/a` that show the agent and the state.
/// (Not `weight`: HAProxy shows a drained server's weight, ringlb 0, by
/// the stats socket's drain as well; not the agent's doing.)
const AGENT_FIELDS: &[&str] = &[
    "status",
    "agent_status",
    "agent_code",
    "agent_desc",
    "last_agt",
    "agent_rise",
    "agent_fall",
    "agent_health",
];

fn agent_stats(sock: &Path) -> Vec<String> {
    let rows = parse_stats_csv(&stats_command(sock, "show stat"));
    let row = stats_row(&rows, "test", "a");
    AGENT_FIELDS
        .iter()
        .map(|f| format!("{f}={}", row.get(*f).map_or("-", String::as_str)))
        .collect()
}

/// The checker's lines of a stderr text, from "Agent check"/"Server " on,
/// check durations written `Nms` (they differ run to run).
fn agent_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let at = ["Agent check", "Server ", "backend "]
                .iter()
                .filter_map(|k| l.find(k))
                .min()?;
            Some(normalize(&l[at..]))
        })
        .collect()
}

fn normalize(l: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while let Some(i) = rest.find("check duration: ") {
        let (head, tail) = rest.split_at(i + "check duration: ".len());
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        out.push('N');
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// The scenario's result on one process.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    /// (answer, (op state, admin state, uweight)) after each answer.
    states: Vec<(String, (String, String, String))>,
    /// `show stat`'s agent fields after each answer.
    stats: Vec<Vec<String>>,
    /// Clients the drained server got (must be 0) and the other one.
    drained_traffic: (usize, usize),
    /// What the agent received.
    received: Vec<u8>,
    lines: Vec<String>,
}

const ANSWERS: &[&str] = &[
    "75%\n",
    "drain\n",
    "ready,50%\n",
    "down # maintenance window\n",
    "up\n",
    "maint\n",
    "READY 100%\r\n",
    "bogus 20%\n",
    "fail\n",
    "stopped 30% # again\n",
    "up\tready\n",
];

/// Reads a process's stderr so far.
type Stderr = Box<dyn Fn() -> String>;

/// Starts a process on a config and its bind port; `None` when HAProxy is missing.
type Start<'a> = &'a dyn Fn(&str, u16) -> Option<Stderr>;

fn config(port: u16, sock: &Path, agent: u16, a: u16, b: u16, check: &str) -> String {
    format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen test\n    bind 127.0.0.1:{port}\n    option log-health-checks\n    balance roundrobin\n\
         \x20   server a 127.0.0.1:{a} weight 10 agent-check agent-port {agent} agent-inter 100ms agent-send \"hello\\n\"{check}\n\
         \x20   server b 127.0.0.1:{b} weight 10\n",
        sock.display()
    )
}

/// Runs the scenario on one process, started by `start` on the config.
fn scenario(start: Start<'_>, check: &str) -> Option<Run> {
    let agent = Agent::start("up\n");
    let (a, b) = (TcpBackend::echo(), TcpBackend::echo());
    let dir = TestDir::new("agent");
    let sock = dir.path().join("s.sock");
    let port = free_port();
    let stderr = start(
        &config(port, &sock, agent.port, a.port, b.port, check),
        port,
    )?;
    // The first answers are the initial "up": seen before the script starts,
    // however late the process starts checking.
    agent.say("up\n");
    let mut states = Vec::new();
    let mut stats = Vec::new();
    let mut drained_traffic = (0, 0);
    for answer in ANSWERS {
        agent.say(answer);
        states.push((answer.to_string(), server_state(&sock, "test", "a")));
        stats.push(agent_stats(&sock));
        if answer.starts_with("drain") {
            let (before_a, before_b) = (a.accepted(), b.accepted());
            for _ in 0..6 {
                let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.write_all(b"x").unwrap();
                let mut one = [0u8; 1];
                c.read_exact(&mut one).unwrap();
            }
            drained_traffic = (a.accepted() - before_a, b.accepted() - before_b);
        }
    }
    let received = agent.received.lock().unwrap().clone();
    Some(Run {
        states,
        stats,
        drained_traffic,
        received,
        lines: agent_lines(&stderr()),
    })
}

fn ringlb(cfg: &str, _port: u16) -> Option<Stderr> {
    let lb = Arc::new(Ringlb::start(cfg));
    Some(Box::new(move || lb.stderr()))
}

fn haproxy(cfg: &str, port: u16) -> Option<Stderr> {
    let h = Arc::new(Haproxy::start(cfg, port)?);
    Some(Box::new(move || h.stderr()))
}

/// Both runs compared, field by field.
fn compare(ours: &Run, theirs: &Run) {
    assert_eq!(ours.states, theirs.states);
    assert_eq!(ours.drained_traffic, theirs.drained_traffic);
    for (i, (o, t)) in ours.stats.iter().zip(&theirs.stats).enumerate() {
        assert_eq!(o, t, "show stat after {:?}", ANSWERS[i]);
    }
    assert_eq!(ours.received, theirs.received);
    assert_eq!(
        ours.lines,
        theirs.lines,
        "ours:\n{}\ntheirs:\n{}",
        ours.lines.join("\n"),
        theirs.lines.join("\n")
    );
}

/// With a health check beside the agent (always passing, `rise 1`): an
/// agent's `down` still takes the server DOWN and the passing checks do
/// not bring it back while the agent says so; its `up` does.
#[test]
fn agent_beside_a_health_check_as_haproxy() {
    const CHECK: &str = " check inter 100ms rise 1 fall 1";
    let ours = scenario(&ringlb, CHECK).unwrap();
    let op: Vec<&str> = ours.states.iter().map(|(_, s)| s.0.as_str()).collect();
    assert_eq!(op, ["2", "2", "2", "0", "2", "0", "2", "2", "0", "0", "2"]);
    if let Some(theirs) = scenario(&haproxy, CHECK) {
        compare(&ours, &theirs);
    }
}

#[test]
fn agent_answers_move_weight_and_state_as_haproxy() {
    let ours = scenario(&ringlb, "").unwrap();
    let expect_states: Vec<(&str, &str, &str)> = vec![
        ("2", "0", "7"),
        ("2", "8", "7"),
        ("2", "0", "5"),
        ("0", "0", "5"),
        ("2", "0", "5"),
        ("0", "1", "5"),
        ("2", "0", "10"),
        ("2", "0", "2"),
        ("0", "0", "2"),
        ("0", "0", "3"),
        ("2", "0", "3"),
    ];
    let got: Vec<(&str, &str, &str)> = ours
        .states
        .iter()
        .map(|(_, (o, a, w))| (o.as_str(), a.as_str(), w.as_str()))
        .collect();
    assert_eq!(got, expect_states, "{:#?}", ours);
    assert_eq!(
        ours.drained_traffic,
        (0, 6),
        "a drained server gets no new client"
    );
    assert_eq!(ours.received, b"hello\n");
    if let Some(theirs) = scenario(&haproxy, "") {
        compare(&ours, &theirs);
    }
}

/// What an unreachable agent leaves: log lines, `show servers state`, `show stat`.
type Quiet = (
    Vec<String>,
    (String, String, String),
    Vec<String>,
    Vec<String>,
);

/// An agent nobody answers for: HAProxy logs the failure once and changes
/// nothing (the server stays UP, its agent healthy); so does ringlb.
#[test]
fn an_unreachable_agent_changes_nothing() {
    let nobody = common::closed_port();
    let run = |start: Start<'_>| -> Option<Quiet> {
        let backend = TcpBackend::echo();
        let dir = TestDir::new("agent-off");
        let sock = dir.path().join("s.sock");
        let port = free_port();
        let cfg = format!(
            "global\n    stats socket {} level admin\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             listen test\n    bind 127.0.0.1:{port}\n    option log-health-checks\n\
             \x20   server a 127.0.0.1:{} agent-check agent-port {} agent-addr 127.0.0.1 \
             agent-inter 100ms\n",
            sock.display(),
            backend.port,
            nobody
        );
        let stderr = start(&cfg, port)?;
        thread::sleep(Duration::from_millis(600));
        let lines = agent_lines(&stderr());
        Some((
            lines,
            server_state(&sock, "test", "a"),
            agent_stats(&sock),
            agent_columns(&sock),
        ))
    };
    let ours = run(&ringlb).unwrap();
    assert_eq!(
        ours.0,
        [
            "Agent check for server test/a failed, reason: Layer4 connection problem, info: \
          \"Connection refused\", check duration: Nms, status: 1/1 UP."
        ]
    );
    assert_eq!(ours.1, ("2".into(), "0".into(), "1".into()));
    if let Some(theirs) = run(&haproxy) {
        assert_eq!(ours, theirs);
    }
}

/// The agent's `maxconn:<n>`, as HAProxy's `server_parse_maxconn_change_request`:
/// the server's limit (`show stat`'s `slim`) after each answer, with the
/// agent's status and description (a refused value is a warning there) and
/// the log lines. (Not `maxconn:` alone: HAProxy's warning then ends with a
/// line feed that splits its CSV line; ringlb keeps it too.)
#[test]
fn agent_maxconn_sets_the_server_limit_as_haproxy() {
    const MAXCONN: &[&str] = &[
        "up maxconn:5\n",
        "maxconn:abc\n",
        "up maxconn:7x # busy\n",
        "maxconn:12 50%\n",
        "MAXCONN:0\n",
        "maxconn:-3 up\n",
        "maxconn:9\n",
    ];
    let run = |start: Start<'_>| -> Option<(Vec<Vec<String>>, Vec<String>)> {
        let agent = Agent::start("up\n");
        let (a, b) = (TcpBackend::echo(), TcpBackend::echo());
        let dir = TestDir::new("agent-maxconn");
        let sock = dir.path().join("s.sock");
        let port = free_port();
        let stderr = start(&config(port, &sock, agent.port, a.port, b.port, ""), port)?;
        agent.say("up\n");
        let mut seen = Vec::new();
        for answer in MAXCONN {
            agent.say(answer);
            let rows = parse_stats_csv(&stats_command(&sock, "show stat"));
            let row = stats_row(&rows, "test", "a");
            let mut got = vec![answer.to_string()];
            for f in ["slim", "status", "weight", "agent_status", "agent_desc"] {
                got.push(format!("{f}={}", row.get(f).map_or("-", String::as_str)));
            }
            seen.push(got);
        }
        Some((seen, agent_lines(&stderr())))
    };
    let ours = run(&ringlb).unwrap();
    let slim: Vec<&str> = ours.0.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        slim,
        [
            "slim=5",
            "slim=5",
            "slim=5",
            "slim=12",
            "slim=",
            "slim=4294967293",
            "slim=9"
        ],
        "{:#?}",
        ours
    );
    if let Some(theirs) = run(&haproxy) {
        assert_eq!(ours.0, theirs.0);
        assert_eq!(ours.1, theirs.1);
    }
}
