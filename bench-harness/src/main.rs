//! bench-harness: requests/s of ringlb next to HAProxy, nginx and the bare
//! backend, on one machine, with every process pinned to its own CPUs.
//!
//! One invocation starts the backend once, then for each target starts the
//! proxy, waits for its port, checks one request, runs the load `--runs`
//! times and keeps the median. The Markdown table goes to stdout and to
//! `perf/<scenario>-<date>.md`, with a bar chart beside it (`.svg`). A target
//! that cannot run becomes a row saying why; the run goes on.

mod cli;
mod confgen;
mod cpu;
mod http1;
mod idle;
mod idle_run;
mod latency;
mod latency_run;
mod plot;
mod procs;
mod reload;
mod reload_run;
mod report;
mod rules;
mod start;
mod sys;
mod syscalls;
mod throughput;
mod tls;
mod tls_run;
mod wrk;

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cli::{Cli, IdleOpts, LatencyOpts, Opts, ReloadOpts, ScenarioCmd, TlsOpts};
use procs::Proc;
use report::{Output, Section};
use start::start_backend;

/// Files the nginx backend serves for `large` and `tcp`, with their sizes.
const LARGE_64K: &str = "/static/64k.bin";
const LARGE_1M: &str = "/static/1m.bin";
const STATIC_FILES: [(&str, usize); 2] = [("64k.bin", 64 * 1024), ("1m.bin", 1024 * 1024)];

/// Where Debian's libnginx-mod-stream puts its module, relative to the
/// prefix that holds `sbin/nginx`, for nginx in the `tcp` scenario.
const NGINX_STREAM_MODULE: &str = "lib/nginx/modules/ngx_stream_module.so";

/// nginx backend `worker_connections` for the idle scenario: a proxy may
/// hold a server connection per idle client.
const IDLE_BACKEND_CONNECTIONS: u32 = 19_000;

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
    /// The openssl CLI (certificates, handshake check, s_time), if found.
    openssl: Option<PathBuf>,
    /// `openssl s_time` processes per handshake run (the `tls` scenario).
    handshake_clients: u32,
}

/// Scenario-specific options carried past parsing.
enum Extra {
    None,
    Idle(IdleOpts),
    Latency(LatencyOpts),
    Reload(ReloadOpts),
    Tls(TlsOpts),
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bench-harness: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let (opts, scenarios, extra): (Opts, &[&str], Extra) = match cli.scenario {
        ScenarioCmd::Keepalive(o) => (o, &["keepalive"], Extra::None),
        ScenarioCmd::Close(o) => (o, &["close"], Extra::None),
        ScenarioCmd::All(o) => (o, &["keepalive", "close"], Extra::None),
        ScenarioCmd::Large(o) => (o, &["large"], Extra::None),
        ScenarioCmd::Rules(o) => (o, &["rules"], Extra::None),
        ScenarioCmd::Tcp(o) => (o, &["tcp"], Extra::None),
        ScenarioCmd::Idle(i) => (i.common.clone(), &["idle"], Extra::Idle(i)),
        ScenarioCmd::Latency(l) => (l.common.clone(), &["latency"], Extra::Latency(l)),
        ScenarioCmd::Reload(r) => (r.common.clone(), &["reload"], Extra::Reload(r)),
        ScenarioCmd::Tls(t) => (t.common.clone(), &["tls"], Extra::Tls(t)),
        ScenarioCmd::ReloadClient(a) => {
            return reload::client_main(a.port, a.keepalive, a.close, a.duration);
        }
        ScenarioCmd::IdleClient(a) => {
            return idle::client_main(a.port, a.count, a.threads, a.tls_ca.as_deref());
        }
        ScenarioCmd::LatencyClient(a) => {
            return latency::client_main(&latency::Plan {
                port: a.port,
                path: a.path,
                rate: a.rate,
                connections: a.connections,
                threads: a.threads,
                warmup: Duration::from_secs_f64(a.warmup),
                duration: Duration::from_secs_f64(a.duration),
                drain: Duration::from_secs_f64(a.drain),
            });
        }
    };
    match &extra {
        Extra::Idle(i) => idle_run::check_opts(i)?,
        Extra::Latency(l) => latency_run::check_opts(l)?,
        Extra::Reload(r) => reload_run::check_opts(r)?,
        Extra::Tls(t) => tls_run::check_opts(t)?,
        Extra::None => {}
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
    let backend_connections = match extra {
        Extra::Idle(_) | Extra::Tls(_) => IDLE_BACKEND_CONNECTIONS,
        _ => confgen::NGINX_CONNECTIONS,
    };
    let (mut backend, backend_port, backend_label) = start_backend(
        &opts,
        &root,
        &tmp,
        &backend_cpus,
        nginx.as_deref(),
        backend_connections,
    )?;
    eprintln!("backend: {backend_label} on 127.0.0.1:{backend_port}");

    let needs_static = scenarios
        .iter()
        .any(|s| matches!(*s, "large" | "tcp" | "tls"));
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
        openssl: sys::find_program(None, &["openssl"]),
        handshake_clients: match &extra {
            Extra::Tls(t) => t.handshake_clients,
            _ => 1,
        },
    };
    for &scenario in scenarios {
        let (date, time) = sys::utc_now();
        let title = format!("bench-harness {scenario} — {date} {time} UTC");
        let output = match &extra {
            Extra::Idle(i) => idle_run::report(&ctx, &mut backend, i)?,
            Extra::Latency(l) => latency_run::report(&ctx, &mut backend, l)?,
            Extra::Reload(r) => reload_run::report(&ctx, &mut backend, r)?,
            Extra::Tls(t) => tls_run::report(&ctx, &mut backend, t)?,
            Extra::None => throughput_report(&ctx, &mut backend, scenario)?,
        };
        let mut header = header(&ctx);
        // The scenario's own lines go after the backend line.
        for (i, line) in output.header.iter().enumerate() {
            header.insert(3 + i, line.clone());
        }
        match write_report(&ctx, scenario, &date, &title, &header, &output) {
            Ok((text, paths)) => {
                println!("{text}");
                for p in paths {
                    eprintln!("written to {}", p.display());
                }
            }
            Err(e) => {
                println!(
                    "{}",
                    report::render_head(&title, &header, None) + &output.tables
                );
                eprintln!("could not write the report: {e:#}");
            }
        }
    }
    drop(backend);
    if opts.keep_temp {
        let kept = tmp_guard.keep();
        eprintln!("configs and logs kept in {}", kept.display());
    }
    Ok(())
}

