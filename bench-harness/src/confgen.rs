//! Configuration files for the processes under test, written into the run's
//! temporary directory. Every proxy gets the same shape: one frontend on
//! 127.0.0.1, one server, HTTP mode, no logging, keep-alive on both sides.

use std::path::Path;

/// maxconn for ringlb and HAProxy: 2 fds per connection must fit the 20,000
/// hard open-file limit of the bench machines (HAProxy refuses to start above).
pub const MAXCONN: u32 = 8000;

/// nginx `worker_cpu_affinity` masks, one per CPU (rightmost bit is CPU 0).
fn affinity_masks(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|&c| format!("1{}", "0".repeat(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of an nginx config common to backend and proxy: process, pinning,
/// and every path inside `dir` (Debian's build wants /var/lib/nginx otherwise).
fn nginx_head(dir: &Path, role: &str, cpus: &[usize]) -> String {
    let d = dir.display();
    format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes {n};\n\
         worker_cpu_affinity {masks};\n\
         worker_rlimit_nofile 19000;\n\
         pid {d}/nginx-{role}.pid;\n\
         error_log {d}/nginx-{role}-error.log warn;\n\
         events {{ worker_connections 9000; }}\n",
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

/// nginx as the backend: a static `hello` answer with keep-alive.
pub fn nginx_backend(dir: &Path, cpus: &[usize], port: u16) -> String {
    format!(
        "{head}http {{\n{common}    server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       location / {{ return 200 \"hello\\n\"; }}\n\
         \x20   }}\n}}\n",
        head = nginx_head(dir, "backend", cpus),
        common = nginx_http_common(dir, "backend"),
    )
}

/// nginx as a reverse proxy with a keep-alive upstream pool of 64.
pub fn nginx_proxy(dir: &Path, cpus: &[usize], port: u16, backend: u16) -> String {
    format!(
        "{head}http {{\n{common}    upstream backend {{\n\
         \x20       server 127.0.0.1:{backend};\n\
         \x20       keepalive 64;\n\
         \x20       keepalive_requests 10000000;\n\
         \x20   }}\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://backend;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n\
         \x20       }}\n\
         \x20   }}\n}}\n",
        head = nginx_head(dir, "proxy", cpus),
        common = nginx_http_common(dir, "proxy"),
    )
}

/// HAProxy 2.6: `nbthread` threads, each pinned to one of `cpus`, server-side
/// connection reuse (`http-reuse safe`).
pub fn haproxy(cpus: &[usize], port: u16, backend: u16) -> String {
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
         \x20   maxconn {MAXCONN}\n\
         \x20   nbthread {n}\n\
         \x20   {cpu_map}\n\
         defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 5s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         \x20   http-reuse safe\n\
         listen bench\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   server s1 127.0.0.1:{backend}\n"
    )
}

/// ringlb: the same proxy as [`haproxy`] in the subset ringlb reads
/// (pinning is ringlb's own: one worker per `nbthread`).
pub fn ringlb(threads: usize, port: u16, backend: u16) -> String {
    format!(
        "global\n\
         \x20   maxconn {MAXCONN}\n\
         \x20   nbthread {threads}\n\
         defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 5s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         listen bench\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   server s1 127.0.0.1:{backend}\n"
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
        assert!(haproxy(&[0], 1, 2).contains("cpu-map 1/1 0\n"));
        assert!(haproxy(&[0, 1, 2, 3], 1, 2).contains("cpu-map auto:1/1-4 0,1,2,3\n"));
    }
}
