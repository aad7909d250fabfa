//! The receiving side of the PROXY protocol (v1 text, v2 binary), as HAProxy
//! 2.6 reads it on a `bind ... accept-proxy` listener or after `tcp-request
//! connection expect-proxy layer4`: [`parse`] is the strict parser (no
//! allocation, pure, fuzzed; v2 TLVs checked as HAProxy 2.6 checks them,
//! CRC32C included), [`tlvs`] keeps what the fetches `fc_pp_authority` and
//! `fc_pp_unique_id` read (allocating only when there is some), and
//! [`read_header`] takes exactly the header's bytes off an accepted socket
//! before any other byte is interpreted.
//!
//! Hand-written rather than the `ppp` crate: the parser is ~150 lines, must
//! say "incomplete" versus "invalid" exactly where HAProxy does (to close or
//! wait), and must never look past the header; owning it keeps those rules
//! in one place and adds no dependency.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use std::io::Write as _;

use crate::log::Level;
use crate::route::ConnAddrs;
use crate::stream::Stream;
use crate::worker::context::WorkerCtx;

/// The v2 signature.
pub const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (the spec's 107 bytes).
pub const V1_MAX: usize = 107;
/// The longest v2 header: 16 bytes then a 16-bit length.
pub const V2_MAX: usize = 16 + u16::MAX as usize;

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The connection was relayed for this client (`src`) to this address (`dst`).
    Proxied {
        /// The original client.
        src: SocketAddr,
        /// The address the client connected to.
        dst: SocketAddr,
    },
    /// `PROXY UNKNOWN`, v2 `LOCAL`, or a v2 family other than TCP over IP:
    /// the connection keeps its real addresses (as HAProxy).
    Local,
}

/// Why a header is refused, worded as HAProxy's connection errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Neither signature.
    #[error("Received something which does not look like a PROXY protocol header")]
    NotHeader,
    /// A signature, then something the spec does not allow.
    #[error("Received an invalid PROXY protocol header")]
    Bad,
    /// v1 with a protocol other than TCP4, TCP6 or UNKNOWN.
    #[error("Received an unhandled protocol in the PROXY protocol header")]
    BadProto,
    /// The client closed before the header was complete.
    #[error("Connection closed while waiting for PROXY protocol header")]
    Empty,
    /// A socket error while reading the header.
    #[error("Connection error while waiting for PROXY protocol header")]
    Abort,
    /// `timeout client` passed before the header was complete.
    #[error("Timeout while waiting for PROXY protocol header")]
    Timeout,
}

/// The outcome of [`parse`] on the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A header of this many bytes (what follows is not the header's).
    Done(Header, usize),
    /// Every byte so far belongs to a header still incomplete.
    Incomplete,
    /// Not a valid header.
    Invalid(Error),
}

/// Parses the header at the start of `buf`; never looks past its end.
pub fn parse(buf: &[u8]) -> Parsed {
    let n = buf.len().min(V2_SIG.len());
    if buf[..n] == V2_SIG[..n] && !buf.is_empty() {
        return if n < V2_SIG.len() {
            Parsed::Incomplete
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if buf[..n] != b"PROXY "[..n] {
        return Parsed::Invalid(Error::NotHeader);
    }
    if n < 6 {
        return Parsed::Incomplete;
    }
    parse_v1(buf)
}

/// `PROXY <TCP4|TCP6|UNKNOWN> <src> <dst> <sport> <dport>\r\n`.
fn parse_v1(buf: &[u8]) -> Parsed {
    let window = &buf[..buf.len().min(V1_MAX)];
    // The line ends at its first LF, which must follow a CR.
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if window.len() == V1_MAX {
            Parsed::Invalid(Error::Bad)
        } else {
            Parsed::Incomplete
        };
    };
    if window[lf - 1] != b'\r' {
        return Parsed::Invalid(Error::Bad);
    }
    let (end, len) = (lf - 1, lf + 1);
    let line = &buf[6..end];
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        return Parsed::Done(Header::Local, len);
    }
    let Ok(line) = std::str::from_utf8(line) else {
        return Parsed::Invalid(Error::Bad);
    };
    let mut f = line.split(' ');
    let v6 = match f.next() {
        Some("TCP4") => false,
        Some("TCP6") => true,
        _ => return Parsed::Invalid(Error::BadProto),
    };
    let (Some(s), Some(d), Some(sp), Some(dp), None) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Parsed::Invalid(Error::Bad);
    };
    let ip = |t: &str| -> Option<IpAddr> {
        if v6 {
            t.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            t.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        }
    };
    match (ip(s), ip(d), port(sp), port(dp)) {
        (Some(s), Some(d), Some(sp), Some(dp)) => Parsed::Done(
            Header::Proxied {
                src: SocketAddr::new(s, sp),
                dst: SocketAddr::new(d, dp),
            },
            len,
        ),
        _ => Parsed::Invalid(Error::Bad),
    }
}

