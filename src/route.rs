//! Content switching: which backend a request (or, in `mode tcp`, a
//! connection) goes to.
//!
//! A frontend's `use_backend` rules are evaluated in order, first match wins,
//! else its `default_backend`, else none (the request gets 503, as in
//! HAProxy). A frontend without rules never gets here: its backend is fixed
//! for the connection and nothing is evaluated per request.
//!
//! A [`Stream`] reads the parsed head in place ([`RequestSample`], through
//! `acl::HttparseSample`) or only the connection ([`ConnSample`]); the run-time fetches (`nbsrv`, `srv_is_up`,
//! `be_conn`, `fe_conn`) read the shared atomics. Nothing allocates: fetches
//! that build a value use the worker's [`Scratch`].

use std::cell::OnceCell;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering;

use crate::acl::{HttparseSample, Sample, Scratch};
use crate::runtime::{FrontendRt, Shared};

/// The backend for this request or connection: the first `use_backend` rule
/// that matches, else `default_backend`, else `None`.
pub fn choose<S: Sample + ?Sized>(fe: &FrontendRt, s: &S, sc: &mut Scratch) -> Option<usize> {
    let r = &fe.model.routing;
    let rule = r
        .rules
        .iter()
        .find(|rule| rule.cond.as_ref().is_none_or(|c| c.eval(&r.acls, s, sc)));
    match rule {
        Some(rule) => match &rule.dynamic {
            None => Some(rule.backend),
            Some(d) => dynamic(d, s, sc).or(fe.backend),
        },
        None => fe.backend,
    }
}

/// The backend a `use_backend %[...]` rule names for this request, if one
/// has that name.
fn dynamic<S: Sample + ?Sized>(
    d: &crate::config::model::Dynamic,
    s: &S,
    sc: &mut Scratch,
) -> Option<usize> {
    let mut name = std::mem::take(&mut sc.name);
    name.clear();
    d.name.render(s, &crate::lf::NoVars, sc, &mut name);
    let found = std::str::from_utf8(&name)
        .ok()
        .and_then(|n| d.backends.get(n).copied());
    sc.name = name;
    found
}

/// The client connection's addresses; the local one is looked up on first use.
#[derive(Debug)]
pub struct ConnAddrs {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    fd: RawFd,
    local: OnceCell<Option<SocketAddr>>,
    /// The connection began with a PROXY header (`fc_rcvd_proxy`).
    rcvd_proxy: bool,
    /// What its v2 TLVs said (`fc_pp_*`); boxed: most connections have none.
    pp: Option<Box<crate::proxy_protocol::Tlvs>>,
    /// What its TLS handshake settled (`ssl_fc_*`, `%sslv`, the logs'
    /// `fe~`); shared with the log trace and the PROXY header sent on.
    tls: Option<std::sync::Arc<crate::tls::info::TlsInfo>>,
    /// Accepted on an `ssl` bind whose handshake has not run yet: `ssl_fc`
    /// is already true there, as HAProxy attaches its TLS transport at accept.
    tls_bind: bool,
}

impl ConnAddrs {
    /// The addresses of the accepted connection `fd` (open while this lives).
    pub fn new(fd: RawFd, peer: Option<SocketAddr>) -> ConnAddrs {
        ConnAddrs {
            peer,
            fd,
            local: OnceCell::new(),
            rcvd_proxy: false,
            pp: None,
            tls: None,
            tls_bind: false,
        }
    }

    /// The addresses a PROXY protocol header gave for the connection `fd`:
    /// `peer` for the client, `local` for the address it connected to.
    pub fn proxied(fd: RawFd, peer: SocketAddr, local: SocketAddr) -> ConnAddrs {
        ConnAddrs {
            peer: Some(peer),
            fd,
            local: OnceCell::from(Some(local)),
            rcvd_proxy: false,
            pp: None,
            tls: None,
            tls_bind: false,
        }
    }

    /// Marks the connection as having begun with a PROXY header carrying
    /// `tlvs` (read once, at the header; the fetches only look).
    pub fn received_proxy(mut self, tlvs: Option<Box<crate::proxy_protocol::Tlvs>>) -> ConnAddrs {
        self.rcvd_proxy = true;
        self.pp = tlvs;
        self
    }

    /// Notes what the connection's TLS handshake settled (at accept, once).
    pub fn set_tls(&mut self, tls: Option<&crate::tls::info::TlsInfo>) {
        self.tls = tls.map(|i| std::sync::Arc::new(i.clone()));
    }

    /// Marks a connection accepted on an `ssl` bind, before its handshake
    /// (`tcp-request connection` rules read `ssl_fc` true there).
    pub fn on_tls_bind(mut self, tls_bind: bool) -> ConnAddrs {
        self.tls_bind = tls_bind;
        self
    }

