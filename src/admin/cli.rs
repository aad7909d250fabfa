//! HAProxy's command-line protocol on the stats socket: cutting the input into
//! commands, splitting words, access levels, and running one command.
//!
//! Commands end at an unescaped `;` or a line feed; a backslash escapes the
//! next character (so `\;` and `\ ` are literal). Each command's answer is
//! followed by an empty line, or by `\n> ` in interactive (`prompt`) mode,
//! exactly as HAProxy frames them so scripts can split the answers.

use std::fmt::Write as _;

use super::{commands, conns, dynamic, errors, info, servers, ssl, ssl_ocsp};
use crate::runtime::Shared;
use crate::stats::{csv, view};

/// A socket's access level (`level user|operator|admin`), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Read-only: `show` and `get` commands.
    User,
    /// As user here (HAProxy's operator commands are not in ringlb).
    Operator,
    /// Everything, including commands that change servers.
    Admin,
}

impl Level {
    /// From the configuration's word (anything unknown is the default, operator).
    pub fn parse(word: &str) -> Level {
        match word {
            "user" => Level::User,
            "admin" => Level::Admin,
            _ => Level::Operator,
        }
    }
}

/// HAProxy's answer to a command above the socket's level.
pub const PERMISSION_DENIED: &str = "Permission denied\n";

/// The longest command accepted (HAProxy's buffer size); a longer one closes
/// the connection, as HAProxy does when its request buffer fills.
pub const MAX_COMMAND: usize = 16 * 1024;

/// Where one command ends in `buf`: returns the command's text (without its
/// delimiter and a trailing CR) and how many bytes it used, or `None` when no
/// delimiter has arrived yet.
pub fn next_command(buf: &[u8]) -> Option<(String, usize)> {
    let mut i = 0;
    // Where the last backslash escape ended: a CR there is escaped, not a line end.
    let mut escaped_to = 0;
    while i < buf.len() {
        match buf[i] {
            b'\\' => {
                i += 2;
                escaped_to = i;
            }
            b';' | b'\n' => {
                let mut cmd = &buf[..i];
                if escaped_to != i
                    && let Some(stripped) = cmd.strip_suffix(b"\r")
                {
                    cmd = stripped;
                }
                return Some((String::from_utf8_lossy(cmd).into_owned(), i + 1));
            }
            _ => i += 1,
        }
    }
    None
}

/// Like [`next_command`], and a command whose line ends with `<<` takes the
/// lines after it up to an empty line as its payload (HAProxy's syntax);
/// at `eof` the payload may end without its empty line.
pub fn next_request(buf: &[u8], eof: bool) -> Option<(String, Option<String>, usize)> {
    let (cmd, used) = next_command(buf)?;
    let Some(cmd) = cmd.trim_end().strip_suffix("<<").map(str::to_string) else {
        return Some((cmd, None, used));
    };
    let rest = &buf[used..];
    let end = if rest.starts_with(b"\n") {
        Some((0, 1))
    } else {
        rest.windows(2)
            .position(|w| w == b"\n\n")
            .map(|p| (p + 1, p + 2))
    };
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match end {
        Some((p, n)) => Some((cmd, Some(lossy(&rest[..p])), used + n)),
        None if eof => Some((cmd, Some(lossy(rest)), buf.len())),
        None => None,
    }
}

/// Splits a command into words on spaces and tabs, removing backslash escapes.
pub fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            // A backslash escapes the next character; a last one escapes nothing.
            '\\' => {
                if let Some(n) = chars.next() {
                    in_word = true;
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// What a connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Print the answer, then the post-command prompt.
    Answer,
    /// Close without printing anything (`quit`).
    Quit,
}

/// One connection's state: its level and whether it is interactive.
#[derive(Debug)]
pub struct Session<'a> {
    shared: &'a Shared,
    level: Level,
    /// `prompt` mode: keep the connection and print `> ` after each answer.
    pub interactive: bool,
    /// A new idle timeout for this connection (`set timeout cli`), for the
    /// listener to apply after the answer.
    pub idle_timeout: Option<std::time::Duration>,
}

impl<'a> Session<'a> {
    /// A new, non-interactive session at `level`.
    pub fn new(shared: &'a Shared, level: Level) -> Session<'a> {
        Session {
            shared,
            level,
            interactive: false,
            idle_timeout: None,
        }
    }

    /// The text that follows every answer: an empty line, or `\n> ` when interactive.
    pub fn prompt(&self) -> &'static str {
        if self.interactive { "\n> " } else { "\n" }
    }

