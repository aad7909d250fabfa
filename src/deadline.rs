//! Timers for I/O deadlines, kept on the heap.
//!
//! monoio's timer entry is aligned to 128 bytes. Held inline, it aligns and
//! pads every future that waits on a socket: a read with a deadline took 1,408
//! bytes and an HTTP exchange 8.5 KB, copied whole into its box for every
//! request. Boxed, the timer costs one small allocation instead.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use monoio::time::{Instant, Sleep};

/// Now, for deadlines and idle stamps: read from `CLOCK_MONOTONIC_COARSE`
/// (the monotonic clock as of its last tick) and never early, at most two
/// ticks (8 ms at HZ=250) late. A precise read costs ~30 ns of TSC and
/// conversion on a VM against ~5 ns, and an HTTP request made eight of them
/// for its deadlines alone (2.7 % of keep-alive TLS CPU). Timings that are
/// logged or compared with a precise `Instant::now()` stay precise.
pub fn coarse_now() -> Instant {
    use std::sync::OnceLock;
    use std::time::Duration;
    // The same clock as `Instant` (CLOCK_MONOTONIC), so one offset, taken
    // once, maps coarse readings onto `Instant`s.
    static BASE: OnceLock<(std::time::Instant, Duration, Duration)> = OnceLock::new();
    let (fine, coarse, tick) = *BASE.get_or_init(|| {
        let coarse = coarse_clock(libc::clock_gettime);
        let tick = coarse_clock(libc::clock_getres);
        (std::time::Instant::now(), coarse, tick)
    });
    // A coarse reading lags the true time by less than a tick, at the base
    // as now: adding one tick makes the result never early.
    let since = coarse_clock(libc::clock_gettime).saturating_sub(coarse);
    Instant::from_std(fine + since + tick)
}

