//! Server `maxconn` and the queues in front of full servers (HAProxy's
//! `pendconn`), exact for the whole process.
//!
//! Each limited server has one atomic count of the requests it serves
//! (`cur`), taken with a compare-exchange below `maxconn`; a server without
//! `maxconn` is never counted, so it costs one branch. A request whose
//! server is full waits in a FIFO shared by all workers: the server's own
//! queue when it is sticky to that server (cookie), else the backend's. The
//! queues are short mutex-guarded lists touched only while a server is full.
//!
//! A freed slot is handed over, not released: the releasing worker pops the
//! oldest waiter of that server's queue, else of the backend's, marks it
//! granted (the slot moves to it, `cur` unchanged) and wakes its worker:
//! directly when it is its own, else by the worker's doorbell
//! (`worker/limit.rs`). A waiter counts itself in its queue's length before
//! looking at `cur` once more, and a release gives `cur` back before looking
//! at the lengths (both sequentially consistent), so either the waiter sees
//! the free slot or the release sees the waiter: none is forgotten.
//!
//! HAProxy counts a server's "served" streams, not its connections: idle
//! pooled server connections hold no slot; a slot is held from the moment
//! a request is given a server until its response ends (HTTP) or the
//! session ends (TCP).
//!
//! A server with `minconn` below its `maxconn` has a dynamic limit, as
//! HAProxy's `srv_dynamic_maxconn`: `minconn` while the backend is idle,
//! rising with the backend's concurrent requests (queued ones included,
//! one atomic count touched only in such backends) to `maxconn` when they
//! reach `fullconn` ([`dynamic_limit`]).
//!
//! Server state changes reach the queues through the waiters, which look
//! every [`RECHECK`]: a usable server with room takes from the queues
//! (HAProxy's `pendconn_grab_from_px` when a server comes up), and with
//! `option redispatch` (and no `option persist`) the requests queued for a
//! server that went down leave its queue to wait for any server
//! (`pendconn_redistribute`); without it they wait for it, up to `timeout
//! queue`, as in HAProxy.
//!
//! Not built (HAProxy differs): a connect retry redispatched to another
//! server (`option redispatch`) keeps the slot of the first; a `101`
//! tunnel gives its slot back at the upgrade; when the chosen server is
//! full, the next usable one with room in index order is taken, not the
//! balancer's next choice.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crate::config::model;
use crate::runtime::ServerRt;
use crate::worker::limit::WorkerLimits;

/// A waiter's state: waiting, given up, or granted a slot of a server.
const WAITING: usize = usize::MAX;
const CANCELLED: usize = usize::MAX - 1;

/// One queued request.
#[derive(Debug)]
struct Waiter {
    /// The worker to wake when the slot is granted.
    worker: usize,
    /// [`WAITING`], [`CANCELLED`] or the granted server's index.
    state: AtomicUsize,
    /// The queue's grant count when it joined.
    joined: AtomicU32,
    /// `%sq`/`%bq` as HAProxy counts them once it leaves: the grants the
    /// queue made while it waited, its own included, else plus one.
    pos: AtomicU32,
}

/// A FIFO of waiters, with its length and the longest it has been.
#[derive(Debug, Default)]
pub struct Fifo {
    list: Mutex<VecDeque<Arc<Waiter>>>,
    len: AtomicU32,
    max: AtomicU32,
    /// Grants made, under the lock (HAProxy's `queue_idx`).
    grants: AtomicU32,
}

impl Fifo {
    /// Requests waiting now (`qcur`).
    pub fn len(&self) -> u32 {
        self.len.load(Ordering::SeqCst)
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most that ever waited at once (`qmax`).
    pub fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    fn push(&self, w: Arc<Waiter>) {
        let mut l = self.list.lock().unwrap_or_else(|e| e.into_inner());
        w.joined
            .store(self.grants.load(Ordering::Relaxed), Ordering::Relaxed);
        l.push_back(w);
        let n = self.len.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::Relaxed);
    }

    /// Grants `server` to the oldest waiter still waiting; its worker, if any.
    fn grant_oldest(&self, server: usize) -> Option<usize> {
        let mut l = self.list.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(w) = l.pop_front() {
            if w.state
                .compare_exchange(WAITING, server, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.len.fetch_sub(1, Ordering::SeqCst);
                self.leave(&w);
                self.grants.fetch_add(1, Ordering::Relaxed);
                return Some(w.worker);
            }
        }
        None
    }

