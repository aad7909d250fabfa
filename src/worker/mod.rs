//! The workers: one pinned thread per core, each with its own monoio runtime.
//!
//! A worker owns its listeners (SO_REUSEPORT), its connections, buffers,
//! balancers and idle server connections; nothing it touches per request is
//! shared with another worker. It runs on the io_uring driver, or on the
//! epoll ("legacy") driver where io_uring cannot be set up.

pub mod accept;
pub mod context;
pub mod handover;
pub mod limit;
pub mod listen;
pub mod rate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use self::context::WorkerCtx;
use self::limit::Limits;
use self::listen::BoundListener;
use crate::config::model::{Affinity, CpuMap, affinity};
use crate::runtime::Shared;

/// Set once the io_uring fallback has been reported.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// io_uring submission queue size per worker.
const URING_ENTRIES: u32 = 4096;

/// How many workers to run: `nbthread`, or one per core.
pub fn count(nbthread: Option<usize>) -> usize {
    nbthread.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// A worker's io_uring runtime. Deferred task running first (Linux 6.1+):
/// the kernel completes network operations only when the worker enters the
/// ring to wait, all in one batch, where cooperative task running (5.19+, the
/// fallback) completes them at any return from a system call; over
/// cooperative, 5-6 % less CPU per request with `option httpclose` and in
/// mode tcp, 1-4 % in the close scenario, 0-3 % in keep-alive (`perf/ab`,
/// medians of 6). Cooperative itself measured 10-20 % less CPU per proxied
/// request than a plain ring, which older kernels get. Deferred task running
/// needs a single issuer: only the worker thread that made the ring uses it.
fn uring_runtime()
-> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let mut deferred = io_uring::IoUring::builder();
    deferred.setup_single_issuer().setup_defer_taskrun();
    let mut coop = io_uring::IoUring::builder();
    coop.setup_coop_taskrun().setup_taskrun_flag();
    let build = |urb: io_uring::Builder| {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .uring_builder(urb)
            .with_entries(URING_ENTRIES)
            .enable_timer()
            .build()
    };
    build(deferred)
        .or_else(|_| build(coop))
        .or_else(|_| build(io_uring::IoUring::builder()))
}

/// Restricts the calling worker thread to `cpus` (`cpu-map`); a set the
/// system refuses (CPUs it does not have) is said once and left unbound.
fn pin_to(id: usize, cpus: &[u32]) {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        if (c as usize) < libc::CPU_SETSIZE as usize {
            // SAFETY: the index is below CPU_SETSIZE, inside `set`.
            unsafe { libc::CPU_SET(c as usize, &mut set) };
        }
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the
    // calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        eprintln!(
            "[WARNING] cpu-map: cannot bind worker {} to CPUs {cpus:?}: {}",
            id + 1,
            std::io::Error::last_os_error()
        );
    }
}

/// Which I/O driver the workers will use, decided once for the process.
pub fn uring_available() -> bool {
    monoio::utils::detect_uring()
}

/// Starts the workers; each returns when it has soft-stopped.
pub fn spawn(
    shared: Arc<Shared>,
    listeners: Vec<Vec<BoundListener>>,
    global_maxconn: usize,
    global_rate: Option<u32>,
    use_uring: bool,
    cpu_map: &[CpuMap],
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let workers = listeners.len();
    // maxconn is counted for the whole process, not split between workers.
    let (mut limits, doorbells) = Limits::new(
        global_maxconn,
        shared
            .frontends
            .iter()
            .map(|f| f.maxconn.map(|m| m as usize)),
        workers,
    )?;
    if let Some(l) = std::sync::Arc::get_mut(&mut limits) {
        // `bind ... maxconn`: every worker has a copy of each listener.
        l.set_listeners(listeners.iter().flatten().filter_map(|bl| bl.maxconn));
        l.rates = rate::Rates::new(
            global_rate,
            shared
                .frontends
                .iter()
                .map(|f| f.model.settings.rate_limit_sessions),
        );
    }
    let mut handles = Vec::with_capacity(workers);
    for ((id, mine), doorbell) in listeners.into_iter().enumerate().zip(doorbells) {
        let shared = shared.clone();
        let limits = limits.clone();
        let core = (!cores.is_empty()).then(|| cores[id % cores.len()]);
        let place = affinity(cpu_map, id as u32 + 1, workers as u32);
        let h = std::thread::Builder::new()
            .name(format!("ringlb-w{id}"))
            .spawn(move || {
                match place {
                    Affinity::Default => {
                        if let Some(core) = core {
                            core_affinity::set_for_current(core);
                        }
                    }
                    Affinity::Cpus(cpus) => pin_to(id, &cpus),
                    Affinity::Free => {}
                }
                let run = move || async move {
                    let ctx = WorkerCtx::new(id, shared, limits, global_maxconn, workers);
                    accept::run(ctx, mine, doorbell).await;
                };
                if use_uring {
                    match uring_runtime() {
                        Ok(mut rt) => return rt.block_on(run()),
                        Err(e) => {
                            // Said once for the process, not once per worker.
                            if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                                eprintln!(
                                    "[WARNING] cannot set up io_uring ({e}); workers use the epoll driver"
                                );
                            }
                        }
                    }
                }
                match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .enable_timer()
                    .build()
                {
                    Ok(mut rt) => rt.block_on(run()),
                    Err(e) => eprintln!("[ALERT] worker {id}: cannot start a runtime: {e}"),
                }
            })?;
        handles.push(h);
    }
    Ok(handles)
}
