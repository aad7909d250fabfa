//! Moving an exchange's bytes once the server is connected: the request body
//! and the response run at the same time (full duplex).
//!
//! A server may answer before it has read the whole request body (an early
//! 413, a streaming echo) and a client may wait for `100 Continue` before
//! sending its body, so neither direction waits for the other: the request
//! body is relayed while the response head (with any interim 1xx) and body are
//! relayed back. Whichever way an exchange ends, the caller learns whether the
//! client already got response bytes (then no error page can be sent) and
//! whether the request body was relayed whole (else neither connection can be
//! kept).

use std::cell::Cell;
use std::time::Duration;

use monoio::io::{OwnedReadHalf, OwnedWriteHalf};
use monoio::time::Instant;

use super::body::{BodyCursor, BodyKind};
use super::error::HttpError;
use super::io::{ReadOutcome, WriteFail, read_more, read_more_idle, write_range};
use super::request::Parsed;
use super::response::{self, ClientSide, Response};
use crate::bufpool::{self, BUF_SIZE, STREAM_BUF_SIZE};
use crate::deadline::{LazyTimer, coarse_now};
use crate::log::record::Tracker;
use crate::stream::Stream;

/// The read half of a connection.
pub type ReadHalf = OwnedReadHalf<Stream>;
/// The write half of a connection.
pub type WriteHalf = OwnedWriteHalf<Stream>;

/// Why relaying a body stopped early.
#[derive(Debug)]
pub enum RelayFail {
    /// Reading the source failed, timed out or hit an early end.
    Source(ReadOutcome),
    /// Writing to the destination failed or timed out.
    Sink(WriteFail),
    /// The chunked framing is invalid.
    Malformed,
    /// More payload than the configured limit.
    TooLarge,
}

/// One direction's deadlines: the timer its reads and writes wait on, and
/// how long each may wait.
pub struct Pace<'t> {
    /// The direction's timer (see [`LazyTimer`]).
    pub timer: &'t mut LazyTimer,
    /// The source's timeout, per read.
    pub read: Duration,
    /// The destination's timeout, per write.
    pub write: Duration,
    /// Without `option independent-streams`: when the source was last
    /// written to by the other direction (a later write pushes back the
    /// wait for its bytes), and where this direction notes its own writes.
    pub linked: Option<Linked<'t>>,
}

/// HAProxy's default, which `option independent-streams` turns off: a write
/// to a socket is activity on it, and refreshes the timeout of the read
/// waiting on it (a response awaited while a long body is uploaded, a body
/// read while the response streams). One per exchange, both directions'
/// last writes.
#[derive(Debug)]
pub struct Activity {
    /// Last write to the server.
    pub to_server: Cell<Instant>,
    /// Last write to the client.
    pub to_client: Cell<Instant>,
}

