//! `shutdown sessions server <backend>/<server>` (stats socket): ending every
//! session that is using a server, from a thread that owns none of them.
//!
//! Workers share nothing mutable, so the stats socket only publishes a
//! request, lock-free: it bumps the server's kill generation
//! (`ServerAdmin::kills`), then a process-wide one ([`KILLS`]). A session
//! using a server runs that part of its work through [`unless_killed`], which
//! remembers the server's generation when it starts and ends the work (its
//! future is dropped, which closes both connections, as a timeout does) once
//! the generation has moved.
//!
//! What wakes a session that is waiting on a silent peer: each worker that has
//! sessions being watched runs one small task ([`ticker`]) that looks at
//! [`KILLS`] every [`TICK`] and, when it moved, wakes every watched session of
//! that worker; each one checks its own server and goes back to sleep if the
//! request was for another. So a kill takes effect within one tick, costs
//! nothing per I/O, and a worker with nothing to watch has no timer at all
//! (the task ends when its table is empty and starts again with the next
//! session). Per watched exchange: two atomic loads per wake-up, a slot in a
//! worker-local table for its waker.
//!
//! Wakers are never woken from another thread (monoio's are not meant to
//! be), which is why the socket does not wake sessions itself.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::runtime::ServerRt;

/// Bumped once per `shutdown sessions server`, whichever the server: what the
/// workers' tickers watch.
static KILLS: AtomicU64 = AtomicU64::new(0);

/// How often a worker with watched sessions looks for a kill request: the
/// longest a killed session may go on.
pub const TICK: Duration = Duration::from_millis(100);

/// The work of a session ended by [`kill_sessions`] (logged with HAProxy's `K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Killed;

/// Asks every session using `srv` now to end (HAProxy's `shutdown sessions
/// server`). Sessions that start using it later are not affected.
pub fn kill_sessions(srv: &ServerRt) {
    // The server's generation first: a worker that sees the new `KILLS` sees it too.
    srv.admin.kills.fetch_add(1, Ordering::AcqRel);
    KILLS.fetch_add(1, Ordering::AcqRel);
}

/// Runs `work` (a session's use of `srv`) to its end, unless the server's
/// sessions are killed first: then `work` is dropped and `Err(Killed)`. The
/// server's generation is taken now, when the call is made.
pub fn unless_killed<'a, F: Future + 'a>(
    srv: &'a ServerRt,
    work: F,
) -> impl Future<Output = Result<F::Output, Killed>> + 'a {
    let watch = Watch {
        srv,
        generation: srv.admin.kills.load(Ordering::Acquire),
        slot: None,
    };
    async move {
        monoio::select! {
            // The work first: a watch never delays it.
            biased;
            out = work => Ok(out),
            () = watch => Err(Killed),
        }
    }
}

/// Ready once `srv`'s kill generation is no longer `generation`.
struct Watch<'a> {
    srv: &'a ServerRt,
    generation: u64,
    /// Its waker's place in this worker's [`TABLE`], once registered.
    slot: Option<usize>,
}

impl Future for Watch<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // `KILLS` before the server's generation: if this load already sees
        // a kill, the server's bump is visible below; if not, the ticker
        // started with this value will see the kill and wake us.
        let kills = KILLS.load(Ordering::Acquire);
        if this.srv.admin.kills.load(Ordering::Acquire) != this.generation {
            return Poll::Ready(());
        }
        TABLE.with(|t| t.borrow_mut().register(&mut this.slot, cx.waker(), kills));
        Poll::Pending
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            // `try_with`: a table already gone (thread exiting) has nothing to free.
            let _ = TABLE.try_with(|t| t.borrow_mut().release(slot));
        }
    }
}

