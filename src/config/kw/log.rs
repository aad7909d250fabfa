//! Logging keywords: `log` (global and proxies), `no log`, `log-send-hostname`,
//! `log-format`, `log-format-sd`, `error-log-format`.
//! The targets are resolved into senders by `crate::log`.

use crate::config::address::{Role, parse_address};
use crate::config::model::{Address, LogFormat, LogTarget};
use crate::config::parse::Args;
use crate::config::raw::{RawGlobal, RawProxy};

/// Syslog facilities HAProxy knows.
const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog levels, most to least severe.
const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `log ...` in `global`.
pub fn global_log(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    if args.peek() == Some("global") {
        return Err(
            "'log global' is only valid in a proxy section (it uses the 'global' targets)".into(),
        );
    }
    let target = syslog_target(args)?;
    g.logs.push(target);
    Ok(())
}

/// `log global` or `log ...` in a proxy section.
pub fn proxy_log(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let target = if args.peek() == Some("global") {
        args.next_opt();
        args.finish()?;
        LogTarget::Global
    } else {
        syslog_target(args)?
    };
    // Targets add to those inherited from `defaults`; `no log` clears them.
    p.log.targets.push(target);
    Ok(())
}

/// `no log`: drop every target, inherited ones included.
pub fn no_log(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    args.finish()?;
    p.log.targets.clear();
    Ok(())
}

/// `log-send-hostname [<name>]`.
pub fn send_hostname(g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let name = args.next_opt();
    args.finish()?;
    g.log_send_hostname = Some(name);
    Ok(())
}

/// `<addr> [len <n>] [format <f>] [sample <ranges>:<size>] <facility> [<level> [<minlevel>]]`.
fn syslog_target(args: &mut Args) -> Result<LogTarget, String> {
    let raw = args.next_string("an address (ip[:port], /path, stdout or stderr) or 'global'")?;
    let address = match raw.as_str() {
        "stdout" | "stderr" => raw.clone(),
        _ => match parse_address(&raw, Role::Log).map_err(|e| format!("'log': {e}"))? {
            Address::Inet(sa) => sa.to_string(),
            Address::Unix(path) => format!("unix@{}", path.display()),
            Address::Fd(fd) => format!("fd@{fd}"),
            Address::Abstract(_) => unreachable!("parse_address refuses abns@ for logs"),
        },
    };
    let mut len = None;
    let mut format = LogFormat::default();
    let mut sample = None;
    loop {
        match args.peek() {
            Some("len") => {
                args.next_opt();
                args.set_label("log len");
                len = Some(args.next_int(80, 65535)? as usize);
            }
            Some("format") => {
                args.next_opt();
                args.set_label("log format");
                let f = args.next_string("a log format (rfc3164, rfc5424, short, raw, ...)")?;
                format = match f.as_str() {
                    "rfc3164" => LogFormat::Rfc3164,
                    "short" => LogFormat::Short,
                    "raw" => LogFormat::Raw,
                    "rfc5424" => LogFormat::Rfc5424,
                    "priority" => LogFormat::Priority,
                    "iso" => LogFormat::Iso,
                    "timed" => LogFormat::Timed,
                    _ => {
                        return Err(format!(
                            "'log format' expects rfc3164, rfc5424, short, raw, priority, iso or timed, got '{f}'"
                        ));
                    }
                };
            }
            Some("sample") => {
                args.next_opt();
                args.set_label("log sample");
                sample = Some(sample_ranges(&args.next_string("<ranges>:<size>")?)?);
            }
            _ => break,
        }
    }
    args.set_label("log");
    let facility = args.next_string("a syslog facility (local0 ... local7, daemon, ...)")?;
    if !FACILITIES.contains(&facility.as_str()) {
        return Err(format!(
            "'log' expects a syslog facility, got '{facility}'{}",
            super::did_you_mean(&facility, FACILITIES)
        ));
    }
    let level = args.next_opt().map(check_level).transpose()?;
    let minlevel = args.next_opt().map(check_level).transpose()?;
    args.finish()?;
    let target = LogTarget::Syslog {
        address,
        len,
        format,
        facility,
        level,
        minlevel,
    };
    Ok(match sample {
        Some((ranges, size)) => LogTarget::Sampled {
            ranges,
            size,
            target: Box::new(target),
        },
        None => target,
    })
}

/// `<ranges>:<size>` of `log ... sample`: ranges `n` or `n-m`, comma
/// separated, each within `1..=size`, sorted and not overlapping.
fn sample_ranges(text: &str) -> Result<(Vec<(u32, u32)>, u32), String> {
    let bad = |why: &str| format!("'log sample' {why} in '{text}' (expects <ranges>:<size>)");
    let (ranges, size) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("misses ':<size>'"))?;
    let size: u32 = size
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| bad("has a bad size"))?;
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        let num = |s: &str| s.parse::<u32>().ok().filter(|&n| (1..=size).contains(&n));
        match (num(lo), num(hi)) {
            (Some(lo), Some(hi)) if lo <= hi => out.push((lo, hi)),
            _ => return Err(bad(&format!("has a bad range '{r}' (1 to the size)"))),
        }
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[1].0 <= w[0].1) {
        return Err(bad("has overlapping ranges"));
    }
    Ok((out, size))
}

/// A syslog level name.
fn check_level(level: String) -> Result<String, String> {
    if LEVELS.contains(&level.as_str()) {
        Ok(level)
    } else {
        Err(format!(
            "'log' expects a level ({}), got '{level}'",
            LEVELS.join(", ")
        ))
    }
}

/// Which of a proxy's custom formats a keyword sets.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// `log-format`.
    Line,
    /// `log-format-sd`.
    Sd,
    /// `error-log-format`.
    Error,
}

/// `log-format <fmt>`, `log-format-sd`, `error-log-format` (one argument; `""` keeps the built-in format
/// chosen by the options): compiled now so that errors name the keyword.
pub fn log_format(p: &mut RawProxy, args: &mut Args, which: Which) -> Result<(), String> {
    let kw = match which {
        Which::Line => "log-format",
        Which::Sd => "log-format-sd",
        Which::Error => "error-log-format",
    };
    let text = args.next_string("a log format string")?;
    if args.peek().is_some() {
        return Err(format!(
            "'{kw}' expects only one argument, don't forget to escape spaces!"
        ));
    }
    let slot = match which {
        Which::Line => &mut p.log.format,
        Which::Sd => &mut p.log.format_sd,
        Which::Error => &mut p.log.error_format,
    };
    if text.is_empty() {
        *slot = None;
        return Ok(());
    }
    let lf = crate::log::custom::compile(&text, kw)?;
    let http = p.mode == crate::config::model::Mode::Http;
    crate::log::custom::check_mode(&lf, kw, http)?;
    *slot = Some(text);
    Ok(())
}
