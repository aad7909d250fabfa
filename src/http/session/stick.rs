//! Stage 3b's stick rules (`crate::stick`): the backend's match and
//! store-request rules on the request head when the server is chosen; when
//! the server's response head comes (the response hook, `rules.rs`), the
//! store-response rules on it, and every key stored with the server the
//! request went to. Only backends with `stick` rules come here.

use std::net::SocketAddr;

use super::*;
use crate::acl::{HttparseSample, Sample, Scratch};
use crate::http::request::MAX_HEADERS;
use crate::http::rules::Msg;

impl<'a> Session<'a> {
    /// The server the backend's stick match rules find for this request
    /// (none when `assigned`: a persistence cookie chose first, as in
    /// HAProxy), noting the keys its store rules take.
    pub(super) fn stick_request(&self, req: &Request, assigned: bool) -> Option<usize> {
        let stick = self.be.stick.as_ref()?;
        let st = &mut *self.rules.borrow_mut();
        st.stick.clear();
        let (_, head) = self.target_and_head(req, &st.msg);
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut slots);
        // A head the session already parsed: only its slices are taken.
        parsed.parse(head).ok()?;
        let s = HttparseSample {
            req: &parsed,
            src: self.addrs.peer,
            dst: None,
            body_size: None,
            req_len: head.len() as u64,
        };
        let mut sc = self.ctx.scratch.borrow_mut();
        let servers = &self.be.servers;
        stick.request(
            &s,
            &mut sc,
            assigned,
            |i| servers[i].available(),
            &mut st.stick,
        )
    }
}

/// When the server's response head is in `msg`: the `store-response`
/// rules on it, then every key is stored with `server`, the server the
/// request went to.
pub(super) fn on_response(
    stick: &crate::stick::StickRt,
    (msg, src): (&Msg, Option<SocketAddr>),
    sc: &mut Scratch,
    pending: &mut crate::stick::Pending,
    server: usize,
) {
    if stick.reads_response() {
        stick.response(&ResHead { msg, src }, sc, pending);
    }
    stick.commit(server, pending);
}

/// A response head as a [`Sample`]: its status and headers, and the
/// client's address.
struct ResHead<'m> {
    msg: &'m Msg,
    src: Option<SocketAddr>,
}

impl Sample for ResHead<'_> {
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn status(&self) -> Option<u16> {
        std::str::from_utf8(self.msg.line(1)).ok()?.parse().ok()
    }
    fn res_header_count(&self) -> usize {
        self.msg.header_count()
    }
    fn res_header(&self, i: usize) -> (&[u8], &[u8]) {
        self.msg.header(i)
    }
}