/// A decimal port, 0 to 65535, digits only.
fn port(t: &str) -> Option<u16> {
    if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// The 16-byte prefix, the addresses, then TLVs (checked as HAProxy 2.6
/// checks them: see [`check_tlvs`]).
fn parse_v2(buf: &[u8]) -> Parsed {
    if buf.len() < 16 {
        return Parsed::Incomplete;
    }
    let (ver_cmd, fam) = (buf[12], buf[13]);
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if ver_cmd >> 4 != 2 || ver_cmd & 0xf > 1 {
        return Parsed::Invalid(Error::Bad);
    }
    if buf.len() < 16 + len {
        return Parsed::Incomplete;
    }
    let body = &buf[16..16 + len];
    let (header, addr_len) = match (ver_cmd & 0xf, fam) {
        (1, 0x11) if len >= 12 => {
            let ip = |o: usize| Ipv4Addr::new(body[o], body[o + 1], body[o + 2], body[o + 3]);
            let p = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
            let src = SocketAddr::new(ip(0).into(), p(8));
            let dst = SocketAddr::new(ip(4).into(), p(10));
            (Header::Proxied { src, dst }, 12)
        }
        (1, 0x21) if len >= 36 => {
            let ip = |o: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[o..o + 16]);
                Ipv6Addr::from(a)
            };
            let p = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
            let src = SocketAddr::new(ip(0).into(), p(32));
            let dst = SocketAddr::new(ip(16).into(), p(34));
            (Header::Proxied { src, dst }, 36)
        }
        (1, 0x11 | 0x21) => return Parsed::Invalid(Error::Bad),
        // LOCAL, or another family (UDP, unix, unspecified): real addresses,
        // the whole announced length skipped, TLVs unread (as HAProxy).
        _ => return Parsed::Done(Header::Local, 16 + len),
    };
    if !check_tlvs(&buf[..16 + len], 16 + addr_len) {
        return Parsed::Invalid(Error::Bad);
    }
    Parsed::Done(header, 16 + len)
}

/// TLV type of the authority (the host name the client asked for).
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
/// TLV type of the header's CRC32c.
pub const PP2_TYPE_CRC32C: u8 = 0x03;
/// TLV type of the stream's unique id.
pub const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
/// The longest AUTHORITY value HAProxy 2.6 takes (`PP2_AUTHORITY_MAX`).
pub const AUTHORITY_MAX: usize = 255;
/// The longest UNIQUE_ID value HAProxy 2.6 takes (`UNIQUEID_LEN`).
pub const UNIQUE_ID_MAX: usize = 128;

/// The (type, value) pairs of `area`, a run of TLVs; `None` for a TLV that
/// does not fit (a cut header or length).
fn tlv_iter(mut area: &[u8]) -> impl Iterator<Item = Option<(usize, u8, &[u8])>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if area.is_empty() {
            return None;
        }
        if area.len() < 3 {
            area = &[];
            return Some(None);
        }
        let l = u16::from_be_bytes([area[1], area[2]]) as usize;
        let Some(value) = area.get(3..3 + l) else {
            area = &[];
            return Some(None);
        };
        let item = (at, area[0], value);
        at += 3 + l;
        area = &area[3 + l..];
        Some(Some(item))
    })
}

