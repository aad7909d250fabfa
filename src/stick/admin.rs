//! The stats socket's table commands: `show table [<name>]` and `clear
//! table <name> [key <key>]`, answered as HAProxy 2.6 answers them.

use std::sync::Arc;
use std::time::Instant;

use super::Table;

/// `show table [<name>]`: every table's header line (HAProxy lists its
/// proxies last declared first), or one table's header and entries.
pub fn show(tables: &[Arc<Table>], args: &[&str]) -> String {
    let now = Instant::now();
    match args.first() {
        // The socket ends each answer with the blank line.
        None => tables.iter().rev().map(|t| t.head(now)).collect(),
        Some(name) => match find(tables, name) {
            Some(t) if args.len() == 1 => t.dump(now),
            Some(_) => "ringlb supports 'show table <name>' without a data filter.\n".into(),
            None => "No such table\n".into(),
        },
    }
}

/// `clear table <name> [key <key>]`: drops the entries, or one.
pub fn clear(tables: &[Arc<Table>], args: &[&str]) -> String {
    let Some(name) = args.first() else {
        return "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> \
                or <table> key <key>\n"
            .into();
    };
    let Some(t) = find(tables, name) else {
        return "No such table\n".into();
    };
    match &args[1..] {
        [] => t.clear(),
        ["key"] => return "Key value expected\n".into(),
        ["key", k] => {
            // A key of the wrong form matches no entry: nothing to do, no message.
            if let Some(key) = t.spec.key.parse(k) {
                t.remove(&key);
            }
        }
        _ => {
            return "ringlb supports 'clear table <name> [key <key>]' (no data filter).\n".into();
        }
    }
    String::new()
}

/// The table of proxy `name`.
fn find<'t>(tables: &'t [Arc<Table>], name: &str) -> Option<&'t Table> {
    tables.iter().find(|t| t.spec.name == name).map(|t| &**t)
}
