//! bench-harness: requests/s of ringlb next to HAProxy, nginx and the bare
//! backend, on one machine, with every process pinned to its own CPUs.
//!
//! One invocation starts the backend once, then for each target starts the
//! proxy, waits for its port, checks one request, runs wrk `--runs` times and
//! keeps the median. The Markdown table goes to stdout and to
//! `perf/<scenario>-<date>.md`. A target that cannot run becomes a row saying
//! why; the run goes on.

mod confgen;
mod idle;
mod procs;
mod report;
mod start;
mod sys;
mod wrk;

use start::{start_backend, start_proxy, target_name};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use confgen::Shape;
use procs::Proc;
use report::{IdleResult, IdleRow, Row, Section};

/// Command line.
#[derive(Parser)]
#[command(
    version,
    about = "Compare ringlb with HAProxy, nginx and the bare backend under wrk"
)]
struct Cli {
    #[command(subcommand)]
    scenario: ScenarioCmd,
}

/// Which load to apply.
#[derive(Subcommand)]
enum ScenarioCmd {
    /// Persistent client connections (wrk's default).
    Keepalive(Opts),
    /// A new client connection per request (`Connection: close`).
    Close(Opts),
    /// keepalive, then close, sharing one backend.
    All(Opts),
    /// 64 KB and 1 MB responses over keep-alive (bytes/s and req/s).
    Large(Opts),
    /// `mode tcp` relays: keep-alive throughput (small and 1 MB answers) and
    /// connections/s (`Connection: close`).
    Tcp(Opts),
    /// RSS growth per idle client connection (one request each, then held).
    Idle(IdleOpts),
}

/// Options of the idle scenario.
#[derive(Args, Clone)]
struct IdleOpts {
    /// Idle client connections held open to each proxy.
    #[arg(long, default_value_t = 1000)]
    idle_connections: usize,
    /// Client threads opening them.
    #[arg(long, default_value_t = 8)]
    idle_threads: usize,
    /// Seconds to wait with the connections open before reading RSS.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    #[command(flatten)]
    common: Opts,
}

/// One table of a scenario: which path wrk asks for, how, through which mode.
struct Pass {
    /// Subtitle of the table (empty for single-table scenarios).
    subtitle: &'static str,
    /// Short tag for log file names.
    tag: &'static str,
    /// Request path.
    path: &'static str,
    /// `Connection: close` on every request.
    close: bool,
    /// Proxies in `mode tcp`.
    tcp: bool,
}

/// The tables a wrk scenario is made of.
fn passes(scenario: &str) -> Vec<Pass> {
    let p = |subtitle, tag, path, close, tcp| Pass {
        subtitle,
        tag,
        path,
        close,
        tcp,
    };
    match scenario {
        "close" => vec![p("", "close", "/", true, false)],
        "large" => vec![
            p("64 KB responses", "64k", LARGE_64K, false, false),
            p("1 MB responses", "1m", LARGE_1M, false, false),
        ],
        "tcp" => vec![
            p(
                "mode tcp, keep-alive, small responses (relay req/s)",
                "ka",
                "/",
                false,
                true,
            ),
            p(
                "mode tcp, keep-alive, 1 MB responses (relay bytes/s)",
                "1m",
                LARGE_1M,
                false,
                true,
            ),
            p(
                "mode tcp, `Connection: close` (relayed connections/s = req/s)",
                "close",
                "/",
                true,
                true,
            ),
        ],
        _ => vec![p("", "ka", "/", false, false)],
    }
}

/// Files the nginx backend serves for `large` and `tcp`, with their sizes.
const LARGE_64K: &str = "/static/64k.bin";
const LARGE_1M: &str = "/static/1m.bin";
const STATIC_FILES: [(&str, usize); 2] = [("64k.bin", 64 * 1024), ("1m.bin", 1024 * 1024)];

