//! The handshakes: the accepting side (`bind ... ssl`: read the ClientHello,
//! ask the bind for its configuration, complete) and the connecting side
//! (the glue `server ... ssl` calls). Both end with every record flushed,
//! so the stream they give can be split at once (`stream.rs`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use rustls::Connection;
use rustls::server::Acceptor;

use super::bind::BindTls;
use super::stream::TlsStream;
use crate::stream::Stream;

/// Ciphertext read per socket read during a handshake (a temporary buffer).
const HS_READ: usize = 8 * 1024;

/// A fatal `handshake_failure` alert (TLS 1.2 record framing, as TLS 1.3 sends it too).
const HANDSHAKE_FAILURE: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

/// Why a handshake failed, in HAProxy's connection-error words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The peer closed before the handshake completed.
    Empty,
    /// The socket failed (reset) during the handshake.
    Abort,
    /// The handshake took longer than `timeout client`.
    Timeout,
    /// A TLS error: garbage, an unsupported version, no common cipher...
    Failure,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandshakeError::Empty => "Connection closed during SSL handshake",
            HandshakeError::Abort => "Connection error during SSL handshake",
            HandshakeError::Timeout => "Timeout during SSL handshake",
            HandshakeError::Failure => "SSL handshake failure",
        })
    }
}

impl From<HandshakeError> for io::Error {
    fn from(e: HandshakeError) -> io::Error {
        let kind = match e {
            HandshakeError::Empty => io::ErrorKind::UnexpectedEof,
            HandshakeError::Abort => io::ErrorKind::ConnectionAborted,
            HandshakeError::Timeout => io::ErrorKind::TimedOut,
            HandshakeError::Failure => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// The accepting handshake on `sock` for a `bind ... ssl`, within `timeout`
/// (`timeout client`, as HAProxy bounds it; none: as long as it takes).
pub async fn accept(
    sock: Stream,
    bind: &BindTls,
    timeout: Option<Duration>,
) -> Result<Stream, HandshakeError> {
    match timeout {
        Some(t) => monoio::time::timeout(t, accept_untimed(sock, bind))
            .await
            .unwrap_or(Err(HandshakeError::Timeout)),
        None => accept_untimed(sock, bind).await,
    }
}

async fn accept_untimed(mut sock: Stream, bind: &BindTls) -> Result<Stream, HandshakeError> {
    let mut acceptor = Acceptor::default();
    let mut buf = Vec::with_capacity(HS_READ);
    let accepted = loop {
        let (n, b) = read_some(&mut sock, buf).await;
        buf = b;
        let mut data = &buf[..n?];
        while !data.is_empty() {
            if acceptor.read_tls(&mut data).is_err() {
                return fail(&mut sock, HANDSHAKE_FAILURE.to_vec()).await;
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => break accepted,
            Ok(None) => {}
            Err((_, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                return fail(&mut sock, out).await;
            }
        }
    };
    // SNI and the crt-list's options choose the configuration; none refuses.
    let Some(config) = bind.config_for(&accepted.client_hello()) else {
        return fail(&mut sock, HANDSHAKE_FAILURE.to_vec()).await;
    };
    match accepted.into_connection(config) {
        Ok(conn) => complete(sock, Connection::Server(conn), buf).await,
        Err((_, mut alert)) => {
            let mut out = Vec::new();
            let _ = alert.write_all(&mut out);
            fail(&mut sock, out).await
        }
    }
}

/// The connecting handshake over `sock` (a connected TCP or Unix socket):
/// the glue a `server ... ssl` connection calls.
pub async fn connect(
    sock: Stream,
    cfg: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
) -> io::Result<Stream> {
    // The SNI sent, kept in the stream's `TlsInfo`: pooled connections are
    // reused only for requests with the same SNI (`http-reuse`).
    let sent: Option<Box<str>> = match &name {
        rustls::pki_types::ServerName::DnsName(d) => Some(d.as_ref().into()),
        _ => None,
    };
    let conn = rustls::ClientConnection::new(cfg, name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut s = complete(sock, Connection::Client(conn), Vec::with_capacity(HS_READ)).await?;
    if let Stream::Tls(t) = &mut s {
        t.info_mut().sni = sent;
    }
    Ok(s)
}

/// Runs the handshake to its end, every record flushed; `buf` is the read buffer.
async fn complete(
    mut sock: Stream,
    mut conn: Connection,
    mut buf: Vec<u8>,
) -> Result<Stream, HandshakeError> {
    loop {
        let done = !conn.is_handshaking();
        if !(done && only_tickets_left(&conn)) {
            send_records(&mut sock, &mut conn)
                .await
                .map_err(|_| HandshakeError::Abort)?;
        }
        if done {
            return Ok(Stream::Tls(Box::new(TlsStream::new(sock, conn))));
        }
        let (n, b) = read_some(&mut sock, buf).await;
        buf = b;
        let mut data = &buf[..n?];
        while !data.is_empty() {
            let read = conn.read_tls(&mut data);
            // Ok(0): the peer's close_notify came in.
            if matches!(read, Ok(0)) {
                return Err(HandshakeError::Empty);
            }
            if read.is_err() || conn.process_new_packets().is_err() {
                // rustls queued the alert that says why: it goes out first.
                let _ = send_records(&mut sock, &mut conn).await;
                return Err(HandshakeError::Failure);
            }
        }
    }
}

/// Whether what a finished handshake left queued is only a TLS 1.3 server's
/// session tickets: they wait for the stream's first write (the response),
/// which carries them in the same send, one send and one wake-up of the
/// client fewer per connection. A TLS 1.2 server's last flight (ticket,
/// ChangeCipherSpec, Finished) and a client's Finished end the handshake for
/// the peer and go at once.
fn only_tickets_left(conn: &Connection) -> bool {
    matches!(conn, Connection::Server(_))
        && conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
}

/// One socket read into `buf` (cleared): the count, or how the handshake ends.
async fn read_some(
    sock: &mut Stream,
    mut buf: Vec<u8>,
) -> (Result<usize, HandshakeError>, Vec<u8>) {
    buf.clear();
    let (r, buf) = sock.read(buf).await;
    let r = match r {
        Ok(0) => Err(HandshakeError::Empty),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(HandshakeError::Empty),
        Err(_) => Err(HandshakeError::Abort),
    };
    (r, buf)
}

/// Writes every record `conn` has queued.
async fn send_records(sock: &mut Stream, conn: &mut Connection) -> io::Result<()> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    if !out.is_empty() {
        sock.write_all(out).await.0?;
    }
    Ok(())
}

/// Sends `alert` (best effort) and fails the handshake.
async fn fail(sock: &mut Stream, alert: Vec<u8>) -> Result<Stream, HandshakeError> {
    let _ = sock.write_all(alert).await;
    Err(HandshakeError::Failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_haproxys_connection_errors() {
        assert_eq!(HandshakeError::Failure.to_string(), "SSL handshake failure");
        assert_eq!(
            HandshakeError::Empty.to_string(),
            "Connection closed during SSL handshake"
        );
        assert_eq!(
            HandshakeError::Timeout.to_string(),
            "Timeout during SSL handshake"
        );
        assert_eq!(
            io::Error::from(HandshakeError::Failure).kind(),
            io::ErrorKind::InvalidData
        );
    }
}