    /// Takes `w` out after it gave up (it counted itself out already).
    fn remove(&self, w: &Arc<Waiter>) {
        let mut l = self.list.lock().unwrap_or_else(|e| e.into_inner());
        l.retain(|x| !Arc::ptr_eq(x, w));
        self.leave(w);
    }

    /// Notes `w`'s position for the log as it leaves (under the lock).
    fn leave(&self, w: &Waiter) {
        let since = self.grants.load(Ordering::Relaxed) - w.joined.load(Ordering::Relaxed);
        w.pos.store(since + 1, Ordering::Relaxed);
    }
}

/// One server's limit and queue.
#[derive(Debug, Default)]
pub struct ServerSlots {
    /// `maxconn`; 0: unlimited (nothing is counted). Atomic so that the
    /// stats socket's `set maxconn server` acts on the next request.
    max: AtomicU32,
    /// `minconn` below `maxconn`; 0: the limit is `max`, static.
    min: u32,
    /// `maxqueue`; 0: unlimited.
    maxqueue: u32,
    /// Requests being served, when limited.
    cur: AtomicU32,
    /// Requests waiting for this server only.
    pub queue: Fifo,
}

impl ServerSlots {
    /// `maxconn`, 0 when unlimited (`slim`).
    pub fn limit(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Requests being served now (limited servers only).
    pub fn current(&self) -> u32 {
        self.cur.load(Ordering::Relaxed)
    }

    /// Takes a slot below `max` (the limit now), whatever the queues.
    fn try_take(&self, max: u32) -> bool {
        let mut cur = self.cur.load(Ordering::Relaxed);
        loop {
            if cur >= max {
                return false;
            }
            match self
                .cur
                .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}

/// A backend's servers' limits and its own queue.
#[derive(Debug, Default)]
pub struct BackendQueue {
    /// Per server, in configuration order.
    pub servers: Vec<ServerSlots>,
    /// Requests waiting for any server of the backend.
    pub queue: Fifo,
    /// Whether any server has (or had) `maxconn` (else nothing here is
    /// touched); set for good by `set maxconn server`.
    limited: std::sync::atomic::AtomicBool,
    /// `timeout queue` (default `timeout connect`).
    pub timeout: Duration,
    /// `fullconn`, where a server's limit is dynamic (else 0).
    fullconn: u32,
    /// Requests of the backend now, served or queued (HAProxy's `beconn`):
    /// counted only where `fullconn` is set.
    beconn: AtomicU32,
    /// `option redispatch` without `option persist`: the requests queued for
    /// a server that goes down move to the backend's queue (HAProxy's
    /// `pendconn_redistribute`).
    redistribute: bool,
}

/// HAProxy's `srv_dynamic_maxconn`: a server's limit when the backend has
/// `beconn` requests: `maxconn` from `fullconn` on, else
/// `max(minconn, beconn * maxconn / fullconn)`, at least 1.
pub fn dynamic_limit(minconn: u32, maxconn: u32, beconn: u32, fullconn: u32) -> u32 {
    let max = if beconn >= fullconn || minconn == maxconn {
        maxconn
    } else {
        let scaled = u64::from(beconn) * u64::from(maxconn) / u64::from(fullconn.max(1));
        minconn.max(scaled as u32)
    };
    max.max(1)
}

impl BackendQueue {
    /// The limits of backend `b`, whose `timeout connect` is `connect`.
    pub fn build(b: &model::Backend, connect: Duration) -> Self {
        let servers: Vec<ServerSlots> = b
            .servers
            .iter()
            .map(|s| ServerSlots {
                max: AtomicU32::new(s.maxconn.unwrap_or(0)),
                min: s.minconn.unwrap_or(0),
                maxqueue: s.maxqueue.unwrap_or(0),
                ..ServerSlots::default()
            })
            .collect();
        BackendQueue {
            limited: servers.iter().any(|s| s.limit() > 0).into(),
            servers,
            queue: Fifo::default(),
            timeout: b.timeouts.queue.unwrap_or(connect),
            fullconn: b.settings.fullconn.unwrap_or(0),
            beconn: AtomicU32::new(0),
            redistribute: b.redispatch && !b.persist,
        }
    }

    /// Server `i`'s limit now: `maxconn`, or its dynamic limit.
    pub fn limit_now(&self, i: usize) -> u32 {
        let s = &self.servers[i];
        let max = s.limit();
        if s.min == 0 || self.fullconn == 0 || max == 0 {
            return max;
        }
        let beconn = self.beconn.load(Ordering::SeqCst);
        dynamic_limit(s.min, max, beconn, self.fullconn)
    }

    /// `set maxconn server`: server `i`'s `maxconn` from now on (0: none).
    /// Waiters notice a raised limit within [`RECHECK`] (`grab`). Requests
    /// served meanwhile keep what they took: one taken while unlimited gives
    /// nothing back. (A waiter granted a slot in the instant the limit drops
    /// to 0 keeps one count in `cur` for good: the next limit set is then
    /// one lower in effect; rare enough not to cost the hot path a flag.)
    pub fn set_maxconn(&self, i: usize, max: u32) {
        if max > 0 {
            self.limited.store(true, Ordering::Relaxed);
        }
        self.servers[i].max.store(max, Ordering::Relaxed);
    }

    /// Takes a slot of server `i` below its limit now, whatever the queues.
    fn take_slot(&self, i: usize) -> bool {
        self.servers[i].try_take(self.limit_now(i))
    }

    /// Counts one more request of the backend, where limits are dynamic.
    fn enter(&self) -> bool {
        let counted = self.fullconn > 0;
        if counted {
            self.beconn.fetch_add(1, Ordering::SeqCst);
        }
        counted
    }

    /// Counts a request out (`counted`: [`Self::enter`] counted it).
    fn leave(&self, counted: bool) {
        if counted {
            self.beconn.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether server `i` may take a new request now: unlimited, or below
    /// its limit with nobody queued for it.
    fn try_take(&self, i: usize) -> bool {
        let s = &self.servers[i];
        s.limit() == 0 || (s.queue.is_empty() && self.take_slot(i))
    }

    /// Gives back server `i`'s slot, or hands it to the oldest waiter;
    /// returns the worker to wake.
    fn release(&self, i: usize) -> Option<usize> {
        self.servers[i].cur.fetch_sub(1, Ordering::SeqCst);
        self.hand_over(i)
    }

    /// Takes a slot of server `i` for the oldest waiter, if it has room and
    /// one waits; returns the worker to wake.
    fn hand_over(&self, i: usize) -> Option<usize> {
        let s = &self.servers[i];
        while !s.queue.is_empty() || !self.queue.is_empty() {
            if !self.take_slot(i) {
                return None;
            }
            if let Some(w) = s
                .queue
                .grant_oldest(i)
                .or_else(|| self.queue.grant_oldest(i))
            {
                return Some(w);
            }
            // Every waiter left meanwhile: give the slot back and look again.
            s.cur.fetch_sub(1, Ordering::SeqCst);
        }
        None
    }
}

/// A slot of a server, held while a request is served; handed to the next
/// waiter (or given back) when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    q: &'a BackendQueue,
    limits: &'a WorkerLimits,
    /// The server, when it is limited (`None`: nothing to give back).
    server: Option<usize>,
    /// Counted in the backend's `beconn` (dynamic limits).
    counted: bool,
}

impl Slot<'_> {
    /// Hands the slot over now (as dropping it does).
    pub fn release(self) {}
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.server.take()
            && let Some(w) = self.q.release(i)
        {
            self.limits.ring(w);
        }
        self.q.leave(self.counted);
    }
}

/// Why a request got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// `timeout queue` expired (HAProxy: 503, `sQ`).
    Timeout,
}

/// Where a request waited, for the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Waited {
    /// `%sq`: requests ahead of it in the server's queue.
    pub srv_queue: u32,
    /// `%bq`: requests ahead of it in the backend's queue.
    pub be_queue: u32,
    /// Whether it was queued.
    pub queued: bool,
}

