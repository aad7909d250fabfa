//! `cpu-map`: which CPUs each worker thread may run on.

use super::*;

/// A set of processes, threads or CPUs as `cpu-map` writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuSet {
    /// `all`.
    All,
    /// `odd`.
    Odd,
    /// `even`.
    Even,
    /// Numbers and inclusive ranges.
    List(Vec<(u32, u32)>),
}

impl CpuSet {
    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        match self {
            CpuSet::All => true,
            CpuSet::Odd => n % 2 == 1,
            CpuSet::Even => n.is_multiple_of(2),
            CpuSet::List(r) => r.iter().any(|&(a, b)| (a..=b).contains(&n)),
        }
    }
}

/// One `cpu-map` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuMap {
    /// `auto:`: the n-th thread of the set to the n-th CPU of the set.
    pub auto: bool,
    /// The process set.
    pub procs: CpuSet,
    /// The thread set (1-based); `None` acts on nothing (as HAProxy 2.6).
    pub threads: Option<CpuSet>,
    /// The CPUs, sorted.
    pub cpus: Vec<u32>,
    /// Where it was written.
    pub origin: Origin,
}

/// Where a worker thread may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affinity {
    /// No `cpu-map`: ringlb's own placement, worker n on core n.
    Default,
    /// On these CPUs.
    Cpus(Vec<u32>),
    /// `cpu-map` is given but names no CPU for this thread: wherever the
    /// system schedules it (HAProxy leaves such a thread unbound).
    Free,
}

/// Where worker `thread` (1-based) of `threads` may run under `maps`: the
/// union of what every line gives it (HAProxy adds a line's CPUs to those
/// the thread already had).
pub fn affinity(maps: &[CpuMap], thread: u32, threads: u32) -> Affinity {
    if maps.is_empty() {
        return Affinity::Default;
    }
    let mut cpus: Vec<u32> = Vec::new();
    for m in maps {
        let Some(set) = &m.threads else { continue };
        if !set.contains(thread) {
            continue;
        }
        if m.auto {
            let nth = (1..=threads)
                .filter(|t| set.contains(*t))
                .position(|t| t == thread);
            cpus.extend(nth.and_then(|i| m.cpus.get(i)));
        } else {
            cpus.extend(&m.cpus);
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        Affinity::Free
    } else {
        Affinity::Cpus(cpus)
    }
}
