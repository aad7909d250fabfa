//! The exchange, stage by stage, once a request head is parsed, ruled on
//! and routed (`read.rs`): ringlb's own answers, the server's choice, its
//! queue slot, connecting or reusing, relaying both ways, and the end of the
//! exchange (counters, pooling, the client connection's fate).

use super::*;
use crate::check::passive::Event;

impl<'a> Session<'a> {
    /// One request, stage after stage: ringlb's own answers (monitor, a
    /// rule's reply, the stats page, 503 without a backend, a body over the
    /// limit), then choose the server, connect or reuse and relay both ways,
    /// then count, pool and decide the client connection's fate. (Parsing,
    /// the request rules, routing and the head's rewrite ran in `read.rs`.)
    pub(super) async fn exchange(&mut self, req: Request) -> Result<Next, Fail> {
        let first = self.begin(&req);
        if let Some(answered) = self.answer_here(&req).await {
            return answered;
        }
        if self.fe.http.buffer_request || self.be.http.buffer_request {
            self.buffer_body(&req).await?;
        }
        if self.closed_before_dispatch() {
            return Err(Fail::Status(HttpError::BadRequest));
        }
        let picked = self.choose_server(&req)?;
        // Held until the response ends: the server's `maxconn` slot (taken
        // at once where there is no limit or room, without a future).
        let now = crate::server::queue::take_now(&self.be.queue, &self.ctx.limits, picked);
        let (picked, _slot) = match now {
            Some(got) => got,
            None => self.unless_client_left(self.queue(&req, picked)).await?,
        };
        let mut body = self.body_start(&req)?;
        let relayed = self.relay(&req, &mut body, picked, first).await?;
        self.finish(&req, &body, relayed)
    }

    /// Stage: a slot on the chosen server, waiting in a queue while it is
    /// full (`server/queue.rs`); 503 `sQ` after `timeout queue`.
    pub(super) async fn queue(
        &self,
        req: &Request,
        picked: usize,
    ) -> Result<(usize, crate::server::queue::Slot<'a>), Fail> {
        // A server a cookie or `use-server` assigned queues for itself.
        let sticky = req.sticky.server == Some(picked) || req.persist.server == Some(picked);
        let mut waited = crate::server::queue::Waited::default();
        let be = self.be;
        let got = crate::server::queue::acquire(
            &be.queue,
            &self.ctx.limits,
            &be.servers,
            picked,
            sticky,
            &mut waited,
        )
        .await;
        if waited.queued {
            self.trace.queued(waited.srv_queue, waited.be_queue);
        }
        got.map_err(|_| {
            self.trace.queue_expired(sticky.then_some(picked));
            Fail::Status(HttpError::ServiceUnavailable)
        })
    }

    /// Counts the request and notes it for the log; answers whether it is the
    /// connection's first.
    pub(super) fn begin(&mut self, _req: &Request) -> bool {
        let first = self.exchanges == 0;
        self.exchanges += 1;
        self.trace.request(&self.cbuf);
        counters::add(&self.ctx.counters().frontends[self.fe_index].requests, 1);
        if self.ctx.shared.debug {
            let line = self.cbuf.split(|&b| b == b'\n').next().unwrap_or_default();
            eprintln!(
                "{}.clireq[w{}]: {}",
                self.fe.name,
                self.ctx.id,
                String::from_utf8_lossy(line).trim_end()
            );
        }
        first
    }

