//! What an ACL reads: the [`Sample`] trait (the request, the connection and the
//! run-time state, implemented by the session), the typed value [`Val`] that
//! fetches and converters pass along, the per-worker [`Scratch`] buffers that
//! keep evaluation allocation-free, and [`TestSample`], an owned implementation
//! for tests and benches.
//!
//! Headers are read by index (`req_header(i)`), so a parsed `httparse` head
//! implements the trait by handing out slices of its own buffer; iterating in
//! both directions (HAProxy's negative occurrences) costs nothing.

use std::net::{IpAddr, SocketAddr};

/// A typed sample value, borrowed from the request, the ACL or a scratch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val<'a> {
    /// A boolean (`ssl_fc`, `srv_is_up`, `always_true`).
    Bool(bool),
    /// A signed integer (ports, counts, lengths, `hdr_val`).
    Int(i64),
    /// Bytes (paths, header values, cookies).
    Str(&'a [u8]),
    /// An address (`src`, `dst`, `hdr_ip`).
    Ip(IpAddr),
}

/// Everything a fetch may read, implemented by the session per request.
///
/// Methods with a default answer "absent"; an implementation overrides what it has.
/// No method allocates: byte slices point into the request buffer.
pub trait Sample {
    // The defaults are a sample without a request or connection (startup,
    // a response alone, a TCP payload): each implementor says what it has.
    /// The request method, as received (`GET`).
    fn method(&self) -> &[u8] {
        b""
    }
    /// The request target, as received (`/a/b?x=1` or `http://h/a`).
    fn uri(&self) -> &[u8] {
        b""
    }
    /// The HTTP version without the `HTTP/` prefix (`1.1`).
    fn version(&self) -> &[u8] {
        b""
    }
    /// How many request header lines there are.
    fn req_header_count(&self) -> usize {
        0
    }
    /// Request header line `i` as (name, value).
    fn req_header(&self, _i: usize) -> (&[u8], &[u8]) {
        (b"", b"")
    }
    /// The client's address and port.
    fn src(&self) -> Option<SocketAddr> {
        None
    }
    /// The address and port the client connected to.
    fn dst(&self) -> Option<SocketAddr> {
        None
    }
    /// The declared body size (`Content-Length`), when known.
    fn body_size(&self) -> Option<u64> {
        None
    }
    /// Bytes of the request received so far (`req.len`).
    fn req_len(&self) -> u64 {
        0
    }
    /// Whether the stream is HTTP (`req.proto_http`, the `HTTP` ACL).
    fn is_http(&self) -> bool {
        true
    }
    /// The response status, once a response is there.
    fn status(&self) -> Option<u16> {
        None
    }
    /// How many response header lines there are.
    fn res_header_count(&self) -> usize {
        0
    }
    /// Response header line `i` as (name, value).
    fn res_header(&self, _i: usize) -> (&[u8], &[u8]) {
        (b"", b"")
    }
    /// The backend this stream is on (for `nbsrv`, `be_conn` without argument).
    fn current_backend(&self) -> Option<usize> {
        None
    }
    /// `option http-use-proxy-header` applies: the frontend has it and the
    /// request is proxied (its target is neither `/...` nor `*`), so
    /// credentials come from `Proxy-Authorization` and `auth` answers 407.
    fn proxy_auth(&self) -> bool {
        false
    }
    /// The frontend this stream came in on (for `fe_conn` without argument).
    fn current_frontend(&self) -> Option<usize> {
        None
    }
    /// Servers up in backend `backend` (`nbsrv`).
    fn backend_up_servers(&self, _backend: usize) -> usize {
        0
    }
    /// Whether server `server` of backend `backend` is up (`srv_is_up`).
    fn server_is_up(&self, _backend: usize, _server: usize) -> bool {
        false
    }
    /// Current connections on backend `backend` (`be_conn`).
    fn backend_conns(&self, _backend: usize) -> u64 {
        0
    }
    /// Current connections on frontend `frontend` (`fe_conn`).
    fn frontend_conns(&self, _frontend: usize) -> u64 {
        0
    }
    /// A variable (`var(txn.name)`), the scope prefix included in `name`.
    fn var(&self, _name: &str) -> Option<Val<'_>> {
        None
    }
    /// What the client connection's TLS handshake settled; `None` when it
    /// is not TLS (the `ssl_fc_*` and `ssl_c_*` fetches read it).
    fn tls(&self) -> Option<&crate::tls::info::TlsInfo> {
        None
    }
    /// Whether the client connection is TLS (`ssl_fc`).
    fn ssl_fc(&self) -> bool {
        self.tls().is_some()
    }
    /// The TLS SNI the client sent (`ssl_fc_sni`).
    fn ssl_sni(&self) -> Option<&[u8]> {
        self.tls()?.sni.as_deref().map(str::as_bytes)
    }
    /// Whether the connection began with a PROXY header (`fc_rcvd_proxy`).
    fn rcvd_proxy(&self) -> bool {
        false
    }
    /// The AUTHORITY TLV of the connection's PROXY v2 header (`fc_pp_authority`).
    fn pp_authority(&self) -> Option<&[u8]> {
        None
    }
    /// The UNIQUE_ID TLV of the connection's PROXY v2 header (`fc_pp_unique_id`).
    fn pp_unique_id(&self) -> Option<&[u8]> {
        None
    }
    /// The request's unique id (`unique-id`), made from the frontend's
    /// `unique-id-format` on first use; `None` without one.
    fn unique_id(&self) -> Option<&[u8]> {
        None
    }
    /// The request bytes buffered so far on a connection whose contents are
    /// inspected (`tcp-request content` in `mode tcp`); `None` elsewhere.
    fn req_payload(&self) -> Option<&[u8]> {
        None
    }
    /// The response bytes buffered so far (`tcp-response content`).
    fn res_payload(&self) -> Option<&[u8]> {
        None
    }
    /// Whether the contents are final: the inspect delay is over, the peer
    /// closed or the buffer is full (HAProxy's `SMP_OPT_FINAL`). Until then a
    /// fetch that lacks bytes makes its rule wait instead of failing.
    fn contents_final(&self) -> bool {
        true
    }
}

