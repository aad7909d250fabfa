//! The rule stages of an exchange: frontend `http-request` rules (then its
//! `redirect` rules), backend ones after routing, the response rules (through
//! [`ResponseRules`], which `forward.rs` calls on the response head) and
//! `http-after-response` on every response, ringlb's own included.
//!
//! Nothing here runs for a proxy without rules: each stage starts with an
//! emptiness check, and the head is copied into the editable [`Msg`] only
//! when a rule set is about to run.

use std::cell::RefCell;

use super::*;
use crate::acl::Scratch;
use crate::http::request::Head;
use crate::http::rules::run::{Bufs, Effects, ReqMsg};
use crate::http::rules::{
    Cx, Local, LocalKind, Msg, ProxyRules, Vars, Verdict, run_request, run_response,
};

/// What the rule stages keep per client connection.
#[derive(Default)]
pub(super) struct RuleState {
    /// The head being rewritten (request, then response).
    pub msg: Msg,
    /// `msg` holds this exchange's request.
    pub loaded: bool,
    /// The connection's variables.
    pub vars: Vars,
    /// A response a rule made, to send instead of forwarding.
    pub local: Option<Local>,
    /// `set-log-level silent` and the like.
    pub fx: Effects,
    /// A `tcp-request content` rule rejected the request: `Some(by_backend)`.
    pub tcp_rejected: Option<bool>,
    /// The keys this request's stick rules store (`stick.rs`).
    pub stick: crate::stick::Pending,
    /// The server the request went to, whom they are stored with.
    pub stick_server: usize,
    tmp: Vec<u8>,
    tmp2: Vec<u8>,
}

impl RuleState {
    /// The state of a new connection, with the variables its connection
    /// rules set.
    pub fn with_vars(vars: Vars) -> RuleState {
        RuleState {
            vars,
            ..Default::default()
        }
    }

    fn bufs<'b>(&'b mut self, sc: &'b mut Scratch) -> (Bufs<'b>, &'b mut Msg, &'b mut Vars) {
        (
            Bufs {
                sc,
                tmp: &mut self.tmp,
                tmp2: &mut self.tmp2,
            },
            &mut self.msg,
            &mut self.vars,
        )
    }
}

