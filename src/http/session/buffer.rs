//! `option http-buffer-request` (frontend or backend): the request body is
//! read whole, or until a buffer is full, before a server is chosen and
//! connected to, as HAProxy's `wait_for_request_body`; a slow client then
//! holds no server connection (nor a `maxconn` slot) while it uploads.
//!
//! The wait is bounded by `timeout http-request` (408, as HAProxy). A client
//! that sent `Expect: 100-continue` waits for a go-ahead before its body: it
//! gets `100 Continue` from ringlb, and the header is removed from the
//! request for the server, which would otherwise answer a second one.

use super::*;

impl Session<'_> {
    /// Reads the body of `req` into `cbuf` until it is whole or the buffer is full.
    pub(super) async fn buffer_body(&mut self, req: &Request) -> Result<(), Fail> {
        if matches!(req.body, BodyKind::None | BodyKind::Length(0)) {
            return Ok(());
        }
        let deadline = Instant::now() + self.fe.http_request_timeout;
        let mut cursor = BodyCursor::new(req.body);
        let mut seen = req.head_len;
        let mut continued = false;
        loop {
            seen += cursor
                .take(&self.cbuf[seen..])
                .map_err(|_| Fail::Status(HttpError::BadRequest))?;
            self.check_body_limit(&cursor)?;
            let room = self.cbuf.capacity().min(BUF_SIZE) - self.cbuf.len().min(BUF_SIZE);
            if cursor.done() || room == 0 {
                return Ok(());
            }
            if req.expect_continue && !continued {
                self.continue_here(deadline).await?;
                continued = true;
            }
            match read_more(&mut self.cr, &mut self.cbuf, &mut self.req_timer, deadline).await {
                ReadOutcome::Data(_) => {}
                ReadOutcome::Timeout => {
                    self.trace.cause(b'c');
                    return Err(Fail::Status(HttpError::RequestTimeout));
                }
                ReadOutcome::Eof | ReadOutcome::Error(_) => {
                    self.trace.cause(b'C');
                    return Err(Fail::Silent);
                }
            }
        }
    }

    /// Answers `100 Continue` for the server-to-be, and drops the request's
    /// `Expect` header so that the server does not send another one.
    async fn continue_here(&mut self, deadline: Instant) -> Result<(), Fail> {
        strip_expect(&mut self.out);
        let mut interim = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        write_all(&mut self.cw, &mut interim, &mut self.resp_timer, deadline)
            .await
            .map_err(|_| Fail::Silent)
    }
}

/// Removes the `Expect` header lines from a request head (the head ends the
/// buffer's first `\r\n\r\n`; body bytes after it are left alone).
fn strip_expect(out: &mut Vec<u8>) {
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let mut i = 0;
    let mut head_end = end + 2;
    while let Some(at) = out[i..head_end].windows(2).position(|w| w == b"\r\n") {
        let line = i + at + 2;
        if line >= head_end {
            break;
        }
        let next = out[line..head_end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(head_end, |p| line + p + 2);
        if out[line..next].len() > 7 && out[line..line + 7].eq_ignore_ascii_case(b"expect:") {
            out.drain(line..next);
            head_end -= next - line;
            i = line - 2;
        } else {
            i = line;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_expect;

    #[test]
    fn expect_lines_leave_the_head_and_nothing_else() {
        let mut h = b"POST / HTTP/1.1\r\nHost: x\r\nEXPECT: 100-continue\r\nA: b\r\nexpect: x\r\n\r\nexpect: body".to_vec();
        strip_expect(&mut h);
        assert_eq!(h, b"POST / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\nexpect: body");
        let mut h = b"GET / HTTP/1.1\r\nExpected: 1\r\n\r\n".to_vec();
        strip_expect(&mut h);
        assert_eq!(h, b"GET / HTTP/1.1\r\nExpected: 1\r\n\r\n");
    }
}
