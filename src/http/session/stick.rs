//! Stage 3b's stick rules (`crate::stick`): the backend's match and
//! store-request rules on the request head when the server is chosen, the
//! store-response rules on the server's response head (called from the
//! response hook, `rules.rs`), and the keys stored with the server the
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

    /// Stores the keys the request's rules took, with the server it went to.
    pub(super) fn stick_store(&self, server: usize) {
        if let Some(stick) = &self.be.stick {
            stick.commit(server, &mut self.rules.borrow_mut().stick);
        }
    }
}

/// The `store-response` rules on the response head in `msg`.
pub(super) fn on_response(
    stick: &crate::stick::StickRt,
    msg: &Msg,
    src: Option<SocketAddr>,
    sc: &mut Scratch,
    pending: &mut crate::stick::Pending,
) {
    stick.response(&ResHead { msg, src }, sc, pending);
}

/// A response head as a [`Sample`]: its status and headers, and the
/// client's address.
struct ResHead<'m> {
    msg: &'m Msg,
    src: Option<SocketAddr>,
}

impl Sample for ResHead<'_> {
    fn method(&self) -> &[u8] {
        b""
    }
    fn uri(&self) -> &[u8] {
        b""
    }
    fn version(&self) -> &[u8] {
        b""
    }
    fn req_header_count(&self) -> usize {
        0
    }
    fn req_header(&self, _i: usize) -> (&[u8], &[u8]) {
        (b"", b"")
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        None
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