impl Session<'_> {
    /// The rule context of this exchange.
    fn cx(&self, body_size: Option<u64>, req_len: u64, be: Option<usize>) -> Cx<'_> {
        Cx {
            addrs: &self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be,
            server: None,
            body_size,
            req_len,
            uid: Some(&self.uid),
            captures: self.trace.captures(),
        }
    }

    /// Runs a proxy's `http-request` then `redirect` rules on the request
    /// (loaded into `msg` first if no earlier stage did). True when a rule
    /// answered: the response is in `rules.local`.
    pub(super) fn request_rules(
        &self,
        head: &Head<'_, '_>,
        r: &ProxyRules,
        be: Option<usize>,
    ) -> bool {
        if r.no_request_rules() {
            return false;
        }
        let st = &mut *self.rules.borrow_mut();
        if !st.loaded {
            st.msg.load(
                head.line(),
                head.req
                    .headers
                    .iter()
                    .map(|h| (h.name.as_bytes(), h.value)),
            );
            st.loaded = true;
        }
        let cx = self.cx(head.body_size(), head.head_len as u64, be);
        let mut sc = self.ctx.scratch.borrow_mut();
        let mut fx = st.fx;
        let (mut b, msg, vars) = st.bufs(&mut sc);
        // http-request rules, the 1.4 filters, then redirect rules; `allow`
        // ends its own list only.
        let mut v = Verdict::Continue;
        for list in [&r.request, &r.legacy_request, &r.redirects] {
            v = run_request(list, &r.acls, msg, vars, &cx, &mut b, &mut fx);
            if let Verdict::Reply(_) = v {
                break;
            }
        }
        st.fx = fx;
        match v {
            Verdict::Reply(mut l) => {
                // HAProxy counts the frontend's own answers (`return`,
                // `redirect`, a service) as intercepted; not `deny`.
                let fe_stage = be.is_none();
                if fe_stage
                    && matches!(
                        l.kind,
                        LocalKind::Return | LocalKind::Redirect | LocalKind::Service
                    )
                {
                    let fc = &self.ctx.counters().frontends[self.fe_index];
                    counters::add(&fc.intercepted, 1);
                }
                if l.kind == LocalKind::Service {
                    // The exporter (`stats/prometheus.rs`), on the request as rewritten.
                    (l.status, l.page) =
                        crate::stats::prometheus::response(&self.ctx.shared, st.msg.line(1));
                }
                st.local = Some(l);
                true
            }
            _ => false,
        }
    }

    /// The backend for a request whose head rules rewrote: `use_backend`
    /// conditions read the rewritten head.
    pub(super) fn route_msg(&self, head: &Head<'_, '_>) -> Option<usize> {
        let st = self.rules.borrow();
        let sample = route::Stream {
            req: ReqMsg {
                msg: &st.msg,
                body_size: head.body_size(),
                req_len: head.head_len as u64,
                response: false,
            },
            addrs: &self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be: None,
            vars: Some(&st.vars),
            uid: Some(&self.uid),
        };
        route::choose(self.fe, &sample, &mut self.ctx.scratch.borrow_mut())
    }

    /// Sends the response a request rule made (`deny`, `tarpit`, `return`,
    /// `redirect`, `auth`), with `http-after-response` applied; the
    /// connection stays open when the request had no body, as in HAProxy.
    pub(super) async fn answer_rule(&mut self, req: &Request, local: Local) -> Result<Next, Fail> {
        let c = self.ctx.counters();
        let fc = &c.frontends[self.fe_index];
        match local.kind {
            LocalKind::Deny | LocalKind::Tarpit => counters::add(&fc.denied, 1),
            LocalKind::Invalid => counters::add(&fc.req_errors, 1),
            _ => {}
        }
        // The frontend counts the answer's status class, as HAProxy (checked
        // against it by tests/prometheus.rs).
        fc.status(local.status);
        if local.kind == LocalKind::Tarpit {
            let t = &self.fe.model.timeouts;
            let wait = t.tarpit.or(t.connect).unwrap_or_default();
            monoio::time::sleep(wait).await;
        }
        let mut page = self.after_response(local.page);
        if local.kind == LocalKind::Invalid {
            self.close_client = true;
        }
        // A response to HEAD has no body, whatever its length says: bytes
        // after the head would be read as the next response.
        if req.is_head {
            head_only(&mut page);
        }
        self.answer_locally(req, &mut page).await
    }

    /// Applies `http-after-response` rules (backend's, then frontend's) to a
    /// whole response ringlb made; unchanged when there are none.
    pub(super) fn after_response(&self, page: Vec<u8>) -> Vec<u8> {
        let fe = &*self.fe.model.rules.0;
        let be = &*self.be.model.rules.0;
        let be = (!self.no_backend && !std::ptr::eq(fe, be)).then_some(be);
        if fe.after.is_empty() && be.is_none_or(|b| b.after.is_empty()) {
            return page;
        }
        let cx = self.cx(None, 0, (!self.no_backend).then_some(self.backend));
        let st = &mut *self.rules.borrow_mut();
        let mut sc = self.ctx.scratch.borrow_mut();
        after_on_page(page, be.into_iter().chain([fe]), st, &cx, &mut sc)
    }
}

/// Runs `http-after-response` rules of `proxies` on a whole response ringlb
/// made, and writes it again with their changes.
fn after_on_page<'r>(
    page: Vec<u8>,
    proxies: impl Iterator<Item = &'r ProxyRules>,
    st: &mut RuleState,
    cx: &Cx<'_>,
    sc: &mut Scratch,
) -> Vec<u8> {
    let mut headers = [httparse::EMPTY_HEADER; crate::http::request::MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = resp.parse(&page) else {
        return page;
    };
    let code = resp.code.unwrap_or(200).to_string();
    st.msg.load(
        [
            b"1.1",
            code.as_bytes(),
            resp.reason.unwrap_or("").as_bytes(),
        ],
        resp.headers.iter().map(|h| (h.name.as_bytes(), h.value)),
    );
    st.loaded = false;
    let mut fx = st.fx;
    let (mut b, msg, vars) = st.bufs(sc);
    for r in proxies {
        if let Verdict::Reply(_) = run_response(&r.after, &r.acls, msg, vars, cx, &mut b, &mut fx) {
            break;
        }
    }
    st.fx = fx;
    let mut out = Vec::with_capacity(page.len() + 64);
    write_msg_response(&st.msg, &mut out);
    out.extend_from_slice(&page[n..]);
    out
}

/// The hook `forward.rs` calls on the server's response head; `None` when
/// neither proxy has response rules. Takes the session's parts, not the
/// session, so the relays can borrow the rest meanwhile.
pub(super) fn response_rules<'a>(
    s: (&'a WorkerCtx, &'a FrontendRt, usize),
    be: (&'a BackendRt, usize),
    addrs: &'a ConnAddrs,
    state: (&'a RefCell<RuleState>, &'a crate::http::unique_id::IdSlot),
    trace: &'a HttpTrace,
) -> Option<ResponseRules<'a>> {
    let (state, uid) = state;
    let (ctx, f, fe_index) = s;
    let fe = &*f.model.rules.0;
    let b = &*be.0.model.rules.0;
    let b = (!std::ptr::eq(fe, b)).then_some(b);
    let stick = be.0.stick.as_ref();
    if stick.is_none() && fe.no_response_rules() && b.is_none_or(|b| b.no_response_rules()) {
        return None;
    }
    Some(ResponseRules {
        fe,
        be: b,
        stick,
        state,
        cx: Cx {
            addrs,
            shared: &ctx.shared,
            fe: fe_index,
            be: Some(be.1),
            server: None,
            body_size: None,
            req_len: 0,
            uid: Some(uid),
            captures: trace.captures(),
        },
        scratch: &ctx.scratch,
    })
}

