//! Content switching: which backend a request (or, in `mode tcp`, a
//! connection) goes to.
//!
//! A frontend's `use_backend` rules are evaluated in order, first match wins,
//! else its `default_backend`, else none (the request gets 503, as in
//! HAProxy). A frontend without rules never gets here: its backend is fixed
//! for the connection and nothing is evaluated per request.
//!
//! The samples read the parsed head in place ([`RequestSample`]) or only the
//! connection ([`ConnSample`]); the run-time fetches (`nbsrv`, `srv_is_up`,
//! `be_conn`, `fe_conn`) read the shared atomics. Nothing allocates: fetches
//! that build a value use the worker's [`Scratch`].

use std::cell::OnceCell;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering;

use crate::acl::{Sample, Scratch};
use crate::runtime::{FrontendRt, Shared};

/// The backend for this request or connection: the first `use_backend` rule
/// that matches, else `default_backend`, else `None`.
pub fn choose<S: Sample + ?Sized>(fe: &FrontendRt, s: &S, sc: &mut Scratch) -> Option<usize> {
    let r = &fe.model.routing;
    r.rules
        .iter()
        .find(|rule| rule.cond.as_ref().is_none_or(|c| c.eval(&r.acls, s, sc)))
        .map(|rule| rule.backend)
        .or(fe.backend)
}

/// The client connection's addresses; the local one is looked up on first use.
#[derive(Debug)]
pub struct ConnAddrs {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    fd: RawFd,
    local: OnceCell<Option<SocketAddr>>,
}

impl ConnAddrs {
    /// The addresses of the accepted connection `fd` (open while this lives).
    pub fn new(fd: RawFd, peer: Option<SocketAddr>) -> ConnAddrs {
        ConnAddrs {
            peer,
            fd,
            local: OnceCell::new(),
        }
    }

    /// The address the client connected to (`getsockname`, once).
    pub fn local(&self) -> Option<SocketAddr> {
        *self.local.get_or_init(|| {
            // SAFETY: `fd` is the accepted connection, open while the session runs.
            let borrowed = unsafe { BorrowedFd::borrow_raw(self.fd) };
            socket2::SockRef::from(&borrowed)
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
        })
    }
}

/// The run-time state fetches read, shared by both samples.
fn up_servers(shared: &Shared, b: usize) -> usize {
    shared
        .backends
        .get(b)
        .map_or(0, |be| be.servers.iter().filter(|s| s.usable()).count())
}

fn server_up(shared: &Shared, b: usize, s: usize) -> bool {
    shared
        .backends
        .get(b)
        .and_then(|be| be.servers.get(s))
        .is_some_and(|s| s.available())
}

fn be_conns(shared: &Shared, b: usize) -> u64 {
    shared
        .counters
        .iter()
        .filter_map(|w| w.backends.get(b))
        .map(|c| c.current.load(Ordering::Relaxed))
        .sum()
}

fn fe_conns(shared: &Shared, f: usize) -> u64 {
    shared
        .counters
        .iter()
        .filter_map(|w| w.frontends.get(f))
        .map(|c| c.current.load(Ordering::Relaxed))
        .sum()
}

/// A parsed request head on a client connection.
pub struct RequestSample<'a, 'h, 'b> {
    /// The parsed head (slices of the input buffer).
    pub req: &'a httparse::Request<'h, 'b>,
    /// The connection's addresses.
    pub addrs: &'a ConnAddrs,
    /// The runtime, for the counters fetches read.
    pub shared: &'a Shared,
    /// The frontend index.
    pub fe: usize,
    /// `Content-Length`, when the body has one.
    pub body_size: Option<u64>,
    /// Length of the head.
    pub req_len: u64,
}

impl Sample for RequestSample<'_, '_, '_> {
    fn method(&self) -> &[u8] {
        self.req.method.unwrap_or("").as_bytes()
    }
    fn uri(&self) -> &[u8] {
        self.req.path.unwrap_or("").as_bytes()
    }
    fn version(&self) -> &[u8] {
        match self.req.version {
            Some(0) => b"1.0",
            _ => b"1.1",
        }
    }
    fn req_header_count(&self) -> usize {
        self.req.headers.len()
    }
    fn req_header(&self, i: usize) -> (&[u8], &[u8]) {
        let h = &self.req.headers[i];
        (h.name.as_bytes(), h.value)
    }
    fn src(&self) -> Option<SocketAddr> {
        self.addrs.peer
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.addrs.local()
    }
    fn body_size(&self) -> Option<u64> {
        self.body_size
    }
    fn req_len(&self) -> u64 {
        self.req_len
    }
    fn current_frontend(&self) -> Option<usize> {
        Some(self.fe)
    }
    fn backend_up_servers(&self, b: usize) -> usize {
        up_servers(self.shared, b)
    }
    fn server_is_up(&self, b: usize, s: usize) -> bool {
        server_up(self.shared, b, s)
    }
    fn backend_conns(&self, b: usize) -> u64 {
        be_conns(self.shared, b)
    }
    fn frontend_conns(&self, f: usize) -> u64 {
        fe_conns(self.shared, f)
    }
}

/// A `mode tcp` connection when it is accepted: addresses and counters only
/// (validation refuses rules that read HTTP on such a frontend).
pub struct ConnSample<'a> {
    /// The connection's addresses.
    pub addrs: &'a ConnAddrs,
    /// The runtime.
    pub shared: &'a Shared,
    /// The frontend index.
    pub fe: usize,
}

impl Sample for ConnSample<'_> {
    fn method(&self) -> &[u8] {
        b""
    }
    fn uri(&self) -> &[u8] {
        b""
    }
    fn version(&self) -> &[u8] {
        b""
    }
    fn req_header_count(&self) -> usize {
        0
    }
    fn req_header(&self, _i: usize) -> (&[u8], &[u8]) {
        (b"", b"")
    }
    fn src(&self) -> Option<SocketAddr> {
        self.addrs.peer
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.addrs.local()
    }
    fn is_http(&self) -> bool {
        false
    }
    fn current_frontend(&self) -> Option<usize> {
        Some(self.fe)
    }
    fn backend_up_servers(&self, b: usize) -> usize {
        up_servers(self.shared, b)
    }
    fn server_is_up(&self, b: usize, s: usize) -> bool {
        server_up(self.shared, b, s)
    }
    fn backend_conns(&self, b: usize) -> u64 {
        be_conns(self.shared, b)
    }
    fn frontend_conns(&self, f: usize) -> u64 {
        fe_conns(self.shared, f)
    }
}
