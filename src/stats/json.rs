//! HAProxy 2.6's JSON exports (`<uri>;json`, `<uri>;json-schema`, `show stat
//! json`, `show info json`, `show schema json`): every value as a field
//! object `{objType, proxyId, id, field{pos,name}, processNum, tags, value}`,
//! one array per stats row, with HAProxy's positions, tags and types, so a
//! tool written for HAProxy's JSON reads ringlb's (and a page script can poll
//! `;json` for live charts). A field with no value is left out, as HAProxy does.

use std::fmt::Write as _;

use super::csv::{self, COLUMNS};
use super::view::{Kind, ProxyView};

/// HAProxy 2.6's `show schema json`, verbatim.
pub const SCHEMA: &str = r##"{"$schema":"http://json-schema.org/draft-04/schema#","oneOf":[{"title":"Info","type":"array","items":{"title":"InfoItem","type":"object","properties":{"field":{"$ref":"#/definitions/field"},"processNum":{"$ref":"#/definitions/processNum"},"tags":{"$ref":"#/definitions/tags"},"value":{"$ref":"#/definitions/typedValue"}},"required":["field","processNum","tags","value"]}},{"title":"Stat","type":"array","items":{"title":"InfoItem","type":"object","properties":{"objType":{"enum":["Frontend","Backend","Listener","Server","Unknown"]},"proxyId":{"type":"integer","minimum":0},"id":{"type":"integer","minimum":0},"field":{"$ref":"#/definitions/field"},"processNum":{"$ref":"#/definitions/processNum"},"tags":{"$ref":"#/definitions/tags"},"typedValue":{"$ref":"#/definitions/typedValue"}},"required":["objType","proxyId","id","field","processNum","tags","value"]}},{"title":"Error","type":"object","properties":{"errorStr":{"type":"string"}},"required":["errorStr"]}],"definitions":{"field":{"type":"object","pos":{"type":"integer","minimum":0},"name":{"type":"string"},"required":["pos","name"]},"processNum":{"type":"integer","minimum":1},"tags":{"type":"object","origin":{"type":"string","enum":["Metric","Status","Key","Config","Product","Unknown"]},"nature":{"type":"string","enum":["Gauge","Limit","Min","Max","Rate","Counter","Duration","Age","Time","Name","Output","Avg", "Unknown"]},"scope":{"type":"string","enum":["Cluster","Process","Service","System","Unknown"]},"required":["origin","nature","scope"]},"typedValue":{"type":"object","oneOf":[{"$ref":"#/definitions/typedValue/definitions/s32Value"},{"$ref":"#/definitions/typedValue/definitions/s64Value"},{"$ref":"#/definitions/typedValue/definitions/u32Value"},{"$ref":"#/definitions/typedValue/definitions/u64Value"},{"$ref":"#/definitions/typedValue/definitions/strValue"}],"definitions":{"s32Value":{"properties":{"type":{"type":"string","enum":["s32"]},"value":{"type":"integer","minimum":-2147483648,"maximum":2147483647}},"required":["type","value"]},"s64Value":{"properties":{"type":{"type":"string","enum":["s64"]},"value":{"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991}},"required":["type","value"]},"u32Value":{"properties":{"type":{"type":"string","enum":["u32"]},"value":{"type":"integer","minimum":0,"maximum":4294967295}},"required":["type","value"]},"u64Value":{"properties":{"type":{"type":"string","enum":["u64"]},"value":{"type":"integer","minimum":0,"maximum":9007199254740991}},"required":["type","value"]},"strValue":{"properties":{"type":{"type":"string","enum":["str"]},"value":{"type":"string"}},"required":["type","value"]},"unknownValue":{"properties":{"type":{"type":"integer","minimum":0},"value":{"type":"string","enum":["unknown"]}},"required":["type","value"]}}}}}"##;

