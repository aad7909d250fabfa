//! Global keywords ringlb accepts and ignores, each with the reason it is
//! safe: none changes where traffic goes, what it carries, who may pass, or
//! a limit ringlb enforces.

use crate::config::parse::{Args, Ctx};

/// HAProxy globals operators commonly carry: accepted, warned about (with
/// the reason from [`NOOPS`]), ignored.
pub const IGNORED: &[&str] = &[
    "quiet",
    "debug",
    "spread-checks",
    "tune.maxrewrite",
    "tune.maxaccept",
    "tune.ssl.default-dh-param",
    "ssl-dh-param-file",
    "tune.ssl.force-private-cache",
    "tune.ssl.ssl-ctx-cache-size",
    "tune.ssl.capture-buffer-size",
    "tune.ssl.capture-cipherlist-size",
    "tune.ssl.keylog",
    "localpeer",
    "description",
    "log-tag",
    "tune.idle-pool.shared",
    "tune.rcvbuf.client",
    "tune.rcvbuf.server",
    "tune.sndbuf.client",
    "tune.sndbuf.server",
    "tune.recv_enough",
    "tune.runqueue-depth",
    "tune.maxpollevents",
    "tune.idletimer",
    "tune.fd.edge-triggered",
    "tune.listener.multi-queue",
    "tune.sched.low-latency",
    "tune.pattern.cache-size",
    "tune.h2.header-table-size",
    "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams",
    "tune.h2.max-frame-size",
    "noepoll",
    "nopoll",
    "nosplice",
    "busy-polling",
    "max-spread-checks",
    "set-dumpable",
    "numa-cpu-mapping",
    "thread-groups",
    "expose-experimental-directives",
    "profiling.tasks",
    "profiling.memory",
    "mworker-max-reloads",
    "insecure-setuid-wanted",
    "h2-workaround-bogus-websocket-clients",
    "cluster-secret",
    "maxcomprate",
    "tune.comp.maxlevel",
    "tune.fail-alloc",
    "httpclient.ssl.verify",
    "httpclient.ssl.ca-file",
    "httpclient.resolvers.prefer",
    "httpclient.resolvers.id",
    "httpclient.retries",
    "httpclient.timeout.connect",
];

