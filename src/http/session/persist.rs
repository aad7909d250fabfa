//! The session's hooks for `persist/`: the persistence rules evaluated once
//! the backend is chosen (before the head is rewritten, so that
//! `ignore-persist` leaves the cookie alone), and the
//! `http-send-name-header` line written once the server is connected.

use super::*;
use crate::http::request::Head;
use crate::http::rules::run::ReqMsg;
use crate::persist::Decision;

impl Session<'_> {
    /// `force-persist`/`ignore-persist` then `use-server` on this request,
    /// read from the head as the rules left it.
    pub(super) fn persistence(&self, head: &Head<'_, '_>) -> Decision {
        let rules = &self.be.model.persistence;
        if self.no_backend || !rules.active() {
            return Decision::default();
        }
        let st = self.rules.borrow();
        let mut sc = self.ctx.scratch.borrow_mut();
        let (servers, persist) = (&self.be.servers[..], self.be.model.persist);
        if st.loaded {
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
                be: Some(self.backend),
                vars: Some(&st.vars),
                uid: Some(&self.uid),
            };
            return rules.decide(servers, persist, &sample, &mut sc);
        }
        let sample = RequestSample {
            req: crate::acl::HttparseSample {
                req: &head.req,
                src: None,
                dst: None,
                body_size: head.body_size(),
                req_len: head.head_len as u64,
            },
            addrs: &self.addrs,
            shared: &self.ctx.shared,
            fe: self.fe_index,
            be: Some(self.backend),
            vars: Some(&st.vars),
            uid: Some(&self.uid),
        };
        rules.decide(servers, persist, &sample, &mut sc)
    }
}

/// `http-send-name-header`: puts `<header>: <server>` last in the head at
/// the start of `out`, replacing the line an earlier attempt put there
/// (`line`: where it is), so that after a retry or redispatch the header
/// names the server the request is sent to. (A free function: the relay
/// holds other fields of the session borrowed.)
pub(super) fn name_header(
    out: &mut Vec<u8>,
    header: Option<&str>,
    server: &str,
    line: &mut Option<(usize, usize)>,
) {
    let Some(name) = header else {
        return;
    };
    let at = match line.take() {
        Some((start, end)) => {
            out.drain(start..end);
            start
        }
        // The head ringlb wrote ends at its first empty line.
        None => match memchr::memmem::find(out, b"\r\n\r\n") {
            Some(p) => p + 2,
            None => return,
        },
    };
    let mut l = Vec::with_capacity(name.len() + server.len() + 4);
    l.extend_from_slice(name.as_bytes());
    l.extend_from_slice(b": ");
    l.extend_from_slice(server.as_bytes());
    l.extend_from_slice(b"\r\n");
    let end = at + l.len();
    out.splice(at..at, l);
    *line = Some((at, end));
}

#[cfg(test)]
mod tests {
    use super::name_header;

    #[test]
    fn the_name_line_follows_the_server() {
        let mut out = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\r\n\r\n".to_vec();
        let mut line = None;
        name_header(&mut out, Some("X-Srv"), "s1", &mut line);
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Srv: s1\r\n\r\nbody\r\n\r\n"
        );
        name_header(&mut out, Some("X-Srv"), "other", &mut line);
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Srv: other\r\n\r\nbody\r\n\r\n"
        );
        let mut plain = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        name_header(&mut plain, None, "s1", &mut None);
        assert_eq!(plain, b"GET / HTTP/1.1\r\n\r\n");
    }
}
