//! What a check found, in HAProxy's vocabulary, and what the checker publishes
//! per server for the workers and the stats page.
//!
//! The status names and descriptions are HAProxy's (`L4CON` "Layer4 connection
//! problem", `L7STS` "Layer7 wrong status", ...): operators grep their logs and
//! stats pages for them, so they must read the same.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::config::model::{Address, Server};

/// The outcome class of one check, as HAProxy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// The socket could not be set up, or failed after the connection (`SOCKERR`).
    SockErr,
    /// The connection was accepted and no more was asked (`L4OK`).
    L4Ok,
    /// The connection did not complete in time (`L4TOUT`).
    L4Timeout,
    /// The connection was refused or the network failed (`L4CON`).
    L4Con,
    /// `check-ssl`: the TLS handshake passed and no more was asked (`L6OK`).
    L6Ok,
    /// `check-ssl`: the TLS handshake did not complete in time (`L6TOUT`).
    L6Timeout,
    /// `check-ssl`: the TLS handshake failed (`L6RSP`).
    L6Rsp,
    /// The server did not answer the HTTP request in time (`L7TOUT`).
    L7Timeout,
    /// The answer was not an HTTP status line (`L7RSP`).
    L7Rsp,
    /// The server answered 2xx or 3xx (`L7OK`).
    L7Ok,
    /// Passed but asking for NOLB: `http-check disable-on-404` saw a 404, or
    /// an `expect ... ok-status L7OKC` matched (`L7OKC`).
    L7OkC,
    /// The server answered another status (`L7STS`).
    L7Sts,
    /// `observe` saw `error-limit` consecutive errors in real traffic (`HANA`).
    Hana,
    /// An agent answer that changes no health (`CHECKED`, "No status change").
    Checked,
    /// `external-check`: the program exited 0 (`PROCOK`).
    ProcOk,
    /// `external-check`: the program exited non-zero or died (`PROCERR`).
    ProcErr,
    /// `external-check`: the program ran out of time and was killed (`PROCTOUT`).
    ProcTimeout,
}

impl CheckStatus {
    /// HAProxy's short name, as on the stats page (`L7STS`).
    pub fn short(self) -> &'static str {
        match self {
            CheckStatus::SockErr => "SOCKERR",
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Timeout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Timeout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Timeout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7OkC => "L7OKC",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::Hana => "HANA",
            CheckStatus::Checked => "CHECKED",
            CheckStatus::ProcOk => "PROCOK",
            CheckStatus::ProcErr => "PROCERR",
            CheckStatus::ProcTimeout => "PROCTOUT",
        }
    }

    /// HAProxy's description, as in its logs (`Layer7 wrong status`).
    pub fn description(self) -> &'static str {
        match self {
            CheckStatus::SockErr => "Socket error",
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Timeout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Timeout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Timeout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7OkC => "Layer7 check conditionally passed",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::Hana => "Health analyze",
            CheckStatus::Checked => "No status change",
            CheckStatus::ProcOk => "External check passed",
            CheckStatus::ProcErr => "External check error",
            CheckStatus::ProcTimeout => "External check timeout",
        }
    }

    /// Whether the server passed.
    pub fn passed(self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok
                | CheckStatus::L6Ok
                | CheckStatus::L7Ok
                | CheckStatus::L7OkC
                | CheckStatus::ProcOk
        )
    }

    /// Whether the status carries a response code (HAProxy prints `code:` for
    /// the statuses that come after a parsed status line, and only for those).
    pub fn has_code(self) -> bool {
        matches!(
            self,
            CheckStatus::L7Ok
                | CheckStatus::L7OkC
                | CheckStatus::L7Sts
                | CheckStatus::ProcOk
                | CheckStatus::ProcErr
                | CheckStatus::ProcTimeout
        )
    }
}

/// One finished check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The outcome class.
    pub status: CheckStatus,
    /// HTTP status code, for [`CheckStatus::has_code`] statuses.
    pub code: u16,
    /// HAProxy's "info": the reason phrase, the system error, the bad line; may be empty.
    pub info: String,
    /// From the start of the connection to the verdict.
    pub duration: Duration,
}

impl CheckReport {
    /// The stats page's short form: `L7STS/500`, `L4CON`.
    pub fn short(&self) -> String {
        if self.status.has_code() {
            format!("{}/{}", self.status.short(), self.code)
        } else {
            self.status.short().to_string()
        }
    }
}

