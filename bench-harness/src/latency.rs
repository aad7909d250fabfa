//! The latency scenario's client: open-loop HTTP/1.1 keep-alive load at a
//! fixed rate (wrk has no such mode and Debian has no wrk2).
//!
//! Each connection sends at evenly spaced *intended* times (connection g of
//! C sends request k at t0 + g/R + k·C/R, so all connections together send
//! every 1/R s). A request whose predecessor has not been answered by then
//! is sent as soon as the answer arrives, and its latency still counts from
//! the intended time: a stalled target shows up in the percentiles instead
//! of quietly lowering the offered rate (coordinated omission corrected).
//! A response counts only once its whole Content-Length body has arrived.
//!
//! Each thread runs its own epoll loop with a timerfd (sub-millisecond
//! wake-ups; epoll_wait's timeout is in milliseconds).

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::http1::parse_head;

/// What to send, how fast, for how long.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Request path.
    pub path: String,
    /// Requests per second, all connections together.
    pub rate: f64,
    /// Keep-alive connections.
    pub connections: usize,
    /// Threads, each driving a share of the connections.
    pub threads: usize,
    /// Load before recording starts.
    pub warmup: Duration,
    /// Recorded time.
    pub duration: Duration,
    /// Time allowed after the end for answers still owed.
    pub drain: Duration,
}

/// What one client run measured (all threads merged).
pub struct Outcome {
    /// Latency in µs of each request intended inside the recorded window.
    pub hist: Histogram<u64>,
    /// Answers completed inside the recorded window (achieved rate × duration).
    pub in_window: u64,
    /// Answers completed over the whole run, warm-up included.
    pub total: u64,
    /// Failed requests intended inside the window (socket errors, non-200).
    pub errors: u64,
    /// Requests intended inside the window still unanswered at the drain
    /// deadline; recorded with the time they had waited (a lower bound).
    pub unfinished: u64,
    /// The first failure seen, warm-up included.
    pub first_error: Option<String>,
}

impl Outcome {
    fn empty() -> Result<Outcome> {
        Ok(Outcome {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            in_window: 0,
            total: 0,
            errors: 0,
            unfinished: 0,
            first_error: None,
        })
    }

    fn merge(&mut self, other: Outcome) -> Result<()> {
        self.hist.add(&other.hist)?;
        self.in_window += other.in_window;
        self.total += other.total;
        self.errors += other.errors;
        self.unfinished += other.unfinished;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }

    /// The one-line summary the `latency-client` subcommand prints.
    pub fn result_line(&self) -> String {
        let q = |x: f64| self.hist.value_at_quantile(x);
        format!(
            "result p50_us={} p90_us={} p99_us={} p999_us={} max_us={} recorded={} in_window={} total={} errors={} unfinished={}",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            self.hist.max(),
            self.hist.len(),
            self.in_window,
            self.total,
            self.errors,
            self.unfinished
        )
    }
}

/// Runs the plan: connects every connection, then loads for warm-up +
/// duration (+ drain) and returns the merged measurements.
pub fn run(plan: &Plan) -> Result<Outcome> {
    if plan.rate <= 0.0 || plan.connections == 0 || plan.threads == 0 {
        bail!("rate, connections and threads must be positive");
    }
    let threads = plan.threads.min(plan.connections);
    // Every thread connects first; the schedule starts for all at once.
    let t0 = Instant::now()
        + Duration::from_millis(200)
        + Duration::from_micros(200) * plan.connections as u32;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let plan = plan.clone();
            let lo = plan.connections * t / threads;
            let hi = plan.connections * (t + 1) / threads;
            std::thread::spawn(move || Driver::new(&plan, lo..hi, t0)?.run())
        })
        .collect();
    let mut all = Outcome::empty()?;
    for h in handles {
        match h.join() {
            Ok(part) => all.merge(part?)?,
            Err(_) => bail!("a client thread panicked"),
        }
    }
    Ok(all)
}

/// The `latency-client` subcommand: runs the plan and prints the summary
/// line (after a `first_error:` line if anything failed).
pub fn client_main(plan: &Plan) -> Result<()> {
    let out = run(plan)?;
    if let Some(e) = &out.first_error {
        println!("first_error: {}", e.replace('\n', " "));
    }
    println!("{}", out.result_line());
    Ok(())
}