impl Activity {
    /// Both stamps at now.
    pub fn new() -> Self {
        let now = coarse_now();
        Activity {
            to_server: Cell::new(now),
            to_client: Cell::new(now),
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// One direction's view of [`Activity`]: the stamp that refreshes its reads
/// and the one its writes set.
#[derive(Clone, Copy)]
pub struct Linked<'a> {
    /// Writes to this direction's source, by the other direction.
    pub source_written: &'a Cell<Instant>,
    /// Where this direction's writes to its destination are noted.
    pub dest_written: &'a Cell<Instant>,
}

/// A read's deadline: `timeout` after it started, or after the last write
/// to the same socket when the directions are linked.
fn read_deadline(
    started: Instant,
    timeout: Duration,
    written: Option<&Cell<Instant>>,
) -> impl Fn() -> Instant + '_ {
    move || written.map_or(started, |w| w.get().max(started)) + timeout
}

/// Streams a body from `src` to `dst` through `buf` until the cursor says it ended;
/// returns the bytes written. Bytes past the body's end stay at the start of
/// `buf` (a pipelined message). A body whose length exceeds the 16 KB buffer,
/// or that fills it, goes through a 64 KB one (see [`crate::bufpool`]; on 64 KB
/// responses 32 instead of 37-42 µs of CPU each); `buf` is a 16 KB buffer
/// again afterwards unless more than that is left in it.
pub async fn relay_body(
    src: &mut ReadHalf,
    dst: &mut WriteHalf,
    buf: &mut Vec<u8>,
    body: &mut BodyCursor,
    pace: Pace<'_>,
    limit: Option<u64>,
) -> Result<u64, RelayFail> {
    // A length known to exceed the small buffer goes big from the start.
    if buf.capacity() == BUF_SIZE && body.length_left().is_some_and(|n| n > BUF_SIZE as u64) {
        bufpool::move_into(buf, bufpool::take_stream());
    }
    let res = relay_through(src, dst, buf, body, pace, limit).await;
    if buf.capacity() == STREAM_BUF_SIZE && buf.len() < BUF_SIZE {
        bufpool::move_into(buf, bufpool::take());
    }
    res
}

/// [`relay_body`]'s loop.
async fn relay_through(
    src: &mut ReadHalf,
    dst: &mut WriteHalf,
    buf: &mut Vec<u8>,
    body: &mut BodyCursor,
    pace: Pace<'_>,
    limit: Option<u64>,
) -> Result<u64, RelayFail> {
    let mut written = 0u64;
    while !body.done() {
        let outcome = match pace.linked {
            None => read_more(src, buf, pace.timer, coarse_now() + pace.read).await,
            Some(l) => {
                let deadline = read_deadline(coarse_now(), pace.read, Some(l.source_written));
                read_more_idle(src, buf, pace.timer, deadline).await
            }
        };
        let n = match outcome {
            ReadOutcome::Data(n) => n,
            ReadOutcome::Eof if body.kind() == BodyKind::UntilClose => return Ok(written),
            other => return Err(RelayFail::Source(other)),
        };
        let filled = buf.len() == buf.capacity();
        let k = body.take(buf).map_err(|_| RelayFail::Malformed)?;
        if limit.is_some_and(|max| body.payload() > max) {
            return Err(RelayFail::TooLarge);
        }
        write_range(dst, buf, (0, k), pace.timer, coarse_now() + pace.write)
            .await
            .map_err(RelayFail::Sink)?;
        if let Some(l) = pace.linked {
            l.dest_written.set(coarse_now());
        }
        written += k as u64;
        buf.drain(..k);
        // No point growing for a body that just ended.
        bufpool::fit_to_flow(buf, filled && !body.done(), n);
    }
    Ok(written)
}

/// How the response side of an exchange is to be handled.
#[derive(Clone, Copy)]
pub struct ResponseCtx<'a> {
    /// What the client asked for (HEAD, HTTP/1.0, keep-alive), and cookie stickiness.
    pub side: ClientSide<'a>,
    /// The request asked to switch protocols.
    pub upgrade: bool,
    /// `timeout server`.
    pub server_timeout: Duration,
    /// `timeout client`.
    pub client_timeout: Duration,
    /// The log's notes on the response (a no-op when not logging).
    pub progress: Tracker<'a>,
    /// The client's socket (for `send(MSG_MORE)` before a final response);
    /// `None` on TLS, where only the stream writes to it.
    pub client_fd: Option<std::os::fd::RawFd>,
    /// `http-response` and `http-after-response` rules, when the proxies have some.
    pub rules: Option<&'a dyn response::ResponseHook>,
    /// Set once a response head (interim or final) was parsed: from then on
    /// `out` no longer holds the request, and the server has answered it, so
    /// the request must not be resent.
    pub head_seen: &'a Cell<bool>,
    /// The exchange's writes, unless `option independent-streams`: one to
    /// the server pushes back the wait for the response head and body.
    pub activity: Option<&'a Activity>,
}

/// How the response side ended.
#[derive(Debug)]
pub enum ResponseEnd {
    /// The whole response was relayed: the head and the bytes sent to the client.
    Done(Response, u64),
    /// `101 Switching Protocols` was relayed: both sides now speak another protocol.
    Upgraded,
}

/// Why the response side failed.
#[derive(Debug)]
pub enum ResponseFail {
    /// The server closed or failed before sending a single byte.
    Closed,
    /// Answer the client with this status (nothing was sent to it yet).
    Status(HttpError),
    /// The client can't be answered any more (it is gone or got a partial response).
    Silent,
}