/// One worker's watched sessions.
#[derive(Default)]
struct Table {
    /// Wakers by slot; `None` for a free slot.
    wakers: Vec<Option<Waker>>,
    /// Free slots, reused first.
    free: Vec<usize>,
    /// Slots in use.
    live: usize,
    /// Whether this worker's [`ticker`] runs.
    ticking: bool,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

impl Table {
    /// Records (or refreshes) the waker of the watch in `slot`; starts the
    /// worker's ticker, from `kills`, when it is not running.
    fn register(&mut self, slot: &mut Option<usize>, waker: &Waker, kills: u64) {
        match *slot {
            Some(i) => match &mut self.wakers[i] {
                Some(w) if w.will_wake(waker) => {}
                w => *w = Some(waker.clone()),
            },
            None => {
                let i = self.free.pop().unwrap_or_else(|| {
                    self.wakers.push(None);
                    self.wakers.len() - 1
                });
                self.wakers[i] = Some(waker.clone());
                self.live += 1;
                *slot = Some(i);
            }
        }
        if !self.ticking {
            self.ticking = true;
            monoio::spawn(ticker(kills));
        }
    }

    /// Frees a slot (its watch is dropped).
    fn release(&mut self, slot: usize) {
        self.wakers[slot] = None;
        self.free.push(slot);
        self.live -= 1;
    }

    /// After a tick: wakes every watch if `KILLS` moved; false when nothing is
    /// watched any more (the ticker then stops).
    fn tick(&mut self, moved: bool) -> bool {
        if moved {
            for w in self.wakers.iter().flatten() {
                w.wake_by_ref();
            }
        }
        if self.live == 0 {
            self.ticking = false;
            // Give back the memory of a past peak.
            self.wakers.clear();
            self.free.clear();
            return false;
        }
        true
    }
}

/// One worker's look at [`KILLS`] every [`TICK`], while it has watches.
async fn ticker(mut seen: u64) {
    loop {
        monoio::time::sleep(TICK).await;
        let now = KILLS.load(Ordering::Acquire);
        let go_on = TABLE.with(|t| t.borrow_mut().tick(now != seen));
        seen = now;
        if !go_on {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::config::model::Address;
    use crate::runtime::ServerAdmin;

    fn server() -> ServerRt {
        ServerRt {
            name: "s".into(),
            address: Address::Inet("127.0.0.1:1".parse().unwrap()),
            configured_weight: 1,
            weight: 1.into(),
            up: true.into(),
            active: 0.into(),
            backup: false,
            check: Default::default(),
            admin: ServerAdmin::new(1, false),
        }
    }

    /// Runs `f` on a monoio runtime with timers, as a worker's.
    fn block_on(f: impl Future<Output = ()>) {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(f);
    }

    #[test]
    fn a_kill_ends_the_work_of_that_server_only() {
        let (a, b) = (server(), server());
        block_on(async {
            let forever = || std::future::pending::<()>();
            let done = Rc::new(Cell::new(0));
            let (da, db) = (done.clone(), done.clone());
            let (a, b) = (&a, &b);
            let on_a = async move {
                let r = unless_killed(a, forever()).await;
                da.set(da.get() + 1);
                r
            };
            let on_b = async move {
                let r = unless_killed(b, async {
                    monoio::time::sleep(TICK * 5).await;
                    7
                })
                .await;
                db.set(db.get() + 10);
                r
            };
            let kill = async {
                monoio::time::sleep(TICK).await;
                kill_sessions(a);
            };
            let (ra, rb, ()) = monoio::join!(on_a, on_b, kill);
            assert_eq!(ra, Err(Killed), "the work on the killed server ends");
            assert_eq!(rb, Ok(7), "another server's work goes on to its end");
            assert_eq!(done.get(), 11);
            // Work started after the kill is not affected by it.
            let later = unless_killed(a, async { 1 }).await;
            assert_eq!(later, Ok(1));
            // Nothing watched any more: the ticker stops.
            monoio::time::sleep(TICK * 3).await;
            assert!(!TABLE.with(|t| t.borrow().ticking));
            assert_eq!(TABLE.with(|t| t.borrow().live), 0);
        });
    }

    #[test]
    fn a_kill_before_the_first_poll_is_seen() {
        let a = server();
        block_on(async {
            let work = unless_killed(&a, std::future::pending::<()>());
            kill_sessions(&a);
            // The generation was taken when the watch was made: already killed.
            assert_eq!(work.await, Err(Killed));
        });
    }
}