/// One client run as read back from the subcommand's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResult {
    /// Percentiles 50, 90, 99, 99.9 and the maximum, in µs.
    pub p50: u64,
    /// 90th percentile, µs.
    pub p90: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// 99.9th percentile, µs.
    pub p999: u64,
    /// Maximum, µs.
    pub max: u64,
    /// Latencies recorded.
    pub recorded: u64,
    /// Answers completed inside the recorded window.
    pub in_window: u64,
    /// Answers over the whole run (warm-up included).
    pub total: u64,
    /// Failed requests in the window.
    pub errors: u64,
    /// Requests of the window unanswered at the end.
    pub unfinished: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// Parses what `latency-client` printed.
pub fn parse_output(text: &str) -> Result<RunResult> {
    let mut r = RunResult::default();
    let mut saw = false;
    for line in text.lines().map(str::trim) {
        if let Some(e) = line.strip_prefix("first_error: ") {
            r.first_error = Some(e.to_string());
        } else if let Some(rest) = line.strip_prefix("result ") {
            saw = true;
            for kv in rest.split_whitespace() {
                let (k, v) = kv.split_once('=').context("key=value")?;
                let v: u64 = v.parse().with_context(|| format!("value of {k}"))?;
                match k {
                    "p50_us" => r.p50 = v,
                    "p90_us" => r.p90 = v,
                    "p99_us" => r.p99 = v,
                    "p999_us" => r.p999 = v,
                    "max_us" => r.max = v,
                    "recorded" => r.recorded = v,
                    "in_window" => r.in_window = v,
                    "total" => r.total = v,
                    "errors" => r.errors = v,
                    "unfinished" => r.unfinished = v,
                    _ => {}
                }
            }
        }
    }
    if !saw {
        bail!("no result line in the latency client's output");
    }
    Ok(r)
}

/// Token of the timerfd in the epoll set (connections use their index).
const TIMER: u64 = u64::MAX;

/// One keep-alive connection and its place in the schedule.
struct Conn {
    /// Global connection number (sets its offset in the schedule).
    g: usize,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Index of the next request to send.
    next_k: u64,
    /// Intended time of request `next_k`.
    next_due: Instant,
    /// Intended time of the request awaiting its answer.
    in_flight: Option<Instant>,
}

/// One thread's share of the load.
struct Driver {
    port: u16,
    request: Vec<u8>,
    t0: Instant,
    offset_step: f64,
    period: f64,
    start: Instant,
    end: Instant,
    deadline: Instant,
    conns: Vec<Conn>,
    epoll: OwnedFd,
    timer: OwnedFd,
    armed_for: Option<Instant>,
    out: Outcome,
}