/// Reads the response head (relaying interim 1xx), then relays head and body.
/// `sent` becomes true as soon as any byte went to the client. Reads and
/// writes wait on `timer`, the direction's.
pub async fn relay_response(
    sr: &mut ReadHalf,
    cw: &mut WriteHalf,
    sbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    timer: &mut LazyTimer,
    cx: &ResponseCtx<'_>,
    sent: &Cell<bool>,
) -> Result<ResponseEnd, ResponseFail> {
    let resp = loop {
        let resp = read_head(sr, sbuf, out, timer, cx).await?;
        if !(100..200).contains(&resp.status) {
            break resp;
        }
        // A protocol switch nobody asked for would leave the client reading
        // the server's new protocol as HTTP: refuse it, as HAProxy does.
        if resp.status == 101 && !cx.upgrade {
            cx.progress.cause(b'P');
            return Err(ResponseFail::Status(HttpError::BadGateway));
        }
        if resp.status == 101 {
            // The head and whatever followed it belong to the new protocol already.
            sent.set(true);
            cx.progress.response_head(resp.status);
            let end = sbuf.len();
            write_range(cw, sbuf, (0, end), timer, coarse_now() + cx.client_timeout)
                .await
                .map_err(|e| client_gone(cx, e))?;
            cx.progress.sent(end as u64);
            sbuf.clear();
            return Ok(ResponseEnd::Upgraded);
        }
        // HTTP/1.0 clients don't know interim responses (RFC 9110 §15.2): drop them.
        if !cx.side.http10 {
            sent.set(true);
            write_range(
                cw,
                sbuf,
                (0, resp.head_len),
                timer,
                coarse_now() + cx.client_timeout,
            )
            .await
            .map_err(|e| client_gone(cx, e))?;
        }
        sbuf.drain(..resp.head_len);
    };

    // A response rule answered instead (`deny`, `return`, `redirect`): the
    // server's response is dropped with its connection.
    if let Some(local) = &resp.replaced {
        return replace_response(cw, out, timer, cx, sent, resp.head_len, local).await;
    }
    // `out` holds the rewritten head; the body bytes read with it follow.
    cx.progress.response_head(resp.status);
    cx.progress.capture_response(&sbuf[..resp.head_len]);
    let mut rbody = BodyCursor::new(resp.body);
    let part = rbody.take(&sbuf[resp.head_len..]).map_err(|_| {
        cx.progress.cause(b'P');
        ResponseFail::Status(HttpError::BadGateway)
    })?;
    out.extend_from_slice(&sbuf[resp.head_len..resp.head_len + part]);
    sbuf.drain(..resp.head_len + part);
    sent.set(true);
    let last = !resp.client_keep_alive && rbody.done();
    let mut bytes = out.len() as u64;
    let start = match cx.client_fd {
        Some(fd) if last => send_more(fd, out),
        _ => 0,
    };
    let end = out.len();
    write_range(
        cw,
        out,
        (start, end),
        timer,
        coarse_now() + cx.client_timeout,
    )
    .await
    .map_err(|e| client_gone(cx, e))?;
    cx.progress.sent(bytes);
    if !rbody.done() {
        bytes += relay_body(
            sr,
            cw,
            sbuf,
            &mut rbody,
            Pace {
                timer,
                read: cx.server_timeout,
                write: cx.client_timeout,
                linked: cx.activity.map(|a| Linked {
                    source_written: &a.to_server,
                    dest_written: &a.to_client,
                }),
            },
            None,
        )
        .await
        .map_err(|e| {
            // The response body: the server is the source, the client the sink.
            cx.progress.cause(match e {
                RelayFail::Source(ReadOutcome::Timeout) => b's',
                RelayFail::Sink(WriteFail::Timeout) => b'c',
                RelayFail::Sink(_) => b'C',
                RelayFail::Source(_) | RelayFail::Malformed | RelayFail::TooLarge => b'S',
            });
            ResponseFail::Silent
        })?;
    }
    cx.progress.sent(bytes);
    Ok(ResponseEnd::Done(resp, bytes))
}

