//! The Markdown report: a header describing the machine and the setup, then
//! one row per target with the median and the ratios.

use std::fmt::Write as _;

/// One target's outcome.
pub struct Row {
    /// Target name as shown in the table.
    pub name: String,
    /// Requests/s of each measured run, or why there are none.
    pub outcome: Result<Vec<f64>, String>,
    /// Bytes/s of each measured run (wrk's Transfer/sec); shown as a column
    /// when any row of the table has them.
    pub bytes: Vec<f64>,
    /// Remarks (errors seen by wrk, ...).
    pub notes: Vec<String>,
    /// Is this the HAProxy row (the first ratio's denominator)?
    pub is_haproxy: bool,
    /// Is this the direct row (the second ratio's denominator)?
    pub is_direct: bool,
}

impl Row {
    /// Median of the runs, if any.
    pub fn median(&self) -> Option<f64> {
        self.outcome.as_ref().ok().and_then(|v| median(v))
    }
}

/// The median of `v` (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    })
}

/// 123456.7 → "123,457".
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Makes text safe inside one Markdown table cell.
fn cell(text: &str) -> String {
    let flat: String = text
        .replace('|', "\\|")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() > 240 {
        format!("{}…", flat.chars().take(240).collect::<String>())
    } else {
        flat
    }
}

/// One table of a report: an optional subtitle and its rows.
pub struct Section {
    /// `## subtitle` above the table (empty: none).
    pub subtitle: String,
    /// The rows; ratios are taken within the section.
    pub rows: Vec<Row>,
}

/// 1536.0 → "1.5 KiB/s"-style human bytes/s (binary units, as wrk prints).
pub fn bytes_per_sec(x: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = x.max(0.0);
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}/s", UNITS[u])
}

/// Renders the header lines and one table per section.
pub fn render_sections(title: &str, header: &[String], sections: &[Section]) -> String {
    let mut out = format!("# {title}\n\n");
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    for s in sections {
        if !s.subtitle.is_empty() {
            let _ = write!(out, "\n## {}\n", s.subtitle);
        }
        out.push('\n');
        table(&mut out, &s.rows);
    }
    out
}

/// Appends one Markdown table for `rows`.
fn table(out: &mut String, rows: &[Row]) {
    let haproxy = rows.iter().find(|r| r.is_haproxy).and_then(Row::median);
    let direct = rows.iter().find(|r| r.is_direct).and_then(Row::median);
    let with_bytes = rows.iter().any(|r| !r.bytes.is_empty());
    let ratio = |x: Option<f64>, base: Option<f64>| match (x, base) {
        (Some(x), Some(b)) if b > 0.0 => format!("{:.2}", x / b),
        _ => "–".to_string(),
    };
    if with_bytes {
        out.push_str(
            "| target | median req/s | median bytes/s | runs (req/s) | ratio to HAProxy | ratio to direct | notes |\n\
             |---|---:|---:|---|---:|---:|---|\n",
        );
    } else {
        out.push_str(
            "| target | median req/s | runs | ratio to HAProxy | ratio to direct | notes |\n\
             |---|---:|---|---:|---:|---|\n",
        );
    }
    for r in rows {
        let (median_cell, runs_cell) = match &r.outcome {
            Ok(runs) => (
                r.median().map(thousands).unwrap_or_default(),
                runs.iter()
                    .map(|&x| thousands(x))
                    .collect::<Vec<_>>()
                    .join(" / "),
            ),
            Err(why) => (cell(why), String::new()),
        };
        let bytes_cell = if with_bytes {
            let b = match &r.outcome {
                Ok(_) => median(&r.bytes).map(bytes_per_sec).unwrap_or_default(),
                Err(_) => String::new(),
            };
            format!(" {b} |")
        } else {
            String::new()
        };
        let m = r.median();
        let _ = writeln!(
            out,
            "| {} | {} |{bytes_cell} {} | {} | {} | {} |",
            cell(&r.name),
            median_cell,
            runs_cell,
            ratio(m, haproxy),
            ratio(m, direct),
            cell(&r.notes.join("; ")),
        );
    }
}

/// One proxy's memory under idle client connections.
pub struct IdleRow {
    /// Target name as shown in the table.
    pub name: String,
    /// The measurement, or why there is none.
    pub outcome: Result<IdleResult, String>,
}

/// RSS (summed over the proxy's process group) before and after the idle
/// connections were opened.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleResult {
    /// Connections that got their answer and were held open.
    pub held: usize,
    /// RSS in bytes with no client connection.
    pub rss_before: u64,
    /// RSS in bytes with `held` idle connections.
    pub rss_after: u64,
    /// Processes summed (nginx: master + workers).
    pub processes: usize,
    /// Remarks (connections that failed, ...).
    pub notes: String,
}

impl IdleResult {
    /// RSS growth per held connection in bytes (0 when none was held).
    pub fn per_conn(&self) -> f64 {
        if self.held == 0 {
            return 0.0;
        }
        (self.rss_after as f64 - self.rss_before as f64) / self.held as f64
    }
}

