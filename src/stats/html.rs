//! The HTML stats page, in the spirit of HAProxy's: a process summary with the
//! colour legend, then one table per proxy with its FRONTEND row, one row per
//! server and its BACKEND row.
//!
//! Rows are coloured by state as HAProxy colours them (green UP, yellow going
//! down, orange going up, red DOWN, blue drained, brown maintenance, grey not
//! checked; backup servers in blue and purple tones), so an operator reads it
//! at a glance. Every name from the configuration is HTML-escaped.

use std::fmt::Write as _;

use super::process;
use super::view::{Kind, Look, ProxyView, Row};
use crate::runtime::Shared;

/// What the page's configuration and the request ask for.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// `stats refresh`, in seconds (none with `;norefresh`).
    pub refresh: Option<u64>,
    /// `stats hide-version`.
    pub hide_version: bool,
    /// `stats show-node`: the node name to show.
    pub node: Option<String>,
    /// The stats URI, for the page's own links.
    pub uri: String,
    /// `;up`: hide servers that are not in service.
    pub only_up: bool,
    /// A `stats admin` condition holds: the admin form is shown.
    pub admin: bool,
    /// `stats show-legends`: server addresses and cookies in the rows' tips.
    pub legends: bool,
    /// `stats show-desc`: the description to show.
    pub desc: Option<String>,
    /// `;st=<code>`: the last admin action's result (`Err`: a code unknown).
    pub result: Option<Result<super::admin::Status, ()>>,
}