/// Cuts a whole response to its head.
pub(super) fn head_only(page: &mut Vec<u8>) {
    if let Some(end) = memchr::memmem::find(page, b"\r\n\r\n") {
        page.truncate(end + 4);
    }
}

/// Writes a response head from `msg` (line: version, status, reason).
fn write_msg_response(msg: &Msg, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(msg.line(1));
    out.push(b' ');
    out.extend_from_slice(msg.line(2));
    out.extend_from_slice(b"\r\n");
    for i in 0..msg.header_count() {
        let (n, v) = msg.header(i);
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The response rules of an exchange, run by `response::parse` on the
/// server's final response head.
pub struct ResponseRules<'a> {
    fe: &'a ProxyRules,
    be: Option<&'a ProxyRules>,
    /// The backend's stick rules: they store when the response starts.
    stick: Option<&'a crate::stick::StickRt>,
    state: &'a RefCell<RuleState>,
    cx: Cx<'a>,
    scratch: &'a RefCell<Scratch>,
}

impl crate::http::response::ResponseHook for ResponseRules<'_> {
    fn run(
        &self,
        status: u16,
        reason: &[u8],
        headers: &mut dyn Iterator<Item = (&[u8], &[u8])>,
    ) -> Option<Local> {
        let st = &mut *self.state.borrow_mut();
        let code = status.to_string();
        st.msg.load([b"1.1", code.as_bytes(), reason], headers);
        st.loaded = false;
        let mut sc = self.scratch.borrow_mut();
        // `stick store-response` reads the server's head, before the rules;
        // the keys are stored now, as HAProxy does when the response starts.
        if let Some(stick) = self.stick {
            let server = st.stick_server;
            let peer = self.cx.addrs.peer;
            super::stick::on_response(stick, (&st.msg, peer), &mut sc, &mut st.stick, server);
        }
        let mut fx = st.fx;
        let (mut b, msg, vars) = st.bufs(&mut sc);
        let mut verdict = Verdict::Continue;
        'lists: for r in self.be.into_iter().chain([self.fe]) {
            for list in [&r.response, &r.legacy_response] {
                verdict = run_response(list, &r.acls, msg, vars, &self.cx, &mut b, &mut fx);
                if let Verdict::Reply(_) = verdict {
                    break 'lists;
                }
            }
        }
        if let Verdict::Reply(mut l) = verdict {
            st.fx = fx;
            // http-after-response sees the answer a response rule made.
            let page = std::mem::take(&mut l.page);
            l.page = after_on_page(
                page,
                self.be.into_iter().chain([self.fe]),
                st,
                &self.cx,
                &mut sc,
            );
            return Some(l);
        }
        {
            for r in self.be.into_iter().chain([self.fe]) {
                if let Verdict::Reply(_) =
                    run_response(&r.after, &r.acls, msg, vars, &self.cx, &mut b, &mut fx)
                {
                    break;
                }
            }
        }
        st.fx = fx;
        match verdict {
            Verdict::Reply(l) => Some(l),
            _ => None,
        }
    }

    fn msg(&self, f: &mut dyn FnMut(&Msg)) {
        f(&self.state.borrow().msg)
    }
}
