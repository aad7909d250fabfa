//! The PROXY protocol header a server connection starts with (`send-proxy`,
//! `send-proxy-v2`, `proxy-v2-options`, `check-send-proxy`), written as
//! HAProxy 2.6's `make_proxy_line` does (haproxy's proxy-protocol.txt).
//!
//! Version 1 is a text line, `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>`
//! or `PROXY UNKNOWN`; version 2 a binary header, the PROXY command with the
//! addresses, or LOCAL without them, followed by the TLVs that
//! `proxy-v2-options` asks for (in HAProxy's order: CRC32C, AUTHORITY,
//! UNIQUE_ID, SSL with its sub-TLVs).
//!
//! The SSL TLV (`proxy-v2-options ssl`, `send-proxy-v2-ssl`) describes the
//! client's TLS connection as HAProxy 2.6's `make_proxy_line_v2` does:
//! a client byte (SSL, CERT_CONN, CERT_SESS), the 32-bit verify result,
//! then the VERSION sub-TLV and, as asked, CN and CIPHER.

use std::net::{IpAddr, SocketAddr};

/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

use crate::proxy_protocol::{PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_UNIQUE_ID};

/// What a server's connections announce, from its options. HAProxy sends a
/// header whenever any PROXY option is set; version 2 only with
/// `send-proxy-v2` (`proxy-v2-options` alone sends version 1, measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyOpts {
    /// `send-proxy`.
    pub v1: bool,
    /// `send-proxy-v2`.
    pub v2: bool,
    /// `proxy-v2-options crc32c`.
    pub crc32c: bool,
    /// `proxy-v2-options unique-id`.
    pub unique_id: bool,
    /// `proxy-v2-options authority`.
    pub authority: bool,
    /// `proxy-v2-options ssl` / `send-proxy-v2-ssl`: the SSL TLV.
    pub ssl: bool,
    /// `proxy-v2-options cert-cn` / `send-proxy-v2-ssl-cn`: its CN sub-TLV.
    pub ssl_cn: bool,
    /// `proxy-v2-options ssl-cipher`: its CIPHER sub-TLV.
    pub ssl_cipher: bool,
}

impl ProxyOpts {
    /// Whether connections start with a header at all.
    pub fn sends(&self) -> bool {
        self.v1
            || self.v2
            || self.crc32c
            || self.unique_id
            || self.authority
            || self.ssl
            || self.ssl_cn
            || self.ssl_cipher
    }