/// Reusable buffers for fetches, converters and `-i` lowering: one per
/// worker, grown to the largest sample seen, then reused.
#[derive(Debug, Default)]
pub struct Scratch {
    /// A value a fetch builds (`base`).
    pub(crate) fetch: Vec<u8>,
    /// The current converted value.
    pub(crate) x: Vec<u8>,
    /// The next converted value (swapped with `x` after each converter).
    pub(crate) y: Vec<u8>,
    /// The lowered sample for `-i` matching and number formatting.
    pub(crate) low: Vec<u8>,
    /// A rendered name (`use_backend %[...]`).
    pub(crate) name: Vec<u8>,
}

impl Scratch {
    /// Empty buffers; they grow to the largest sample seen and stay.
    pub fn new() -> Scratch {
        Scratch::default()
    }
}

/// An owned request and connection, for tests, benches and examples.
#[derive(Debug, Clone)]
pub struct TestSample {
    /// The method.
    pub method: Vec<u8>,
    /// The request target.
    pub uri: Vec<u8>,
    /// The version (`1.1`).
    pub version: Vec<u8>,
    /// Request headers in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Client address.
    pub src: Option<SocketAddr>,
    /// Local address.
    pub dst: Option<SocketAddr>,
    /// Declared body size.
    pub body_size: Option<u64>,
    /// Bytes received.
    pub req_len: u64,
    /// Response status.
    pub status: Option<u16>,
    /// Response headers in order.
    pub res_headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Current backend index.
    pub backend: Option<usize>,
    /// Current frontend index.
    pub frontend: Option<usize>,
    /// Servers up per backend index.
    pub up_servers: Vec<usize>,
    /// (backend, server) pairs that are up.
    pub servers_up: Vec<(usize, usize)>,
    /// Connections per backend index.
    pub be_conns: Vec<u64>,
    /// Connections per frontend index.
    pub fe_conns: Vec<u64>,
    /// Variables as (name, string value).
    pub vars: Vec<(String, Vec<u8>)>,
    /// The request's unique id.
    pub unique_id: Option<Vec<u8>>,
    /// Raw request bytes under content inspection (`None`: not inspected).
    pub req_payload: Option<Vec<u8>>,
    /// Raw response bytes under content inspection.
    pub res_payload: Option<Vec<u8>>,
    /// Whether the contents may still grow (the inspect delay runs).
    pub partial: bool,
    /// The TLS handshake's outcome (`None`: plain TCP).
    pub tls: Option<crate::tls::info::TlsInfo>,
}

