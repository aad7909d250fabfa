//! Local time for log lines, without a libc call per line.
//!
//! HAProxy writes both the syslog header date and the accept date in local
//! time. glibc's `localtime_r` takes a process-wide lock, which every worker
//! would contend for on every line; instead each thread asks it once per
//! quarter hour for the offset from UTC and does the calendar arithmetic
//! itself. Time zones change their offset only at quarter-hour boundaries
//! (DST transitions and zone offsets are multiples of 15 minutes), so an
//! offset found for one quarter hour holds for all of it.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Quarter hours: the span one looked-up UTC offset is valid for.
const BLOCK: i64 = 900;

/// Month abbreviations as syslog and HAProxy's dates write them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down local date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Full year.
    pub year: i64,
    /// Month, 0-based (index into [`MONTHS`]).
    pub month: usize,
    /// Day of the month, 1-based.
    pub day: u32,
    /// Hours.
    pub hour: u32,
    /// Minutes.
    pub min: u32,
    /// Seconds.
    pub sec: u32,
    /// Milliseconds.
    pub millis: u32,
}

thread_local! {
    /// (start of the quarter hour, UTC offset in seconds) last looked up.
    static OFFSET: Cell<Option<(i64, i64)>> = const { Cell::new(None) };
}

/// `t` in the local time zone.
pub fn local(t: SystemTime) -> Civil {
    local_with_offset(t).0
}

/// `t` in the local time zone, and that zone's offset from UTC in seconds
/// (for the dates that say it: `+0100`, `+01:00`).
pub fn local_with_offset(t: SystemTime) -> (Civil, i64) {
    let (secs, millis) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
        Err(_) => (0, 0),
    };
    let block = secs - secs.rem_euclid(BLOCK);
    let offset = OFFSET.with(|c| match c.get() {
        Some((b, off)) if b == block => off,
        _ => {
            let off = utc_offset(secs);
            c.set(Some((block, off)));
            off
        }
    });
    (civil(secs + offset, millis), offset)
}

/// `t` in UTC.
pub fn utc(t: SystemTime) -> Civil {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    civil(d.as_secs() as i64, d.subsec_millis())
}

/// The local zone's offset from UTC at `secs`, asked of the C library.
fn utc_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain old data, fully written by localtime_r on success.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return 0;
    }
    tm.tm_gmtoff
}

/// Seconds since the epoch (already shifted to local time) to a calendar date
/// (Howard Hinnant's `civil_from_days`).
pub fn civil(secs: i64, millis: u32) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month: month - 1,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        millis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates() {
        // 2026-11-25 01:35:12 UTC.
        let c = civil(1_795_570_512, 345);
        assert_eq!(
            c,
            Civil {
                year: 2026,
                month: 10,
                day: 25,
                hour: 1,
                min: 35,
                sec: 12,
                millis: 345
            }
        );
        assert_eq!(civil(0, 0).year, 1970);
        // A leap day.
        let c = civil(951_782_400, 0);
        assert_eq!((c.year, c.month, c.day), (2000, 1, 29));
    }

    #[test]
    fn local_matches_the_c_library() {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as libc::time_t;
        // SAFETY: as in `utc_offset`.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        unsafe { libc::localtime_r(&secs, &mut tm) };
        let c = local(now);
        assert_eq!(
            (
                c.year,
                c.month as i32,
                c.day as i32,
                c.hour as i32,
                c.min as i32,
                c.sec as i32
            ),
            (
                i64::from(tm.tm_year) + 1900,
                tm.tm_mon,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec
            )
        );
    }
}
