//! `server ... ssl`: the TLS handshake that follows the TCP connect (and
//! the PROXY header, sent in clear first, as HAProxy), and the SNI each
//! server is sent, evaluated once per request (HTTP) or session (TCP).
//!
//! The handshake shares `timeout connect` with the TCP connect: HAProxy
//! keeps a server connection in its connecting state, under that timeout,
//! until the TLS layer is ready, and a failed handshake is a connection
//! failure (retries, redispatch, then 503 with `SC`).

use std::time::Duration;

use monoio::time::Instant;
use rustls::pki_types::ServerName;

use super::connect::ConnectError;
use crate::acl::{Sample, Scratch};
use crate::config::model::Server;
use crate::stream::Stream;
use crate::tls::server::ServerTls;

/// The SNI to send to each server of a backend, evaluated on one request
/// or session: only servers with `ssl` and `sni` have one (empty when none
/// of the backend's servers has both, the common case: no allocation).
#[derive(Debug, Default, Clone)]
pub struct SniNames(Vec<Option<ServerName<'static>>>);

impl SniNames {
    /// Evaluates each server's `sni` expression on `sample` (`servers`:
    /// the backend's, in order).
    pub fn eval<S: Sample + ?Sized>(servers: &[Server], sample: &S, sc: &mut Scratch) -> Self {
        if !Self::wanted(servers) {
            return SniNames::default();
        }
        SniNames(
            servers
                .iter()
                .map(|s| sni_of(s).map(|t| t.eval_server_name(sample, sc)))
                .collect(),
        )
    }

    /// Whether any of `servers` has `ssl` with `sni` (else there is nothing
    /// to evaluate, and no sample to build).
    pub fn wanted(servers: &[Server]) -> bool {
        servers.iter().any(|s| sni_of(s).is_some())
    }

    /// Whether no server has a name here (no `sni` anywhere).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name to connect to server `i` with: its `sni` value, else none
    /// (an address name: rustls then sends no SNI).
    pub fn name(&self, tls: &ServerTls, i: usize) -> ServerName<'static> {
        match self.0.get(i) {
            Some(Some(n)) => n.clone(),
            _ => tls.server_name(None),
        }
    }

    /// The SNI text sent to server `i` (`None`: no SNI), the key a pooled
    /// connection must match to be reused (`TlsInfo::sni` on its side).
    pub fn key(&self, i: usize) -> Option<&str> {
        match self.0.get(i) {
            Some(Some(ServerName::DnsName(d))) => Some(d.as_ref()),
            _ => None,
        }
    }
}

/// A server's TLS settings when it has `ssl` with `sni`.
fn sni_of(s: &Server) -> Option<&ServerTls> {
    s.ssl.as_deref().filter(|t| t.sni_expr().is_some())
}

/// Whether a pooled connection `s` was opened with the SNI `key` (a plain
/// connection has none): HAProxy 2.6 reuses a connection only for a
/// request with the same SNI (`http-reuse`).
pub fn same_sni(s: &Stream, key: Option<&str>) -> bool {
    s.tls_info().and_then(|i| i.sni.as_deref()) == key
}

/// The TLS handshake over the connected `sock` with `name` as SNI, by
/// `deadline` (what `timeout connect` left after the TCP connect).
pub async fn handshake(
    sock: Stream,
    tls: &ServerTls,
    name: ServerName<'static>,
    deadline: Instant,
    timeout: Duration,
) -> Result<Stream, ConnectError> {
    // `maxsslconn` counts the server side too, as HAProxy's `sslconns`: no
    // free slot fails the connection (HAProxy's "Too many SSL connections"),
    // which the connect stage retries and answers 503 as any other.
    let Some(slot) = crate::tls::limit::try_take() else {
        return Err(ConnectError::Io(std::io::Error::other(
            "Too many SSL connections",
        )));
    };
    match crate::deadline::within(deadline, crate::tls::connect(sock, tls.config(), name)).await {
        Ok(Ok(mut s)) => {
            if let Stream::Tls(t) = &mut s {
                t.hold(slot);
            }
            Ok(s)
        }
        Ok(Err(e)) => Err(ConnectError::Handshake(e)),
        Err(_) => Err(ConnectError::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::TestSample;

    /// The servers of a backend: `a` TLS with `sni req.hdr(host)`, `b` TLS
    /// without `sni`, `c` plain.
    fn servers(a_sni: &str) -> Vec<Server> {
        let text = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    \
             timeout server 1s\n\
             listen l\n    bind :8080\n    \
             server a 127.0.0.1:1 ssl verify none sni {a_sni}\n    \
             server b 127.0.0.1:2 ssl verify none\n    server c 127.0.0.1:3\n"
        );
        let loaded = crate::config::load_with_env(&[("t.cfg", &text)], &|_| None)
            .unwrap_or_else(|e| panic!("{:?}", e.errors));
        loaded.config.backends[0].servers.clone()
    }

    #[test]
    fn names_follow_each_servers_expression() {
        let s = servers("req.hdr(host)");
        let req = TestSample::get("/").header("Host", "a.test");
        let names = SniNames::eval(&s, &req, &mut Scratch::new());
        assert_eq!(names.key(0), Some("a.test"));
        // No `sni`, or no `ssl`: nothing is sent, the pool key is "none".
        assert_eq!(names.key(1), None);
        assert_eq!(names.key(2), None);
        let b = s[1].ssl.as_deref().unwrap();
        assert!(matches!(names.name(b, 1), ServerName::IpAddress(_)));
        // A request without the header: no SNI.
        let bare = SniNames::eval(&s, &TestSample::get("/"), &mut Scratch::new());
        assert_eq!(bare.key(0), None);
        // An address is never sent as SNI.
        let ip = SniNames::eval(&servers("str(10.0.0.1)"), &req, &mut Scratch::new());
        assert_eq!(ip.key(0), None);
    }

    #[test]
    fn backends_without_sni_evaluate_nothing() {
        let s = servers("str(x.test)");
        assert!(SniNames::wanted(&s));
        assert!(!SniNames::wanted(&s[1..]));
        let none = SniNames::eval(&s[1..], &TestSample::get("/"), &mut Scratch::new());
        assert!(none.is_empty());
    }
}
