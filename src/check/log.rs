//! The checker's log lines, worded exactly as HAProxy's, and the one function
//! that emits them.
//!
//! - With `option log-health-checks`, every check that moves the health counter
//!   or changes the outcome class: `Health check for server be/s failed,
//!   reason: Layer7 wrong status, code: 500, info: "Internal Server Error",
//!   check duration: 1ms, status: 2/3 UP.`
//! - Always, the state changes: `Server be/s is DOWN, reason: ... . 1 active and
//!   0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.`
//!   and `Server be/s is UP, reason: ... . 2 active and 0 backup servers online.
//!   0 sessions requeued, 0 total in queue.` HAProxy leaves the reason out of
//!   these when `log-health-checks` already logged it, and so does ringlb.
//! - When the last server of a backend goes: `backend be has no server
//!   available!` (`proxy be ...` for a `listen` section, as HAProxy).
//!
//! [`emit`] sends them to the backend's log targets (`log global` or its own
//! `log` lines), at HAProxy's levels; a backend without a log target prints
//! them on stderr instead, as before logging existed.

use super::state::Health;
use super::status::{CheckReport, CheckStatus};
use crate::log::Level;
use crate::runtime::BackendRt;

/// The syslog severity HAProxy gives each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A backend has no server left.
    Emerg,
    /// A server went DOWN.
    Alert,
    /// A server came UP, or a check result with `log-health-checks`.
    Notice,
}

/// Writes one line for `backend`: to its log targets, or to stderr when it has none.
pub fn emit(backend: &BackendRt, severity: Severity, line: &str) {
    if let Some(log) = &backend.log {
        let level = match severity {
            Severity::Emerg => Level::Emerg,
            Severity::Alert => Level::Alert,
            Severity::Notice => Level::Notice,
        };
        log.send(level, line.as_bytes());
        return;
    }
    // HAProxy prints these on stderr as warnings, the no-server line as an alert.
    let tag = match severity {
        Severity::Emerg => "ALERT",
        Severity::Alert | Severity::Notice => "WARNING",
    };
    // Through the logs' non-blocking stderr writer, not `eprintln!`: a stderr
    // pipe nobody reads must cost a dropped line, never a stalled checker.
    let text = format!("[{tag}] {line}");
    crate::log::syslog::send(stderr_target(), None, Level::Emerg, text.as_bytes());
}

/// A raw `log stderr` target, built once.
fn stderr_target() -> &'static [crate::log::syslog::Target] {
    static TARGET: std::sync::OnceLock<Vec<crate::log::syslog::Target>> =
        std::sync::OnceLock::new();
    TARGET.get_or_init(|| {
        let model = crate::config::model::LogTarget::Syslog {
            address: "stderr".into(),
            len: Some(8192),
            format: crate::config::model::LogFormat::Raw,
            facility: "daemon".into(),
            level: None,
            minlevel: None,
        };
        crate::log::syslog::Target::from_model(&model)
            .into_iter()
            .collect()
    })
}

/// Who a line is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Backend (proxy) name.
    pub backend: &'a str,
    /// Server name.
    pub server: &'a str,
    /// A `backup` server ("Backup Server ...", "backup server ...").
    pub backup: bool,
}

/// Servers still usable in the backend after the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Active (non-backup) servers UP.
    pub active: usize,
    /// Backup servers UP.
    pub backup: usize,
}

impl Counts {
    /// HAProxy's " Running on backup." when only backups are left.
    fn running_on_backup(&self) -> &'static str {
        if self.backup > 0 && self.active == 0 {
            " Running on backup."
        } else {
            ""
        }
    }
}

/// `, reason: <desc>[, code: <n>][, info: "<info>"], check duration: <n>ms`.
pub fn reason(report: &CheckReport) -> String {
    let mut s = format!(", reason: {}", report.status.description());
    if report.status.has_code() {
        s += &format!(", code: {}", report.code);
    }
    if !report.info.is_empty() {
        s += &format!(", info: \"{}\"", ascii_encode(&report.info));
    }
    // HAProxy gives a health-analyze verdict no duration (-1, not printed).
    if report.status != CheckStatus::Hana {
        s += &format!(", check duration: {}ms", report.duration.as_millis());
    }
    s
}

/// The `log-health-checks` line for one result, after `health` counted it.
pub fn health_check_line(who: Subject<'_>, report: &CheckReport, health: &Health) -> String {
    let (n, of, state) = health.status();
    format!(
        "Health check for {}server {}/{} {}{}, status: {n}/{of} {state}.",
        if who.backup { "backup " } else { "" },
        who.backend,
        who.server,
        if report.status == CheckStatus::L7OkC {
            "conditionally succeeded"
        } else if report.status.passed() {
            "succeeded"
        } else {
            "failed"
        },
        reason(report),
    )
}

/// `[Backup ]Server b/s is DOWN[reason]. N active and M backup servers left. ...`
pub fn down_line(
    who: Subject<'_>,
    report: Option<&CheckReport>,
    counts: Counts,
    sessions: u64,
) -> String {
    down_line_detail(
        who,
        &report.map(reason).unwrap_or_default(),
        counts,
        sessions,
    )
}

