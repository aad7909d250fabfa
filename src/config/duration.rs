//! Durations as HAProxy writes them: a bare number is milliseconds; suffixes
//! `us`, `ms`, `s`, `m`, `h`, `d`.

use std::time::Duration;

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
    // Microseconds per unit; `m` is minutes, as in HAProxy.
    let micros_per: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{s}'; expected {EXPECTED}"
            ));
        }
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
        for bad in ["", "s", "abc", "-1", "1x", "1 s", "1.5s", "10sec", "1S"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("duration") || e.contains("unit"), "{bad}: {e}");
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(parse_duration("99999999999999999999999").is_err());
        assert!(parse_duration("30d").is_err());
        assert!(parse_duration("24d").is_ok());
    }
}
