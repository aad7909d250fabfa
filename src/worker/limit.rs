//! `maxconn`, global, per frontend and per listener (`bind ... maxconn`),
//! exact for the whole process.
//!
//! Each limit is one atomic counter shared by every worker: a connection
//! takes a slot with one compare-exchange just before it is accepted and
//! gives it back with one `fetch_sub` when it ends. Nothing else is shared
//! per connection, and nothing is locked.
//!
//! When the process is full an accept loop does not accept: new connections
//! stay in the kernel backlog, as with HAProxy, and the loop waits until any
//! worker frees a slot. Waking across workers costs nothing while there is
//! room. A loop that finds no room adds itself to its worker's local waiters,
//! marks its worker as sleeping (one flag per worker) and then looks at the
//! counters again, so a slot freed meanwhile is not missed. A release that
//! takes a counter from full to not full clears the sleeping flags and wakes
//! those workers: its own directly, the others by one byte on their doorbell,
//! a socketpair each worker's ring reads ([`doorbell`]). The flags, the
//! counters' release and the look after marking are sequentially consistent,
//! so either the release sees the flag or the waiter sees the freed slot.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use monoio::io::{CancelHandle, CancelableAsyncReadRent};

/// One limit: at most `max` slots taken at once, by all workers together.
/// On its own cache line: workers take and give slots on every connection.
#[derive(Debug)]
#[repr(align(64))]
pub struct Counter {
    max: usize,
    used: AtomicUsize,
}

impl Counter {
    fn new(max: usize) -> Self {
        Counter {
            max: max.max(1),
            used: AtomicUsize::new(0),
        }
    }

    /// Takes a slot if one is free: never goes past `max`.
    fn try_take(&self) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur >= self.max {
                return false;
            }
            match self
                .used
                .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Gives a slot back; true when the counter was full, so that a loop may
    /// be waiting for it.
    fn give_back(&self) -> bool {
        self.used.fetch_sub(1, Ordering::SeqCst) == self.max
    }

    fn has_room(&self) -> bool {
        self.used.load(Ordering::SeqCst) < self.max
    }

    /// Slots taken now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// The process's limits, shared by all workers.
#[derive(Debug)]
pub struct Limits {
    global: Counter,
    /// Per frontend, `None` where it has no `maxconn` (no counter to touch).
    frontends: Vec<Option<Counter>>,
    /// Per listener with `bind ... maxconn`, by its index
    /// ([`ListenerMax::index`]); the others have none.
    listeners: Vec<Counter>,
    /// Per worker: one of its accept loops waits for room.
    sleeping: Vec<AtomicBool>,
    /// Per worker: the end of its doorbell that other workers write to.
    doorbells: Vec<UnixStream>,
    /// Rates of new sessions (`maxconnrate`, `rate-limit sessions`), set
    /// before the workers start.
    pub rates: super::rate::Rates,
}

impl Limits {
    /// The limits of a process of `workers` workers: the global `maxconn` and
    /// each frontend's. Returns the doorbells' other ends, one per worker, to
    /// be read by [`doorbell`] in that worker.
    pub fn new(
        global: usize,
        frontends: impl IntoIterator<Item = Option<usize>>,
        workers: usize,
    ) -> std::io::Result<(Arc<Limits>, Vec<UnixStream>)> {
        let mut doorbells = Vec::with_capacity(workers);
        let mut bells = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (ring, bell) = UnixStream::pair()?;
            // A full doorbell already has a wake-up in it.
            ring.set_nonblocking(true)?;
            doorbells.push(ring);
            bells.push(bell);
        }
        let limits = Limits {
            global: Counter::new(global),
            frontends: frontends.into_iter().map(|m| m.map(Counter::new)).collect(),
            listeners: Vec::new(),
            sleeping: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            doorbells,
            rates: Default::default(),
        };
        Ok((Arc::new(limits), bells))
    }

    /// The global limit.
    pub fn global(&self) -> &Counter {
        &self.global
    }

    /// Frontend `fe`'s limit, if it has one.
    pub fn frontend(&self, fe: usize) -> Option<&Counter> {
        self.frontends[fe].as_ref()
    }

    /// Sets the limits of the listeners with `bind ... maxconn`, before the
    /// workers start: one counter per listener, shared by every worker's
    /// copy of its socket.
    pub fn set_listeners(&mut self, limits: impl IntoIterator<Item = ListenerMax>) {
        let mut limits: Vec<ListenerMax> = limits.into_iter().collect();
        limits.sort_by_key(|l| l.index);
        limits.dedup_by_key(|l| l.index);
        debug_assert!(
            limits
                .iter()
                .enumerate()
                .all(|(i, l)| l.index as usize == i)
        );
        self.listeners = limits.into_iter().map(|l| Counter::new(l.max)).collect();
    }