/// Fails the run if the backend has gone away.
fn check_backend(backend: &mut Proc) -> Result<()> {
    if let Some(status) = backend.exited() {
        bail!("the backend exited ({status}): {}", backend.output_tail(3));
    }
    Ok(())
}

/// A wrk scenario: every table of it, each target in turn.
fn throughput_report(ctx: &Ctx, backend: &mut Proc, scenario: &str) -> Result<Output> {
    let mut sections = Vec::new();
    let mut groups = Vec::new();
    let perf = syscalls::probe(&ctx.tmp);
    if let Err(why) = &perf {
        eprintln!("{scenario}: syscalls/req not measured: {why}");
    }
    for pass in throughput::passes(scenario) {
        check_backend(backend)?;
        let rows = throughput::run_pass(
            ctx,
            &ctx.opts.targets,
            scenario,
            &pass,
            perf.as_deref().ok(),
        );
        check_backend(backend)?;
        for row in &rows {
            eprintln!(
                "{scenario} {}: {} -> {}",
                pass.tag,
                row.name,
                match &row.outcome {
                    Ok(_) => {
                        let mut s =
                            row.median().map(report::thousands).unwrap_or_default() + " req/s";
                        if let Some(b) = report::median(&row.bytes) {
                            s += &format!(", {}", report::bytes_per_sec(b));
                        }
                        if let Some(us) = row.cpu_median() {
                            s += &format!(", {us:.1} µs CPU/req");
                        }
                        if let Some(n) = row.syscalls {
                            s += &format!(", {} syscalls/req", report::syscalls_cell(n));
                        }
                        s
                    }
                    Err(e) => e.clone(),
                }
            );
        }
        let section = Section {
            subtitle: pass.subtitle.to_string(),
            rows,
        };
        groups.extend(report::plot_groups(scenario, &section, pass.plot_bytes));
        sections.push(section);
    }
    let o = &ctx.opts;
    let what = match scenario {
        "close" => {
            "a new client connection per request (`Connection: close`); first table: server \
             connections reused where each proxy can, second: `option httpclose` on both sides, \
             third: the first with `bind ... defer-accept` (nginx `listen ... deferred`)"
        }
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
        "rules" => rules::DESCRIPTION,
        _ => "persistent client connections (keep-alive)",
    };
    let mut tables = report::render_sections(&sections);
    if scenario == "rules" {
        tables.push_str(&rules_verdict(&sections));
    }
    Ok(Output {
        header: vec![
            format!(
                "load: `wrk -t{} -c{} -d{}s`, {} runs per target (median), interleaved (run 1 of every target, then run 2...; all proxies up, the idle ones unloaded), {} s warm-up; scenario {scenario}: {what}",
                o.threads, o.connections, o.duration, o.runs, o.warmup
            ),
            report::CPU_NOTE.to_string(),
            syscalls::note(&perf),
        ],
        tables,
        plot: groups,
    })
}

