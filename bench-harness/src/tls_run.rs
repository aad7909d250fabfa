//! The `tls` scenario: TLS termination by each proxy (plain HTTP to the
//! backend) with the same certificates, ECDSA P-256 and RSA-2048: full and
//! resumed handshakes (`openssl s_time`), keep-alive requests and 1 MB
//! responses (wrk over https), memory per idle TLS connection.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;

use crate::cli::{IdleOpts, TargetKind, TlsOpts, TlsPart};
use crate::idle_run;
use crate::procs::Proc;
use crate::report::{self, Output, Section};
use crate::throughput::{self, Pass};
use crate::tls::{self, TlsKey};
use crate::{Ctx, LARGE_1M, check_backend, syscalls};

/// Validates the tls options before anything starts.
pub fn check_opts(t: &TlsOpts) -> Result<()> {
    if t.keys.is_empty() || t.parts.is_empty() {
        bail!("--keys and --parts must name at least one");
    }
    if t.handshake_clients == 0 || t.idle_connections == 0 {
        bail!("--handshake-clients and --idle-connections must be at least 1");
    }
    if let Some(l) = &t.ciphersuites {
        // Written into three configuration languages: one word, no quoting.
        if l.is_empty()
            || !l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:".contains(c))
        {
            bail!("--ciphersuites: a ':'-separated list of TLS 1.3 suite names");
        }
        tls::set_ciphersuites(l);
    }
    Ok(())
}

/// The table of one key and one (non-idle) part.
pub fn pass_for(key: TlsKey, part: TlsPart) -> Pass {
    use TlsKey::{Ecdsa, Rsa};
    use TlsPart::*;
    let (subtitle, tag) = match (key, part) {
        (Ecdsa, Full) => (
            "ECDSA P-256: full handshakes (s_time -new, a TLS connection per request)",
            "ecdsa-full",
        ),
        (Rsa, Full) => (
            "RSA-2048: full handshakes (s_time -new, a TLS connection per request)",
            "rsa-full",
        ),
        (Ecdsa, Resumed) => (
            "ECDSA P-256: resumed handshakes (s_time -reuse: TLS 1.3 PSK from a session ticket)",
            "ecdsa-resumed",
        ),
        (Rsa, Resumed) => (
            "RSA-2048: resumed handshakes (s_time -reuse: TLS 1.3 PSK from a session ticket)",
            "rsa-resumed",
        ),
        (Ecdsa, Keepalive) => ("ECDSA P-256: keep-alive requests (wrk https)", "ecdsa-ka"),
        (Rsa, Keepalive) => ("RSA-2048: keep-alive requests (wrk https)", "rsa-ka"),
        (Ecdsa, Large) => (
            "ECDSA P-256: 1 MB responses, keep-alive (wrk https)",
            "ecdsa-1m",
        ),
        (Rsa, Large) => ("RSA-2048: 1 MB responses, keep-alive (wrk https)", "rsa-1m"),
        (_, Idle) => ("", "idle"),
    };
    Pass {
        subtitle,
        tag,
        path: if part == Large { LARGE_1M } else { "/" },
        close: false,
        tcp: false,
        httpclose: false,
        defer_accept: false,
        plot_bytes: part == Large,
        rules: false,
        tls: Some(key),
        handshakes: match part {
            Full => Some(false),
            Resumed => Some(true),
            _ => None,
        },
    }
}

/// Runs every part for every key and renders the tables and plot.
pub fn report(ctx: &Ctx, backend: &mut Proc, t: &TlsOpts) -> Result<Output> {
    let openssl = ctx
        .openssl
        .as_deref()
        .context("openssl not found (apt-get install openssl)")?;
    tls::generate(&ctx.tmp, openssl).context("making the certificates")?;
    let targets: Vec<TargetKind> = ctx
        .opts
        .targets
        .iter()
        .copied()
        .filter(|&k| k != TargetKind::Direct)
        .collect();
    let perf = syscalls::probe(&ctx.tmp);
    let mut sections = Vec::new();
    let mut groups = Vec::new();
    let mut idle_tables = String::new();
    for &key in &t.keys {
        for &part in &t.parts {
            check_backend(backend)?;
            if part == TlsPart::Idle {
                let (table, plot) = idle_part(ctx, &targets, key, t);
                idle_tables += &table;
                groups.extend(plot);
                continue;
            }
            let pass = pass_for(key, part);
            // perf counts over a wrk run; s_time parts have none.
            let perf = perf.as_deref().ok().filter(|_| pass.handshakes.is_none());
            let rows = throughput::run_pass(ctx, &targets, "tls", &pass, perf);
            for row in &rows {
                eprintln!(
                    "tls {}: {} -> {}",
                    pass.tag,
                    row.name,
                    match &row.outcome {
                        Ok(_) => format!(
                            "{} /s, {} µs CPU/req; {}",
                            row.median().map(report::thousands).unwrap_or_default(),
                            row.cpu_median()
                                .map(|c| format!("{c:.1}"))
                                .unwrap_or_default(),
                            row.notes.join("; ")
                        ),
                        Err(e) => e.clone(),
                    }
                );
            }
            let section = Section {
                subtitle: pass.subtitle.to_string(),
                rows,
            };
            groups.extend(report::plot_groups("tls", &section, pass.plot_bytes));
            sections.push(section);
        }
    }
    let mut tables = report::render_sections(&sections);
    tables += &ratios(&sections);
    tables += &idle_tables;
    let o = &ctx.opts;
    Ok(Output {
        header: vec![
            format!(
                "TLS: one CA (ECDSA P-256) and two server certificates (ECDSA P-256, RSA-2048, \
                 SAN localhost/127.0.0.1) made with the openssl CLI at start; HAProxy and \
                 ringlb get `bind ... ssl crt <cert+key.pem>` and nothing else (HAProxy 2.6's \
                 defaults: TLS 1.2 and 1.3, tickets on, session cache on, server cipher \
                 preference); nginx the same files as `ssl_certificate` / `ssl_certificate_key` \
                 with `ssl_protocols TLSv1.2 TLSv1.3`, `ssl_session_tickets on`, \
                 `ssl_session_cache shared:SSL:20m`, `ssl_prefer_server_ciphers on` (its \
                 default cipher list `HIGH:!aNULL:!MD5`; OpenSSL clients negotiate TLS 1.3 \
                 everywhere, see the notes). Plain HTTP from proxy to backend. Before each \
                 table, `openssl s_client` must verify the certificate against the CA and get \
                 a 200 within 10 s, else the row says why{}",
                t.ciphersuites
                    .as_deref()
                    .map(|l| format!(
                        ". **Equal suites (`--ciphersuites {l}`)**: HAProxy and ringlb also get \
                         `ciphersuites {l}` on the bind, nginx `ssl_conf_command Ciphersuites {l}`"
                    ))
                    .unwrap_or_default()
            ),
            format!(
                "load: handshake tables: {} `openssl s_time` processes (`-new`: a full \
                 handshake per connection, no resumption; `-reuse`: after each process's first \
                 connection every one resumes, by TLS 1.3 PSK from the server's session ticket \
                 with (EC)DHE) pinned to the load CPUs, each one connection at a time sending \
                 `GET / HTTP/1.0` and reading the answer; /s = connections per wall second \
                 (client-bound on a small machine: compare **proxy CPU µs per connection**, and \
                 handshakes/s per proxy core = 10⁶ / that, in the notes with the share s_time \
                 saw resumed). Keep-alive and 1 MB tables: `wrk -t{} -c{} -d{}s` over https \
                 (wrk's OpenSSL client; on reconnecting it resumes its last session, so it \
                 cannot measure full handshakes). {} runs per target (median), interleaved, {} s \
                 warm-up",
                ctx.handshake_clients, o.threads, o.connections, o.duration, o.runs, o.warmup
            ),
            report::CPU_NOTE.to_string(),
            syscalls::note(&perf),
        ],
        tables,
        plot: groups,
    })
}