/// A slot on `picked` without waiting, when it is unlimited or has room
/// and nobody queued for it: the whole cost for a backend without `maxconn`.
#[inline]
pub fn take_now<'a>(
    q: &'a BackendQueue,
    limits: &'a WorkerLimits,
    picked: usize,
) -> Option<(usize, Slot<'a>)> {
    // Counted before its server's limit is read, as HAProxy's `beconn`.
    let counted = q.enter();
    if counted && !q.queue.is_empty() {
        // More requests raise the dynamic limits: the room goes to those
        // waiting first.
        for i in (0..q.servers.len()).filter(|&i| q.servers[i].min > 0) {
            while let Some(w) = q.hand_over(i) {
                limits.ring(w);
            }
        }
    }
    let server = if !q.limited.load(Ordering::Relaxed) || q.servers[picked].limit() == 0 {
        None
    } else if q.try_take(picked) {
        Some(picked)
    } else {
        q.leave(counted);
        return None;
    };
    Some((
        picked,
        Slot {
            q,
            limits,
            server,
            counted,
        },
    ))
}

/// Gets a slot for a request that picked server `picked` (`sticky`: by
/// cookie, so it waits for that server only, up to its `maxqueue`). When
/// `picked` is full, a non-sticky request takes another usable server with
/// room (in index order after `picked`), else waits in the backend's queue
/// for the first slot freed, at most `timeout queue`. Returns the server
/// the slot is on.
pub async fn acquire<'a>(
    q: &'a BackendQueue,
    limits: &'a WorkerLimits,
    servers: &[ServerRt],
    picked: usize,
    sticky: bool,
    waited: &mut Waited,
) -> Result<(usize, Slot<'a>), QueueError> {
    if let Some(now) = take_now(q, limits, picked) {
        return Ok(now);
    }
    // Counted while it waits too, as HAProxy's `beconn`.
    let counted = q.enter();
    let slot = |server: usize| Slot {
        q,
        limits,
        server: (q.servers[server].limit() > 0).then_some(server),
        counted,
    };
    let s = &q.servers[picked];
    let mut sticky = sticky && (s.maxqueue == 0 || s.queue.len() < s.maxqueue);
    let deadline = monoio::time::Instant::now() + q.timeout;
    loop {
        let fifo = if sticky {
            &s.queue
        } else {
            let n = servers.len();
            let backup = servers[picked].backup;
            for i in (1..n).map(|k| (picked + k) % n) {
                if servers[i].usable() && servers[i].backup == backup && q.try_take(i) {
                    return Ok((i, slot(i)));
                }
            }
            &q.queue
        };
        // HAProxy logs how many were served before this one while it waited:
        // in a FIFO, those ahead of it now.
        waited.queued = true;
        let me = Arc::new(Waiter {
            worker: limits.id(),
            state: AtomicUsize::new(WAITING),
            joined: AtomicU32::new(0),
            pos: AtomicU32::new(0),
        });
        fifo.push(me.clone());
        let mut leave = Leave {
            q,
            limits,
            fifo,
            me: &me,
            counted,
            armed: true,
        };
        let waiting = Waiting {
            picked,
            sticky,
            deadline,
        };
        let r = wait(q, limits, servers, waiting, fifo, &me).await;
        leave.armed = false;
        let pos = me.pos.load(Ordering::Relaxed);
        if sticky {
            waited.srv_queue = pos;
        } else {
            waited.be_queue = pos;
        }
        match r {
            Ok(g) => return Ok((g, slot(g))),
            // Its server went down: wait for any server, as a new request.
            Err(Ended::Redistributed) => sticky = false,
            Err(Ended::Timeout) => {
                q.leave(counted);
                return Err(QueueError::Timeout);
            }
        }
    }
}

