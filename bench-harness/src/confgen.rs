//! Configuration files for the processes under test, written into the run's
//! temporary directory. Every proxy gets the same shape: one frontend on
//! 127.0.0.1, one server, HTTP mode, no logging, keep-alive on both sides
//! unless the [`Shape`] asks for `option httpclose`.

use std::path::Path;

/// maxconn for ringlb and HAProxy: 2 fds per connection must fit the 20,000
/// hard open-file limit of the bench machines (HAProxy refuses to start above).
pub const MAXCONN: u32 = 8000;

/// nginx `worker_connections` unless a scenario needs more (idle).
pub const NGINX_CONNECTIONS: u32 = 9000;

/// nginx `worker_cpu_affinity` masks, one per CPU (rightmost bit is CPU 0).
fn affinity_masks(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|&c| format!("1{}", "0".repeat(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of an nginx config common to backend and proxy: process, pinning,
/// and every path inside `dir` (Debian's build wants /var/lib/nginx otherwise).
fn nginx_head(dir: &Path, role: &str, cpus: &[usize], connections: u32) -> String {
    let d = dir.display();
    format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes {n};\n\
         worker_cpu_affinity {masks};\n\
         worker_rlimit_nofile 19000;\n\
         pid {d}/nginx-{role}.pid;\n\
         error_log {d}/nginx-{role}-error.log warn;\n\
         events {{ worker_connections {connections}; }}\n",
        n = cpus.len(),
        masks = affinity_masks(cpus),
    )
}

/// Temp paths and logging settings for inside `http {}`.
fn nginx_http_common(dir: &Path, role: &str) -> String {
    let d = dir.display();
    format!(
        "    access_log off;\n\
         \x20   client_body_temp_path {d}/{role}-client_body;\n\
         \x20   proxy_temp_path {d}/{role}-proxy;\n\
         \x20   fastcgi_temp_path {d}/{role}-fastcgi;\n\
         \x20   uwsgi_temp_path {d}/{role}-uwsgi;\n\
         \x20   scgi_temp_path {d}/{role}-scgi;\n\
         \x20   keepalive_requests 10000000;\n\
         \x20   keepalive_timeout 75s;\n"
    )
}

/// Directory (inside the run's temp dir) whose `static/` the nginx backend
/// serves: the `large` scenario's files live in `<dir>/www/static/`.
pub const STATIC_ROOT: &str = "www";

/// nginx as the backend: a static `hello` answer with keep-alive on `/`, and
/// files from `<dir>/www/static/` (sendfile) under `/static/`;
/// `connections` is each worker's `worker_connections`.
pub fn nginx_backend(dir: &Path, cpus: &[usize], port: u16, connections: u32) -> String {
    format!(
        "{head}http {{\n{common}    sendfile on;\n\
         \x20   default_type application/octet-stream;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       location / {{ return 200 \"hello\\n\"; }}\n\
         \x20       location /static/ {{ root {root}; }}\n\
         \x20   }}\n}}\n",
        head = nginx_head(dir, "backend", cpus, connections),
        common = nginx_http_common(dir, "backend"),
        root = dir.join(STATIC_ROOT).display(),
    )
}

/// nginx's stream module as a TCP relay (`load_module` from `module`, the
/// Debian package libnginx-mod-stream's `.so`).
pub fn nginx_stream(dir: &Path, module: &Path, cpus: &[usize], port: u16, backend: u16) -> String {
    format!(
        "load_module {module};\n{head}stream {{\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       proxy_pass 127.0.0.1:{backend};\n\
         \x20   }}\n}}\n",
        module = module.display(),
        head = nginx_head(dir, "proxy", cpus, NGINX_CONNECTIONS),
    )
}

/// nginx as a reverse proxy; `connections` is each worker's
/// `worker_connections` (client + upstream). It keeps a pool of 64 idle
/// server connections unless `shape.httpclose`, which gives nginx's defaults
/// (HTTP/1.0 and `Connection: close` upstream: a server connection per request).
pub fn nginx_proxy(
    dir: &Path,
    cpus: &[usize],
    port: u16,
    backend: u16,
    connections: u32,
    shape: Shape,
) -> String {
    nginx_proxy_tls(dir, cpus, port, backend, connections, shape, None)
}

/// [`nginx_proxy`] whose `listen` is `ssl` when `tls` holds the server's
/// `ssl_*` lines (see [`crate::tls::nginx_server_lines`]).
pub fn nginx_proxy_tls(
    dir: &Path,
    cpus: &[usize],
    port: u16,
    backend: u16,
    connections: u32,
    shape: Shape,
    tls: Option<&str>,
) -> String {
    let (pool, location) = if !shape.httpclose {
        (
            "        keepalive 64;\n\
             \x20       keepalive_requests 10000000;\n",
            "            proxy_pass http://backend;\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Connection \"\";\n",
        )
    } else {
        ("", "            proxy_pass http://backend;\n")
    };
    format!(
        "{head}http {{\n{common}    upstream backend {{\n\
         \x20       server 127.0.0.1:{backend};\n\
         {pool}\
         \x20   }}\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096{deferred}{ssl};\n\
         {tls_lines}\
         \x20       location / {{\n\
         {location}\
         \x20       }}\n\
         \x20   }}\n}}\n",
        head = nginx_head(dir, "proxy", cpus, connections),
        common = nginx_http_common(dir, "proxy"),
        deferred = if shape.defer_accept { " deferred" } else { "" },
        ssl = if tls.is_some() { " ssl" } else { "" },
        tls_lines = tls.unwrap_or(""),
    )
}

/// How the proxy under test is set up: HTTP or TCP relay, its maxconn, and
/// whether connections close after each exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// `mode tcp` instead of `mode http`.
    pub tcp: bool,
    /// `maxconn` in `global`.
    pub maxconn: u32,
    /// `option httpclose`: client and server connections closed after each
    /// exchange (nginx: no upstream keep-alive).
    pub httpclose: bool,
    /// Adds `no strict-limits` to `global`: run with the configured maxconn
    /// even when the open-file limit cannot be raised to fit it (warn only).
    pub no_strict_limits: bool,
    /// `bind ... defer-accept` (nginx: `listen ... deferred`): a connection
    /// is accepted once the request has arrived.
    pub defer_accept: bool,
    /// The `rules` scenario's frontend (ACLs, `use_backend`, header rules)
    /// instead of one `listen` section (HTTP mode only).
    pub rules: bool,
    /// TLS on the client side (`bind ... ssl crt`, nginx `listen ... ssl`)
    /// with this key's certificate; the server side stays plain HTTP.
    pub tls: Option<crate::tls::TlsKey>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            tcp: false,
            maxconn: MAXCONN,
            httpclose: false,
            no_strict_limits: false,
            defer_accept: false,
            rules: false,
            tls: None,
        }
    }
}

