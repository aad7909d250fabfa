//! The `ringlb` binary: HAProxy's command line, then load, bind, detach, run.
//!
//! Order matters and follows HAProxy: parse and check the configuration, raise
//! the open-file limit, bind every listener (as root, before anything can fail
//! silently in the background), daemonize, write the pidfile, drop
//! privileges, then start the workers and wait for signals in the main thread.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Parser;
use ringlb::cli::{self, Cli};
use ringlb::config::{self, model::Config};
use ringlb::process::{daemon, limits, master, master_cli, pidfile, privileges, signals};
use ringlb::runtime::Shared;
use ringlb::worker::{self, handover, listen};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// maxconn when neither `global` nor the open-file limit says otherwise.
const DEFAULT_MAXCONN: u64 = 4096;

fn main() -> ExitCode {
    let cli = Cli::parse_from(cli::haproxy_args(std::env::args()));
    if cli.version || cli.build_options {
        print_version(cli.build_options);
        return ExitCode::SUCCESS;
    }
    if let Some(code) = prepare_env(&cli) {
        return code;
    }
    if let Some(cond) = &cli.condition {
        return match config::cond::eval(cond, &config::lex::process_env) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("[ALERT] Failed to evaluate condition: {e}");
                ExitCode::from(2)
            }
        };
    }
    let mut loaded = match config::load_files(&cli.files) {
        Ok(l) => l,
        Err(e) => {
            if cli.diag_mode {
                for line in &e.diags {
                    eprintln!("[DIAG] {line}");
                }
            }
            // Warnings too, first (as HAProxy, which prints them as it parses).
            if !cli.quiet || cli.verbose {
                for line in &e.warnings {
                    eprintln!("[WARNING] {line}");
                }
            }
            for line in &e.errors {
                eprintln!("[ALERT] {line}");
            }
            eprintln!("[ALERT] Fatal errors found in configuration.");
            return ExitCode::FAILURE;
        }
    };
    // -q silences all but alerts; -V cancels it (as HAProxy).
    let quiet = cli.quiet && !cli.verbose;
    // HAProxy prints `.diag` lines in diagnostic mode even when quiet.
    if cli.diag_mode {
        for d in &loaded.diags {
            eprintln!("[DIAG] {}: {}", d.origin, d.message);
        }
    }
    if !quiet {
        for n in &loaded.notices {
            eprintln!("[NOTICE] {}: {}", n.origin, n.message);
        }
        for w in &loaded.warnings {
            eprintln!("[WARNING] {}: {}", w.origin, w.message);
        }
    }
    if let Some(n) = cli.maxpconn {
        for f in &mut loaded.config.frontends {
            f.maxconn.get_or_insert(n);
        }
    }
    if cli.check {
        if !quiet {
            println!("Configuration file is valid");
        }
        return ExitCode::SUCCESS;
    }
    let master_mode = cli.master_worker || cli.systemd || loaded.config.global.master_worker;
    if master_mode && !master::under_master() {
        return run_master(&cli, &loaded.config);
    }
    if cli.master_cli.is_some() && !master_mode {
        eprintln!("[ALERT] -S (the master CLI) needs master-worker mode (-W)");
        return ExitCode::FAILURE;
    }
    match run(&cli, &loaded.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ALERT] {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The options a worker started by the master must see again (it inherits
/// the directory `-C` chose and `HAPROXY_LOCALPEER` from `-L`).
fn worker_args(cli: &Cli) -> Vec<String> {
    let mut args = Vec::new();
    if cli.debug {
        args.push("-d".into());
    }
    if cli.quiet && !cli.verbose {
        args.push("-q".into());
    }
    if let Some(n) = cli.maxpconn {
        args.extend(["-N".into(), n.to_string()]);
    }
    args
}

/// `-v` / `-vv`: the version; with `-vv` what `.if` conditions see too.
fn print_version(build_options: bool) {
    println!(
        "ringlb version {} - an HAProxy-compatible load balancer on io_uring",
        env!("CARGO_PKG_VERSION")
    );
    if build_options {
        println!(
            "HAProxy version matched : {} (version_atleast/version_before)",
            config::cond::HAPROXY_VERSION
        );
        let features: Vec<String> = config::cond::FEATURES
            .iter()
            .map(|f| format!("+{f}"))
            .collect();
        println!("Feature list : {}", features.join(" "));
        println!(
            "Default settings : bufsize = {}, maxhdr = {}",
            ringlb::bufpool::BUF_SIZE,
            ringlb::http::request::MAX_HEADERS
        );
    }
}

/// `-C` and `-L`, before anything reads files or the environment; `Some`
/// is the exit code when that fails.
fn prepare_env(cli: &Cli) -> Option<ExitCode> {
    if let Some(dir) = &cli.chdir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        eprintln!("[ALERT] Cannot chdir to '{}' (-C): {e}", dir.display());
        return Some(ExitCode::FAILURE);
    }
    let peer = cli
        .localpeer
        .clone()
        .or_else(ringlb::log::system_hostname)
        .unwrap_or_default();
    // SAFETY: called from main before any other thread exists, so nothing
    // reads the environment concurrently.
    unsafe { std::env::set_var("HAPROXY_LOCALPEER", peer) };
    None
}

/// `-W`: the master binds, daemonizes if asked, writes the pidfile (its own
/// pid, which operators signal), and supervises worker processes.
fn run_master(cli: &Cli, config: &Config) -> ExitCode {
    let master_cli = match cli.master_cli.as_deref().map(master_cli::parse_addr) {
        Some(Err(e)) => {
            eprintln!("[ALERT] {e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(a)) => Some(a),
        None => None,
    };
    let opts = master::MasterOpts {
        files: cli.files.clone(),
        worker_args: worker_args(cli),
        cli: master_cli,
        soft_finish: cli.soft_finish.clone(),
        terminate: cli.terminate.clone(),
        systemd: cli.systemd,
    };
    let prepare = || -> anyhow::Result<()> {
        // -Ws stays in the foreground, as HAProxy's: systemd watches the
        // process it started (`daemon` in a packaged haproxy.cfg is common).
        let background =
            (config.global.daemon || cli.daemon) && !cli.foreground && !cli.debug && !cli.systemd;
        if background {
            daemon::daemonize()?;
        }
        if let Some(p) = cli.pidfile.as_ref().or(config.global.pidfile.as_ref()) {
            pidfile::write(p)?;
        }
        Ok(())
    };
    if let Err(e) = prepare() {
        eprintln!("[ALERT] {e:#}");
        return ExitCode::FAILURE;
    }
    match master::run(&opts, config) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("[ALERT] master: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, config: &Config) -> anyhow::Result<()> {
    let g = &config.global;
    let workers = worker::count(g.nbthread);
    let listener_count = config
        .frontends
        .iter()
        .map(|f| f.binds.len())
        .sum::<usize>()
        * workers;

    // Open-file limit: a client and a server fd per connection, as HAProxy's maxsock.
    let mut maxconn = g.maxconn.map(u64::from).unwrap_or(DEFAULT_MAXCONN);
    let mut wanted = limits::fds_needed(maxconn, listener_count as u64);
    let nofile = match g.ulimit_n.map(u64::from) {
        Some(n) => {
            maxconn = ulimit_maxconn(n, g.maxconn, listener_count as u64);
            wanted = n;
            limits::set_nofile(n)
        }
        None => limits::raise_nofile(wanted),
    }
    .context("cannot set the open-file limit")?;
    if nofile.refused {
        match g.strict_limits {
            Some(true) => anyhow::bail!(
                "Cannot raise FD limit to {wanted}, limit is {} (strict-limits: \
                 lower maxconn, or set 'no strict-limits' to run anyway).",
                nofile.hard
            ),
            // As HAProxy: keep maxconn; accepts beyond the limit fail (EMFILE)
            // and the worker backs off until fds free up.
            Some(false) => eprintln!(
                "[WARNING] Cannot raise FD limit to {wanted}, limit is {}.",
                nofile.hard
            ),
            None => {
                let lowered = limits::maxconn_for_fds(nofile.hard, listener_count as u64).max(1);
                eprintln!(
                    "[WARNING] Cannot raise FD limit to {wanted}, limit is {}: the system \
                     refuses. maxconn lowered from {maxconn} to {lowered} ('no strict-limits' \
                     keeps it).",
                    nofile.hard
                );
                maxconn = lowered;
            }
        }
    }

    let use_uring = worker::uring_available();
    if !use_uring {
        eprintln!(
            "[WARNING] io_uring is not available on this system; workers use the epoll driver"
        );
    }
    // Under a master, the sockets are the master's, inherited; they stay
    // open there when this process stops. With -x they are the old
    // process's, asked for before our own stats socket takes its path.
    let under_master = master::under_master();
    let mut inherited = handover::Inherited::from_env().unwrap_or_default();
    if under_master {
        handover::mark_shared();
    }
    if let Some(path) = &cli.xfer {
        match handover::fetch(path) {
            Ok(got) => inherited = got,
            Err(e) => eprintln!(
                "[WARNING] -x {}: cannot take the old process's sockets ({e}); binding new ones",
                path.display()
            ),
        }
    }
    // The stats sockets are bound with the listeners (as root, before the fork),
    // and first: once a traffic port accepts, the socket exists too.
    let stats_sockets = ringlb::admin::bind(g, maxconn as usize)?;
    let listeners = listen::bind_all(config, workers, &mut inherited)?;
    drop(inherited);
    if g.stats_sockets.iter().any(|s| s.expose_fd) {
        handover::register_exportable(listen::duplicates(&listeners)?);
    }

    let background = (g.daemon || cli.daemon) && !cli.foreground && !cli.debug && !under_master;
    if background {
        daemon::daemonize()?;
    }
    if let Some(p) = cli.pidfile.as_ref().or(g.pidfile.as_ref())
        && !under_master
    {
        pidfile::write(p)?;
    }
    if let Some(dir) = &g.chroot {
        // Read what is read from /proc before the root moves away from it.
        listen::kernel_migrates();
        privileges::chroot(dir)?;
    }
    if let Some(warning) = privileges::drop_to(g.uid, g.gid)? {
        eprintln!("[WARNING] {warning}");
    }
    signals::block()?;

    let shared = Shared::build(config, cli.debug, workers);
    let handles = worker::spawn(
        shared.clone(),
        listeners,
        maxconn as usize,
        g.max_rate,
        use_uring,
        &g.cpu_map,
    )
    .context("cannot start workers")?;
    ringlb::check::spawn(shared.clone()).context("cannot start the health checker")?;
    ringlb::resolve::spawn(shared.clone(), config.resolvers.clone())
        .context("cannot start the resolver")?;
    ringlb::admin::spawn(shared.clone(), stats_sockets)?;
    ringlb::log::started(&shared);
    if cli.debug || cli.foreground {
        eprintln!(
            "[NOTICE] ringlb {}: {workers} worker{} ({}), maxconn {maxconn}, open-file limit {}; {}",
            env!("CARGO_PKG_VERSION"),
            if workers == 1 { "" } else { "s" },
            if use_uring { "io_uring" } else { "epoll" },
            nofile.soft,
            listening(config)
        );
    }

    // Serving: tell the master, and stop the processes this one replaces.
    master::notify_ready();
    signals::send_all(&cli.soft_finish, libc::SIGUSR1);
    signals::send_all(&cli.terminate, libc::SIGTERM);

    // Workers return only after a soft stop has drained them.
    std::thread::spawn(move || {
        for h in handles {
            let _ = h.join();
        }
        std::process::exit(0);
    });
    loop {
        match signals::wait() {
            signals::Signal::Terminate | signals::Signal::Interrupt => std::process::exit(0),
            signals::Signal::SoftStop => {
                // Said once, at the first SIGUSR1 (HAProxy's stop_proxy).
                if !shared.soft_stop.swap(true, Ordering::Relaxed) {
                    ringlb::log::stopped(&shared, cli.quiet && !cli.verbose);
                }
                if let Some(after) = g.hard_stop_after {
                    hard_stop_after(after);
                }
            }
        }
    }
}

/// maxconn under `ulimit-n <n>`: derived from the limit when `maxconn` is
/// not set; otherwise kept, with HAProxy's warning when the limit is too low.
/// The start-up line's list of what listens: each frontend's addresses,
/// `(ssl)` after a TLS bind.
fn listening(config: &Config) -> String {
    use ringlb::config::model::Address;
    let mut parts = Vec::new();
    for fe in config.frontends.iter().filter(|f| !f.binds.is_empty()) {
        let addrs: Vec<String> = fe
            .binds
            .iter()
            .map(|b| {
                let a = match &b.address {
                    Address::Inet(sa) => sa.to_string(),
                    Address::Unix(p) => p.display().to_string(),
                    Address::Abstract(n) => format!("abns@{n}"),
                    Address::Fd(n) => format!("fd@{n}"),
                };
                if b.opts.ssl.is_some() {
                    format!("{a} (ssl)")
                } else {
                    a
                }
            })
            .collect();
        parts.push(format!("{} on {}", fe.name, addrs.join(", ")));
    }
    if parts.is_empty() {
        "no listener".into()
    } else {
        format!("listening: {}", parts.join("; "))
    }
}

fn ulimit_maxconn(n: u64, configured: Option<u32>, listeners: u64) -> u64 {
    let Some(maxconn) = configured.map(u64::from) else {
        return limits::maxconn_for_fds(n, listeners).max(1);
    };
    let needed = limits::fds_needed(maxconn, listeners);
    if needed > n {
        eprintln!(
            "[WARNING] FD limit ({n}) too low for maxconn={maxconn}/maxsock={needed}. \
             Please raise 'ulimit-n' to {needed} or more to avoid any trouble."
        );
    }
    maxconn
}

/// `hard-stop-after`: a soft stop that has not finished by then ends the
/// process, connections and all.
fn hard_stop_after(after: std::time::Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        eprintln!("[WARNING] hard-stop-after {after:?} reached during soft stop: exiting");
        std::process::exit(0);
    });
}