/// Sends the response a response rule made in place of the server's, and
/// ends the exchange as if that had been the server's last response: the
/// server connection is not reused and the client's is closed.
async fn replace_response(
    cw: &mut WriteHalf,
    out: &mut Vec<u8>,
    timer: &mut LazyTimer,
    cx: &ResponseCtx<'_>,
    sent: &Cell<bool>,
    head_len: usize,
    local: &crate::http::rules::Local,
) -> Result<ResponseEnd, ResponseFail> {
    out.clear();
    out.extend_from_slice(&local.page);
    // The page is complete; the connection closes after it. A HEAD request
    // gets the head only.
    if let Some(p) = memchr::memmem::find(out, b"\r\n\r\n") {
        if cx.side.head_request {
            out.truncate(p + 4);
        }
        out.splice(p + 2..p + 2, b"connection: close\r\n".iter().copied());
    }
    sent.set(true);
    cx.progress.response_head(local.status);
    let end = out.len();
    write_range(cw, out, (0, end), timer, coarse_now() + cx.client_timeout)
        .await
        .map_err(|e| client_gone(cx, e))?;
    cx.progress.sent(end as u64);
    let resp = response::Response {
        head_len,
        status: local.status,
        body: super::body::BodyKind::None,
        server_keep_alive: false,
        client_keep_alive: false,
        replaced: None,
    };
    Ok(ResponseEnd::Done(resp, end as u64))
}

/// Sends what it can of `out` at once with MSG_MORE; returns how many bytes
/// went. Only for a response that is the connection's last word, written
/// whole: MSG_MORE holds its partial segment back, so the shutdown that
/// follows sends it together with the FIN (18 instead of 20 segments per
/// closed connection on loopback, 5-8 % less CPU per request in the close
/// scenarios). One system call, where TCP_CORK cost a setsockopt plus the
/// ring write (another 2-6 %). Whatever did not go (a full socket buffer, an
/// error) is left to the ring write, which sends without MSG_MORE, so nothing
/// waits.
fn send_more(fd: std::os::fd::RawFd, out: &[u8]) -> usize {
    // SAFETY: `out` is valid for reads of its length for the whole call; `fd`
    // is the client's socket, open for the exchange. MSG_DONTWAIT keeps the
    // call from blocking, MSG_NOSIGNAL turns a closed peer into EPIPE.
    let n = unsafe {
        libc::send(
            fd,
            out.as_ptr().cast(),
            out.len(),
            libc::MSG_MORE | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// A write to the client failed: note who for the log; nothing more can be sent.
fn client_gone(cx: &ResponseCtx<'_>, e: WriteFail) -> ResponseFail {
    cx.progress
        .client_write_failed(matches!(e, WriteFail::Timeout));
    ResponseFail::Silent
}

/// Reads until a whole response head is in `sbuf`; `out` gets the client's head.
async fn read_head(
    sr: &mut ReadHalf,
    sbuf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    timer: &mut LazyTimer,
    cx: &ResponseCtx<'_>,
) -> Result<Response, ResponseFail> {
    let started = coarse_now();
    let written = cx.activity.map(|a| &a.to_server);
    loop {
        if !sbuf.is_empty() {
            match response::parse_with(sbuf, &cx.side, out, cx.rules) {
                Ok(Parsed::Complete(r)) => {
                    cx.head_seen.set(true);
                    return Ok(r);
                }
                Ok(Parsed::Partial) => {}
                Err(e) => {
                    // An invalid response head: the proxy refuses it (`PH`).
                    cx.progress.cause(b'P');
                    return Err(ResponseFail::Status(e));
                }
            }
            if sbuf.len() >= BUF_SIZE {
                cx.progress.cause(b'P');
                return Err(ResponseFail::Status(HttpError::BadGateway));
            }
        }
        let outcome = match written {
            None => read_more(sr, sbuf, timer, started + cx.server_timeout).await,
            Some(w) => {
                let deadline = read_deadline(started, cx.server_timeout, Some(w));
                read_more_idle(sr, sbuf, timer, deadline).await
            }
        };
        match outcome {
            ReadOutcome::Data(_) => {}
            ReadOutcome::Timeout => return Err(ResponseFail::Status(HttpError::GatewayTimeout)),
            ReadOutcome::Eof | ReadOutcome::Error(_) if sbuf.is_empty() => {
                return Err(ResponseFail::Closed);
            }
            ReadOutcome::Eof | ReadOutcome::Error(_) => {
                return Err(ResponseFail::Status(HttpError::BadGateway));
            }
        }
    }
}