/// Per `show stat` column (same order as [`COLUMNS`]): HAProxy's tag letters
/// (origin, nature, scope as `show stat typed` writes them) and value type;
/// empty for the columns ringlb never fills (agents, `track`, `observe`).
const STAT_TYPES: &[(&str, &str, &str)] = &[
    ("pxname", "KNS", "str"),
    ("svname", "KNS", "str"),
    ("qcur", "MGP", "u32"),
    ("qmax", "MMP", "u32"),
    ("scur", "MGP", "u32"),
    ("smax", "MMP", "u32"),
    ("slim", "CLP", "u32"),
    ("stot", "MCP", "u64"),
    ("bin", "MCP", "u64"),
    ("bout", "MCP", "u64"),
    ("dreq", "MCP", "u64"),
    ("dresp", "MCP", "u64"),
    ("ereq", "MCP", "u64"),
    ("econ", "MCP", "u64"),
    ("eresp", "MCP", "u64"),
    ("wretr", "MCP", "u64"),
    ("wredis", "MCP", "u64"),
    ("status", "SGP", "str"),
    ("weight", "MaP", "u32"),
    ("act", "SGP", "u32"),
    ("bck", "SGP", "u32"),
    ("chkfail", "MCP", "u64"),
    ("chkdown", "MCP", "u64"),
    ("lastchg", "MAP", "u32"),
    ("downtime", "MCP", "u32"),
    ("qlimit", "CGS", "u32"),
    ("pid", "KGP", "u32"),
    ("iid", "KGS", "u32"),
    ("sid", "KGS", "u32"),
    ("throttle", "MaP", "u32"),
    ("lbtot", "MCP", "u64"),
    ("tracked", "", ""),
    ("type", "CGS", "u32"),
    ("rate", "MRP", "u32"),
    ("rate_lim", "CLP", "u32"),
    ("rate_max", "MMP", "u32"),
    ("check_status", "MOP", "str"),
    ("check_code", "MOP", "u32"),
    ("check_duration", "MDP", "u64"),
    ("hrsp_1xx", "MCP", "u64"),
    ("hrsp_2xx", "MCP", "u64"),
    ("hrsp_3xx", "MCP", "u64"),
    ("hrsp_4xx", "MCP", "u64"),
    ("hrsp_5xx", "MCP", "u64"),
    ("hrsp_other", "MCP", "u64"),
    ("hanafail", "", ""),
    ("req_rate", "MRP", "u32"),
    ("req_rate_max", "MMP", "u32"),
    ("req_tot", "MCP", "u64"),
    ("cli_abrt", "MCP", "u64"),
    ("srv_abrt", "MCP", "u64"),
    ("comp_in", "MCP", "u64"),
    ("comp_out", "MCP", "u64"),
    ("comp_byp", "MCP", "u64"),
    ("comp_rsp", "MCP", "u64"),
    ("lastsess", "MAP", "s32"),
    ("last_chk", "MOP", "str"),
    ("last_agt", "", ""),
    ("qtime", "MaP", "u32"),
    ("ctime", "MaP", "u32"),
    ("rtime", "MaP", "u32"),
    ("ttime", "MaP", "u32"),
    ("agent_status", "", ""),
    ("agent_code", "", ""),
    ("agent_duration", "", ""),
    ("check_desc", "MOP", "str"),
    ("agent_desc", "", ""),
    ("check_rise", "CGS", "u32"),
    ("check_fall", "CGS", "u32"),
    ("check_health", "CGS", "u32"),
    ("agent_rise", "", ""),
    ("agent_fall", "", ""),
    ("agent_health", "", ""),
    ("addr", "CGS", "str"),
    ("cookie", "CNS", "str"),
    ("mode", "CGS", "str"),
    ("algo", "CGS", "str"),
    ("conn_rate", "MRP", "u32"),
    ("conn_rate_max", "MMP", "u32"),
    ("conn_tot", "MCP", "u64"),
    ("intercepted", "MCP", "u64"),
    ("dcon", "MCP", "u64"),
    ("dses", "MCP", "u64"),
    ("wrew", "MCP", "u64"),
    ("connect", "MCP", "u64"),
    ("reuse", "MCP", "u64"),
    ("cache_lookups", "MCP", "u64"),
    ("cache_hits", "MCP", "u64"),
    ("srv_icur", "MGP", "u32"),
    ("src_ilim", "", ""),
    ("qtime_max", "MMP", "u32"),
    ("ctime_max", "MMP", "u32"),
    ("rtime_max", "MMP", "u32"),
    ("ttime_max", "MMP", "u32"),
    ("eint", "MCP", "u64"),
    ("idle_conn_cur", "MGP", "u32"),
    ("safe_conn_cur", "MGP", "u32"),
    ("used_conn_cur", "MGP", "u32"),
    ("need_conn_est", "MGP", "u32"),
    ("uweight", "MaP", "u32"),
    ("agg_server_status", "MGP", "u32"),
    ("agg_server_check_status", "MGP", "u32"),
    ("agg_check_status", "MGP", "u32"),
];

/// A typed value, as HAProxy's `value` object carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `u32`.
    U32(u64),
    /// `u64`.
    U64(u64),
    /// `s32`.
    S32(i64),
    /// `str`.
    Str(String),
}

impl Value {
    /// Parses a CSV cell as the column's type; `None` for an empty cell.
    fn typed(ty: &str, text: &str) -> Option<Value> {
        if text.is_empty() {
            return None;
        }
        Some(match ty {
            "u32" => Value::U32(text.parse().ok()?),
            "u64" => Value::U64(text.parse().ok()?),
            "s32" => Value::S32(text.parse().ok()?),
            _ => Value::Str(text.to_string()),
        })
    }

    fn write(&self, out: &mut String) {
        let _ = match self {
            Value::U32(v) => write!(out, "{{\"type\":\"u32\",\"value\":{v}}}"),
            Value::U64(v) => write!(out, "{{\"type\":\"u64\",\"value\":{v}}}"),
            Value::S32(v) => write!(out, "{{\"type\":\"s32\",\"value\":{v}}}"),
            Value::Str(s) => {
                out.push_str("{\"type\":\"str\",\"value\":");
                string(out, s);
                out.push('}');
                Ok(())
            }
        };
    }
}

