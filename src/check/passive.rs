//! `observe layer4|layer7`: health from real traffic, as HAProxy's
//! `health_adjust` counts it.
//!
//! Workers report each connection and response with [`note`]: one relaxed
//! load when the server is not observed, an atomic add on an error. The
//! worker whose error reaches `error-limit` leaves the count in
//! `HealthRt::tripped`; the checker takes it ([`take`]) within
//! [`POLL`] and applies `on-error` to the server's health counter.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::config::model::Observe;
use crate::runtime::ServerRt;

/// How often the checker looks for a tripped error limit while it waits.
pub const POLL: Duration = Duration::from_millis(50);

/// What a worker saw of one connection or response (HAProxy's `HANA_STATUS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Event {
    /// The connection was established.
    L4Ok = 1,
    /// The connection failed or timed out.
    L4Err,
    /// A response that is not a 5xx error (501 and 505 included).
    HttpOk,
    /// A 5xx response other than 501 and 505.
    HttpSts,
    /// A response that could not be parsed.
    HttpRsp,
    /// No response in time.
    HttpReadTimeout,
    /// The server closed before answering.
    HttpBrokenPipe,
}

impl Event {
    /// HAProxy's description, as in "last one was: ...".
    pub fn description(self) -> &'static str {
        match self {
            Event::L4Ok => "L4 successful connection",
            Event::L4Err => "L4 unsuccessful connection",
            Event::HttpOk => "Correct http response",
            Event::HttpSts => "Wrong http response",
            Event::HttpRsp => "Invalid http response",
            Event::HttpReadTimeout => "Read timeout (http)",
            Event::HttpBrokenPipe => "Close from server (http)",
        }
    }

    /// The event for a response status (HAProxy: 5xx but 501 and 505 are errors).
    pub fn for_status(status: u16) -> Event {
        if (500..600).contains(&status) && status != 501 && status != 505 {
            Event::HttpSts
        } else {
            Event::HttpOk
        }
    }

    fn from_u8(v: u8) -> Option<Event> {
        [
            Event::L4Ok,
            Event::L4Err,
            Event::HttpOk,
            Event::HttpSts,
            Event::HttpRsp,
            Event::HttpReadTimeout,
            Event::HttpBrokenPipe,
        ]
        .into_iter()
        .find(|e| *e as u8 == v)
    }

    /// HAProxy's table: `Some(true)` an error, `Some(false)` a success, `None` not counted.
    fn verdict(self, mode: Observe) -> Option<bool> {
        match (self, mode) {
            (Event::L4Ok, Observe::Layer4) => Some(false),
            (Event::L4Ok, Observe::Layer7) => None,
            (Event::L4Err, _) => Some(true),
            (_, Observe::Layer4) => None,
            (Event::HttpOk, Observe::Layer7) => Some(false),
            (_, Observe::Layer7) => Some(true),
        }
    }
}

/// Reports what a worker saw of `srv`.
#[inline]
pub fn note(srv: &ServerRt, event: Event) {
    let h = &srv.health;
    let Some(mode) = h.observe else {
        return;
    };
    match event.verdict(mode) {
        // A success clears the count; the load first keeps the line shared.
        Some(false) if h.errors.load(Ordering::Relaxed) != 0 => {
            h.errors.store(0, Ordering::Relaxed);
        }
        None | Some(false) => {}
        Some(true) => {
            let n = h.errors.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= h.opts.error_limit {
                h.errors.store(0, Ordering::Relaxed);
                h.tripped
                    .store((n.min(0xff_ffff) << 8) | event as u32, Ordering::Release);
            }
        }
    }
}

/// Takes a tripped limit: the count and the last error, for the checker.
pub fn take(srv: &ServerRt) -> Option<(u32, Event)> {
    let v = srv.health.tripped.swap(0, Ordering::Acquire);
    Event::from_u8((v & 0xff) as u8).map(|e| (v >> 8, e))
}

/// HAProxy's check info for a tripped limit.
pub fn info(count: u32, last: Event) -> String {
    format!(
        "Detected {count} consecutive errors, last one was: {}",
        last.description()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testutil::server;
    use crate::check::live::HealthRt;
    use crate::config::model::ServerHealth;

    fn observed(mode: Observe, limit: u32) -> ServerRt {
        let opts = ServerHealth {
            observe: Some(mode),
            error_limit: limit,
            ..ServerHealth::default()
        };
        ServerRt {
            health: HealthRt::new(&opts, true),
            ..server(0, 1)
        }
    }

    #[test]
    fn layer7_counts_consecutive_5xx_and_a_good_answer_resets() {
        let s = observed(Observe::Layer7, 2);
        note(&s, Event::for_status(500));
        note(&s, Event::for_status(200));
        note(&s, Event::for_status(503));
        assert_eq!(take(&s), None, "the 200 reset the count");
        note(&s, Event::L4Ok); // not counted in layer7
        note(&s, Event::for_status(502));
        assert_eq!(take(&s), Some((2, Event::HttpSts)));
        assert_eq!(take(&s), None, "taken once");
        note(&s, Event::for_status(501));
        note(&s, Event::for_status(505));
        note(&s, Event::HttpRsp);
        assert_eq!(take(&s), None, "501 and 505 are not errors");
        assert_eq!(
            info(2, Event::HttpSts),
            "Detected 2 consecutive errors, last one was: Wrong http response"
        );
    }

    #[test]
    fn layer4_ignores_responses() {
        let s = observed(Observe::Layer4, 2);
        note(&s, Event::for_status(500));
        note(&s, Event::for_status(500));
        assert_eq!(take(&s), None);
        note(&s, Event::L4Err);
        note(&s, Event::L4Ok);
        note(&s, Event::L4Err);
        assert_eq!(take(&s), None);
        note(&s, Event::L4Err);
        assert_eq!(take(&s), Some((2, Event::L4Err)));
    }

    #[test]
    fn unchecked_servers_are_not_observed() {
        let opts = ServerHealth {
            observe: Some(Observe::Layer4),
            error_limit: 1,
            ..ServerHealth::default()
        };
        let s = ServerRt {
            health: HealthRt::new(&opts, false),
            ..server(0, 1)
        };
        note(&s, Event::L4Err);
        assert_eq!(take(&s), None);
    }
}
