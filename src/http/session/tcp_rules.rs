//! `tcp-request content` rules in `mode http`: as in HAProxy 2.6 they run
//! per request, on the whole parsed head, before `use_backend` (the
//! frontend's) and after it (a `backend` section's own). A rejected request
//! gets no answer: the connection is reset, counted as a denied request
//! (`dreq`) and logged `PR--` with status -1, as HAProxy does: by a frontend
//! rule as `fe/<NOSRV>` and `<BADREQ>` (the request was not taken in yet),
//! by a backend rule as `be/<NOSRV>` with the request line.

use super::*;
use crate::acl::HttparseSample;
use crate::tcp::rules::{http_request_rejected, reset_on_close};

impl Session<'_> {
    /// Whether the frontend's or the chosen backend's content rules reject
    /// the request whose head is at the start of `cbuf`: `Some(by_backend)`.
    /// Costs nothing without rules; with rules the head is parsed again,
    /// read in place.
    pub(super) fn tcp_content_rejected(&self) -> Option<bool> {
        let fe_rules = &self.fe.model.tcp.content;
        let be_rules = if self.no_backend {
            &[][..]
        } else {
            &self.be.model.tcp.content[..]
        };
        if fe_rules.is_empty() && be_rules.is_empty() {
            return None;
        }
        let mut slots = request::header_slots();
        let Ok(Parsed::Complete(head)) = request::parse_head(&self.cbuf, &mut slots) else {
            return None;
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
        let sc = &mut self.ctx.scratch.borrow_mut();
        if http_request_rejected(fe_rules, &self.fe.model.routing.acls, &sample, sc) {
            return Some(false);
        }
        http_request_rejected(be_rules, &self.be.model.acls.0, &sample, sc).then_some(true)
    }

    /// Ends the connection of a rejected request the way HAProxy does.
    pub(super) fn tcp_rejected(&self, by_backend: bool) {
        counters::add(&self.ctx.counters().frontends[self.fe_index].denied, 1);
        reset_on_close(self.client_fd);
        let backend = by_backend.then_some(self.backend);
        if by_backend {
            self.trace.request_line(&self.cbuf);
        }
        self.trace
            .finish(self.ctx, self.fe_index, backend, Outcome::Rejected);
    }
}
