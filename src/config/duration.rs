//! Durations as HAProxy writes them: a bare number is milliseconds; suffixes
//! `us`, `ms`, `s`, `m`, `h`, `d`.
//!
//! As HAProxy 2.6's `parse_time_err`, text after a valid unit is tolerated
//! with a warning (`15min` is 15 minutes, `10sec` 10 seconds); an unknown
//! unit is an error. The warning goes to a per-thread list the parser drains
//! after each line, so every caller keeps its simple signature.

use std::cell::{Cell, RefCell};
use std::time::Duration;

thread_local! {
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
    static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Starts (or stops) keeping trailing-text warnings on this thread (the config parser does).
pub fn collect_warnings(on: bool) {
    COLLECTING.with(|c| c.set(on));
    if !on {
        WARNINGS.with(|w| w.borrow_mut().clear());
    }
}

/// The warnings kept since the last call.
pub fn take_warnings() -> Vec<String> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// HAProxy's warning for text after the unit, word for word.
fn trailing_warning(s: &str, unit_len: usize, digits: usize) {
    if !COLLECTING.with(Cell::get) {
        return;
    }
    let c = s[digits + unit_len..].chars().next().unwrap_or(' ');
    WARNINGS.with(|w| {
        w.borrow_mut().push(format!(
            "unexpected character '{c}' after the timer value '{s}', only \
             (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are \
             supported. This will be reported as an error in next versions."
        ))
    });
}

/// What every duration error says was expected.
pub const EXPECTED: &str =
    "a duration (a number of milliseconds, or with a unit: us, ms, s, m, h, d)";

/// Parses `1000`, `500ms`, `2s`, `1m`, ... into a [`Duration`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected {EXPECTED}, got '{s}'"));
    }
    let (num, unit) = s.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is too large for a duration"))?;
    // Microseconds per unit; `m` is minutes, as in HAProxy. Longest unit first.
    let known = [
        ("us", 1),
        ("ms", 1_000),
        ("s", 1_000_000),
        ("m", 60_000_000),
        ("h", 3_600_000_000),
        ("d", 86_400_000_000),
    ];
    let micros_per: u64 = if unit.is_empty() {
        1_000
    } else {
        let Some(&(u, per)) = known.iter().find(|(u, _)| unit.starts_with(u)) else {
            return Err(format!(
                "unknown unit '{unit}' in '{s}'; expected {EXPECTED}"
            ));
        };
        if unit.len() > u.len() {
            trailing_warning(s, u.len(), digits);
        }
        per
    };
    // HAProxy keeps timers in milliseconds on 32 bits; refuse what it would refuse.
    let micros = n
        .checked_mul(micros_per)
        .filter(|&us| us / 1_000 <= i32::MAX as u64)
        .ok_or_else(|| format!("'{s}' is too large for a duration (at most about 24.8 days)"))?;
    Ok(Duration::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("1000"), Ok(Duration::from_millis(1000)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
    }

    #[test]
    fn bad_forms() {
        for bad in ["", "s", "abc", "-1", "1x", "1.5s", "1S", "1u"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("duration") || e.contains("unit"), "{bad}: {e}");
        }
    }

    #[test]
    fn trailing_text_after_a_unit_warns_as_haproxy() {
        collect_warnings(true);
        assert_eq!(parse_duration("15min"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("10sec"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("1 s").is_err());
        let w = take_warnings();
        collect_warnings(false);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("unexpected character 'i' after the timer value '15min'"));
        assert!(w[1].starts_with("unexpected character 'e' after the timer value '10sec'"));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(parse_duration("99999999999999999999999").is_err());
        assert!(parse_duration("30d").is_err());
        assert!(parse_duration("24d").is_ok());
    }
}