    /// Listener `li`'s limit (`bind ... maxconn`), if it has one.
    pub fn listener(&self, li: Option<u32>) -> Option<&Counter> {
        li.and_then(|i| self.listeners.get(i as usize))
    }

    fn has_room(&self, fe: usize, li: Option<u32>) -> bool {
        self.global.has_room()
            && self.frontend(fe).is_none_or(Counter::has_room)
            && self.listener(li).is_none_or(Counter::has_room)
    }

    /// Wakes every sleeping worker; `me` directly, the others by doorbell.
    fn wake_sleepers(&self, me: &WorkerLimits) {
        for (w, flag) in self.sleeping.iter().enumerate() {
            if flag.load(Ordering::SeqCst) && flag.swap(false, Ordering::SeqCst) {
                if w == me.id {
                    me.wake_local();
                } else {
                    // WouldBlock: the doorbell is full of wake-ups already.
                    let _ = (&self.doorbells[w]).write(&[1]);
                }
            }
        }
    }
}

/// One worker's view of the limits: the shared counters, the accept loops
/// waiting for room, and the connections it holds open.
#[derive(Debug)]
pub struct WorkerLimits {
    id: usize,
    shared: Arc<Limits>,
    waiters: RefCell<Vec<Waker>>,
    open: Cell<usize>,
}

/// A connection's slots (global, its frontend's and its listener's where
/// limited); given back on drop.
#[derive(Debug)]
pub struct Permit {
    limits: Rc<WorkerLimits>,
    fe: usize,
    /// The listener's index where it has `bind ... maxconn`.
    li: Option<u32>,
}

/// A listener's `bind ... maxconn`: its counter's index among the limited
/// listeners of the process, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerMax {
    /// Index of its counter in [`Limits`], the same in every worker.
    pub index: u32,
    /// At most this many connections at once, all workers together.
    pub max: usize,
}

impl WorkerLimits {
    /// Worker `id`'s handle on the process's limits.
    pub fn new(id: usize, shared: Arc<Limits>) -> Rc<Self> {
        Rc::new(WorkerLimits {
            id,
            shared,
            waiters: RefCell::new(Vec::new()),
            open: Cell::new(0),
        })
    }

    /// The process's limits.
    pub fn shared(&self) -> &Limits {
        &self.shared
    }

    /// Connections of this worker holding slots.
    pub fn open(&self) -> usize {
        self.open.get()
    }

    /// Takes a slot of the global limit and of frontend `fe`'s, or none.
    /// Taken just before an accept that does not wait, so that a listener
    /// with no connection pending holds no slot.
    pub fn try_take(self: &Rc<Self>, fe: usize) -> Option<Permit> {
        self.try_take_on(fe, None)
    }

    /// [`Self::try_take`] for a connection on listener `li` (`Some` where it
    /// has `bind ... maxconn`): its slot too, or none of the three.
    pub fn try_take_on(self: &Rc<Self>, fe: usize, li: Option<u32>) -> Option<Permit> {
        let l = &self.shared;
        if !l.global.try_take() {
            return None;
        }
        let fe_limit = l.frontend(fe);
        let taken = fe_limit.is_none_or(Counter::try_take);
        if !taken || l.listener(li).is_some_and(|c| !c.try_take()) {
            // Give back what was taken; a loop may wait for it.
            let mut was_full = taken && fe_limit.is_some_and(Counter::give_back);
            was_full |= l.global.give_back();
            if was_full {
                l.wake_sleepers(self);
            }
            return None;
        }
        self.open.set(self.open.get() + 1);
        Some(Permit {
            limits: self.clone(),
            fe,
            li,
        })
    }

    /// Waits until frontend `fe` and the process both have a free slot,
    /// without taking it.
    pub async fn room(&self, fe: usize) {
        self.room_on(fe, None).await
    }