/// Whether the TLVs from `from` to the end of the complete header `hdr` are
/// whole TLVs HAProxy 2.6 accepts: an AUTHORITY of at most 255 bytes, a
/// UNIQUE_ID of at most 128, a CRC32C of 4 bytes equal to the header's
/// checksum computed with that field zeroed. A second CRC32C is refused:
/// HAProxy checks each against the header with the earlier ones zeroed,
/// which costs a pass over the header per TLV (quadratic on a 64 kB
/// header); no sender writes two.
fn check_tlvs(hdr: &[u8], from: usize) -> bool {
    let mut crcs = 0;
    for t in tlv_iter(&hdr[from..]) {
        let Some((at, kind, value)) = t else {
            return false;
        };
        let ok = match kind {
            PP2_TYPE_AUTHORITY => value.len() <= AUTHORITY_MAX,
            PP2_TYPE_UNIQUE_ID => value.len() <= UNIQUE_ID_MAX,
            PP2_TYPE_CRC32C => {
                crcs += 1;
                let v = from + at + 3;
                value.len() == 4 && crcs == 1 && crc_matches(hdr, v)
            }
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether the 4 bytes at `v` are the CRC32c of `hdr` with them zeroed.
fn crc_matches(hdr: &[u8], v: usize) -> bool {
    use crate::crc32c::{START, finish, update};
    let got = u32::from_be_bytes([hdr[v], hdr[v + 1], hdr[v + 2], hdr[v + 3]]);
    let crc = update(update(update(START, &hdr[..v]), &[0; 4]), &hdr[v + 4..]);
    finish(crc) == got
}

/// What a received v2 header's TLVs said that HAProxy 2.6 keeps for the
/// connection (`fc_pp_authority`, `fc_pp_unique_id`, and the authority
/// `proxy-v2-options authority` sends on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tlvs {
    /// PP2_TYPE_AUTHORITY (the last one, as HAProxy keeps).
    pub authority: Option<Box<[u8]>>,
    /// PP2_TYPE_UNIQUE_ID (the last one).
    pub unique_id: Option<Box<[u8]>>,
}

/// The TLVs kept from `hdr`, a complete header [`parse`] accepted; `None`
/// (no allocation) for v1, LOCAL, or a header without such TLVs.
pub fn tlvs(hdr: &[u8]) -> Option<Box<Tlvs>> {
    if !hdr.starts_with(V2_SIG) || hdr.len() < 16 || hdr[12] & 0xf != 1 {
        return None;
    }
    let from = match hdr[13] {
        0x11 => 16 + 12,
        0x21 => 16 + 36,
        _ => return None,
    };
    let mut kept: Option<Box<Tlvs>> = None;
    for (_, kind, value) in tlv_iter(hdr.get(from..)?).map_while(|t| t) {
        if kind != PP2_TYPE_AUTHORITY && kind != PP2_TYPE_UNIQUE_ID {
            continue;
        }
        let t = kept.get_or_insert_with(Box::default);
        let slot = if kind == PP2_TYPE_AUTHORITY {
            &mut t.authority
        } else {
            &mut t.unique_id
        };
        *slot = Some(value.into());
    }
    kept
}

/// Writes a v1 header for `h` (the sending side's form; used by tests and fuzzing).
pub fn write_v1(h: &Header) -> Vec<u8> {
    match h {
        Header::Local => b"PROXY UNKNOWN\r\n".to_vec(),
        Header::Proxied { src, dst } => {
            let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {proto} {} {} {} {}\r\n",
                src.ip(),
                dst.ip(),
                src.port(),
                dst.port()
            )
            .into_bytes()
        }
    }
}

/// Writes a v2 header for `h` (no TLV).
pub fn write_v2(h: &Header) -> Vec<u8> {
    let mut out = V2_SIG.to_vec();
    match h {
        Header::Local => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
        Header::Proxied { src, dst } => match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out.extend_from_slice(&[0x21, 0x11, 0, 12]);
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
            }
            (s, d) => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                    IpAddr::V6(a) => a,
                };
                out.extend_from_slice(&[0x21, 0x21, 0, 36]);
                out.extend_from_slice(&v6(s).octets());
                out.extend_from_slice(&v6(d).octets());
            }
        },
    }
    if let Header::Proxied { src, dst } = h {
        out.extend_from_slice(&src.port().to_be_bytes());
        out.extend_from_slice(&dst.port().to_be_bytes());
    }
    out
}

/// Reads the PROXY header off `client` within `timeout` (`timeout client`,
/// as HAProxy bounds the handshake; none: wait as long as it takes). Bytes
/// are peeked, and only those known to belong to the header are consumed, so
/// a request sent in the same segment stays in the socket for the session.
/// The v2 TLVs HAProxy keeps come with it (see [`tlvs`]).
pub async fn read_header(
    client: &Stream,
    timeout: Option<Duration>,
) -> Result<(Header, Option<Box<Tlvs>>), Error> {
    match timeout {
        Some(t) => monoio::time::timeout(t, read_untimed(client))
            .await
            .unwrap_or(Err(Error::Timeout)),
        None => read_untimed(client).await,
    }
}