/// The `rules` scenario's criterion: ringlb's CPU per request relative to
/// HAProxy's in the rules table within 5 % of that ratio in the plain one.
fn rules_verdict(sections: &[Section]) -> String {
    let ratio = |s: &Section| {
        let cpu = |f: fn(&report::Row) -> bool| {
            s.rows
                .iter()
                .find(|r| f(r))
                .and_then(report::Row::cpu_median)
        };
        let ringlb = cpu(|r| r.name.starts_with("ringlb"))?;
        let haproxy = cpu(|r| r.is_haproxy)?;
        (haproxy > 0.0).then(|| ringlb / haproxy)
    };
    match sections {
        [plain, rules] => match (ratio(plain), ratio(rules)) {
            (Some(p), Some(r)) => {
                let change = r / p;
                format!(
                    "\nringlb CPU/req ÷ HAProxy CPU/req: plain {p:.3}, rules {r:.3}; \
                     rules ÷ plain = **{change:.3}** ({}: the criterion is at most 1.05)\n",
                    if change <= 1.05 { "met" } else { "missed" }
                )
            }
            _ => "\nringlb or HAProxy has no CPU/req in a table: criterion not checked\n".into(),
        },
        _ => String::new(),
    }
}

/// The report's header lines: machine, core split, backend, versions,
/// command (the scenario's own lines are inserted after the backend).
fn header(ctx: &Ctx) -> Vec<String> {
    let o = &ctx.opts;
    let version = |name: &str, p: &Option<PathBuf>| match p {
        Some(p) => sys::first_line_of(p, &["-v"]).unwrap_or_else(|| format!("{name} unknown")),
        None => format!("{name} not installed"),
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
            "core split: proxy on CPUs {} (nbthread / worker_processes {}), load generator on CPUs {}, backend on CPUs {}",
            o.proxy_cpus,
            ctx.proxy_cpus.len(),
            o.load_cpus,
            o.backend_cpus
        ),
        format!("backend: {}", ctx.backend_label),
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

/// The plot's subtitle: machine and core split.
fn plot_subtitle(ctx: &Ctx) -> String {
    let o = &ctx.opts;
    format!(
        "{} CPUs, {}; proxy on CPUs {}, load on {}, backend on {}; ringlb {}",
        sys::nproc(),
        sys::cpu_model(),
        o.proxy_cpus,
        o.load_cpus,
        o.backend_cpus,
        ctx.ringlb_rev
    )
}

/// The first `<dir>/<scenario>-<date>[-N]` for which neither `.md` nor
/// `.svg` exists yet.
fn free_stem(dir: &Path, scenario: &str, date: &str) -> PathBuf {
    let taken =
        |stem: &Path| stem.with_extension("md").exists() || stem.with_extension("svg").exists();
    let mut stem = dir.join(format!("{scenario}-{date}"));
    let mut n = 2;
    while taken(&stem) {
        stem = dir.join(format!("{scenario}-{date}-{n}"));
        n += 1;
    }
    stem
}

/// Writes `perf/<scenario>-<date>.md` and its `.svg` plot (with `-2`,
/// `-3`... if taken); returns the Markdown text and the paths written.
fn write_report(
    ctx: &Ctx,
    scenario: &str,
    date: &str,
    title: &str,
    header: &[String],
    output: &Output,
) -> Result<(String, Vec<PathBuf>)> {
    let dir = ctx
        .opts
        .out_dir
        .clone()
        .unwrap_or_else(|| ctx.root.join("perf"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = free_stem(&dir, scenario, date);
    let md = stem.with_extension("md");
    let svg = stem.with_extension("svg");
    let svg_name = svg
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = report::render_head(title, header, Some(&svg_name)) + &output.tables;
    let chart = plot::render(title, &plot_subtitle(ctx), &output.plot);
    std::fs::write(&svg, chart).with_context(|| format!("writing {}", svg.display()))?;
    std::fs::write(&md, &text).with_context(|| format!("writing {}", md.display()))?;
    Ok((text, vec![md, svg]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_skip_taken_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            free_stem(d, "close", "2026-01-02"),
            d.join("close-2026-01-02")
        );
        std::fs::write(d.join("close-2026-01-02.md"), "").unwrap();
        std::fs::write(d.join("close-2026-01-02-2.svg"), "").unwrap();
        assert_eq!(
            free_stem(d, "close", "2026-01-02"),
            d.join("close-2026-01-02-3")
        );
    }
}
