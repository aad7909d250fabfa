//! `server ... ssl sni <expr>`: the SNI each server of the backend is sent
//! for this request, evaluated on the head as it goes to the server (in
//! `out`: after the request rules), so that `sni req.hdr(host)` sends the
//! Host the server will read.

use super::*;
use crate::acl::HttparseSample;
use crate::http::request::MAX_HEADERS;
use crate::server::tls_origin::SniNames;

impl Session<'_> {
    /// The SNI names for this request; empty (no work) when no server of
    /// the backend has `ssl` with `sni`.
    pub(super) fn sni_names(&self) -> SniNames {
        let servers = &self.be.model.servers;
        if !self.be.needs.sni {
            return SniNames::default();
        }
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut slots);
        let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&self.out) else {
            // Not a head ringlb wrote whole: no SNI (as an empty sample).
            return SniNames::default();
        };
        let st = self.rules.borrow();
        let sample = RequestSample {
            req: HttparseSample {
                req: &parsed,
                src: self.addrs.peer,
                dst: self.addrs.local(),
                body_size: None,
                req_len: head_len as u64,
            },
            addrs: &self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be: Some(self.backend),
            vars: Some(&st.vars),
            uid: Some(&self.uid),
        };
        SniNames::eval(servers, &sample, &mut self.ctx.scratch.borrow_mut())
    }
}