async fn read_untimed(client: &Stream) -> Result<(Header, Option<Box<Tlvs>>), Error> {
    let fd = client.as_raw_fd();
    let mut acc: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 256];
    loop {
        client.readable().await.map_err(|_| Error::Abort)?;
        // Room for what a header may still need: v1's line, or v2's announced length.
        let want = if acc.len() >= 16 && acc.starts_with(V2_SIG) {
            16 + u16::from_be_bytes([acc[14], acc[15]]) as usize
        } else {
            232
        };
        buf.resize(want.saturating_sub(acc.len()).max(1), 0);
        let n = match recv(fd, &mut buf, libc::MSG_PEEK) {
            Ok(0) => return Err(Error::Empty),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Error::Abort),
        };
        let before = acc.len();
        acc.extend_from_slice(&buf[..n]);
        let take = match parse(&acc) {
            Parsed::Invalid(e) => return Err(e),
            Parsed::Done(_, len) => len - before,
            // All of it is header: taken off the socket, so that waiting for
            // more does not wake on these bytes again.
            Parsed::Incomplete => n,
        };
        consume(fd, &mut buf[..take])?;
        acc.truncate(before + take);
        if let Parsed::Done(h, _) = parse(&acc) {
            return Ok((h, tlvs(&acc)));
        }
    }
}

/// The accept stage's step for a listener that expects a header: reads it
/// within the frontend's `timeout client` and gives the connection's
/// addresses (the header's; the real ones for `UNKNOWN`/`LOCAL`). On a bad,
/// missing or late header, logs HAProxy's connection error line
/// (`<client>:<port> [<date>] <frontend>/<listener>: <error>`, at info) and
/// gives `None`: the caller closes, and nothing reaches a server.
pub async fn addresses(
    ctx: &WorkerCtx,
    fe: usize,
    listener: &str,
    client: &Stream,
    peer: Option<SocketAddr>,
) -> Option<ConnAddrs> {
    let f = &ctx.shared.frontends[fe];
    let accepted = std::time::SystemTime::now();
    let fd = client.as_raw_fd();
    match read_header(client, f.model.timeouts.client).await {
        Ok((Header::Proxied { src, dst }, tlvs)) => {
            Some(ConnAddrs::proxied(fd, src, dst).received_proxy(tlvs))
        }
        Ok((Header::Local, _)) => Some(ConnAddrs::new(fd, peer).received_proxy(None)),
        Err(e) => {
            // As HAProxy's `option dontlognull`: a client that closed or
            // failed before its header is not logged.
            let null = matches!(e, Error::Empty | Error::Abort);
            log_conn_error(ctx, fe, (listener, peer), accepted, null, &e);
            None
        }
    }
}

/// Logs HAProxy's connection-error line for a connection that ended before
/// its session (`<client>:<port> [<date>] <frontend>/<listener>: <error>`,
/// at info, or err with `option log-separate-errors`); `null` (the client
/// sent nothing usable and left) is quiet under `option dontlognull`.
pub fn log_conn_error(
    ctx: &WorkerCtx,
    fe: usize,
    (listener, peer): (&str, Option<SocketAddr>),
    accepted: std::time::SystemTime,
    null: bool,
    e: &dyn std::fmt::Display,
) {
    let f = &ctx.shared.frontends[fe];
    let quiet = null && f.model.log.dontlognull;
    // `option log-separate-errors`: at err, as HAProxy's embryonic errors.
    let level = if f.model.log.log_separate_errors {
        Level::Err
    } else {
        Level::Info
    };
    if let Some(log) = f.log.as_ref().filter(|_| !quiet) {
        // `error-log-format`: the proxy's own line instead (`crate::log`).
        if log.send_error_line(ctx, fe, level, (peer, None), accepted) {
            return;
        }
        log.send_with(level, |out| {
            match peer {
                Some(p) => {
                    let _ = write!(out, "{}:{} [", p.ip(), p.port());
                }
                None => out.extend_from_slice(b"unknown ["),
            }
            crate::log::format::date(accepted, out);
            let _ = write!(out, "] {}/{listener}: {e}", f.name);
        });
    }
}

