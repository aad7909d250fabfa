//! "did you mean ...?": the nearest candidate a small edit away, with the
//! work it costs bounded twice over.
//!
//! - Per call: a candidate whose length differs from the word's by more than
//!   the distance accepted is skipped without computing anything, and the
//!   edit distance is computed only in the band of the matrix that can stay
//!   within that distance (at most `2k + 1` cells a row, `k` ≤ 2), stopping
//!   at the first row that is entirely beyond it. A call costs
//!   `O(candidates × 5 × min(word, candidate))`, whatever the word's length
//!   (a 200-character unknown keyword used to cost 200 × the candidate's
//!   length for each of ~60 keywords).
//! - Per load: every call spends from one budget of [`LOAD_BUDGET`] work
//!   units (one per candidate looked at, one per matrix cell), reset by
//!   [`begin_load`]. Once it is spent, errors carry no suggestion. This caps
//!   the lists whose size the configuration decides (`default_backend` names
//!   suggested among every backend: frontends × backends otherwise).
//!
//! The budget lives in a thread-local: a load runs on one thread from start
//! to end, and the call sites (a dozen keyword handlers, some without the
//! load's context) keep their plain `did_you_mean(word, candidates)`.

use std::cell::Cell;

/// Largest edit distance suggested.
const MAX_DISTANCE: usize = 2;

/// Work units (candidates looked at plus matrix cells) one load may spend on
/// suggestions: a few milliseconds, thousands of ordinary suggestions (one
/// unknown proxy keyword costs about 1,000-3,000 units).
pub const LOAD_BUDGET: u64 = 4_000_000;

thread_local! {
    /// Work spent on suggestions since the load began.
    static SPENT: Cell<u64> = const { Cell::new(0) };
}

/// Starts a load: the whole budget is available again.
pub fn begin_load() {
    SPENT.with(|s| s.set(0));
}

/// Work spent on suggestions since [`begin_load`] (for tests and diagnostics).
pub fn spent() -> u64 {
    SPENT.with(Cell::get)
}

/// `"; did you mean 'balance'?"` when a candidate is a small edit away, else `""`.
///
/// Accepted: a distance of at most 2 that is also below the shorter length
/// (so `ab` never suggests `xy`). Among equals, the first candidate wins.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    let left = LOAD_BUDGET.saturating_sub(spent());
    let mut work = 0u64;
    let best = nearest(word, candidates, left, &mut work);
    SPENT.with(|s| s.set(s.get().saturating_add(work)));
    match best {
        Some(c) => format!("; did you mean '{c}'?"),
        None => String::new(),
    }
}

