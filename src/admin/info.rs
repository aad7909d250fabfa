//! `show info`: HAProxy's `Name: value` lines, in HAProxy's order, limited to
//! the fields ringlb can fill honestly (no pools, pipes, SSL or compression).

use std::fmt::Write as _;

use crate::runtime::Shared;
use crate::stats::counters::Totals;
use crate::stats::json::{self, InfoField, Value};
use crate::stats::process;

/// The `show info` text.
pub fn render(shared: &Shared) -> String {
    let mut out = String::with_capacity(1024);
    for f in fields(shared) {
        let _ = match &f.value {
            Value::U32(v) | Value::U64(v) => writeln!(out, "{}: {v}", f.name),
            Value::S32(v) => writeln!(out, "{}: {v}", f.name),
            Value::Str(v) => writeln!(out, "{}: {v}", f.name),
        };
    }
    out
}

/// `show info json`: the same fields as HAProxy's JSON (an empty
/// `description` is left out, as HAProxy leaves it).
pub fn render_json(shared: &Shared) -> String {
    let mut f = fields(shared);
    f.retain(|f| !(f.name == "description" && f.value == Value::Str(String::new())));
    json::info(&f)
}

/// The fields, in HAProxy's order, with HAProxy 2.6's positions and tags.
fn fields(shared: &Shared) -> Vec<InfoField> {
    let info = process::get();
    let up = process::uptime_secs();
    let fe = Totals::sum(shared.counters.iter().flat_map(|w| w.frontends.iter()));
    let listeners: usize = shared.frontends.iter().map(|f| f.model.binds.len()).sum();
    let mut out = Vec::with_capacity(24);
    let mut f = |pos: u32, name: &'static str, tags: &'static str, value: Value| {
        out.push(InfoField {
            pos,
            name,
            tags,
            value,
        });
    };
    let s = |v: &str| Value::Str(v.to_string());
    let n = |v: u64| Value::U32(v);
    f(0, "Name", "POS", s("ringlb"));
    f(1, "Version", "POS", s(env!("CARGO_PKG_VERSION")));
    f(3, "Nbthread", "CGS", n(shared.counters.len() as u64));
    f(4, "Nbproc", "CGS", n(1));
    f(5, "Process_num", "KGP", n(1));
    f(6, "Pid", "SGP", n(u64::from(std::process::id())));
    f(7, "Uptime", "MDP", s(&process::uptime_text(up)));
    f(8, "Uptime_sec", "MDP", n(up));
    // ringlb sets no memory limit; HAProxy prints 0 for "unlimited".
    f(9, "Memmax_MB", "CLP", n(0));
    if let Some(lim) = process::nofile() {
        f(13, "Ulimit-n", "CLP", n(lim));
    }
    if info.maxconn > 0 {
        f(15, "Maxconn", "CLP", n(info.maxconn as u64));
        f(16, "Hard_maxconn", "CLP", n(info.maxconn as u64));
    }
    f(17, "CurrConns", "MGP", n(fe.current));
    f(18, "CumConns", "MCP", n(fe.sessions));
    f(19, "CumReq", "MCP", n(fe.requests));
    // `maxsslconn` (0: none) and the TLS client connections (tls/limit.rs).
    f(20, "MaxSslConns", "MMP", n(crate::tls::limit::max()));
    f(21, "CurrSslConns", "MGP", n(crate::tls::limit::current()));
    f(22, "CumSslConns", "MCP", n(crate::tls::limit::cumulative()));
    f(50, "node", "COS", s(&info.node));
    f(51, "description", "COS", s(""));
    f(52, "Stopping", "MGP", n(u64::from(shared.stopping())));
    f(55, "Listeners", "MGP", n(listeners as u64));
    f(70, "Start_time_sec", "MDP", n(info.started_unix));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_value_lines_in_haproxy_order() {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "listen l\n    mode http\n    bind 127.0.0.1:1\n    timeout connect 1s\n    \
             timeout client 1s\n    timeout server 1s\n    server a 127.0.0.1:2\n",
        )])
        .expect("config loads");
        let shared = Shared::build(&loaded.config, false, 2);
        let text = render(&shared);
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.split_once(": ").expect("Name: value").0)
            .collect();
        assert_eq!(
            &names[..6],
            &[
                "Name",
                "Version",
                "Nbthread",
                "Nbproc",
                "Process_num",
                "Pid"
            ]
        );
        assert!(text.contains("Nbthread: 2\n"));
        assert!(text.contains("CurrConns: 0\n"));
        assert!(text.contains("Listeners: 1\n"));
    }
}
