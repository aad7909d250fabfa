//! Checks beside the health check: the agent (`agent-check`) and the
//! external program (`option external-check`).

use super::*;

/// `agent-check`: a second check per server, on its own timer, whose one-line
/// answer changes the server's weight, admin state and health (`check/agent.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCheck {
    /// Where the agent listens: the server's address (or `agent-addr`) and `agent-port`.
    pub address: SocketAddr,
    /// `agent-addr` as written: the agent's address never follows the server's resolution.
    pub fixed_addr: Option<std::net::IpAddr>,
    /// `agent-inter` (default 2 s): the period between two agent checks.
    pub inter: Duration,
    /// `agent-send`: sent once connected, before reading the answer.
    pub send: Option<Vec<u8>>,
}

/// `option external-check` with `external-check command` / `path`: each
/// check runs a program (`check/external.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCheck {
    /// `external-check command <cmd>`: run through `PATH` when it has no `/`.
    pub command: String,
    /// `external-check path <path>`: the program's whole `PATH` (empty by
    /// default, as HAProxy 2.6 documents and does).
    pub path: String,
}

/// HAProxy 2.6's `PATH` for external checks without `external-check path`:
/// empty (measured; its documentation says "The default path is \"\"").
pub const DEFAULT_CHECK_PATH: &str = "";