/// How often a waiter looks at the servers' states: a server that came up
/// (or a dynamic limit that rose) takes from the queues, and a sticky
/// server that went down lets its queue go (HAProxy does both when the
/// state changes; here the waiters notice within this period, at no cost
/// to a request that does not wait).
const RECHECK: Duration = Duration::from_millis(100);

/// What a wait is for.
#[derive(Clone, Copy)]
struct Waiting {
    /// The server chosen.
    picked: usize,
    /// Waiting for `picked` only.
    sticky: bool,
    /// When `timeout queue` ends.
    deadline: monoio::time::Instant,
}

/// A wait that ended without a slot.
enum Ended {
    /// `timeout queue`.
    Timeout,
    /// Out of a down server's queue, to wait for any server.
    Redistributed,
}

/// Waits in `fifo` (already joined) for a slot; the server granted.
async fn wait(
    q: &BackendQueue,
    limits: &WorkerLimits,
    servers: &[ServerRt],
    w: Waiting,
    fifo: &Fifo,
    me: &Arc<Waiter>,
) -> Result<usize, Ended> {
    // A slot freed before we were counted in the queue: take it ourselves.
    let own = if w.sticky {
        q.take_slot(w.picked).then_some(w.picked)
    } else {
        (0..servers.len()).find(|&i| q.servers[i].limit() > 0 && q.take_slot(i))
    };
    if let Some(i) = own {
        return Ok(cancel_or_granted(q, fifo, me, Some(i), limits));
    }
    loop {
        let granted = poll_fn(|cx| match me.state.load(Ordering::SeqCst) {
            WAITING => {
                limits.park(cx.waker());
                match me.state.load(Ordering::SeqCst) {
                    WAITING => Poll::Pending,
                    g => Poll::Ready(g),
                }
            }
            g => Poll::Ready(g),
        });
        let tick = (monoio::time::Instant::now() + RECHECK).min(w.deadline);
        if let Ok(g) = crate::deadline::within(tick, granted).await {
            return Ok(g);
        }
        if monoio::time::Instant::now() >= w.deadline {
            return match cancel_or_granted(q, fifo, me, None, limits) {
                usize::MAX => Err(Ended::Timeout),
                g => Ok(g),
            };
        }
        grab(q, limits, servers);
        if w.sticky && q.redistribute && !servers[w.picked].available() {
            return match cancel_or_granted(q, fifo, me, None, limits) {
                usize::MAX => Err(Ended::Redistributed),
                g => Ok(g),
            };
        }
    }
}