    /// Runs one command; returns its answer.
    pub fn run(&mut self, cmd: &str) -> (String, After) {
        self.run_with(cmd, None)
    }

    /// Runs one command with its `<<` payload, if any; returns its answer.
    pub fn run_with(&mut self, cmd: &str, payload: Option<&str>) -> (String, After) {
        let w = words(cmd);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        let answer = match w.as_slice() {
            ["quit", ..] => return (String::new(), After::Quit),
            ["prompt", ..] => {
                self.interactive = !self.interactive;
                String::new()
            }
            ["help", ..] => usage(Usage::Help, &[]),
            ["show", "info", rest @ ..] => show_info(self.shared, rest),
            ["show", "stat", rest @ ..] => show_stat(self.shared, rest),
            ["show", "schema", "json"] => format!("{}\n", crate::stats::json::SCHEMA),
            ["show", "servers", "state", rest @ ..] => {
                let backend = rest.first().copied();
                servers::render(self.shared, backend).unwrap_or_else(str::to_string)
            }
            // Run-time views and limits (issue #18): `conns.rs`, `errors.rs`,
            // `set maxconn server`, `set server ... addr`, `set timeout cli`.
            ["show", "servers", "conn", rest @ ..] => {
                conns::show_servers_conn(self.shared, rest.first().copied())
            }
            ["show", "activity", ..] => conns::show_activity(self.shared),
            ["show", "sess", ..] => self.operator(conns::show_sess),
            ["show", "errors", rest @ ..] => self.operator(|sh| errors::show(sh, rest)),
            ["set", "maxconn", "server", rest @ ..] => {
                self.admin(|sh| commands::set_maxconn_server(sh, rest))
            }
            ["set", "timeout", rest @ ..] => self.set_timeout(rest),
            ["get", "weight", rest @ ..] => commands::get_weight(self.shared, rest),
            ["set", "weight", rest @ ..] => self.admin(|sh| commands::set_weight(sh, rest)),
            ["set", "server", rest @ ..] => self.admin(|sh| commands::set_server(sh, rest)),
            // Checks paused by hand (`check/force.rs`).
            [
                verb @ ("enable" | "disable"),
                what @ ("health" | "agent"),
                rest @ ..,
            ] => {
                let (on, agent) = (*verb == "enable", *what == "agent");
                self.admin(|sh| commands::toggle_check(sh, on, agent, rest))
            }
            ["enable", "server", rest @ ..] => self.admin(|sh| commands::enable_server(sh, rest)),
            ["disable", "server", rest @ ..] => self.admin(|sh| commands::disable_server(sh, rest)),
            // Dynamic servers (`dynamic.rs`): admin level, as HAProxy.
            ["add", "server", rest @ ..] => self.admin(|sh| dynamic::add_server(sh, rest)),
            ["del", "server", rest @ ..] => self.admin(|sh| dynamic::del_server(sh, rest)),
            // Stick tables (`crate::stick::admin`): operator level, as HAProxy.
            ["show", "table", rest @ ..] => {
                self.operator(|sh| crate::stick::admin::show(&sh.stick_tables, rest))
            }
            ["clear", "table", rest @ ..] => {
                self.operator(|sh| crate::stick::admin::clear(&sh.stick_tables, rest))
            }
            ["shutdown", "sessions", "server", rest @ ..] => {
                self.admin(|sh| commands::shutdown_sessions(sh, rest))
            }
            // Certificates and crt-lists (`ssl.rs`): admin level, as HAProxy.
            [_, "ssl", "cert" | "crt-list", ..] if self.level < Level::Admin => {
                PERMISSION_DENIED.to_string()
            }
            ["show", "ssl", "cert", rest @ ..] => ssl::show_cert(rest),
            // OCSP (`ssl_ocsp.rs`): `show` at every level as HAProxy; `set`
            // at admin level only, unlike HAProxy (the module says why).
            ["show", "ssl", "ocsp-response", rest @ ..] => ssl_ocsp::show(rest),
            ["set", "ssl", "ocsp-response", ..] if self.level < Level::Admin => {
                PERMISSION_DENIED.to_string()
            }
            ["set", "ssl", "ocsp-response", rest @ ..] => ssl_ocsp::set(rest, payload),
            ["set", "ssl", "cert", rest @ ..] => ssl::set_cert(rest, payload),
            ["commit", "ssl", "cert", rest @ ..] => ssl::commit_cert(rest),
            ["abort", "ssl", "cert", rest @ ..] => ssl::abort_cert(rest),
            ["new", "ssl", "cert", rest @ ..] => ssl::new_cert(rest),
            ["del", "ssl", "cert", rest @ ..] => ssl::del_cert(rest),
            ["add", "ssl", "crt-list", rest @ ..] => ssl::add_crt_list(rest, payload),
            ["del", "ssl", "crt-list", rest @ ..] => ssl::del_crt_list(rest),
            ["show", "ssl", "crt-list", rest @ ..] => ssl::show_crt_list(rest),
            _ => usage(Usage::Unknown, &w),
        };
        (answer, After::Answer)
    }

