//! The relay's idle timeouts, resolved once a connection is a tunnel (HAProxy
//! 2.6 `timeout tunnel`, `timeout client-fin`, `timeout server-fin`).
//!
//! `timeout tunnel` (a backend setting, taken from the backend as HAProxy's
//! `s->be->timeout.tunnel`) replaces both `timeout client` and `timeout
//! server` in a tunnel: a `mode tcp` relay once connected (the content rules
//! have run by then) and an HTTP connection after `101`. The `-fin` timeouts
//! are HAProxy's half-closed timeouts: once ringlb has shut its writes to a
//! side (the other side ended its writes first), waiting on that side's
//! reads is bounded by its `-fin` timeout instead: `client-fin` (the
//! frontend's) once the server half-closed, `server-fin` (the backend's) once
//! the client did.

use std::time::Duration;

use crate::config::model::Timeouts;

/// Idle timeouts of one relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayTimeouts {
    /// Waiting on the client (`timeout client`, or `timeout tunnel`).
    pub client: Duration,
    /// Waiting on the server (`timeout server`, or `timeout tunnel`).
    pub server: Duration,
    /// `timeout client-fin`: waiting on the client once the server half-closed.
    pub client_fin: Option<Duration>,
    /// `timeout server-fin`: waiting on the server once the client half-closed.
    pub server_fin: Option<Duration>,
}

impl RelayTimeouts {
    /// `client` and `server` as they are, no half-closed timeouts.
    pub fn plain(client: Duration, server: Duration) -> Self {
        RelayTimeouts {
            client,
            server,
            client_fin: None,
            server_fin: None,
        }
    }

    /// A tunnel's timeouts: `client` and `server` (the resolved `timeout
    /// client` and `timeout server`) replaced by the backend's `timeout
    /// tunnel` when set; `client-fin` from the frontend, `server-fin` from
    /// the backend, as HAProxy reads them.
    pub fn tunnel(fe: &Timeouts, be: &Timeouts, client: Duration, server: Duration) -> Self {
        let (client, server) = match be.tunnel {
            Some(t) => (t, t),
            None => (client, server),
        };
        RelayTimeouts {
            client,
            server,
            client_fin: fe.client_fin,
            server_fin: be.server_fin,
        }
    }

    /// The half-closed timeout of the side whose reads are still awaited
    /// (`b'C'` client, else server), if configured.
    pub fn fin_of(&self, reader: u8) -> Option<Duration> {
        if reader == b'C' {
            self.client_fin
        } else {
            self.server_fin
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn tunnel_replaces_client_and_server_timeouts() {
        let be = Timeouts {
            tunnel: Some(ms(500)),
            ..Timeouts::default()
        };
        let t = RelayTimeouts::tunnel(&Timeouts::default(), &be, ms(10_000), ms(20_000));
        assert_eq!((t.client, t.server), (ms(500), ms(500)));
        assert_eq!((t.client_fin, t.server_fin), (None, None));
    }

    #[test]
    fn without_tunnel_client_and_server_stay() {
        let t = RelayTimeouts::tunnel(&Timeouts::default(), &Timeouts::default(), ms(10), ms(20));
        assert_eq!(t, RelayTimeouts::plain(ms(10), ms(20)));
    }

    #[test]
    fn tunnel_is_the_backends_and_fin_timeouts_come_from_their_side() {
        // A frontend's own tunnel/server-fin and a backend's client-fin are
        // not the ones HAProxy reads.
        let fe = Timeouts {
            tunnel: Some(ms(1)),
            client_fin: Some(ms(300)),
            server_fin: Some(ms(2)),
            ..Timeouts::default()
        };
        let be = Timeouts {
            client_fin: Some(ms(3)),
            server_fin: Some(ms(400)),
            ..Timeouts::default()
        };
        let t = RelayTimeouts::tunnel(&fe, &be, ms(10), ms(20));
        assert_eq!((t.client, t.server), (ms(10), ms(20)));
        assert_eq!(t.fin_of(b'C'), Some(ms(300)));
        assert_eq!(t.fin_of(b'S'), Some(ms(400)));
    }
}