/// Renders the idle scenario: header lines and one table.
pub fn render_idle(title: &str, header: &[String], rows: &[IdleRow]) -> String {
    let mut out = format!("# {title}\n\n");
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    let haproxy = rows
        .iter()
        .find(|r| r.name.starts_with("HAProxy"))
        .and_then(|r| r.outcome.as_ref().ok())
        .map(IdleResult::per_conn);
    out.push_str(
        "\n| target | idle connections held | RSS before | RSS after | RSS growth per connection | ratio to HAProxy | processes | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
    for r in rows {
        match &r.outcome {
            Ok(x) => {
                let per = x.per_conn();
                let ratio = match haproxy {
                    Some(h) if h > 0.0 => format!("{:.2}", per / h),
                    _ => "–".into(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:.1} KiB | {ratio} | {} | {} |",
                    cell(&r.name),
                    thousands(x.held as f64),
                    mib(x.rss_before),
                    mib(x.rss_after),
                    per / 1024.0,
                    x.processes,
                    cell(&x.notes),
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "| {} | {} |  |  |  | – |  |  |",
                    cell(&r.name),
                    cell(why)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(0.0), "0");
    }

    #[test]
    fn table_with_failure_row() {
        let rows = vec![
            Row {
                name: "direct".into(),
                outcome: Ok(vec![200.0, 100.0, 300.0]),
                bytes: vec![],
                notes: vec![],
                is_haproxy: false,
                is_direct: true,
            },
            Row {
                name: "HAProxy".into(),
                outcome: Ok(vec![100.0]),
                bytes: vec![],
                notes: vec![],
                is_haproxy: true,
                is_direct: false,
            },
            Row {
                name: "ringlb".into(),
                outcome: Err("failed: exited | code 1\nline".into()),
                bytes: vec![],
                notes: vec![],
                is_haproxy: false,
                is_direct: false,
            },
        ];
        let t = render_sections(
            "t",
            &["h".into()],
            &[Section {
                subtitle: String::new(),
                rows,
            }],
        );
        assert!(
            t.contains("| direct | 200 | 200 / 100 / 300 | 2.00 | 1.00 |  |"),
            "{t}"
        );
        assert!(
            t.contains("| HAProxy | 100 | 100 | 1.00 | 0.50 |  |"),
            "{t}"
        );
        assert!(
            t.contains("| ringlb | failed: exited \\| code 1 line |  | – | – |  |"),
            "{t}"
        );
    }

    fn row(name: &str, rps: f64, bytes: f64, haproxy: bool, direct: bool) -> Row {
        Row {
            name: name.into(),
            outcome: Ok(vec![rps]),
            bytes: vec![bytes],
            notes: vec![],
            is_haproxy: haproxy,
            is_direct: direct,
        }
    }

    #[test]
    fn sections_with_bytes() {
        assert_eq!(bytes_per_sec(512.0), "512.0 B/s");
        assert_eq!(bytes_per_sec(1536.0), "1.5 KiB/s");
        assert_eq!(bytes_per_sec(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB/s");
        let sections = [
            Section {
                subtitle: "64 KB".into(),
                rows: vec![
                    row("direct", 400.0, 400.0 * 65536.0, false, true),
                    row("HAProxy", 200.0, 200.0 * 65536.0, true, false),
                ],
            },
            Section {
                subtitle: "1 MB".into(),
                rows: vec![row("HAProxy", 10.0, 10.0 * 1048576.0, true, false)],
            },
        ];
        let t = render_sections("t", &[], &sections);
        assert!(
            t.contains("\n## 64 KB\n\n| target | median req/s | median bytes/s |"),
            "{t}"
        );
        assert!(
            t.contains("| direct | 400 | 25.0 MiB/s | 400 | 2.00 | 1.00 |  |"),
            "{t}"
        );
        // Ratios stay within their section.
        assert!(
            t.contains("| HAProxy | 10 | 10.0 MiB/s | 10 | 1.00 | – |  |"),
            "{t}"
        );
    }

    #[test]
    fn idle_table() {
        let rows = vec![
            IdleRow {
                name: "HAProxy (1 cpu)".into(),
                outcome: Ok(IdleResult {
                    held: 1000,
                    rss_before: 10 * 1_048_576,
                    rss_after: 10 * 1_048_576 + 32 * 1024 * 1000,
                    processes: 1,
                    notes: String::new(),
                }),
            },
            IdleRow {
                name: "ringlb (1 cpu)".into(),
                outcome: Ok(IdleResult {
                    held: 1000,
                    rss_before: 4 * 1_048_576,
                    rss_after: 4 * 1_048_576 + 8 * 1024 * 1000,
                    processes: 1,
                    notes: String::new(),
                }),
            },
            IdleRow {
                name: "nginx proxy (1 cpu)".into(),
                outcome: Err("not installed".into()),
            },
        ];
        let t = render_idle("t", &["h".into()], &rows);
        assert!(
            t.contains(
                "| HAProxy (1 cpu) | 1,000 | 10.0 MiB | 41.2 MiB | 32.0 KiB | 1.00 | 1 |  |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| ringlb (1 cpu) | 1,000 | 4.0 MiB | 11.8 MiB | 8.0 KiB | 0.25 | 1 |  |"),
            "{t}"
        );
        assert!(t.contains("| nginx proxy (1 cpu) | not installed |"), "{t}");
        let none = IdleResult {
            held: 0,
            rss_before: 5,
            rss_after: 9,
            processes: 1,
            notes: String::new(),
        };
        assert_eq!(none.per_conn(), 0.0);
    }
}
