//! The Markdown report: a header describing the machine and the setup, then
//! one row per target with the median and the ratios.

use std::fmt::Write as _;

use crate::plot::{Bar, Group};

/// What a scenario hands back for its report.
pub struct Output {
    /// Its header lines (load, method), after the machine and backend lines.
    pub header: Vec<String>,
    /// Its Markdown tables.
    pub tables: String,
    /// Its plot's bar groups.
    pub plot: Vec<Group>,
}

/// Header line explaining the CPU columns.
pub const CPU_NOTE: &str = "proxy CPU: utime + stime of the proxy's whole process group \
    (nginx: master + workers) from /proc/<pid>/stat, read just before and just after each \
    measured run; µs/req = that CPU time / requests completed, % = CPU time / wall time \
    (100 % = one core busy); medians over runs. For CPU µs/req and its ratio to HAProxy \
    **lower is better**: it is the per-core efficiency when the proxy's core is not saturated";

/// One target's outcome.
pub struct Row {
    /// Target name as shown in the table.
    pub name: String,
    /// Requests/s of each measured run, or why there are none.
    pub outcome: Result<Vec<f64>, String>,
    /// Bytes/s of each measured run (wrk's Transfer/sec); shown as a column
    /// when any row of the table has them.
    pub bytes: Vec<f64>,
    /// Proxy CPU µs per request of each run (empty for direct).
    pub cpu_us: Vec<f64>,
    /// Proxy CPU busy percent of each run (100 = one core).
    pub cpu_pct: Vec<f64>,
    /// Proxy system calls per request, counted by perf in an extra run
    /// (`None`: not counted).
    pub syscalls: Option<f64>,
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

