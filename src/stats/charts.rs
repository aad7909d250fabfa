//! Live charts on the stats page (ringlb's own, not HAProxy's): per backend,
//! requests and errors per second and p50/p99 response time over the last
//! minutes, drawn in the browser by an inline script (`charts.js`, plain JS
//! and SVG, nothing loaded from elsewhere) that polls `<stats uri>;histograms`.
//!
//! That feed is a separate ringlb JSON document, so HAProxy's `;json` keeps
//! its exact shape: one reading per backend of the counters the charts need
//! (requests, 5xx, connection and response errors) and the cumulative buckets
//! of its response-time histogram (`histogram.rs`), stamped with the server's
//! clock. Rates and quantiles are computed by the page from the differences
//! between two polls; nothing is added to the data path.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::histogram::{BOUNDS_US, Merged};
use super::html::esc;
use super::json;
use super::view::{Kind, ProxyView};
use crate::config::model::Mode;
use crate::runtime::Shared;

/// The page's script: polls the feed, keeps ~5 minutes, draws the charts.
pub const SCRIPT: &str = include_str!("charts.js");

/// Milliseconds between two polls of the feed.
pub const POLL_MS: u64 = 2000;

/// The `;histograms` document for the backends among `proxies` (already cut
/// to `stats scope`): `{"now_ms":..,"bounds":[le seconds..],"backends":[..]}`,
/// each backend with `name`, `mode`, `requests` (its sessions: one per HTTP
/// request), `errors` (5xx + `econ` + `eresp`), `hrsp_5xx`, `econ`, `eresp`,
/// and for HTTP `buckets`: cumulative counts per bound, `+Inf` last.
pub fn feed(shared: &Shared, proxies: &[ProxyView]) -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut out = format!("{{\"now_ms\":{now_ms},\"bounds\":[");
    for (i, b) in BOUNDS_US.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}{}", *b as f64 / 1e6);
    }
    out.push_str("],\"backends\":[");
    let rows = proxies
        .iter()
        .flat_map(|p| p.rows.iter())
        .filter(|r| r.kind == Kind::Backend);
    for (n, r) in rows.enumerate() {
        let Some(b) = shared.backends.iter().position(|be| be.name == r.pxname) else {
            continue;
        };
        let t = &r.totals;
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::string(&mut out, &r.pxname);
        let http = r.mode == Mode::Http;
        let errors = t.status[4] + t.conn_errors + t.resp_errors;
        let _ = write!(
            out,
            ",\"mode\":\"{}\",\"requests\":{},\"errors\":{errors},\"hrsp_5xx\":{},\
             \"econ\":{},\"eresp\":{}",
            if http { "http" } else { "tcp" },
            t.sessions,
            t.status[4],
            t.conn_errors,
            t.resp_errors
        );
        if http {
            let m = Merged::sum(shared.counters.iter().map(|w| &w.backends[b].response_time));
            out.push_str(",\"buckets\":[");
            for (i, (_, c)) in m.cumulative().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(out, "{sep}{c}");
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push_str("]}\n");
    out
}

/// The charts' section of the page: a collapsible box the script fills, the
/// feed's URL in a data attribute, and the script itself.
pub fn section(out: &mut String, uri: &str) {
    let feed = esc(&format!("{uri};histograms"));
    let _ = write!(
        out,
        "<details class=\"charts\" open><summary><b>Live charts</b> (per backend, last 5 \
         minutes, from <a href=\"{feed}\">the histograms feed</a>)</summary>\n\
         <div id=\"charts\" data-feed=\"{feed}\" data-interval=\"{POLL_MS}\">\
         <noscript>The charts need JavaScript.</noscript></div></details>\n\
         <script>\n{SCRIPT}</script>\n"
    );
}

/// The charts' style, appended to the page's.
pub const STYLE: &str = "\
details.charts{margin:.6em 0 1em 0}
details.charts>summary{cursor:pointer;font-size:13px;color:#6020a0}
div.chgrp{display:inline-block;vertical-align:top;margin:4px 12px 4px 0;border:1px solid #a0a0a0}
div.chgrp summary{background:#b00040;color:#ffff40;font-weight:bold;padding:2px 6px;cursor:pointer}
div.chgrp figure{display:inline-block;margin:4px 6px}
div.chgrp figcaption{font-size:11px;color:#333}
div.chgrp svg{background:#f8f8f0;border:1px solid #d0d0c0}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_stays_inline_and_offline() {
        // Inlined in a <script> element: it must not close it, nor load anything.
        assert!(!SCRIPT.contains("</script"));
        for external in ["https://", "import ", "src=", "XMLHttpRequest"] {
            assert!(!SCRIPT.contains(external), "{external} in charts.js");
        }
        // The only URL is SVG's namespace name, never fetched.
        assert_eq!(SCRIPT.matches("http://").count(), 1);
        assert!(SCRIPT.contains("\"http://www.w3.org/2000/svg\""));
        // stats hide-version pages are checked for the word.
        assert!(!SCRIPT.to_ascii_lowercase().contains("version"));
    }

    #[test]
    fn section_points_at_the_escaped_feed() {
        let mut out = String::new();
        section(&mut out, "/a\"b");
        assert!(out.contains("data-feed=\"/a&quot;b;histograms\""));
        assert!(out.contains("data-interval=\"2000\""));
        assert!(out.contains("<script>\n"));
    }
}
