//! The stats page (`stats enable`, `stats uri`): answered by the worker that
//! received the request, from counters summed over all workers.
//!
//! A request is for the page when its proxy (the frontend, else the backend
//! it goes to) has `stats enable` and its URI starts with `stats uri`
//! (HAProxy's `/haproxy?stats` by default). Options follow the URI after
//! semicolons, as HAProxy reads them: `;csv` for the CSV, `;json` and
//! `;json-schema` for the JSON (`json.rs`), `;norefresh`, `;up`.

use super::view;
use super::{auth, csv, html, json, process};
use crate::config::model::Stats;
use crate::stats::counters;
use crate::worker::context::WorkerCtx;

/// HAProxy's `stats uri` when none is configured.
pub const DEFAULT_URI: &str = "/haproxy?stats";

/// What a stats request asks for after the URI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Options {
    csv: bool,
    json: bool,
    json_schema: bool,
    norefresh: bool,
    up: bool,
}

/// The whole HTTP response for a request to the stats page, or `None` when the
/// request is not for it (stats disabled on this proxy, or another URI).
/// `head` is the request head and `target` its request target.
pub fn serve(
    ctx: &WorkerCtx,
    frontend: usize,
    backend: usize,
    head: &[u8],
    target: &[u8],
) -> Option<Vec<u8>> {
    let shared = &ctx.shared;
    let fe = shared.frontends.get(frontend)?;
    let be = shared.backends.get(backend)?;
    let target = std::str::from_utf8(target).ok()?;
    let path = origin_form(target);
    let (stats, rest) = [&fe.model.stats, &be.model.stats]
        .into_iter()
        .filter(|s| s.enabled)
        .find_map(|s| path.strip_prefix(stats_uri(s)).map(|rest| (s, rest)))?;
    let opts = options(rest);
    let head_only = head.starts_with(b"HEAD ");
    // HAProxy counts an intercepted request on its frontend when it takes it
    // (so the page shows itself), and its status once answered.
    let c = &ctx.counters().frontends[frontend];
    counters::add(&c.intercepted, 1);
    let response = if !auth::allowed(head, &stats.auth) {
        auth::unauthorized(stats.realm.as_deref())
    } else {
        let proxies = view::snapshot(shared);
        if opts.json_schema {
            respond("application/json", None, format!("{}\n", json::SCHEMA), head_only)
        } else if opts.json {
            let body = json::stat(&proxies, &csv::Filter::default());
            respond("application/json", None, body, head_only)
        } else if opts.csv {
            let body = csv::render(&proxies, &csv::Filter::default());
            respond("text/plain", None, body, head_only)
        } else {
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
            };
            let body = html::render(shared, &proxies, &page);
            respond("text/html; charset=utf-8", refresh, body, head_only)
        }
    };
    c.status(status_of(&response));
    Some(response)
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
            "norefresh" => o.norefresh = true,
            "up" => o.up = true,
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
