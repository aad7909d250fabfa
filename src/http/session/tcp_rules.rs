//! `tcp-request content` rules in `mode http`: as in HAProxy 2.6 they run
//! per request, on the whole parsed head, before the `http-request` rules of
//! their proxy: the frontend's before its `http-request` rules and
//! `use_backend`, a `backend` section's own after routing, before that
//! backend's `http-request` rules. `set-var`, `set-var-fmt` and `unset-var`
//! set the connection's variables (which later rules, `use_backend` and the
//! response rules read); `capture ... len` fills the frontend's request
//! capture slot. A rejected request gets no answer: the connection is reset,
//! counted as a denied request (`dreq`) and logged `PR--` with status -1, as
//! HAProxy does: by a frontend rule as `fe/<NOSRV>` and `<BADREQ>` (the
//! request was not taken in yet), by a backend rule as `be/<NOSRV>` with the
//! request line.

use super::*;
use crate::acl::HttparseSample;
use crate::config::model::TcpAction;
use crate::http::request::Head;
use crate::http::rules::Cx;
use crate::tcp::rules::{reset_on_close, run_content, step};

impl Session<'_> {
    /// Runs the frontend's (`backend` false) or the chosen backend's
    /// content rules on the request `head`; true when one rejects it (noted
    /// in `rules.tcp_rejected` for `read_request`). Costs nothing without
    /// rules. The head is final: where HAProxy would hold a request until
    /// the inspect delay ends (`WAIT_END`), ringlb takes it as it is.
    pub(super) fn tcp_content(&self, head: &Head<'_, '_>, backend: bool) -> bool {
        let (rules, acls) = if backend {
            (&self.be.model.tcp.content[..], &self.be.model.acls.0)
        } else {
            (&self.fe.model.tcp.content[..], &self.fe.model.routing.acls)
        };
        if rules.is_empty() {
            return false;
        }
        let be = backend.then_some(self.backend);
        let cx = Cx {
            addrs: &self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be,
            server: None,
            body_size: head.body_size(),
            req_len: head.head_len as u64,
            uid: Some(&self.uid),
            captures: self.trace.captures(),
        };
        let st = &mut *self.rules.borrow_mut();
        let verdict = run_content(&mut st.vars, |vars, from| {
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
                be,
                vars: Some(vars),
                uid: Some(&self.uid),
            };
            let sc = &mut self.ctx.scratch.borrow_mut();
            step((rules, from, acls), &sample, &cx, cx.captures, sc)
        });
        // The head is whole: no condition waits (`None` cannot come back).
        let rejected = verdict == Some(TcpAction::Reject);
        if rejected {
            st.tcp_rejected = Some(backend);
        }
        rejected
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