/// Servers that are up with room take from the queues, oldest first (HAProxy's
/// `pendconn_grab_from_px` when a server comes up): without it, waiters would
/// wait for a slot freed on a server that was full. A backup server takes
/// only while no active one is usable, as in balancing.
fn grab(q: &BackendQueue, limits: &WorkerLimits, servers: &[ServerRt]) {
    let active_up = servers.iter().any(|s| !s.backup && s.usable());
    for (i, srv) in servers.iter().enumerate() {
        if !srv.usable() || (srv.backup && active_up) {
            continue;
        }
        if q.servers[i].limit() > 0 {
            while let Some(worker) = q.hand_over(i) {
                limits.ring(worker);
            }
            continue;
        }
        // No limit: every waiter may go there now (nothing to count).
        while let Some(worker) = q.servers[i]
            .queue
            .grant_oldest(i)
            .or_else(|| q.queue.grant_oldest(i))
        {
            limits.ring(worker);
        }
    }
}

/// Leaves the queue when the wait is dropped before it ended (its client
/// left: `option abortonclose`), giving back a slot granted meanwhile, which
/// nobody would hold (and so never free) otherwise.
struct Leave<'a> {
    q: &'a BackendQueue,
    limits: &'a WorkerLimits,
    fifo: &'a Fifo,
    me: &'a Arc<Waiter>,
    /// Counted in the backend's `beconn`: counted out when cancelled too.
    counted: bool,
    armed: bool,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let granted = cancel_or_granted(self.q, self.fifo, self.me, None, self.limits);
        if granted != usize::MAX
            && let Some(w) = self.q.release(granted)
        {
            self.limits.ring(w);
        }
        self.q.leave(self.counted);
    }
}

/// Leaves the queue; when a slot was granted meanwhile it wins over `own`
/// (a slot taken by ourselves, then given back). Returns the server kept,
/// `usize::MAX` for none.
fn cancel_or_granted(
    q: &BackendQueue,
    fifo: &Fifo,
    me: &Arc<Waiter>,
    own: Option<usize>,
    limits: &WorkerLimits,
) -> usize {
    match me
        .state
        .compare_exchange(WAITING, CANCELLED, Ordering::SeqCst, Ordering::SeqCst)
    {
        Ok(_) => {
            fifo.len.fetch_sub(1, Ordering::SeqCst);
            fifo.remove(me);
            own.unwrap_or(usize::MAX)
        }
        Err(granted) => {
            if let Some(i) = own
                && let Some(w) = q.release(i)
            {
                limits.ring(w);
            }
            granted
        }
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
