//! `http-reuse` and `option prefer-last-server`: which idle server
//! connection a request may take, and where a connection goes after its
//! exchange (HAProxy 2.6's `connect_server` table):
//!
//! | mode       | first request of a session   | later requests       |
//! |------------|------------------------------|----------------------|
//! | never      | its own new connection       | the session's own    |
//! | safe       | its own new connection       | any idle             |
//! | aggressive | an idle one reused already   | any idle             |
//! | always     | any idle                     | any idle             |
//!
//! With `never` a connection stays private to the client session that
//! opened it (kept beside the session, never in the worker's pool) and dies
//! with it. `prefer-last-server` acts, as in HAProxy 2.6, only on the
//! connections a session holds itself: with `never`. In the other modes the
//! connection goes back to the shared pool after each response, the session
//! holds nothing, and HAProxy 2.6 balances every request (measured: with
//! `safe`, roundrobin alternates between two servers with or without the
//! option; `tests/http_reuse.rs`).

use super::*;
use crate::config::model::{Balance, HttpReuse};
use crate::server::tls_origin::same_sni;

/// Most server connections a session keeps for itself (HAProxy's
/// `max-session-srv-conns` default).
const MAX_PRIVATE: usize = 10;

/// A server connection private to its client session (`http-reuse never`).
pub(super) struct PrivateConn {
    backend: usize,
    server: usize,
    stream: Stream,
    served: u32,
}

impl<'a> Session<'a> {
    /// An idle connection this request may take under the backend's
    /// `http-reuse` mode, with the requests it served: the session's own
    /// (`never`) or one from the worker's pool.
    #[inline]
    /// Only a connection opened with the SNI `sni` serves (`server ... ssl
    /// sni`): HAProxy 2.6 reuses one only when the SNI is the same.
    pub(super) fn idle_connection(
        &mut self,
        server: usize,
        first: bool,
        sni: Option<&str>,
    ) -> Option<(Stream, u32)> {
        let backend = self.backend;
        match self.reuse_mode(server) {
            HttpReuse::Never => {
                let i = self.private.iter().rposition(|c| {
                    c.backend == backend && c.server == server && same_sni(&c.stream, sni)
                })?;
                let c = self.private.remove(i);
                c.stream.is_idle_and_open().then_some((c.stream, c.served))
            }
            HttpReuse::Safe if first => None,
            HttpReuse::Aggressive => self.ctx.pool.take_for(backend, server, first, sni),
            _ => self.ctx.pool.take_for(backend, server, false, sni),
        }
    }

    /// Keeps a server connection that may carry another request: for the
    /// session alone with `never`, else in the worker's pool.
    #[inline]
    pub(super) fn keep_connection(&mut self, server: usize, stream: Stream, served: u32) {
        if self.reuse_mode(server) != HttpReuse::Never {
            self.ctx.pool.put(self.backend, server, stream, served);
            return;
        }
        if self.private.len() == MAX_PRIVATE {
            self.private.remove(0);
        }
        self.private.push(PrivateConn {
            backend: self.backend,
            server,
            stream,
            served,
        });
    }

    /// The backend's `http-reuse`, except that a connection which began
    /// with a PROXY header names its client: HAProxy 2.6 makes it private
    /// to the session that opened it (`conn_set_private` in
    /// `connect_server`), as `never` does here.
    #[inline]
    fn reuse_mode(&self, server: usize) -> HttpReuse {
        if self.be.model.servers[server].send_proxy.is_some() {
            HttpReuse::Never
        } else {
            self.be.http.reuse
        }
    }

    /// `option prefer-last-server`: the server of the connection this
    /// session used last in this backend, when it still holds it and the
    /// server is usable; never with an algorithm that decides by the
    /// request (hashes, `random`), as HAProxy.
    pub(super) fn preferred_server(&self) -> Option<usize> {
        if !self.be.http.prefer_last_server || deterministic(&self.be.model.balance) {
            return None;
        }
        let last = self
            .private
            .iter()
            .rev()
            .find(|c| c.backend == self.backend)?;
        self.be.servers[last.server].usable().then_some(last.server)
    }
}

/// Whether the algorithm chooses from the request (or by chance, through
/// the same hash tree in HAProxy): `prefer-last-server` does not apply.
fn deterministic(balance: &Balance) -> bool {
    !matches!(
        balance,
        Balance::RoundRobin | Balance::StaticRr | Balance::LeastConn | Balance::First
    )
}
