//! Server health beyond checks: slow start, tracking, passive observation.

use super::*;

/// Server options that move its state beside its own checks (`check/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHealth {
    /// `slowstart <t>`: the weight ramps up over this time after coming UP.
    pub slowstart: Option<Duration>,
    /// `track [<backend>/]<server>`: follow that server's state.
    pub track: Option<Track>,
    /// `observe layer4|layer7`: count errors of real traffic.
    pub observe: Option<Observe>,
    /// `error-limit <n>` (default 10): consecutive errors that apply `on-error`.
    pub error_limit: u32,
    /// `on-error` (default `fail-check`).
    pub on_error: OnError,
    /// `on-marked-down shutdown-sessions`.
    pub shutdown_on_down: bool,
    /// `on-marked-up shutdown-backup-sessions`.
    pub shutdown_backups_on_up: bool,
}

impl Default for ServerHealth {
    fn default() -> ServerHealth {
        ServerHealth {
            slowstart: None,
            track: None,
            observe: None,
            error_limit: 10,
            on_error: OnError::FailCheck,
            shutdown_on_down: false,
            shutdown_backups_on_up: false,
        }
    }
}

/// `track [<backend>/]<server>`, as written and as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// The backend named, or `None` for the server's own.
    pub backend: Option<String>,
    /// The server named.
    pub server: String,
    /// (backend index, server index), filled once every backend is known.
    pub resolved: Option<(usize, usize)>,
}

/// What `observe` counts as errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    /// Connection failures and timeouts.
    Layer4,
    /// Those, plus 5xx (not 501/505) and invalid responses.
    Layer7,
}

/// `on-error`: what `error-limit` consecutive errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Only check at `fastinter` for a while.
    FastInter,
    /// Count as one failed check.
    FailCheck,
    /// Leave the server one failed check from DOWN, then count one.
    SuddenDeath,
    /// Mark the server DOWN at once.
    MarkDown,
}