/// `CLOCK_MONOTONIC_COARSE`'s time (`clock_gettime`) or tick (`clock_getres`).
fn coarse_clock(
    f: unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int,
) -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call, and the clock
    // id is one Linux has had since 2.6.32.
    unsafe { f(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// A boxed timer that completes at `deadline`.
pub fn timer(deadline: Instant) -> Pin<Box<Sleep>> {
    Box::pin(monoio::time::sleep_until(deadline))
}

/// Runs `fut` until `deadline`; past it, `fut` is dropped (as
/// `monoio::time::timeout_at`, with the timer boxed).
pub fn within<F: Future>(deadline: Instant, fut: F) -> Within<F> {
    Within {
        fut,
        timer: timer(deadline),
    }
}

pin_project_lite::pin_project! {
    /// [`within`]'s future: a plain struct, so the wrapped future is stored
    /// once (an `async fn` would hold it both as argument and as awaited value).
    pub struct Within<F> {
        #[pin]
        fut: F,
        timer: Pin<Box<Sleep>>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        this.timer.as_mut().poll(cx).map(|()| Err(Elapsed))
    }
}

/// A timer kept across many waits, for deadlines that mostly move later (an
/// idle timeout pushed back by activity, each request's or read's deadline).
/// A wait for a deadline later than the timer's leaves the timer alone and,
/// when it fires, pushes it to the deadline then wanted; only a deadline
/// earlier than the timer's resets it at once. So waits cost no timer of
/// their own: a boxed timer armed and disarmed per read and per write was a
/// sixth of an HTTP request's userspace instructions.
#[derive(Default)]
pub struct LazyTimer {
    // Made on the first wait, then kept.
    timer: Option<Pin<Box<Sleep>>>,
}

impl LazyTimer {
    /// A timer not yet armed.
    pub fn new() -> Self {
        LazyTimer::default()
    }

    /// Drops the timer, if one was made: a quiet connection keeps no
    /// 640-byte timer for a wait that is not coming (the next wait makes one).
    pub fn release(&mut self) {
        self.timer = None;
    }

    /// Completes once `at` has passed.
    pub async fn expired_at(&mut self, at: Instant) {
        let timer = match &mut self.timer {
            Some(t) => {
                if t.deadline() > at {
                    t.as_mut().reset(at);
                }
                t
            }
            None => self.timer.insert(timer(at)),
        };
        loop {
            timer.as_mut().await;
            if Instant::now() >= at {
                return;
            }
            timer.as_mut().reset(at);
        }
    }

    /// Completes once `deadline()` has passed, read again each time the
    /// timer fires, so that it may move while the wait goes on.
    pub async fn expired(&mut self, deadline: impl Fn() -> Instant) {
        // `expired_at`'s loop, flat: one future level keeps the reads that
        // wait on it as small as before (they are moved per read).
        let at = deadline();
        let timer = match &mut self.timer {
            Some(t) => {
                if t.deadline() > at {
                    t.as_mut().reset(at);
                }
                t
            }
            None => self.timer.insert(timer(at)),
        };
        loop {
            timer.as_mut().await;
            let at = deadline();
            if Instant::now() >= at {
                return;
            }
            timer.as_mut().reset(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    use crate::test_runtime as rt;

    #[test]
    fn coarse_now_is_never_early_and_at_most_two_ticks_late() {
        for _ in 0..2000 {
            let before = Instant::now();
            let c = coarse_now();
            let after = Instant::now();
            assert!(c >= before, "early by {:?}", before - c);
            assert!(
                c - after <= Duration::from_millis(25),
                "late by {:?}",
                c - after
            );
        }
    }

    #[test]
    fn within_returns_the_output_or_elapsed() {
        rt().block_on(async {
            let soon = Instant::now() + Duration::from_secs(5);
            assert_eq!(within(soon, async { 7 }).await, Ok(7));
            let past = Instant::now() + Duration::from_millis(10);
            let never = monoio::time::sleep(Duration::from_secs(60));
            assert_eq!(within(past, never).await, Err(Elapsed));
        });
    }

    #[test]
    fn a_future_with_a_deadline_is_not_padded_by_the_timer() {
        rt().block_on(async {
            let inline = std::mem::size_of::<monoio::time::Timeout<std::future::Ready<u8>>>();
            let f = within(Instant::now(), std::future::ready(1u8));
            assert!(
                std::mem::align_of_val(&f) <= 16,
                "still aligned to the timer"
            );
            let boxed = std::mem::size_of_val(&f);
            assert!(boxed < inline / 2, "{boxed} vs {inline}");
        });
    }

    #[test]
    fn a_lazy_timer_follows_its_deadline_as_it_moves() {
        rt().block_on(async {
            let start = Instant::now();
            let deadline = std::cell::Cell::new(start + Duration::from_millis(20));
            let mut t = LazyTimer::new();
            // Pushed back while the wait goes on: the wait lasts until the new deadline.
            let wait = t.expired(|| deadline.get());
            let push = async {
                monoio::time::sleep(Duration::from_millis(5)).await;
                deadline.set(start + Duration::from_millis(60));
            };
            monoio::join!(wait, push);
            assert!(start.elapsed() >= Duration::from_millis(60));
            // Already past: at once.
            let before = Instant::now();
            t.expired(|| deadline.get()).await;
            assert!(before.elapsed() < Duration::from_millis(20));
        });
    }

    #[test]
    fn a_lazy_timer_honours_an_earlier_deadline_at_once() {
        rt().block_on(async {
            let mut t = LazyTimer::new();
            let start = Instant::now();
            // A far deadline arms the timer; the wait is given up.
            let far = within(
                start + Duration::from_millis(10),
                t.expired_at(start + Duration::from_secs(60)),
            );
            assert_eq!(far.await, Err(Elapsed));
            // A nearer one is not held up by the far one armed before.
            t.expired_at(start + Duration::from_millis(40)).await;
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(40) && took < Duration::from_secs(5),
                "{took:?}"
            );
            // A later one after an earlier one fired: waits for the later one.
            let next = Instant::now() + Duration::from_millis(30);
            t.expired_at(next).await;
            assert!(Instant::now() >= next);
        });
    }
}