/// A server's health-check settings (resolved once) and the results the
/// checker publishes. Workers never read this: they read `ServerRt::up`.
#[derive(Debug, Default)]
pub struct ServerCheck {
    /// `check` is set: the checker runs for it, in maintenance too, so that a
    /// server enabled again at run time is known to be healthy or not.
    pub enabled: bool,
    /// `inter`: the period while the server is fully UP.
    pub inter: Duration,
    /// `fastinter` (default `inter`): the period while it is changing state.
    pub fastinter: Duration,
    /// `downinter` (default `inter`): the period while it is fully DOWN.
    pub downinter: Duration,
    /// `rise`: consecutive successes to go UP.
    pub rise: u32,
    /// `fall`: consecutive failures to go DOWN.
    pub fall: u32,
    /// Where checks connect: the server's address with `addr` and `port` applied.
    pub address: Option<Address>,
    /// `addr <ip>`: the check's own address, which resolution never moves.
    pub fixed_addr: Option<std::net::IpAddr>,
    /// HAProxy's health counter (0 ..= rise + fall - 1; UP from `rise`), for "UP 2/3".
    pub health: AtomicU32,
    /// The last finished check; `None` before the first one.
    pub last: ArcSwapOption<CheckReport>,
    /// Unix time in milliseconds of the last UP/DOWN change (process start before any).
    pub last_change_ms: AtomicU64,
    /// How many times the server went DOWN.
    pub down_transitions: AtomicU64,
    /// `chkfail`: checks failed while the health counter was above 0 (HAProxy's `failed_checks`).
    pub failed_checks: AtomicU64,
    /// Total milliseconds spent DOWN, not counting the current DOWN period.
    pub downtime_ms: AtomicU64,
    /// `agent-check`: the agent's settings and results (`check/agent.rs`).
    pub agent: Option<super::agent::AgentRt>,
    /// NOLB (HAProxy's "stopping"): the last check passed conditionally
    /// (`http-check disable-on-404`, `ok-status L7OKC`). Out of balancing,
    /// still reached by persistence, as a drained server.
    pub nolb: AtomicBool,
    /// `disable health` (socket or stats page): the checks stop until
    /// `enable health`; the state stays as it is.
    pub paused: AtomicBool,
}

impl ServerCheck {
    /// Resolves a server line's check settings.
    pub fn from_model(s: &Server) -> ServerCheck {
        let address = match &s.address {
            Address::Inet(sa) => {
                let mut sa = *sa;
                if let Some(ip) = s.check_addr {
                    sa.set_ip(ip);
                }
                if let Some(port) = s.check_port {
                    sa.set_port(port);
                }
                Address::Inet(sa)
            }
            other => other.clone(),
        };
        ServerCheck {
            enabled: s.check,
            inter: s.inter,
            fastinter: s.fastinter.unwrap_or(s.inter),
            downinter: s.downinter.unwrap_or(s.inter),
            rise: s.rise,
            fall: s.fall,
            address: Some(address),
            fixed_addr: s.check_addr,
            // HAProxy starts a checked server UP with health = rise: one failure takes it down.
            health: AtomicU32::new(s.rise),
            last: ArcSwapOption::empty(),
            last_change_ms: AtomicU64::new(unix_ms()),
            down_transitions: AtomicU64::new(0),
            failed_checks: AtomicU64::new(0),
            downtime_ms: AtomicU64::new(0),
            agent: s.agent.clone().map(super::agent::AgentRt::new),
            nolb: AtomicBool::new(false),
            paused: AtomicBool::new(false),
        }
    }
}

impl ServerCheck {
    /// Whether checks run now: configured and not paused (HAProxy's
    /// `CHK_ST_ENABLED`).
    pub fn running(&self) -> bool {
        self.enabled && !self.paused.load(Ordering::Relaxed)
    }

