//! The accept stage: take a connection within the limits, hand it to its session.
//!
//! Each listener has its own loop. Before accepting, a loop takes a slot of
//! the worker's share of the global and frontend `maxconn`; while none is free
//! it does not accept, so excess clients wait in the kernel backlog. On soft
//! stop (SIGUSR1) pending accepts are cancelled, the listeners close, and the
//! worker returns once its last connection has ended.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use monoio::io::Canceller;
use monoio::net::{TcpListener, UnixListener};

use super::context::WorkerCtx;
use super::listen::{BoundListener, Listener};
use crate::config::model::Mode;
use crate::stream::Stream;

/// How often a worker looks at the soft-stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Runs every accept loop of this worker until soft stop and drain.
pub async fn run(ctx: Rc<WorkerCtx>, listeners: Vec<BoundListener>) {
    let canceller = Canceller::new();
    let mut loops = Vec::new();
    for bl in listeners {
        let handle = canceller.handle();
        let ctx = ctx.clone();
        let task = match bl.listener {
            Listener::Tcp(l) => match TcpListener::from_std(l) {
                Ok(l) => monoio::spawn(accept_tcp(ctx, l, bl.frontend, handle)),
                Err(e) => {
                    eprintln!("[ALERT] worker {}: cannot register listener: {e}", ctx.id);
                    continue;
                }
            },
            Listener::Unix(l) => match UnixListener::from_std(l) {
                Ok(l) => monoio::spawn(accept_unix(ctx, l, bl.frontend, handle)),
                Err(e) => {
                    eprintln!("[ALERT] worker {}: cannot register listener: {e}", ctx.id);
                    continue;
                }
            },
        };
        loops.push(task);
    }
    while !ctx.shared.soft_stop.load(Ordering::Relaxed) {
        monoio::time::sleep(STOP_POLL).await;
    }
    canceller.cancel();
    for l in loops {
        l.await;
    }
    while ctx.global_limit.used() > 0 {
        monoio::time::sleep(STOP_POLL).await;
    }
}

async fn accept_tcp(
    ctx: Rc<WorkerCtx>,
    l: TcpListener,
    fe: usize,
    cancel: monoio::io::CancelHandle,
) {
    loop {
        let permits = (
            ctx.global_limit.acquire().await,
            ctx.frontend_limits[fe].acquire().await,
        );
        if ctx.shared.soft_stop.load(Ordering::Relaxed) {
            return;
        }
        match l.cancelable_accept(cancel.clone()).await {
            Ok((s, peer)) => {
                let _ = s.set_nodelay(true);
                if ctx.shared.debug {
                    eprintln!(
                        "{}.accept[w{}]: from [{peer}]",
                        ctx.shared.frontends[fe].name, ctx.id
                    );
                }
                monoio::spawn(session(
                    ctx.clone(),
                    Stream::Tcp(s),
                    Some(peer),
                    fe,
                    permits,
                ));
            }
            Err(e) => {
                if ctx.shared.soft_stop.load(Ordering::Relaxed) {
                    return;
                }
                accept_error(&ctx, e).await;
            }
        }
    }
}

async fn accept_unix(
    ctx: Rc<WorkerCtx>,
    l: UnixListener,
    fe: usize,
    cancel: monoio::io::CancelHandle,
) {
    loop {
        let permits = (
            ctx.global_limit.acquire().await,
            ctx.frontend_limits[fe].acquire().await,
        );
        if ctx.shared.soft_stop.load(Ordering::Relaxed) {
            return;
        }
        match l.cancelable_accept(cancel.clone()).await {
            Ok((s, _)) => {
                monoio::spawn(session(ctx.clone(), Stream::Unix(s), None, fe, permits));
            }
            Err(e) => {
                if ctx.shared.soft_stop.load(Ordering::Relaxed) {
                    return;
                }
                accept_error(&ctx, e).await;
            }
        }
    }
}

async fn accept_error(ctx: &WorkerCtx, e: std::io::Error) {
    // Out of file descriptors: back off instead of spinning on the error.
    eprintln!("[WARNING] worker {}: accept failed: {e}", ctx.id);
    monoio::time::sleep(Duration::from_millis(100)).await;
}

type Permits = (super::limit::Permit, super::limit::Permit);

async fn session(
    ctx: Rc<WorkerCtx>,
    client: Stream,
    peer: Option<std::net::SocketAddr>,
    fe: usize,
    _permits: Permits,
) {
    match ctx.shared.frontends[fe].mode {
        Mode::Http => crate::http::session::run(&ctx, client, peer, fe).await,
        Mode::Tcp => crate::tcp::relay::run(&ctx, client, peer, fe).await,
    }
}
