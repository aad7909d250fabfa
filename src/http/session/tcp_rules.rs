//! `tcp-request content` rules in `mode http`: as in HAProxy 2.6 they run
//! per request, on the whole parsed head, before `use_backend` (the
//! frontend's) and after it (a `backend` section's own). A rejected request
//! gets no answer: the connection is reset, counted as a denied request
//! (`dreq`) and logged `PR--` with status -1 and `<BADREQ>`, as HAProxy does.

use super::*;
use crate::acl::HttparseSample;
use crate::tcp::rules::{http_request_rejected, reset_on_close};

impl Session<'_> {
    /// Whether the frontend's or the chosen backend's content rules reject
    /// the request whose head is at the start of `cbuf`. Costs nothing
    /// without rules; with rules the head is parsed again, read in place.
    pub(super) fn tcp_content_rejected(&self) -> bool {
        let fe_rules = &self.fe.model.tcp.content;
        let be_rules = if self.no_backend {
            &[][..]
        } else {
            &self.be.model.tcp.content[..]
        };
        if fe_rules.is_empty() && be_rules.is_empty() {
            return false;
        }
        let mut slots = request::header_slots();
        let Ok(Parsed::Complete(head)) = request::parse_head(&self.cbuf, &mut slots) else {
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
        };
        let sc = &mut self.ctx.scratch.borrow_mut();
        http_request_rejected(fe_rules, &self.fe.model.routing.acls, &sample, sc)
            || http_request_rejected(be_rules, &self.be.model.acls.0, &sample, sc)
    }

    /// Ends the connection of a rejected request the way HAProxy does.
    pub(super) fn tcp_rejected(&self) {
        counters::add(&self.ctx.counters().frontends[self.fe_index].denied, 1);
        reset_on_close(self.client_fd);
        // HAProxy names the frontend as the backend: the request was never routed.
        self.trace
            .finish(self.ctx, self.fe_index, None, Outcome::Rejected);
    }
}
