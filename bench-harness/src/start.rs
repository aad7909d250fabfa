//! Starting what a run measures: the backend (nginx or the demo backend) and
//! each proxy under test (ringlb, HAProxy, nginx), pinned to their CPUs.

use anyhow::{Context, Result, bail};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::cli::{BackendChoice, Opts, TargetKind};
use crate::confgen::{self, Shape};
use crate::procs::Proc;
use crate::{Ctx, LARGE_1M, NGINX_STREAM_MODULE, STATIC_FILES, rules, sys, tls};

/// The ringlb binary the harness runs (`--ringlb`, else the release build),
/// or why there is none.
pub fn ringlb_bin(ctx: &Ctx) -> Result<std::path::PathBuf, String> {
    let bin = ctx
        .opts
        .ringlb
        .clone()
        .unwrap_or_else(|| ctx.root.join("target/release/ringlb"));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("not built ({})", bin.display()))
    }
}

/// Starts the backend pinned to its CPUs and waits for it to answer; an
/// nginx backend gets `connections` per worker.
pub(crate) fn start_backend(
    opts: &Opts,
    root: &Path,
    tmp: &Path,
    cpus: &[usize],
    nginx: Option<&Path>,
    connections: u32,
) -> Result<(Proc, u16, String)> {
    let port = sys::free_port()?;
    let use_nginx = match opts.backend {
        BackendChoice::Nginx if nginx.is_none() => bail!("--backend nginx: nginx not found"),
        BackendChoice::Nginx => true,
        BackendChoice::Auto => nginx.is_some(),
        BackendChoice::Demo => false,
    };
    let (mut proc, label) = match (use_nginx, nginx) {
        (true, Some(nginx)) => {
            let dir = tmp.join(confgen::STATIC_ROOT).join("static");
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(
                tmp.join(confgen::STATIC_ROOT),
                PermissionsExt::from_mode(0o755),
            )?;
            std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755))?;
            for (name, size) in STATIC_FILES {
                // Not all zeros: nothing on the path may compress or skip it.
                let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
                let f = dir.join(name);
                std::fs::write(&f, body)?;
                std::fs::set_permissions(&f, PermissionsExt::from_mode(0o644))?;
            }
            let cfg = tmp.join("nginx-backend.conf");
            std::fs::write(&cfg, confgen::nginx_backend(tmp, cpus, port, connections))?;
            let mut cmd = pinned(&opts.backend_cpus, nginx);
            cmd.arg("-p")
                .arg(tmp)
                .arg("-e")
                .arg(tmp.join("nginx-backend-error.log"))
                .arg("-c")
                .arg(&cfg);
            let label = format!(
                "nginx, {} workers, `return 200 \"hello\\n\"` on `/`, static files (sendfile) under `/static/`",
                cpus.len()
            );
            (
                Proc::spawn("nginx backend", &mut cmd, &tmp.join("backend.log"))?,
                label,
            )
        }
        _ => {
            let bin = opts
                .demo_backend
                .clone()
                .unwrap_or_else(|| root.join("target/release/demo-backend"));
            if !bin.is_file() {
                bail!(
                    "no backend: nginx not used and {} missing (cargo build --release)",
                    bin.display()
                );
            }
            let mut cmd = pinned(&opts.backend_cpus, &bin);
            cmd.arg(format!("127.0.0.1:{port}")).arg("backend");
            let label = "ringlb demo-backend (thread per connection)".to_string();
            (
                Proc::spawn("demo-backend", &mut cmd, &tmp.join("backend.log"))?,
                label,
            )
        }
    };
    sys::wait_for_port(port, &mut proc, Duration::from_secs(10))?;
    sys::smoke_request(port).context("the backend does not answer 200")?;
    if use_nginx {
        sys::smoke_request_path(port, LARGE_1M)
            .context("the backend does not serve its static files")?;
    }
    Ok((proc, port, label))
}

/// `taskset -c <cpus> <program>`.
pub(crate) fn pinned(cpus: &str, program: &Path) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(cpus).arg(program);
    cmd
}

/// The table name of a target.
pub(crate) fn target_name(ctx: &Ctx, kind: TargetKind, tcp: bool) -> String {
    let n = ctx.proxy_cpus.len();
    match kind {
        TargetKind::Direct => format!("direct ({})", ctx.backend_short),
        TargetKind::Ringlb => format!("ringlb ({n} cpu)"),
        TargetKind::Haproxy => format!("HAProxy ({n} cpu)"),
        TargetKind::Nginx if tcp => format!("nginx stream ({n} cpu)"),
        TargetKind::Nginx => format!("nginx proxy ({n} cpu)"),
    }
}

