//! The rise/fall state machine of one checked server, as HAProxy counts it.
//!
//! HAProxy keeps one counter, `health`, from 0 to `rise + fall - 1`. The server
//! is UP while `health >= rise`. A failure while UP decrements it and, once it
//! drops below `rise`, snaps it to 0 (DOWN); a success while DOWN increments it
//! and, once it reaches `rise`, snaps it to the top (fully UP). A server starts
//! at `health = rise`: UP, but one failed check takes it down (HAProxy's default
//! `init-state up`). So a fully UP server goes DOWN after `fall` consecutive
//! failures and a fully DOWN one comes UP after `rise` consecutive successes.

use std::time::Duration;

use crate::config::model::OnError;

/// What one check result did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The counter stayed where it was (already fully UP or fully DOWN).
    None,
    /// The counter moved, the state did not.
    Counted,
    /// The server went DOWN.
    WentDown,
    /// The server came UP.
    WentUp,
}

/// The health counter of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    rise: u64,
    fall: u64,
    health: u64,
}

impl Health {
    /// A freshly started server: UP, going down at the first failure.
    pub fn new(rise: u32, fall: u32) -> Health {
        // The parser refuses 0, but a zero here must not make the arithmetic wrap.
        let (rise, fall) = (u64::from(rise.max(1)), u64::from(fall.max(1)));
        Health {
            rise,
            fall,
            health: rise,
        }
    }

    /// The top of the counter: fully UP.
    fn max(&self) -> u64 {
        self.rise + self.fall - 1
    }

    /// Whether the server is UP.
    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    /// The raw counter, for publishing (saturated to `u32`).
    pub fn counter(&self) -> u32 {
        u32::try_from(self.health).unwrap_or(u32::MAX)
    }

    /// Takes the counter as published (`ServerCheck::health`), which the
    /// agent may have moved since this server's last check.
    pub fn set_counter(&mut self, counter: u32) {
        self.health = u64::from(counter).min(self.max());
    }

    /// Counts one check result.
    pub fn record(&mut self, passed: bool) -> Change {
        let was_up = self.is_up();
        let before = self.health;
        if passed {
            if self.health < self.max() {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.max();
                }
            }
        } else if self.health > 0 {
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        match (was_up, self.is_up()) {
            (false, true) => Change::WentUp,
            (true, false) => Change::WentDown,
            _ if before != self.health => Change::Counted,
            _ => Change::None,
        }
    }

    /// Applies `on-error` once `error-limit` consecutive errors were seen in
    /// real traffic, as HAProxy's `health_adjust`: a failed check, the same
    /// from one check above DOWN (`sudden-death`), or from the bottom of UP
    /// (`mark-down`: DOWN at once); `fastinter` only brings the next check forward.
    pub fn on_error(&mut self, action: OnError) -> Change {
        match action {
            OnError::FastInter => return Change::None,
            OnError::FailCheck => {}
            OnError::SuddenDeath => {
                if self.health > self.rise {
                    self.health = self.rise + 1;
                }
            }
            OnError::MarkDown => self.health = self.rise.min(self.health),
        }
        self.record(false)
    }

    /// HAProxy's "status: 2/3 UP" part: checks left before the state changes
    /// seen from the current state, over the threshold, and the state.
    pub fn status(&self) -> (u64, u64, &'static str) {
        if self.is_up() {
            (self.health - self.rise + 1, self.fall, "UP")
        } else {
            (self.health, self.rise, "DOWN")
        }
    }