    /// The answers ringlb makes without a server, if this request gets one.
    pub(super) async fn answer_here(&mut self, req: &Request) -> Option<Result<Next, Fail>> {
        // `monitor-uri`: answered before anything else, as HAProxy does.
        if let Some(mut page) = self.monitor(req) {
            self.trace.local();
            return Some(self.answer_locally(req, &mut page).await);
        }
        // A request rule answered (deny, tarpit, return, redirect, auth).
        let local = self.rules.get_mut().local.take();
        if let Some(local) = local {
            return Some(self.answer_rule(req, local).await);
        }
        // The stats page (`stats enable`, `stats uri`) is answered by ringlb itself.
        // It reads the head the rules left, as HAProxy intercepts after them;
        // a POST of its admin form (`stats admin`) has its body read first.
        let post = {
            let st = self.rules.borrow();
            let (uri, head) = self.target_and_head(req, &st.msg);
            stats::page::wants_body(self.ctx, self.fe_index, self.routed(), head, uri)
        };
        if post && let Err(e) = self.buffer_body(req).await {
            return Some(Err(e));
        }
        let page = {
            let st = self.rules.borrow();
            let (uri, head) = self.target_and_head(req, &st.msg);
            // A form larger than the buffer is incomplete: `None` (HAProxy's EXCD).
            let body = if post {
                match req.body {
                    BodyKind::Length(n) => usize::try_from(n)
                        .ok()
                        .and_then(|n| req.head_len.checked_add(n))
                        .and_then(|end| self.cbuf.get(req.head_len..end)),
                    _ => Some(&[][..]),
                }
            } else {
                None
            };
            let admin = |front: bool, cond: &crate::acl::Condition| self.stats_admin(front, cond);
            stats::page::serve(
                self.ctx,
                self.fe_index,
                self.routed(),
                head,
                uri,
                &admin,
                body,
            )
        };
        if let Some(mut page) = page {
            self.trace.local();
            return Some(self.answer_locally(req, &mut page).await);
        }
        if self.no_backend {
            if self.ctx.shared.debug {
                eprintln!("[WARNING] {}: no backend for this request", self.fe.name);
            }
            return Some(Err(Fail::Status(HttpError::ServiceUnavailable)));
        }
        if let (Some((max, status)), BodyKind::Length(n)) = (self.max_body, req.body)
            && n > max
        {
            return Some(Err(Fail::Status(HttpError::for_body_limit(status))));
        }

        None
    }