/// Starts the proxy for `kind` and waits for its port: `Ok(None)` for direct,
/// `Err(reason)` for a row that cannot be measured.
pub(crate) fn start_proxy(
    ctx: &Ctx,
    kind: TargetKind,
    shape: Shape,
) -> Result<Option<(Proc, u16)>, String> {
    let port = sys::free_port().map_err(|e| format!("failed: {e:#}"))?;
    let tmp = &ctx.tmp;
    let backend = ctx.backend_port;
    let (map, nginx_map) = if shape.rules {
        let write =
            || Ok::<_, std::io::Error>((rules::write_map(tmp)?, rules::write_nginx_map(tmp)?));
        write().map_err(|e| format!("failed: writing the tenants map: {e}"))?
    } else {
        Default::default()
    };
    let (proc_name, mut cmd, cfg_path, cfg) = match kind {
        TargetKind::Direct => return Ok(None),
        TargetKind::Ringlb => {
            let bin = ringlb_bin(ctx)?;
            let cfg_path = tmp.join("ringlb.cfg");
            let mut cmd = pinned(&ctx.opts.proxy_cpus, &bin);
            cmd.arg("-db").arg("-f").arg(&cfg_path);
            let threads = ctx.proxy_cpus.len();
            let cfg = if let Some(key) = shape.tls {
                confgen::ringlb_head(threads, shape)
                    + &confgen::listen_tls(port, backend, shape, &tls::bind_suffix(tmp, key))
            } else if shape.rules {
                confgen::ringlb_head(threads, shape) + &rules::proxy_sections(port, backend, &map)
            } else {
                confgen::ringlb(threads, port, backend, shape)
            };
            ("ringlb", cmd, cfg_path, cfg)
        }
        TargetKind::Haproxy => {
            let Some(bin) = &ctx.haproxy else {
                return Err("not installed".into());
            };
            let cfg_path = tmp.join("haproxy.cfg");
            let mut cmd = pinned(&ctx.opts.proxy_cpus, bin);
            cmd.arg("-db").arg("-f").arg(&cfg_path);
            let cfg = if let Some(key) = shape.tls {
                confgen::haproxy_head(&ctx.proxy_cpus, shape)
                    + &confgen::listen_tls(port, backend, shape, &tls::bind_suffix(tmp, key))
            } else if shape.rules {
                confgen::haproxy_head(&ctx.proxy_cpus, shape)
                    + &rules::proxy_sections(port, backend, &map)
            } else {
                confgen::haproxy(&ctx.proxy_cpus, port, backend, shape)
            };
            ("haproxy", cmd, cfg_path, cfg)
        }
        TargetKind::Nginx => {
            let Some(bin) = &ctx.nginx else {
                return Err("not installed".into());
            };
            // Beside the binary, so a package unpacked with `dpkg -x` (the
            // device machine) finds its own module, not the system's.
            let prefix = bin
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("/usr"));
            let module = &prefix.join(NGINX_STREAM_MODULE);
            if shape.tcp && !module.is_file() {
                return Err(format!(
                    "not installed ({}: package libnginx-mod-stream)",
                    module.display()
                ));
            }
            let cfg_path = tmp.join("nginx-proxy.conf");
            let mut cmd = pinned(&ctx.opts.proxy_cpus, bin);
            cmd.arg("-p")
                .arg(tmp)
                .arg("-e")
                .arg(tmp.join("nginx-proxy-error.log"))
                .arg("-c")
                .arg(&cfg_path);
            // Each client connection may hold an upstream one too.
            let conns = confgen::NGINX_CONNECTIONS
                .max(shape.maxconn * 2)
                .min(19_000);
            let cfg = if shape.tcp {
                confgen::nginx_stream(tmp, module, &ctx.proxy_cpus, port, backend)
            } else if shape.rules {
                confgen::nginx_rules(tmp, &ctx.proxy_cpus, port, backend, conns, &nginx_map)
            } else if let Some(key) = shape.tls {
                let lines = tls::nginx_server_lines(tmp, key);
                confgen::nginx_proxy_tls(
                    tmp,
                    &ctx.proxy_cpus,
                    port,
                    backend,
                    conns,
                    shape,
                    Some(&lines),
                )
            } else {
                confgen::nginx_proxy(tmp, &ctx.proxy_cpus, port, backend, conns, shape)
            };
            ("nginx proxy", cmd, cfg_path, cfg)
        }
    };
    std::fs::write(&cfg_path, cfg).map_err(|e| format!("failed: writing config: {e}"))?;
    let log = tmp.join(format!("{}.log", proc_name.replace(' ', "-")));
    let mut proc = Proc::spawn(proc_name, &mut cmd, &log).map_err(|e| format!("failed: {e:#}"))?;
    sys::wait_for_port(port, &mut proc, Duration::from_secs(10))
        .map_err(|e| format!("failed: {e:#}"))?;
    Ok(Some((proc, port)))
}
