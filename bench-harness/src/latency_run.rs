//! The `latency` scenario: each target under the same fixed, open-loop
//! request rate (by default 80 % of HAProxy's maximum, measured by a wrk run
//! in the same invocation), with percentiles from the harness's own client
//! (`latency-client`, re-executed under taskset on the load CPUs).

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::{LatencyOpts, TargetKind};
use crate::confgen::Shape;
use crate::cpu::CpuMark;
use crate::latency::{RunResult, parse_output};
use crate::plot::{Bar, Group};
use crate::procs::Proc;
use crate::report::{Output, cell, median, ratio, short, thousands};
use crate::start::{pinned, start_proxy, target_name};
use crate::{Ctx, check_backend, sys, wrk};

/// Seconds the client may take after the recorded window for answers owed.
const DRAIN_SECS: f64 = 5.0;

/// One target's latency runs.
pub struct LatRow {
    /// Target name as shown in the table.
    pub name: String,
    /// Each run's result, or why there are none.
    pub outcome: Result<Vec<RunResult>, String>,
    /// Proxy CPU µs per answered request of each run (empty for direct).
    pub cpu_us: Vec<f64>,
    /// Proxy CPU busy percent of each run.
    pub cpu_pct: Vec<f64>,
    /// Is this the HAProxy row (the p99 ratio's denominator)?
    pub is_haproxy: bool,
}

impl LatRow {
    /// Median over runs of one field.
    fn med(&self, f: impl Fn(&RunResult) -> u64) -> Option<f64> {
        let runs = self.outcome.as_ref().ok()?;
        median(&runs.iter().map(|r| f(r) as f64).collect::<Vec<_>>())
    }
}

/// Validates the latency options before anything starts.
pub fn check_opts(l: &LatencyOpts) -> Result<()> {
    if let Some(r) = l.rate
        && !(r > 0.0 && r.is_finite())
    {
        bail!("--rate must be a positive number of requests per second");
    }
    if !(l.rate_percent > 0.0 && l.rate_percent <= 1000.0) {
        bail!("--rate-percent must be in (0, 1000]");
    }
    if l.saturation == 0 {
        bail!("--saturation must be at least 1 s");
    }
    Ok(())
}

/// Measures the rate (unless fixed), then every target at that rate.
pub fn report(ctx: &Ctx, backend: &mut Proc, l: &LatencyOpts) -> Result<Output> {
    check_backend(backend)?;
    let (rate, how) = match l.rate {
        Some(r) => (r, "fixed by `--rate`".to_string()),
        None => {
            let max = haproxy_max(ctx, l.saturation)?;
            (
                max * l.rate_percent / 100.0,
                format!(
                    "{}% of HAProxy's maximum, {} req/s, from a {} s `wrk -t{} -c{}` saturation run in this invocation",
                    l.rate_percent,
                    thousands(max),
                    l.saturation,
                    ctx.opts.threads,
                    ctx.opts.connections
                ),
            )
        }
    };
    eprintln!("latency: offering {} req/s ({how})", thousands(rate));
    let mut rows = Vec::new();
    for &kind in &ctx.opts.targets {
        check_backend(backend)?;
        let row = run_target(ctx, kind, rate);
        eprintln!(
            "latency: {} -> {}",
            row.name,
            match &row.outcome {
                Ok(_) => format!(
                    "p50 {} ms, p99 {} ms",
                    ms(row.med(|r| r.p50)),
                    ms(row.med(|r| r.p99))
                ),
                Err(e) => e.clone(),
            }
        );
        rows.push(row);
    }
    let o = &ctx.opts;
    let header = vec![
        format!(
            "load: open-loop fixed rate of {} req/s ({how}), `GET /` over {} keep-alive \
             connections from {} threads of the harness's own client pinned to the load CPUs; \
             requests evenly spaced on each connection, each latency counted from the request's \
             *intended* send time (coordinated omission corrected) to the arrival of the full \
             Content-Length body; per run {} s warm-up then {} s recorded (answers still owed \
             are awaited up to {DRAIN_SECS} s, then recorded with the time waited); {} runs per \
             target, median of each percentile, max over all runs; **lower is better**",
            thousands(rate),
            o.connections,
            o.threads,
            o.warmup,
            o.duration,
            o.runs
        ),
        crate::report::CPU_NOTE.replace("measured run", "client run (warm-up included)"),
    ];
    Ok(Output {
        header,
        tables: render(&rows, o.duration as f64),
        plot: plot_groups(&rows),
    })
}

