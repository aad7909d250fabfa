//! The TCP relay: both directions at once, with half-close and an idle timeout.
//!
//! When one side ends its writes, the other side's write half is shut down and
//! the opposite direction goes on until it ends too. The session expires when
//! neither direction has moved for the timeout (`timeout client` while waiting
//! on the client, `timeout server` while waiting on the server), so a long
//! one-way transfer is never cut for the silence of the other direction. An
//! error on either side shuts both sockets, which wakes the other direction.
//! A tunnel (this relay once connected, or after `101`) uses `timeout
//! tunnel` for both when set; once one side half-closed, the wait on the
//! other is its `-fin` timeout when set (`tcp/timeouts.rs`). A `mode tcp`
//! session reaches it from `tcp/session.rs` (rules, backend, connect).

use std::cell::Cell;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use monoio::io::{AsyncWriteRent, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::time::Instant;

use crate::bufpool;
use crate::deadline::LazyTimer;
use crate::http::io::{ReadOutcome, WriteFail, read_more_idle, write_range};
use crate::stream::Stream;
use crate::tcp::rules::ResponseGate;
use crate::tcp::splice::{End as SpliceEnd, Pipes, SpliceOpts, Splicer, When};
use crate::tcp::timeouts::RelayTimeouts;

/// A connection split into halves that can be used at the same time, with
/// its fd kept to shut it down from the other direction on error.
pub struct Halves {
    /// Read half.
    pub r: OwnedReadHalf<Stream>,
    /// Write half.
    pub w: OwnedWriteHalf<Stream>,
    /// The socket, for `shutdown(2)`.
    pub fd: RawFd,
}

impl Halves {
    /// Splits a stream.
    pub fn new(stream: Stream) -> Self {
        let fd = stream.as_raw_fd();
        let (r, w) = stream.into_split();
        Halves { r, w, fd }
    }

    /// Whether the connection is TLS: its socket carries records, so it is
    /// never spliced.
    pub fn is_tls(&self) -> bool {
        // SAFETY: a shared look at the stream's variant, taken before the
        // relay starts, while neither half is reading or writing.
        unsafe { &*self.r.0.get() }.is_tls()
    }
}

/// Relays until both directions end or the session is idle past its timeout.
/// Returns the bytes carried (client→server, server→client).
pub async fn relay(
    client: Stream,
    server: Stream,
    client_timeout: Duration,
    server_timeout: Duration,
) -> (u64, u64) {
    relay_halves(
        Halves::new(client),
        Halves::new(server),
        client_timeout,
        server_timeout,
    )
    .await
}

/// [`relay`] over connections already split (an HTTP tunnel after `101`).
pub async fn relay_halves(
    client: Halves,
    server: Halves,
    client_timeout: Duration,
    server_timeout: Duration,
) -> (u64, u64) {
    relay_noting(
        client,
        server,
        client_timeout,
        server_timeout,
        &Cell::new(0),
    )
    .await
}

/// [`relay_halves`], noting in `cause` which side ended the session early for
/// the log (HAProxy's `C`/`c` client, `S`/`s` server); left 0 when both
/// sides closed normally.
pub async fn relay_noting(
    client: Halves,
    server: Halves,
    client_timeout: Duration,
    server_timeout: Duration,
    cause: &Cell<u8>,
) -> (u64, u64) {
    relay_gated(
        client,
        server,
        (client_timeout, server_timeout),
        cause,
        None,
    )
    .await
}

/// [`relay_noting`], the server's first bytes passing `gate` (the
/// backend's `tcp-response content` rules) before they are relayed; the
/// client's bytes flow meanwhile. A gate that stops the session aborts both
/// directions.
pub async fn relay_gated(
    client: Halves,
    server: Halves,
    timeouts: (Duration, Duration),
    cause: &Cell<u8>,
    gate: Option<&ResponseGate<'_>>,
) -> (u64, u64) {
    let timeouts = RelayTimeouts::plain(timeouts.0, timeouts.1);
    relay_spliced(client, server, timeouts, cause, gate, None).await
}

/// [`relay_gated`], each direction spliced (socket → pipe → socket) as
/// `splice` asks: from its first byte, or after its first full buffer
/// (`splice-auto`), when a pipe is free. The server's bytes that `gate`
/// inspects are copied; splicing starts after it let them pass. Once one
/// side half-closed, the other side's reads wait its `-fin` timeout
/// (`timeouts`) when set.
pub async fn relay_spliced(
    client: Halves,
    server: Halves,
    timeouts: RelayTimeouts,
    cause: &Cell<u8>,
    gate: Option<&ResponseGate<'_>>,
    splice: Option<(SpliceOpts, &Pipes)>,
) -> (u64, u64) {
    let (client_timeout, server_timeout) = (timeouts.client, timeouts.server);
    // TLS: the copy relay (the kernel would move ciphertext).
    let splice = splice.filter(|_| !client.is_tls() && !server.is_tls());
    let up_splice = splice.and_then(|(o, p)| Some((o.up()?, p)));
    let down_splice = splice.and_then(|(o, p)| Some((o.down()?, p)));
    let fds = (client.fd, server.fd);
    let last = Cell::new(Instant::now());
    let ended = Cell::new(false);
    let half = Cell::new(None);
    let up = Ends {
        reader: b'C',
        writer: b'S',
        cause,
        ended: &ended,
        half: &half,
        fin: timeouts.client_fin,
    };
    let down = Ends {
        reader: b'S',
        writer: b'C',
        cause,
        ended: &ended,
        half: &half,
        fin: timeouts.server_fin,
    };
    let (mut sr, mut cw) = (server.r, client.w);
    let downstream = async {
        let mut passed = 0;
        if let Some(g) = gate {
            match g.pass(&mut sr, &mut cw).await {
                Ok(n) => passed = n,
                Err(n) => {
                    ended.set(true);
                    abort(fds);
                    return n;
                }
            }
            last.set(Instant::now());
        }
        let idle = (server_timeout, client_timeout);
        passed + pump(sr, cw, idle, &last, fds, down, down_splice).await
    };
    let upstream = pump(
        client.r,
        server.w,
        (client_timeout, server_timeout),
        &last,
        fds,
        up,
        up_splice,
    );
    if timeouts.client_fin.is_none() && timeouts.server_fin.is_none() {
        // Joined directly: a wrapping future would be polled at every wake.
        return monoio::join!(upstream, downstream);
    }
    let pumps = async { monoio::join!(upstream, downstream) };
    // Biased: the watch is polled after the pumps, in the same pass, so it
    // sees a half-close the moment a pump notes it.
    let watch = fin_watch(&half, &last, timeouts, fds, cause);
    monoio::select! {
        biased;
        carried = pumps => carried,
        never = watch => match never {},
    }
}

/// Once a side half-closed, ends the session when the other side has been
/// idle for its `-fin` timeout. The waiting read's own timer is armed for the
/// longer timeout it had before: this one fires first when the `-fin` one is
/// shorter (the read's deadline follows it when longer, [`Ends::read_deadline`]).
/// Never completes: the pumps end the relay.
async fn fin_watch(
    half: &Cell<Option<(u8, Instant)>>,
    last: &Cell<Instant>,
    timeouts: RelayTimeouts,
    fds: (RawFd, RawFd),
    cause: &Cell<u8>,
) -> std::convert::Infallible {
    let (closed, at) = std::future::poll_fn(|_| match half.get() {
        Some(h) => std::task::Poll::Ready(h),
        None => std::task::Poll::Pending,
    })
    .await;
    let waited = if closed == b'C' { b'S' } else { b'C' };
    if let Some(fin) = timeouts.fin_of(waited) {
        LazyTimer::new().expired(|| at.max(last.get()) + fin).await;
        // HAProxy logs the waited side's timeout (`cD`, `sD`).
        if cause.get() == 0 {
            cause.set(waited.to_ascii_lowercase());
        }
        abort(fds);
    }
    std::future::pending().await
}

/// The two sides of one direction as the log names them, and where the
/// first failure is noted.
#[derive(Clone, Copy)]
struct Ends<'a> {
    reader: u8,
    writer: u8,
    cause: &'a Cell<u8>,
    /// Set by the first direction to end: the second then needs no
    /// `shutdown`, both sockets close as it returns.
    ended: &'a Cell<bool>,
    /// The side that half-closed first (`C` or `S`), and when.
    half: &'a Cell<Option<(u8, Instant)>>,
    /// `reader`'s half-closed timeout (`timeout client-fin`/`server-fin`).
    fin: Option<Duration>,
}

