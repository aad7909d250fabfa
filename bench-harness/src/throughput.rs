//! The wrk scenarios (keepalive, close, large, tcp): which tables each is made
//! of, and measuring one target for one table: req/s, bytes/s, the proxy's
//! CPU time and system calls per request.

use std::path::Path;

use crate::cli::TargetKind;
use crate::confgen::Shape;
use crate::cpu::CpuMark;
use crate::procs::Proc;
use crate::report::Row;
use crate::start::{start_proxy, target_name};
use crate::syscalls::Counter;
use crate::{Ctx, LARGE_1M, LARGE_64K, sys, wrk};

/// One table of a scenario: which path wrk asks for, how, through which mode.
pub struct Pass {
    /// Subtitle of the table (empty for single-table scenarios).
    pub subtitle: &'static str,
    /// Short tag for log file names.
    pub tag: &'static str,
    /// Request path.
    pub path: &'static str,
    /// `Connection: close` on every request.
    pub close: bool,
    /// Proxies in `mode tcp`.
    pub tcp: bool,
    /// `option httpclose` on the proxies (nginx: no upstream keep-alive).
    pub httpclose: bool,
    /// `bind ... defer-accept` on the proxies (nginx: `listen ... deferred`).
    pub defer_accept: bool,
    /// Plot bytes/s rather than req/s.
    pub plot_bytes: bool,
}