/// The nearest acceptable candidate, spending at most about `budget` units
/// (counted in `work`); `None` when there is none or the budget ran out.
fn nearest<'c>(word: &str, candidates: &[&'c str], budget: u64, work: &mut u64) -> Option<&'c str> {
    let w: Vec<char> = word.chars().collect();
    let mut best: Option<(usize, &str)> = None;
    let mut buf = Vec::new();
    for c in candidates {
        if *work >= budget {
            return None;
        }
        *work += 1;
        // The historical rule, in bytes: below the shorter length, at least 1.
        let shorter = c.len().min(word.len()).max(1);
        let mut k = MAX_DISTANCE.min(shorter - 1);
        if let Some((d, _)) = best {
            // Only a strictly nearer candidate can replace the best.
            match d.checked_sub(1) {
                Some(k2) => k = k.min(k2),
                None => break,
            }
        }
        // Cheap prefilter: a length difference is a lower bound of the distance.
        if c.len().abs_diff(word.len()) > k * 4 {
            continue;
        }
        buf.clear();
        buf.extend(c.chars());
        if let Some(d) = bounded_distance(&w, &buf, k, work) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance by characters when it is at most `k`, else `None`,
/// computing only the diagonal band `|i - j| ≤ k` and stopping as soon as a
/// whole row exceeds `k`. Adds the cells computed to `work`.
fn bounded_distance(a: &[char], b: &[char], k: usize, work: &mut u64) -> Option<usize> {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > k {
        return None;
    }
    // Anything above `k` is as good as infinite; never written outside the band.
    let far = k + 1;
    let mut prev = vec![far; m + 1];
    let mut cur = vec![far; m + 1];
    for (j, cell) in prev.iter_mut().enumerate().take(k.min(m) + 1) {
        *cell = j;
    }
    for i in 1..=n {
        let lo = i.saturating_sub(k).max(1);
        let hi = (i + k).min(m);
        // The cell left of the band: column 0 (distance i) or outside it.
        cur[lo - 1] = if lo == 1 && i <= k { i } else { far };
        let mut row_min = cur[lo - 1];
        for j in lo..=hi {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let v = sub.min(prev[j] + 1).min(cur[j - 1] + 1).min(far);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        *work += (hi + 1 - lo) as u64;
        if row_min > k {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[m]).filter(|d| *d <= k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain full-matrix Levenshtein distance, by characters.
    fn full_distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }

    fn bounded(a: &str, b: &str, k: usize) -> Option<usize> {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        bounded_distance(&a, &b, k, &mut 0)
    }

    /// The old rule, computed the old way: every candidate, full matrix.
    fn old_did_you_mean<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
        candidates
            .iter()
            .map(|c| (full_distance(word, c), *c))
            .filter(|(d, c)| *d <= 2 && *d < c.len().min(word.len()).max(1))
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    }

    #[test]
    fn bounded_matches_the_full_distance() {
        assert_eq!(bounded("balanse", "balance", 2), Some(1));
        assert_eq!(bounded("", "abc", 2), None);
        assert_eq!(bounded("", "ab", 2), Some(2));
        assert_eq!(bounded("server", "server", 0), Some(0));
        assert_eq!(bounded("sever", "server", 2), Some(1));
        assert_eq!(bounded("sever", "server", 0), None);
        // Every pair of short words over a small alphabet, every bound.
        let mut words = vec![String::new()];
        for len in 1..=4 {
            let mut next = Vec::new();
            for w in words.iter().filter(|w| w.chars().count() == len - 1) {
                for ch in ['a', 'b', 'é'] {
                    next.push(format!("{w}{ch}"));
                }
            }
            words.extend(next);
        }
        for a in &words {
            for b in &words {
                let d = full_distance(a, b);
                for k in 0..=3 {
                    assert_eq!(bounded(a, b, k), (d <= k).then_some(d), "{a:?} {b:?} k={k}");
                }
            }
        }
    }

    #[test]
    fn same_answers_as_the_unbounded_search() {
        let kws = [
            "balance", "bind", "backlog", "mode", "maxconn", "server", "timeout", "option", "log",
            "cookie", "stats", "no", "retries", "ab", "a",
        ];
        for word in [
            "balanse", "bnd", "sever", "servr", "xx", "ab", "ba", "b", "", "mod", "modes",
            "timeuot", "maxcon", "zzzzzzz", "optoin", "statz", "lg", "éé",
        ] {
            let mut work = 0;
            assert_eq!(
                nearest(word, &kws, u64::MAX, &mut work),
                old_did_you_mean(word, &kws),
                "{word}"
            );
        }
        assert_eq!(
            did_you_mean("balanse", &["balance", "bind"]),
            "; did you mean 'balance'?"
        );
        assert_eq!(did_you_mean("zzzzzz", &["balance", "bind"]), "");
        assert_eq!(did_you_mean("ab", &["xy"]), "");
    }

    /// Work is counted, never timed: a quadratic regression (the full matrix
    /// for every candidate, or no length prefilter) multiplies these counts.
    #[test]
    fn work_does_not_grow_with_the_word_or_its_neighbours() {
        let kws: Vec<String> = (0..60).map(|i| format!("keyword-{i:02}-abcdef")).collect();
        let kws: Vec<&str> = kws.iter().map(String::as_str).collect();
        // A very long unknown word: every candidate is skipped on its length.
        let mut work = 0;
        assert_eq!(
            nearest(&"k".repeat(100_000), &kws, u64::MAX, &mut work),
            None
        );
        assert_eq!(work, kws.len() as u64, "one unit per candidate, no matrix");
        // A word of a candidate's length: at most 5 cells a row.
        let mut work = 0;
        assert_eq!(
            nearest("keyword-xx-abcdeg", &kws, u64::MAX, &mut work),
            None
        );
        let row = "keyword-xx-abcdeg".len() as u64;
        assert!(work <= kws.len() as u64 * (1 + 5 * row), "work {work}");
        // Long equal-length names (backend names are the user's): linear in length.
        let long_a = format!("{}a", "n".repeat(10_000));
        let long_b = format!("{}b", "n".repeat(10_000));
        let mut work = 0;
        assert_eq!(
            nearest(&long_a, &[&long_b], u64::MAX, &mut work),
            Some(long_b.as_str())
        );
        assert!(
            work <= 1 + 5 * 10_001,
            "work {work}, the full matrix is 10^8"
        );
    }

    #[test]
    fn the_load_budget_caps_the_total() {
        begin_load();
        let names: Vec<String> = (0..10_000).map(|i| format!("backend{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        // The first suggestions are made...
        assert_eq!(
            did_you_mean("backend1x", &names),
            "; did you mean 'backend1'?"
        );
        // ...and however many frontends name a missing backend, the total stays capped.
        for i in 0..2_000 {
            let _ = did_you_mean(&format!("backend{i}zz"), &names);
        }
        assert!(spent() <= LOAD_BUDGET + 1_000, "spent {}", spent());
        assert_eq!(
            did_you_mean("backend1x", &names),
            "",
            "budget spent: no suggestion"
        );
        begin_load();
        assert_eq!(
            did_you_mean("backend1x", &names),
            "; did you mean 'backend1'?"
        );
    }

    /// A whole load: the work per unknown keyword is the same for a long one
    /// as for a short one, and grows linearly with the number of lines.
    #[test]
    fn a_load_spends_linearly_in_its_lines() {
        let spend = |lines: usize, word: &str| {
            let mut cfg = String::from("listen web\n    mode http\n    bind 127.0.0.1:1\n");
            for i in 0..lines {
                cfg.push_str(&format!("    {word}{i} roundrobin\n"));
            }
            let err = crate::config::load_sources(&[("t.cfg", &cfg)]).unwrap_err();
            assert_eq!(err.errors.len(), lines);
            spent()
        };
        let short = spend(1_000, "balanse");
        let long = spend(1_000, &"k".repeat(300));
        let double = spend(2_000, &"k".repeat(300));
        // About 100 proxy keywords, each skipped on its length or banded.
        assert!(long <= 1_000 * 200, "long keywords spent {long}");
        assert!(long <= short, "long {long} vs short {short}");
        assert!(
            double <= 2 * long + 1_000,
            "2,000 lines {double} vs 1,000 lines {long}"
        );
        assert!(
            short < LOAD_BUDGET,
            "short {short}: every line keeps its suggestion"
        );
    }
}