/// Whether a proxy with `maxconn` would need more fds than `hard_limit`
/// (two per connection, HAProxy's maxsock, plus a margin for listeners and
/// logs), so that it must be told `no strict-limits`.
pub fn needs_no_strict_limits(maxconn: u32, hard_limit: u64) -> bool {
    2 * u64::from(maxconn) + 64 > hard_limit
}

/// The `mode` line, `option httpclose`, and, in HTTP mode with keep-alive,
/// HAProxy's reuse setting.
fn mode_lines(shape: Shape, reuse: bool) -> String {
    if shape.tcp {
        "    mode tcp\n".into()
    } else if shape.httpclose {
        "    mode http\n    option httpclose\n".into()
    } else if reuse {
        "    mode http\n    http-reuse always\n".into()
    } else {
        "    mode http\n".into()
    }
}

/// What follows the address on HAProxy's and ringlb's `bind` line.
fn bind_options(shape: Shape) -> &'static str {
    if shape.defer_accept {
        " defer-accept"
    } else {
        ""
    }
}

/// The `global` lines both HAProxy and ringlb get.
fn global_limits(shape: Shape) -> String {
    let mut g = format!("    maxconn {}\n", shape.maxconn);
    if shape.no_strict_limits {
        g.push_str("    no strict-limits\n");
    }
    g
}