    /// `set timeout cli <delay>`: this connection's idle timeout (seconds
    /// unless a unit is given, rounded up, at least one), as HAProxy.
    fn set_timeout(&mut self, args: &[&str]) -> String {
        match args {
            ["cli", v, ..] if !v.is_empty() => {
                let d = if v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse::<u64>().ok().map(std::time::Duration::from_secs)
                } else {
                    crate::config::duration::parse_duration(v).ok()
                };
                // In whole seconds, rounded up (HAProxy's `parse_time_err`).
                let secs = d.map(|d| d.as_micros().div_ceil(1_000_000) as u64);
                match secs.filter(|&s| s >= 1) {
                    Some(s) => {
                        self.idle_timeout = Some(std::time::Duration::from_secs(s));
                        String::new()
                    }
                    None => "Invalid timeout value.\n".into(),
                }
            }
            ["cli", ..] => "Expects an integer value.\n".into(),
            _ => "'set timeout' only supports 'cli'.\n".into(),
        }
    }

    /// Runs `f` if the socket is at operator level or above, else HAProxy's refusal.
    fn operator(&self, f: impl FnOnce(&Shared) -> String) -> String {
        if self.level < Level::Operator {
            PERMISSION_DENIED.to_string()
        } else {
            f(self.shared)
        }
    }

    /// Runs `f` if the socket is at admin level, else HAProxy's refusal.
    fn admin(&self, f: impl FnOnce(&Shared) -> String) -> String {
        if self.level < Level::Admin {
            PERMISSION_DENIED.to_string()
        } else {
            f(self.shared)
        }
    }
}

fn show_info(shared: &Shared, args: &[&str]) -> String {
    if args.contains(&"json") && args.iter().all(|a| matches!(*a, "json" | "float")) {
        return info::render_json(shared);
    }
    match args.iter().find(|a| **a != "float") {
        None => info::render(shared),
        Some(a) => format!(
            "ringlb supports only the default format of 'show info' (not '{}').\n",
            echo(a)
        ),
    }
}

/// A client's word as an answer repeats it: control characters escaped, so
/// that an escaped line feed cannot end the answer early or forge another.
pub(crate) fn echo(word: &str) -> String {
    let mut s = String::with_capacity(word.len());
    for c in word.chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    s
}

/// `show stat [domain proxy] [{<iid>|<proxy>} <type> <sid>] [up|no-maint]`.
fn show_stat(shared: &Shared, args: &[&str]) -> String {
    let mut filter = csv::Filter::default();
    let mut positional = Vec::new();
    let mut only_up = false;
    let mut no_maint = false;
    let mut json = false;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "domain" => {
                if args.get(i + 1) != Some(&"proxy") {
                    return "ringlb knows only 'domain proxy' for 'show stat'.\n".into();
                }
                i += 1;
            }
            "up" => only_up = true,
            "no-maint" => no_maint = true,
            "json" => json = true,
            "typed" | "desc" => {
                return format!(
                    "ringlb supports only the CSV and JSON formats of 'show stat' (not '{}').\n",
                    args[i]
                );
            }
            a => positional.push(a),
        }
        i += 1;
    }
    if !positional.is_empty() {
        let [px, ty, sid] = positional.as_slice() else {
            return "Usage: show stat [{<iid>|<proxy>} <type> <sid>] [up|no-maint]\n".into();
        };
        filter.proxy = match px.parse::<i64>() {
            Ok(-1) => None,
            Ok(id) if id > 0 => Some(csv::ProxySel::Id(id as u32)),
            Ok(_) => return "Invalid proxy id.\n".into(),
            Err(_) => Some(csv::ProxySel::Name((*px).to_string())),
        };
        filter.types = match ty.parse::<i64>() {
            Ok(-1) => None,
            Ok(t) if (0..=255).contains(&t) => Some(t as u8),
            _ => return "Invalid type.\n".into(),
        };
        filter.sid = match sid.parse::<i64>() {
            Ok(-1) => None,
            Ok(s) if s >= 0 => Some(s as u32),
            _ => return "Invalid server id.\n".into(),
        };
    }
    let mut proxies = view::snapshot(shared);
    if only_up || no_maint {
        for p in &mut proxies {
            p.rows.retain(|r| {
                r.kind != view::Kind::Server
                    || match r.look {
                        view::Look::Maint => false,
                        view::Look::Up | view::Look::GoingDown | view::Look::NoCheck => true,
                        view::Look::Drain => true,
                        _ => !only_up,
                    }
            });
        }
    }
    if json {
        return crate::stats::json::stat(&proxies, &filter);
    }
    csv::render(&proxies, &filter)
}