/// HAProxy's `tags` object for the letters `show stat typed` prints.
fn tags(out: &mut String, letters: &str) {
    let mut l = letters.chars();
    let origin = match l.next() {
        Some('M') => "Metric",
        Some('S') => "Status",
        Some('K') => "Key",
        Some('C') => "Config",
        Some('P') => "Product",
        _ => "Unknown",
    };
    let nature = match l.next() {
        Some('G') => "Gauge",
        Some('L') => "Limit",
        Some('m') => "Min",
        Some('M') => "Max",
        Some('R') => "Rate",
        Some('C') => "Counter",
        Some('D') => "Duration",
        Some('A') => "Age",
        Some('T') => "Time",
        Some('N') => "Name",
        Some('O') => "Output",
        Some('a') => "Avg",
        _ => "Unknown",
    };
    let scope = match l.next() {
        Some('C') => "Cluster",
        Some('P') => "Process",
        Some('S') => "Service",
        Some('s') => "System",
        _ => "Unknown",
    };
    let _ = write!(
        out,
        "\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}}"
    );
}

/// Writes `s` as a JSON string.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The tag letters and type of column `pos` for a row of `kind`: a backend's
/// `act`, `bck`, `rate` and `rate_max` are plain gauges in HAProxy.
fn stat_type(pos: usize, kind: Kind) -> (&'static str, &'static str) {
    let (name, letters, ty) = STAT_TYPES[pos];
    match (kind, name) {
        (Kind::Backend, "act" | "bck" | "rate" | "rate_max") => ("MGP", ty),
        _ => (letters, ty),
    }
}

/// HAProxy's `objType` of a row.
fn obj_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Frontend => "Frontend",
        Kind::Backend => "Backend",
        Kind::Server => "Server",
    }
}

/// `show stat json` and `<uri>;json`: one array of field objects per row
/// that `filter` keeps, all in one array, and a line feed.
pub fn stat(proxies: &[ProxyView], filter: &csv::Filter) -> String {
    let mut out = String::with_capacity(4096);
    out.push('[');
    let mut first_row = true;
    for p in proxies {
        for r in p.rows.iter().filter(|r| filter.keeps(p, r)) {
            if !first_row {
                out.push(',');
            }
            first_row = false;
            out.push('[');
            let mut first = true;
            for (pos, name) in COLUMNS.iter().enumerate() {
                let (letters, ty) = stat_type(pos, r.kind);
                let Some(value) = Value::typed(ty, &csv::field(r, name)) else {
                    continue;
                };
                if !first {
                    out.push(',');
                }
                first = false;
                let _ = write!(
                    out,
                    "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{pos},\
                     \"name\":\"{name}\"}},\"processNum\":1,",
                    obj_type(r.kind),
                    r.iid,
                    r.sid
                );
                tags(&mut out, letters);
                out.push_str(",\"value\":");
                value.write(&mut out);
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push_str("]\n");
    out
}

/// One `show info` field: HAProxy's position, name, tag letters and value.
#[derive(Debug, Clone)]
pub struct InfoField {
    /// HAProxy 2.6's position of the field.
    pub pos: u32,
    /// Its name (`Pid`, `CurrConns`).
    pub name: &'static str,
    /// Tag letters, as `show info typed` prints them.
    pub tags: &'static str,
    /// The value.
    pub value: Value,
}

/// `show info json`: one array of field objects and a line feed.
pub fn info(fields: &[InfoField]) -> String {
    let mut out = String::with_capacity(2048);
    out.push('[');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"field\":{{\"pos\":{},\"name\":", f.pos);
        string(&mut out, f.name);
        out.push_str("},\"processNum\":1,");
        tags(&mut out, f.tags);
        out.push_str(",\"value\":");
        f.value.write(&mut out);
        out.push('}');
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_type_per_column() {
        assert_eq!(STAT_TYPES.len(), COLUMNS.len());
        for (i, (name, ..)) in STAT_TYPES.iter().enumerate() {
            assert_eq!(*name, COLUMNS[i], "column {i}");
        }
        assert_eq!(stat_type(4, Kind::Frontend), ("MGP", "u32"));
        assert_eq!(stat_type(19, Kind::Backend), ("MGP", "u32"));
        assert_eq!(stat_type(19, Kind::Server), ("SGP", "u32"));
    }

    #[test]
    fn values_and_strings_escape() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
        assert_eq!(Value::typed("u32", ""), None);
        assert_eq!(Value::typed("s32", "-1"), Some(Value::S32(-1)));
        assert_eq!(Value::typed("u64", "x"), None);
        let mut v = String::new();
        Value::U64(7).write(&mut v);
        assert_eq!(v, r#"{"type":"u64","value":7}"#);
    }

    #[test]
    fn info_fields_render() {
        let f = [InfoField {
            pos: 6,
            name: "Pid",
            tags: "SGP",
            value: Value::U32(42),
        }];
        assert_eq!(
            info(&f),
            "[{\"field\":{\"pos\":6,\"name\":\"Pid\"},\"processNum\":1,\"tags\":{\"origin\":\
             \"Status\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\",\
             \"value\":42}}]\n"
        );
    }
}