    /// Parses `proxy-v2-options <opt>[,<opt>]*` into `self`. `cert-sig` and
    /// `cert-key` describe the certificate the frontend presented, which
    /// rustls does not report per connection: refused.
    pub fn parse_v2_options(&mut self, list: &str) -> Result<(), String> {
        for opt in list.split(',') {
            match opt {
                "crc32c" => self.crc32c = true,
                "unique-id" => self.unique_id = true,
                "authority" => self.authority = true,
                "ssl" => self.ssl = true,
                "cert-cn" => self.ssl_cn = true,
                "ssl-cipher" => self.ssl_cipher = true,
                "cert-sig" | "cert-key" => {
                    return Err(format!(
                        "'proxy-v2-options {opt}' is not supported: it describes the \
                         certificate the frontend presented, and rustls does not say \
                         which one a handshake chose"
                    ));
                }
                _ => {
                    return Err(format!(
                        "'proxy-v2-options' : '{opt}' is not a valid option (expects \
                         'authority', 'crc32c', 'unique-id', 'ssl', 'cert-cn', 'ssl-cipher', \
                         'cert-sig' or 'cert-key')"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What the header describes: the client's connection (as the frontend saw
/// it) and the stream's details for the TLVs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Endpoints<'a> {
    /// The client's address (`None`: not on TCP, e.g. a Unix socket).
    pub src: Option<SocketAddr>,
    /// The address the client connected to.
    pub dst: Option<SocketAddr>,
    /// The request's unique id, when `unique-id-format` made one.
    pub unique_id: Option<&'a [u8]>,
    /// The authority the client asked for (from TLS SNI or a received
    /// PROXY v2 header; none is known without them, and HAProxy then sends
    /// no AUTHORITY TLV either).
    pub authority: Option<&'a [u8]>,
    /// A connection ringlb opens for itself (a health check): version 2
    /// says LOCAL, as HAProxy 2.6 does.
    pub local: bool,
    /// The client connection's TLS outcome, for the SSL TLV.
    pub tls: Option<&'a crate::tls::info::TlsInfo>,
}

/// Appends the header for `opts` describing `e` to `out`.
pub fn write(opts: &ProxyOpts, e: &Endpoints<'_>, out: &mut Vec<u8>) {
    if opts.v2 {
        write_v2(opts, e, out);
    } else {
        write_v1(e, out);
    }
}

/// Writes the header for `opts` describing `e` on a new connection, before
/// anything else goes on it.
pub async fn send(
    s: &mut crate::stream::Stream,
    opts: &ProxyOpts,
    e: &Endpoints<'_>,
) -> std::io::Result<()> {
    use monoio::io::AsyncWriteRentExt;
    let mut header = Vec::with_capacity(108);
    write(opts, e, &mut header);
    s.write_all(header).await.0.map(|_| ())
}

/// Both addresses in one family: a v4 address beside a v6 one is written
/// v4-mapped, as HAProxy does.
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (v6(src), v6(dst))
    }
}

/// `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, or `PROXY UNKNOWN\r\n`.
fn write_v1(e: &Endpoints<'_>, out: &mut Vec<u8>) {
    use std::io::Write;
    let (Some(src), Some(dst)) = (e.src, e.dst) else {
        out.extend_from_slice(b"PROXY UNKNOWN\r\n");
        return;
    };
    let (src, dst) = same_family(src, dst);
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    );
}

/// The binary header: signature, version and command, family, length,
/// addresses, then the TLVs; the CRC32c (when asked for) covers it all.
fn write_v2(opts: &ProxyOpts, e: &Endpoints<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&V2_SIGNATURE);
    match (e.src, e.dst) {
        (Some(src), Some(dst)) if !e.local => {
            let (src, dst) = same_family(src, dst);
            out.push(0x21); // version 2, PROXY
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.extend_from_slice(&[0x11, 0, 0]); // AF_INET, STREAM
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.extend_from_slice(&[0x21, 0, 0]); // AF_INET6, STREAM
                    out.extend_from_slice(&v6_octets(s));
                    out.extend_from_slice(&v6_octets(d));
                }
            }
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&dst.port().to_be_bytes());
        }
        _ => out.extend_from_slice(&[0x20, 0x00, 0, 0]), // version 2, LOCAL, UNSPEC
    }
    let crc_at = opts.crc32c.then(|| {
        tlv(out, PP2_TYPE_CRC32C, &[0; 4]);
        out.len() - 4
    });
    if let (true, Some(a)) = (opts.authority, e.authority) {
        tlv(out, PP2_TYPE_AUTHORITY, a);
    }
    if let (true, Some(id)) = (opts.unique_id, e.unique_id) {
        tlv(out, PP2_TYPE_UNIQUE_ID, id);
    }
    if opts.ssl {
        ssl_tlv(opts, e.tls, out);
    }
    let len = u16::try_from(out.len() - start - 16).unwrap_or(u16::MAX);
    out[start + 14..start + 16].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc_at {
        let crc = crate::crc32c::crc32c(&out[start..]);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// PP2_TYPE_SSL: the client byte, the verify result, then the sub-TLVs;
/// on a plain connection the client byte and the result are 0, no sub-TLV.
fn ssl_tlv(opts: &ProxyOpts, tls: Option<&crate::tls::info::TlsInfo>, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[PP2_TYPE_SSL, 0, 0, 0, 0, 0, 0, 0]);
    if let Some(t) = tls {
        let mut client = PP2_CLIENT_SSL;
        if t.peer_cert {
            // Verified, or the handshake would have failed: X509_V_OK (0).
            client |= PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS;
        }
        out[at + 3] = client;
        if !t.version.is_empty() {
            tlv(out, PP2_SUBTYPE_SSL_VERSION, t.version.as_bytes());
        }
        if opts.ssl_cn
            && let Some(cn) = t.peer_subject.as_ref().and_then(|d| d.entry("CN", 1))
        {
            tlv(out, PP2_SUBTYPE_SSL_CN, cn.as_bytes());
        }
        if opts.ssl_cipher && !t.cipher.is_empty() {
            tlv(out, PP2_SUBTYPE_SSL_CIPHER, t.cipher.as_bytes());
        }
    }
    let len = u16::try_from(out.len() - at - 3).unwrap_or(u16::MAX);
    out[at + 1..at + 3].copy_from_slice(&len.to_be_bytes());
}