/// Colours and layout (HAProxy's palette).
const STYLE: &str = "\
body{font-family:Arial,Helvetica,sans-serif;font-size:12px;color:#000;background:#fff;margin:8px}
h1{font-size:x-large;margin:0 0 .1em 0}
h1 a{color:#6020a0;text-decoration:none}
h1 small{font-size:12px;font-weight:normal;color:#555}
h2{font-size:large;font-style:italic;color:#6020a0;margin:0 0 .4em 0}
h3{font-size:14px;color:#b00040;background:#e8e8d0;margin:.8em 0 .3em 0;padding:2px 4px}
a{color:#0000c0}
table{border-collapse:collapse}
table.info td{vertical-align:top;padding:2px 10px 2px 0;font-size:12px}
table.legend td{padding:1px 6px;font-size:11px;border:1px solid #bbb}
table.px{margin:0 0 1.2em 0;border:1px solid #808080;font-size:11px}
table.px th,table.px td{border:1px solid #a0a0a0;padding:1px 4px;white-space:nowrap}
table.px th.pxname{background:#b00040;color:#ffff40;text-align:left;font-size:12px;padding:2px 6px}
table.px th.pxname span{color:#fff;font-weight:normal;font-size:11px}
table.px tr.titre th{background:#20d0d0;color:#000;font-weight:bold}
table.px td.n{text-align:right}
table.px td.name{text-align:left;font-weight:bold}
tr.frontend td,tr.backend td{background:#e8e8d0}
tr.frontend td.name,tr.backend td.name{color:#000}
td.closed{background:#ff9090 !important}
.up{background:#c0ffc0}
.going_down{background:#ffffa0}
.going_up{background:#ffd020}
.down{background:#ff9090}
.no_check{background:#e0e0e0}
.drain{background:#20a0ff}
.maint{background:#c07820}
.b_up{background:#b0d0ff}
.b_going_down{background:#c060ff}
.b_going_up{background:#ff80ff}
.b_down{background:#ff9090}
.b_no_check{background:#e0e0e0}
.b_drain{background:#cc9900}
.b_maint{background:#c07820}
div.msg{padding:4px;margin:.5em 0;border:1px solid #808080}
div.msg a{text-decoration:none;font-weight:bold}
";

/// Renders the whole page.
pub fn render(shared: &Shared, proxies: &[ProxyView], opts: &PageOptions) -> String {
    let mut out = String::with_capacity(8192 + 2048 * proxies.len());
    let title = match &opts.node {
        Some(n) => format!("Statistics Report for ringlb on {}", esc(n)),
        None => "Statistics Report for ringlb".to_string(),
    };
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>{title}</title>");
    if let Some(r) = opts.refresh {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{r}\">");
    }
    let _ = write!(
        out,
        "<style>\n{STYLE}{}</style></head>\n<body>\n",
        super::charts::STYLE
    );
    let version = if opts.hide_version {
        String::new()
    } else {
        format!(" <small>version {}</small>", env!("CARGO_PKG_VERSION"))
    };
    let _ = writeln!(
        out,
        "<h1><a href=\"{}\">ringlb</a>{version}</h1>",
        esc(&opts.uri)
    );
    let pid = std::process::id();
    let on_node = opts
        .node
        .as_deref()
        .map(|n| format!(" on {}", esc(n)))
        .unwrap_or_default();
    let _ = writeln!(out, "<h2>Statistics Report for pid {pid}{on_node}</h2>");
    summary(&mut out, shared, proxies, opts);
    if let Some(result) = opts.result {
        let (class, text) = match result {
            Ok(st) => st.message(),
            Err(()) => ("no_check", "Unexpected result."),
        };
        let _ = writeln!(
            out,
            "<p><div class=\"msg {class}\"><a href=\"{}\" title=\"Remove this message\">[X]</a> \
             {text}</div></p>",
            esc(&opts.uri)
        );
    }
    // ringlb's live charts (not HAProxy's): above the proxies' tables.
    super::charts::section(&mut out, &opts.uri);
    for p in proxies {
        proxy_table(&mut out, p, opts);
    }
    out.push_str("</body></html>\n");
    out
}

/// The "General process information" box: facts, legend, links.
fn summary(out: &mut String, shared: &Shared, proxies: &[ProxyView], opts: &PageOptions) {
    let info = process::get();
    let up = process::uptime_secs();
    let (conns, total): (u64, u64) = proxies
        .iter()
        .flat_map(|p| p.rows.iter())
        .filter(|r| r.kind == Kind::Frontend)
        .fold((0, 0), |(c, t), r| (c + r.scur, t + r.totals.sessions));
    out.push_str("<h3>&gt; General process information</h3>\n<table class=\"info\"><tr><td>\n");
    let _ = writeln!(
        out,
        "<b>pid = </b>{} (process #1, nbproc = 1, nbthread = {})<br>",
        std::process::id(),
        shared.counters.len()
    );
    let _ = writeln!(out, "<b>uptime = </b>{}<br>", process::uptime_text(up));
    if let Some(n) = &opts.node {
        let _ = writeln!(out, "<b>node = </b>{}<br>", esc(n));
    }
    if let Some(d) = opts.desc.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "<b>description = </b>{}<br>", esc(d));
    }
    let ulimit = process::nofile().map_or("unknown".to_string(), |n| n.to_string());
    let maxconn = if info.maxconn > 0 {
        info.maxconn.to_string()
    } else {
        "unknown".to_string()
    };
    let _ = writeln!(
        out,
        "<b>system limits:</b> ulimit-n = {ulimit}; <b>maxconn = </b>{maxconn}<br>"
    );
    let _ = writeln!(out, "current conns = {conns}; total = {total}<br>");
    if shared.stopping() {
        out.push_str("<b>stopping</b> (soft stop: no new connections)<br>\n");
    }
    out.push_str("</td><td>\n");
    legend(out);
    out.push_str("</td><td>\n<b>Display option:</b><ul>\n");
    let uri = esc(&opts.uri);
    if opts.only_up {
        let _ = writeln!(out, "<li><a href=\"{uri}\">Show all servers</a></li>");
    } else {
        let _ = writeln!(
            out,
            "<li><a href=\"{uri};up\">Hide servers not in service</a></li>"
        );
    }
    if opts.refresh.is_some() {
        let _ = writeln!(
            out,
            "<li><a href=\"{uri};norefresh\">Disable refresh</a></li>"
        );
    }
    let _ = writeln!(out, "<li><a href=\"{uri}\">Refresh now</a></li>");
    let _ = writeln!(out, "<li><a href=\"{uri};csv\">CSV export</a></li>");
    let _ = writeln!(
        out,
        "<li><a href=\"{uri};json\">JSON export</a> (<a href=\"{uri};json-schema\">schema</a>)</li>"
    );
    out.push_str("</ul></td></tr></table>\n");
}

fn legend(out: &mut String) {
    let items = [
        ("up", "b_up", "UP"),
        ("going_down", "b_going_down", "UP, going down"),
        ("going_up", "b_going_up", "DOWN, going up"),
        ("down", "b_down", "DOWN"),
        ("drain", "b_drain", "DRAIN (no new balanced traffic)"),
        ("maint", "b_maint", "MAINT (maintenance)"),
        ("no_check", "b_no_check", "not checked"),
    ];
    out.push_str(
        "<table class=\"legend\"><tr><td></td><td><b>active</b></td><td><b>backup</b></td></tr>\n",
    );
    for (a, b, text) in items {
        let _ = writeln!(
            out,
            "<tr><td>{text}</td><td class=\"{a}\">&nbsp;</td><td class=\"{b}\">&nbsp;</td></tr>"
        );
    }
    out.push_str("</table>\n");
}

/// Column groups of a proxy table: title and sub-columns.
const GROUPS: &[(&str, &[&str])] = &[
    ("Queue", &["Cur", "Max", "Limit"]),
    ("Session rate", &["Cur", "Max", "Limit"]),
    (
        "Sessions",
        &["Cur", "Max", "Limit", "Total", "LbTot", "Last"],
    ),
    ("Bytes", &["In", "Out"]),
    ("Denied", &["Req", "Resp"]),
    ("Errors", &["Req", "Conn", "Resp"]),
    ("Warnings", &["Retr", "Redis"]),
    (
        "Server",
        &[
            "Status", "LastChk", "Wght", "Act", "Bck", "Chk", "Dwn", "Dwntme", "Thrtle",
        ],
    ),
];

fn proxy_table(out: &mut String, p: &ProxyView, opts: &PageOptions) {
    let columns: usize = 1 + GROUPS.iter().map(|(_, c)| c.len()).sum::<usize>();
    let mode = p.rows.first().map_or("", |r| match r.mode {
        crate::config::model::Mode::Http => "http",
        crate::config::model::Mode::Tcp => "tcp",
    });
    let name = esc(&p.name);
    // The admin form: a checkbox per server, then the action to apply.
    let form = opts.admin && p.rows.iter().any(|r| r.kind == Kind::Server);
    let columns = columns + usize::from(form);
    if form {
        out.push_str("<form method=\"post\">");
    }
    let _ = writeln!(
        out,
        "<table class=\"px\" id=\"{name}\">\n<tr><th class=\"pxname\" colspan=\"{columns}\">\
         <a name=\"{name}\"></a>{name} <span>(mode {mode}, id {})</span></th></tr>",
        p.iid
    );
    out.push_str("<tr class=\"titre\">");
    if form {
        out.push_str("<th rowspan=\"2\"></th>");
    }
    out.push_str("<th rowspan=\"2\"></th>");
    for (title, cols) in GROUPS {
        let _ = write!(out, "<th colspan=\"{}\">{title}</th>", cols.len());
    }
    out.push_str("</tr>\n<tr class=\"titre\">");
    for (_, cols) in GROUPS {
        for c in *cols {
            let _ = write!(out, "<th>{c}</th>");
        }
    }
    out.push_str("</tr>\n");
    for r in &p.rows {
        if opts.only_up
            && r.kind == Kind::Server
            && !matches!(
                r.look,
                Look::Up | Look::GoingDown | Look::NoCheck | Look::Drain
            )
        {
            continue;
        }
        row(out, r, opts.legends, form);
    }
    out.push_str("</table>\n");
    if form {
        admin_select(out, p.iid);
    }
}

/// The action select under a proxy's table, and its backend (`b=#<iid>`).
fn admin_select(out: &mut String, iid: u32) {
    out.push_str(
        "Choose the action to perform on the checked servers : <select name=\"action\">\
         <option value=\"\"></option>",
    );
    for (value, label) in super::admin::ACTIONS {
        let _ = write!(out, "<option value=\"{value}\">{label}</option>");
    }
    let _ = writeln!(
        out,
        "</select><input type=\"hidden\" name=\"b\" value=\"#{iid}\">&nbsp;\
         <input type=\"submit\" value=\"Apply\"></form>"
    );
}

/// The CSS class of a server row.
fn server_class(r: &Row) -> &'static str {
    let (a, b) = match r.look {
        Look::Up => ("up", "b_up"),
        Look::GoingDown => ("going_down", "b_going_down"),
        Look::GoingUp => ("going_up", "b_going_up"),
        Look::Down => ("down", "b_down"),
        Look::NoCheck => ("no_check", "b_no_check"),
        Look::Drain => ("drain", "b_drain"),
        Look::Maint => ("maint", "b_maint"),
        Look::Open | Look::Closed => ("", ""),
    };
    if r.backup { b } else { a }
}

/// One row; `in_form`: with the admin form's checkbox cell first.
fn row(out: &mut String, r: &Row, legends: bool, in_form: bool) {
    let t = &r.totals;
    let class = match r.kind {
        Kind::Frontend => "frontend",
        Kind::Backend => "backend",
        Kind::Server => server_class(r),
    };
    let title = match r.kind {
        Kind::Server if legends => {
            let mut s = format!("address: {}", r.addr.as_deref().unwrap_or("-"));
            if let Some(c) = &r.cookie {
                let _ = write!(s, ", cookie: {c}");
            }
            s
        }
        _ => String::new(),
    };
    let _ = write!(out, "<tr class=\"{class}\">");
    // The admin form's checkbox, on server rows.
    if in_form {
        match r.kind {
            Kind::Server => {
                let _ = write!(
                    out,
                    "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                    esc(&r.svname)
                );
            }
            _ => out.push_str("<td></td>"),
        }
    }
    let _ = write!(
        out,
        "<td class=\"name\" title=\"{}\">{}</td>",
        esc(&title),
        esc(&r.svname)
    );
    // Sessions.
    let total_title = match r.req_tot {
        Some(req) => format!(
            "requests: {req}; responses 1xx: {}, 2xx: {}, 3xx: {}, 4xx: {}, 5xx: {}, other: {}",
            t.status[0], t.status[1], t.status[2], t.status[3], t.status[4], t.status[5]
        ),
        None if r.kind == Kind::Server && r.mode == crate::config::model::Mode::Http => format!(
            "responses 1xx: {}, 2xx: {}, 3xx: {}, 4xx: {}, 5xx: {}, other: {}",
            t.status[0], t.status[1], t.status[2], t.status[3], t.status[4], t.status[5]
        ),
        None => String::new(),
    };
    num_cell(out, r.queue.map(|q| u64::from(q.0)));
    num_cell(out, r.queue.map(|q| u64::from(q.1)));
    num_cell(out, r.queue.and_then(|q| q.2).map(u64::from));
    // Session rate: over the last second, its maximum, `rate-limit sessions`.
    num_cell(out, Some(t.rate));
    num_cell(out, Some(t.rate_max));
    num_cell(out, r.rate_lim.filter(|&l| l > 0).map(u64::from));
    num_cell(out, Some(r.scur));
    num_cell(out, Some(r.smax));
    num_cell(out, r.slim);
    let _ = write!(
        out,
        "<td class=\"n\" title=\"{}\">{}</td>",
        esc(&total_title),
        t.sessions
    );
    num_cell(out, r.lbtot);
    // Last: time since the last session, as HAProxy ("never" before one).
    match r.lastsess {
        Some(s) if s >= 0 => {
            let _ = write!(
                out,
                "<td class=\"n\">{}</td>",
                process::human_time(s as u64)
            );
        }
        Some(_) => out.push_str("<td class=\"n\">never</td>"),
        None => out.push_str("<td></td>"),
    }
    // Bytes.
    num_cell(out, Some(t.bytes_in));
    num_cell(out, Some(t.bytes_out));
    // Denied: requests (not per server), responses (`tcp-response content reject`).
    num_cell(out, (r.kind != Kind::Server).then_some(t.denied));
    num_cell(out, Some(t.denied_resp));
    // Errors: requests (frontend), connections and responses (backend side).
    let front = r.kind == Kind::Frontend;
    num_cell(out, front.then_some(t.req_errors));
    num_cell(out, (!front).then_some(t.conn_errors));
    num_cell(out, (!front).then_some(t.resp_errors));
    // Warnings.
    num_cell(out, (!front).then_some(t.retries));
    num_cell(out, (!front).then_some(t.redispatches));
    // Server: status, last check, weight, act/bck, transitions, downtime.
    let status = match r.lastchg {
        Some(secs) => format!("{} {}", process::human_time(secs), r.status),
        None => r.status.clone(),
    };
    let closed = if r.look == Look::Closed {
        " class=\"closed\""
    } else {
        ""
    };
    let _ = write!(out, "<td{closed}>{}</td>", esc(&status));
    match &r.check {
        Some(c) => {
            let code = c.code.map(|c| format!("/{c}")).unwrap_or_default();
            let took = c
                .duration_ms
                .map(|d| format!(" in {d}ms"))
                .unwrap_or_default();
            let tip = if c.info.is_empty() {
                c.desc.to_string()
            } else {
                format!("{}: {}", c.desc, c.info)
            };
            let _ = write!(
                out,
                "<td title=\"{}\">{}{code}{took}</td>",
                esc(&tip),
                c.status
            );
        }
        None => out.push_str("<td></td>"),
    }
    num_cell_u32(out, r.weight);
    match r.kind {
        Kind::Server => {
            let (a, b) = if r.backup { ("-", "Y") } else { ("Y", "-") };
            let _ = write!(out, "<td>{a}</td><td>{b}</td>");
        }
        _ => {
            num_cell_u32(out, r.act);
            num_cell_u32(out, r.bck);
        }
    }
    num_cell(out, r.chkfail);
    num_cell(out, r.chkdown);
    match r.downtime {
        Some(d) => {
            let _ = write!(out, "<td class=\"n\">{}</td>", process::human_time(d));
        }
        None => out.push_str("<td></td>"),
    }
    match r.throttle {
        Some(p) => {
            let _ = write!(out, "<td class=\"n\">{p} %</td>");
        }
        None => out.push_str("<td></td>"),
    }
    out.push_str("</tr>\n");
}

fn num_cell(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => {
            let _ = write!(out, "<td class=\"n\">{v}</td>");
        }
        None => out.push_str("<td></td>"),
    }
}

fn num_cell_u32(out: &mut String, v: Option<u32>) {
    num_cell(out, v.map(u64::from));
}

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