/// Debian's libnginx-mod-stream module, for nginx in the `tcp` scenario.
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// Options shared by every scenario.
#[derive(Args, Clone)]
struct Opts {
    /// Seconds per measured wrk run.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Measured runs per target (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// wrk connections (-c).
    #[arg(long, default_value_t = 100)]
    connections: u32,
    /// wrk threads (-t).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// CPUs for the proxy under test (taskset list); its thread count follows.
    #[arg(long, default_value = "0")]
    proxy_cpus: String,
    /// CPUs for wrk (taskset list).
    #[arg(long, default_value = "1")]
    load_cpus: String,
    /// CPUs for the backend (taskset list); nginx runs one worker per CPU.
    #[arg(long, default_value = "1")]
    backend_cpus: String,
    /// Seconds of unmeasured warm-up before each target's runs (0: none).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Targets, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "direct,ringlb,haproxy,nginx"
    )]
    targets: Vec<TargetKind>,
    /// Backend to load: nginx if installed (auto), or ringlb's demo-backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// ringlb binary [default: target/release/ringlb].
    #[arg(long)]
    ringlb: Option<PathBuf>,
    /// demo-backend binary [default: target/release/demo-backend].
    #[arg(long)]
    demo_backend: Option<PathBuf>,
    /// haproxy binary [default: /usr/sbin/haproxy, then PATH].
    #[arg(long)]
    haproxy: Option<PathBuf>,
    /// nginx binary [default: /usr/sbin/nginx, then PATH].
    #[arg(long)]
    nginx: Option<PathBuf>,
    /// wrk binary [default: PATH].
    #[arg(long)]
    wrk: Option<PathBuf>,
    /// Where reports go [default: perf/ in the repository].
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Keep the temporary directory (configs and logs) and print its path.
    #[arg(long)]
    keep_temp: bool,
}

/// A thing wrk is pointed at.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    /// The backend itself, no proxy.
    Direct,
    /// ringlb under test.
    Ringlb,
    /// HAProxy 2.6.
    Haproxy,
    /// nginx as a reverse proxy.
    Nginx,
}

/// Which backend to run.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    /// nginx when installed, else demo-backend.
    Auto,
    /// nginx (error if missing).
    Nginx,
    /// ringlb's demo-backend.
    Demo,
}

/// Everything a target's run needs.
struct Ctx {
    opts: Opts,
    root: PathBuf,
    tmp: PathBuf,
    proxy_cpus: Vec<usize>,
    wrk: PathBuf,
    haproxy: Option<PathBuf>,
    nginx: Option<PathBuf>,
    backend_port: u16,
    backend_label: String,
    backend_short: &'static str,
    load_before: Option<f64>,
    ringlb_rev: String,
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bench-harness: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let mut idle_opts = None;
    let (opts, scenarios): (Opts, &[&str]) = match cli.scenario {
        ScenarioCmd::Keepalive(o) => (o, &["keepalive"]),
        ScenarioCmd::Close(o) => (o, &["close"]),
        ScenarioCmd::All(o) => (o, &["keepalive", "close"]),
        ScenarioCmd::Large(o) => (o, &["large"]),
        ScenarioCmd::Tcp(o) => (o, &["tcp"]),
        ScenarioCmd::Idle(i) => {
            let o = i.common.clone();
            idle_opts = Some(i);
            (o, &["idle"])
        }
    };
    if let Some(i) = &idle_opts {
        if i.idle_connections == 0 || i.idle_threads == 0 {
            bail!("--idle-connections and --idle-threads must be at least 1");
        }
        // The client sockets live in this process: keep room for the rest.
        let limit = sys::raise_nofile();
        if i.idle_connections as u64 + 200 > limit {
            bail!(
                "--idle-connections {} needs more than this process's open-file limit ({limit}) allows",
                i.idle_connections
            );
        }
    }
    if opts.runs == 0 || opts.duration == 0 || opts.connections == 0 || opts.threads == 0 {
        bail!("--runs, --duration, --connections and --threads must be at least 1");
    }
    if opts.connections < opts.threads {
        bail!("wrk needs --connections >= --threads");
    }
    procs::install_interrupt_handler()?;

    let root = sys::repo_root();
    let proxy_cpus = sys::parse_cpu_list(&opts.proxy_cpus).context("--proxy-cpus")?;
    let backend_cpus = sys::parse_cpu_list(&opts.backend_cpus).context("--backend-cpus")?;
    sys::parse_cpu_list(&opts.load_cpus).context("--load-cpus")?;
    let wrk = sys::find_program(opts.wrk.as_deref(), &["wrk"])
        .context("wrk not found (apt-get install wrk, or --wrk PATH)")?;
    if sys::find_program(None, &["taskset"]).is_none() {
        bail!("taskset not found (util-linux)");
    }
    let haproxy = sys::find_program(opts.haproxy.as_deref(), &["/usr/sbin/haproxy", "haproxy"]);
    let nginx = sys::find_program(opts.nginx.as_deref(), &["/usr/sbin/nginx", "nginx"]);