/// Why each global of [`IGNORED`] is safe to ignore: none changes where
/// traffic goes, what it carries, who may pass, or a limit ringlb enforces.
pub const NOOPS: &[(&str, &str)] = &[
    (
        "quiet",
        "startup messages are silenced with -q on the command line",
    ),
    (
        "debug",
        "debug output is asked for with -d on the command line",
    ),
    (
        "spread-checks",
        "health checks keep their exact interval; the first ones are already spread",
    ),
    (
        "tune.maxrewrite",
        "ringlb rewrites headers without a reserved buffer margin",
    ),
    (
        "tune.maxaccept",
        "each worker accepts at most 16 connections per wakeup, fixed",
    ),
    (
        "tune.ssl.default-dh-param",
        "rustls has no DHE key exchange (ECDHE only), so no DH parameters are used",
    ),
    (
        "ssl-dh-param-file",
        "rustls has no DHE key exchange (ECDHE only), so no DH parameters are used",
    ),
    (
        "tune.ssl.force-private-cache",
        "ringlb is one process: its TLS session cache is already private to it",
    ),
    (
        "tune.ssl.ssl-ctx-cache-size",
        "ringlb does not generate certificates ('generate-certificates' is refused)",
    ),
    (
        "tune.ssl.capture-buffer-size",
        "the ssl_fc_cipherlist_* fetches it feeds are not supported",
    ),
    (
        "tune.ssl.capture-cipherlist-size",
        "the ssl_fc_cipherlist_* fetches it feeds are not supported",
    ),
    (
        "tune.ssl.keylog",
        "the ssl_fc_*_secret fetches it feeds are not supported",
    ),
    (
        "localpeer",
        "peers sections are not supported (HAPROXY_LOCALPEER comes from -L)",
    ),
    (
        "description",
        "the stats page does not show a process description",
    ),
    ("log-tag", "log lines are tagged 'ringlb'"),
    (
        "tune.idle-pool.shared",
        "each worker keeps its own idle server connections (per-worker pools, share nothing)",
    ),
    (
        "tune.rcvbuf.client",
        "socket buffers are left to the kernel's autotuning",
    ),
    (
        "tune.rcvbuf.server",
        "socket buffers are left to the kernel's autotuning",
    ),
    (
        "tune.sndbuf.client",
        "socket buffers are left to the kernel's autotuning",
    ),
    (
        "tune.sndbuf.server",
        "socket buffers are left to the kernel's autotuning",
    ),
    ("tune.recv_enough", "each read takes what the buffer holds"),
    (
        "tune.runqueue-depth",
        "each worker's io_uring runs every ready task per wakeup",
    ),
    (
        "tune.maxpollevents",
        "io_uring reaps every completion per wakeup",
    ),
    (
        "tune.idletimer",
        "'option splice-auto' splices a direction after its first full buffer, not by idle time",
    ),
    (
        "tune.fd.edge-triggered",
        "ringlb's workers use io_uring (or the epoll fallback) as they need",
    ),
    (
        "tune.listener.multi-queue",
        "every worker accepts on its own SO_REUSEPORT listener",
    ),
    (
        "tune.sched.low-latency",
        "workers run their tasks in arrival order",
    ),
    (
        "tune.pattern.cache-size",
        "ACL patterns are compiled at load; nothing is cached per request",
    ),
    ("tune.h2.header-table-size", "ringlb speaks HTTP/1 only"),
    ("tune.h2.initial-window-size", "ringlb speaks HTTP/1 only"),
    (
        "tune.h2.max-concurrent-streams",
        "ringlb speaks HTTP/1 only",
    ),
    ("tune.h2.max-frame-size", "ringlb speaks HTTP/1 only"),
    (
        "noepoll",
        "ringlb polls with io_uring (epoll only as its fallback)",
    ),
    (
        "nopoll",
        "ringlb polls with io_uring (epoll only as its fallback)",
    ),
    (
        "nosplice",
        "splicing is only used where a proxy asks for it (option splice-*) and never changes the bytes",
    ),
    ("busy-polling", "workers sleep in io_uring until work comes"),
    (
        "max-spread-checks",
        "health checks keep their exact interval; the first ones are already spread",
    ),
    ("set-dumpable", "core dumps follow the system settings"),
    (
        "numa-cpu-mapping",
        "workers are pinned one per CPU (cpu-map to choose)",
    ),
    (
        "thread-groups",
        "workers share no group state (one per CPU)",
    ),
    (
        "expose-experimental-directives",
        "ringlb has no experimental directives behind it",
    ),
    ("profiling.tasks", "profiling is done from outside (perf)"),
    ("profiling.memory", "profiling is done from outside (perf)"),
    (
        "mworker-max-reloads",
        "reloads hand the listeners to a new process, which replaces the old one whole",
    ),
    ("insecure-setuid-wanted", "ringlb runs no setuid programs"),
    (
        "h2-workaround-bogus-websocket-clients",
        "ringlb speaks HTTP/1 only",
    ),
    ("cluster-secret", "ringlb has no QUIC"),
    (
        "maxcomprate",
        "ringlb does not compress (compression is refused)",
    ),
    (
        "tune.comp.maxlevel",
        "ringlb does not compress (compression is refused)",
    ),
    ("tune.fail-alloc", "a debugging aid of HAProxy's allocator"),
    (
        "httpclient.ssl.verify",
        "ringlb has no internal HTTP client",
    ),
    (
        "httpclient.ssl.ca-file",
        "ringlb has no internal HTTP client",
    ),
    (
        "httpclient.resolvers.prefer",
        "ringlb has no internal HTTP client",
    ),
    (
        "httpclient.resolvers.id",
        "ringlb has no internal HTTP client",
    ),
    ("httpclient.retries", "ringlb has no internal HTTP client"),
    (
        "httpclient.timeout.connect",
        "ringlb has no internal HTTP client",
    ),
];

/// A global from [`IGNORED`]: its arguments are not checked; the warning says why.
pub fn ignored(cx: &mut Ctx<'_>, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword();
    let reason = NOOPS
        .iter()
        .find(|(k, _)| *k == kw)
        .map_or("no effect in ringlb", |(_, r)| r);
    cx.warn(format!("'{kw}' is ignored by ringlb: {reason}"));
    args.rest();
    Ok(())
}