/// The memory part for one key: one row per proxy.
fn idle_part(
    ctx: &Ctx,
    targets: &[TargetKind],
    key: TlsKey,
    t: &TlsOpts,
) -> (String, Vec<crate::plot::Group>) {
    let i = IdleOpts {
        idle_connections: vec![t.idle_connections],
        idle_threads: 8,
        idle_per_process: 5000,
        settle: t.settle,
        common: ctx.opts.clone(),
    };
    let rows: Vec<_> = targets
        .iter()
        .map(|&kind| {
            let row = idle_run::run_one_tls(ctx, kind, t.idle_connections, &i, Some(key));
            eprintln!(
                "tls {}-idle: {} -> {}",
                key.tag(),
                row.name,
                match &row.outcome {
                    Ok(x) => format!("{:.1} KiB per connection", x.per_conn() / 1024.0),
                    Err(e) => e.clone(),
                }
            );
            row
        })
        .collect();
    let table = format!(
        "\n### {}: memory per idle TLS connection\n\nEach of {} client connections (rustls, \
         from `idle-client --tls-ca` processes on the load CPUs) does a verified TLS handshake, \
         one keep-alive `GET /`, reads the answer and is held idle {} s; RSS is VmRSS summed \
         over the proxy's process group before and with all held.\n{}",
        key.label(),
        report::thousands(t.idle_connections as f64),
        t.settle,
        idle_run::render(&rows)
    );
    let mut plot = idle_run::plot_groups(&[t.idle_connections], &rows);
    for g in &mut plot {
        g.title = format!("{}: {}", key.label(), g.title);
    }
    (table, plot)
}

/// ringlb ÷ HAProxy and ringlb ÷ nginx for each table: rate (higher is
/// better for ringlb) and CPU per request (lower is better).
fn ratios(sections: &[Section]) -> String {
    fn find<'a>(s: &'a Section, prefix: &str) -> Option<&'a report::Row> {
        s.rows
            .iter()
            .find(|r| r.name.starts_with(prefix))
            .filter(|r| r.outcome.is_ok())
    }
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    };
    let mut out = String::from(
        "\n### ringlb ratios\n\n| table | rate ringlb ÷ HAProxy | rate ringlb ÷ nginx | \
         CPU/req ringlb ÷ HAProxy | CPU/req ringlb ÷ nginx |\n|---|---:|---:|---:|---:|\n",
    );
    for s in sections {
        let r = find(s, "ringlb");
        let h = find(s, "HAProxy");
        let n = find(s, "nginx");
        let rate = |x: Option<&report::Row>| x.and_then(report::Row::median);
        let cpu = |x: Option<&report::Row>| x.and_then(report::Row::cpu_median);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            report::cell(&s.subtitle),
            div(rate(r), rate(h)),
            div(rate(r), rate(n)),
            div(cpu(r), cpu(h)),
            div(cpu(r), cpu(n)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_per_part() {
        let full = pass_for(TlsKey::Rsa, TlsPart::Full);
        assert_eq!(
            (full.tls, full.handshakes),
            (Some(TlsKey::Rsa), Some(false))
        );
        assert_eq!(
            pass_for(TlsKey::Ecdsa, TlsPart::Resumed).handshakes,
            Some(true)
        );
        let large = pass_for(TlsKey::Ecdsa, TlsPart::Large);
        assert_eq!(
            (large.path, large.plot_bytes, large.handshakes),
            (LARGE_1M, true, None)
        );
        assert!(large.tag.ends_with("-1m"));
    }
}
