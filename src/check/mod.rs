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

pub mod http;
pub mod log;
pub mod probe;
pub mod state;
pub mod status;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

pub use self::status::{CheckReport, CheckStatus, ServerCheck};

use self::log::{Counts, Severity, Subject};
use self::state::{Change, Health};
use crate::balance;
use crate::config::model::Address;
use crate::runtime::{BackendRt, Shared};

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
    if jobs.is_empty() {
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
    for t in tasks {
        t.await;
    }
}

/// Checks one server forever.
async fn server_loop(shared: Arc<Shared>, job: Job, first_delay: Duration) {
    let be = &shared.backends[job.backend];
    let srv = &be.servers[job.server];
    let chk = &srv.check;
    let Some(address) = chk.address.as_ref() else {
        return;
    };
    let request = be
        .model
        .httpchk
        .as_ref()
        .map(|hc| http::build_request(hc, &host_header(address)));
    let who = Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    };
    let log_checks = be.model.log.log_health_checks;
    let mut health = Health::new(chk.rise, chk.fall);
    let mut last_status: Option<CheckStatus> = None;
    monoio::time::sleep(first_delay).await;
    loop {
        // A server waiting for its name to resolve has no address to check;
        // it is checked again once the resolver gives it one.
        if srv.admin.flags() & crate::runtime::admin_flags::RMAINT != 0 {
            monoio::time::sleep(chk.inter).await;
            continue;
        }
        let current = resolved_target(srv, address);
        let report = probe::run(probe::Target {
            address: &current,
            request: request.as_deref(),
            // HAProxy bounds a check by the configured `inter`, whatever the current period.
            inter: chk.inter,
            timeout_check: be.model.timeouts.check,
            timeout_connect: be.model.timeouts.connect,
        })
        .await;
        let change = health.record(report.status.passed());
        chk.health.store(health.counter(), Ordering::Relaxed);
        chk.last.store(Some(Arc::new(report.clone())));

        // HAProxy logs a result when it moves the counter or changes the outcome class.
        if log_checks && (change != Change::None || last_status != Some(report.status)) {
            log::emit(
                be,
                Severity::Notice,
                &log::health_check_line(who, &report, &health),
            );
        }
        last_status = Some(report.status);

        match change {
            Change::WentDown => went_down(&shared, be, job.server, &report, log_checks),
            Change::WentUp => went_up(be, job.server, &report, log_checks),
            Change::Counted | Change::None => {}
        }
        let period = health.interval(chk.inter, chk.fastinter, chk.downinter);
        monoio::time::sleep(period).await;
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
        _ => std::borrow::Cow::Borrowed(configured),
    }
}

/// Publishes a server going DOWN and logs it.
fn went_down(shared: &Shared, be: &BackendRt, index: usize, report: &CheckReport, logged: bool) {
    let srv = &be.servers[index];
    publish_up(srv, false);
    let chk = &srv.check;
    chk.down_transitions.fetch_add(1, Ordering::Relaxed);
    chk.last_change_ms
        .store(status::unix_ms(), Ordering::Relaxed);
    let counts = counts(be);
    let who = Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    };
    // With log-health-checks the reason was just logged; HAProxy does not repeat it.
    let reason = (!logged).then_some(report);
    let sessions = srv.active.load(Ordering::Relaxed);
    log::emit(
        be,
        Severity::Alert,
        &log::down_line(who, reason, counts, sessions),
    );
    if counts.active == 0 && counts.backup == 0 {
        log::emit(
            be,
            Severity::Emerg,
            &log::no_server_line(proxy_kind(shared, be), &be.name),
        );
    }
}

/// Publishes a server coming UP and logs it.
fn went_up(be: &BackendRt, index: usize, report: &CheckReport, logged: bool) {
    let srv = &be.servers[index];
    publish_up(srv, true);
    let chk = &srv.check;
    let now = status::unix_ms();
    let since = chk.last_change_ms.swap(now, Ordering::Relaxed);
    chk.downtime_ms
        .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
    let who = Subject {
        backend: &be.name,
        server: &srv.name,
        backup: srv.backup,
    };
    let reason = (!logged).then_some(report);
    log::emit(be, Severity::Notice, &log::up_line(who, reason, counts(be)));
}

/// Stores the state where workers read it, then tells the balancers to rebuild.
fn publish_up(srv: &crate::runtime::ServerRt, up: bool) {
    srv.up.store(up, Ordering::Release);
    balance::servers_changed();
}

/// Servers of the backend usable now, active and backup (HAProxy's srv_act/srv_bck).
fn counts(be: &BackendRt) -> Counts {
    let mut c = Counts {
        active: 0,
        backup: 0,
    };
    for s in be.servers.iter().filter(|s| s.usable()) {
        if s.backup {
            c.backup += 1;
        } else {
            c.active += 1;
        }
    }
    c
}

/// HAProxy calls a `listen` section a "proxy" and a `backend` a "backend". A
/// `listen` yields a frontend of the same name pointing at this backend.
fn proxy_kind(shared: &Shared, be: &BackendRt) -> &'static str {
    let from_listen = shared.frontends.iter().any(|f| {
        f.name == be.name
            && shared
                .backends
                .get(f.backend.unwrap_or(usize::MAX))
                .is_some_and(|b| std::ptr::eq(b, be))
    });
    if from_listen { "proxy" } else { "backend" }
}

/// The `Host` value for an HTTP/1.1 check that names none: the checked address.
fn host_header(address: &Address) -> String {
    match address {
        Address::Inet(sa) => sa.to_string(),
        Address::Unix(_) | Address::Fd(_) => "localhost".to_string(),
    }
}