    /// Which period applies before the next check (HAProxy's `srv_getinter`):
    /// `inter` while fully UP, `downinter` while fully DOWN, `fastinter` in between.
    pub fn interval(&self, inter: Duration, fastinter: Duration, downinter: Duration) -> Duration {
        if self.health == self.max() {
            inter
        } else if self.health == 0 {
            downinter
        } else {
            fastinter
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTER: Duration = Duration::from_millis(1000);
    const FAST: Duration = Duration::from_millis(100);
    const DOWN: Duration = Duration::from_millis(5000);

    fn interval(h: &Health) -> Duration {
        h.interval(INTER, FAST, DOWN)
    }

    #[test]
    fn starts_up_and_one_failure_takes_it_down() {
        let mut h = Health::new(2, 3);
        assert!(h.is_up());
        assert_eq!(h.status(), (1, 3, "UP"));
        assert_eq!(interval(&h), FAST, "not fully up yet");
        assert_eq!(h.record(false), Change::WentDown);
        assert_eq!(h.status(), (0, 2, "DOWN"));
    }

    #[test]
    fn first_success_makes_it_fully_up() {
        let mut h = Health::new(2, 3);
        assert_eq!(h.record(true), Change::Counted);
        assert_eq!(h.status(), (3, 3, "UP"));
        assert_eq!(interval(&h), INTER);
        assert_eq!(h.record(true), Change::None, "already at the top");
    }

    #[test]
    fn fall_consecutive_failures_take_a_fully_up_server_down() {
        let mut h = Health::new(2, 3);
        h.record(true);
        assert_eq!(h.record(false), Change::Counted);
        assert_eq!(h.status(), (2, 3, "UP"));
        assert_eq!(interval(&h), FAST, "transitioning");
        assert_eq!(h.record(false), Change::Counted);
        assert_eq!(h.status(), (1, 3, "UP"));
        assert_eq!(h.record(false), Change::WentDown);
        assert_eq!(h.status(), (0, 2, "DOWN"));
        assert_eq!(interval(&h), DOWN);
        assert_eq!(h.record(false), Change::None, "already at the bottom");
    }

    #[test]
    fn a_success_in_between_resets_the_fall() {
        let mut h = Health::new(2, 3);
        h.record(true);
        h.record(false);
        h.record(false);
        assert_eq!(h.record(true), Change::Counted);
        assert_eq!(h.status(), (3, 3, "UP"));
        h.record(false);
        h.record(false);
        assert!(h.is_up(), "two failures are not three");
    }

    #[test]
    fn rise_consecutive_successes_bring_it_up() {
        let mut h = Health::new(3, 2);
        h.record(false);
        assert_eq!(h.record(true), Change::Counted);
        assert_eq!(h.status(), (1, 3, "DOWN"));
        assert_eq!(interval(&h), FAST);
        assert_eq!(
            h.record(false),
            Change::Counted,
            "a failure restarts the rise"
        );
        assert_eq!(h.status(), (0, 3, "DOWN"));
        h.record(true);
        h.record(true);
        assert_eq!(h.record(true), Change::WentUp);
        assert_eq!(h.status(), (2, 2, "UP"));
        assert_eq!(interval(&h), INTER);
    }

    #[test]
    fn rise_and_fall_of_one() {
        let mut h = Health::new(1, 1);
        assert_eq!(interval(&h), INTER, "one state only: fully up");
        assert_eq!(h.record(false), Change::WentDown);
        assert_eq!(interval(&h), DOWN);
        assert_eq!(h.record(true), Change::WentUp);
    }

    #[test]
    fn on_error_actions_as_haproxy() {
        let up = || {
            let mut h = Health::new(2, 4);
            h.record(true);
            h
        };
        let mut h = up();
        assert_eq!(h.on_error(OnError::FastInter), Change::None);
        assert_eq!(h.on_error(OnError::FailCheck), Change::Counted);
        assert_eq!(h.status(), (3, 4, "UP"));
        let mut h = up();
        assert_eq!(h.on_error(OnError::SuddenDeath), Change::Counted);
        assert_eq!(h.status(), (1, 4, "UP"), "one failure from DOWN");
        assert_eq!(h.on_error(OnError::SuddenDeath), Change::WentDown);
        let mut h = up();
        assert_eq!(h.on_error(OnError::MarkDown), Change::WentDown);
        assert_eq!(h.on_error(OnError::MarkDown), Change::None, "already DOWN");
    }

    #[test]
    fn huge_thresholds_do_not_overflow() {
        let mut h = Health::new(u32::MAX, u32::MAX);
        h.record(true);
        assert_eq!(h.status(), (u64::from(u32::MAX), u64::from(u32::MAX), "UP"));
        assert_eq!(h.counter(), u32::MAX);
    }
}
