//! `show info`: HAProxy's `Name: value` lines, in HAProxy's order, limited to
//! the fields ringlb can fill honestly (no pools, pipes, SSL or compression).

use std::fmt::Write as _;

use crate::runtime::Shared;
use crate::stats::counters::Totals;
use crate::stats::process;

/// The `show info` text.
pub fn render(shared: &Shared) -> String {
    let info = process::get();
    let up = process::uptime_secs();
    let fe = Totals::sum(shared.counters.iter().flat_map(|w| w.frontends.iter()));
    let listeners: usize = shared.frontends.iter().map(|f| f.model.binds.len()).sum();
    let stopping = shared.stopping();
    let mut out = String::with_capacity(1024);
    let mut line = |name: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{name}: {value}");
    };
    line("Name", &"ringlb");
    line("Version", &env!("CARGO_PKG_VERSION"));
    line("Nbthread", &shared.counters.len());
    line("Nbproc", &1);
    line("Process_num", &1);
    line("Pid", &std::process::id());
    line("Uptime", &process::uptime_text(up));
    line("Uptime_sec", &up);
    // ringlb sets no memory limit; HAProxy prints 0 for "unlimited".
    line("Memmax_MB", &0);
    if let Some(n) = process::nofile() {
        line("Ulimit-n", &n);
    }
    if info.maxconn > 0 {
        line("Maxconn", &info.maxconn);
        line("Hard_maxconn", &info.maxconn);
    }
    line("CurrConns", &fe.current);
    line("CumConns", &fe.sessions);
    line("CumReq", &fe.requests);
    // `maxsslconn` (0: none) and the TLS client connections (tls/limit.rs).
    line("MaxSslConns", &crate::tls::limit::max());
    line("CurrSslConns", &crate::tls::limit::current());
    line("CumSslConns", &crate::tls::limit::cumulative());
    line("node", &info.node);
    line("description", &"");
    line("Stopping", &u8::from(stopping));
    line("Listeners", &listeners);
    line("Start_time_sec", &info.started_unix);
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
