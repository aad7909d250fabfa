//! Headless Chromium for the stats page tests: [`chromium`] finds it,
//! [`chromium_run`] runs it on a URL.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::{self};
use std::time::{Duration, Instant};

/// The Chromium binary for the page tests (`RINGLB_CHROMIUM` or
/// `/usr/bin/chromium`), or `None` when it is not installed.
pub fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("RINGLB_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.exists().then_some(p)
}

/// Runs headless Chromium on `url` with `extra` arguments (`--dump-dom`,
/// `--screenshot=...`) and a fresh profile in `profile`; returns its stdout.
/// Killed after 60 s.
pub fn chromium_run(chromium: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null());
    let out_path = profile.with_extension("stdout");
    let err_path = profile.with_extension("stderr");
    cmd.stdout(fs::File::create(&out_path).expect("chromium stdout file"))
        .stderr(fs::File::create(&err_path).expect("chromium stderr file"));
    let mut child = cmd.spawn().expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish within 60 s; stderr:\n{}",
                    fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            None => thread::sleep(Duration::from_millis(50)),
        }
    }
    fs::read_to_string(&out_path).unwrap_or_default()
}
