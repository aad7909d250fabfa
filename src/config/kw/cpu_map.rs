//! `cpu-map [auto:]<process-set>[/<thread-set>] <cpu-set>...`: which CPUs
//! each worker thread may run on, as HAProxy 2.6 applies it (measured with
//! its threads' `Cpus_allowed_list`):
//! - only lines with a thread set act, and only when the process set holds
//!   process 1 (the only one there is); without `auto:` every thread of the
//!   set may run on the whole CPU set, with `auto:` the n-th thread of the set
//!   goes to the n-th CPU of the set;
//! - a line without a thread set acts on nothing in HAProxy 2.6. A 1.x file
//!   that also says `nbproc` meant one process per CPU: ringlb, which runs
//!   `nbproc` as threads, reads its process numbers as thread numbers.

use crate::config::model::{CpuMap, CpuSet};
use crate::config::parse::{Args, Ctx};
use crate::config::raw::RawGlobal;

/// Largest CPU or thread number accepted (HAProxy's LONGBITS-sized masks are
/// smaller; this is only a sanity bound).
const MAX_ID: u32 = 4095;

/// `cpu-map ...`.
pub fn cpu_map(cx: &mut Ctx<'_>, g: &mut RawGlobal, args: &mut Args) -> Result<(), String> {
    let sets = args.next_string("[auto:]<process-set>[/<thread-set>]")?;
    let (auto, sets) = match sets.strip_prefix("auto:") {
        Some(rest) => (true, rest),
        None => (false, sets.as_str()),
    };
    let (procs, threads) = match sets.split_once('/') {
        Some((p, t)) => (p, Some(t)),
        None => (sets, None),
    };
    let procs = parse_set(procs, 1).map_err(|e| format!("'cpu-map' process set: {e}"))?;
    let threads = threads
        .map(|t| parse_set(t, 1))
        .transpose()
        .map_err(|e| format!("'cpu-map' thread set: {e}"))?;
    let words = args.rest();
    if words.is_empty() {
        return Err("'cpu-map' expects a CPU set after the process/thread set".into());
    }
    let mut cpus = Vec::new();
    for w in &words {
        let set = parse_set(w, 0).map_err(|e| format!("'cpu-map' CPU set: {e}"))?;
        match set {
            CpuSet::List(ranges) => cpus.extend(ranges.into_iter().flat_map(|(a, b)| a..=b)),
            _ => return Err(format!("'cpu-map' CPU set: expects CPU numbers, got '{w}'")),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    if auto {
        let n = match threads.as_ref().unwrap_or(&procs) {
            CpuSet::List(r) => r.iter().map(|(a, b)| (b - a + 1) as usize).sum(),
            _ => usize::MAX, // all/odd/even: HAProxy counts every possible thread
        };
        if n != cpus.len() {
            return Err(
                "'cpu-map': PROC/THREAD range and CPU sets must have the same size to be \
                 automatically bound"
                    .into(),
            );
        }
    }
    let threads = match threads {
        Some(t) if procs.contains(1) => Some(t),
        Some(_) => {
            cx.warn(format!(
                "'cpu-map {sets}': ringlb runs one process; only process 1 has threads to map"
            ));
            None
        }
        None => None,
    };
    g.cpu_map.push(CpuMap {
        auto,
        procs,
        threads,
        cpus,
        origin: cx.origin.clone(),
    });
    Ok(())
}

/// A set as HAProxy writes them: `all`, `odd`, `even`, or numbers and
/// ranges `a-b` separated by commas, from `min`.
fn parse_set(s: &str, min: u32) -> Result<CpuSet, String> {
    match s {
        "all" => return Ok(CpuSet::All),
        "odd" => return Ok(CpuSet::Odd),
        "even" => return Ok(CpuSet::Even),
        _ => {}
    }
    let num = |n: &str| {
        n.parse::<u32>()
            .ok()
            .filter(|n| (min..=MAX_ID).contains(n))
            .ok_or_else(|| format!("'{n}' is not a number from {min} to {MAX_ID} (in '{s}')"))
    };
    let mut ranges = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if a > b {
            return Err(format!("range '{part}' is reversed"));
        }
        ranges.push((a, b));
    }
    Ok(CpuSet::List(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets() {
        assert_eq!(parse_set("all", 1), Ok(CpuSet::All));
        assert_eq!(
            parse_set("1-3,5", 1),
            Ok(CpuSet::List(vec![(1, 3), (5, 5)]))
        );
        assert!(parse_set("0", 1).is_err(), "threads count from 1");
        assert_eq!(parse_set("0", 0), Ok(CpuSet::List(vec![(0, 0)])));
        assert!(parse_set("3-1", 0).is_err());
        assert!(parse_set("x", 0).is_err());
        assert!(CpuSet::Odd.contains(3) && !CpuSet::Odd.contains(2));
        assert!(CpuSet::Even.contains(2) && !CpuSet::Even.contains(1));
    }
}
