//! One client connection in `mode http`, exchange after exchange.
//!
//! Each exchange runs the data path in order:
//! 1. read the request head (`timeout http-request`, `timeout http-keep-alive`);
//! 2. parse and rewrite it (`request.rs`);
//! 3. choose a server (`balance`) and take an idle connection to it or connect
//!    (`timeout connect`, `retries`, `option redispatch`);
//! 4. send the head and stream the body;
//! 5. read the response head (`timeout server`), forwarding interim 1xx;
//! 6. send the response head and stream its body;
//! 7. keep or close each side, and pool the server connection when reusable.
//!
//! A reused server connection that fails before any response byte is replaced
//! by a fresh one and the request sent again, only when the request is
//! idempotent and was sent whole in one write: the server cannot have acted on
//! it differently than on a dropped connection.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use monoio::time::Instant;

use super::body::{BodyCursor, BodyKind};
use super::error::HttpError;
use super::io::{ReadOutcome, WriteFail, read_more, write_all, write_range};
use super::request::{self, Parsed, Request, Rewrite};
use super::response::{self, ClientSide, Response};
use crate::balance::PickInput;
use crate::bufpool::{self, BUF_SIZE};
use crate::runtime::{BackendRt, FrontendRt};
use crate::server::dispatch::{ActiveGuard, connect_with_retries, pick};
use crate::stream::Stream;
use crate::worker::context::WorkerCtx;

/// Longest wait between two looks at the soft-stop flag while a client is idle.
const IDLE_SLICE: Duration = Duration::from_secs(1);

/// What to do with the client connection after an exchange.
enum Next {
    KeepAlive,
    Close,
    /// `101 Switching Protocols` was forwarded: relay raw bytes with this server.
    Tunnel(Stream),
}

/// A failed exchange: the status to answer, if the client can still get one.
enum Fail {
    /// Answer with this status, then close.
    Status(HttpError),
    /// Close without answering (client gone, or a response already started).
    Silent,
}

struct Session<'a> {
    ctx: &'a WorkerCtx,
    fe: &'a FrontendRt,
    be: &'a BackendRt,
    backend: usize,
    rewrite: Rewrite<'a>,
    close_client: bool,
    /// Largest request body allowed, and the status for a larger one.
    max_body: Option<(u64, u16)>,
    client: Stream,
    /// Bytes from the client not yet forwarded (head, body, pipelined requests).
    cbuf: Vec<u8>,
    /// Bytes from the server not yet forwarded.
    sbuf: Vec<u8>,
    /// The head being sent (request, then response).
    out: Vec<u8>,
}

/// Serves one client connection until it closes, times out or errs.
pub async fn run(ctx: &WorkerCtx, client: Stream, peer: Option<SocketAddr>, fe: usize) {
    let f = &ctx.shared.frontends[fe];
    let be = &ctx.shared.backends[f.backend];
    let httpclose = f.http.httpclose || be.http.httpclose;
    let mut s = Session {
        ctx,
        fe: f,
        be,
        backend: f.backend,
        rewrite: Rewrite {
            forwardfor: f.http.forwardfor.as_ref().or(be.http.forwardfor.as_ref()),
            client: peer.map(|p| p.ip()),
            close_server: httpclose || f.http.http_server_close || be.http.http_server_close,
        },
        close_client: httpclose,
        max_body: match (f.http.max_body, be.http.max_body) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        },
        client,
        cbuf: bufpool::take(),
        // Taken when a request arrives, given back while the client is idle.
        sbuf: Vec::new(),
        out: Vec::new(),
    };
    let mut first = true;
    loop {
        match s.exchange(first).await {
            Ok(Next::KeepAlive) => {
                first = false;
                // An idle keep-alive client holds only its input buffer. Whatever
                // is left in `sbuf` belonged to a server connection now pooled
                // (then nothing) or dropped (then stale): never carry it over.
                bufpool::give(std::mem::take(&mut s.sbuf));
                bufpool::give(std::mem::take(&mut s.out));
            }
            Ok(Next::Close) | Err(Fail::Silent) => break,
            Ok(Next::Tunnel(server)) => {
                bufpool::give(std::mem::take(&mut s.cbuf));
                bufpool::give(std::mem::take(&mut s.sbuf));
                bufpool::give(std::mem::take(&mut s.out));
                let (ct, st) = (s.fe.client_timeout, s.be.server_timeout);
                crate::tcp::relay::relay(s.client, server, ct, st).await;
                return;
            }
            Err(Fail::Status(e)) => {
                let mut page = e.response();
                let deadline = Instant::now() + s.fe.client_timeout;
                if write_all(&mut s.client, &mut page, deadline).await.is_ok() {
                    linger_close(&mut s.client, &mut s.cbuf).await;
                }
                break;
            }
        }
    }
    bufpool::give(s.cbuf);
    bufpool::give(s.sbuf);
    bufpool::give(s.out);
}

