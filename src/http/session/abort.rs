//! `option abortonclose`: a request waiting for a server slot (the queue) or
//! for its connection is abandoned when its client closes, instead of being
//! sent to a server nobody will read the answer of.
//!
//! A client whose close came with its request (already there once the
//! request is read) gets 400, as HAProxy 2.6 answers it.
//!
//! Without the option ringlb does as HAProxy 2.6 by default: a client that
//! closed its side (FIN) may still be waiting for the response (a half
//! close), so its request waits, is sent, and the response is relayed for as
//! long as the client's socket takes it.

use super::*;
use crate::stream::Peek;

impl Session<'_> {
    /// With `abortonclose`, whether the client had already closed when its
    /// request was read: HAProxy 2.6 then answers 400 before choosing a
    /// server (measured: a GET followed at once by a FIN), as ringlb does.
    pub(super) fn closed_before_dispatch(&self) -> bool {
        // SAFETY: as in `client_closed`: no half is reading or writing now.
        let closed =
            self.be.http.abortonclose && unsafe { &*self.cr.0.get() }.peek() == Peek::Closed;
        if closed {
            self.trace.cause(b'C');
        }
        closed
    }

    /// Runs `stage`, unless the backend has `abortonclose` and the client
    /// closes first: then the exchange ends unanswered (`C` termination).
    pub(super) async fn unless_client_left<T>(
        &self,
        stage: impl Future<Output = Result<T, Fail>>,
    ) -> Result<T, Fail> {
        if !self.be.http.abortonclose {
            return stage.await;
        }
        // Boxed: the watch would otherwise widen every exchange's future
        // (copied into its box per request) for a backend option few set.
        Box::pin(async {
            monoio::select! {
                r = stage => r,
                () = client_closed(&self.cr) => {
                    self.trace.cause(b'C');
                    Err(Fail::Silent)
                }
            }
        })
        .await
    }
}

/// Resolves once the client closed its sending side (or reset) with nothing
/// unread before the close. Bytes waiting to be read (a body, a pipelined
/// request) are not a close: then it never resolves, as HAProxy only sees
/// the close once it has read what came before.
async fn client_closed(cr: &ReadHalf) {
    // SAFETY: the halves share the stream through an `Rc<UnsafeCell>`; this
    // shared borrow only waits for readiness and peeks, while the session
    // reads and writes neither half (queue and connect stages), so no `&mut`
    // to the stream exists meanwhile.
    let stream: &Stream = unsafe { &*cr.0.get() };
    loop {
        // On TLS, a close_notify is a close and decrypted bytes are data.
        match stream.peek() {
            Peek::Closed => return,
            Peek::Data => std::future::pending::<()>().await,
            Peek::Nothing => {}
        }
        if stream.readable().await.is_err() {
            return;
        }
    }
}
