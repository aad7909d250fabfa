//! A worker-local connection limit (its share of `maxconn`).
//!
//! When the limit is reached the accept loop waits here instead of accepting:
//! new connections stay in the kernel's backlog, as with HAProxy, rather than
//! being accepted and refused.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// A counting limit local to one worker thread.
#[derive(Debug)]
pub struct ConnLimit {
    max: usize,
    used: Cell<usize>,
    waiters: RefCell<Vec<Waker>>,
}

/// Held while a connection is open; releases its slot on drop.
#[derive(Debug)]
pub struct Permit(Rc<ConnLimit>);

impl ConnLimit {
    /// A limit of `max` connections (`usize::MAX` for none).
    pub fn new(max: usize) -> Rc<Self> {
        Rc::new(ConnLimit {
            max: max.max(1),
            used: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        })
    }

    /// Connections currently holding a slot.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Waits until a slot is free, without taking it: an accept loop waits here
    /// so that an idle listener does not hold a slot another one needs.
    pub async fn wait_available(&self) {
        poll_fn(|cx| {
            if self.used.get() < self.max {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Waits for a free slot and takes it.
    pub async fn acquire(self: &Rc<Self>) -> Permit {
        poll_fn(|cx| {
            if self.used.get() < self.max {
                self.used.set(self.used.get() + 1);
                Poll::Ready(Permit(self.clone()))
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let l = &self.0;
        l.used.set(l.used.get() - 1);
        for w in l.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_count_and_release() {
        let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build();
        rt.unwrap().block_on(async {
            let l = ConnLimit::new(2);
            let a = l.acquire().await;
            let _b = l.acquire().await;
            assert_eq!(l.used(), 2);
            drop(a);
            assert_eq!(l.used(), 1);
            let _c = l.acquire().await;
            assert_eq!(l.used(), 2);
        });
    }
}