/// HAProxy 2.6: `nbthread` threads, each pinned to one of `cpus`, server-side
/// connection reuse in HTTP mode: `http-reuse always`, its most reusing mode,
/// since with `safe` every first request of a client opens a server connection.
pub fn haproxy(cpus: &[usize], port: u16, backend: u16, shape: Shape) -> String {
    haproxy_head(cpus, shape) + &listen(port, backend, shape)
}

/// HAProxy's `global` and `defaults` sections (see [`haproxy`]).
pub fn haproxy_head(cpus: &[usize], shape: Shape) -> String {
    let n = cpus.len();
    let list = cpus
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // `auto:` spreads threads 1..n one per CPU of the list.
    let cpu_map = if n == 1 {
        format!("cpu-map 1/1 {list}")
    } else {
        format!("cpu-map auto:1/1-{n} {list}")
    };
    format!(
        "global\n\
         {limits}\
         \x20   nbthread {n}\n\
         \x20   {cpu_map}\n\
         defaults\n\
         {mode}\
         \x20   timeout connect 5s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n",
        limits = global_limits(shape),
        mode = mode_lines(shape, true),
    )
}

/// The `listen` section both HAProxy and ringlb get: one frontend, one server.
fn listen(port: u16, backend: u16, shape: Shape) -> String {
    listen_tls(port, backend, shape, "")
}

/// [`listen`] with `tls` (e.g. ` ssl crt <pem>`) appended to the `bind` line.
pub fn listen_tls(port: u16, backend: u16, shape: Shape, tls: &str) -> String {
    format!(
        "listen bench\n\
         \x20   bind 127.0.0.1:{port}{bind}{tls}\n\
         \x20   server s1 127.0.0.1:{backend}\n",
        bind = bind_options(shape),
    )
}

/// ringlb: the same proxy as [`haproxy`] in the subset ringlb reads
/// (pinning is ringlb's own: one worker per `nbthread`), with the same
/// `http-reuse always`.
pub fn ringlb(threads: usize, port: u16, backend: u16, shape: Shape) -> String {
    ringlb_head(threads, shape) + &listen(port, backend, shape)
}

/// ringlb's `global` and `defaults` sections (see [`ringlb`]).
pub fn ringlb_head(threads: usize, shape: Shape) -> String {
    format!(
        "global\n\
         {limits}\
         \x20   nbthread {threads}\n\
         defaults\n\
         {mode}\
         \x20   timeout connect 5s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n",
        limits = global_limits(shape),
        // ringlb's default is HAProxy's `safe` too: the same reuse as HAProxy.
        mode = mode_lines(shape, true),
    )
}