    /// Whether the connection is TLS: its handshake ran, or its bind is `ssl`.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some() || self.tls_bind
    }

    /// What the connection's TLS handshake settled; `None` on plain TCP.
    pub fn tls(&self) -> Option<&std::sync::Arc<crate::tls::info::TlsInfo>> {
        self.tls.as_ref()
    }

    /// Whether the connection began with a PROXY header (`fc_rcvd_proxy`).
    pub fn rcvd_proxy(&self) -> bool {
        self.rcvd_proxy
    }

    /// The AUTHORITY TLV the PROXY header carried (`fc_pp_authority`).
    pub fn pp_authority(&self) -> Option<&[u8]> {
        self.pp.as_ref()?.authority.as_deref()
    }

    /// The UNIQUE_ID TLV the PROXY header carried (`fc_pp_unique_id`).
    pub fn pp_unique_id(&self) -> Option<&[u8]> {
        self.pp.as_ref()?.unique_id.as_deref()
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

/// What a rule may read: the request part `R` (a parsed head, or nothing in
/// `mode tcp`) with the connection's addresses and the run-time state.
pub struct Stream<'a, R> {
    /// The request part; its own addresses are not read.
    pub req: R,
    /// The connection's addresses.
    pub addrs: &'a ConnAddrs,
    /// The runtime, for the counters fetches read.
    pub shared: &'a Shared,
    /// The frontend index.
    pub fe: usize,
    /// The backend, once chosen (`nbsrv`, `be_conn` without argument).
    pub be: Option<usize>,
    /// The connection's variables, where rules set some.
    pub vars: Option<&'a crate::http::rules::Vars>,
    /// Where the request's unique id is kept (`None` in `mode tcp`).
    pub uid: Option<&'a crate::http::unique_id::IdSlot>,
}

/// A parsed request head on a client connection.
pub type RequestSample<'a, 'r, 'h, 'b> = Stream<'a, HttparseSample<'r, 'h, 'b>>;

/// A `mode tcp` connection when it is accepted: addresses and counters only
/// (validation refuses rules that read HTTP on such a frontend).
pub type ConnSample<'a> = Stream<'a, NoRequest>;

/// The request part of a connection that has none.
#[derive(Debug, Clone, Copy)]
pub struct NoRequest;

impl Sample for NoRequest {
    fn is_http(&self) -> bool {
        false
    }
}

impl<R: Sample> Sample for Stream<'_, R> {
    fn method(&self) -> &[u8] {
        self.req.method()
    }
    fn uri(&self) -> &[u8] {
        self.req.uri()
    }
    fn version(&self) -> &[u8] {
        self.req.version()
    }
    fn req_header_count(&self) -> usize {
        self.req.req_header_count()
    }
    fn req_header(&self, i: usize) -> (&[u8], &[u8]) {
        self.req.req_header(i)
    }
    fn src(&self) -> Option<SocketAddr> {
        self.addrs.peer
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.addrs.local()
    }
    fn rcvd_proxy(&self) -> bool {
        self.addrs.rcvd_proxy()
    }
    fn tls(&self) -> Option<&crate::tls::info::TlsInfo> {
        self.addrs.tls().map(|t| &**t)
    }
    fn ssl_fc(&self) -> bool {
        self.addrs.is_tls()
    }
    fn pp_authority(&self) -> Option<&[u8]> {
        self.addrs.pp_authority()
    }
    fn pp_unique_id(&self) -> Option<&[u8]> {
        self.addrs.pp_unique_id()
    }
    fn body_size(&self) -> Option<u64> {
        self.req.body_size()
    }
    fn req_len(&self) -> u64 {
        self.req.req_len()
    }
    fn is_http(&self) -> bool {
        self.req.is_http()
    }
    fn req_payload(&self) -> Option<&[u8]> {
        self.req.req_payload()
    }
    fn res_payload(&self) -> Option<&[u8]> {
        self.req.res_payload()
    }
    fn contents_final(&self) -> bool {
        self.req.contents_final()
    }
    fn current_frontend(&self) -> Option<usize> {
        Some(self.fe)
    }
    fn proxy_auth(&self) -> bool {
        self.shared.frontends[self.fe].http.use_proxy_header
            && !matches!(self.req.uri().first(), Some(b'/' | b'*'))
    }
    fn current_backend(&self) -> Option<usize> {
        self.be
    }
    fn status(&self) -> Option<u16> {
        self.req.status()
    }
    fn res_header_count(&self) -> usize {
        self.req.res_header_count()
    }
    fn res_header(&self, i: usize) -> (&[u8], &[u8]) {
        self.req.res_header(i)
    }
    fn var(&self, name: &str) -> Option<crate::acl::Val<'_>> {
        self.vars?.get(name)
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
    /// Made on first use, while the frontend routes: `%b` is the frontend.
    fn unique_id(&self) -> Option<&[u8]> {
        let slot = self.uid?;
        let fe = &self.shared.frontends[self.fe];
        let spec = fe.model.unique_id.as_ref()?;
        let names = crate::http::unique_id::Names {
            frontend: &fe.name,
            backend: &fe.name,
            server: None,
        };
        Some(crate::http::unique_id::lazy(slot, spec, self, names))
    }
}
