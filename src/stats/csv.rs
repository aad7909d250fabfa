//! HAProxy's CSV (`<uri>;csv`, `show stat`): the header line, then one line per
//! FRONTEND, server and BACKEND, every field followed by a comma.
//!
//! The columns are HAProxy 2.6's, in its order, so scrapers that index by
//! position or by name read ringlb as they read HAProxy. A field ringlb has
//! no value for is left empty, as HAProxy leaves fields that do not apply.

use std::fmt::Write as _;

use super::view::{Kind, ProxyView, Row};
use crate::config::model::Mode;

/// HAProxy 2.6's `show stat` columns, in order.
pub const COLUMNS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
];

/// Which rows `show stat` asks for (`show stat <iid|proxy> <type> <sid>`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this proxy (by id or name).
    pub proxy: Option<ProxySel>,
    /// Bit mask of row kinds: 1 frontends, 2 backends, 4 servers; `None`: all.
    pub types: Option<u8>,
    /// Only this server id.
    pub sid: Option<u32>,
}

/// A proxy chosen by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxySel {
    /// `iid`.
    Id(u32),
    /// `pxname`.
    Name(String),
}

impl Filter {
    fn keeps(&self, p: &ProxyView, r: &Row) -> bool {
        let proxy_ok = match &self.proxy {
            None => true,
            Some(ProxySel::Id(id)) => p.iid == *id,
            Some(ProxySel::Name(n)) => &p.name == n,
        };
        let bit = match r.kind {
            Kind::Frontend => 1,
            Kind::Backend => 2,
            Kind::Server => 4,
        };
        let type_ok = self.types.is_none_or(|t| t & bit != 0);
        let sid_ok = match (self.sid, r.kind) {
            (Some(sid), Kind::Server) => r.sid == sid,
            _ => true,
        };
        proxy_ok && type_ok && sid_ok
    }
}

/// The whole CSV: `# ` and the header line, then the rows that `filter` keeps.
pub fn render(proxies: &[ProxyView], filter: &Filter) -> String {
    let mut out = header();
    for p in proxies {
        for r in p.rows.iter().filter(|r| filter.keeps(p, r)) {
            for c in COLUMNS {
                out.push_str(&escape(&field(r, c)));
                out.push(',');
            }
            out.push('\n');
        }
    }
    out
}

/// Keeps a value from breaking the CSV: HAProxy quotes fields holding a comma,
/// a quote or a line break, doubling the quotes.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    // Control bytes (a server's raw check reply can carry ESC or NUL) must not
    // reach an operator's terminal or break a scraper's line handling.
    let v: std::borrow::Cow<'_, str> = if v.chars().any(char::is_control) {
        v.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        v.into()
    };
    if v.contains([',', '"']) {
        format!("\"{}\"", v.replace('"', "\"\"")).into()
    } else {
        v
    }
}

fn num(v: u64) -> String {
    v.to_string()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The value of one column for one row ("" where ringlb has none).
pub fn field(r: &Row, column: &str) -> String {
    let t = &r.totals;
    let server = r.kind == Kind::Server;
    let frontend = r.kind == Kind::Frontend;
    let backend_side = !frontend;
    let http = r.mode == Mode::Http;
    let chk = r.check.as_ref();
    match column {
        "pxname" => r.pxname.clone(),
        "svname" => r.svname.clone(),
        "qcur" => opt(r.queue.map(|q| q.0)),
        "qmax" => opt(r.queue.map(|q| q.1)),
        "qlimit" => opt(r.queue.and_then(|q| q.2)),
        "scur" => num(r.scur),
        "smax" => num(r.smax),
        "slim" => opt(r.slim),
        "stot" => num(t.sessions),
        "bin" => num(t.bytes_in),
        "bout" => num(t.bytes_out),
        "dreq" if !server => num(t.denied),
        "dresp" => num(t.denied_resp),
        "ereq" if frontend => num(t.req_errors),
        "econ" if backend_side => num(t.conn_errors),
        "eresp" if backend_side => num(t.resp_errors),
        "wretr" if backend_side => num(t.retries),
        "wredis" if backend_side => num(t.redispatches),
        "status" => r.status.clone(),
        "weight" => opt(r.weight),
        "act" => opt(r.act),
        "bck" => opt(r.bck),
        "chkdown" => opt(r.chkdown),
        "lastchg" => opt(r.lastchg),
        "downtime" => opt(r.downtime),
        "pid" => num(1),
        "iid" => r.iid.to_string(),
        "sid" => r.sid.to_string(),
        "type" => r.kind.code().to_string(),
        "check_status" => opt(chk.map(|c| c.status)),
        "check_code" => opt(chk.and_then(|c| c.code)),
        "check_duration" => opt(chk.and_then(|c| c.duration_ms)),
        "hrsp_1xx" | "hrsp_2xx" | "hrsp_3xx" | "hrsp_4xx" | "hrsp_5xx" | "hrsp_other" if http => {
            let class = match column {
                "hrsp_1xx" => 0,
                "hrsp_2xx" => 1,
                "hrsp_3xx" => 2,
                "hrsp_4xx" => 3,
                "hrsp_5xx" => 4,
                _ => 5,
            };
            num(t.status[class])
        }
        "req_tot" => opt(r.req_tot),
        "rate_lim" => opt(r.rate_lim),
        // No compression and no cache in ringlb: nothing went through them.
        "comp_in" | "comp_out" | "comp_byp" | "comp_rsp" | "cache_lookups" | "cache_hits"
            if !server && http =>
        {
            num(0)
        }
        "last_chk" => opt(chk.map(|c| c.info.clone())),
        "check_desc" => opt(chk.map(|c| c.desc)),
        "check_rise" => opt(chk.map(|c| c.rise)),
        "check_fall" => opt(chk.map(|c| c.fall)),
        "check_health" => opt(chk.map(|c| c.health)),
        "addr" => opt(r.addr.as_ref()),
        "cookie" => opt(r.cookie.as_ref()),
        "mode" => match r.mode {
            Mode::Http => "http".into(),
            Mode::Tcp => "tcp".into(),
        },
        "algo" => opt(r.algo.as_ref()),
        "conn_tot" => opt(r.conn_tot),
        "intercepted" => opt(r.intercepted),
        "dcon" if frontend => num(t.denied_conn),
        // No `tcp-request session` rules in ringlb: nothing denied by them.
        "dses" if frontend => num(0),
        "uweight" => opt(r.uweight),
        _ => String::new(),
    }
}

/// The header line: `# ` and every column name followed by a comma.
pub fn header() -> String {
    let mut s = String::from("# ");
    for c in COLUMNS {
        let _ = write!(s, "{c},");
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_2_6_columns_in_order() {
        assert_eq!(COLUMNS.len(), 103);
        assert_eq!(&COLUMNS[..4], &["pxname", "svname", "qcur", "qmax"]);
        assert_eq!(COLUMNS[17], "status");
        assert_eq!(COLUMNS[40], "hrsp_2xx");
        assert_eq!(COLUMNS[48], "req_tot");
        assert_eq!(COLUMNS[73], "addr");
        assert_eq!(COLUMNS[99], "uweight");
        assert_eq!(COLUMNS[102], "agg_check_status");
        assert!(header().starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"));
        assert!(header().ends_with("agg_check_status,\n"));
    }

    #[test]
    fn awkward_values_are_quoted() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"x\"\r\n"), "\"say \"\"x\"\"  \"");
    }
}
