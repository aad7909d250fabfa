//! The command line, HAProxy's: the clap definition `ringlb` parses and the
//! man page (`ringlb-man`) is generated from, and [`haproxy_args`], which maps
//! HAProxy's multi-letter short flags (`-db`, `-Ws`) to what clap parses.

use std::path::PathBuf;

use clap::Parser;

/// The man page's DESCRIPTION (and `--help`'s).
const LONG_ABOUT: &str = "ringlb is an HAProxy-compatible load balancer: it reads \
HAProxy configuration files (haproxy.cfg syntax and keywords) and serves them on \
thread-per-core io_uring workers.

HAProxy's multi-letter flags are accepted as HAProxy spells them: -db, -dD, -vv, -cc, \
-sf, -st and -Ws are the same as --db, --dD, --vv, --cc, --sf, --st and --Ws.";

/// An HAProxy-compatible load balancer on io_uring.
#[derive(Debug, Parser)]
#[command(
    name = "ringlb",
    version,
    disable_version_flag = true,
    long_about = LONG_ABOUT
)]
pub struct Cli {
    /// Configuration file or directory (its `*.cfg` files in name order);
    /// repeatable, read in order as one configuration.
    #[arg(short = 'f', value_name = "FILE|DIR", required_unless_present_any = ["version", "build_options", "condition"])]
    pub files: Vec<PathBuf>,
    /// Evaluate a condition as `.if` does and exit: 0 true, 1 false, 2 invalid (HAProxy's `-cc`).
    #[arg(long = "cc", value_name = "CONDITION")]
    pub condition: Option<String>,
    /// Quiet: print no warnings, notices, nor "Configuration file is valid".
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Verbose: cancels quiet mode (as HAProxy's `-V`).
    #[arg(short = 'V')]
    pub verbose: bool,
    /// The local peer name (`${HAPROXY_LOCALPEER}`; the host name by default).
    #[arg(short = 'L', value_name = "NAME")]
    pub localpeer: Option<String>,
    /// Default per-frontend maxconn, for frontends that set none (HAProxy's `-N`).
    #[arg(short = 'N', value_name = "MAXPCONN", value_parser = clap::value_parser!(u32).range(1..))]
    pub maxpconn: Option<u32>,
    /// Change to this directory before loading the files.
    #[arg(short = 'C', value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Print the version, the HAProxy version matched and the build features (`-vv`).
    #[arg(long = "vv")]
    pub build_options: bool,
    /// Check the configuration and exit (0 valid, 1 invalid).
    #[arg(short = 'c')]
    pub check: bool,
    /// Run in the background (as `daemon` in `global`).
    #[arg(short = 'D')]
    pub daemon: bool,
    /// Stay in the foreground even if the configuration says `daemon` (HAProxy's `-db`).
    #[arg(long = "db")]
    pub foreground: bool,
    /// Foreground with debug output.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Diagnostic mode (HAProxy's `-dD`): print the `.diag` messages.
    #[arg(long = "dD")]
    pub diag_mode: bool,
    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// Print the version and exit.
    #[arg(short = 'v')]
    pub version: bool,
    /// Master-worker mode: a master keeps the sockets and replaces the worker
    /// process on SIGUSR2 (as `master-worker` in `global`).
    #[arg(short = 'W')]
    pub master_worker: bool,
    /// Master-worker mode with systemd notify (HAProxy's `-Ws`): as `-W`, and
    /// the master tells systemd ($NOTIFY_SOCKET) when it serves, reloads and
    /// stops; for units of `Type=notify`.
    #[arg(long = "Ws")]
    pub systemd: bool,
    /// The master CLI's address (`-S <path|ip:port>[,mode <octal>]`): `reload`, `show proc`.
    #[arg(short = 'S', value_name = "ADDRESS")]
    pub master_cli: Option<String>,
    /// Once serving, soft-stop these processes (HAProxy's `-sf <pid>...`).
    #[arg(long = "sf", value_name = "PID", num_args = 1..)]
    pub soft_finish: Vec<i32>,
    /// Take the listening sockets of the process behind this stats socket
    /// (`expose-fd listeners` there), instead of binding new ones.
    #[arg(short = 'x', value_name = "SOCKET")]
    pub xfer: Option<PathBuf>,
    /// Once serving, terminate these processes (HAProxy's `-st <pid>...`).
    #[arg(long = "st", value_name = "PID", num_args = 1..)]
    pub terminate: Vec<i32>,
}

/// Maps HAProxy's multi-letter short flags (`-db`, `-vv`, `-Ws`, ...) to the
/// long options clap parses; every other argument is kept as it is.
pub fn haproxy_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| match a.as_str() {
            "-db" => "--db".to_string(),
            "-sf" => "--sf".to_string(),
            "-st" => "--st".to_string(),
            "-vv" => "--vv".to_string(),
            "-cc" => "--cc".to_string(),
            "-dD" => "--dD".to_string(),
            "-Ws" => "--Ws".to_string(),
            _ => a,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(haproxy_args(args.iter().map(|s| s.to_string()))).expect("parses")
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ws_is_master_worker_with_systemd() {
        let cli = parse(&["ringlb", "-Ws", "-f", "x.cfg"]);
        assert!(cli.systemd && !cli.master_worker);
        let cli = parse(&["ringlb", "-W", "-f", "x.cfg"]);
        assert!(cli.master_worker && !cli.systemd);
    }

    #[test]
    fn haproxy_spellings_map_and_others_stay() {
        let got = haproxy_args(["-db", "-Ws", "-f", "-sf", "1"].map(String::from));
        assert_eq!(got, ["--db", "--Ws", "-f", "--sf", "1"]);
    }

    #[test]
    fn the_unit_command_line_parses() {
        // What packaging/ringlb.service runs.
        let cli = parse(&[
            "ringlb",
            "-Ws",
            "-f",
            "/etc/ringlb/ringlb.cfg",
            "-p",
            "/run/ringlb.pid",
            "-S",
            "/run/ringlb-master.sock",
        ]);
        assert!(cli.systemd);
        assert_eq!(cli.master_cli.as_deref(), Some("/run/ringlb-master.sock"));
        let check = parse(&["ringlb", "-f", "/etc/ringlb/ringlb.cfg", "-c", "-q"]);
        assert!(check.check && check.quiet);
    }
}
