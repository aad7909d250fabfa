//! Running wrk pinned with taskset and reading its summary.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::procs::Proc;

/// Load settings shared by every wrk run.
pub struct Load<'a> {
    /// The wrk binary.
    pub wrk: &'a Path,
    /// taskset CPU list for wrk.
    pub cpus: &'a str,
    /// wrk -t.
    pub threads: u32,
    /// wrk -c.
    pub connections: u32,
    /// Send `Connection: close` on every request.
    pub close: bool,
    /// Request path ("/", "/static/1m.bin").
    pub path: &'a str,
    /// Extra request headers (`-H`, "Name: value"); a Host here replaces wrk's.
    pub headers: &'a [&'a str],
    /// `https://` (wrk's OpenSSL client: no certificate check; a connection
    /// it reopens resumes its last session).
    pub https: bool,
}

/// What one wrk run reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkResult {
    /// Requests per second.
    pub rps: f64,
    /// Bytes per second read (Transfer/sec), 0 if absent.
    pub bytes_per_sec: f64,
    /// Completed requests.
    pub requests: u64,
    /// Responses that were not 2xx/3xx.
    pub non_2xx: u64,
    /// Socket errors (connect + read + write + timeout).
    pub socket_errors: u64,
}

/// Runs wrk against 127.0.0.1:`port` for `secs` seconds; `log` keeps its output.
pub fn run(load: &Load, port: u16, secs: u64, log: &Path) -> Result<WrkResult> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(load.cpus)
        .arg(load.wrk)
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("5s");
    if load.close {
        cmd.arg("-H").arg("Connection: close");
    }
    for h in load.headers {
        cmd.arg("-H").arg(h);
    }
    let scheme = if load.https { "https" } else { "http" };
    cmd.arg(format!("{scheme}://127.0.0.1:{port}{}", load.path));
    let mut proc = Proc::spawn("wrk", &mut cmd, log)?;
    let status = proc.wait_for(Duration::from_secs(secs + 30))?;
    let out = proc.output();
    if !status.success() {
        bail!("wrk failed ({status}): {}", proc.output_tail(2));
    }
    parse(&out)
}

/// Extracts the numbers from wrk's text summary.
pub fn parse(out: &str) -> Result<WrkResult> {
    let mut r = WrkResult::default();
    let mut saw_rps = false;
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse()?;
            saw_rps = true;
        } else if let Some(v) = line.strip_prefix("Transfer/sec:") {
            r.bytes_per_sec = parse_size(v.trim())?;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse()?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 12, write 0, timeout 3"
            r.socket_errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1))
                .filter_map(|n| n.parse::<u64>().ok())
                .sum();
        } else if line.contains(" requests in ") {
            r.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    if !saw_rps {
        bail!("no 'Requests/sec' in wrk output");
    }
    Ok(r)
}

/// wrk's sizes ("6.00MB", "812.34KB", "1.02GB", "100.00B"; binary units) in bytes.
pub fn parse_size(text: &str) -> Result<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse()?;
    let mult = match unit.trim() {
        "" | "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => bail!("unknown size unit '{other}' in '{text}'"),
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_summary() {
        let out = "Running 5s test @ http://127.0.0.1:1/\n  2 threads and 100 connections\n\
                   \x20 Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
                   \x20   Latency     1.00ms  200.00us   5.00ms   90.00%\n\
                   \x20 250000 requests in 5.00s, 30.00MB read\n\
                   \x20 Socket errors: connect 0, read 12, write 1, timeout 3\n\
                   \x20 Non-2xx or 3xx responses: 7\n\
                   Requests/sec:  50000.12\nTransfer/sec:      6.00MB\n";
        let r = parse(out).unwrap();
        assert_eq!(r.requests, 250_000);
        assert_eq!(r.non_2xx, 7);
        assert_eq!(r.socket_errors, 16);
        assert!((r.rps - 50000.12).abs() < 1e-6);
        assert!((r.bytes_per_sec - 6.0 * 1048576.0).abs() < 1e-6);
        assert!(parse("garbage").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100.00B").unwrap(), 100.0);
        assert_eq!(parse_size("2.50KB").unwrap(), 2560.0);
        assert_eq!(parse_size("1.00GB").unwrap(), 1073741824.0);
        assert!(parse_size("3.0XB").is_err());
        assert!(parse_size("MB").is_err());
    }
}