/// `recv` without waiting: the data is known to be there.
fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length; `fd` is the caller's
    // open socket.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Takes exactly `buf.len()` peeked bytes off the socket.
fn consume(fd: RawFd, buf: &mut [u8]) -> Result<(), Error> {
    let mut done = 0;
    while done < buf.len() {
        match recv(fd, &mut buf[done..], 0) {
            Ok(0) => return Err(Error::Empty),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Error::Abort),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_tcp4_and_following_bytes() {
        let b = b"PROXY TCP4 198.51.100.7 10.0.0.1 4242 80\r\nGET / HTTP/1.1\r\n";
        let src = a("198.51.100.7:4242");
        let dst = a("10.0.0.1:80");
        assert_eq!(parse(b), Parsed::Done(Header::Proxied { src, dst }, 42));
        assert_eq!(parse(&b[..20]), Parsed::Incomplete);
    }

    #[test]
    fn v1_tcp6_unknown_and_errors() {
        let b = b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n";
        assert!(matches!(parse(b), Parsed::Done(Header::Proxied { .. }, 36)));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Parsed::Done(Header::Local, 15));
        assert_eq!(
            parse(b"PROXY UNKNOWN 1 2 3 4\r\n").clone(),
            Parsed::Done(Header::Local, 23)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n"),
            Parsed::Invalid(Error::NotHeader)
        );
        assert_eq!(
            parse(b"PROXY UDP4 1.1.1.1 2.2.2.2 1 2\r\n"),
            Parsed::Invalid(Error::BadProto)
        );
        for bad in [
            &b"PROXY TCP4 1.1.1.1 2.2.2.2 1 65536\r\n"[..],
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1  2\r\n",
            b"PROXY TCP4 ::1 2.2.2.2 1 2\r\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n",
            b"PROXY TCP4 1.1.1.1 2.2.2.2 +1 2\r\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
        }
        assert_eq!(parse(&[b'P'; 0]), Parsed::Incomplete);
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 100]].concat();
        assert_eq!(parse(&long), Parsed::Invalid(Error::Bad));
    }

    #[test]
    fn v2_round_trips_and_tlvs() {
        for h in [
            Header::Proxied {
                src: a("198.51.100.7:4242"),
                dst: a("10.0.0.1:80"),
            },
            Header::Proxied {
                src: a("[2001:db8::7]:4242"),
                dst: a("[::1]:80"),
            },
            Header::Local,
        ] {
            let mut b = write_v2(&h);
            let n = b.len();
            b.extend_from_slice(b"rest");
            assert_eq!(parse(&b), Parsed::Done(h, n));
            assert_eq!(parse(&b[..n - 1]), Parsed::Incomplete);
            assert_eq!(parse(&write_v1(&h)), Parsed::Done(h, write_v1(&h).len()));
        }
        let mut b = write_v2(&Header::Proxied {
            src: a("1.2.3.4:5"),
            dst: a("6.7.8.9:10"),
        });
        b[15] = 12 + 5;
        b.extend_from_slice(&[0x04, 0, 2, 7, 7]);
        assert!(matches!(parse(&b), Parsed::Done(_, 33)));
        b[17 + 12] = 3; // the TLV now claims more than the header holds
        assert_eq!(parse(&b), Parsed::Invalid(Error::Bad));
        b[12] = 0x31;
        assert_eq!(parse(&b), Parsed::Invalid(Error::Bad));
    }

    /// A v4 PROXY header with `tlvs` (type, value) and, when `crc`, a
    /// CRC32C TLV first, as `proxy-v2-options crc32c` writes it.
    fn with_tlvs(tlvs: &[(u8, &[u8])], crc: bool) -> Vec<u8> {
        let mut b = write_v2(&Header::Proxied {
            src: a("1.2.3.4:5"),
            dst: a("6.7.8.9:10"),
        });
        let crc_at = crc.then(|| {
            b.extend_from_slice(&[PP2_TYPE_CRC32C, 0, 4, 0, 0, 0, 0]);
            b.len() - 4
        });
        for (t, v) in tlvs {
            b.push(*t);
            b.extend_from_slice(&(v.len() as u16).to_be_bytes());
            b.extend_from_slice(v);
        }
        let len = (b.len() - 16) as u16;
        b[14..16].copy_from_slice(&len.to_be_bytes());
        if let Some(at) = crc_at {
            let c = crate::crc32c::crc32c(&b);
            b[at..at + 4].copy_from_slice(&c.to_be_bytes());
        }
        b
    }

    #[test]
    fn tlvs_are_kept_last_one_wins() {
        let b = with_tlvs(
            &[
                (PP2_TYPE_AUTHORITY, b"first.example"),
                (0xE0, b"custom"),
                (PP2_TYPE_UNIQUE_ID, b"id-1"),
                (PP2_TYPE_AUTHORITY, b"example.com"),
            ],
            true,
        );
        assert!(matches!(parse(&b), Parsed::Done(_, n) if n == b.len()));
        let t = tlvs(&b).expect("kept");
        assert_eq!(t.authority.as_deref(), Some(&b"example.com"[..]));
        assert_eq!(t.unique_id.as_deref(), Some(&b"id-1"[..]));
        // Nothing kept: no allocation.
        assert_eq!(tlvs(&with_tlvs(&[(0xE0, b"x")], true)), None);
        assert_eq!(tlvs(&write_v1(&Header::Local)), None);
        assert_eq!(tlvs(&write_v2(&Header::Local)), None);
    }

    #[test]
    fn crc32c_is_checked() {
        let mut b = with_tlvs(&[(PP2_TYPE_AUTHORITY, b"example.com")], true);
        assert!(matches!(parse(&b), Parsed::Done(..)));
        // The CRC TLV sits right after the 12 address bytes.
        b[16 + 12 + 3] ^= 1;
        assert_eq!(parse(&b), Parsed::Invalid(Error::Bad));
        b[16 + 12 + 3] ^= 1;
        let last = b.len() - 1;
        b[last] ^= 0x20; // a covered byte changes
        assert_eq!(parse(&b), Parsed::Invalid(Error::Bad));
        // A CRC32C TLV of another length.
        let b = with_tlvs(&[(PP2_TYPE_CRC32C, b"abc")], false);
        assert_eq!(parse(&b), Parsed::Invalid(Error::Bad));
        // A second CRC32C is refused (see `check_tlvs`).
        let b = with_tlvs(&[(PP2_TYPE_CRC32C, &[0; 4])], true);
        assert_eq!(parse(&b), Parsed::Invalid(Error::Bad));
    }

    #[test]
    fn tlv_lengths_are_haproxys() {
        let ok = |t, n: usize| {
            let v = vec![b'a'; n];
            matches!(parse(&with_tlvs(&[(t, &v)], false)), Parsed::Done(..))
        };
        assert!(ok(PP2_TYPE_AUTHORITY, AUTHORITY_MAX));
        assert!(!ok(PP2_TYPE_AUTHORITY, AUTHORITY_MAX + 1));
        assert!(ok(PP2_TYPE_UNIQUE_ID, UNIQUE_ID_MAX));
        assert!(!ok(PP2_TYPE_UNIQUE_ID, UNIQUE_ID_MAX + 1));
        assert!(ok(0xE0, 1000));
        // LOCAL: the TLVs are not read, a wrong CRC included (as HAProxy).
        let mut b = with_tlvs(&[(PP2_TYPE_AUTHORITY, b"h")], true);
        b[12] = 0x20;
        b[16 + 12 + 3] ^= 1;
        assert!(matches!(parse(&b), Parsed::Done(Header::Local, _)));
        assert_eq!(tlvs(&b), None);
    }

    #[test]
    fn the_sending_side_writes_what_this_side_reads() {
        use crate::server::proxy_header::{Endpoints, ProxyOpts, write};
        let opts = ProxyOpts {
            v2: true,
            crc32c: true,
            unique_id: true,
            authority: true,
            ..ProxyOpts::default()
        };
        let e = Endpoints {
            src: Some(a("[2001:db8::7]:4242")),
            dst: Some(a("[::1]:80")),
            unique_id: Some(b"uid-42"),
            authority: Some(b"example.com"),
            local: false,
            tls: None,
        };
        let mut b = Vec::new();
        write(&opts, &e, &mut b);
        assert!(matches!(parse(&b), Parsed::Done(Header::Proxied { .. }, n) if n == b.len()));
        let t = tlvs(&b).expect("kept");
        assert_eq!(t.authority.as_deref(), e.authority);
        assert_eq!(t.unique_id.as_deref(), e.unique_id);
    }
}
