//! The master CLI (`-S <address>[,mode <octal>]`), as HAProxy's: `reload`
//! re-reads the configuration and answers once it is done (`Success=1`, or
//! `Success=0` and why), `show proc` lists the master and its workers.
//! One thread accepts; each command is one short exchange.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Where the master CLI listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterCliAddr {
    /// A Unix socket path, with its mode.
    Unix(PathBuf, Option<u32>),
    /// A TCP address.
    Tcp(std::net::SocketAddr),
}

/// Parses `-S`'s argument: `<path>`, `unix@<path>` or `<ip>:<port>`, then
/// `,mode <octal>`; any other option is refused (it would be ignored).
pub fn parse_addr(arg: &str) -> Result<MasterCliAddr, String> {
    let mut parts = arg.split(',');
    let addr = parts.next().unwrap_or("").trim();
    let mut mode = None;
    for opt in parts {
        let w: Vec<&str> = opt.split_whitespace().collect();
        match w.as_slice() {
            ["mode", m] => {
                mode = Some(
                    u32::from_str_radix(m, 8)
                        .map_err(|_| format!("-S: mode '{m}' is not an octal number"))?,
                );
            }
            _ => return Err(format!("-S: unsupported option '{}'", opt.trim())),
        }
    }
    if let Some(p) = addr.strip_prefix("unix@") {
        return Ok(MasterCliAddr::Unix(p.into(), mode));
    }
    if addr.contains('/') {
        return Ok(MasterCliAddr::Unix(addr.into(), mode));
    }
    let tcp = addr
        .strip_prefix("ipv4@")
        .or_else(|| addr.strip_prefix("ipv6@"))
        .unwrap_or(addr);
    tcp.parse()
        .map(MasterCliAddr::Tcp)
        .map_err(|_| format!("-S: '{addr}' is neither a socket path nor <ip>:<port>"))
}

/// One process as `show proc` lists it.
#[derive(Debug, Clone)]
pub struct ProcEntry {
    /// Its pid.
    pub pid: u32,
    /// "master" or "worker".
    pub kind: &'static str,
    /// HAProxy's relative pid (`#1`, `#2`...); 0 for the master.
    pub relative: u32,
    /// Reloads the master had done when it started.
    pub reloads: u32,
    /// When it started.
    pub started: SystemTime,
    /// A worker that soft-stops after a reload.
    pub old: bool,
}

/// What the master publishes for its CLI, and the CLI's reload requests.
#[derive(Debug, Default)]
pub struct MasterState {
    /// Processes, master first.
    pub procs: Vec<ProcEntry>,
    /// Reloads attempted so far.
    pub attempts: u64,
    /// The outcome of the last attempt: `Ok(())` or why it failed.
    pub last: Option<Result<(), String>>,
}

/// [`MasterState`] with the condition the CLI waits on.
pub type Shared = Arc<(Mutex<MasterState>, Condvar)>;

/// Binds the CLI and serves it on a thread.
pub fn spawn(addr: &MasterCliAddr, state: Shared) -> io::Result<()> {
    match addr {
        MasterCliAddr::Unix(path, mode) => {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path)?;
            if let Some(m) = mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*m))?;
            }
            serve_on_thread(
                std::iter::from_fn(move || Some(l.accept().map(|c| c.0))),
                state,
            )
        }
        MasterCliAddr::Tcp(sa) => {
            let l = TcpListener::bind(sa)?;
            serve_on_thread(
                std::iter::from_fn(move || Some(l.accept().map(|c| c.0))),
                state,
            )
        }
    }
}

/// A connection the CLI can read a line from and answer on.
trait CliConn: io::Read + Write + Sized {
    fn split(&self) -> io::Result<Self>;
}

