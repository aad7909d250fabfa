//! The `reload` scenario: each proxy reloaded every `--reload-interval-ms`
//! for `--reload-duration` s while keep-alive and `Connection: close` clients
//! (`reload-client`, pinned to the load CPUs) count every request: answered,
//! connect refused/reset, written but unanswered, non-2xx, and the latency.
//!
//! Methods: ringlb and HAProxy with `-sf <old pid>` (a new process binds its
//! own sockets beside the old one's, SO_REUSEPORT), with `-x <stats socket>
//! -sf <old pid>` (it takes the old one's sockets) and in master-worker mode
//! (`-W`, SIGUSR2 to the master); nginx with SIGHUP to its master (what
//! `nginx -s reload` sends). The processes run in the foreground (`-db`) and
//! the harness passes the pid it started instead of the pidfile operators
//! `cat`: the same reload, without a daemon the harness could not stop.
//!
//! A reload counts as done once every process that served before it has
//! exited (a worker the master has not reaped yet counts as gone) and a new
//! one runs; the next reload waits for that (at most [`RELOAD_LIMIT`]), so
//! a slow handover shows as fewer reloads and a long "reload ms".

use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cli::{ReloadMode, ReloadOpts, TargetKind};
use crate::confgen::{self, Shape};
use crate::plot::{Bar, Group};
use crate::procs::Proc;
use crate::reload::{CONNECT_TIMEOUT, Class, ClientResult, Counts, READ_TIMEOUT, parse_output};
use crate::report::{Output, cell, median, short, thousands};
use crate::start::{pinned, ringlb_bin, start_proxy};
use crate::{Ctx, check_backend, sys};

/// Load before the first reload and after the last.
const MARGIN: Duration = Duration::from_secs(1);
/// How long one reload may take before the next is started anyway.
const RELOAD_LIMIT: Duration = Duration::from_secs(10);

/// One row of the table: a proxy and how it is reloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// ringlb or HAProxy, reloaded by `mode`.
    Proxy(TargetKind, ReloadMode),
    /// nginx, SIGHUP to the master.
    NginxHup,
}

impl Method {
    /// The row's name.
    pub fn name(self) -> String {
        let (proxy, how) = match self {
            Method::NginxHup => return "nginx, `-s reload` (SIGHUP)".into(),
            Method::Proxy(TargetKind::Haproxy, m) => ("HAProxy", m),
            Method::Proxy(_, m) => ("ringlb", m),
        };
        let how = match how {
            ReloadMode::Sf => "`-sf`",
            ReloadMode::X => "`-x` + `-sf`",
            ReloadMode::W => "`-W`, SIGUSR2",
        };
        format!("{proxy} {how}")
    }

    /// A file-name tag.
    fn tag(self) -> String {
        match self {
            Method::NginxHup => "nginx-hup".into(),
            Method::Proxy(k, m) => format!(
                "{}-{}",
                k.tag(),
                match m {
                    ReloadMode::Sf => "sf",
                    ReloadMode::X => "x",
                    ReloadMode::W => "w",
                }
            ),
        }
    }
}

/// The rows to run, from `--targets` and `--reload-modes` (direct has no
/// reload: it is left out).
pub fn methods(targets: &[TargetKind], modes: &[ReloadMode]) -> Vec<Method> {
    let mut out = Vec::new();
    for &t in targets {
        match t {
            TargetKind::Direct => {}
            TargetKind::Nginx => out.push(Method::NginxHup),
            TargetKind::Ringlb | TargetKind::Haproxy => {
                out.extend(modes.iter().map(|&m| Method::Proxy(t, m)));
            }
        }
    }
    out
}

/// Validates the reload options before anything starts.
pub fn check_opts(r: &ReloadOpts) -> Result<()> {
    if !(r.reload_duration > 0.0 && r.reload_duration.is_finite()) {
        bail!("--reload-duration must be a positive number of seconds");
    }
    if r.reload_interval_ms == 0 {
        bail!("--reload-interval-ms must be at least 1");
    }
    if r.keepalive_clients + r.close_clients == 0 {
        bail!("--keepalive-clients and --close-clients are both 0");
    }
    if methods(&r.common.targets, &r.reload_modes).is_empty() {
        bail!("no target to reload (--targets ringlb,haproxy,nginx)");
    }
    Ok(())
}