impl TestSample {
    /// `GET <uri> HTTP/1.1` from 192.0.2.1:40000 to 192.0.2.100:80, no headers.
    pub fn get(uri: &str) -> TestSample {
        TestSample {
            method: b"GET".to_vec(),
            uri: uri.as_bytes().to_vec(),
            version: b"1.1".to_vec(),
            headers: Vec::new(),
            src: Some("192.0.2.1:40000".parse().expect("literal")),
            dst: Some("192.0.2.100:80".parse().expect("literal")),
            body_size: None,
            req_len: 0,
            status: None,
            res_headers: Vec::new(),
            backend: Some(0),
            frontend: Some(0),
            up_servers: Vec::new(),
            servers_up: Vec::new(),
            be_conns: Vec::new(),
            fe_conns: Vec::new(),
            vars: Vec::new(),
            unique_id: None,
            req_payload: None,
            res_payload: None,
            partial: false,
            tls: None,
        }
    }

    /// A bare TCP connection whose first bytes, `data`, are being inspected
    /// (the delay still running when `partial`).
    pub fn tcp(data: &[u8], partial: bool) -> TestSample {
        let mut s = TestSample::get("");
        s.req_payload = Some(data.to_vec());
        s.partial = partial;
        s
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> TestSample {
        self.headers
            .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }

    /// Sets the method.
    pub fn method(mut self, m: &str) -> TestSample {
        self.method = m.as_bytes().to_vec();
        self
    }

    /// Sets the client address.
    pub fn src(mut self, a: &str) -> TestSample {
        self.src = Some(a.parse().expect("socket address"));
        self
    }

    /// Sets the address the client connected to.
    pub fn dst(mut self, a: &str) -> TestSample {
        self.dst = Some(a.parse().expect("socket address"));
        self
    }
}

impl Sample for TestSample {
    fn method(&self) -> &[u8] {
        &self.method
    }
    fn uri(&self) -> &[u8] {
        &self.uri
    }
    fn version(&self) -> &[u8] {
        &self.version
    }
    fn req_header_count(&self) -> usize {
        self.headers.len()
    }
    fn req_header(&self, i: usize) -> (&[u8], &[u8]) {
        (&self.headers[i].0, &self.headers[i].1)
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn body_size(&self) -> Option<u64> {
        self.body_size
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn res_header_count(&self) -> usize {
        self.res_headers.len()
    }
    fn res_header(&self, i: usize) -> (&[u8], &[u8]) {
        (&self.res_headers[i].0, &self.res_headers[i].1)
    }
    fn current_backend(&self) -> Option<usize> {
        self.backend
    }
    fn current_frontend(&self) -> Option<usize> {
        self.frontend
    }
    fn backend_up_servers(&self, b: usize) -> usize {
        self.up_servers.get(b).copied().unwrap_or(0)
    }
    fn server_is_up(&self, b: usize, s: usize) -> bool {
        self.servers_up.contains(&(b, s))
    }
    fn backend_conns(&self, b: usize) -> u64 {
        self.be_conns.get(b).copied().unwrap_or(0)
    }
    fn frontend_conns(&self, f: usize) -> u64 {
        self.fe_conns.get(f).copied().unwrap_or(0)
    }
    fn var(&self, name: &str) -> Option<Val<'_>> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Val::Str(v))
    }
    fn unique_id(&self) -> Option<&[u8]> {
        self.unique_id.as_deref()
    }
    fn req_payload(&self) -> Option<&[u8]> {
        self.req_payload.as_deref()
    }
    fn res_payload(&self) -> Option<&[u8]> {
        self.res_payload.as_deref()
    }
    fn contents_final(&self) -> bool {
        !self.partial
    }
    fn tls(&self) -> Option<&crate::tls::info::TlsInfo> {
        self.tls.as_ref()
    }
    fn req_len(&self) -> u64 {
        match &self.req_payload {
            Some(d) => d.len() as u64,
            None => self.req_len,
        }
    }
}

/// A parsed `httparse` request plus its connection: the session's cheap implementation.
#[derive(Debug, Clone, Copy)]
pub struct HttparseSample<'r, 'h, 'b> {
    /// The parsed head.
    pub req: &'r httparse::Request<'h, 'b>,
    /// Client address.
    pub src: Option<SocketAddr>,
    /// Local address.
    pub dst: Option<SocketAddr>,
    /// Declared body size.
    pub body_size: Option<u64>,
    /// Bytes of the head.
    pub req_len: u64,
}

impl Sample for HttparseSample<'_, '_, '_> {
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
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
    fn body_size(&self) -> Option<u64> {
        self.body_size
    }
    fn req_len(&self) -> u64 {
        self.req_len
    }
}
