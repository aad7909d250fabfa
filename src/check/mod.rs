//! Health checks: one checker for the whole process, publishing each server's
//! state to every worker through the `up` atomic.
//!
//! The checker is its own thread with its own monoio runtime (the epoll
//! driver: a few sockets a second need no io_uring ring), running one task per
//! checked server. Each task loops: wait the period HAProxy would
//! (`inter`, `fastinter` while changing state, `downinter` while DOWN), run one
//! check (`probe`), count it (`state`), publish, log (`log`). Workers never
//! wait on the checker: they read `ServerRt::up`, and the balancers rebuild
//! their tables before their next pick because the checker bumps
//! [`balance::servers_changed`] after each store.
//!
//! All tasks run on one thread, so the "N active and M backup servers left"
//! counts in the log lines are taken without racing another check.
//!
//! Beside them: one task per `agent-check` (`agent`), on its own timer, and
//! `option external-check` (`external`), which replaces the probe.

pub mod agent;
pub mod external;
pub mod force;
pub mod http;
pub mod http_program;
pub mod http_rules;
pub mod live;
pub mod log;
pub mod passive;
pub mod probe;
pub mod slowstart;
pub mod state;
pub mod status;
pub mod tcp_proto;
pub mod tcp_rules;
pub mod tcp_run;
pub mod track;
pub mod transition;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

pub use self::status::{CheckReport, CheckStatus, ServerCheck};

use self::state::{Change, Health};
use crate::config::model::Address;
use crate::runtime::{BackendRt, ServerRt, Shared};

/// One checked server: backend index and server index.
#[derive(Debug, Clone, Copy)]
struct Job {
    backend: usize,
    server: usize,
}

/// Starts the checker thread when some server has `check`; returns its handle.
/// The thread runs until the process exits.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<Option<JoinHandle<()>>> {
    let jobs: Vec<Job> = shared
        .backends
        .iter()
        .enumerate()
        // A disabled backend serves nothing: HAProxy does not check it.
        .filter(|(_, be)| !be.model.settings.disabled)
        .flat_map(|(b, be)| {
            be.servers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.check.enabled)
                .map(move |(s, _)| Job {
                    backend: b,
                    server: s,
                })
        })
        .collect();
    let warmups = shared
        .backends
        .iter()
        .flat_map(|b| b.servers.iter())
        .any(|s| s.health.opts.slowstart.is_some());
    if jobs.is_empty() && !warmups && agent::servers(&shared).is_empty() {
        return Ok(None);
    }
    let h = std::thread::Builder::new()
        .name("ringlb-check".into())
        .spawn(move || {
            match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
            {
                Ok(mut rt) => rt.block_on(run(shared, jobs)),
                Err(e) => eprintln!(
                    "[ALERT] health checker: cannot start a runtime: {e}; checked servers stay UP"
                ),
            }
        })?;
    Ok(Some(h))
}

/// Runs every job's loop. First checks are spread over the shortest period, as
/// HAProxy does, so a farm's checks do not all fire at once.
async fn run(shared: Arc<Shared>, jobs: Vec<Job>) {
    let first_period = |j: &Job| {
        let c = &shared.backends[j.backend].servers[j.server].check;
        Health::new(c.rise, c.fall).interval(c.inter, c.fastinter, c.downinter)
    };
    let min = jobs.iter().map(first_period).min().unwrap_or_default();
    let n = jobs.len() as u32;
    let tasks: Vec<_> = jobs
        .iter()
        .enumerate()
        .map(|(pos, &job)| {
            let delay = min * pos as u32 / n;
            monoio::spawn(server_loop(shared.clone(), job, delay))
        })
        .collect();
    let warmups = monoio::spawn(slowstart::run(shared.clone()));
    let agents = agent::spawn_all(&shared);
    for t in tasks.into_iter().chain(agents) {
        t.await;
    }
    warmups.await;
}

