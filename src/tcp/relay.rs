//! The TCP relay: both directions at once, with half-close and an idle timeout.
//!
//! When one side ends its writes, the other side's write half is shut down and
//! the opposite direction goes on until it ends too. The session expires when
//! neither direction has moved for the timeout (`timeout client` while waiting
//! on the client, `timeout server` while waiting on the server), so a long
//! one-way transfer is never cut for the silence of the other direction. An
//! error on either side shuts both sockets, which wakes the other direction.

use std::cell::Cell;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable,
};
use monoio::time::Instant;

use crate::balance::PickInput;
use crate::bufpool;
use crate::server::dispatch::{ActiveGuard, dispatch};
use crate::stream::Stream;
use crate::worker::context::WorkerCtx;

/// Relays a TCP-mode session from accept to close.
pub async fn run(ctx: &WorkerCtx, client: Stream, peer: Option<std::net::SocketAddr>, fe: usize) {
    let f = &ctx.shared.frontends[fe];
    let be = &ctx.shared.backends[f.backend];
    let input = PickInput {
        client: peer.map(|p| p.ip()),
        ..PickInput::default()
    };
    let (idx, server) = match dispatch(ctx, f.backend, &input).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("[WARNING] {}: {e}", f.name);
            return;
        }
    };
    let _active = ActiveGuard::new(&be.servers[idx]);
    relay(client, server, f.client_timeout, be.server_timeout).await;
}

/// Relays until both directions end or the session is idle past its timeout.
/// Returns the bytes carried (client→server, server→client).
pub async fn relay(
    client: Stream,
    server: Stream,
    client_timeout: Duration,
    server_timeout: Duration,
) -> (u64, u64) {
    let fds = (client.as_raw_fd(), server.as_raw_fd());
    let last = Cell::new(Instant::now());
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let (up, down) = monoio::join!(
        pump(cr, sw, client_timeout, &last, fds),
        pump(sr, cw, server_timeout, &last, fds)
    );
    (up, down)
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

async fn pump(
    mut r: OwnedReadHalf<Stream>,
    mut w: OwnedWriteHalf<Stream>,
    idle: Duration,
    last: &Cell<Instant>,
    fds: (RawFd, RawFd),
) -> u64 {
    let mut total = 0u64;
    let mut buf = bufpool::take();
    loop {
        let res = loop {
            let deadline = last.get() + idle;
            match monoio::time::timeout_at(deadline, r.read(buf)).await {
                Ok(res) => break Some(res),
                // The other direction moved meanwhile: keep waiting.
                Err(_) if last.get() + idle > Instant::now() => {
                    buf = bufpool::take();
                }
                Err(_) => break None,
            }
        };
        let Some((res, b)) = res else {
            abort(fds);
            return total;
        };
        buf = b;
        match res {
            Ok(0) => {
                let _ = w.shutdown().await;
                bufpool::give(buf);
                return total;
            }
            Ok(n) => {
                last.set(Instant::now());
                total += n as u64;
                let (res, b) = w.write_all(buf).await;
                buf = b;
                if res.is_err() {
                    abort(fds);
                    return total;
                }
                last.set(Instant::now());
                buf.clear();
            }
            Err(_) => {
                abort(fds);
                return total;
            }
        }
    }
}