/// HAProxy's req/s under wrk (the opts' threads and connections).
fn haproxy_max(ctx: &Ctx, secs: u64) -> Result<f64> {
    let started = start_proxy(ctx, TargetKind::Haproxy, Shape::default());
    let (_proc, port) = match started {
        Ok(Some(p)) => p,
        Ok(None) => bail!("no HAProxy to set the rate"),
        Err(why) => bail!("HAProxy sets the rate but cannot run ({why}); give --rate"),
    };
    sys::smoke_request(port).context("HAProxy (rate run)")?;
    let load = wrk::Load {
        wrk: &ctx.wrk,
        cpus: &ctx.opts.load_cpus,
        threads: ctx.opts.threads,
        connections: ctx.opts.connections,
        close: false,
        path: "/",
        headers: &[],
        https: false,
    };
    if ctx.opts.warmup > 0 {
        let log = ctx.tmp.join("wrk-latency-rate-warmup.log");
        wrk::run(&load, port, ctx.opts.warmup, &log)?;
    }
    let r = wrk::run(&load, port, secs, &ctx.tmp.join("wrk-latency-rate.log"))?;
    eprintln!("latency: HAProxy saturates at {} req/s", thousands(r.rps));
    if r.rps <= 0.0 {
        bail!("HAProxy answered nothing in the rate run");
    }
    Ok(r.rps)
}

/// Starts `kind`'s proxy and runs the client `--runs` times against it.
fn run_target(ctx: &Ctx, kind: TargetKind, rate: f64) -> LatRow {
    let mut row = LatRow {
        name: target_name(ctx, kind, false),
        outcome: Err(String::new()),
        cpu_us: Vec::new(),
        cpu_pct: Vec::new(),
        is_haproxy: kind == TargetKind::Haproxy,
    };
    let (mut proxy, port) = match start_proxy(ctx, kind, Shape::default()) {
        Ok(Some((p, port))) => (Some(p), port),
        Ok(None) => (None, ctx.backend_port),
        Err(why) => {
            row.outcome = Err(why);
            return row;
        }
    };
    if let Err(e) = sys::smoke_request(port) {
        row.outcome = Err(format!("failed: {e:#}"));
        return row;
    }
    let mut runs = Vec::new();
    for i in 0..ctx.opts.runs {
        let mark = proxy.as_ref().map(|p| CpuMark::start(p.pid()));
        let r = match client_run(ctx, kind, port, rate, i) {
            Ok(r) => r,
            Err(e) => {
                row.outcome = Err(format!("failed: {e:#}"));
                return row;
            }
        };
        if let Some(used) = mark.map(|m| m.finish())
            && let Some(us) = used.us_per_req(r.total)
        {
            row.cpu_us.push(us);
            row.cpu_pct.push(used.percent());
        }
        if r.recorded == 0 {
            row.outcome = Err(format!(
                "failed: no answer recorded ({} errors; first: {})",
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            ));
            return row;
        }
        runs.push(r);
        if let Some(p) = proxy.as_mut()
            && let Some(status) = p.exited()
        {
            row.outcome = Err(format!(
                "failed: {} exited during the run ({status}): {}",
                p.name,
                p.output_tail(3)
            ));
            return row;
        }
    }
    row.outcome = Ok(runs);
    row
}

