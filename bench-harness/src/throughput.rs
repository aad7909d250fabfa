//! The wrk scenarios (keepalive, close, large, tcp): which tables each is made
//! of, and measuring one target for one table: req/s, bytes/s, the proxy's
//! CPU time and system calls per request.

use std::path::Path;

use crate::cli::TargetKind;
use crate::confgen::Shape;
use crate::cpu::CpuMark;
use crate::procs::Proc;
use crate::report::{self, Row};
use crate::start::{start_proxy, target_name};
use crate::syscalls::Counter;
use crate::tls::{self, TlsKey};
use crate::{Ctx, LARGE_1M, LARGE_64K, rules, sys, wrk};

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
    /// The `rules` frontend (20 ACLs, 10 `use_backend`, 5 header rules) and
    /// its request headers, instead of one `listen` section.
    pub rules: bool,
    /// TLS on the client side with this key (the `tls` scenario).
    pub tls: Option<TlsKey>,
    /// Load from `openssl s_time` instead of wrk, a TLS connection per
    /// request: `Some(false)` full handshakes (`-new`), `Some(true)` resumed
    /// ones (`-reuse`).
    pub handshakes: Option<bool>,
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
        rules: false,
        tls: None,
        handshakes: None,
    };
    match scenario {
        "close" => vec![
            p(
                "server connections reused where the proxy can (HAProxy and ringlb \
                 `http-reuse always`, nginx upstream `keepalive 64`)",
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
        "rules" => vec![
            p(
                "plain keep-alive, one `listen` section (the `keepalive` scenario)",
                "plain",
                "/",
                false,
                false,
            ),
            Pass {
                rules: true,
                plot_bytes: false,
                ..p(
                    "20 ACLs, 10 `use_backend` lines (the 7th routes), 5 header rules",
                    "rules",
                    rules::path(),
                    false,
                    false,
                )
            },
        ],
        _ => vec![p("", "ka", "/", false, false)],
    }
}

/// Measures every target for one table. All proxies run at once (each idle
/// while another is loaded) and the measured runs are interleaved: run 1 of
/// each target, then run 2 of each... so that a machine whose speed drifts
/// during the table (a shared VM: ±10-20 % between minutes seen here) skews
/// every target alike instead of whichever ran during a slow minute.
/// `perf` counts each proxy's system calls (`None`: not available).
pub fn run_pass(
    ctx: &Ctx,
    kinds: &[TargetKind],
    scenario: &str,
    pass: &Pass,
    perf: Option<&Path>,
) -> Vec<Row> {
    let shape = Shape {
        tcp: pass.tcp,
        httpclose: pass.httpclose,
        defer_accept: pass.defer_accept,
        rules: pass.rules,
        tls: pass.tls,
        ..Shape::default()
    };
    let rule_headers = if pass.rules {
        rules::wrk_headers()
    } else {
        Vec::new()
    };
    let load = wrk::Load {
        wrk: &ctx.wrk,
        cpus: &ctx.opts.load_cpus,
        threads: ctx.opts.threads,
        connections: ctx.opts.connections,
        close: pass.close,
        path: pass.path,
        headers: &rule_headers,
        https: pass.tls.is_some(),
    };
    let scenario = format!("{scenario}-{}", pass.tag);
    let mut targets: Vec<Target> = kinds
        .iter()
        .map(|&kind| Target::start(ctx, kind, shape, pass, &load, &scenario))
        .collect();
    for i in 0..ctx.opts.runs {
        for t in targets.iter_mut().filter(|t| t.failed.is_none()) {
            t.one_run(ctx, &load, &scenario, i);
        }
    }
    targets
        .into_iter()
        .map(|t| t.finish(ctx, &load, &scenario, perf))
        .collect()
}

/// One target of a table while it is being measured.
struct Target {
    kind: TargetKind,
    name: String,
    /// The running proxy (`None` for direct), stopped when dropped.
    proxy: Option<Proc>,
    port: u16,
    /// Why this target has no (more) numbers.
    failed: Option<String>,
    runs: Runs,
    non_2xx: u64,
    socket_errors: u64,
    requests: u64,
    /// `Some(resume)`: the load is `openssl s_time` (see [`Pass::handshakes`]).
    handshakes: Option<bool>,
    /// Resumed connections counted by s_time.
    resumed: u64,
    /// The negotiated TLS parameters, from the handshake check.
    tls_info: Option<String>,
}

impl Target {
    /// Starts the proxy, checks that it answers, warms it up.
    fn start(
        ctx: &Ctx,
        kind: TargetKind,
        shape: Shape,
        pass: &Pass,
        load: &wrk::Load,
        scenario: &str,
    ) -> Target {
        let mut t = Target {
            kind,
            name: target_name(ctx, kind, pass.tcp),
            proxy: None,
            port: ctx.backend_port,
            failed: None,
            runs: Runs::default(),
            non_2xx: 0,
            socket_errors: 0,
            requests: 0,
            handshakes: pass.handshakes,
            resumed: 0,
            tls_info: None,
        };
        match start_proxy(ctx, kind, shape) {
            Ok(Some((proc, port))) => (t.proxy, t.port) = (Some(proc), port),
            Ok(None) => {}
            Err(why) => {
                t.failed = Some(why);
                return t;
            }
        }
        let checked = match pass.tls {
            Some(_) => tls_smoke(ctx, t.port, pass.path).map(|info| t.tls_info = Some(info)),
            None => smoke(&t, pass),
        };
        if let Err(e) = checked {
            t.failed = Some(format!("failed: {e:#}"));
        } else if ctx.opts.warmup > 0 {
            let log = ctx
                .tmp
                .join(format!("wrk-{scenario}-{}-warmup.log", kind.tag()));
            if let Err(e) = t.drive(ctx, load, ctx.opts.warmup, &log) {
                t.failed = Some(format!("failed in warm-up: {e:#}"));
            }
            // Only the measured runs' connections count.
            t.resumed = 0;
        }
        t
    }

    /// Measured run `i`, bracketed by readings of the proxy group's CPU time.
    fn one_run(&mut self, ctx: &Ctx, load: &wrk::Load, scenario: &str, i: u32) {
        let log = ctx
            .tmp
            .join(format!("wrk-{scenario}-{}-{i}.log", self.kind.tag()));
        let mark = self.proxy.as_ref().map(|p| CpuMark::start(p.pid()));
        match self.drive(ctx, load, ctx.opts.duration, &log) {
            Ok(r) => {
                if let Some(used) = mark.map(|m| m.finish())
                    && let Some(us) = used.us_per_req(r.requests)
                {
                    self.runs.cpu_us.push(us);
                    self.runs.cpu_pct.push(used.percent());
                }
                self.runs.rps.push(r.rps);
                self.runs.bytes.push(r.bytes_per_sec);
                self.non_2xx += r.non_2xx;
                self.socket_errors += r.socket_errors;
                self.requests += r.requests;
            }
            Err(e) => self.failed = Some(format!("failed: {e:#}")),
        }
        if let Some(p) = self.proxy.as_mut()
            && let Some(status) = p.exited()
        {
            self.failed = Some(format!(
                "failed: {} exited during the run ({status}): {}",
                p.name,
                p.output_tail(3)
            ));
        }
    }

    /// One load run of `secs` s: wrk, or `openssl s_time` for the handshake
    /// tables (connections/s as req/s; resumed connections counted).
    fn drive(
        &mut self,
        ctx: &Ctx,
        load: &wrk::Load,
        secs: u64,
        log: &Path,
    ) -> anyhow::Result<wrk::WrkResult> {
        let Some(resume) = self.handshakes else {
            return wrk::run(load, self.port, secs, log);
        };
        let openssl = ctx
            .openssl
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("openssl not found"))?;
        let clients = ctx.handshake_clients;
        let name = log
            .file_name()
            .map(|n| n.to_string_lossy().replacen("wrk-", "s_time-", 1));
        let log = log.with_file_name(name.unwrap_or_default());
        let h = tls::s_time(openssl, load.cpus, clients, self.port, resume, secs, &log)?;
        self.resumed += h.resumed;
        Ok(wrk::WrkResult {
            rps: h.per_sec,
            requests: h.connections,
            ..wrk::WrkResult::default()
        })
    }

    /// The row: checks the answers, then (with `perf`) counts system calls
    /// over one more run; the proxy stops when `self` drops.
    fn finish(mut self, ctx: &Ctx, load: &wrk::Load, scenario: &str, perf: Option<&Path>) -> Row {
        let mut row = Row {
            name: self.name.clone(),
            outcome: Err(String::new()),
            bytes: Vec::new(),
            cpu_us: Vec::new(),
            cpu_pct: Vec::new(),
            syscalls: None,
            notes: Vec::new(),
            is_haproxy: self.kind == TargetKind::Haproxy,
            is_direct: self.kind == TargetKind::Direct,
        };
        let (requests, non_2xx) = (self.requests, self.non_2xx);
        if self.failed.is_none() && requests == 0 {
            self.failed = Some("failed: no request completed".into());
        }
        if self.failed.is_none() && non_2xx * 2 > requests {
            self.failed = Some(format!(
                "failed: {non_2xx} of {requests} responses were not 2xx/3xx"
            ));
        }
        if let Some(why) = self.failed {
            row.outcome = Err(why);
            return row;
        }
        if non_2xx > 0 {
            row.notes.push(format!("{non_2xx} non-2xx of {requests}"));
        }
        if self.socket_errors > 0 {
            row.notes
                .push(format!("{} socket errors", self.socket_errors));
        }
        if let Some(resume) = self.handshakes {
            let share = 100.0 * self.resumed as f64 / requests as f64;
            if resume && share < 90.0 {
                row.outcome = Err(format!(
                    "failed: only {share:.1} % of {requests} connections resumed"
                ));
                return row;
            }
            row.notes.push(format!("{share:.1} % resumed"));
            if let Some(us) = report::median(&self.runs.cpu_us).filter(|&us| us > 0.0) {
                row.notes.push(format!(
                    "≈ {} handshakes/s per proxy core (10⁶ / CPU µs)",
                    report::thousands(1e6 / us)
                ));
            }
        }
        if let Some(info) = &self.tls_info {
            row.notes.push(info.clone());
        }
        if let (Some(p), Some(perf)) = (self.proxy.as_mut(), perf) {
            let name = format!("{scenario}-{}-syscalls", self.kind.tag());
            // Never fails the row: the cell shows "–", the note says why.
            match count_syscalls(ctx, load, self.port, p, perf, &name) {
                Ok(n) => row.syscalls = Some(n),
                Err(why) => row.notes.push(format!("syscalls not counted: {why}")),
            }
        }
        // keepalive and close keep their req/s-only table.
        if matches!(scenario.split('-').next(), Some("large" | "tcp")) || scenario.ends_with("-1m")
        {
            row.bytes = self.runs.bytes;
        }
        row.cpu_us = self.runs.cpu_us;
        row.cpu_pct = self.runs.cpu_pct;
        row.outcome = Ok(self.runs.rps);
        row
    }
}

