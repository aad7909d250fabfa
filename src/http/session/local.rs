//! The ends of an exchange that involve no server: a response ringlb makes
//! itself (the stats page) and the lingering
//! close that keeps a last response from being reset away.

use super::*;

/// How long a closing connection waits for the client to stop sending.
const LINGER: Duration = Duration::from_secs(1);
/// At most this much unread request is drained before closing anyway.
const LINGER_BYTES: usize = 1 << 20;

impl Session<'_> {
    /// Sends a response ringlb made itself (`page` is a whole response that ends
    /// with `Connection: close` or is delimited for keep-alive), after dropping
    /// the request's body if any.
    pub(super) async fn answer_locally(
        &mut self,
        req: &Request,
        page: &mut Vec<u8>,
    ) -> Result<Next, Fail> {
        self.trace.local();
        let progress = self.trace.tracker();
        progress.response_head(page_status(page));
        progress.sent(page.len() as u64);
        counters::add(
            &self.ctx.counters().frontends[self.fe_index].bytes_out,
            page.len() as u64,
        );
        let deadline = Instant::now() + self.fe.client_timeout;
        write_all(&mut self.cw, page, &mut self.resp_timer, deadline)
            .await
            .map_err(|_| Fail::Silent)?;
        self.cbuf.drain(..req.head_len);
        let keep = req.keep_alive
            && req.body == BodyKind::None
            && !self.close_client
            && !page_closes(page);
        if keep {
            Ok(Next::KeepAlive)
        } else {
            Ok(Next::Close { linger: true })
        }
    }

    /// Closes without destroying what was sent: closing a socket with unread
    /// input makes the kernel send a reset, which can discard the last response
    /// before the client reads it. So shut the write side, drain what the
    /// client still sends for a short while, then close.
    pub(super) async fn linger_close(&mut self) {
        if self.cw.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < LINGER_BYTES {
            if self.cbuf.capacity() == 0 {
                self.cbuf = bufpool::take();
            }
            self.cbuf.clear();
            match read_more(&mut self.cr, &mut self.cbuf, &mut self.req_timer, deadline).await {
                ReadOutcome::Data(n) => drained += n,
                _ => return,
            }
        }
    }
}

/// The status of a locally made response (`HTTP/1.1 200 OK`), for the log.
fn page_status(page: &[u8]) -> u16 {
    page.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

/// Whether a locally made response announces `Connection: close`.
fn page_closes(page: &[u8]) -> bool {
    let head_end = memchr::memmem::find(page, b"\r\n\r\n").unwrap_or(page.len());
    page[..head_end]
        .split(|&b| b == b'\n')
        .any(|l| l.trim_ascii().eq_ignore_ascii_case(b"connection: close"))
}