/// Checks one server forever; between checks, applies `on-error` when the
/// workers' observation of real traffic trips `error-limit` (`passive`).
async fn server_loop(shared: Arc<Shared>, job: Job, first_delay: Duration) {
    let be = &shared.backends[job.backend];
    let srv = &be.servers[job.server];
    let chk = &srv.check;
    let Some(address) = chk.address.as_ref() else {
        return;
    };
    let request = be.model.httpchk.as_ref().map(http::build_request);
    let mut st = Counted {
        health: Health::new(chk.rise, chk.fall),
        last_status: None,
    };
    let mut next = first_delay;
    loop {
        if let Some((left, (count, event))) = wait(srv, next).await {
            let report = CheckReport {
                status: CheckStatus::Hana,
                code: 0,
                info: passive::info(count, event),
                duration: Duration::ZERO,
            };
            let change = st.health.on_error(srv.health.opts.on_error);
            st.account(&shared, job, change, &report);
            // Every `on-error` brings the next check forward to `fastinter`.
            next = left.min(chk.fastinter);
            continue;
        }
        // A server waiting for its name to resolve has no address to check;
        // it is checked again once the resolver gives it one.
        if srv.admin.flags() & crate::runtime::admin_flags::RMAINT != 0 {
            next = chk.inter;
            continue;
        }
        // `disable health`: no check until `enable health`.
        if chk.paused.load(Ordering::Relaxed) {
            next = chk.inter;
            continue;
        }
        let current = resolved_target(srv, address);
        if let Some(x) = &be.model.external_check {
            // `option external-check` runs a program instead of the probe.
            let report = external::run(x, &shared, job.backend, job.server).await;
            st.health.set_counter(chk.health.load(Ordering::Relaxed));
            let change = st.health.record(report.status.passed());
            st.account(&shared, job, change, &report);
            next = st.health.interval(chk.inter, chk.fastinter, chk.downinter);
            continue;
        }
        let target = probe::Target {
            address: &current,
            request: request.as_deref(),
            // HAProxy bounds a check by the configured `inter`, whatever the current period.
            inter: chk.inter,
            timeout_check: be.model.timeouts.check,
            timeout_connect: be.model.timeouts.connect,
            source: be.model.servers[job.server]
                .source
                .or(be.model.settings.source),
            send_proxy: be.model.servers[job.server].check_send_proxy.as_ref(),
            tls: be.model.servers[job.server].check_ssl.as_deref(),
            program: be.model.tcpcheck.as_deref(),
            rule_tls: be.model.servers[job.server].tcpcheck_tls.as_deref(),
        };
        let report = match http_program::program_of(be) {
            // `http-check` rules (with `option httpchk`): their own runner.
            Some(base) => http_program::run_for(target, base, be, srv).await,
            None => probe::run(target).await,
        };
        // The agent may have moved the counter since the last check.
        st.health.set_counter(chk.health.load(Ordering::Relaxed));
        // `chkfail`: HAProxy counts a failure only while the counter can drop.
        if !report.status.passed() && st.health.counter() > 0 {
            chk.failed_checks.fetch_add(1, Ordering::Relaxed);
        }
        let change = st.health.record(report.status.passed());
        st.account(&shared, job, change, &report);
        http_program::set_nolb(&shared, job.backend, job.server, &report, st.health.is_up());
        next = st.health.interval(chk.inter, chk.fastinter, chk.downinter);
    }
}

/// One server's counted results, between checks.
struct Counted {
    health: Health,
    last_status: Option<CheckStatus>,
}

impl Counted {
    /// Publishes a result the counter took: the counter, the stats' last
    /// check, the `log-health-checks` line, and a change of state.
    fn account(&mut self, shared: &Shared, job: Job, change: Change, report: &CheckReport) {
        let be = &shared.backends[job.backend];
        let srv = &be.servers[job.server];
        let chk = &srv.check;
        chk.health.store(self.health.counter(), Ordering::Relaxed);
        chk.last.store(Some(Arc::new(report.clone())));
        let log_checks = be.model.log.log_health_checks;
        // HAProxy logs a result when it moves the counter or changes the outcome class.
        if log_checks && (change != Change::None || self.last_status != Some(report.status)) {
            let who = log::Subject {
                backend: &be.name,
                server: &srv.name,
                backup: srv.backup,
            };
            log::emit(
                be,
                log::Severity::Notice,
                &log::health_check_line(who, report, &self.health),
            );
        }
        self.last_status = Some(report.status);
        let cause = transition::Cause::Check {
            report,
            logged: log_checks,
        };
        match change {
            Change::WentDown => transition::went_down(shared, job.backend, job.server, cause),
            // An agent that said down keeps the server DOWN (`agent.rs`).
            Change::WentUp if agent::allows_up(srv) => {
                transition::went_up(shared, job.backend, job.server, cause)
            }
            Change::WentUp => {}
            Change::Counted | Change::None => {}
        }
    }
}

/// Where a check connects now: for a server resolved at run time, its
/// current address with the check's port (unless `addr` fixes the address).
fn resolved_target<'a>(
    srv: &crate::runtime::ServerRt,
    configured: &'a Address,
) -> std::borrow::Cow<'a, Address> {
    match (&srv.resolved, configured) {
        (Some(r), Address::Inet(sa)) if srv.check.fixed_addr.is_none() => std::borrow::Cow::Owned(
            Address::Inet(std::net::SocketAddr::new(r.load().ip(), sa.port())),
        ),
        // `set server ... addr` (stats socket): the check follows the new IP.
        (None, Address::Inet(sa)) if srv.check.fixed_addr.is_none() => match srv.set_address() {
            Some(a) => {
                std::borrow::Cow::Owned(Address::Inet(std::net::SocketAddr::new(a.ip(), sa.port())))
            }
            None => std::borrow::Cow::Borrowed(configured),
        },
        _ => std::borrow::Cow::Borrowed(configured),
    }
}

/// Sleeps `d`, or less when the workers trip the server's error limit:
/// then returns what was left of `d` and the trip.
async fn wait(srv: &ServerRt, d: Duration) -> Option<(Duration, (u32, passive::Event))> {
    if srv.health.observe.is_none() {
        monoio::time::sleep(d).await;
        return None;
    }
    let end = std::time::Instant::now() + d;
    loop {
        if let Some(trip) = passive::take(srv) {
            let left = end.saturating_duration_since(std::time::Instant::now());
            return Some((left, trip));
        }
        let now = std::time::Instant::now();
        if now >= end {
            return None;
        }
        monoio::time::sleep((end - now).min(passive::POLL)).await;
    }
}

/// HAProxy calls a `listen` section a "proxy" and a `backend` a "backend". A
/// `listen` yields a frontend of the same name pointing at this backend.
pub(crate) fn proxy_kind(shared: &Shared, be: &BackendRt) -> &'static str {
    let from_listen = shared.frontends.iter().any(|f| {
        f.name == be.name
            && shared
                .backends
                .get(f.backend.unwrap_or(usize::MAX))
                .is_some_and(|b| std::ptr::eq(b, be))
    });
    if from_listen { "proxy" } else { "backend" }
}
