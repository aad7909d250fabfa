//! The `idle` scenario: each proxy's RSS growth per idle client connection,
//! for each requested connection count. The connections come from
//! `idle-client` processes (the harness's own binary, pinned to the load
//! CPUs), at most `--idle-per-process` each, because one process may not
//! hold more than the hard open-file limit (20,000 here).

use anyhow::{Result, bail};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::cli::{IdleOpts, TargetKind};
use crate::confgen::{self, Shape};
use crate::idle::{ClientReport, parse_client_output};
use crate::plot::{Bar, Group};
use crate::procs::Proc;
use crate::report::{Output, cell, short, thousands};
use crate::start::{pinned, start_proxy, target_name};
use crate::tls::{self, TlsKey};
use crate::{Ctx, check_backend, sys};

/// One proxy's memory under one count of idle client connections.
pub struct IdleRow {
    /// Target name as shown in the table.
    pub name: String,
    /// Connections asked for.
    pub asked: usize,
    /// The measurement, or why there is none.
    pub outcome: Result<IdleResult, String>,
}

/// RSS (summed over the proxy's process group) before and after the idle
/// connections were opened.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleResult {
    /// Connections still open when RSS was read (answered and not closed).
    pub held: usize,
    /// RSS in bytes with no client connection.
    pub rss_before: u64,
    /// RSS in bytes with `held` idle connections.
    pub rss_after: u64,
    /// Processes summed (nginx: master + workers).
    pub processes: usize,
    /// Remarks (connections that failed and why, ...).
    pub notes: String,
}

impl IdleResult {
    /// RSS growth per held connection in bytes (0 when none was held).
    pub fn per_conn(&self) -> f64 {
        if self.held == 0 {
            return 0.0;
        }
        (self.rss_after as f64 - self.rss_before as f64) / self.held as f64
    }
}

/// Validates the idle options before anything starts.
pub fn check_opts(i: &IdleOpts) -> Result<()> {
    if i.idle_connections.is_empty() || i.idle_connections.contains(&0) {
        bail!("--idle-connections must list counts of at least 1");
    }
    if i.idle_threads == 0 || i.idle_per_process == 0 {
        bail!("--idle-threads and --idle-per-process must be at least 1");
    }
    let hard = sys::hard_nofile();
    if i.idle_per_process as u64 + 100 > hard {
        bail!(
            "--idle-per-process {} does not fit one process's hard open-file limit ({hard})",
            i.idle_per_process
        );
    }
    Ok(())
}

/// maxconn for `n` idle connections: room for all of them and some spare,
/// never below the other scenarios' (15,000 → 16,000).
pub fn maxconn_for(n: usize) -> u32 {
    let want = (n as u32 + 1000).div_ceil(1000) * 1000;
    confgen::MAXCONN.max(want)
}

