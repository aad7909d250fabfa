//! The generic in-process backend [`TcpBackend`] (a thread per connection,
//! killable like a crashed server), its echo variant, and [`SilentBackend`].

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::*;

/// Counters shared between a backend's threads and the test.
#[derive(Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicUsize,
    /// Connections currently open (accepted and not yet ended).
    pub active: AtomicUsize,
}

type Handler = Arc<dyn Fn(TcpStream) + Send + Sync>;

/// A listener on 127.0.0.1:0 that runs `handler` on a thread per connection.
/// [`TcpBackend::kill`] closes the listener and shuts every live connection down,
/// as a crashed server would (later connects are refused).
pub struct TcpBackend {
    /// The port it listens on.
    pub port: u16,
    /// Connection counters.
    pub counters: Arc<Counters>,
    listener_fd: i32,
    stopped: Arc<AtomicBool>,
    live: Arc<Mutex<HashMap<usize, TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpBackend {
    /// Starts a backend running `handler` for each accepted connection.
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> TcpBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().unwrap().port();
        claim_port(port);
        Self::serve(listener, port, Arc::new(handler))
    }

    /// Runs `handler` for each connection `listener` (bound to `port`) accepts.
    fn serve(listener: TcpListener, port: u16, handler: Handler) -> TcpBackend {
        let counters = Arc::new(Counters::default());
        let stopped = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<HashMap<usize, TcpStream>>> = Arc::new(Mutex::new(HashMap::new()));
        let listener_fd = listener.as_raw_fd();
        let acceptor = {
            let (counters, stopped, live) = (counters.clone(), stopped.clone(), live.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let id = counters.accepted.fetch_add(1, Ordering::SeqCst);
                    counters.active.fetch_add(1, Ordering::SeqCst);
                    // Idle pooled connections from the proxy may stay open for the
                    // whole test: bound the thread's life anyway.
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
                    // A clone lets kill() shut the connection down; it is dropped
                    // when the handler returns, so the socket really closes then.
                    if let Ok(c) = conn.try_clone() {
                        live.lock().unwrap().insert(id, c);
                    }
                    let (handler, counters, live) =
                        (handler.clone(), counters.clone(), live.clone());
                    thread::spawn(move || {
                        handler(conn);
                        live.lock().unwrap().remove(&id);
                        counters.active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                // The listener is dropped (closed) here.
            })
        };
        TcpBackend {
            port,
            counters,
            listener_fd,
            stopped,
            live,
            acceptor: Some(acceptor),
        }
    }

    /// Echo server: returns every byte; on the client's half-close, half-closes too.
    pub fn echo() -> TcpBackend {
        Self::start(echo_until_eof)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.counters.active.load(Ordering::SeqCst)
    }

    /// Stops listening (connects are refused from now on) and shuts down every
    /// connection it holds. Idempotent.
    pub fn kill(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: shutdown(2) on the listener fd owned by the acceptor thread, which
        // is still alive (joined below); it wakes the blocked accept() with an error.
        unsafe {
            libc::shutdown(self.listener_fd, libc::SHUT_RDWR);
        }
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, c) in self.live.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A backend that accepts and reads but never answers (for `timeout server`).
pub struct SilentBackend {
    /// The underlying listener.
    pub tcp: TcpBackend,
}

impl SilentBackend {
    /// Starts it.
    pub fn start() -> SilentBackend {
        SilentBackend {
            tcp: TcpBackend::start(|mut s| {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            }),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.tcp.port
    }
}

impl TcpBackend {
    /// As [`TcpBackend::start`], listening on 127.0.0.1:`port` (a port from
    /// [`free_port`], or the port of a backend killed before): a server that
    /// restarts keeps its address. Panics if the port cannot be bound.
    pub fn start_on(port: u16, handler: impl Fn(TcpStream) + Send + Sync + 'static) -> TcpBackend {
        // std sets SO_REUSEADDR: a port whose old connections are in TIME_WAIT
        // binds. Sockets of a just-killed backend may take a moment to go: retry.
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bind backend on 127.0.0.1:{port}: {e}"),
            }
        };
        claim_port(port);
        Self::serve(listener, port, Arc::new(handler))
    }
}

/// Returns every byte read from `s` until the peer half-closes (then
/// half-closes too) or the connection fails (then returns at once).
pub fn echo_until_eof(mut s: TcpStream) {
    let mut buf = vec![0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown(Shutdown::Write);
}
