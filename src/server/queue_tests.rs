//! Unit tests of `queue.rs`: limits, hand-over, dynamic limits.

use super::*;
use std::cell::RefCell;
use std::rc::Rc;

use crate::balance::testutil::farm;
use crate::test_runtime as rt;
use crate::worker::limit::{Limits, doorbell};

/// A backend whose servers have these `maxconn` (0: none) and `maxqueue`.
fn backend(maxes: &[u32], maxqueue: u32, timeout: Duration) -> BackendQueue {
    let servers: Vec<ServerSlots> = maxes
        .iter()
        .map(|&max| ServerSlots {
            max: AtomicU32::new(max),
            maxqueue,
            ..ServerSlots::default()
        })
        .collect();
    BackendQueue {
        limited: servers.iter().any(|s| s.limit() > 0).into(),
        servers,
        queue: Fifo::default(),
        timeout,
        fullconn: 0,
        beconn: AtomicU32::new(0),
        redistribute: false,
    }
}

#[test]
fn dynamic_limit_is_haproxys_formula() {
    // srv_dynamic_maxconn: minconn when idle, beconn*maxconn/fullconn
    // in between (never below minconn), maxconn from fullconn on.
    assert_eq!(dynamic_limit(10, 100, 0, 1000), 10);
    assert_eq!(dynamic_limit(10, 100, 50, 1000), 10); // 5 < minconn
    assert_eq!(dynamic_limit(10, 100, 500, 1000), 50);
    assert_eq!(dynamic_limit(10, 100, 999, 1000), 99);
    assert_eq!(dynamic_limit(10, 100, 1000, 1000), 100);
    assert_eq!(dynamic_limit(10, 100, 5000, 1000), 100);
    assert_eq!(dynamic_limit(100, 100, 0, 1000), 100); // static
    assert_eq!(dynamic_limit(0, 3, 0, 1000), 1); // at least 1
    // Exact integer arithmetic, no overflow on large values.
    assert_eq!(
        dynamic_limit(1, u32::MAX, u32::MAX - 1, u32::MAX),
        u32::MAX - 1
    );
}

#[test]
fn a_dynamic_server_queues_at_minconn_when_the_backend_is_idle() {
    rt().block_on(async {
        let mut q = backend(&[10], 0, Duration::from_millis(30));
        q.servers[0].min = 2;
        q.fullconn = 20;
        let (l, _bells) = limits(1);
        let servers = farm(&[1]);
        let a = take_now(&q, &l[0], 0).expect("first");
        let b = take_now(&q, &l[0], 0).expect("second");
        // beconn 3: 3*10/20 = 1 < minconn 2: the third waits.
        assert!(take_now(&q, &l[0], 0).is_none());
        assert_eq!(q.beconn.load(Ordering::SeqCst), 2);
        let r = acquire(&q, &l[0], &servers, 0, false, &mut Waited::default()).await;
        assert_eq!(r.err(), Some(QueueError::Timeout));
        assert_eq!(
            q.beconn.load(Ordering::SeqCst),
            2,
            "a timed-out waiter is counted out"
        );
        drop((a, b));
        assert_eq!(
            (q.beconn.load(Ordering::SeqCst), q.servers[0].current()),
            (0, 0)
        );
    });
}

#[test]
fn a_busier_backend_raises_the_dynamic_limit() {
    rt().block_on(async {
        let mut q = backend(&[10], 0, Duration::from_millis(30));
        q.servers[0].min = 2;
        q.fullconn = 20;
        let (l, _bells) = limits(1);
        assert_eq!(q.limit_now(0), 2);
        // 12 requests in the backend (elsewhere): 12*10/20 = 6 slots.
        q.beconn.store(12, Ordering::SeqCst);
        assert_eq!(q.limit_now(0), 6);
        // Each request taken counts too: up to maxconn at fullconn.
        let held: Vec<_> = (0..20).map_while(|_| take_now(&q, &l[0], 0)).collect();
        assert_eq!(held.len(), 10);
        assert_eq!(q.beconn.load(Ordering::SeqCst), 22);
        drop(held);
        assert_eq!(q.beconn.load(Ordering::SeqCst), 12);
    });
}

#[allow(clippy::type_complexity)]
fn limits(workers: usize) -> (Vec<Rc<WorkerLimits>>, Vec<std::os::unix::net::UnixStream>) {
    let (shared, bells) = Limits::new(1000, [None], workers).unwrap();
    let w = (0..workers)
        .map(|i| WorkerLimits::new(i, shared.clone()))
        .collect();
    (w, bells)
}

#[test]
fn unlimited_servers_are_never_counted() {
    rt().block_on(async {
        let q = backend(&[0, 0], 0, Duration::from_secs(1));
        let (l, _bells) = limits(1);
        let servers = farm(&[1, 1]);
        let held: Vec<_> = futures_lite(10, || async {
            acquire(&q, &l[0], &servers, 0, false, &mut Waited::default()).await
        });
        assert_eq!(held.len(), 10);
        assert_eq!(q.servers[0].current(), 0);
    });
}