/// One command of the help text: its syntax and what it does.
struct Help {
    words: &'static [&'static str],
    syntax: &'static str,
    what: &'static str,
}

/// The commands ringlb's stats socket knows, sorted by syntax as HAProxy sorts them.
const COMMANDS: &[Help] = &[
    Help {
        words: &["abort", "ssl", "cert"],
        syntax: "abort ssl cert <certfile>",
        what: "abort a transaction for a certificate file",
    },
    Help {
        words: &["add", "server"],
        syntax: "add server <bk>/<srv>",
        what: "create a new server",
    },
    Help {
        words: &["add", "ssl", "crt-list"],
        syntax: "add ssl crt-list <list> <cert> [opts]*",
        what: "add to crt-list file <list> a line <cert> or a payload",
    },
    Help {
        words: &["clear", "table"],
        syntax: "clear table <table> [<filter>]*",
        what: "remove an entry from a table (filter: data/key)",
    },
    Help {
        words: &["commit", "ssl", "cert"],
        syntax: "commit ssl cert <certfile>",
        what: "commit a certificate file",
    },
    Help {
        words: &["del", "server"],
        syntax: "del server <bk>/<srv>",
        what: "remove a dynamically added server",
    },
    Help {
        words: &["del", "ssl", "cert"],
        syntax: "del ssl cert <certfile>",
        what: "delete an unused certificate file",
    },
    Help {
        words: &["del", "ssl", "crt-list"],
        syntax: "del ssl crt-list <list> <cert[:line]>",
        what: "delete a line <cert> from crt-list file <list>",
    },
    Help {
        words: &["disable", "agent"],
        syntax: "disable agent <bk>/<srv>",
        what: "disable agent checks",
    },
    Help {
        words: &["disable", "health"],
        syntax: "disable health <bk>/<srv>",
        what: "disable health checks",
    },
    Help {
        words: &["disable", "server"],
        syntax: "disable server <bk>/<srv>",
        what: "put a server in maintenance (as 'set server ... state maint')",
    },
    Help {
        words: &["enable", "agent"],
        syntax: "enable agent <bk>/<srv>",
        what: "enable agent checks",
    },
    Help {
        words: &["enable", "health"],
        syntax: "enable health <bk>/<srv>",
        what: "enable health checks",
    },
    Help {
        words: &["enable", "server"],
        syntax: "enable server <bk>/<srv>",
        what: "take a server out of maintenance",
    },
    Help {
        words: &["get", "weight"],
        syntax: "get weight <bk>/<srv>",
        what: "report a server's current weight",
    },
    Help {
        words: &["new", "ssl", "cert"],
        syntax: "new ssl cert <certfile>",
        what: "create a new certificate file to be used in a crt-list or a directory",
    },
    Help {
        words: &["set", "maxconn", "server"],
        syntax: "set maxconn server <bk>/<srv>",
        what: "change a server's maxconn setting",
    },
    Help {
        words: &["set", "server"],
        syntax: "set server <bk>/<srv> [opts]",
        what: "change a server's state (ready|drain|maint), weight or address",
    },
    Help {
        words: &["set", "ssl", "cert"],
        syntax: "set ssl cert <certfile> <payload>",
        what: "replace a certificate file",
    },
    Help {
        words: &["set", "ssl", "ocsp-response"],
        syntax: "set ssl ocsp-response <resp|payload>",
        what: "update a certificate's OCSP Response from a base64-encode DER",
    },
    Help {
        words: &["set", "timeout"],
        syntax: "set timeout [cli] <delay>",
        what: "change a timeout setting",
    },
    Help {
        words: &["set", "weight"],
        syntax: "set weight <bk>/<srv>  (<w>|<w>%)",
        what: "change a server's weight",
    },
    Help {
        words: &["show", "activity"],
        syntax: "show activity",
        what: "show per-thread activity stats (for support/developers)",
    },
    Help {
        words: &["show", "errors"],
        syntax: "show errors [<px>] [request|response]",
        what: "report last request and/or response errors for each proxy",
    },
    Help {
        words: &["show", "info"],
        syntax: "show info [json]",
        what: "report information about the running process",
    },
    Help {
        words: &["show", "schema", "json"],
        syntax: "show schema json",
        what: "report schema used for stats",
    },
    Help {
        words: &["show", "servers", "conn"],
        syntax: "show servers conn [<backend>]",
        what: "dump server connections status (all or for a single backend)",
    },
    Help {
        words: &["show", "servers", "state"],
        syntax: "show servers state [<backend>]",
        what: "dump volatile server information (all or for a single backend)",
    },
    Help {
        words: &["show", "sess"],
        syntax: "show sess",
        what: "report the list of current sessions",
    },
    Help {
        words: &["show", "ssl", "cert"],
        syntax: "show ssl cert [<certfile>]",
        what: "display the SSL certificates used in memory, or the details of a file",
    },
    Help {
        words: &["show", "ssl", "crt-list"],
        syntax: "show ssl crt-list [-n] [<list>]",
        what: "show the list of crt-lists or the content of a crt-list file <list>",
    },
    Help {
        words: &["show", "ssl", "ocsp-response"],
        syntax: "show ssl ocsp-response [id]",
        what: "display the IDs of the OCSP responses used in memory, or the details of a single OCSP response",
    },
    Help {
        words: &["show", "stat"],
        syntax: "show stat [json] [{<iid>|<proxy>} <type> <sid>]",
        what: "report counters for each proxy and server",
    },
    Help {
        words: &["show", "table"],
        syntax: "show table <table> [<filter>]*",
        what: "report table usage stats or dump this table's contents (filter: data/key)",
    },
    Help {
        words: &["shutdown", "sessions", "server"],
        syntax: "shutdown sessions server <bk>/<srv>",
        what: "kill sessions on a server",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Help,
    Unknown,
}

/// HAProxy's help text: a title line, the matching commands, then the three
/// commands always listed.
fn usage(kind: Usage, args: &[&str]) -> String {
    // How many leading words match some command exactly.
    let matched = |h: &Help| {
        h.words
            .iter()
            .zip(args)
            .take_while(|(w, a)| *w == *a)
            .count()
    };
    let length = COMMANDS.iter().map(matched).max().unwrap_or(0);
    let mut out = String::new();
    out.push_str(match kind {
        Usage::Help => "The following commands are valid at this level:\n",
        Usage::Unknown if length == 0 && args.is_empty() => {
            "Unknown command. Please enter one of the following commands only:\n"
        }
        Usage::Unknown => {
            "Unknown command, but maybe one of the following ones is a better match:\n"
        }
    });
    for h in COMMANDS.iter().filter(|h| matched(h) >= length) {
        let _ = writeln!(out, "  {:<40}: {}", h.syntax, h.what);
    }
    out.push_str(
        "  help [<command>]                        : list matching or all commands\n  \
         prompt                                  : toggle interactive mode with prompt\n  \
         quit                                    : disconnect\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_end_at_unescaped_semicolons_and_line_feeds() {
        assert_eq!(next_command(b"show info"), None);
        assert_eq!(
            next_command(b"show info;show stat\n"),
            Some(("show info".into(), 10))
        );
        assert_eq!(next_command(b"help\r\n"), Some(("help".into(), 6)));
        assert_eq!(next_command(b"set a\\;b;x"), Some(("set a\\;b".into(), 9)));
        assert_eq!(next_command(b"trailing\\"), None);
        // An escaped CR is part of the command, not the end of its line.
        assert_eq!(next_command(b"a\\\r\n"), Some(("a\\\r".into(), 4)));
        assert_eq!(next_command(b"a\\\\\r\n"), Some(("a\\\\".into(), 5)));
    }

    #[test]
    fn payloads_follow_a_command_ending_in_double_less_than() {
        let buf = b"set ssl cert f <<\nL1\nL2\n\nshow info\n";
        let (cmd, payload, used) = next_request(buf, false).unwrap();
        assert_eq!(cmd, "set ssl cert f ");
        assert_eq!(payload.as_deref(), Some("L1\nL2\n"));
        assert_eq!(&buf[used..], b"show info\n");
        // Incomplete until the empty line, unless the input ended.
        assert_eq!(next_request(b"set x <<\nL1\n", false), None);
        let (_, p, _) = next_request(b"set x <<\nL1\n", true).unwrap();
        assert_eq!(p.as_deref(), Some("L1\n"));
        let (_, p, _) = next_request(b"set x <<\n\n", false).unwrap();
        assert_eq!(p.as_deref(), Some(""));
        assert_eq!(
            next_request(b"show info\n", false),
            Some(("show info".into(), None, 10))
        );
    }

    #[test]
    fn ssl_commands_need_admin() {
        let text = "defaults\n mode http\nlisten l\n bind 127.0.0.1:1\n server a 127.0.0.1:2\n";
        let loaded = crate::config::load_sources(&[("t.cfg", text)]).unwrap();
        let shared = Shared::build(&loaded.config, false, 1);
        let mut op = Session::new(&shared, Level::Operator);
        assert_eq!(op.run("show ssl cert").0, PERMISSION_DENIED);
        assert_eq!(op.run("add ssl crt-list a b").0, PERMISSION_DENIED);
        // Unlike HAProxy 2.6 (any level): ssl_ocsp.rs says why.
        assert_eq!(op.run("set ssl ocsp-response AAAA").0, PERMISSION_DENIED);
        let mut user = Session::new(&shared, Level::User);
        assert!(user.run("show ssl ocsp-response").0.starts_with(
            "# Certificate IDs
"
        ));
        let mut admin = Session::new(&shared, Level::Admin);
        assert!(admin.run("show ssl cert").0.contains("# filename\n"));
        assert_eq!(
            admin.run_with("set ssl cert /none.pem", Some("x")).0,
            "Can't replace a certificate which is not referenced by the configuration!\n\
             Can't update /none.pem!\n"
        );
    }

    #[test]
    fn words_split_and_unescape() {
        assert_eq!(words("  show   stat\t-1 "), vec!["show", "stat", "-1"]);
        assert_eq!(words("a\\ b c\\;d"), vec!["a b", "c;d"]);
        assert!(words("   ").is_empty());
        assert_eq!(
            words("a \\"),
            vec!["a"],
            "no empty word from a last backslash"
        );
    }

    #[test]
    fn echoed_words_stay_on_one_line() {
        let text = "defaults\n mode http\nlisten l\n bind 127.0.0.1:1\n server a 127.0.0.1:2\n";
        let loaded = crate::config::load_sources(&[("t.cfg", text)]).unwrap();
        let shared = Shared::build(&loaded.config, false, 1);
        let mut s = Session::new(&shared, Level::Admin);
        let (answer, _) = s.run("show info a\\\nb");
        assert_eq!(
            answer,
            "ringlb supports only the default format of 'show info' (not 'a\\nb').\n"
        );
    }

    #[test]
    fn levels_are_ordered() {
        assert!(Level::parse("user") < Level::parse("operator"));
        assert!(Level::parse("operator") < Level::parse("admin"));
        assert_eq!(Level::parse("nonsense"), Level::Operator);
    }

    #[test]
    fn help_texts() {
        let h = usage(Usage::Help, &[]);
        assert!(h.starts_with("The following commands are valid at this level:\n"));
        assert!(h.contains("  show info [json]                        : report"));
        assert!(h.ends_with("  quit                                    : disconnect\n"));
        let u = usage(Usage::Unknown, &["show", "nothing"]);
        assert!(u.starts_with("Unknown command, but maybe one of the following ones"));
        assert!(u.contains("show stat") && !u.contains("set weight"));
        let e = usage(Usage::Unknown, &[]);
        assert!(
            e.starts_with("Unknown command. Please enter one of the following commands only:\n")
        );
    }
}