impl Session<'_> {
    fn stopping(&self) -> bool {
        self.ctx.shared.soft_stop.load(Ordering::Relaxed)
    }

    fn client_deadline(&self) -> Instant {
        Instant::now() + self.fe.client_timeout
    }

    fn server_deadline(&self) -> Instant {
        Instant::now() + self.be.server_timeout
    }

    async fn exchange(&mut self, first: bool) -> Result<Next, Fail> {
        let req = self.read_request(first).await?;
        if self.ctx.shared.debug {
            let line = self.cbuf.split(|&b| b == b'\n').next().unwrap_or_default();
            eprintln!(
                "{}.clireq[w{}]: {}",
                self.fe.name,
                self.ctx.id,
                String::from_utf8_lossy(line).trim_end()
            );
        }
        let mut body = BodyCursor::new(req.body);
        if let (Some((max, status)), BodyKind::Length(n)) = (self.max_body, req.body)
            && n > max
        {
            return Err(Fail::Status(HttpError::for_body_limit(status)));
        }

        // Choose the server while the URI is still in the buffer.
        let picked = {
            let uri = std::str::from_utf8(&self.cbuf[req.uri.0..req.uri.1]).unwrap_or("");
            let input = PickInput {
                client: self.rewrite.client,
                uri: Some(uri),
                head: Some(&self.cbuf[..req.head_len]),
                payload: None,
            };
            pick(self.ctx, self.backend, &input, None)
        };
        // Retries and redispatch choose by rotation, not by the request's key.
        let input = PickInput {
            client: self.rewrite.client,
            ..PickInput::default()
        };
        let Some(mut server_idx) = picked else {
            eprintln!("[WARNING] {}: no server available", self.be.name);
            return Err(Fail::Status(HttpError::ServiceUnavailable));
        };

        // The head for the server is in `out`; add what body bytes came with it.
        let part = body
            .take(&self.cbuf[req.head_len..])
            .map_err(|_| Fail::Status(HttpError::BadRequest))?;
        self.check_body_limit(&body)?;
        self.out
            .extend_from_slice(&self.cbuf[req.head_len..req.head_len + part]);
        self.cbuf.drain(..req.head_len + part);
        let whole_in_one_write = body.done();

        let (mut server, mut reused) = match self.ctx.pool.take(self.backend, server_idx) {
            Some(s) => (s, true),
            None => {
                let (idx, s) = self.connect(server_idx, &input).await?;
                server_idx = idx;
                (s, false)
            }
        };
        let _active = ActiveGuard::new(&self.be.servers[server_idx]);
        let may_resend = req.idempotent && whole_in_one_write;

        // Send the head (and body start); replace a dead reused connection once.
        loop {
            let deadline = self.server_deadline();
            match write_all(&mut server, &mut self.out, deadline).await {
                Ok(()) => break,
                Err(_) if reused && may_resend => {
                    server = self.connect(server_idx, &input).await?.1;
                    reused = false;
                }
                Err(WriteFail::Timeout) => return Err(Fail::Status(HttpError::GatewayTimeout)),
                Err(WriteFail::Error(_)) => return Err(Fail::Status(HttpError::BadGateway)),
            }
        }
        if !body.done() && !req.expect_continue {
            self.forward_request_body(&mut server, &mut body).await?;
        }

        // Response head, forwarding interim responses.
        let side = ClientSide {
            head_request: req.is_head,
            http10: req.http10,
            keep_alive: req.keep_alive && !self.close_client && !self.stopping(),
        };
        let resp = loop {
            let resp = match self.read_response(&mut server, &side).await {
                Ok(r) => r,
                Err(ReadFail::Closed) if reused && may_resend => {
                    server = self.connect(server_idx, &input).await?.1;
                    reused = false;
                    self.resend(&mut server, &req).await?;
                    continue;
                }
                Err(ReadFail::Closed) => {
                    eprintln!(
                        "[WARNING] {}/{}: server closed the connection before answering",
                        self.be.name, self.be.servers[server_idx].name
                    );
                    return Err(Fail::Status(HttpError::BadGateway));
                }
                Err(ReadFail::Status(e)) => {
                    eprintln!(
                        "[WARNING] {}/{}: answering {} to the client",
                        self.be.name,
                        self.be.servers[server_idx].name,
                        e.status()
                    );
                    return Err(Fail::Status(e));
                }
            };
            if (100..200).contains(&resp.status) {
                if resp.status == 101 && req.upgrade {
                    return self.tunnel(server).await;
                }
                let interim_len = resp.head_len;
                let deadline = self.client_deadline();
                write_range(&mut self.client, &mut self.sbuf, 0, interim_len, deadline)
                    .await
                    .map_err(|_| Fail::Silent)?;
                self.sbuf.drain(..interim_len);
                if resp.status == 100 && !body.done() {
                    self.forward_request_body(&mut server, &mut body).await?;
                }
                continue;
            }
            break resp;
        };

        if self.ctx.shared.debug {
            eprintln!(
                "{}.srvrep[w{}]: {}/{} status {}",
                self.fe.name,
                self.ctx.id,
                self.be.name,
                self.be.servers[server_idx].name,
                resp.status
            );
        }
        // Response head and body to the client; `out` now holds the rewritten head.
        let mut rbody = BodyCursor::new(resp.body);
        let part = rbody
            .take(&self.sbuf[resp.head_len..])
            .map_err(|_| Fail::Silent)?;
        self.out
            .extend_from_slice(&self.sbuf[resp.head_len..resp.head_len + part]);
        self.sbuf.drain(..resp.head_len + part);
        let deadline = self.client_deadline();
        write_all(&mut self.client, &mut self.out, deadline)
            .await
            .map_err(|_| Fail::Silent)?;
        if !rbody.done() {
            self.forward_response_body(&mut server, &mut rbody).await?;
        }

        let server_reusable = resp.server_keep_alive
            && !self.rewrite.close_server
            && rbody.done()
            && body.done()
            && self.sbuf.is_empty();
        if server_reusable {
            self.ctx.pool.put(self.backend, server_idx, server);
        }
        // A request body left unread (a final answer to Expect) poisons the connection.
        if resp.client_keep_alive && body.done() && !self.stopping() {
            Ok(Next::KeepAlive)
        } else {
            Ok(Next::Close)
        }
    }

    /// Reads until a whole request head is in `cbuf`; `out` gets the server's head.
    async fn read_request(&mut self, first: bool) -> Result<Request, Fail> {
        let mut deadline = if first || !self.cbuf.is_empty() {
            Instant::now() + self.fe.http_request_timeout
        } else {
            Instant::now() + self.fe.keep_alive_timeout
        };
        let mut waiting_idle = !first && self.cbuf.is_empty();
        loop {
            if !self.cbuf.is_empty() {
                if self.out.capacity() == 0 {
                    self.out = bufpool::take();
                }
                if self.sbuf.capacity() == 0 {
                    self.sbuf = bufpool::take();
                }
                match request::parse(&self.cbuf, &self.rewrite, &mut self.out) {
                    Ok(Parsed::Complete(r)) => return Ok(r),
                    Ok(Parsed::Partial) => {}
                    Err(e) => return Err(Fail::Status(e)),
                }
                if self.cbuf.len() >= BUF_SIZE {
                    return Err(Fail::Status(request::too_large(&self.cbuf)));
                }
            }
            // While idle between requests, wake up now and then to notice a soft stop.
            let slice_end = if waiting_idle {
                deadline.min(Instant::now() + IDLE_SLICE)
            } else {
                deadline
            };
            match read_more(&mut self.client, &mut self.cbuf, slice_end).await {
                ReadOutcome::Data(_) => {
                    if waiting_idle {
                        waiting_idle = false;
                        deadline = Instant::now() + self.fe.http_request_timeout;
                    }
                }
                ReadOutcome::Timeout if waiting_idle && slice_end < deadline => {
                    if self.stopping() {
                        return Err(Fail::Silent);
                    }
                }
                ReadOutcome::Timeout if waiting_idle => return Err(Fail::Silent),
                ReadOutcome::Timeout => return Err(Fail::Status(HttpError::RequestTimeout)),
                ReadOutcome::Eof | ReadOutcome::Error(_) => return Err(Fail::Silent),
            }
        }
    }

    async fn connect(
        &self,
        server_idx: usize,
        input: &PickInput<'_>,
    ) -> Result<(usize, Stream), Fail> {
        connect_with_retries(self.ctx, self.backend, server_idx, input)
            .await
            .map_err(|e| {
                eprintln!("[WARNING] {}: {e}", self.fe.name);
                Fail::Status(HttpError::ServiceUnavailable)
            })
    }

    /// Sends the request again on a fresh connection; only called while `out` still
    /// holds the whole request.
    async fn resend(&mut self, server: &mut Stream, _req: &Request) -> Result<(), Fail> {
        let deadline = self.server_deadline();
        write_all(server, &mut self.out, deadline)
            .await
            .map_err(|_| Fail::Status(HttpError::BadGateway))
    }

    /// A chunked body is only measured as it passes: past the limit the exchange
    /// ends with the deny status, and the server connection is dropped.
    fn check_body_limit(&self, body: &BodyCursor) -> Result<(), Fail> {
        match self.max_body {
            Some((max, status)) if body.payload() > max => {
                Err(Fail::Status(HttpError::for_body_limit(status)))
            }
            _ => Ok(()),
        }
    }

    async fn forward_request_body(
        &mut self,
        server: &mut Stream,
        body: &mut BodyCursor,
    ) -> Result<(), Fail> {
        let (client_t, server_t) = (self.fe.client_timeout, self.be.server_timeout);
        let limit = self.max_body.map(|(m, _)| m);
        match relay_body(
            &mut self.client,
            server,
            &mut self.cbuf,
            body,
            client_t,
            server_t,
            limit,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(RelayFail::TooLarge) => self.check_body_limit(body),
            Err(RelayFail::Source(ReadOutcome::Timeout)) => {
                Err(Fail::Status(HttpError::RequestTimeout))
            }
            Err(RelayFail::Malformed) => Err(Fail::Status(HttpError::BadRequest)),
            Err(RelayFail::Source(_)) => Err(Fail::Silent),
            Err(RelayFail::Sink(WriteFail::Timeout)) => {
                Err(Fail::Status(HttpError::GatewayTimeout))
            }
            Err(RelayFail::Sink(_)) => Err(Fail::Status(HttpError::BadGateway)),
        }
    }

    async fn forward_response_body(
        &mut self,
        server: &mut Stream,
        body: &mut BodyCursor,
    ) -> Result<(), Fail> {
        let (client_t, server_t) = (self.fe.client_timeout, self.be.server_timeout);
        relay_body(
            server,
            &mut self.client,
            &mut self.sbuf,
            body,
            server_t,
            client_t,
            None,
        )
        .await
        .map_err(|_| Fail::Silent)
    }

    /// Reads until a whole response head is in `sbuf`.
    async fn read_response(
        &mut self,
        server: &mut Stream,
        side: &ClientSide,
    ) -> Result<Response, ReadFail> {
        let deadline = self.server_deadline();
        loop {
            if !self.sbuf.is_empty() {
                match response::parse(&self.sbuf, side, &mut self.out) {
                    Ok(Parsed::Complete(r)) => return Ok(r),
                    Ok(Parsed::Partial) => {}
                    Err(e) => return Err(ReadFail::Status(e)),
                }
                if self.sbuf.len() >= BUF_SIZE {
                    return Err(ReadFail::Status(HttpError::BadGateway));
                }
            }
            match read_more(server, &mut self.sbuf, deadline).await {
                ReadOutcome::Data(_) => {}
                ReadOutcome::Timeout => return Err(ReadFail::Status(HttpError::GatewayTimeout)),
                ReadOutcome::Eof | ReadOutcome::Error(_) if self.sbuf.is_empty() => {
                    return Err(ReadFail::Closed);
                }
                ReadOutcome::Eof | ReadOutcome::Error(_) => {
                    return Err(ReadFail::Status(HttpError::BadGateway));
                }
            }
        }
    }

    /// After `101 Switching Protocols`: forward the head and relay both ways.
    async fn tunnel(&mut self, mut server: Stream) -> Result<Next, Fail> {
        let end = self.sbuf.len();
        let deadline = self.client_deadline();
        write_range(&mut self.client, &mut self.sbuf, 0, end, deadline)
            .await
            .map_err(|_| Fail::Silent)?;
        self.sbuf.clear();
        if !self.cbuf.is_empty() {
            let end = self.cbuf.len();
            let deadline = self.server_deadline();
            write_range(&mut server, &mut self.cbuf, 0, end, deadline)
                .await
                .map_err(|_| Fail::Silent)?;
            self.cbuf.clear();
        }
        Ok(Next::Tunnel(server))
    }
}

