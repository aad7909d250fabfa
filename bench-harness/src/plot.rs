//! A small hand-written SVG bar chart for the reports: groups of horizontal
//! bars (one group per table and metric), each bar labelled with its value.
//! Every group has its own scale, since groups mix units (req/s, bytes/s, ms).

use std::fmt::Write as _;

/// One bar: a target's value, or the reason it has none.
pub struct Bar {
    /// Target name on the left.
    pub label: String,
    /// The value drawn (`None`: no bar, only `text`).
    pub value: Option<f64>,
    /// Text at the end of the bar (formatted value or why it is missing).
    pub text: String,
}

/// Bars sharing one scale under a heading.
pub struct Group {
    /// Heading above the bars (metric, table, "lower is better"...).
    pub title: String,
    /// The bars, top to bottom.
    pub bars: Vec<Bar>,
}

const WIDTH: u32 = 960;
const LABEL_W: u32 = 210;
const BAR_AREA: f64 = 560.0;
const BAR_H: u32 = 20;
const BAR_GAP: u32 = 6;
const GROUP_HEAD: u32 = 30;
const GROUP_GAP: u32 = 14;
const TOP: u32 = 64;

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Bar colour by target: ringlb stands out, the others are muted.
fn colour(label: &str) -> &'static str {
    let l = label.to_ascii_lowercase();
    if l.starts_with("ringlb") {
        "#d9480f"
    } else if l.starts_with("haproxy") {
        "#1c7ed6"
    } else if l.starts_with("nginx") {
        "#2f9e44"
    } else if l.starts_with("direct") {
        "#868e96"
    } else {
        "#7048e8"
    }
}

/// Renders the chart: `title`, `subtitle` (machine and core split), groups.
pub fn render(title: &str, subtitle: &str, groups: &[Group]) -> String {
    let body_h: u32 = groups
        .iter()
        .map(|g| GROUP_HEAD + g.bars.len() as u32 * (BAR_H + BAR_GAP) + GROUP_GAP)
        .sum();
    let height = TOP + body_h + 10;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="12" y="24" font-size="17" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="12" y="44" font-size="12" fill="#495057">{}</text>"##,
        escape(subtitle)
    );
    let mut y = TOP;
    for g in groups {
        let _ = writeln!(
            out,
            r#"<text x="12" y="{}" font-weight="bold">{}</text>"#,
            y + 18,
            escape(&g.title)
        );
        y += GROUP_HEAD;
        let max = g
            .bars
            .iter()
            .filter_map(|b| b.value)
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        for b in &g.bars {
            let text_y = y + BAR_H / 2 + 5;
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{text_y}" text-anchor="end">{}</text>"#,
                LABEL_W - 8,
                escape(&b.label)
            );
            let mut end = LABEL_W as f64;
            if let Some(v) = b.value.filter(|v| v.is_finite() && *v >= 0.0) {
                let w = if max > 0.0 { BAR_AREA * v / max } else { 0.0 };
                let _ = writeln!(
                    out,
                    r#"<rect class="bar" x="{LABEL_W}" y="{y}" width="{w:.1}" height="{BAR_H}" fill="{}"/>"#,
                    colour(&b.label)
                );
                end += w;
            }
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{text_y}" fill="#212529">{}</text>"##,
                end + 6.0,
                escape(&b.text)
            );
            y += BAR_H + BAR_GAP;
        }
        y += GROUP_GAP;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: Option<f64>) -> Bar {
        Bar {
            label: label.into(),
            value,
            text: value.map_or("not installed".into(), |v| format!("{v:.0} req/s")),
        }
    }

    #[test]
    fn well_formed_with_one_rect_per_value() {
        let groups = [
            Group {
                title: "keep-alive — median req/s".into(),
                bars: vec![
                    bar("direct (nginx)", Some(80000.0)),
                    bar("ringlb (1 cpu)", Some(60000.0)),
                    bar("HAProxy <2.6> & co", Some(0.0)),
                    bar("nginx proxy (1 cpu)", None),
                ],
            },
            Group {
                title: "proxy CPU µs/req (lower is better)".into(),
                bars: vec![bar("ringlb (1 cpu)", Some(12.5))],
            },
        ];
        let svg = render("bench \"keepalive\"", "2 CPUs: proxy 0, load 1", &groups);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let bars: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("bar"))
            .collect();
        assert_eq!(bars.len(), 4);
        // The largest bar of a group fills the bar area; groups scale apart.
        let widths: Vec<f64> = bars
            .iter()
            .map(|n| n.attribute("width").unwrap().parse().unwrap())
            .collect();
        assert_eq!(widths, vec![BAR_AREA, BAR_AREA * 0.75, 0.0, BAR_AREA]);
        let texts: Vec<_> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&"HAProxy <2.6> & co"), "{texts:?}");
        assert!(texts.contains(&"not installed"));
        assert!(texts.contains(&"bench \"keepalive\""));
    }

    #[test]
    fn empty_chart() {
        let svg = render("t", "s", &[]);
        assert!(roxmltree::Document::parse(&svg).is_ok());
        assert!(!svg.contains("class=\"bar\""));
    }
}