/// One row's outcome.
pub struct ReloadRow {
    /// The row's name.
    pub name: String,
    /// What the clients saw, or why the row could not run.
    pub outcome: Result<ClientResult, String>,
    /// Reloads done.
    pub reloads: usize,
    /// Reloads the schedule asked for.
    pub planned: usize,
    /// Time from each reload's trigger until the processes it replaced were
    /// gone, ms.
    pub reload_ms: Vec<f64>,
    /// Seconds the clients ran.
    pub secs: f64,
    /// Reload trouble (failed, slow), for the notes.
    pub notes: Vec<String>,
}

/// The processes of one row, and how to reload them.
struct Live {
    method: Method,
    /// sf/x: every generation started, oldest first; -W and nginx: the master.
    procs: Vec<Proc>,
    /// sf/x: how to start a generation (without `-sf`).
    bin: PathBuf,
    args: Vec<String>,
    /// `-x`: the stats socket a new generation takes the sockets from.
    xfer: Option<String>,
    cpus: String,
    tmp: PathBuf,
}

impl Live {
    fn spawns_generations(&self) -> bool {
        matches!(
            self.method,
            Method::Proxy(_, ReloadMode::Sf | ReloadMode::X)
        )
    }

    /// Reaps exited generations; the newest one still running.
    fn current(&mut self) -> Option<&mut Proc> {
        for p in &mut self.procs {
            p.exited();
        }
        self.procs.iter_mut().rev().find(|p| p.done_yet().is_none())
    }

