//! The Markdown report: a header describing the machine and the setup, then
//! one row per target with the median and the ratios.

use std::fmt::Write as _;

/// One target's outcome.
pub struct Row {
    /// Target name as shown in the table.
    pub name: String,
    /// Requests/s of each measured run, or why there are none.
    pub outcome: Result<Vec<f64>, String>,
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

/// Renders the header lines and the table.
pub fn render(title: &str, header: &[String], rows: &[Row]) -> String {
    let haproxy = rows.iter().find(|r| r.is_haproxy).and_then(Row::median);
    let direct = rows.iter().find(|r| r.is_direct).and_then(Row::median);
    let ratio = |x: Option<f64>, base: Option<f64>| match (x, base) {
        (Some(x), Some(b)) if b > 0.0 => format!("{:.2}", x / b),
        _ => "–".to_string(),
    };
    let mut out = format!("# {title}\n\n");
    for line in header {
        let _ = writeln!(out, "- {line}");
    }
    out.push_str(
        "\n| target | median req/s | runs | ratio to HAProxy | ratio to direct | notes |\n\
         |---|---:|---|---:|---:|---|\n",
    );
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
        let m = r.median();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.name),
            median_cell,
            runs_cell,
            ratio(m, haproxy),
            ratio(m, direct),
            cell(&r.notes.join("; ")),
        );
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
                notes: vec![],
                is_haproxy: false,
                is_direct: true,
            },
            Row {
                name: "HAProxy".into(),
                outcome: Ok(vec![100.0]),
                notes: vec![],
                is_haproxy: true,
                is_direct: false,
            },
            Row {
                name: "ringlb".into(),
                outcome: Err("failed: exited | code 1\nline".into()),
                notes: vec![],
                is_haproxy: false,
                is_direct: false,
            },
        ];
        let t = render("t", &["h".into()], &rows);
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
}