impl Driver {
    fn new(plan: &Plan, ids: std::ops::Range<usize>, t0: Instant) -> Result<Driver> {
        // Timer expiries are otherwise coalesced by up to 50 µs.
        // SAFETY: prctl with PR_SET_TIMERSLACK takes an integer argument.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        // SAFETY: plain syscalls; the fds are owned right away.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(std::io::Error::last_os_error()).context("epoll_create1");
        }
        // SAFETY: epoll is a new fd owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
        // SAFETY: plain syscall.
        let timer = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) };
        if timer < 0 {
            return Err(std::io::Error::last_os_error()).context("timerfd_create");
        }
        // SAFETY: timer is a new fd owned by nobody else.
        let timer = unsafe { OwnedFd::from_raw_fd(timer) };
        let warmup_end = t0 + plan.warmup;
        let end = warmup_end + plan.duration;
        let mut d = Driver {
            port: plan.port,
            request: format!("GET {} HTTP/1.1\r\nHost: bench\r\n\r\n", plan.path).into_bytes(),
            t0,
            offset_step: 1.0 / plan.rate,
            period: plan.connections as f64 / plan.rate,
            start: warmup_end,
            end,
            deadline: end + plan.drain,
            conns: Vec::new(),
            epoll,
            timer,
            armed_for: None,
            out: Outcome::empty()?,
        };
        d.watch(d.timer.as_raw_fd(), TIMER)?;
        for g in ids {
            let next_due = d.intended(g, 0);
            d.conns.push(Conn {
                g,
                stream: None,
                buf: Vec::with_capacity(4096),
                next_k: 0,
                next_due,
                in_flight: None,
            });
            let i = d.conns.len() - 1;
            if let Err(e) = d.connect(i) {
                d.fail(None, &format!("{e:#}"));
            }
        }
        Ok(d)
    }

    /// Intended send time of request `k` on connection `g`.
    fn intended(&self, g: usize, k: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(g as f64 * self.offset_step + k as f64 * self.period)
    }

    fn watch(&self, fd: i32, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both fds are open; ev lives across the call.
        let rc =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("epoll_ctl");
        }
        Ok(())
    }

    fn connect(&mut self, i: usize) -> Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).context("connect")?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        self.watch(s.as_raw_fd(), i as u64)?;
        self.conns[i].buf.clear();
        self.conns[i].stream = Some(s);
        Ok(())
    }

    /// Counts a failure of the request intended at `intended` (if it belongs
    /// to the recorded window) and keeps the first message.
    fn fail(&mut self, intended: Option<Instant>, why: &str) {
        if intended.is_some_and(|t| t >= self.start) {
            self.out.errors += 1;
        }
        if self.out.first_error.is_none() {
            self.out.first_error = Some(why.to_string());
        }
    }

    /// Sends request `next_k` on connection `i` (reconnecting if needed).
    fn send(&mut self, i: usize) {
        let intended = self.conns[i].next_due;
        let next = self.intended(self.conns[i].g, self.conns[i].next_k + 1);
        let c = &mut self.conns[i];
        c.next_k += 1;
        c.next_due = next;
        if c.stream.is_none()
            && let Err(e) = self.connect(i)
        {
            self.fail(Some(intended), &format!("{e:#}"));
            return;
        }
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_mut() else { return };
        // A request this small always fits an idle socket's send buffer.
        match s.write(&self.request) {
            Ok(n) if n == self.request.len() => c.in_flight = Some(intended),
            Ok(_) => {
                c.stream = None;
                self.fail(Some(intended), "short write");
            }
            Err(e) => {
                c.stream = None;
                self.fail(Some(intended), &format!("write: {e}"));
            }
        }
    }

    /// Reads what connection `i` has and completes its request if the whole
    /// answer is in.
    fn readable(&mut self, i: usize) {
        let mut chunk = [0u8; 16 * 1024];
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_mut() else { return };
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => {
                c.stream = None;
                let it = c.in_flight.take();
                self.fail(it, &format!("read: {e}"));
                return;
            }
        };
        if n == 0 {
            c.stream = None;
            // A close between requests is the server's right: reconnect later.
            if let Some(it) = c.in_flight.take() {
                self.fail(Some(it), "closed before a full answer");
            }
            return;
        }
        c.buf.extend_from_slice(&chunk[..n]);
        let Some(it) = c.in_flight else {
            c.stream = None;
            self.fail(None, "data without a request");
            return;
        };
        let head = match parse_head(&c.buf) {
            Ok(Some(h)) if c.buf.len() >= h.total_len => h,
            Ok(_) => return,
            Err(e) => {
                c.stream = None;
                c.in_flight = None;
                self.fail(Some(it), &format!("{e:#}"));
                return;
            }
        };
        let now = Instant::now();
        let extra = c.buf.len() > head.total_len;
        c.buf.clear();
        c.in_flight = None;
        if head.close || extra {
            c.stream = None;
        }
        if head.status != 200 {
            self.fail(Some(it), &format!("status {}", head.status));
            return;
        }
        self.out.total += 1;
        if now >= self.start && now < self.end {
            self.out.in_window += 1;
        }
        if it >= self.start {
            let us = now.saturating_duration_since(it).as_micros() as u64;
            self.out.hist.saturating_record(us.max(1));
        }
    }

    /// Arms the timer to fire at `at` (no syscall if it already will).
    fn arm(&mut self, at: Instant, now: Instant) -> Result<()> {
        if self.armed_for == Some(at) {
            return Ok(());
        }
        // A zero it_value would disarm the timer.
        let d = at
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the timerfd is open; spec lives across the call.
        let rc = unsafe {
            libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("timerfd_settime");
        }
        self.armed_for = Some(at);
        Ok(())
    }

    fn run(mut self) -> Result<Outcome> {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let now = Instant::now();
            let mut earliest: Option<Instant> = None;
            for i in 0..self.conns.len() {
                while self.conns[i].in_flight.is_none()
                    && self.conns[i].next_due < self.end
                    && self.conns[i].next_due <= now
                {
                    self.send(i);
                }
                let c = &self.conns[i];
                if c.in_flight.is_none() && c.next_due < self.end {
                    earliest = Some(earliest.map_or(c.next_due, |e| e.min(c.next_due)));
                }
            }
            let busy = self.conns.iter().any(|c| c.in_flight.is_some());
            if earliest.is_none() && !busy {
                break;
            }
            if now >= self.deadline {
                self.give_up(now);
                break;
            }
            let wake = earliest.unwrap_or(self.deadline).min(self.deadline);
            let timeout = if wake <= now {
                0
            } else {
                self.arm(wake, now)?;
                -1
            };
            // SAFETY: events has room for its length; the epoll fd is open.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    timeout,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("epoll_wait");
            }
            for ev in &events[..n as usize] {
                let token = ev.u64;
                if token == TIMER {
                    let mut ticks = [0u8; 8];
                    // SAFETY: reads 8 bytes into a local buffer of 8.
                    unsafe { libc::read(self.timer.as_raw_fd(), ticks.as_mut_ptr().cast(), 8) };
                    self.armed_for = None;
                } else {
                    self.readable(token as usize);
                }
            }
        }
        Ok(self.out)
    }

    /// At the drain deadline: every request of the window still owed is
    /// recorded with the time it has waited so far, and counted unfinished.
    fn give_up(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let mut owed = Vec::new();
            if let Some(it) = self.conns[i].in_flight {
                owed.push(it);
            }
            let (g, mut k) = (self.conns[i].g, self.conns[i].next_k);
            loop {
                let t = self.intended(g, k);
                if t >= self.end {
                    break;
                }
                owed.push(t);
                k += 1;
            }
            for t in owed.into_iter().filter(|&t| t >= self.start) {
                self.out.unfinished += 1;
                let us = now.saturating_duration_since(t).as_micros() as u64;
                self.out.hist.saturating_record(us.max(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A keep-alive server answering every request after `delay`; the
    /// `close_after`-th answer on each connection says `Connection: close`
    /// and closes it.
    fn server(delay: Duration, close_after: Option<usize>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                // Two small writes would otherwise wait out the client's delayed ACK.
                s.set_nodelay(true).unwrap();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    let mut answered = 0;
                    loop {
                        let Ok(n) = s.read(&mut chunk) else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..p + 4);
                            std::thread::sleep(delay);
                            answered += 1;
                            let last = close_after == Some(answered);
                            let conn = if last { "Connection: close\r\n" } else { "" };
                            // Head and body in two writes: the client must wait for both.
                            let head =
                                format!("HTTP/1.1 200 OK\r\n{conn}Content-Length: 6\r\n\r\n");
                            let _ = s.write_all(head.as_bytes());
                            let _ = s.write_all(b"hello\n");
                            if last {
                                return;
                            }
                        }
                    }
                });
            }
        });
        port
    }

    fn plan(port: u16, rate: f64) -> Plan {
        Plan {
            port,
            path: "/".into(),
            rate,
            connections: 4,
            threads: 2,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
            drain: Duration::from_millis(500),
        }
    }

    #[test]
    fn fixed_rate_against_a_fast_server() {
        let out = run(&plan(server(Duration::ZERO, None), 2000.0)).unwrap();
        // 0.3 s at 2000/s: 600 intended in the window.
        assert!(
            (590..=610).contains(&out.hist.len()),
            "{}",
            out.result_line()
        );
        assert_eq!(
            (out.errors, out.unfinished),
            (0, 0),
            "{:?}",
            out.first_error
        );
        assert!(out.total >= out.hist.len() && out.in_window > 400);
        let line = out.result_line();
        let r = parse_output(&format!("{line}\n")).unwrap();
        assert_eq!(r.recorded, out.hist.len());
        assert!(r.p50 <= r.p99 && r.p99 <= r.max, "{line}");
    }

    #[test]
    fn slow_server_shows_in_the_percentiles() {
        // 4 connections × 1 answer per 20 ms = 200/s offered 400/s: the
        // backlog grows, and latency from the intended time with it.
        let out = run(&plan(server(Duration::from_millis(20), None), 400.0)).unwrap();
        let p99 = out.hist.value_at_quantile(0.99);
        assert!(p99 > 100_000, "{}", out.result_line());
        assert!(out.hist.len() >= 115, "{}", out.result_line());
    }

    #[test]
    fn closes_are_reconnected_and_errors_counted() {
        let out = run(&plan(server(Duration::ZERO, Some(5)), 1000.0)).unwrap();
        assert_eq!(out.errors, 0, "{:?}", out.first_error);
        assert!(out.hist.len() >= 290, "{}", out.result_line());
        let free = crate::sys::free_port().unwrap();
        let out = run(&plan(free, 1000.0)).unwrap();
        assert_eq!(out.hist.len(), 0);
        assert!(out.errors >= 290, "{}", out.result_line());
        assert!(out.first_error.unwrap().contains("connect"));
    }

    #[test]
    fn output_parsing() {
        let r = parse_output(
            "first_error: read: reset\nresult p50_us=100 p90_us=200 p99_us=300 p999_us=400 max_us=500 recorded=10 in_window=9 total=12 errors=1 unfinished=0\n",
        )
        .unwrap();
        assert_eq!(
            (r.p50, r.p99, r.max, r.in_window, r.errors),
            (100, 300, 500, 9, 1)
        );
        assert_eq!(r.first_error.as_deref(), Some("read: reset"));
        assert!(parse_output("nothing").is_err());
    }
}