    /// The pids serving now: the newest generation, or the master's live
    /// children.
    fn serving(&mut self) -> Vec<i32> {
        if self.spawns_generations() {
            return self.current().map(|p| p.pid()).into_iter().collect();
        }
        match self.procs.first_mut() {
            Some(m) => match m.exited() {
                None => sys::live_children(m.pid()),
                Some(_) => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    /// Starts a generation: `args`, then `[-x <socket>] -sf <old>` when
    /// replacing one (the first one binds: nothing to take yet).
    fn spawn(&mut self, old: Option<i32>) -> Result<()> {
        let mut cmd = pinned(&self.cpus, &self.bin);
        cmd.args(&self.args);
        if let Some(pid) = old {
            if let Some(sock) = &self.xfer {
                cmd.arg("-x").arg(sock);
            }
            cmd.arg("-sf").arg(pid.to_string());
        }
        let n = self.procs.len();
        let log = self
            .tmp
            .join(format!("reload-{}-{n}.log", self.method.tag()));
        let p = Proc::spawn(&format!("{} #{n}", self.method.name()), &mut cmd, &log)?;
        self.procs.push(p);
        Ok(())
    }

    /// Triggers one reload.
    fn trigger(&mut self) -> Result<()> {
        if self.spawns_generations() {
            let Some(old) = self.current().map(|p| p.pid()) else {
                bail!("no process left to replace");
            };
            return self.spawn(Some(old));
        }
        let sig = match self.method {
            Method::NginxHup => libc::SIGHUP,
            _ => libc::SIGUSR2,
        };
        let Some(m) = self.procs.first_mut() else {
            bail!("no master");
        };
        // HAProxy's master execs itself on each reload: a signal that comes
        // before it has set up again is lost. Wait until it would take it.
        let t = Instant::now();
        while !sys::takes_signal(m.pid(), sig) && t.elapsed() < RELOAD_LIMIT {
            if let Some(status) = m.exited() {
                bail!("the master exited ({status}): {}", m.output_tail(3));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some(status) = m.exited() {
            bail!("the master exited ({status}): {}", m.output_tail(3));
        }
        m.signal(sig);
        Ok(())
    }

    /// Waits until none of `old` runs and something serves; how long it took.
    fn wait_done(&mut self, old: &[i32], since: Instant) -> Result<Duration, String> {
        let generations = self.spawns_generations();
        loop {
            let now = self.serving();
            if generations
                && let Some(newest) = self.procs.last_mut()
                && let Some(status) = newest.exited()
                && !old.contains(&newest.pid())
            {
                return Err(format!(
                    "the new process exited ({status}): {}",
                    newest.output_tail(2)
                ));
            }
            if !generations
                && let Some(m) = self.procs.first_mut()
                && let Some(status) = m.exited()
            {
                return Err(format!(
                    "the master exited ({status}): {}",
                    m.output_tail(3)
                ));
            }
            // serving() has just polled every generation's exit.
            let old_alive: Vec<i32> = if generations {
                self.procs
                    .iter()
                    .filter(|p| old.contains(&p.pid()) && p.done_yet().is_none())
                    .map(Proc::pid)
                    .collect()
            } else {
                now.iter().copied().filter(|p| old.contains(p)).collect()
            };
            if !now.is_empty() && old_alive.is_empty() {
                return Ok(since.elapsed());
            }
            if since.elapsed() > RELOAD_LIMIT {
                return Err(format!(
                    "not done after {RELOAD_LIMIT:?} (serving: {now:?}, still running from \
                     before: {old_alive:?})"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The `stats socket` line `-x` needs.
fn stats_socket_line(sock: &Path) -> String {
    format!(
        "    stats socket {} level admin expose-fd listeners\n",
        sock.display()
    )
}

/// Adds `line` at the top of the config's `global` section.
fn with_global_line(cfg: &str, line: &str) -> String {
    cfg.replacen("global\n", &format!("global\n{line}"), 1)
}

/// Starts the first process of `method`, waits for its port and a 200.
fn start(ctx: &Ctx, method: Method) -> Result<(Live, u16), String> {
    let fail = |e: anyhow::Error| format!("failed: {e:#}");
    let (kind, mode) = match method {
        Method::NginxHup => {
            let (p, port) = start_proxy(ctx, TargetKind::Nginx, Shape::default())?
                .ok_or("nginx did not start")?;
            let live = Live {
                method,
                procs: vec![p],
                bin: PathBuf::new(),
                args: Vec::new(),
                xfer: None,
                cpus: ctx.opts.proxy_cpus.clone(),
                tmp: ctx.tmp.clone(),
            };
            return Ok((live, port));
        }
        Method::Proxy(k, m) => (k, m),
    };
    let port = sys::free_port().map_err(fail)?;
    let tag = method.tag();
    let (bin, cfg) = match kind {
        TargetKind::Haproxy => {
            let bin = ctx.haproxy.clone().ok_or("not installed")?;
            let cfg = confgen::haproxy(&ctx.proxy_cpus, port, ctx.backend_port, Shape::default());
            (bin, cfg)
        }
        _ => {
            let bin = ringlb_bin(ctx)?;
            let cfg = confgen::ringlb(
                ctx.proxy_cpus.len(),
                port,
                ctx.backend_port,
                Shape::default(),
            );
            (bin, cfg)
        }
    };
    let cfg_path = ctx.tmp.join(format!("{tag}.cfg"));
    let mut args = Vec::new();
    let mut xfer = None;
    let cfg = match mode {
        ReloadMode::Sf => {
            args.push("-db".to_string());
            cfg
        }
        ReloadMode::X => {
            let sock = ctx.tmp.join(format!("{tag}-admin.sock"));
            args.push("-db".into());
            xfer = Some(sock.display().to_string());
            with_global_line(&cfg, &stats_socket_line(&sock))
        }
        ReloadMode::W => {
            // In the foreground: no -D.
            args.push("-W".into());
            cfg
        }
    };
    args.push("-f".into());
    args.push(cfg_path.display().to_string());
    std::fs::write(&cfg_path, cfg).map_err(|e| format!("failed: writing config: {e}"))?;
    let mut live = Live {
        method,
        procs: Vec::new(),
        bin,
        args,
        xfer,
        cpus: ctx.opts.proxy_cpus.clone(),
        tmp: ctx.tmp.clone(),
    };
    live.spawn(None).map_err(fail)?;
    let p = live.procs.last_mut().ok_or("no process")?;
    sys::wait_for_port(port, p, Duration::from_secs(10)).map_err(fail)?;
    Ok((live, port))
}

/// One row: start, load, reload on schedule, collect.
fn run_method(ctx: &Ctx, r: &ReloadOpts, method: Method) -> ReloadRow {
    let reload_for = Duration::from_secs_f64(r.reload_duration);
    let interval = Duration::from_millis(r.reload_interval_ms);
    let planned = (reload_for.as_millis() / interval.as_millis()).max(1) as usize;
    let secs = (reload_for + 2 * MARGIN).as_secs_f64();
    let mut row = ReloadRow {
        name: method.name(),
        outcome: Err(String::new()),
        reloads: 0,
        planned,
        reload_ms: Vec::new(),
        secs,
        notes: Vec::new(),
    };
    let (mut live, port) = match start(ctx, method) {
        Ok(x) => x,
        Err(why) => {
            row.outcome = Err(why);
            return row;
        }
    };
    if let Err(e) = sys::smoke_request(port) {
        row.outcome = Err(format!("failed: {e:#}"));
        return row;
    }
    // A -W master answers as soon as it binds: wait for its first worker.
    let t = Instant::now();
    while live.serving().is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            row.outcome = Err(format!("failed: {e}"));
            return row;
        }
    };
    let mut cmd = pinned(&ctx.opts.load_cpus, &exe);
    cmd.arg("reload-client")
        .args(["--port", &port.to_string()])
        .args(["--keepalive", &r.keepalive_clients.to_string()])
        .args(["--close", &r.close_clients.to_string()])
        .args(["--duration", &format!("{secs:.3}")]);
    let log = ctx.tmp.join(format!("reload-client-{}.log", method.tag()));
    let mut client = match Proc::spawn("reload-client", &mut cmd, &log) {
        Ok(p) => p,
        Err(e) => {
            row.outcome = Err(format!("failed: {e:#}"));
            return row;
        }
    };
    std::thread::sleep(MARGIN);
    let first = Instant::now();
    let stop_at = first + reload_for;
    let mut next = first;
    let mut attempts = 0u32;
    while next < stop_at && client.exited().is_none() {
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let old = live.serving();
        let t = Instant::now();
        attempts += 1;
        if let Err(e) = live.trigger() {
            row.notes.push(format!("reload {attempts}: {e:#}"));
            break;
        }
        match live.wait_done(&old, t) {
            Ok(d) => {
                row.reloads += 1;
                row.reload_ms.push(d.as_secs_f64() * 1000.0);
            }
            Err(e) => {
                row.notes.push(format!("reload {attempts}: {e}"));
                if live.serving().is_empty() {
                    break;
                }
            }
        }
        next = (first + interval * attempts).max(Instant::now());
    }
    let limit = Duration::from_secs_f64(secs) + CONNECT_TIMEOUT + READ_TIMEOUT + MARGIN * 10;
    row.outcome = match client.wait_for(limit) {
        Ok(status) if status.success() => {
            parse_output(&client.output()).map_err(|e| format!("failed: {e:#}"))
        }
        Ok(status) => Err(format!(
            "failed: reload client exited ({status}): {}",
            client.output_tail(2)
        )),
        Err(e) => Err(format!("failed: {e:#}")),
    };
    if live.serving().is_empty() {
        row.notes.push("nothing served at the end".into());
    }
    row
}

/// Runs every row in turn.
pub fn report(ctx: &Ctx, backend: &mut Proc, r: &ReloadOpts) -> Result<Output> {
    let mut rows = Vec::new();
    for method in methods(&ctx.opts.targets, &r.reload_modes) {
        check_backend(backend)?;
        let row = run_method(ctx, r, method);
        eprintln!(
            "reload: {} -> {}",
            row.name,
            match &row.outcome {
                Ok(c) => format!(
                    "{} reloads, {} answered, failed {}/{}/{} (connect/no response/non-2xx), p99 {} ms, max {} ms",
                    row.reloads,
                    c.answered(),
                    c.failed(Class::Connect),
                    c.failed(Class::NoResponse),
                    c.failed(Class::Non2xx),
                    ms(c.p99),
                    ms(c.max)
                ),
                Err(e) => e.clone(),
            }
        );
        for n in &row.notes {
            eprintln!("reload: {}: {n}", row.name);
        }
        rows.push(row);
    }
    check_backend(backend)?;
    let header = vec![
        format!(
            "load: {} keep-alive and {} `Connection: close` client threads of the harness's own \
             blocking client (`reload-client`, pinned to the load CPUs), `GET /` back to back, \
             for {:.0} s per target; after {} s the proxy is reloaded every {} ms for {} s \
             (planned {} reloads; a reload not done by its time delays the next); one run per \
             target",
            r.keepalive_clients,
            r.close_clients,
            r.reload_duration + 2.0 * MARGIN.as_secs_f64(),
            MARGIN.as_secs(),
            r.reload_interval_ms,
            r.reload_duration,
            (r.reload_duration * 1000.0 / r.reload_interval_ms as f64).max(1.0) as u64,
        ),
        "reload methods: `-sf`: a new process `<proxy> -db -f cfg -sf <old pid>` (binds its own \
         sockets, SO_REUSEPORT, then soft-stops the old one); `-x` + `-sf`: the same with \
         `-x <stats socket>` and `stats socket ... level admin expose-fd listeners` (it takes \
         the old process's listening sockets); `-W`: `<proxy> -W -f cfg`, SIGUSR2 to the \
         master; nginx: SIGHUP to the master (`nginx -s reload`). The harness passes the pid \
         it started instead of `$(cat pidfile)`. A reload is done when every process that \
         served before it has exited and a new one serves; **reload ms** is that time \
         (median / max)"
            .to_string(),
        format!(
            "failures, **lower is better**: **connect** = connect refused, reset or not done \
             within {CONNECT_TIMEOUT:?}, or the connection broken before the request was written \
             whole; **no response** = request written, then EOF, reset or nothing complete \
             within {READ_TIMEOUT:?}; **non-2xx** = a complete answer with another status. A \
             keep-alive client reconnects after a failure or a `Connection: close` answer. \
             Latency: from the write (from the connect for a request that opened its \
             connection) to the last body byte, every answer of the run"
        ),
    ];
    Ok(Output {
        header,
        tables: render(&rows),
        plot: plot_groups(&rows),
    })
}

/// Microseconds as milliseconds, 2 decimals.
fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The reload table, then the first failures of each row.
pub fn render(rows: &[ReloadRow]) -> String {
    let mut out = String::from(
        "\n| target | reloads | reload ms (median / max) | answered | answered/s | failed: connect | failed: no response | failed: non-2xx | p50 ms | p99 ms | max ms | answers ≥ 1 s | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut details = String::new();
    for r in rows {
        let reloads = format!("{} / {}", r.reloads, r.planned);
        let reload_ms = match (
            median(&r.reload_ms),
            r.reload_ms.iter().copied().reduce(f64::max),
        ) {
            (Some(m), Some(x)) => format!("{m:.0} / {x:.0}"),
            _ => "–".into(),
        };
        let c = match &r.outcome {
            Ok(c) => c,
            Err(why) => {
                let mut notes = vec![why.clone()];
                notes.extend(r.notes.iter().cloned());
                let _ = writeln!(
                    out,
                    "| {} | {reloads} | {reload_ms} |  |  |  |  |  |  |  |  |  | {} |",
                    cell(&r.name),
                    cell(&notes.join("; "))
                );
                continue;
            }
        };
        let mut notes = Vec::new();
        let failed = |k: &Counts| k.failed.iter().sum::<u64>();
        if failed(&c.keepalive) + failed(&c.close) > 0 {
            let split = |k: &Counts| {
                format!(
                    "{}/{}/{} of {}",
                    k.failed[0],
                    k.failed[1],
                    k.failed[2],
                    thousands((k.answered + failed(k)) as f64)
                )
            };
            notes.push(format!(
                "keep-alive clients {}, close clients {}",
                split(&c.keepalive),
                split(&c.close)
            ));
            let _ = writeln!(details, "- {}:", r.name);
            for (class, at, what) in &c.errors {
                let class = match class.as_str() {
                    "noresp" => "no response",
                    "non2xx" => "non-2xx",
                    other => other,
                };
                let _ = writeln!(details, "  - {class} at {at:.2} s: {what}");
            }
        }
        notes.extend(r.notes.iter().cloned());
        let _ = writeln!(
            out,
            "| {} | {reloads} | {reload_ms} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&r.name),
            thousands(c.answered() as f64),
            thousands(c.answered() as f64 / r.secs),
            thousands(c.failed(Class::Connect) as f64),
            thousands(c.failed(Class::NoResponse) as f64),
            thousands(c.failed(Class::Non2xx) as f64),
            ms(c.p50),
            ms(c.p99),
            ms(c.max),
            thousands(c.slow as f64),
            cell(&notes.join("; ")),
        );
    }
    if !details.is_empty() {
        let _ = write!(
            out,
            "\nnotes: failures split as connect/no response/non-2xx of the requests each kind \
             of client made.\n\nFirst failures of each class (seconds since the clients \
             started; reloads begin at {} s):\n\n{details}",
            MARGIN.as_secs()
        );
    }
    out
}

/// The plot: answered, failed and p99 per row.
fn plot_groups(rows: &[ReloadRow]) -> Vec<Group> {
    let group = |title: &str, value: &dyn Fn(&ClientResult) -> f64, unit: &str| Group {
        title: title.into(),
        bars: rows
            .iter()
            .map(|r| match &r.outcome {
                Ok(c) => {
                    let v = value(c);
                    Bar {
                        label: r.name.replace('`', ""),
                        value: Some(v),
                        text: if unit == "ms" {
                            format!("{v:.2} ms")
                        } else {
                            thousands(v)
                        },
                    }
                }
                Err(e) => Bar {
                    label: r.name.replace('`', ""),
                    value: None,
                    text: short(e),
                },
            })
            .collect(),
    };
    vec![
        group(
            "reload: requests answered during the run (higher is better)",
            &|c| c.answered() as f64,
            "",
        ),
        group(
            "reload: requests failed, all classes (lower is better)",
            &|c| {
                (c.failed(Class::Connect) + c.failed(Class::NoResponse) + c.failed(Class::Non2xx))
                    as f64
            },
            "",
        ),
        group(
            "reload: p99 latency in ms (lower is better)",
            &|c| c.p99 as f64 / 1000.0,
            "ms",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_targets_and_modes() {
        let all = methods(
            &[
                TargetKind::Direct,
                TargetKind::Ringlb,
                TargetKind::Haproxy,
                TargetKind::Nginx,
            ],
            &[ReloadMode::Sf, ReloadMode::X, ReloadMode::W],
        );
        assert_eq!(all.len(), 7);
        assert_eq!(all[0].name(), "ringlb `-sf`");
        assert_eq!(all[4].name(), "HAProxy `-x` + `-sf`");
        assert_eq!(all[5].tag(), "haproxy-w");
        assert_eq!(all[6], Method::NginxHup);
        assert!(methods(&[TargetKind::Direct], &[ReloadMode::W]).is_empty());
    }

    #[test]
    fn stats_socket_goes_into_global() {
        let cfg = confgen::ringlb(1, 10, 20, Shape::default());
        let x = with_global_line(&cfg, &stats_socket_line(Path::new("/t/a.sock")));
        assert!(
            x.starts_with(
                "global\n    stats socket /t/a.sock level admin expose-fd listeners\n    maxconn"
            ),
            "{x}"
        );
    }

    #[test]
    fn table() {
        let ok = ClientResult {
            p50: 150,
            p99: 2500,
            max: 1_010_000,
            slow: 1,
            keepalive: Counts {
                answered: 1000,
                failed: [0, 2, 0],
                connections: 10,
            },
            close: Counts {
                answered: 500,
                failed: [1, 0, 3],
                connections: 504,
            },
            errors: vec![("noresp".into(), 1.25, "ka client: EOF".into())],
            ..ClientResult::default()
        };
        let rows = vec![
            ReloadRow {
                name: "ringlb `-sf`".into(),
                outcome: Ok(ok),
                reloads: 4,
                planned: 4,
                reload_ms: vec![10.0, 30.0, 20.0, 40.0],
                secs: 3.0,
                notes: vec![],
            },
            ReloadRow {
                name: "HAProxy `-W`, SIGUSR2".into(),
                outcome: Err("not installed".into()),
                reloads: 0,
                planned: 4,
                reload_ms: vec![],
                secs: 3.0,
                notes: vec![],
            },
        ];
        let t = render(&rows);
        assert!(
            t.contains("| ringlb `-sf` | 4 / 4 | 25 / 40 | 1,500 | 500 | 1 | 2 | 3 | 0.15 | 2.50 | 1010.00 | 1 | keep-alive clients 0/2/0 of 1,002, close clients 1/0/3 of 504 |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| HAProxy `-W`, SIGUSR2 | 0 / 4 | – |  |  |  |  |  |  |  |  |  | not installed |"
            ),
            "{t}"
        );
        assert!(
            t.contains("- ringlb `-sf`:\n  - no response at 1.25 s: ka client: EOF\n"),
            "{t}"
        );
        let g = plot_groups(&rows);
        assert_eq!(g.len(), 3);
        assert_eq!(g[1].bars[0].value, Some(6.0));
        assert_eq!(g[2].bars[0].text, "2.50 ms");
        assert_eq!(g[0].bars[1].text, "not installed");
    }
}
