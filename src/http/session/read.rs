//! Stage 1 of an exchange: read the request head (waiting idle between
//! requests, noticing a soft stop), then parse it, choose its backend and
//! write the head for the server (`parse_route_rewrite`).

use super::*;
use crate::acl::HttparseSample;
use crate::http::unique_id;

/// Size of the buffer a connection waits for a request with.
pub(super) const IDLE_BUF: usize = 1024;
/// Longest wait between two looks at the soft-stop flag while a client is idle.
const IDLE_SLICE: Duration = Duration::from_secs(1);

impl Session<'_> {
    /// An invalid request: captured for the stats socket's `show errors`
    /// (error path only), then answered with `e`.
    fn invalid(&self, e: HttpError) -> Fail {
        if matches!(
            e,
            HttpError::BadRequest | HttpError::UriTooLong | HttpError::HeadersTooLarge
        ) {
            let live = &self.ctx.shared.live;
            live.errors
                .request(self.fe_index, self.addrs.peer, &self.cbuf);
        }
        Fail::Status(e)
    }

    /// Reads until a whole request head is in `cbuf`; `out` gets the server's head.
    pub(super) async fn read_request(&mut self, first: bool) -> Result<Request, Fail> {
        let mut deadline = if first || !self.cbuf.is_empty() {
            crate::deadline::coarse_now() + self.fe.http_request_timeout
        } else {
            crate::deadline::coarse_now() + self.fe.keep_alive_timeout
        };
        let mut waiting_idle = !first && self.cbuf.is_empty();
        loop {
            if !self.cbuf.is_empty() {
                if self.out.capacity() == 0 {
                    self.out = bufpool::take();
                }
                if self.sbuf.capacity() == 0 {
                    self.sbuf = bufpool::take();
                }
                match self.parse_route_rewrite() {
                    Ok(Parsed::Complete(r)) => match self.rules.get_mut().tcp_rejected.take() {
                        Some(by_backend) => return Err(Fail::Rejected(by_backend)),
                        None => return Ok(r),
                    },
                    Ok(Parsed::Partial) => {}
                    Err(e) => return Err(self.invalid(e)),
                }
                if self.cbuf.len() >= BUF_SIZE {
                    return Err(self.invalid(request::too_large(&self.cbuf)));
                }
            }
            let into_idle = self.cbuf.capacity() == 0;
            let buf = if into_idle {
                &mut self.idle_buf
            } else {
                &mut self.cbuf
            };
            let got = if waiting_idle {
                // While idle between requests, wake up now and then to notice
                // a soft stop; the read stays in flight across wake-ups. The
                // first look comes a whole IDLE_SLICE into the wait, so a
                // client that sends its next request as soon as it has a
                // response is never closed under it: only a connection quiet
                // for a second is, when no request can be in flight on it.
                // A second in, the response side's timer goes: a quiet
                // client holds no timer it is not waiting on (640 bytes,
                // 4 % of an idle TLS connection).
                let shared = &self.ctx.shared;
                let resp_timer = &mut self.resp_timer;
                let each_second = || {
                    resp_timer.release();
                    shared.stopping()
                };
                read_more_watch(
                    &mut self.cr,
                    buf,
                    &mut self.req_timer,
                    deadline,
                    IDLE_SLICE,
                    each_second,
                )
                .await
            } else {
                read_more(&mut self.cr, buf, &mut self.req_timer, deadline).await
            };
            match got {
                ReadOutcome::Data(_) => {
                    if into_idle {
                        self.cbuf = bufpool::take();
                        self.cbuf.extend_from_slice(&self.idle_buf);
                        self.idle_buf.clear();
                    }
                    self.trace.got_data();
                    if waiting_idle {
                        waiting_idle = false;
                        deadline = crate::deadline::coarse_now() + self.fe.http_request_timeout;
                    }
                }
                ReadOutcome::Timeout if waiting_idle => return Err(Fail::Silent),
                ReadOutcome::Timeout => return Err(Fail::Status(HttpError::RequestTimeout)),
                ReadOutcome::Eof | ReadOutcome::Error(_) => return Err(Fail::Silent),
            }
        }
    }

    /// Parses the head in `cbuf`, chooses its backend when the frontend has
    /// `use_backend` rules, then writes the head for the server into `out`
    /// with that backend's settings. Synchronous, so the header slots never
    /// live in the connection's future.
    pub(super) fn parse_route_rewrite(&mut self) -> Result<Parsed<Request>, HttpError> {
        let mut slots = request::header_slots();
        let flags = request::ParseFlags {
            accept_invalid: self.fe.http.accept_invalid_request,
        };
        let head = match request::parse_head_with(&self.cbuf, &mut slots, flags)? {
            Parsed::Complete(h) => h,
            Parsed::Partial => return Ok(Parsed::Partial),
        };
        // `cbuf` may be a 64 KB streaming buffer holding requests pipelined
        // after a large body: the head limit stays 16 KB.
        if head.head_len > BUF_SIZE {
            return Err(request::too_large(&self.cbuf));
        }
        self.trace.capture_request(head.req.headers);
        self.uid.clear();
        let f = self.fe;
        let shared = &*self.ctx.shared;
        {
            let st = self.rules.get_mut();
            st.loaded = false;
            st.local = None;
            st.fx = Default::default();
            st.tcp_rejected = None;
            st.vars.end_exchange();
        }
        // Stage: the frontend's tcp-request content rules (`tcp_rules.rs`).
        if self.tcp_content(&head, false) {
            return request::rewrite(&head, &self.cbuf, &self.rewrite, &mut self.out)
                .map(Parsed::Complete);
        }
        // Stage: the frontend's http-request and redirect rules.
        let fe_rules = &*f.model.rules.0;
        if self.request_rules(&head, fe_rules, None) {
            return request::rewrite(&head, &self.cbuf, &self.rewrite, &mut self.out)
                .map(Parsed::Complete);
        }
        // Stage: choose the backend.
        if f.switching {
            let chosen = if self.rules.get_mut().loaded {
                self.route_msg(&head)
            } else {
                let st = self.rules.borrow();
                let sample = RequestSample {
                    req: HttparseSample {
                        req: &head.req,
                        // The stream's own addresses are read instead.
                        src: None,
                        dst: None,
                        body_size: head.body_size(),
                        req_len: head.head_len as u64,
                    },
                    addrs: &self.addrs,
                    shared,
                    fe: self.fe_index,
                    be: None,
                    vars: Some(&st.vars),
                    uid: Some(&self.uid),
                };
                route::choose(f, &sample, &mut self.ctx.scratch.borrow_mut())
            };
            match chosen {
                Some(b) if b == self.backend && !self.no_backend => {}
                Some(b) => {
                    let be = &shared.backends[b];
                    (self.rewrite, self.close_client, self.max_body) = settings(f, be, &self.addrs);
                    self.be = be;
                    self.backend = b;
                    self.no_backend = false;
                    self.trace.cookie(be.cookie.is_some());
                }
                // Answered 503 by `exchange`, once the request is counted.
                None => self.no_backend = true,
            }
        }
        // Stage: a `backend` section's own tcp-request content rules.
        if !self.no_backend && self.tcp_content(&head, true) {
            return request::rewrite(&head, &self.cbuf, &self.rewrite, &mut self.out)
                .map(Parsed::Complete);
        }
        // Stage: the backend's http-request rules (a listen's run once).
        let be_rules = &*self.be.model.rules.0;
        if !self.no_backend
            && !std::ptr::eq(fe_rules, be_rules)
            && self.request_rules(&head, be_rules, Some(self.backend))
        {
            return request::rewrite(&head, &self.cbuf, &self.rewrite, &mut self.out)
                .map(Parsed::Complete);
        }
        // Stage: the head for the server (with the unique-id header).
        let backend_name = if self.no_backend {
            &self.fe.name
        } else {
            &self.be.name
        };
        // `proxy-v2-options unique-id`: the PROXY header carries the id, so
        // it is made even without `unique-id-header` (HAProxy makes it for
        // every request once `unique-id-format` is set).
        let for_proxy = self.fe.model.unique_id.is_some() && self.be.needs.proxy_unique_id;
        let id = Ids {
            ctx: self.ctx,
            fe: self.fe,
            fe_index: self.fe_index,
            backend_name,
            addrs: &self.addrs,
            for_proxy,
        };
        // `use-server`, `force-persist`, `ignore-persist` (`persist.rs`).
        let persist = self.persistence(&head);
        let rw = Rewrite {
            extra: id.header(&self.uid, &head),
            ..self.rewrite
        };
        let mut r = if self.rules.get_mut().loaded {
            let st = self.rules.borrow();
            request::rewrite_msg(&head, &st.msg, &rw, &mut self.out)?
        } else {
            request::rewrite(&head, &self.cbuf, &rw, &mut self.out)?
        };
        // Ignored persistence: the cookie is still rewritten (an indirect
        // one removed, a prefix stripped) but names no server, as HAProxy 2.6.
        if persist.persist == crate::persist::Persist::Ignore {
            r.sticky.server = None;
        }
        r.persist = persist;
        Ok(Parsed::Complete(r))
    }
}

