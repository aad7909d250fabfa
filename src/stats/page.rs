//! The stats page (`stats enable`, `stats uri`): answered by the worker that
//! received the request, from counters summed over all workers.
//!
//! A request is for the page when its proxy (the frontend, else the backend
//! it goes to) has `stats enable` and its URI starts with `stats uri`
//! (HAProxy's `/haproxy?stats` by default). Options follow the URI after
//! semicolons, as HAProxy reads them: `;csv` for the CSV, `;json` and
//! `;json-schema` for the JSON (`json.rs`), `;norefresh`, `;up`, and ringlb's
//! `;histograms`, the feed of the page's live charts (`charts.rs`).

use super::view;
use super::{admin, auth, charts, csv, html, json, process};
use crate::acl::Condition;
use crate::config::model::Stats;
use crate::stats::counters;
use crate::worker::context::WorkerCtx;

/// HAProxy's `stats uri` when none is configured.
pub const DEFAULT_URI: &str = "/haproxy?stats";

/// What a stats request asks for after the URI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Options {
    /// `;st=<code>`: the result of the last admin POST, to show.
    st: Option<String>,
    csv: bool,
    json: bool,
    json_schema: bool,
    /// `;histograms`: ringlb's feed for the page's charts (`charts.rs`).
    histograms: bool,
    norefresh: bool,
    up: bool,
}

/// The `stats` settings answering `target` on this frontend and backend
/// (the frontend's first), whether they are the frontend's, and what follows
/// the URI; `None` when the request is not for a stats page.
fn find<'a>(
    ctx: &'a WorkerCtx,
    frontend: usize,
    backend: Option<usize>,
    target: &'a [u8],
) -> Option<(&'a Stats, bool, &'a str)> {
    let shared = &ctx.shared;
    let fe = &shared.frontends.get(frontend)?.model.stats;
    // A request routed nowhere (a frontend without a backend) sees the
    // frontend's page only.
    let be = backend
        .and_then(|b| shared.backends.get(b))
        .map(|b| &b.model.stats);
    // Every request passes here: no UTF-8 check where no stats page is set.
    if !fe.enabled && !be.is_some_and(|s| s.enabled) {
        return None;
    }
    let target = std::str::from_utf8(target).ok()?;
    let path = origin_form(target);
    [Some((fe, true)), be.map(|s| (s, false))]
        .into_iter()
        .flatten()
        .filter(|(s, _)| s.enabled)
        .find_map(|(s, front)| path.strip_prefix(stats_uri(s)).map(|rest| (s, front, rest)))
}

/// Whether the request is a POST to a stats page with an admin form: its
/// body (the form) must be read before [`serve`] answers it.
pub fn wants_body(
    ctx: &WorkerCtx,
    frontend: usize,
    backend: Option<usize>,
    head: &[u8],
    target: &[u8],
) -> bool {
    head.starts_with(b"POST ")
        && find(ctx, frontend, backend, target).is_some_and(|(s, ..)| s.admin.is_some())
}

/// The whole HTTP response for a request to the stats page, or `None` when the
/// request is not for it (stats disabled on this proxy, or another URI).
/// `head` is the request head and `target` its request target; `admin`
/// tells whether a `stats admin` condition holds (with the frontend's ACLs
/// when its flag is true, else the backend's); `body` is a POST's form
/// (`None`: it did not fit the buffer).
pub fn serve(
    ctx: &WorkerCtx,
    frontend: usize,
    backend: Option<usize>,
    head: &[u8],
    target: &[u8],
    admin: &dyn Fn(bool, &Condition) -> bool,
    body: Option<&[u8]>,
) -> Option<Vec<u8>> {
    let shared = &ctx.shared;
    let (stats, front, rest) = find(ctx, frontend, backend, target)?;
    let opts = options(rest);
    let head_only = head.starts_with(b"HEAD ");
    // HAProxy counts an intercepted request on its frontend when it takes it
    // (so the page shows itself), and its status once answered.
    let c = &ctx.counters().frontends[frontend];
    counters::add(&c.intercepted, 1);
    let response = if !auth::allowed(head, &stats.auth) {
        auth::unauthorized(stats.realm.as_deref())
    } else {
        let is_admin = stats.admin.as_ref().is_some_and(|cond| admin(front, cond));
        if head.starts_with(b"POST ") {
            let status = match body {
                _ if !is_admin => admin::Status::Deny,
                Some(form) => admin::process(shared, form),
                None => admin::Status::Excd,
            };
            admin::redirect(stats_uri(stats), status)
        } else {
            page(ctx, stats, &opts, is_admin, head_only)
        }
    };
    c.status(status_of(&response));
    Some(response)
}