/// One `latency-client` process pinned to the load CPUs.
fn client_run(ctx: &Ctx, kind: TargetKind, port: u16, rate: f64, i: u32) -> Result<RunResult> {
    let o = &ctx.opts;
    let exe = std::env::current_exe()?;
    let mut cmd = pinned(&o.load_cpus, &exe);
    cmd.arg("latency-client")
        .args(["--port", &port.to_string()])
        .args(["--rate", &format!("{rate:.3}")])
        .args(["--connections", &o.connections.to_string()])
        .args(["--threads", &o.threads.to_string()])
        .args(["--warmup", &o.warmup.to_string()])
        .args(["--duration", &o.duration.to_string()])
        .args(["--drain", &DRAIN_SECS.to_string()]);
    let log = ctx.tmp.join(format!("latency-{}-{i}.log", kind.tag()));
    let mut p = Proc::spawn("latency-client", &mut cmd, &log)?;
    let limit = Duration::from_secs(o.warmup + o.duration + DRAIN_SECS as u64 + 30);
    let status = p.wait_for(limit)?;
    if !status.success() {
        bail!("latency client failed ({status}): {}", p.output_tail(2));
    }
    parse_output(&p.output())
}

/// Microseconds as milliseconds with 2 decimals ("–" if none).
fn ms(us: Option<f64>) -> String {
    us.map_or("–".into(), |u| format!("{:.2}", u / 1000.0))
}

/// The latency table.
pub fn render(rows: &[LatRow], duration: f64) -> String {
    let haproxy_p99 = rows
        .iter()
        .find(|r| r.is_haproxy)
        .and_then(|r| r.med(|x| x.p99));
    let mut out = String::from(
        "\n| target | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | achieved req/s | errors | p99 ratio to HAProxy | proxy CPU µs/req | proxy CPU % | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let runs = match &r.outcome {
            Ok(runs) => runs,
            Err(why) => {
                let _ = writeln!(
                    out,
                    "| {} | {} |  |  |  |  |  |  | – | - | - |  |",
                    cell(&r.name),
                    cell(why)
                );
                continue;
            }
        };
        let max = runs.iter().map(|x| x.max).max().map(|m| m as f64);
        let achieved = median(
            &runs
                .iter()
                .map(|x| x.in_window as f64 / duration)
                .collect::<Vec<_>>(),
        );
        let errors: u64 = runs.iter().map(|x| x.errors).sum();
        let unfinished: u64 = runs.iter().map(|x| x.unfinished).sum();
        let mut notes = Vec::new();
        if unfinished > 0 {
            notes.push(format!("{unfinished} requests unanswered at the end"));
        }
        if let Some(e) = runs.iter().find_map(|x| x.first_error.as_deref()) {
            notes.push(format!("first error: {e}"));
        }
        let (cpu, pct) = match median(&r.cpu_us) {
            Some(us) => (
                format!("{us:.1}"),
                median(&r.cpu_pct).map_or(String::new(), |p| format!("{p:.0} %")),
            ),
            None => ("-".into(), "-".into()),
        };
        let p99 = r.med(|x| x.p99);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {cpu} | {pct} | {} |",
            cell(&r.name),
            ms(r.med(|x| x.p50)),
            ms(r.med(|x| x.p90)),
            ms(p99),
            ms(r.med(|x| x.p999)),
            ms(max),
            achieved.map_or("–".into(), thousands),
            thousands(errors as f64),
            ratio(p99, haproxy_p99),
            cell(&notes.join("; ")),
        );
    }
    out
}