    /// Median proxy CPU µs per request, if measured.
    pub fn cpu_median(&self) -> Option<f64> {
        self.outcome
            .as_ref()
            .ok()
            .and_then(|_| median(&self.cpu_us))
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
pub fn cell(text: &str) -> String {
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

/// The report's title, header lines and, if written, the link to its plot.
pub fn render_head(title: &str, header: &[String], plot: Option<&str>) -> String {
    let mut out = format!("# {title}\n\n");
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    if let Some(file) = plot {
        let _ = write!(out, "\n![plot]({file})\n");
    }
    out
}

/// Renders one table per section, each under its subtitle.
pub fn render_sections(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        if !s.subtitle.is_empty() {
            let _ = write!(out, "\n## {}\n", s.subtitle);
        }
        out.push('\n');
        table(&mut out, &s.rows);
    }
    out
}

/// `x / base` with two decimals, or "–".
pub fn ratio(x: Option<f64>, base: Option<f64>) -> String {
    match (x, base) {
        (Some(x), Some(b)) if b > 0.0 => format!("{:.2}", x / b),
        _ => "–".to_string(),
    }
}

/// Appends one Markdown table for `rows`.
fn table(out: &mut String, rows: &[Row]) {
    let haproxy = rows.iter().find(|r| r.is_haproxy).and_then(Row::median);
    let direct = rows.iter().find(|r| r.is_direct).and_then(Row::median);
    let haproxy_cpu = rows.iter().find(|r| r.is_haproxy).and_then(Row::cpu_median);
    let with_bytes = rows.iter().any(|r| !r.bytes.is_empty());
    if with_bytes {
        out.push_str(
            "| target | median req/s | median bytes/s | runs (req/s) | ratio to HAProxy | ratio to direct | proxy CPU µs/req | proxy CPU % | CPU/req ratio to HAProxy | syscalls/req | notes |\n\
             |---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
        );
    } else {
        out.push_str(
            "| target | median req/s | runs | ratio to HAProxy | ratio to direct | proxy CPU µs/req | proxy CPU % | CPU/req ratio to HAProxy | syscalls/req | notes |\n\
             |---|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
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
        let cpu = r.cpu_median();
        let (cpu_cell, pct_cell, cpu_ratio) = match cpu {
            Some(us) => (
                format!("{us:.1}"),
                median(&r.cpu_pct)
                    .map(|p| format!("{p:.0} %"))
                    .unwrap_or_default(),
                ratio(cpu, haproxy_cpu),
            ),
            None => ("-".into(), "-".into(), "–".into()),
        };
        // "-": nothing to count (direct, failed row); "–": perf could not.
        let sys_cell = match r.syscalls {
            _ if r.is_direct || r.outcome.is_err() => "-".to_string(),
            Some(n) => syscalls_cell(n),
            None => "–".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} |{bytes_cell} {} | {} | {} | {cpu_cell} | {pct_cell} | {cpu_ratio} | {sys_cell} | {} |",
            cell(&r.name),
            median_cell,
            runs_cell,
            ratio(m, haproxy),
            ratio(m, direct),
            cell(&r.notes.join("; ")),
        );
    }
}

/// Syscalls per request with three significant digits or so (0.123, 4.56,
/// 78.9, 1,234): small counts are what batching is about.
pub fn syscalls_cell(n: f64) -> String {
    match n {
        n if n < 1.0 => format!("{n:.3}"),
        n if n < 10.0 => format!("{n:.2}"),
        n if n < 1000.0 => format!("{n:.1}"),
        n => thousands(n),
    }
}

/// The plot groups of one table: median req/s (or bytes/s) per target, and
/// the proxies' CPU µs per request.
pub fn plot_groups(scenario: &str, section: &Section, bytes: bool) -> Vec<Group> {
    let name = if section.subtitle.is_empty() {
        scenario.to_string()
    } else {
        // Subtitles can be long: the part before any parenthesis names the table.
        let s = section.subtitle.split(" (").next().unwrap_or_default();
        format!("{scenario}, {}", s.replace('`', ""))
    };
    let metric = Group {
        title: format!(
            "{name}: median {} (higher is better)",
            if bytes { "bytes/s" } else { "req/s" }
        ),
        bars: section
            .rows
            .iter()
            .map(|r| {
                let value = if bytes {
                    r.outcome.as_ref().ok().and_then(|_| median(&r.bytes))
                } else {
                    r.median()
                };
                Bar {
                    label: r.name.clone(),
                    value,
                    text: match (&r.outcome, value) {
                        (Ok(_), Some(v)) if bytes => bytes_per_sec(v),
                        (Ok(_), Some(v)) => format!("{} req/s", thousands(v)),
                        (Err(e), _) => short(e),
                        _ => "no value".into(),
                    },
                }
            })
            .collect(),
    };
    let cpu = Group {
        title: format!("{name}: proxy CPU µs per request (lower is better)"),
        bars: section
            .rows
            .iter()
            .filter(|r| !r.is_direct)
            .map(|r| Bar {
                label: r.name.clone(),
                value: r.cpu_median(),
                text: match (&r.outcome, r.cpu_median()) {
                    (_, Some(us)) => format!("{us:.1} µs"),
                    (Err(e), None) => short(e),
                    (Ok(_), None) => "not measured".into(),
                },
            })
            .collect(),
    };
    if cpu.bars.is_empty() {
        vec![metric]
    } else {
        vec![metric, cpu]
    }
}

/// A reason cut to fit beside a bar.
pub fn short(text: &str) -> String {
    let flat = cell(text);
    if flat.chars().count() > 90 {
        format!("{}…", flat.chars().take(90).collect::<String>())
    } else {
        flat
    }
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
        assert_eq!(syscalls_cell(0.0421), "0.042");
        assert_eq!(syscalls_cell(3.456), "3.46");
        assert_eq!(syscalls_cell(142.04), "142.0");
        assert_eq!(syscalls_cell(12345.6), "12,346");
    }

    #[test]
    fn table_with_failure_row() {
        let base = |name: &str, outcome: Result<Vec<f64>, String>, cpu: Vec<f64>| Row {
            name: name.into(),
            outcome,
            bytes: vec![],
            cpu_pct: cpu.iter().map(|_| 50.0).collect(),
            syscalls: median(&cpu).map(|c| c / 4.0),
            cpu_us: cpu,
            notes: vec![],
            is_haproxy: name == "HAProxy",
            is_direct: name == "direct",
        };
        let rows = vec![
            base("direct", Ok(vec![200.0, 100.0, 300.0]), vec![]),
            base("HAProxy", Ok(vec![100.0]), vec![10.0]),
            base("ringlb", Ok(vec![90.0]), vec![8.0, 6.0, 7.0]),
            base("nginx", Err("failed: exited | code 1\nline".into()), vec![]),
        ];
        let t = render_head("t", &["h".into()], Some("x.svg"))
            + &render_sections(&[Section {
                subtitle: String::new(),
                rows,
            }]);
        assert!(
            t.starts_with("# t\n\n- h\n\n![plot](x.svg)\n\n| target |"),
            "{t}"
        );
        assert!(
            t.contains("| direct | 200 | 200 / 100 / 300 | 2.00 | 1.00 | - | - | – | - |  |"),
            "{t}"
        );
        assert!(
            t.contains("| HAProxy | 100 | 100 | 1.00 | 0.50 | 10.0 | 50 % | 1.00 | 2.50 |  |"),
            "{t}"
        );
        assert!(
            t.contains("| ringlb | 90 | 90 | 0.90 | 0.45 | 7.0 | 50 % | 0.70 | 1.75 |  |"),
            "{t}"
        );
        assert!(
            t.contains("| nginx | failed: exited \\| code 1 line |  | – | – | - | - | – | - |  |"),
            "{t}"
        );
    }

    fn row(name: &str, rps: f64, bytes: f64, haproxy: bool, direct: bool) -> Row {
        Row {
            name: name.into(),
            outcome: Ok(vec![rps]),
            bytes: vec![bytes],
            cpu_us: vec![],
            cpu_pct: vec![],
            syscalls: None,
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
        let t = render_sections(&sections);
        assert!(
            t.contains("\n## 64 KB\n\n| target | median req/s | median bytes/s |"),
            "{t}"
        );
        assert!(
            t.contains("| direct | 400 | 25.0 MiB/s | 400 | 2.00 | 1.00 | - | - | – | - |  |"),
            "{t}"
        );
        // Ratios stay within their section.
        assert!(
            t.contains("| HAProxy | 10 | 10.0 MiB/s | 10 | 1.00 | – | - | - | – | – |  |"),
            "{t}"
        );
        let groups = plot_groups("large", &sections[0], true);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].title,
            "large, 64 KB: median bytes/s (higher is better)"
        );
        assert_eq!(groups[0].bars.len(), 2);
        assert_eq!(groups[0].bars[0].text, "25.0 MiB/s");
        // No CPU bar for direct; HAProxy's CPU was not measured in this test.
        assert_eq!(groups[1].bars.len(), 1);
        assert_eq!(groups[1].bars[0].text, "not measured");
    }
}