    /// The request target and head as they stand now: the client's bytes, or
    /// what the rules left in `msg` (rewritten into `out`) when they edited them.
    pub(super) fn target_and_head<'m>(
        &'m self,
        req: &Request,
        msg: &'m crate::http::rules::Msg,
    ) -> (&'m [u8], &'m [u8]) {
        if req.edited {
            (msg.line(1), &self.out[..])
        } else {
            (&self.cbuf[req.uri.0..req.uri.1], &self.cbuf[..req.head_len])
        }
    }

    /// Stage: choose the server (stickiness cookie, then balancing), or 503.
    pub(super) fn choose_server(&mut self, req: &Request) -> Result<usize, Fail> {
        // `option prefer-last-server` (`reuse.rs`), else choose the server
        // while the URI is still in the buffer (or, when rules rewrote the
        // head, from the head they left).
        // A `use-server` rule assigned it (`persist/`): ahead of cookies,
        // stick rules, option prefer-last-server and balancing.
        self.forced = req.persist.persist == crate::persist::Persist::Force;
        if let Some(s) = req.persist.server {
            self.trace.sticky(req.sticky.server, s);
            return Ok(s);
        }
        // A cookie naming a server that is up (drained included) wins over
        // stick rules and balancing; one naming a down or maintained server
        // is ignored (and the cookie updated) unless `option persist` or
        // `force-persist`.
        let cookie = match (req.sticky.server, &self.be.cookie) {
            (Some(s), Some(c)) if c.persist || self.forced || self.be.servers[s].available() => {
                Some(s)
            }
            _ => None,
        };
        // Then the stick rules (`stick.rs`), then the last server.
        let stuck = self.stick_request(req, cookie.is_some());
        let preferred = stuck.or_else(|| self.preferred_server());
        let picked = if preferred.is_some() {
            preferred
        } else {
            let st = self.rules.borrow();
            let (uri, head) = self.target_and_head(req, &st.msg);
            let input = PickInput {
                client: self.rewrite.client,
                uri: Some(std::str::from_utf8(uri).unwrap_or("")),
                head: Some(head),
                ..PickInput::default()
            };
            pick(self.ctx, self.backend, &input, None)
        };
        let picked = cookie.or(picked);
        let Some(picked) = picked else {
            if self.ctx.shared.debug {
                eprintln!("[WARNING] {}: no server available", self.be.name);
            }
            return Err(Fail::Status(HttpError::ServiceUnavailable));
        };
        self.trace.sticky(req.sticky.server, picked);
        Ok(picked)
    }

    /// The head for the server is in `out`; adds the body bytes that came
    /// with it, and answers the body's cursor.
    pub(super) fn body_start(&mut self, req: &Request) -> Result<BodyCursor, Fail> {
        let mut body = BodyCursor::new(req.body);
        // The head for the server is in `out`; add what body bytes came with it.
        let part = body
            .take(&self.cbuf[req.head_len..])
            .map_err(|_| Fail::Status(HttpError::BadRequest))?;
        self.check_body_limit(&body)?;
        self.out
            .extend_from_slice(&self.cbuf[req.head_len..req.head_len + part]);
        self.cbuf.drain(..req.head_len + part);
        Ok(body)
    }

    /// Stage: connect or reuse, send the head, then relay the request body
    /// and the response at once; a reused connection that fails before
    /// answering is replaced once when the request may be resent. (Longer
    /// than most: the two relays are pinned in this frame and borrow the
    /// session's buffers field by field, which a helper taking `&self`
    /// could not lend.)
    pub(super) async fn relay(
        &mut self,
        req: &Request,
        body: &mut BodyCursor,
        picked: usize,
        first: bool,
    ) -> Result<Relayed<'a>, Fail> {
        let may_resend = req.idempotent && body.done();
        // Retries and redispatch choose by rotation, not by the request's key.
        // A new connection's PROXY header names this client (`send-proxy`);
        // the id is copied as the session is lent mutably below.
        // Only when some server of the backend sends a PROXY header: the
        // common case copies nothing per request.
        let pp = self.be.needs.proxy_header;
        let uid = self.uid.get().filter(|_| pp).map(<[u8]>::to_vec);
        // `proxy-v2-options authority` passes on the authority a received
        // PROXY v2 header carried, as HAProxy 2.6 (copied: rare, and the
        // session is lent mutably below).
        // Else the TLS SNI, as HAProxy 2.6.
        let tls = self.addrs.tls().filter(|_| pp).cloned();
        let authority = self
            .addrs
            .pp_authority()
            .filter(|_| pp)
            .or_else(|| tls.as_ref()?.sni.as_deref().map(str::as_bytes))
            .map(<[u8]>::to_vec);
        // `server ... ssl sni <expr>`: on the request as it goes out (`sni.rs`).
        let sni = self.sni_names();
        let input = PickInput {
            sni: (!sni.is_empty()).then_some(&sni),
            client: self.rewrite.client,
            conn: crate::server::proxy_header::Endpoints {
                src: self.addrs.peer,
                dst: pp.then(|| self.addrs.local()).flatten(),
                unique_id: uid.as_deref(),
                authority: authority.as_deref(),
                tls: tls.as_deref(),
                ..Default::default()
            },
            ..PickInput::default()
        };
        let (mut server_idx, mut server, mut served, mut active) =
            self.server_connection(picked, first, &input).await?;
        let mut reused = served > 0;
        let response_rules = rules::response_rules(
            (self.ctx, self.fe, self.fe_index),
            (self.be, self.backend),
            &self.addrs,
            (&self.rules, &self.uid),
            &self.trace,
        );
        let limit = self.max_body.map(|(m, _)| m);
        // HAProxy's default: a write to a side refreshes the wait for its bytes.
        // With the request body sent along with the head nothing more is
        // written to the server, nor read from the client: the links would
        // move no deadline, so the reads keep their fixed ones.
        let activity = Activity::new();
        let independent = self.fe.http.independent_streams || self.be.http.independent_streams;
        let activity = (!independent && !body.done()).then_some(&activity);
        let (ct, st) = (self.fe.client_timeout, self.be.server_timeout);
        // `http-send-name-header`'s line in `out` (`persist.rs`).
        let mut name_line = None;
        let (sr, sw, server_fd, req_state, resp, sent_at) = loop {
            if self.rewrite.server_name.is_some() {
                let srv = &self.be.servers[server_idx].name;
                persist::name_header(&mut self.out, self.rewrite.server_name, srv, &mut name_line);
            }
            // Send the head (and the body start); replace a dead reused connection once.
            let deadline = self.server_deadline();
            match write_all(&mut server, &mut self.out, &mut self.req_timer, deadline).await {
                Ok(()) => {}
                Err(WriteFail::Error(_)) if reused && may_resend => {
                    (server_idx, server) = self.connect(server_idx, &input).await?;
                    active = ActiveGuard::new(self.ctx, self.backend, server_idx);
                    (reused, served) = (false, 0);
                    continue;
                }
                Err(WriteFail::Timeout) => return Err(Fail::Status(HttpError::GatewayTimeout)),
                Err(WriteFail::Error(_)) => return Err(Fail::Status(HttpError::BadGateway)),
            }
            let sent_at = self.ctx.shared.response_histograms.then(Instant::now);
            let server_fd = server.as_raw_fd();
            let head_seen = Cell::new(false);
            let hook = response_rules
                .as_ref()
                .map(|r| r as &dyn crate::http::response::ResponseHook);
            // The stick rules' keys go with this attempt's server (`stick.rs`).
            if self.be.stick.is_some() {
                self.rules.borrow_mut().stick_server = server_idx;
            }
            let cx = ResponseCtx {
                side: ClientSide {
                    head_request: req.is_head,
                    http10: req.http10,
                    keep_alive: req.keep_alive && !self.close_client && !self.stopping(),
                    cookie: self.be.cookie.as_ref().map(|rt| ResponseCookie {
                        rt,
                        server: server_idx,
                        insert: req.persist.cookie_insert_allowed()
                            && rt.must_insert(req.sticky, server_idx, req.is_post),
                        safe_method: req.is_get || req.is_head,
                    }),
                    accept_invalid: self.be.http.accept_invalid_response,
                },
                upgrade: req.upgrade,
                rules: hook,
                server_timeout: self.be.server_timeout,
                client_timeout: self.fe.client_timeout,
                progress: self.trace.tracker(),
                head_seen: &head_seen,
                client_fd: self.client_plain_fd,
                activity,
            };
            if cx.side.cookie.as_ref().is_some_and(|c| c.insert) {
                self.trace.cookie_inserted();
            }
            let (mut sr, mut sw) = server.into_split();
            let sent = Cell::new(false);
            let body_done = body.done();
            // Pinned here, in this future, and lent to `duplex`: passed by
            // value they would be stored twice (argument and pinned local)
            // and copied into it, 1.9 KB for each request.
            let relayed = {
                let request = std::pin::pin!(relay_body(
                    &mut self.cr,
                    &mut sw,
                    &mut self.cbuf,
                    body,
                    Pace {
                        timer: &mut self.req_timer,
                        read: ct,
                        write: st,
                        linked: activity.map(|a| Linked {
                            source_written: &a.to_client,
                            dest_written: &a.to_server,
                        }),
                    },
                    limit,
                ));
                let response = std::pin::pin!(relay_response(
                    &mut sr,
                    &mut self.cw,
                    &mut self.sbuf,
                    &mut self.out,
                    &mut self.resp_timer,
                    &cx,
                    &sent,
                ));
                // `shutdown sessions server` shuts both sockets down.
                let srv = &self.be.servers[server_idx];
                let fds = [self.client_fd, server_fd];
                let use_ = kill::using(srv, self.backend, server_idx, fds);
                let relayed = duplex(request, response, body_done).await;
                if use_.release() {
                    self.trace.cause(b'K');
                    return Err(Fail::Silent);
                }
                relayed
            };
            let (req_state, resp) = relayed;
            let retry = reused && may_resend && !head_seen.get();
            match self.judge(req_state, resp, sent.get(), retry, server_idx, body) {
                Judged::Retry => {
                    drop((sr, sw));
                    (server_idx, server) = self.connect(server_idx, &input).await?;
                    active = ActiveGuard::new(self.ctx, self.backend, server_idx);
                    (reused, served) = (false, 0);
                }
                Judged::Fail(f) => return Err(f),
                Judged::Done(state, end) => break (sr, sw, server_fd, state, end, sent_at),
            }
        };
        // ringlb's response-time histograms (`stats/histogram.rs`): request
        // sent to response relayed, on this worker's own cells.
        if let Some(sent_at) = sent_at {
            let took = sent_at.elapsed();
            let c = self.ctx.counters();
            c.backends[self.backend].response_time.record(took);
            c.servers[self.backend][server_idx]
                .response_time
                .record(took);
        }
        Ok(Relayed {
            sr,
            sw,
            server_fd,
            req_state,
            resp,
            server_idx,
            active,
            served: served + 1,
        })
    }

    /// Stage: a connection to the chosen server, an idle one when the
    /// backend's `http-reuse` mode allows it for this request (`reuse.rs`),
    /// or new (with retries and redispatch, which may choose another
    /// server); answers the requests the connection served before (0: new).
    /// The server is counted active from now on, for leastconn.
    pub(super) async fn server_connection(
        &mut self,
        picked: usize,
        first: bool,
        input: &PickInput<'_>,
    ) -> Result<(usize, Stream, u32, ActiveGuard<'a>), Fail> {
        // A connection to a server whose port follows the client's cannot
        // serve a client that came in on another port: never pooled.
        let relative = self.be.servers[picked].port_offset.is_some();
        let idle = if relative {
            None
        } else {
            let sni = input.sni.and_then(|n| n.key(picked));
            self.idle_connection(picked, first, sni)
        }
        // A resolved server's new address takes new requests too (DNS hook).
        .filter(|(s, _)| self.be.servers[picked].pooled_is_current(s));
        if let Some((s, served)) = idle {
            self.trace.reused(picked);
            return Ok((
                picked,
                s,
                served.max(1),
                ActiveGuard::new(self.ctx, self.backend, picked),
            ));
        }
        let active = ActiveGuard::new(self.ctx, self.backend, picked);
        let (idx, s) = self.unless_client_left(self.connect(picked, input)).await?;
        let active = if idx != picked {
            ActiveGuard::new(self.ctx, self.backend, idx)
        } else {
            active
        };
        Ok((idx, s, 0, active))
    }

    /// What both directions' outcomes mean for the exchange: done, failed
    /// (answered if nothing was sent yet), or to be tried again on a fresh
    /// connection (`retry`: a reused one closed before any response byte).
    pub(super) fn judge<T>(
        &self,
        req_state: Result<T, RelayFail>,
        resp: Option<Result<ResponseEnd, ResponseFail>>,
        answered: bool,
        retry: bool,
        server_idx: usize,
        body: &BodyCursor,
    ) -> Judged {
        let fail = |e| {
            Judged::Fail(if answered {
                Fail::Silent
            } else {
                Fail::Status(e)
            })
        };
        match resp {
            // The client's body failed first: answer it if nothing was sent yet.
            None => {
                if let Err(RelayFail::Source(ReadOutcome::Timeout)) = req_state {
                    self.trace.cause(b'c');
                }
                match req_state {
                    Err(_) if answered => Judged::Fail(Fail::Silent),
                    Err(RelayFail::Source(ReadOutcome::Timeout)) => fail(HttpError::RequestTimeout),
                    Err(RelayFail::Malformed) => fail(HttpError::BadRequest),
                    Err(RelayFail::TooLarge) => {
                        Judged::Fail(self.check_body_limit(body).err().unwrap_or(Fail::Silent))
                    }
                    _ => Judged::Fail(Fail::Silent),
                }
            }
            Some(Err(ResponseFail::Closed)) if retry => Judged::Retry,
            Some(Err(ResponseFail::Closed)) => {
                self.observe(server_idx, Event::HttpBrokenPipe);
                self.trace.cause(b'S');
                self.log_server(server_idx, "closed the connection before answering");
                fail(HttpError::BadGateway)
            }
            Some(Err(ResponseFail::Status(e))) => {
                if e == HttpError::BadGateway {
                    // `show errors`: the head the server sent, if it is invalid.
                    let at = (self.fe_index, self.backend, server_idx);
                    let live = &self.ctx.shared.live;
                    live.errors.response(at, self.addrs.peer, &self.sbuf);
                }
                self.observe(
                    server_idx,
                    if e == HttpError::GatewayTimeout {
                        Event::HttpReadTimeout
                    } else {
                        Event::HttpRsp
                    },
                );
                self.trace.cause(if e == HttpError::GatewayTimeout {
                    b's'
                } else {
                    b'S'
                });
                self.log_server(
                    server_idx,
                    &format!("answering {} to the client", e.status()),
                );
                fail(e)
            }
            Some(Err(ResponseFail::Silent)) => Judged::Fail(Fail::Silent),
            Some(Ok(end)) => {
                let state = match req_state {
                    Ok(_) => RequestBody::Done,
                    Err(RelayFail::Sink(_)) => RequestBody::SinkFailed,
                    Err(_) => RequestBody::Unfinished,
                };
                Judged::Done(state, end)
            }
        }
    }

    /// `observe`: tells the checker what the server's answer was (`check/passive.rs`).
    fn observe(&self, server_idx: usize, event: Event) {
        crate::check::passive::note(&self.be.servers[server_idx], event);
    }

    /// Stage: count what the exchange carried, pool the server connection
    /// when reusable, and say what becomes of the client's.
    pub(super) fn finish(
        &mut self,
        req: &Request,
        body: &BodyCursor,
        relayed: Relayed<'a>,
    ) -> Result<Next, Fail> {
        let Relayed {
            sr,
            sw,
            server_fd,
            req_state,
            resp,
            server_idx,
            active,
            served,
        } = relayed;
        let (resp, bytes_out) = match resp {
            ResponseEnd::Upgraded => {
                return Ok(Next::Tunnel(
                    Halves {
                        r: sr,
                        w: sw,
                        fd: server_fd,
                    },
                    server_idx,
                ));
            }
            ResponseEnd::Done(r, n) => (r, n),
        };
        // What the exchange carried, on the frontend, backend and server.
        let fc = &self.ctx.counters().frontends[self.fe_index];
        let bytes_in = req.head_len as u64 + body.payload();
        for c in active.counters().into_iter().chain([fc]) {
            counters::add(&c.bytes_in, bytes_in);
            counters::add(&c.bytes_out, bytes_out);
            c.status(resp.status);
        }
        self.observe(server_idx, Event::for_status(resp.status));
        if self.ctx.shared.debug {
            eprintln!(
                "{}.srvrep[w{}]: {}/{} status {}",
                self.fe.name,
                self.ctx.id,
                self.be.name,
                self.be.servers[server_idx].name,
                resp.status
            );
        }
        let request_whole = matches!(req_state, RequestBody::Done);
        if resp.server_keep_alive
            && !self.rewrite.close_server
            && request_whole
            && self.sbuf.is_empty()
            // Port-relative servers: see `server_connection`.
            && self.be.servers[server_idx].port_offset.is_none()
        {
            // Within one task the halves are always reunitable; if not, just close.
            if let Ok(server) = sr.reunite(sw) {
                self.keep_connection(server_idx, server, served);
            }
        }
        // Otherwise the halves drop here: closing the socket sends the FIN (a
        // shutdown first would only cost a syscall per request under httpclose).
        // A request body left unread poisons the client connection. A soft
        // stop that came during the exchange does not close here: the
        // response went out without `Connection: close`, so the client may
        // already be sending its next request; that one is answered (with
        // `Connection: close`), or the idle wait ends the connection once the
        // client is quiet (`read_request`).
        if resp.client_keep_alive && request_whole {
            Ok(Next::KeepAlive)
        } else {
            Ok(Next::Close {
                linger: !request_whole || !self.cbuf.is_empty(),
            })
        }
    }

    pub(super) async fn connect(
        &self,
        server_idx: usize,
        input: &PickInput<'_>,
    ) -> Result<(usize, Stream), Fail> {
        self.trace.connecting(server_idx);
        let attempts = self.trace.attempts();
        // A server without a port connects to the port the client connected to.
        let dst_port = self.addrs.local().map(|a| a.port());
        // `force-persist` matched: no final redispatch (`persist/`).
        let redispatch = self.be.redispatch && !self.forced;
        let r = connect_redispatching(
            self.ctx,
            self.backend,
            server_idx,
            input,
            attempts,
            dst_port,
            redispatch,
        )
        .await;
        match &r {
            Ok((idx, _)) => self.trace.connected(*idx),
            Err(e) => self.trace.connect_failed(e, &self.ctx.shared, self.backend),
        }
        r.map_err(|e| {
            if self.ctx.shared.debug {
                eprintln!("[WARNING] {}: {e}", self.fe.name);
            }
            Fail::Status(HttpError::ServiceUnavailable)
        })
    }

    /// A chunked body is only measured as it passes: past the limit the exchange
    /// ends with the deny status, and the server connection is dropped.
    pub(super) fn check_body_limit(&self, body: &BodyCursor) -> Result<(), Fail> {
        match self.max_body {
            Some((max, status)) if body.payload() > max => {
                Err(Fail::Status(HttpError::for_body_limit(status)))
            }
            _ => Ok(()),
        }
    }
}