/// nginx as the `rules` scenario's proxy: [`crate::rules::nginx_http`]
/// inside the usual process and `http {}` settings.
pub fn nginx_rules(
    dir: &Path,
    cpus: &[usize],
    port: u16,
    backend: u16,
    connections: u32,
    tenants_include: &Path,
) -> String {
    format!(
        "{head}http {{\n{common}{body}}}\n",
        head = nginx_head(dir, "proxy", cpus, connections),
        common = nginx_http_common(dir, "proxy"),
        body = crate::rules::nginx_http(port, backend, tenants_include),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(affinity_masks(&[0, 2]), "1 100");
        assert_eq!(affinity_masks(&[4]), "10000");
    }

    #[test]
    fn haproxy_cpu_map() {
        let http = Shape::default();
        assert!(haproxy(&[0], 1, 2, http).contains("cpu-map 1/1 0\n"));
        assert!(haproxy(&[0, 1, 2, 3], 1, 2, http).contains("cpu-map auto:1/1-4 0,1,2,3\n"));
    }

    #[test]
    fn modes_and_maxconn() {
        let http = Shape::default();
        let tcp = Shape {
            tcp: true,
            maxconn: 9000,
            ..Shape::default()
        };
        let h = haproxy(&[0], 10, 20, http);
        assert!(h.contains("    mode http\n    http-reuse always\n"), "{h}");
        assert!(h.contains("maxconn 8000\n"), "{h}");
        let h = haproxy(&[0], 10, 20, tcp);
        assert!(
            h.contains("    mode tcp\n") && !h.contains("http-reuse"),
            "{h}"
        );
        assert!(h.contains("maxconn 9000\n"), "{h}");
        let r = ringlb(2, 10, 20, tcp);
        assert!(
            r.contains("nbthread 2\n") && r.contains("    mode tcp\n"),
            "{r}"
        );
        assert!(
            ringlb(1, 10, 20, http)
                .contains("    mode http\n    http-reuse always\n    timeout connect")
        );
        assert!(!h.contains("strict-limits"), "{h}");
    }

    #[test]
    fn httpclose_and_limits() {
        let close = Shape {
            httpclose: true,
            ..Shape::default()
        };
        let h = haproxy(&[0], 10, 20, close);
        assert!(h.contains("    mode http\n    option httpclose\n"), "{h}");
        assert!(!h.contains("http-reuse"), "{h}");
        let r = ringlb(1, 10, 20, close);
        assert!(r.contains("    mode http\n    option httpclose\n"), "{r}");
        assert!(!needs_no_strict_limits(MAXCONN, 20_000));
        assert!(needs_no_strict_limits(16_000, 20_000));
        let big = Shape {
            maxconn: 16_000,
            no_strict_limits: true,
            ..Shape::default()
        };
        let h = haproxy(&[0], 10, 20, big);
        assert!(
            h.starts_with("global\n    maxconn 16000\n    no strict-limits\n    nbthread 1\n"),
            "{h}"
        );
        assert!(ringlb(1, 10, 20, big).contains("    maxconn 16000\n    no strict-limits\n"));
        let dir = Path::new("/tmp/x");
        let pooled = nginx_proxy(dir, &[0], 10, 20, 9000, Shape::default());
        assert!(
            pooled.contains("keepalive 64;")
                && pooled.contains("proxy_set_header Connection \"\";"),
            "{pooled}"
        );
        let closing = Shape {
            httpclose: true,
            ..Shape::default()
        };
        let plain = nginx_proxy(dir, &[0], 10, 20, 9000, closing);
        assert!(
            !plain.contains("keepalive 64") && !plain.contains("proxy_http_version"),
            "{plain}"
        );
        assert!(
            plain.contains("upstream backend {\n        server 127.0.0.1:20;\n    }\n"),
            "{plain}"
        );
        assert!(
            plain.contains("listen 127.0.0.1:10 backlog=4096;\n"),
            "{plain}"
        );
    }

    #[test]
    fn defer_accept_on_every_proxy() {
        let deferred = Shape {
            defer_accept: true,
            ..Shape::default()
        };
        let bind = "    bind 127.0.0.1:10 defer-accept\n";
        assert!(haproxy(&[0], 10, 20, deferred).contains(bind));
        assert!(ringlb(1, 10, 20, deferred).contains(bind));
        assert!(ringlb(1, 10, 20, Shape::default()).contains("    bind 127.0.0.1:10\n"));
        let n = nginx_proxy(Path::new("/tmp/x"), &[0], 10, 20, 9000, deferred);
        assert!(
            n.contains("listen 127.0.0.1:10 backlog=4096 deferred;\n"),
            "{n}"
        );
    }

    #[test]
    fn nginx_configs() {
        let dir = Path::new("/tmp/x");
        let b = nginx_backend(dir, &[1], 30, NGINX_CONNECTIONS);
        assert!(b.contains("location /static/ { root /tmp/x/www; }"), "{b}");
        let s = nginx_stream(dir, Path::new("/m/ngx_stream_module.so"), &[0], 10, 20);
        assert!(
            s.starts_with("load_module /m/ngx_stream_module.so;\n"),
            "{s}"
        );
        assert!(s.contains("proxy_pass 127.0.0.1:20;"), "{s}");
    }
}