/// The tables a wrk scenario is made of.
pub fn passes(scenario: &str) -> Vec<Pass> {
    let p = |subtitle, tag, path, close, tcp| Pass {
        subtitle,
        tag,
        path,
        close,
        tcp,
        httpclose: false,
        defer_accept: false,
        plot_bytes: path != "/",
    };
    match scenario {
        "close" => vec![
            p(
                "server connections reused where the proxy can (HAProxy `http-reuse always`, \
                 nginx upstream `keepalive 64`, ringlb's idle pool)",
                "close",
                "/",
                true,
                false,
            ),
            Pass {
                httpclose: true,
                ..p(
                    "`option httpclose` on both sides (a server connection per request; \
                     nginx without upstream keep-alive)",
                    "httpclose",
                    "/",
                    true,
                    false,
                )
            },
            Pass {
                defer_accept: true,
                ..p(
                    "as the first table, with `bind ... defer-accept` (nginx `listen ... \
                     deferred`): accepted once the request is there, one wake-up fewer",
                    "defer",
                    "/",
                    true,
                    false,
                )
            },
        ],
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

/// Starts `kind`'s proxy (if any), measures it, and stops it; `perf` counts
/// its system calls (`None`: not available).
pub fn run_target(
    ctx: &Ctx,
    kind: TargetKind,
    scenario: &str,
    pass: &Pass,
    perf: Option<&Path>,
) -> Row {
    let mut row = Row {
        name: target_name(ctx, kind, pass.tcp),
        outcome: Err(String::new()),
        bytes: Vec::new(),
        cpu_us: Vec::new(),
        cpu_pct: Vec::new(),
        syscalls: None,
        notes: Vec::new(),
        is_haproxy: kind == TargetKind::Haproxy,
        is_direct: kind == TargetKind::Direct,
    };
    let shape = Shape {
        tcp: pass.tcp,
        httpclose: pass.httpclose,
        defer_accept: pass.defer_accept,
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
    let (outcome, notes) = measure(ctx, port, (scenario, pass), kind, proxy.as_mut(), perf);
    // keepalive and close keep their req/s-only table.
    let with_bytes = matches!(scenario, "large" | "tcp");
    row.outcome = outcome.map(|m| {
        if with_bytes {
            row.bytes = m.bytes;
        }
        row.cpu_us = m.cpu_us;
        row.cpu_pct = m.cpu_pct;
        row.syscalls = m.syscalls;
        m.rps
    });
    row.notes = notes;
    row
}

/// Per-run numbers of one target.
struct Runs {
    rps: Vec<f64>,
    bytes: Vec<f64>,
    cpu_us: Vec<f64>,
    cpu_pct: Vec<f64>,
    syscalls: Option<f64>,
}

/// Smoke request, warm-up, then the measured runs, each bracketed by
/// readings of the proxy group's CPU time, then (with `perf`) the run that
/// counts its system calls.
fn measure(
    ctx: &Ctx,
    port: u16,
    (scenario, pass): (&str, &Pass),
    kind: TargetKind,
    mut proxy: Option<&mut Proc>,
    perf: Option<&Path>,
) -> (Result<Runs, String>, Vec<String>) {
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
    let tag = kind.tag();
    if ctx.opts.warmup > 0 {
        let log = ctx.tmp.join(format!("wrk-{scenario}-{tag}-warmup.log"));
        if let Err(e) = wrk::run(&load, port, ctx.opts.warmup, &log) {
            return (Err(format!("failed in warm-up: {e:#}")), notes);
        }
    }
    let mut runs = Runs {
        rps: Vec::new(),
        bytes: Vec::new(),
        cpu_us: Vec::new(),
        cpu_pct: Vec::new(),
        syscalls: None,
    };
    let (mut non_2xx, mut socket_errors, mut requests) = (0u64, 0u64, 0u64);
    for i in 0..ctx.opts.runs {
        let log = ctx.tmp.join(format!("wrk-{scenario}-{tag}-{i}.log"));
        let mark = proxy.as_deref().map(|p| CpuMark::start(p.pid()));
        match wrk::run(&load, port, ctx.opts.duration, &log) {
            Ok(r) => {
                if let Some(used) = mark.map(|m| m.finish())
                    && let Some(us) = used.us_per_req(r.requests)
                {
                    runs.cpu_us.push(us);
                    runs.cpu_pct.push(used.percent());
                }
                runs.rps.push(r.rps);
                runs.bytes.push(r.bytes_per_sec);
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
    if let (Some(p), Some(perf)) = (proxy, perf) {
        let name = format!("{scenario}-{tag}-syscalls");
        // Never fails the row: the cell shows "–", the note says why.
        match count_syscalls(ctx, &load, port, p, perf, &name) {
            Ok(n) => runs.syscalls = Some(n),
            Err(why) => notes.push(format!("syscalls not counted: {why}")),
        }
    }
    (Ok(runs), notes)
}

/// System calls per request of `proxy`'s process group over one more wrk
/// run like the measured ones. Its req/s and CPU are not reported: perf's
/// tracepoint costs the counted processes ~0.1 µs per syscall, which put
/// 4-9 % on HAProxy's CPU µs/req when counted during measured runs.
fn count_syscalls(
    ctx: &Ctx,
    load: &wrk::Load,
    port: u16,
    proxy: &mut Proc,
    perf: &Path,
    name: &str,
) -> Result<f64, String> {
    let pids = sys::group_pids(proxy.pid());
    let counter = Counter::start(perf, &pids, Some(&ctx.opts.load_cpus), &ctx.tmp, name)?;
    let log = ctx.tmp.join(format!("wrk-{name}.log"));
    let r = wrk::run(load, port, ctx.opts.duration, &log).map_err(|e| format!("wrk: {e:#}"))?;
    let calls = counter.finish()?;
    if let Some(status) = proxy.exited() {
        return Err(format!("{} exited ({status})", proxy.name));
    }
    if r.requests == 0 || r.non_2xx * 2 > r.requests {
        return Err(format!(
            "{} of {} responses were not 2xx/3xx",
            r.non_2xx, r.requests
        ));
    }
    Ok(calls as f64 / r.requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_has_three_tables() {
        let close = passes("close");
        assert!(close.iter().all(|p| p.close && !p.tcp));
        assert_eq!(
            close
                .iter()
                .map(|p| (p.httpclose, p.defer_accept))
                .collect::<Vec<_>>(),
            vec![(false, false), (true, false), (false, true)]
        );
        assert_eq!(passes("keepalive").len(), 1);
        let large = passes("large");
        assert!(large.iter().all(|p| p.plot_bytes));
        let tcp = passes("tcp");
        assert_eq!(
            tcp.iter().map(|p| p.plot_bytes).collect::<Vec<_>>(),
            vec![false, true, false]
        );
    }
}