    let tmp_guard = tempfile::Builder::new()
        .prefix("ringlb-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    // nginx workers run as an unprivileged user when started by root: they
    // must be able to reach their temp paths in here.
    std::fs::set_permissions(tmp_guard.path(), std::fs::Permissions::from_mode(0o755))?;
    let tmp = tmp_guard.path().to_path_buf();
    procs::remove_on_interrupt((!opts.keep_temp).then(|| tmp.clone()));

    // Taken once, at start: the tree may change while the run goes on.
    let ringlb_rev = sys::first_line_of(
        Path::new("git"),
        &[
            "-C",
            &root.to_string_lossy(),
            "describe",
            "--always",
            "--dirty",
        ],
    )
    .unwrap_or_else(|| "unknown".into());
    // Other work on the machine skews every number: say so in the report.
    let load_before = sys::loadavg();
    let (mut backend, backend_port, backend_label) =
        start_backend(&opts, &root, &tmp, &backend_cpus, nginx.as_deref())?;
    eprintln!("backend: {backend_label} on 127.0.0.1:{backend_port}");

    let needs_static = scenarios.iter().any(|s| matches!(*s, "large" | "tcp"));
    if needs_static && !backend_label.starts_with("nginx") {
        bail!("the large and tcp scenarios need the nginx backend (static files)");
    }
    let ctx = Ctx {
        opts: opts.clone(),
        root: root.clone(),
        tmp: tmp.clone(),
        proxy_cpus,
        wrk,
        haproxy,
        nginx,
        backend_port,
        backend_short: if backend_label.starts_with("nginx") {
            "nginx"
        } else {
            "demo-backend"
        },
        backend_label,
        load_before,
        ringlb_rev,
    };
    for &scenario in scenarios {
        let (date, time) = sys::utc_now();
        let title = format!("bench-harness {scenario} — {date} {time} UTC");
        let text = if let Some(i) = &idle_opts {
            let mut rows = Vec::new();
            for &kind in &opts.targets {
                if kind == TargetKind::Direct {
                    continue;
                }
                if let Some(status) = backend.exited() {
                    bail!("the backend exited ({status}): {}", backend.output_tail(3));
                }
                let row = run_idle(&ctx, kind, i);
                eprintln!(
                    "idle: {} -> {}",
                    row.name,
                    match &row.outcome {
                        Ok(x) => format!(
                            "{} held, {:.1} KiB per connection",
                            x.held,
                            x.per_conn() / 1024.0
                        ),
                        Err(e) => e.clone(),
                    }
                );
                rows.push(row);
            }
            report::render_idle(&title, &header(&ctx, scenario, Some(i)), &rows)
        } else {
            let mut sections = Vec::new();
            for pass in passes(scenario) {
                let mut rows = Vec::new();
                for &kind in &opts.targets {
                    if let Some(status) = backend.exited() {
                        bail!("the backend exited ({status}): {}", backend.output_tail(3));
                    }
                    let row = run_target(&ctx, kind, scenario, &pass);
                    eprintln!(
                        "{scenario} {}: {} -> {}",
                        pass.tag,
                        row.name,
                        match &row.outcome {
                            Ok(_) => {
                                let mut s = row.median().map(report::thousands).unwrap_or_default()
                                    + " req/s";
                                if let Some(b) = report::median(&row.bytes) {
                                    s += &format!(", {}", report::bytes_per_sec(b));
                                }
                                s
                            }
                            Err(e) => e.clone(),
                        }
                    );
                    rows.push(row);
                }
                sections.push(Section {
                    subtitle: pass.subtitle.to_string(),
                    rows,
                });
            }
            report::render_sections(&title, &header(&ctx, scenario, None), &sections)
        };
        println!("{text}");
        match write_report(&ctx, scenario, &date, &text) {
            Ok(path) => eprintln!("written to {}", path.display()),
            Err(e) => eprintln!("could not write the report: {e:#}"),
        }
    }
    drop(backend);
    if opts.keep_temp {
        let kept = tmp_guard.keep();
        eprintln!("configs and logs kept in {}", kept.display());
    }
    Ok(())
}

/// Starts `kind`'s proxy (if any), measures it, and stops it.
fn run_target(ctx: &Ctx, kind: TargetKind, scenario: &str, pass: &Pass) -> Row {
    let mut row = Row {
        name: target_name(ctx, kind, pass.tcp),
        outcome: Err(String::new()),
        bytes: Vec::new(),
        notes: Vec::new(),
        is_haproxy: kind == TargetKind::Haproxy,
        is_direct: kind == TargetKind::Direct,
    };
    let shape = Shape {
        tcp: pass.tcp,
        ..Shape::default()
    };
    let started = start_proxy(ctx, kind, shape);
    let (mut proxy, port) = match started {
        Ok(Some((proc, port))) => (Some(proc), port),
        Ok(None) => (None, ctx.backend_port),
        Err(why) => {
            row.outcome = Err(why);
            return row;
        }
    };
    let (outcome, notes) = measure(ctx, port, scenario, pass, kind, proxy.as_mut());
    // keepalive and close keep their req/s-only table.
    let with_bytes = matches!(scenario, "large" | "tcp");
    row.outcome = outcome.map(|(rps, bytes)| {
        if with_bytes {
            row.bytes = bytes;
        }
        rps
    });
    row.notes = notes;
    row
}

/// The idle scenario for one proxy: RSS of its process group before and
/// after `--idle-connections` connections each made one request.
fn run_idle(ctx: &Ctx, kind: TargetKind, i: &IdleOpts) -> IdleRow {
    let name = target_name(ctx, kind, false);
    let n = i.idle_connections;
    let shape = Shape {
        tcp: false,
        maxconn: confgen::MAXCONN.max(n as u32 + 100),
    };
    let outcome = (|| {
        let hard = sys::hard_nofile();
        // HAProxy 2.6 reserves two fds per maxconn and will not start when
        // they exceed the hard limit (which cannot be raised here).
        if kind == TargetKind::Haproxy && 2 * u64::from(shape.maxconn) + 200 > hard {
            return Err(format!(
                "cannot hold {n}: HAProxy needs maxconn {} = about {} fds, over the hard open-file limit {hard} (at most about {} idle connections here)",
                shape.maxconn,
                2 * u64::from(shape.maxconn) + 14,
                (hard.saturating_sub(200) / 2).saturating_sub(100)
            ));
        }
        let (mut proc, port) = match start_proxy(ctx, kind, shape)? {
            Some(p) => p,
            None => return Err("no proxy".to_string()),
        };
        sys::smoke_request(port).map_err(|e| format!("failed: {e:#}"))?;
        std::thread::sleep(Duration::from_millis(500));
        let pgid = proc.pid();
        let (before, _) = sys::group_rss(pgid).map_err(|e| format!("failed: {e:#}"))?;
        let held = idle::open(port, n, i.idle_threads);
        std::thread::sleep(Duration::from_secs(i.settle));
        if let Some(status) = proc.exited() {
            return Err(format!(
                "failed: {} exited ({status}): {}",
                proc.name,
                proc.output_tail(3)
            ));
        }
        let (after, processes) = sys::group_rss(pgid).map_err(|e| format!("failed: {e:#}"))?;
        if held.streams.is_empty() {
            return Err(format!(
                "failed: no connection held ({})",
                held.first_error.unwrap_or_default()
            ));
        }
        let notes = if held.failed > 0 {
            format!(
                "{} of {n} connections failed (first: {})",
                held.failed,
                held.first_error.as_deref().unwrap_or("?")
            )
        } else {
            String::new()
        };
        let r = IdleResult {
            held: held.streams.len(),
            rss_before: before,
            rss_after: after,
            processes,
            notes,
        };
        // Close the clients before the proxy stops.
        drop(held);
        Ok(r)
    })();
    IdleRow { name, outcome }
}

/// Requests/s and bytes/s of each run, or why there are none.
type Measured = Result<(Vec<f64>, Vec<f64>), String>;

/// Smoke request, warm-up, then the measured runs.
fn measure(
    ctx: &Ctx,
    port: u16,
    scenario: &str,
    pass: &Pass,
    kind: TargetKind,
    mut proxy: Option<&mut Proc>,
) -> (Measured, Vec<String>) {
    let mut notes = Vec::new();
    if let Err(e) = sys::smoke_request_path(port, pass.path) {
        return (Err(format!("failed: {e:#}")), notes);
    }
    let load = wrk::Load {
        wrk: &ctx.wrk,
        cpus: &ctx.opts.load_cpus,
        threads: ctx.opts.threads,
        connections: ctx.opts.connections,
        close: pass.close,
        path: pass.path,
    };
    let scenario = format!("{scenario}-{}", pass.tag);
    let tag = match kind {
        TargetKind::Direct => "direct",
        TargetKind::Ringlb => "ringlb",
        TargetKind::Haproxy => "haproxy",
        TargetKind::Nginx => "nginx",
    };
    if ctx.opts.warmup > 0 {
        let log = ctx.tmp.join(format!("wrk-{scenario}-{tag}-warmup.log"));
        if let Err(e) = wrk::run(&load, port, ctx.opts.warmup, &log) {
            return (Err(format!("failed in warm-up: {e:#}")), notes);
        }
    }
    let mut runs = Vec::new();
    let mut bytes = Vec::new();
    let (mut non_2xx, mut socket_errors, mut requests) = (0u64, 0u64, 0u64);
    for i in 0..ctx.opts.runs {
        let log = ctx.tmp.join(format!("wrk-{scenario}-{tag}-{i}.log"));
        match wrk::run(&load, port, ctx.opts.duration, &log) {
            Ok(r) => {
                runs.push(r.rps);
                bytes.push(r.bytes_per_sec);
                non_2xx += r.non_2xx;
                socket_errors += r.socket_errors;
                requests += r.requests;
            }
            Err(e) => return (Err(format!("failed: {e:#}")), notes),
        }
        if let Some(p) = proxy.as_deref_mut()
            && let Some(status) = p.exited()
        {
            return (
                Err(format!(
                    "failed: {} exited during the run ({status}): {}",
                    p.name,
                    p.output_tail(3)
                )),
                notes,
            );
        }
    }
    if requests == 0 {
        return (Err("failed: no request completed".into()), notes);
    }
    if non_2xx * 2 > requests {
        return (
            Err(format!(
                "failed: {non_2xx} of {requests} responses were not 2xx/3xx"
            )),
            notes,
        );
    }
    if non_2xx > 0 {
        notes.push(format!("{non_2xx} non-2xx of {requests}"));
    }
    if socket_errors > 0 {
        notes.push(format!("{socket_errors} socket errors"));
    }
    (Ok((runs, bytes)), notes)
}

/// The report's header lines: machine, core split, load, versions.
fn header(ctx: &Ctx, scenario: &str, idle: Option<&IdleOpts>) -> Vec<String> {
    let o = &ctx.opts;
    let version = |name: &str, p: &Option<PathBuf>| match p {
        Some(p) => sys::first_line_of(p, &["-v"]).unwrap_or_else(|| format!("{name} unknown")),
        None => format!("{name} not installed"),
    };
    let what = match scenario {
        "close" => "a new client connection per request (`Connection: close`)",
        "large" => {
            "persistent client connections, `GET /static/64k.bin` (65,536 bytes) and \
             `GET /static/1m.bin` (1,048,576 bytes); bytes/s is wrk's Transfer/sec \
             (headers included); nginx proxies with its default proxy_buffering"
        }
        "tcp" => {
            "every proxy in `mode tcp` (nginx: stream module), one server connection per \
             client connection; keep-alive small and 1 MB answers, then `Connection: close` \
             (each request a new relayed connection)"
        }
        _ => "persistent client connections (keep-alive)",
    };
    let load_line = match idle {
        Some(i) => format!(
            "load: {} client connections from {} threads of the harness, each `GET /` \
             (keep-alive) answered in full, then held idle {} s; RSS is VmRSS summed over \
             the proxy's process group (nginx: master + workers), read before opening and \
             with all held; maxconn {}",
            i.idle_connections,
            i.idle_threads,
            i.settle,
            confgen::MAXCONN.max(i.idle_connections as u32 + 100)
        ),
        None => format!(
            "load: `wrk -t{} -c{} -d{}s`, {} runs per target (median), {} s warm-up; scenario {scenario}: {what}",
            o.threads, o.connections, o.duration, o.runs, o.warmup
        ),
    };
    let load = match ctx.load_before {
        Some(l) if l >= 0.5 => format!("{l:.2} (not idle: other work skews these numbers)"),
        Some(l) => format!("{l:.2}"),
        None => "unknown".into(),
    };
    vec![
        format!(
            "machine: {} CPUs (nproc), {}, Linux {}; load average before the run {load}",
            sys::nproc(),
            sys::cpu_model(),
            sys::kernel()
        ),
        format!(
            "core split: proxy on CPUs {} (nbthread / worker_processes {}), wrk on CPUs {}, backend on CPUs {}",
            o.proxy_cpus,
            ctx.proxy_cpus.len(),
            o.load_cpus,
            o.backend_cpus
        ),
        format!("backend: {}", ctx.backend_label),
        load_line,
        format!(
            "versions: {}; {}; {}; ringlb {}",
            version("HAProxy", &ctx.haproxy),
            version("nginx", &ctx.nginx),
            sys::first_line_of(&ctx.wrk, &["-v"]).unwrap_or_else(|| "wrk unknown".into()),
            ctx.ringlb_rev
        ),
        format!(
            "command: `bench-harness {}`",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        ),
    ]
}

/// Writes `perf/<scenario>-<date>.md` (with `-2`, `-3`... if taken).
fn write_report(ctx: &Ctx, scenario: &str, date: &str, text: &str) -> Result<PathBuf> {
    let dir = ctx
        .opts
        .out_dir
        .clone()
        .unwrap_or_else(|| ctx.root.join("perf"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut path = dir.join(format!("{scenario}-{date}.md"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{scenario}-{date}-{n}.md"));
        n += 1;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