/// [`down_line`] with the part after "DOWN" given: a reason, or " via b/s"
/// for a tracking server ([`via`]).
pub fn down_line_detail(who: Subject<'_>, detail: &str, counts: Counts, sessions: u64) -> String {
    format!(
        "{}Server {}/{} is DOWN{detail}. {} active and {} backup servers left.{} \
         {sessions} sessions active, 0 requeued, 0 remaining in queue.",
        if who.backup { "Backup " } else { "" },
        who.backend,
        who.server,
        counts.active,
        counts.backup,
        counts.running_on_backup(),
    )
}

/// `[Backup ]Server b/s is UP[reason]. N active and M backup servers online. ...`
pub fn up_line(who: Subject<'_>, report: Option<&CheckReport>, counts: Counts) -> String {
    up_line_detail(who, &report.map(reason).unwrap_or_default(), counts)
}

/// [`up_line`] with the part after "UP" given.
pub fn up_line_detail(who: Subject<'_>, detail: &str, counts: Counts) -> String {
    format!(
        "{}Server {}/{} is UP{detail}. {} active and {} backup servers online.{} \
         0 sessions requeued, 0 total in queue.",
        if who.backup { "Backup " } else { "" },
        who.backend,
        who.server,
        counts.active,
        counts.backup,
        counts.running_on_backup(),
    )
}

/// HAProxy's " via <backend>/<server>" for a server following a tracked one.
pub fn via(backend: &str, server: &str) -> String {
    format!(" via {backend}/{server}")
}

/// `<kind> <name> has no server available!`, `kind` being `backend` or `proxy`.
pub fn no_server_line(kind: &str, backend: &str) -> String {
    format!("{kind} {backend} has no server available!")
}

/// HAProxy's `chunk_asciiencode` with `"` as the quote: control bytes, bytes
/// outside ASCII, the quote and the backslash are escaped, so a line stays one line.
fn ascii_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x1b => out.push_str("\\e"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::status::CheckStatus;

    const WHO: Subject<'static> = Subject {
        backend: "webfarm",
        server: "xvadm01.ncli",
        backup: false,
    };

    fn wrong_500() -> CheckReport {
        CheckReport {
            status: CheckStatus::L7Sts,
            code: 500,
            info: "Internal Server Error".into(),
            duration: Duration::from_micros(1500),
        }
    }

    fn passed_200() -> CheckReport {
        CheckReport {
            status: CheckStatus::L7Ok,
            code: 200,
            info: String::new(),
            duration: Duration::from_millis(1),
        }
    }

    #[test]
    fn health_check_lines() {
        let mut h = Health::new(2, 5);
        h.record(true);
        h.record(false);
        assert_eq!(
            health_check_line(WHO, &wrong_500(), &h),
            "Health check for server webfarm/xvadm01.ncli failed, reason: Layer7 wrong status, \
             code: 500, info: \"Internal Server Error\", check duration: 1ms, status: 4/5 UP."
        );
        let mut h = Health::new(2, 5);
        h.record(false);
        h.record(true);
        let who = Subject {
            backup: true,
            ..WHO
        };
        assert_eq!(
            health_check_line(who, &passed_200(), &h),
            "Health check for backup server webfarm/xvadm01.ncli succeeded, reason: Layer7 check \
             passed, code: 200, check duration: 1ms, status: 1/2 DOWN."
        );
    }

    #[test]
    fn layer4_reasons_have_no_code() {
        let r = CheckReport {
            status: CheckStatus::L4Con,
            code: 0,
            info: "Connection refused".into(),
            duration: Duration::ZERO,
        };
        assert_eq!(
            reason(&r),
            ", reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms"
        );
        let r = CheckReport {
            status: CheckStatus::L4Timeout,
            info: String::new(),
            duration: Duration::from_millis(2001),
            ..r
        };
        assert_eq!(
            reason(&r),
            ", reason: Layer4 timeout, check duration: 2001ms"
        );
    }

    #[test]
    fn state_change_lines() {
        assert_eq!(
            down_line(
                WHO,
                Some(&wrong_500()),
                Counts {
                    active: 1,
                    backup: 0
                },
                0
            ),
            "Server webfarm/xvadm01.ncli is DOWN, reason: Layer7 wrong status, code: 500, info: \
             \"Internal Server Error\", check duration: 1ms. 1 active and 0 backup servers left. \
             0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            up_line(
                WHO,
                Some(&passed_200()),
                Counts {
                    active: 2,
                    backup: 0
                }
            ),
            "Server webfarm/xvadm01.ncli is UP, reason: Layer7 check passed, code: 200, check \
             duration: 1ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in \
             queue."
        );
        let who = Subject {
            backup: true,
            ..WHO
        };
        assert_eq!(
            down_line(
                who,
                None,
                Counts {
                    active: 0,
                    backup: 1
                },
                3
            ),
            "Backup Server webfarm/xvadm01.ncli is DOWN. 0 active and 1 backup servers left. \
             Running on backup. 3 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            no_server_line("backend", "webfarm"),
            "backend webfarm has no server available!"
        );
    }

    #[test]
    fn info_is_escaped() {
        assert_eq!(
            ascii_encode("a\"b\\c\r\n\té"),
            "a\\\"b\\\\c\\r\\n\\t\\xc3\\xa9"
        );
    }
}