/// Runs every count against every proxy and renders the table and plot.
pub fn report(ctx: &Ctx, backend: &mut Proc, i: &IdleOpts) -> Result<Output> {
    let mut rows = Vec::new();
    for &n in &i.idle_connections {
        for &kind in &ctx.opts.targets {
            if kind == TargetKind::Direct {
                continue;
            }
            check_backend(backend)?;
            let row = run_one(ctx, kind, n, i);
            eprintln!(
                "idle {n}: {} -> {}",
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
    }
    let counts = i
        .idle_connections
        .iter()
        .map(|&n| format!("{n} (maxconn {})", maxconn_for(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let header = vec![format!(
        "load: idle client connections {counts}, opened by `idle-client` processes of the \
         harness (at most {} connections each, {} threads each, pinned to the load CPUs): each \
         sends `GET /` (keep-alive), reads the whole answer, and is then held idle {} s; \
         \"held\" counts those still open when RSS was read; RSS is VmRSS summed over the \
         proxy's process group (nginx: master + workers), read before opening and with all \
         held; where 2 × maxconn exceeds the hard open-file limit ({}), HAProxy and ringlb get \
         `no strict-limits` (warn instead of refusing or lowering maxconn); nginx \
         `worker_rlimit_nofile 19000`",
        i.idle_per_process,
        i.idle_threads,
        i.settle,
        sys::hard_nofile()
    )];
    Ok(Output {
        header,
        tables: render(&rows),
        plot: plot_groups(&i.idle_connections, &rows),
    })
}

/// One proxy and one connection count.
fn run_one(ctx: &Ctx, kind: TargetKind, n: usize, i: &IdleOpts) -> IdleRow {
    run_one_tls(ctx, kind, n, i, None)
}

/// [`run_one`], the client connections TLS with `tls`'s certificate when
/// given (the `tls` scenario): each does a verified handshake first.
pub fn run_one_tls(
    ctx: &Ctx,
    kind: TargetKind,
    n: usize,
    i: &IdleOpts,
    tls: Option<TlsKey>,
) -> IdleRow {
    let name = target_name(ctx, kind, false);
    let maxconn = maxconn_for(n);
    let shape = Shape {
        maxconn,
        no_strict_limits: confgen::needs_no_strict_limits(maxconn, sys::hard_nofile()),
        tls,
        ..Shape::default()
    };
    let outcome = (|| {
        let (mut proc, port) = match start_proxy(ctx, kind, shape)? {
            Some(p) => p,
            None => return Err("no proxy".to_string()),
        };
        let failed = |e: anyhow::Error| format!("failed: {e:#}");
        match (tls, &ctx.openssl) {
            (None, _) => sys::smoke_request(port).map(drop).map_err(failed)?,
            (Some(_), Some(openssl)) => tls::check_handshake(openssl, &ctx.tmp, port, "/")
                .map(drop)
                .map_err(failed)?,
            (Some(_), None) => return Err("failed: openssl not found".into()),
        }
        std::thread::sleep(Duration::from_millis(500));
        let pgid = proc.pid();
        let (before, _) = sys::group_rss(pgid).map_err(failed)?;
        let mut clients = spawn_clients(ctx, port, n, i, tls.is_some()).map_err(failed)?;
        let opened = wait_ready(&mut clients, n).map_err(failed)?;
        std::thread::sleep(Duration::from_secs(i.settle));
        if let Some(status) = proc.exited() {
            return Err(format!(
                "failed: {} exited ({status}): {}",
                proc.name,
                proc.output_tail(3)
            ));
        }
        let (after, processes) = sys::group_rss(pgid).map_err(failed)?;
        let held = count_alive(&mut clients).map_err(failed)?;
        // Close the clients before the proxy stops.
        drop(clients);
        if held == 0 {
            return Err(format!(
                "failed: no connection held ({})",
                opened.first_error.unwrap_or_else(|| proc.output_tail(2))
            ));
        }
        let mut notes = Vec::new();
        let answered = opened.ready.map_or(0, |(h, _)| h);
        if answered < n {
            notes.push(format!(
                "{} of {n} got no answer (first: {})",
                n - answered,
                opened.first_error.as_deref().unwrap_or("?")
            ));
        }
        if held < answered {
            notes.push(format!(
                "{} answered but closed by the time RSS was read",
                answered - held
            ));
        }
        if held < n {
            notes.insert(0, format!("held {held} of {n}"));
            notes.push(format!("proxy log: {}", proc.output_tail(2)));
        } else if shape.no_strict_limits {
            notes.push(format!(
                "`no strict-limits`: maxconn {maxconn} over the open-file limit {}",
                sys::hard_nofile()
            ));
        }
        Ok(IdleResult {
            held,
            rss_before: before,
            rss_after: after,
            processes,
            notes: notes.join("; "),
        })
    })();
    IdleRow {
        name,
        asked: n,
        outcome,
    }
}

/// Starts the client processes, `--idle-per-process` connections at most each.
fn spawn_clients(ctx: &Ctx, port: u16, n: usize, i: &IdleOpts, tls: bool) -> Result<Vec<Proc>> {
    let exe = std::env::current_exe()?;
    let procs = n.div_ceil(i.idle_per_process);
    let mut clients = Vec::with_capacity(procs);
    for p in 0..procs {
        let share = n / procs + usize::from(p < n % procs);
        let mut cmd = pinned(&ctx.opts.load_cpus, &exe);
        cmd.arg("idle-client")
            .arg("--port")
            .arg(port.to_string())
            .arg("--count")
            .arg(share.to_string())
            .arg("--threads")
            .arg(i.idle_threads.to_string());
        if tls {
            cmd.arg("--tls-ca").arg(tls::ca_pem(&ctx.tmp));
        }
        let log = ctx.tmp.join(format!("idle-client-{port}-{p}.log"));
        clients.push(Proc::spawn_with_stdin("idle-client", &mut cmd, &log)?);
    }
    Ok(clients)
}

/// Polls the clients' output until `pred` holds for each; fails if one exits
/// first or the time runs out.
fn wait_each(
    clients: &mut [Proc],
    limit: Duration,
    pred: impl Fn(&ClientReport) -> bool,
) -> Result<Vec<ClientReport>> {
    let start = Instant::now();
    let mut reports = Vec::with_capacity(clients.len());
    for c in clients.iter_mut() {
        loop {
            let r = parse_client_output(&c.output());
            if pred(&r) {
                reports.push(r);
                break;
            }
            if let Some(status) = c.exited() {
                bail!("an idle client exited ({status}): {}", c.output_tail(2));
            }
            if start.elapsed() > limit {
                bail!("idle clients not done within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(reports)
}

/// Waits for every client's `ready` line; sums what they opened.
fn wait_ready(clients: &mut [Proc], n: usize) -> Result<ClientReport> {
    // Each connection may wait up to 15 s (connect + answer timeouts), but
    // they mostly take well under a millisecond.
    let limit = Duration::from_secs(60 + n as u64 / 500);
    let reports = wait_each(clients, limit, |r| r.ready.is_some())?;
    let mut sum = ClientReport {
        ready: Some((0, 0)),
        ..ClientReport::default()
    };
    for r in reports {
        let (h, f) = r.ready.unwrap_or((0, 0));
        let (sh, sf) = sum.ready.unwrap_or((0, 0));
        sum.ready = Some((sh + h, sf + f));
        if sum.first_error.is_none() {
            sum.first_error = r.first_error;
        }
    }
    Ok(sum)
}

/// Asks every client how many of its connections are still open.
fn count_alive(clients: &mut [Proc]) -> Result<usize> {
    for c in clients.iter_mut() {
        c.send_line("check")?;
    }
    let reports = wait_each(clients, Duration::from_secs(30), |r| r.alive.is_some())?;
    Ok(reports.iter().filter_map(|r| r.alive).sum())
}

/// The idle table: one row per target per count; ratios within a count.
pub fn render(rows: &[IdleRow]) -> String {
    let mut out = String::from(
        "\n| target | idle connections asked | held | RSS before | RSS after | RSS growth per connection | ratio to HAProxy | processes | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
    for r in rows {
        let haproxy = rows
            .iter()
            .find(|h| h.asked == r.asked && h.name.starts_with("HAProxy"))
            .and_then(|h| h.outcome.as_ref().ok())
            .map(IdleResult::per_conn);
        match &r.outcome {
            Ok(x) => {
                let per = x.per_conn();
                let ratio = match haproxy {
                    Some(h) if h > 0.0 => format!("{:.2}", per / h),
                    _ => "–".into(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {:.1} KiB | {ratio} | {} | {} |",
                    cell(&r.name),
                    thousands(r.asked as f64),
                    thousands(x.held as f64),
                    mib(x.rss_before),
                    mib(x.rss_after),
                    per / 1024.0,
                    x.processes,
                    cell(&x.notes),
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |  |  |  | – |  |  |",
                    cell(&r.name),
                    thousands(r.asked as f64),
                    cell(why)
                );
            }
        }
    }
    out
}

/// One bar group per count: KiB of RSS per held connection.
pub fn plot_groups(counts: &[usize], rows: &[IdleRow]) -> Vec<Group> {
    counts
        .iter()
        .map(|&n| Group {
            title: format!(
                "idle, {} connections: RSS growth per connection, KiB (lower is better)",
                thousands(n as f64)
            ),
            bars: rows
                .iter()
                .filter(|r| r.asked == n)
                .map(|r| match &r.outcome {
                    Ok(x) => Bar {
                        label: r.name.clone(),
                        value: Some((x.per_conn() / 1024.0).max(0.0)),
                        text: format!(
                            "{:.1} KiB ({} held)",
                            x.per_conn() / 1024.0,
                            thousands(x.held as f64)
                        ),
                    },
                    Err(e) => Bar {
                        label: r.name.clone(),
                        value: None,
                        text: short(e),
                    },
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, asked: usize, held: usize, kib: u64) -> IdleRow {
        IdleRow {
            name: name.into(),
            asked,
            outcome: Ok(IdleResult {
                held,
                rss_before: 4 * 1_048_576,
                rss_after: 4 * 1_048_576 + kib * 1024 * held as u64,
                processes: 1,
                notes: String::new(),
            }),
        }
    }

    #[test]
    fn idle_table_and_plot() {
        let rows = vec![
            ok("HAProxy (1 cpu)", 1000, 1000, 32),
            ok("ringlb (1 cpu)", 1000, 1000, 8),
            IdleRow {
                name: "nginx proxy (1 cpu)".into(),
                asked: 1000,
                outcome: Err("not installed".into()),
            },
            ok("HAProxy (1 cpu)", 15000, 15000, 2),
            ok("ringlb (1 cpu)", 15000, 12000, 8),
        ];
        let t = render(&rows);
        assert!(
            t.contains(
                "| HAProxy (1 cpu) | 1,000 | 1,000 | 4.0 MiB | 35.2 MiB | 32.0 KiB | 1.00 | 1 |  |"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "| ringlb (1 cpu) | 1,000 | 1,000 | 4.0 MiB | 11.8 MiB | 8.0 KiB | 0.25 | 1 |  |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| nginx proxy (1 cpu) | 1,000 | not installed |"),
            "{t}"
        );
        // The ratio uses HAProxy's row of the same count.
        assert!(t.contains("| ringlb (1 cpu) | 15,000 | 12,000 |"), "{t}");
        assert!(t.contains("| 8.0 KiB | 4.00 |"), "{t}");
        let groups = plot_groups(&[1000, 15000], &rows);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].bars.len(), 3);
        assert_eq!(groups[1].bars.len(), 2);
        assert!(groups[0].bars[2].value.is_none());
        let none = IdleResult {
            held: 0,
            rss_before: 5,
            rss_after: 9,
            processes: 1,
            notes: String::new(),
        };
        assert_eq!(none.per_conn(), 0.0);
    }

    #[test]
    fn maxconn_rule() {
        assert_eq!(maxconn_for(1000), confgen::MAXCONN);
        assert_eq!(maxconn_for(15000), 16_000);
        assert_eq!(maxconn_for(15001), 17_000);
    }
}