    /// [`Self::room`], and listener `li` too where it has `bind ... maxconn`.
    pub async fn room_on(&self, fe: usize, li: Option<u32>) {
        poll_fn(|cx| {
            if self.shared.has_room(fe, li) {
                return Poll::Ready(());
            }
            {
                let mut w = self.waiters.borrow_mut();
                if !w.iter().any(|w| w.will_wake(cx.waker())) {
                    w.push(cx.waker().clone());
                }
            }
            self.shared.sleeping[self.id].store(true, Ordering::SeqCst);
            // A release before the flag was set did not see it: look again.
            if self.shared.has_room(fe, li) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// This worker's index.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Parks a task until this worker is next woken ([`Self::wake_local`]
    /// or its doorbell): a server queue's waiter (`server/queue.rs`).
    pub fn park(&self, waker: &Waker) {
        let mut w = self.waiters.borrow_mut();
        if !w.iter().any(|w| w.will_wake(waker)) {
            w.push(waker.clone());
        }
    }

    /// Wakes worker `w`'s parked tasks: this one's directly, another's by
    /// its doorbell (a server slot was handed to one of its waiters).
    pub fn ring(&self, w: usize) {
        if w == self.id {
            self.wake_local();
        } else {
            // WouldBlock: the doorbell is full of wake-ups already.
            let _ = (&self.shared.doorbells[w]).write(&[1]);
        }
    }

    /// Wakes this worker's loops waiting for room (they look again).
    pub fn wake_local(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let me = &self.limits;
        me.open.set(me.open.get() - 1);
        let l = &me.shared;
        let mut was_full = l.listener(self.li).is_some_and(Counter::give_back);
        was_full |= l.frontend(self.fe).is_some_and(Counter::give_back);
        was_full |= l.global.give_back();
        if was_full {
            l.wake_sleepers(me);
        }
    }
}

/// Reads worker `me`'s doorbell until `cancel`: each ring wakes its loops
/// waiting for room.
pub async fn doorbell(me: Rc<WorkerLimits>, bell: UnixStream, cancel: CancelHandle) {
    // The epoll driver wants a non-blocking socket; io_uring waits on a
    // blocking one in the ring.
    let bell = if monoio::utils::is_legacy() {
        bell.set_nonblocking(true).map(|()| bell)
    } else {
        Ok(bell)
    };
    let mut bell = match bell.and_then(monoio::net::UnixStream::from_std) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "[ALERT] worker {}: cannot register its doorbell: {e}",
                me.id
            );
            return;
        }
    };
    let mut buf = vec![0u8; 64];
    loop {
        let (res, b) = bell.cancelable_read(buf, cancel.clone()).await;
        buf = b;
        match res {
            Ok(n) if n > 0 => me.wake_local(),
            // Cancelled (soft stop), or the other ends are gone.
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn limits(global: usize, fe: Option<usize>, workers: usize) -> Arc<Limits> {
        Limits::new(global, [fe], workers).unwrap().0
    }

    #[test]
    fn permits_count_and_release() {
        let shared = limits(2, None, 1);
        let l = WorkerLimits::new(0, shared.clone());
        let a = l.try_take(0).unwrap();
        let _b = l.try_take(0).unwrap();
        assert!(l.try_take(0).is_none());
        assert_eq!((shared.global().used(), l.open()), (2, 2));
        drop(a);
        assert_eq!((shared.global().used(), l.open()), (1, 1));
        let _c = l.try_take(0).unwrap();
        assert_eq!(shared.global().used(), 2);
    }

    #[test]
    fn the_limit_is_the_whole_process() {
        // Two workers, maxconn 3: one worker may hold all three slots.
        let shared = limits(3, None, 2);
        let (w0, w1) = (
            WorkerLimits::new(0, shared.clone()),
            WorkerLimits::new(1, shared.clone()),
        );
        let held: Vec<_> = (0..3).map(|_| w0.try_take(0).unwrap()).collect();
        assert!(w1.try_take(0).is_none());
        assert!(w0.try_take(0).is_none());
        drop(held);
        assert!(w1.try_take(0).is_some());
    }

    #[test]
    fn a_refused_frontend_slot_gives_the_global_one_back() {
        let shared = limits(10, Some(1), 1);
        let l = WorkerLimits::new(0, shared.clone());
        let _a = l.try_take(0).unwrap();
        assert!(l.try_take(0).is_none());
        assert_eq!(shared.global().used(), 1);
        assert_eq!(shared.frontend(0).unwrap().used(), 1);
    }

    #[test]
    fn a_release_on_another_thread_wakes_the_waiting_worker() {
        let (shared, mut bells) = Limits::new(1, [None], 2).unwrap();
        let w1 = WorkerLimits::new(1, shared.clone());
        let held = w1.try_take(0).unwrap();
        // Worker 0 waits for room on its own thread; worker 1 frees the slot.
        let bell = bells.remove(0);
        let waiter = std::thread::spawn({
            let shared = shared.clone();
            move || {
                let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .enable_timer()
                    .build();
                rt.unwrap().block_on(async move {
                    let w0 = WorkerLimits::new(0, shared);
                    let canceller = monoio::io::Canceller::new();
                    let bell = monoio::spawn(doorbell(w0.clone(), bell, canceller.handle()));
                    w0.room(0).await;
                    let p = w0.try_take(0).expect("a slot after the wake-up");
                    canceller.cancel();
                    bell.await;
                    drop(p);
                })
            }
        });
        // Let worker 0 go to sleep first.
        while !shared.sleeping[0].load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        drop(held);
        waiter.join().unwrap();
    }

    /// Limits with one frontend (no maxconn) and listeners limited to `maxes`.
    fn with_listeners(global: usize, fe: Option<usize>, maxes: &[usize]) -> Arc<Limits> {
        let (mut l, _) = Limits::new(global, [fe], 2).unwrap();
        Arc::get_mut(&mut l)
            .unwrap()
            .set_listeners(maxes.iter().enumerate().map(|(i, &max)| ListenerMax {
                index: i as u32,
                max,
            }));
        l
    }

    #[test]
    fn a_listener_limit_counts_only_its_listener() {
        let shared = with_listeners(10, None, &[2]);
        let (w0, w1) = (
            WorkerLimits::new(0, shared.clone()),
            WorkerLimits::new(1, shared.clone()),
        );
        // Two workers' copies of listener 0 share its two slots.
        let a = w0.try_take_on(0, Some(0)).unwrap();
        let _b = w1.try_take_on(0, Some(0)).unwrap();
        assert!(w0.try_take_on(0, Some(0)).is_none());
        assert!(w1.try_take_on(0, Some(0)).is_none());
        // The refusal gave the global slot back.
        assert_eq!(shared.global().used(), 2);
        // A listener without maxconn still accepts.
        let _c = w0.try_take_on(0, None).unwrap();
        assert_eq!(shared.listener(Some(0)).unwrap().used(), 2);
        drop(a);
        assert_eq!(shared.listener(Some(0)).unwrap().used(), 1);
        assert!(w1.try_take_on(0, Some(0)).is_some());
    }

    #[test]
    fn each_listener_has_its_own_limit() {
        let shared = with_listeners(10, None, &[1, 1]);
        let l = WorkerLimits::new(0, shared.clone());
        let _a = l.try_take_on(0, Some(0)).unwrap();
        assert!(l.try_take_on(0, Some(0)).is_none());
        let _b = l.try_take_on(0, Some(1)).unwrap();
        assert!(l.try_take_on(0, Some(1)).is_none());
    }

    #[test]
    fn a_refused_listener_slot_gives_the_others_back() {
        let shared = with_listeners(10, Some(5), &[1]);
        let l = WorkerLimits::new(0, shared.clone());
        let _a = l.try_take_on(0, Some(0)).unwrap();
        assert!(l.try_take_on(0, Some(0)).is_none());
        assert_eq!(shared.global().used(), 1);
        assert_eq!(shared.frontend(0).unwrap().used(), 1);
        // A full frontend refuses before the listener is counted.
        let shared = with_listeners(10, Some(1), &[5]);
        let l = WorkerLimits::new(0, shared.clone());
        let _a = l.try_take_on(0, None).unwrap();
        assert!(l.try_take_on(0, Some(0)).is_none());
        assert_eq!(shared.listener(Some(0)).unwrap().used(), 0);
        assert_eq!(shared.global().used(), 1);
    }

    #[test]
    fn a_full_listener_has_no_room_until_a_slot_frees() {
        let shared = with_listeners(10, None, &[1]);
        let l = WorkerLimits::new(0, shared.clone());
        let a = l.try_take_on(0, Some(0)).unwrap();
        assert!(!shared.has_room(0, Some(0)));
        assert!(shared.has_room(0, None));
        // A waiter on the full listener sleeps and is woken by the release.
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Flag(woken.clone())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut room = std::pin::pin!(l.room_on(0, Some(0)));
        assert!(room.as_mut().poll(&mut cx).is_pending());
        assert!(shared.sleeping[0].load(Ordering::SeqCst));
        drop(a);
        assert!(woken.load(Ordering::SeqCst), "the release woke no waiter");
        assert!(room.as_mut().poll(&mut cx).is_ready());
    }
}