impl Ends<'_> {
    /// When a read from `reader` gives up: `idle` after the last activity,
    /// or its `-fin` timeout once the other side half-closed.
    fn read_deadline(&self, last: &Cell<Instant>, idle: Duration) -> Instant {
        match (self.fin, self.half.get()) {
            (Some(fin), Some((_, at))) => at.max(last.get()) + fin,
            _ => last.get() + idle,
        }
    }

    /// `reader` ended its writes: the first direction to end notes the
    /// half-close and says whether it shuts the peer's write side.
    fn half_closed(&self) -> bool {
        if self.ended.replace(true) {
            return false;
        }
        self.half.set(Some((self.reader, Instant::now())));
        true
    }

    /// `side` (`C` or `S`) failed, or timed out (then lower case).
    fn failed(&self, side: u8, timeout: bool) {
        if self.cause.get() == 0 {
            self.cause.set(if timeout {
                side.to_ascii_lowercase()
            } else {
                side
            });
        }
    }
}

fn abort(fds: (RawFd, RawFd)) {
    for fd in [fds.0, fds.1] {
        // SAFETY: both fds belong to streams that outlive this call (their halves
        // are still held by the running pumps); shutdown does not close the fd.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

/// One direction. A read waits until the session has been idle for
/// `read_idle` in both directions (the timer, on firing, looks at `last`
/// and the read stays in flight while the other direction is busy); writes are
/// bounded by the destination's timeout, so a peer that stops reading cannot
/// pin the session.
async fn pump(
    mut r: OwnedReadHalf<Stream>,
    mut w: OwnedWriteHalf<Stream>,
    (read_idle, write_idle): (Duration, Duration),
    last: &Cell<Instant>,
    fds: (RawFd, RawFd),
    ends: Ends<'_>,
    mut splice: Option<(When, &Pipes)>,
) -> u64 {
    let mut total = 0u64;
    if let Some((When::Always, pipes)) = splice {
        if let Some(s) = splicer(pipes, fds, ends) {
            // Boxed here and below: held inline, the spliced loop's state
            // would widen every copying direction's future.
            return Box::pin(spliced(s, w, (read_idle, write_idle), last, fds, ends)).await;
        }
        // No pipe free: this direction copies to its end.
        splice = None;
    }
    let mut buf = bufpool::take();
    // One read timer and one write timer for the whole direction, pushed back
    // lazily (see `LazyTimer`): a relay step arms none.
    let mut read_timer = LazyTimer::new();
    let mut write_timer = LazyTimer::new();
    loop {
        let read_deadline = || ends.read_deadline(last, read_idle);
        match read_more_idle(&mut r, &mut buf, &mut read_timer, read_deadline).await {
            ReadOutcome::Data(n) => {
                let now = Instant::now();
                last.set(now);
                total += n as u64;
                let end = buf.len();
                if let Err(e) = write_range(
                    &mut w,
                    &mut buf,
                    (0, end),
                    &mut write_timer,
                    now + write_idle,
                )
                .await
                {
                    ends.failed(ends.writer, matches!(e, WriteFail::Timeout));
                    abort(fds);
                    return total;
                }
                last.set(Instant::now());
                // The buffer was empty before the read: `n` at capacity filled it.
                let filled = n == buf.capacity();
                buf.clear();
                // `splice-auto`: a full buffer is a bulk transfer; tried once.
                if filled
                    && let Some((_, pipes)) = splice.take()
                    && let Some(s) = splicer(pipes, fds, ends)
                {
                    bufpool::give(buf);
                    let t = (read_idle, write_idle);
                    return total + Box::pin(spliced(s, w, t, last, fds, ends)).await;
                }
                bufpool::fit_to_flow(&mut buf, filled, n);
            }
            ReadOutcome::Eof => {
                // Half-close: the peer learns there is no more. Once the other
                // direction has ended too, closing the sockets says it.
                if ends.half_closed() {
                    let _ = w.shutdown().await;
                }
                bufpool::give(buf);
                return total;
            }
            r @ (ReadOutcome::Timeout | ReadOutcome::Error(_)) => {
                ends.failed(ends.reader, matches!(r, ReadOutcome::Timeout));
                abort(fds);
                return total;
            }
        }
    }
}

/// A pipe for this direction (`ends.reader`'s socket to the other), if one is free.
fn splicer<'a>(pipes: &'a Pipes, fds: (RawFd, RawFd), ends: Ends<'_>) -> Option<Splicer<'a>> {
    let (src, dst) = if ends.reader == b'C' {
        (fds.0, fds.1)
    } else {
        (fds.1, fds.0)
    };
    Splicer::new(pipes, src, dst)
}

/// The rest of a direction spliced, ended as [`pump`] ends it: half-close
/// on the source's end, both sockets shut on a failure (noted in `ends`).
/// The halves stay held, and so the sockets open, until it returns.
async fn spliced(
    s: Splicer<'_>,
    mut w: OwnedWriteHalf<Stream>,
    idle: (Duration, Duration),
    last: &Cell<Instant>,
    fds: (RawFd, RawFd),
    ends: Ends<'_>,
) -> u64 {
    let read_deadline = || ends.read_deadline(last, idle.0);
    let (total, end) = s.run_until(read_deadline, idle.1, last).await;
    match end {
        SpliceEnd::Eof => {
            if ends.half_closed() {
                let _ = w.shutdown().await;
            }
        }
        SpliceEnd::ReadFailed(timeout) => {
            ends.failed(ends.reader, timeout);
            abort(fds);
        }
        SpliceEnd::WriteFailed(timeout) => {
            ends.failed(ends.writer, timeout);
            abort(fds);
        }
    }
    total
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