/// One request as the load sends it, which must answer 200; through a
/// `rules` proxy it must also carry the routed backend's response header,
/// proving the request took the 7th `use_backend` line.
fn smoke(t: &Target, pass: &Pass) -> anyhow::Result<()> {
    if !pass.rules {
        return sys::smoke_request_path(t.port, pass.path).map(drop);
    }
    let head = sys::smoke_request_head(t.port, pass.path, &rules::wrk_headers())?;
    let (name, value) = rules::ROUTED_HEADER;
    let routed = head.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case(name) && v.trim() == value)
    });
    if t.kind != TargetKind::Direct && !routed {
        anyhow::bail!("not routed to be_api_v2 (no `{name}: {value}`): {head:?}");
    }
    Ok(())
}

/// The TLS check before a `tls` table: a verified handshake and a 200.
fn tls_smoke(ctx: &Ctx, port: u16, path: &str) -> anyhow::Result<String> {
    let openssl = ctx
        .openssl
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("openssl not found"))?;
    tls::check_handshake(openssl, &ctx.tmp, port, path)
}

/// Per-run numbers of one target.
#[derive(Default)]
struct Runs {
    rps: Vec<f64>,
    bytes: Vec<f64>,
    cpu_us: Vec<f64>,
    cpu_pct: Vec<f64>,
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
        let r = passes("rules");
        assert_eq!(
            r.iter()
                .map(|p| (p.rules, p.plot_bytes))
                .collect::<Vec<_>>(),
            vec![(false, false), (true, false)]
        );
        let large = passes("large");
        assert!(large.iter().all(|p| p.plot_bytes));
        let tcp = passes("tcp");
        assert_eq!(
            tcp.iter().map(|p| p.plot_bytes).collect::<Vec<_>>(),
            vec![false, true, false]
        );
    }
}