/// How long an error response waits for the client to stop sending.
const LINGER: Duration = Duration::from_secs(1);
/// At most this much unread request is drained before closing anyway.
const LINGER_BYTES: usize = 1 << 20;

/// Closes after an error without destroying the response: closing a socket with
/// unread input makes the kernel send a reset, which can discard the error page
/// before the client reads it. So shut the write side, drain what the client
/// still sends for a short while, then close.
async fn linger_close(client: &mut Stream, buf: &mut Vec<u8>) {
    use monoio::io::AsyncWriteRent;
    if client.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut drained = 0;
    while drained < LINGER_BYTES {
        buf.clear();
        match read_more(client, buf, deadline).await {
            ReadOutcome::Data(n) => drained += n,
            _ => return,
        }
    }
}

enum ReadFail {
    /// The server closed or failed before sending a byte.
    Closed,
    /// Answer the client with this status.
    Status(HttpError),
}

enum RelayFail {
    Source(ReadOutcome),
    Sink(WriteFail),
    Malformed,
    /// More payload than the configured limit.
    TooLarge,
}

/// Streams a body from `src` to `dst` through `buf` until the cursor says it ended.
/// Bytes past the body's end stay at the start of `buf` (a pipelined message).
async fn relay_body(
    src: &mut Stream,
    dst: &mut Stream,
    buf: &mut Vec<u8>,
    body: &mut BodyCursor,
    read_timeout: Duration,
    write_timeout: Duration,
    limit: Option<u64>,
) -> Result<(), RelayFail> {
    while !body.done() {
        match read_more(src, buf, Instant::now() + read_timeout).await {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Eof if body.kind() == BodyKind::UntilClose => return Ok(()),
            other => return Err(RelayFail::Source(other)),
        }
        let k = body.take(buf).map_err(|_| RelayFail::Malformed)?;
        if limit.is_some_and(|max| body.payload() > max) {
            return Err(RelayFail::TooLarge);
        }
        write_range(dst, buf, 0, k, Instant::now() + write_timeout)
            .await
            .map_err(RelayFail::Sink)?;
        buf.drain(..k);
    }
    Ok(())
}
