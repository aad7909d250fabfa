//! Stats helpers: parsing the stats CSV ([`parse_stats_csv`], [`stats_row`],
//! [`stats_num`]), talking to the stats socket ([`stats_command`],
//! [`stats_exchange`]) and fetching the stats page ([`get_with`]).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::Path;

use super::*;

/// One row of HAProxy's stats CSV: column name → value.
pub type StatsRow = HashMap<String, String>;

/// Parses HAProxy's stats CSV (`# pxname,svname,...` then one line per row,
/// each field followed by a comma; quoted fields may hold commas).
pub fn parse_stats_csv(text: &str) -> Vec<StatsRow> {
    let mut lines = text.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .unwrap_or_else(|| panic!("no '# ' header line in the CSV:\n{text}"));
    let columns = split_csv_line(header);
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let values = split_csv_line(l);
            assert_eq!(values.len(), columns.len(), "field count of {l:?}");
            columns.iter().cloned().zip(values).collect()
        })
        .collect()
}

/// Splits one CSV line whose fields each end with a comma.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The row of `pxname`/`svname`; panics listing the rows when absent.
pub fn stats_row<'a>(rows: &'a [StatsRow], px: &str, sv: &str) -> &'a StatsRow {
    rows.iter()
        .find(|r| r["pxname"] == px && r["svname"] == sv)
        .unwrap_or_else(|| {
            let names: Vec<String> = rows
                .iter()
                .map(|r| format!("{}/{}", r["pxname"], r["svname"]))
                .collect();
            panic!("no row {px}/{sv} in {names:?}")
        })
}

/// A column of a row as a number (panics when empty or not a number).
pub fn stats_num(row: &StatsRow, column: &str) -> u64 {
    row[column].parse().unwrap_or_else(|_| {
        panic!(
            "{}/{}: column {column} is {:?}, not a number",
            row["pxname"], row["svname"], row[column]
        )
    })
}

/// Sends `command` and a line feed on the stats socket at `path` and returns
/// everything ringlb writes until it closes (at most [`IO_TIMEOUT`]).
pub fn stats_command(path: &Path, command: &str) -> String {
    stats_exchange(path, format!("{command}\n").as_bytes())
}

/// Sends raw bytes on the stats socket at `path`, then reads until ringlb
/// closes (or resets); returns what came (lossy text).
pub fn stats_exchange(path: &Path, bytes: &[u8]) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("connect to the stats socket {}: {e}", path.display()));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let _ = s.write_all(bytes);
    // Done sending, as `socat` at the end of its input.
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // ringlb closed with input unread (a line it refused): a close.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "stats socket: {e} after {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET path` on a fresh connection with optional `Authorization` and
/// `Cookie` headers, `Connection: close`.
pub fn get_with(
    port: u16,
    path: &str,
    authorization: Option<&str>,
    cookie: Option<&str>,
) -> Response {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(a) = authorization {
        req += &format!("Authorization: {a}\r\n");
    }
    if let Some(c) = cookie {
        req += &format!("Cookie: {c}\r\n");
    }
    req += "\r\n";
    HttpClient::connect(port).request(req.as_bytes())
}