/// The page, its CSV or its JSON, for the proxies `stats scope` shows.
fn page(ctx: &WorkerCtx, stats: &Stats, opts: &Options, admin: bool, head_only: bool) -> Vec<u8> {
    let shared = &ctx.shared;
    let mut proxies = view::snapshot(shared);
    if !stats.scope.is_empty() {
        proxies.retain(|p| stats.scope.contains(&p.name));
    }
    // Addresses, cookies and algorithms are shown with `stats show-legends`
    // only, as HAProxy (the socket's `show stat` always has them).
    if !stats.show_legends {
        for r in proxies.iter_mut().flat_map(|p| p.rows.iter_mut()) {
            (r.addr, r.cookie, r.algo) = (None, None, None);
        }
    }
    if opts.json_schema {
        return respond(
            "application/json",
            None,
            format!("{}\n", json::SCHEMA),
            head_only,
        );
    }
    if opts.histograms {
        let body = charts::feed(shared, &proxies);
        return respond("application/json", None, body, head_only);
    }
    if opts.json {
        let body = json::stat(&proxies, &csv::Filter::default());
        return respond("application/json", None, body, head_only);
    }
    if opts.csv {
        let body = csv::render(&proxies, &csv::Filter::default());
        return respond("text/plain", None, body, head_only);
    }
    let refresh = stats
        .refresh
        .map(|d| d.as_secs().max(1))
        .filter(|_| !opts.norefresh);
    let page = html::PageOptions {
        refresh,
        hide_version: stats.hide_version,
        node: stats.show_node.as_ref().map(|n| match n {
            Some(name) => name.clone(),
            None => process::get().node.clone(),
        }),
        uri: stats_uri(stats).to_string(),
        only_up: opts.up,
        admin,
        legends: stats.show_legends,
        desc: stats
            .show_desc
            .as_ref()
            .map(|d| d.clone().unwrap_or_default()),
        result: opts
            .st
            .as_deref()
            .map(|code| admin::Status::from_code(code).ok_or(())),
    };
    let body = html::render(shared, &proxies, &page);
    respond("text/html; charset=utf-8", refresh, body, head_only)
}

/// The configured stats URI, or HAProxy's default.
fn stats_uri(s: &Stats) -> &str {
    s.uri.as_deref().unwrap_or(DEFAULT_URI)
}

/// The path and query of a request target: an absolute URI
/// (`http://host/admin`) loses its scheme and authority.
fn origin_form(target: &str) -> &str {
    let lower = |n: usize| target.get(..n).map(str::to_ascii_lowercase);
    let skip = if lower(7).as_deref() == Some("http://") {
        7
    } else if lower(8).as_deref() == Some("https://") {
        8
    } else {
        return target;
    };
    let after = &target[skip..];
    match after.find('/') {
        Some(i) => &after[i..],
        None => "/",
    }
}

/// The `;option` words after the stats URI.
fn options(rest: &str) -> Options {
    let mut o = Options::default();
    for word in rest.split(';').skip(1) {
        let word = word.split(['?', '&', '/']).next().unwrap_or("");
        match word {
            "csv" => o.csv = true,
            "json" => o.json = true,
            "json-schema" => o.json_schema = true,
            "histograms" => o.histograms = true,
            "norefresh" => o.norefresh = true,
            "up" => o.up = true,
            w if w.starts_with("st=") => o.st = Some(w[3..].to_string()),
            _ => {}
        }
    }
    o
}

/// A 200 response with `Content-Length`; the body is left out for HEAD.
fn respond(content_type: &str, refresh: Option<u64>, body: String, head_only: bool) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(s) = refresh {
        r.push_str(&format!("Refresh: {s}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

/// The status code of a response built here.
fn status_of(response: &[u8]) -> u16 {
    response
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_targets_lose_scheme_and_host() {
        assert_eq!(origin_form("/admin;csv"), "/admin;csv");
        assert_eq!(origin_form("http://lb:8080/admin"), "/admin");
        assert_eq!(origin_form("HTTPS://lb"), "/");
        assert_eq!(origin_form("/haproxy?stats"), "/haproxy?stats");
    }

    #[test]
    fn options_follow_semicolons() {
        assert_eq!(options(""), Options::default());
        assert_eq!(
            options(";csv;norefresh"),
            Options {
                csv: true,
                norefresh: true,
                ..Options::default()
            }
        );
        assert!(options(";up").up);
        assert!(options(";json").json && !options(";json").json_schema);
        assert!(options(";json-schema").json_schema);
        assert!(options(";histograms").histograms && !options(";histograms").json);
        assert!(!options("csv").csv, "an option needs its semicolon");
    }

    #[test]
    fn responses_carry_length_and_refresh() {
        let r = String::from_utf8(respond("text/plain", Some(5), "abc".into(), false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 3\r\n"));
        assert!(r.contains("Refresh: 5\r\n"));
        assert!(r.ends_with("\r\n\r\nabc"));
        let h = respond("text/plain", None, "abc".into(), true);
        assert!(h.ends_with(b"\r\n\r\n"));
        assert_eq!(status_of(&h), 200);
    }
}