/// PP2_TYPE_SSL and its parts (proxy-protocol.txt 2.2.5).
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;

/// An address as 16 bytes (a v4 one v4-mapped).
fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// One TLV: type, 16-bit length, value (cut to what the length can say).
fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let value = &value[..value.len().min(u16::MAX as usize)];
    out.push(kind);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_tlv_on_plain_and_tls_connections() {
        let opts = ProxyOpts {
            v2: true,
            ssl: true,
            ssl_cipher: true,
            ..ProxyOpts::default()
        };
        let mut e = Endpoints {
            src: sa("10.0.0.1:1000"),
            dst: sa("10.0.0.2:443"),
            ..Endpoints::default()
        };
        // Plain: the TLV with client 0, verify 0, nothing inside.
        assert_eq!(&header(opts, e)[28..], &[0x20, 0, 5, 0, 0, 0, 0, 0]);
        let info = crate::tls::info::TlsInfo {
            version: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            ..Default::default()
        };
        e.tls = Some(&info);
        let h = header(opts, e);
        let mut want = vec![0x20, 0, 40, 1, 0, 0, 0, 0, 0x21, 0, 7];
        want.extend_from_slice(b"TLSv1.3");
        want.extend_from_slice(&[0x23, 0, 22]);
        want.extend_from_slice(b"TLS_AES_128_GCM_SHA256");
        assert_eq!(&h[28..], &want[..]);
        assert_eq!(u16::from_be_bytes([h[14], h[15]]) as usize, h.len() - 16);
    }

    fn sa(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("test address"))
    }

    fn header(opts: ProxyOpts, e: Endpoints<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        write(&opts, &e, &mut out);
        out
    }

    const V1: ProxyOpts = ProxyOpts {
        v1: true,
        v2: false,
        crc32c: false,
        unique_id: false,
        authority: false,
        ssl: false,
        ssl_cn: false,
        ssl_cipher: false,
    };
    const V2: ProxyOpts = ProxyOpts {
        v1: false,
        v2: true,
        crc32c: false,
        unique_id: false,
        authority: false,
        ssl: false,
        ssl_cn: false,
        ssl_cipher: false,
    };

    #[test]
    fn v1_lines_are_the_specs_examples() {
        // proxy-protocol.txt 2.1: the longest TCP4 and TCP6 lines, and UNKNOWN.
        let e = Endpoints {
            src: sa("255.255.255.255:65535"),
            dst: sa("255.255.255.255:65535"),
            ..Endpoints::default()
        };
        assert_eq!(
            header(V1, e),
            b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"
        );
        let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let e = Endpoints {
            src: sa(&format!("[{f}]:65535")),
            dst: sa(&format!("[{f}]:65535")),
            ..Endpoints::default()
        };
        assert_eq!(
            header(V1, e),
            format!("PROXY TCP6 {f} {f} 65535 65535\r\n").as_bytes()
        );
        assert_eq!(header(V1, Endpoints::default()), b"PROXY UNKNOWN\r\n");
        let e = Endpoints {
            src: sa("192.168.0.1:56324"),
            dst: sa("192.168.0.11:443"),
            ..Endpoints::default()
        };
        assert_eq!(
            header(V1, e),
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
    }

    #[test]
    fn v1_mixed_families_are_v4_mapped() {
        let e = Endpoints {
            src: sa("10.0.0.1:1000"),
            dst: sa("[::1]:80"),
            ..Endpoints::default()
        };
        assert_eq!(header(V1, e), b"PROXY TCP6 ::ffff:10.0.0.1 ::1 1000 80\r\n");
    }

    #[test]
    fn v2_inet_and_inet6_are_byte_exact() {
        let e = Endpoints {
            src: sa("127.0.0.1:59568"),
            dst: sa("127.0.0.1:19102"),
            ..Endpoints::default()
        };
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0x00, 12, 127, 0, 0, 1, 127, 0, 0, 1]);
        want.extend_from_slice(&59568u16.to_be_bytes());
        want.extend_from_slice(&19102u16.to_be_bytes());
        assert_eq!(header(V2, e), want);

        let e = Endpoints {
            src: sa("[2001:db8::1]:1"),
            dst: sa("[::1]:2"),
            ..Endpoints::default()
        };
        let h = header(V2, e);
        assert_eq!(h.len(), 16 + 36);
        assert_eq!(&h[12..16], &[0x21, 0x21, 0x00, 36]);
        assert_eq!(&h[16..18], &[0x20, 0x01]);
        assert_eq!(&h[48..52], &[0, 1, 0, 2]);
    }

    #[test]
    fn v2_local_when_unknown_or_a_check() {
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(header(V2, Endpoints::default()), want);
        let e = Endpoints {
            src: sa("127.0.0.1:1"),
            dst: sa("127.0.0.1:2"),
            local: true,
            ..Endpoints::default()
        };
        assert_eq!(header(V2, e), want);
    }

    #[test]
    fn v2_tlvs_match_haproxy() {
        // HAProxy 2.6 sent exactly these bytes for `send-proxy-v2
        // proxy-v2-options crc32c,unique-id,authority`, unique-id-format
        // `abc%[src]`, client 127.0.0.1:59568 to 127.0.0.1:19102.
        let opts = ProxyOpts {
            v2: true,
            crc32c: true,
            unique_id: true,
            authority: true,
            ..ProxyOpts::default()
        };
        let e = Endpoints {
            src: sa("127.0.0.1:59568"),
            dst: sa("127.0.0.1:19102"),
            unique_id: Some(b"abc127.0.0.1"),
            ..Endpoints::default()
        };
        let want: &[u8] = b"\r\n\r\n\x00\r\nQUIT\n!\x11\x00\"\x7f\x00\x00\x01\x7f\x00\x00\x01\
            \xe8\xb0J\x9e\x03\x00\x04\xfa\xf3oY\x05\x00\x0cabc127.0.0.1";
        assert_eq!(header(opts, e), want);
        // A check's LOCAL header with only the CRC, as HAProxy sent it.
        let opts = ProxyOpts {
            v2: true,
            crc32c: true,
            ..ProxyOpts::default()
        };
        let e = Endpoints {
            local: true,
            ..Endpoints::default()
        };
        let want: &[u8] = b"\r\n\r\n\x00\r\nQUIT\n \x00\x00\x07\x03\x00\x04\xa9\xb8~\x8f";
        assert_eq!(header(opts, e), want);
    }

    #[test]
    fn options_parse_and_cert_ones_are_refused() {
        let mut o = ProxyOpts::default();
        o.parse_v2_options("crc32c,unique-id,authority").unwrap();
        assert!(o.crc32c && o.unique_id && o.authority && !o.v2);
        assert!(o.sends());
        o.parse_v2_options("ssl,cert-cn,ssl-cipher").unwrap();
        assert!(o.ssl && o.ssl_cn && o.ssl_cipher);
        let e = o.parse_v2_options("cert-key").unwrap_err();
        assert!(e.contains("rustls"), "{e}");
        let e = o.parse_v2_options("bogus").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        assert!(!ProxyOpts::default().sends());
    }
}