impl CliConn for std::os::unix::net::UnixStream {
    fn split(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

impl CliConn for std::net::TcpStream {
    fn split(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

fn serve_on_thread<C, I>(incoming: I, state: Shared) -> io::Result<()>
where
    C: CliConn + Send + 'static,
    I: Iterator<Item = io::Result<C>> + Send + 'static,
{
    std::thread::Builder::new()
        .name("ringlb-master-cli".into())
        .spawn(move || {
            for c in incoming.flatten() {
                let _ = serve(c.split().map(BufReader::new), c, &state);
            }
        })?;
    Ok(())
}

/// Longest a `reload` waits for its outcome.
const RELOAD_WAIT: Duration = Duration::from_secs(30);

fn serve<R: io::Read, W: Write>(
    reader: io::Result<BufReader<R>>,
    mut w: W,
    state: &Shared,
) -> io::Result<()> {
    let mut reader = reader?;
    let mut line = String::new();
    // One command per connection, as HAProxy without `prompt`.
    reader.read_line(&mut line)?;
    for cmd in line.split(';') {
        let answer = match cmd.trim() {
            "reload" => reload(state),
            "show proc" => show_proc(state),
            "help" | "" => HELP.to_string(),
            other => format!("Unknown command: '{other}'\n{HELP}"),
        };
        w.write_all(answer.as_bytes())?;
    }
    Ok(())
}

const HELP: &str = "The following commands are valid at this level:\n  \
                    help           : this message\n  \
                    reload         : reload the configuration and replace the worker\n  \
                    show proc      : the master and its workers\n";

/// Asks the master loop for a reload (SIGUSR2 to itself) and waits for it.
fn reload(state: &Shared) -> String {
    let (lock, cv) = &**state;
    let Ok(mut st) = lock.lock() else {
        return "Success=0\n--\nthe master's state is unavailable\n".into();
    };
    let before = st.attempts;
    // SAFETY: kill has no memory effects; the signal goes to this process,
    // whose main thread waits for SIGUSR2 with sigwait.
    unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
    let deadline = Instant::now() + RELOAD_WAIT;
    while st.attempts == before {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return "Success=0\n--\nno outcome within 30 s\n".into();
        }
        st = match cv.wait_timeout(st, left) {
            Ok((g, _)) => g,
            Err(_) => return "Success=0\n--\nthe master's state is unavailable\n".into(),
        };
    }
    match &st.last {
        Some(Ok(())) => "Success=1\n".into(),
        Some(Err(why)) => format!("Success=0\n--\n{why}\n"),
        None => "Success=0\n".into(),
    }
}

fn show_proc(state: &Shared) -> String {
    let Ok(st) = state.0.lock() else {
        return String::new();
    };
    let mut s = String::from("#<PID>          <type>          <reloads>       <uptime>\n");
    for p in &st.procs {
        if p.old {
            continue;
        }
        s += &entry(p);
    }
    if st.procs.iter().any(|p| p.old) {
        s += "# old workers\n";
        for p in st.procs.iter().filter(|p| p.old) {
            s += &entry(p);
        }
    }
    s
}

fn entry(p: &ProcEntry) -> String {
    let up = p.started.elapsed().unwrap_or_default().as_secs();
    let uptime = format!(
        "{}d{:02}h{:02}m{:02}s",
        up / 86400,
        up / 3600 % 24,
        up / 60 % 60,
        up % 60
    );
    format!("{:<16}{:<16}{:<16}{uptime}\n", p.pid, p.kind, p.reloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("/run/m.sock,mode 600"),
            Ok(MasterCliAddr::Unix("/run/m.sock".into(), Some(0o600)))
        );
        assert_eq!(
            parse_addr("unix@m.sock"),
            Ok(MasterCliAddr::Unix("m.sock".into(), None))
        );
        assert_eq!(
            parse_addr("ipv4@127.0.0.1:9999"),
            Ok(MasterCliAddr::Tcp("127.0.0.1:9999".parse().unwrap()))
        );
        assert!(
            parse_addr("/x,level admin")
                .unwrap_err()
                .contains("unsupported option")
        );
        assert!(parse_addr("nowhere").is_err());
    }
}