/// What a request's unique id is made from once it is routed.
struct Ids<'s> {
    ctx: &'s WorkerCtx,
    fe: &'s FrontendRt,
    fe_index: usize,
    backend_name: &'s str,
    addrs: &'s ConnAddrs,
    /// Make the id even without a header to carry it (`send-proxy-v2`'s TLV).
    for_proxy: bool,
}

impl<'s> Ids<'s> {
    /// `unique-id-header`: the request's id, made now if no rule asked for it
    /// yet (the backend is chosen, as when HAProxy makes it), and the header
    /// that carries it to the server.
    fn header(
        &self,
        uid: &'s unique_id::IdSlot,
        head: &request::Head<'_, '_>,
    ) -> Option<(&'s str, &'s [u8])> {
        let spec = self.fe.model.unique_id.as_ref()?;
        // A log line with `%ID` logs the id HAProxy makes for every request.
        let logged = || {
            let id = crate::lf::Var::UniqueId;
            self.fe.log.as_ref().is_some_and(|l| l.uses(id))
        };
        if spec.header.is_none() && !self.for_proxy && !logged() {
            return None;
        }
        let sample = RequestSample {
            req: HttparseSample {
                req: &head.req,
                src: None,
                dst: None,
                body_size: head.body_size(),
                req_len: head.head_len as u64,
            },
            addrs: self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be: None,
            vars: None,
            uid: Some(uid),
        };
        let names = unique_id::Names {
            frontend: &self.fe.name,
            backend: self.backend_name,
            server: None,
        };
        let mut sc = self.ctx.scratch.borrow_mut();
        let id = unique_id::make(uid, spec, &sample, names, &mut sc);
        Some((spec.header.as_deref()?, id))
    }
}