    /// The stats page's status of a server whose `up` flag is `up`, as HAProxy
    /// shows it: `UP`, `UP 2/3` (going down), `DOWN`, `DOWN 1/2` (going up),
    /// `no check` (UP, without a running check).
    pub fn state_text(&self, up: bool) -> String {
        let health = u64::from(self.health.load(Ordering::Relaxed));
        let (rise, fall) = (u64::from(self.rise.max(1)), u64::from(self.fall.max(1)));
        let kind = if self.nolb.load(Ordering::Relaxed) {
            "NOLB"
        } else {
            "UP"
        };
        if !self.running() {
            // HAProxy: "no check" stands for UP only; a stopped server with
            // a running agent is "going up" on the (paused) check's counter.
            let agent_on = self.agent.as_ref().is_some_and(|a| a.running());
            return match (up, kind) {
                (true, "UP") => "no check".into(),
                (true, _) => kind.into(),
                (false, _) if agent_on => format!("DOWN {health}/{rise}"),
                (false, _) => "DOWN".into(),
            };
        }
        match (up, health) {
            (true, h) if h >= rise + fall - 1 => kind.into(),
            (true, h) => format!("{kind} {}/{fall}", h.saturating_sub(rise) + 1),
            (false, 0) => "DOWN".into(),
            (false, h) => format!("DOWN {h}/{rise}"),
        }
    }

    /// Milliseconds spent DOWN in all, the current DOWN period included.
    pub fn total_downtime_ms(&self, up: bool) -> u64 {
        let past = self.downtime_ms.load(Ordering::Relaxed);
        if up {
            past
        } else {
            let since = self.last_change_ms.load(Ordering::Relaxed);
            past + unix_ms().saturating_sub(since)
        }
    }
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Origin;

    fn server(address: &str) -> Server {
        Server {
            name: "s".into(),
            address: Address::Inet(address.parse().expect("test address")),
            port_offset: None,
            weight: 1,
            cookie: None,
            check: true,
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: Some(Duration::from_secs(10)),
            rise: 2,
            fall: 3,
            check_port: None,
            check_addr: None,
            backup: false,
            maxconn: None,
            maxqueue: None,
            disabled: false,
            health: Default::default(),
            dns: None,
            unresolved: false,
            source: None,
            minconn: None,
            id: None,
            send_proxy: None,
            check_send_proxy: None,
            ssl: None,
            check_ssl: None,
            agent: None,
            tcpcheck_tls: None,
            origin: Origin::default(),
        }
    }

    #[test]
    fn addr_and_port_redirect_the_check() {
        let mut s = server("10.0.0.1:80");
        assert_eq!(
            ServerCheck::from_model(&s).address,
            Some(Address::Inet("10.0.0.1:80".parse().expect("sa")))
        );
        s.check_port = Some(8080);
        s.check_addr = Some("10.0.0.9".parse().expect("ip"));
        let c = ServerCheck::from_model(&s);
        assert_eq!(
            c.address,
            Some(Address::Inet("10.0.0.9:8080".parse().expect("sa")))
        );
        assert_eq!(
            (c.inter, c.fastinter, c.downinter),
            (
                Duration::from_secs(2),
                Duration::from_secs(2),
                Duration::from_secs(10)
            )
        );
        assert!(c.enabled);
        s.disabled = true;
        assert!(
            ServerCheck::from_model(&s).enabled,
            "checked in maintenance too"
        );
    }

    #[test]
    fn state_texts() {
        let mut s = server("10.0.0.1:80");
        let c = ServerCheck::from_model(&s);
        assert_eq!(c.state_text(true), "UP 1/3", "starts one failure from DOWN");
        c.health.store(4, Ordering::Relaxed);
        assert_eq!(c.state_text(true), "UP");
        c.health.store(2, Ordering::Relaxed);
        assert_eq!(c.state_text(true), "UP 1/3");
        c.health.store(0, Ordering::Relaxed);
        assert_eq!(c.state_text(false), "DOWN");
        c.health.store(1, Ordering::Relaxed);
        assert_eq!(c.state_text(false), "DOWN 1/2");
        s.check = false;
        assert_eq!(ServerCheck::from_model(&s).state_text(true), "no check");
    }

    #[test]
    fn short_forms() {
        let r = CheckReport {
            status: CheckStatus::L7Sts,
            code: 500,
            info: String::new(),
            duration: Duration::ZERO,
        };
        assert_eq!(r.short(), "L7STS/500");
        let r = CheckReport {
            status: CheckStatus::L4Con,
            ..r
        };
        assert_eq!(r.short(), "L4CON");
    }
}
