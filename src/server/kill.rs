//! `shutdown sessions server <backend>/<server>` (stats socket): ending every
//! session that is using a server, from a thread that owns none of them.
//!
//! Workers share nothing mutable, so the stats socket only publishes a
//! request, lock-free: it bumps the server's kill generation
//! (`ServerAdmin::kills`), then a process-wide one ([`KILLS`]). A session
//! registers its use of a server in its worker's table ([`using`]: the
//! server, its generation at that moment, the client and server sockets) for
//! as long as it relays. Each worker's housekeeping loop (`worker/accept.rs`,
//! every [`TICK`]) calls [`tick`]: when [`KILLS`] moved, every registered use
//! whose server's generation moved has both its sockets shut down, and the
//! session ends as if both peers had gone, logging its bytes as usual and
//! `K` as the cause.
//!
//! The cost per exchange is a slot taken and given back in a worker-local
//! table; nothing is polled per wake-up, and no task or timer is added.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::runtime::{ServerRt, Shared};

/// Bumped once per `shutdown sessions server`, whichever the server: what
/// each worker's [`tick`] looks at.
static KILLS: AtomicU64 = AtomicU64::new(0);

/// How often a worker looks for a kill request ([`tick`]): the longest a
/// killed session may go on.
pub const TICK: Duration = crate::worker::accept::STOP_POLL;

/// Asks every session using `srv` now to end (HAProxy's `shutdown sessions
/// server`). Sessions that start using it later are not affected.
pub fn kill_sessions(srv: &ServerRt) {
    // The server's generation first: a worker that sees the new `KILLS` sees it too.
    srv.admin.kills.fetch_add(1, Ordering::AcqRel);
    KILLS.fetch_add(1, Ordering::AcqRel);
}

/// One registered use of a server.
#[derive(Debug, Clone, Copy)]
struct Use {
    backend: usize,
    server: usize,
    generation: u64,
    fds: [RawFd; 2],
    killed: bool,
}

/// One worker's registered uses.
#[derive(Debug, Default)]
struct Table {
    uses: Vec<Option<Use>>,
    /// Free slots, reused first.
    free: Vec<usize>,
    /// The value of [`KILLS`] the last [`tick`] saw.
    seen: u64,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

/// A session's use of a server, registered until dropped.
#[derive(Debug)]
pub struct Using {
    slot: usize,
}

/// Registers that this session relays between `fds` (client, server) for
/// server `server` of backend `backend`, whose generation is read now.
pub fn using(srv: &ServerRt, backend: usize, server: usize, fds: [RawFd; 2]) -> Using {
    let u = Use {
        backend,
        server,
        generation: srv.admin.kills.load(Ordering::Acquire),
        fds,
        killed: false,
    };
    let slot = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        match t.free.pop() {
            Some(i) => {
                t.uses[i] = Some(u);
                i
            }
            None => {
                t.uses.push(Some(u));
                t.uses.len() - 1
            }
        }
    });
    Using { slot }
}

impl Using {
    /// Ends the use (as dropping it does); whether a kill had shut its
    /// sockets down. Call it as soon as the relay ends, before anything
    /// awaits: a socket number closed while still registered could be shut
    /// down again once another connection has it.
    pub fn release(self) -> bool {
        self.killed()
    }

    /// Whether a kill shut this use's sockets down.
    pub fn killed(&self) -> bool {
        TABLE.with(|t| {
            t.borrow()
                .uses
                .get(self.slot)
                .and_then(|u| u.as_ref())
                .is_some_and(|u| u.killed)
        })
    }
}

impl Drop for Using {
    fn drop(&mut self) {
        // `try_with`: a table already gone (thread exiting) has nothing to free.
        let _ = TABLE.try_with(|t| {
            let mut t = t.borrow_mut();
            t.uses[self.slot] = None;
            t.free.push(self.slot);
        });
    }
}

/// One worker's look at [`KILLS`], every [`TICK`] from its housekeeping loop:
/// when a kill request moved it, shuts down the sockets of every registered
/// use of a server whose generation moved.
pub fn tick(shared: &Shared) {
    let now = KILLS.load(Ordering::Acquire);
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if now == t.seen {
            return;
        }
        t.seen = now;
        for u in t.uses.iter_mut().flatten() {
            let Some(srv) = shared
                .backends
                .get(u.backend)
                .and_then(|b| b.servers.get(u.server))
            else {
                continue;
            };
            if !u.killed && srv.admin.kills.load(Ordering::Acquire) != u.generation {
                u.killed = true;
                for fd in u.fds {
                    // SAFETY: shutdown only changes the state of the socket the
                    // session still owns (it deregisters before closing it);
                    // its pending reads and writes then end, and it closes.
                    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (a, l.accept().unwrap().0)
    }

    #[test]
    fn a_kill_shuts_down_that_servers_sessions_only() {
        let loaded = crate::config::load_sources(&[(
            "t.cfg",
            "listen web\n    mode tcp\n    bind 127.0.0.1:1\n    timeout connect 1s\n    \
             timeout client 1s\n    timeout server 1s\n    server a 127.0.0.1:2\n    \
             server b 127.0.0.1:3\n",
        )])
        .expect("config loads");
        let shared = Shared::build(&loaded.config, false, 1);
        let (c1, s1) = pair();
        let (c2, s2) = pair();
        let on_a = using(
            &shared.backends[0].servers[0],
            0,
            0,
            [c1.as_raw_fd(), s1.as_raw_fd()],
        );
        let on_b = using(
            &shared.backends[0].servers[1],
            0,
            1,
            [c2.as_raw_fd(), s2.as_raw_fd()],
        );
        tick(&shared);
        assert!(!on_a.killed());
        kill_sessions(&shared.backends[0].servers[0]);
        tick(&shared);
        assert!(on_a.killed() && !on_b.killed());
        // Shut down: a read on the peer of each socket sees the end at once.
        let mut buf = [0u8; 1];
        let (mut p1, mut p2) = (s1.try_clone().unwrap(), c1.try_clone().unwrap());
        assert_eq!(p1.read(&mut buf).unwrap(), 0);
        assert_eq!(p2.read(&mut buf).unwrap(), 0);
        // A use that starts after the kill is not affected by it.
        let (c3, s3) = pair();
        let later = using(
            &shared.backends[0].servers[0],
            0,
            0,
            [c3.as_raw_fd(), s3.as_raw_fd()],
        );
        tick(&shared);
        assert!(!later.killed());
        drop((on_a, on_b, later));
        assert!(TABLE.with(|t| t.borrow().uses.iter().all(Option::is_none)));
    }
}
