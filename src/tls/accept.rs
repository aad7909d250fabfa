//! The accept stage's TLS step (`bind ... ssl`): after the PROXY header,
//! before the session. A failed handshake ends the connection with
//! HAProxy's connection-error log line and reaches no server.

use std::sync::Arc;

use super::bind::BindTls;
use super::handshake::{self, HandshakeError};
use crate::route::ConnAddrs;
use crate::stream::Stream;
use crate::worker::context::WorkerCtx;

/// Runs the accepting handshake on `client` for frontend `fe`'s listener
/// `label` within `timeout client`: the TLS stream, or `None` once the
/// failure is logged (the caller closes).
pub async fn handshake(
    ctx: &WorkerCtx,
    fe: usize,
    label: &str,
    client: Stream,
    bind: &Arc<BindTls>,
    addrs: &ConnAddrs,
) -> Option<Stream> {
    let accepted = std::time::SystemTime::now();
    let timeout = ctx.shared.frontends[fe].model.timeouts.client;
    match handshake::accept(client, bind, timeout).await {
        Ok(tls) => Some(tls),
        Err(e) => {
            if ctx.shared.debug {
                eprintln!("{}.tls: {e}", ctx.shared.frontends[fe].name);
            }
            // A client that left before any TLS error is a null connection
            // for `option dontlognull`, as for the PROXY header.
            let null = matches!(e, HandshakeError::Empty | HandshakeError::Abort);
            crate::proxy_protocol::log_conn_error(ctx, fe, (label, addrs.peer), accepted, null, &e);
            None
        }
    }
}