/// Runs `n` acquisitions that must not wait, keeping the slots.
fn futures_lite<'a, F, Fut>(n: usize, mut f: F) -> Vec<(usize, Slot<'a>)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(usize, Slot<'a>), QueueError>>,
{
    (0..n)
        .map(|_| {
            let mut fut = std::pin::pin!(f());
            let waker = std::task::Waker::noop();
            match fut
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
            {
                Poll::Ready(r) => r.expect("a slot"),
                Poll::Pending => panic!("waited"),
            }
        })
        .collect()
}

#[test]
fn a_full_server_sends_others_elsewhere_then_queues_in_order() {
    rt().block_on(async {
        let q: &'static BackendQueue =
            Box::leak(Box::new(backend(&[1, 1], 0, Duration::from_secs(5))));
        let (l, _bells) = limits(1);
        let l: &'static WorkerLimits = Box::leak(Box::new(l[0].clone()));
        let servers: &'static [ServerRt] = Box::leak(farm(&[1, 1]).into_boxed_slice());
        let mut w = Waited::default();
        let (a, sa) = acquire(q, l, servers, 0, false, &mut w).await.unwrap();
        // Server 0 is full: a request that picked it takes server 1.
        let (b, sb) = acquire(q, l, servers, 0, false, &mut w).await.unwrap();
        assert_eq!((a, b), (0, 1));
        assert!(!w.queued);
        // Both full: three requests wait in the backend queue, in order.
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|n| {
                let order = order.clone();
                monoio::spawn(async move {
                    let mut w = Waited::default();
                    let (srv, slot) = acquire(q, l, servers, 0, false, &mut w).await.unwrap();
                    assert_eq!(w.be_queue, n + 1, "grants while it waited, its own too");
                    order.borrow_mut().push((n, srv));
                    monoio::time::sleep(Duration::from_millis(5)).await;
                    drop(slot);
                })
            })
            .collect();
        monoio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!((q.queue.len(), q.queue.max()), (3, 3));
        assert!(order.borrow().is_empty());
        // Freeing server 1 hands its slot to the oldest waiter.
        drop(sb);
        for t in tasks {
            t.await;
        }
        assert_eq!(*order.borrow(), vec![(0, 1), (1, 1), (2, 1)]);
        assert_eq!(q.queue.len(), 0);
        assert_eq!(q.servers[1].current(), 0);
        drop(sa);
        assert_eq!(q.servers[0].current(), 0);
    });
}

#[test]
fn timeout_queue_expires_and_leaves_nothing_behind() {
    rt().block_on(async {
        let q = backend(&[1], 0, Duration::from_millis(30));
        let (l, _bells) = limits(1);
        let servers = farm(&[1]);
        let mut w = Waited::default();
        let held = acquire(&q, &l[0], &servers, 0, false, &mut w)
            .await
            .unwrap();
        let start = std::time::Instant::now();
        let r = acquire(&q, &l[0], &servers, 0, false, &mut w).await;
        assert_eq!(r.err(), Some(QueueError::Timeout));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(w.queued);
        assert_eq!(q.queue.len(), 0);
        assert!(q.queue.list.lock().unwrap().is_empty());
        drop(held);
        assert_eq!(q.servers[0].current(), 0);
    });
}

#[test]
fn sticky_requests_wait_for_their_server_up_to_maxqueue() {
    rt().block_on(async {
        let q = backend(&[1, 1], 1, Duration::from_millis(20));
        let (l, _bells) = limits(1);
        let servers = farm(&[1, 1]);
        let mut w = Waited::default();
        let _a = acquire(&q, &l[0], &servers, 0, true, &mut w).await.unwrap();
        // Sticky to a full server: it waits in that server's queue, not elsewhere.
        let (first, second) = monoio::join!(
            async { acquire(&q, &l[0], &servers, 0, true, &mut Waited::default()).await },
            async {
                monoio::time::sleep(Duration::from_millis(5)).await;
                assert_eq!(q.servers[0].queue.len(), 1);
                // Its queue is at `maxqueue`: the next one is redispatched.
                let mut w2 = Waited::default();
                let r = acquire(&q, &l[0], &servers, 0, true, &mut w2).await;
                (r.map(|(s, _)| s), w2.queued)
            }
        );
        assert_eq!(first.err(), Some(QueueError::Timeout));
        assert_eq!(second, (Ok(1), false));
    });
}

#[test]
fn a_slot_freed_on_another_worker_wakes_the_waiter() {
    let q: &'static BackendQueue = Box::leak(Box::new(backend(&[1], 0, Duration::from_secs(5))));
    let servers: &'static [ServerRt] = Box::leak(farm(&[1]).into_boxed_slice());
    let (shared, mut bells) = Limits::new(1000, [None], 2).unwrap();
    let w1 = WorkerLimits::new(1, shared.clone());
    let mut first = Waited::default();
    let mut fut = std::pin::pin!(acquire(q, &w1, servers, 0, false, &mut first));
    let cx = &mut std::task::Context::from_waker(std::task::Waker::noop());
    let Poll::Ready(Ok((_, held))) = fut.as_mut().poll(cx) else {
        panic!("the first request waits")
    };
    // Worker 0 waits on its own thread; this thread (worker 1) frees the slot.
    let bell = bells.remove(0);
    let waiter = std::thread::spawn(move || {
        rt().block_on(async move {
            let w0 = WorkerLimits::new(0, shared);
            let canceller = monoio::io::Canceller::new();
            let bell = monoio::spawn(doorbell(w0.clone(), bell, canceller.handle()));
            let mut w = Waited::default();
            let (srv, slot) = acquire(q, &w0, servers, 0, false, &mut w).await.unwrap();
            assert!(w.queued);
            drop(slot);
            canceller.cancel();
            bell.await;
            srv
        })
    });
    while q.queue.is_empty() {
        std::thread::yield_now();
    }
    drop(held);
    assert_eq!(waiter.join().unwrap(), 0);
    assert_eq!((q.servers[0].current(), q.queue.len()), (0, 0));
}
