//! The ends of an exchange that involve no server: a response ringlb makes
//! itself (the stats page, `monitor-uri`, error pages) and the lingering
//! close that keeps a last response from being reset away.

use super::*;
use crate::acl::HttparseSample;
use crate::http::errors;

/// How long a closing connection waits for the client to stop sending.
const LINGER: Duration = Duration::from_secs(1);
/// At most this much unread request is drained before closing anyway.
const LINGER_BYTES: usize = 1 << 20;

impl Session<'_> {
    /// Sends a response ringlb made itself (the caller marks the stats page's
    /// exchange `<STATS>`; a rule's answer logs `<NOSRV>`, as HAProxy) (`page` is a whole response that ends
    /// with `Connection: close` or is delimited for keep-alive), after dropping
    /// the request's body if any.
    pub(super) async fn answer_locally(
        &mut self,
        req: &Request,
        page: &mut Vec<u8>,
    ) -> Result<Next, Fail> {
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

    /// The page for an error ringlb answers itself, and the status it
    /// carries: a custom page (the backend's once the request was routed,
    /// else the frontend's, as HAProxy), else the built-in one.
    pub(super) fn error_page(&self, e: HttpError, routed: bool) -> (u16, Vec<u8>) {
        // A body-size deny written in the frontend runs before the backend is
        // chosen, in HAProxy: its page is the frontend's.
        let fe_rule = matches!(e, HttpError::Forbidden | HttpError::PayloadTooLarge)
            && self.max_body.is_some()
            && self.max_body == self.fe.http.max_body;
        let be = (routed && !self.no_backend && !fe_rule).then_some(self.be);
        match errors::custom(self.fe, be, e.status()) {
            Some(p) => (p.status, p.closing().to_vec()),
            None => (e.status(), e.response()),
        }
    }

    /// `monitor-uri`: a request for exactly that URI gets the frontend's 200
    /// page, or its 503 page while a `monitor fail` condition holds, and no
    /// log line (as HAProxy, which answers it before any rule or backend).
    pub(super) fn monitor(&mut self, req: &Request) -> Option<Vec<u8>> {
        let m = &self.fe.model.monitor;
        let uri = m.uri.as_deref()?;
        if self.cbuf.get(req.uri.0..req.uri.1) != Some(uri.as_bytes()) {
            return None;
        }
        self.trace.unlogged();
        let status = if self.monitor_fails() { 503 } else { 200 };
        let page = errors::page(self.fe, None, status);
        let keep = page
            .keep_alive()
            .filter(|_| req.keep_alive && !self.close_client);
        if page.keep_alive().is_none() {
            // Not delimited: only closing the connection ends it.
            self.close_client = true;
        }
        let mut bytes = keep.unwrap_or(page.closing()).to_vec();
        if req.is_head {
            // The head only: a body would be read as the next response.
            if let Some(end) = memchr::memmem::find(&bytes, b"\r\n\r\n") {
                bytes.truncate(end + 4);
            }
        }
        Some(bytes)
    }

    /// Whether a `monitor fail` condition holds for the request head in `cbuf`.
    fn monitor_fails(&self) -> bool {
        let conds = &self.fe.model.monitor.fail;
        !conds.is_empty() && self.head_holds(conds, &self.fe.model.routing.acls)
    }

    /// Whether a `stats admin` condition holds for this request, with the
    /// frontend's ACLs (`front`) or the backend's (`stats::page`).
    pub(super) fn stats_admin(&self, front: bool, cond: &crate::acl::Condition) -> bool {
        let acls = if front {
            &self.fe.model.routing.acls
        } else {
            &self.be.model.acls.0
        };
        self.head_holds(std::slice::from_ref(cond), acls)
    }

    /// Whether any of `conds` holds for the request head in `cbuf`.
    fn head_holds(&self, conds: &[crate::acl::Condition], acls: &crate::acl::AclSet) -> bool {
        let mut slots = request::header_slots();
        let flags = request::ParseFlags {
            accept_invalid: self.fe.http.accept_invalid_request,
        };
        let Ok(Parsed::Complete(head)) = request::parse_head_with(&self.cbuf, &mut slots, flags)
        else {
            return false;
        };
        let sample = RequestSample {
            req: HttparseSample {
                req: &head.req,
                src: None,
                dst: None,
                body_size: head.body_size(),
                req_len: head.head_len as u64,
            },
            addrs: &self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be: None,
            vars: None,
            uid: Some(&self.uid),
        };
        let mut sc = self.ctx.scratch.borrow_mut();
        conds.iter().any(|c| c.eval(acls, &sample, &mut sc))
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
