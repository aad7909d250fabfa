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

impl Session<'_> {
    /// With `abortonclose`, whether the client had already closed when its
    /// request was read: HAProxy 2.6 then answers 400 before choosing a
    /// server (measured: a GET followed at once by a FIN), as ringlb does.
    pub(super) fn closed_before_dispatch(&self) -> bool {
        let closed = self.be.http.abortonclose && matches!(peek(self.client_fd), Peek::Closed);
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
    let fd = stream.as_raw_fd();
    loop {
        let ready = match stream {
            Stream::Tcp(s) => s.readable(false).await,
            Stream::Unix(s) => s.readable(false).await,
        };
        if ready.is_err() {
            return;
        }
        match peek(fd) {
            Peek::Closed => return,
            Peek::Data => std::future::pending::<()>().await,
            Peek::Nothing => {}
        }
    }
}

/// What a non-blocking peek at the client socket found.
enum Peek {
    /// The end of the stream (FIN) or an error (reset).
    Closed,
    /// Bytes to read before any close.
    Data,
    /// Nothing yet (a spurious wake-up).
    Nothing,
}

/// A non-blocking peek of one byte.
fn peek(fd: RawFd) -> Peek {
    let mut byte = 0u8;
    // SAFETY: `byte` is a valid, writable 1-byte buffer for the call and the
    // fd is the live client socket; MSG_DONTWAIT never blocks.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peek::Closed,
        1.. => Peek::Data,
        _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
            Peek::Nothing
        }
        _ => Peek::Closed,
    }
}