/// The plot: p99 per target, and the proxies' CPU µs per request.
fn plot_groups(rows: &[LatRow]) -> Vec<Group> {
    let p99 = Group {
        title: "latency: p99 in ms at the fixed rate (lower is better)".into(),
        bars: rows
            .iter()
            .map(|r| {
                let v = r.med(|x| x.p99).map(|us| us / 1000.0);
                Bar {
                    label: r.name.clone(),
                    value: v,
                    text: match (&r.outcome, v) {
                        (Err(e), _) => short(e),
                        (_, Some(v)) => format!("{v:.2} ms"),
                        _ => "no value".into(),
                    },
                }
            })
            .collect(),
    };
    let cpu_bars: Vec<Bar> = rows
        .iter()
        .filter(|r| r.outcome.is_ok() && !r.cpu_us.is_empty())
        .map(|r| {
            let v = median(&r.cpu_us);
            Bar {
                label: r.name.clone(),
                value: v,
                text: v.map_or(String::new(), |v| format!("{v:.1} µs")),
            }
        })
        .collect();
    let mut groups = vec![p99];
    if !cpu_bars.is_empty() {
        groups.push(Group {
            title: "latency: proxy CPU µs per request at the fixed rate (lower is better)".into(),
            bars: cpu_bars,
        });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p50: u64, p99: u64, max: u64) -> RunResult {
        RunResult {
            p50,
            p90: p50 * 2,
            p99,
            p999: p99 * 2,
            max,
            recorded: 1000,
            in_window: 2000,
            total: 3000,
            ..RunResult::default()
        }
    }

    #[test]
    fn table_and_plot() {
        let rows = vec![
            LatRow {
                name: "direct (nginx)".into(),
                outcome: Ok(vec![run(100, 400, 900)]),
                cpu_us: vec![],
                cpu_pct: vec![],
                is_haproxy: false,
            },
            LatRow {
                name: "HAProxy (1 cpu)".into(),
                outcome: Ok(vec![
                    run(200, 1000, 5000),
                    run(300, 2000, 3000),
                    run(250, 1500, 4000),
                ]),
                cpu_us: vec![10.0, 12.0, 11.0],
                cpu_pct: vec![40.0, 50.0, 45.0],
                is_haproxy: true,
            },
            LatRow {
                name: "ringlb (1 cpu)".into(),
                outcome: Ok(vec![RunResult {
                    errors: 3,
                    unfinished: 2,
                    first_error: Some("read: reset".into()),
                    ..run(150, 750, 800)
                }]),
                cpu_us: vec![8.0],
                cpu_pct: vec![30.0],
                is_haproxy: false,
            },
            LatRow {
                name: "nginx proxy (1 cpu)".into(),
                outcome: Err("not installed".into()),
                cpu_us: vec![],
                cpu_pct: vec![],
                is_haproxy: false,
            },
        ];
        let t = render(&rows, 2.0);
        assert!(
            t.contains("| direct (nginx) | 0.10 | 0.20 | 0.40 | 0.80 | 0.90 | 1,000 | 0 | 0.27 | - | - |  |"),
            "{t}"
        );
        // Medians per percentile, max over all runs.
        assert!(
            t.contains("| HAProxy (1 cpu) | 0.25 | 0.50 | 1.50 | 3.00 | 5.00 | 1,000 | 0 | 1.00 | 11.0 | 45 % |  |"),
            "{t}"
        );
        assert!(
            t.contains("| 3 | 0.50 | 8.0 | 30 % | 2 requests unanswered at the end; first error: read: reset |"),
            "{t}"
        );
        assert!(t.contains("| nginx proxy (1 cpu) | not installed |"), "{t}");
        let g = plot_groups(&rows);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].bars.len(), 4);
        assert_eq!(g[0].bars[1].text, "1.50 ms");
        assert_eq!(g[1].bars.len(), 2);
    }

    #[test]
    fn options() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from(args).unwrap();
            match cli.scenario {
                crate::cli::ScenarioCmd::Latency(l) => l,
                _ => panic!("not latency"),
            }
        };
        assert!(check_opts(&parse(&["b", "latency"])).is_ok());
        assert!(check_opts(&parse(&["b", "latency", "--rate", "0"])).is_err());
        assert!(check_opts(&parse(&["b", "latency", "--rate-percent", "0"])).is_err());
    }
}
