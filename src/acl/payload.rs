//! Reading the raw bytes a TCP connection has buffered so far (HAProxy's
//! layer-6 fetches for `tcp-request content` / `tcp-response content`):
//! `req.payload`, `req.payload_lv`, `req.ssl_hello_type`, `req.ssl_ver` and
//! `req.ssl_sni` (the TLS ClientHello's server name).
//!
//! Each reader answers [`Got`]: a value, a definite absence, or "too few
//! bytes yet" — the last lets a rule wait for more data during the inspect
//! delay instead of deciding on a partial buffer. The checks follow
//! HAProxy's (`payload.c`), every length checked against the buffer.

/// What a reader found in the bytes buffered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got<T> {
    /// The value.
    Found(T),
    /// Not there, and more bytes would not change that.
    Absent,
    /// Too few bytes yet to tell.
    Short,
}

impl<T> Got<T> {
    /// The value, if found.
    pub fn found(self) -> Option<T> {
        match self {
            Got::Found(v) => Some(v),
            _ => None,
        }
    }

    /// The same answer without its value.
    pub fn map_unit(&self) -> Got<()> {
        match self {
            Got::Found(_) => Got::Found(()),
            Got::Absent => Got::Absent,
            Got::Short => Got::Short,
        }
    }
}

/// A big-endian integer of `bytes`.
fn be(bytes: &[u8]) -> usize {
    bytes.iter().fold(0usize, |n, &b| (n << 8) | b as usize)
}

/// `req.payload(<offset>,<length>)`: `length` bytes at `offset`; a length of
/// 0 means "to the end of what is buffered" (which may still grow).
pub fn payload(data: &[u8], off: usize, len: usize) -> Got<&[u8]> {
    if len == 0 {
        return match data.get(off..) {
            Some(d) => Got::Found(d),
            None => Got::Short,
        };
    }
    match off.checked_add(len).and_then(|end| data.get(off..end)) {
        Some(d) => Got::Found(d),
        None => Got::Short,
    }
}

/// Where `req.payload_lv`'s block starts: right after the length field, at
/// an absolute offset, or relative to the end of the length field (`+n`/`-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvStart {
    /// After the length field.
    After,
    /// At this offset from the start of the buffer.
    At(usize),
    /// This far from the end of the length field.
    Relative(i64),
}

/// `req.payload_lv(<off1>,<len1>[,<off2>])`: the block whose length is the
/// `len1`-byte big-endian integer at `off1`. A zero or larger-than-buffer
/// length never matches (HAProxy).
pub fn payload_lv(data: &[u8], off: usize, len: usize, start: LvStart, max: usize) -> Got<&[u8]> {
    let Some(field) = off.checked_add(len).and_then(|end| data.get(off..end)) else {
        return Got::Short;
    };
    let size = be(field);
    let after = off + len;
    let begin = match start {
        LvStart::After => Some(after),
        LvStart::At(o) => Some(o),
        LvStart::Relative(d) => usize::try_from(after as i64 + d).ok(),
    };
    let Some(begin) = begin else {
        return Got::Absent;
    };
    if size == 0 || size > max || begin.saturating_add(size) > max {
        return Got::Absent;
    }
    match data.get(begin..begin + size) {
        Some(d) => Got::Found(d),
        None => Got::Short,
    }
}

/// `req.ssl_hello_type`: the handshake type of the first TLS record (1 for a
/// ClientHello), once the whole handshake message is buffered.
pub fn ssl_hello_type(data: &[u8]) -> Got<u8> {
    let Some(&first) = data.first() else {
        return Got::Short;
    };
    if !((0x14..=0x17).contains(&first) || first == 0xff) {
        return Got::Absent;
    }
    if data.len() < 9 {
        return Got::Short;
    }
    if data[1] < 3 || be(&data[3..5]) < 4 {
        return Got::Absent;
    }
    if data.len() < be(&data[6..9]) + 9 {
        return Got::Short;
    }
    Got::Found(data[5])
}

/// `req.ssl_ver`: the SSL/TLS version of the client's first record
/// (`0x030001` for TLS 1.0 record framing), SSLv2-compatible hellos included,
/// once the whole first message is buffered.
pub fn ssl_ver(data: &[u8]) -> Got<u32> {
    let Some(&first) = data.first() else {
        return Got::Short;
    };
    let (version, msg_len, rest) = if (0x14..=0x17).contains(&first) {
        if data.len() < 5 {
            return Got::Short;
        }
        let version = (u32::from(data[1]) << 16) + u32::from(data[2]);
        let msg_len = be(&data[3..5]);
        if version < 0x0003_0000 || !(1..=(1 << 14) + 2048).contains(&msg_len) {
            return Got::Absent;
        }
        (version, msg_len, &data[5..])
    } else {
        match ssl_v2_hello(data) {
            Got::Found(v) => v,
            Got::Absent => return Got::Absent,
            Got::Short => return Got::Short,
        }
    };
    if rest.len() < msg_len {
        return Got::Short;
    }
    Got::Found(version)
}

/// An SSLv2-format ClientHello: (version, bytes still expected, what follows the fixed part).
fn ssl_v2_hello(data: &[u8]) -> Got<(u32, usize, &[u8])> {
    let (rlen, plen, d) = if data[0] & 0x80 != 0 {
        if data.len() < 3 {
            return Got::Short;
        }
        (be(&[data[0] & 0x7f, data[1]]), 0, &data[2..])
    } else {
        if data.len() < 4 {
            return Got::Short;
        }
        (be(&[data[0] & 0x3f, data[1]]), data[2] as usize, &data[3..])
    };
    if d[0] != 0x01 {
        return Got::Absent;
    }
    let d = &d[1..];
    if d.len() < 8 {
        return Got::Short;
    }
    let version = (u32::from(d[0]) << 16) + u32::from(d[1]);
    let (cilen, silen, chlen) = (be(&d[2..4]), be(&d[4..6]), be(&d[6..8]));
    if cilen % 3 != 0
        || (silen != 0 && silen != 16)
        || !(16..=32).contains(&chlen)
        || rlen != 9 + cilen + silen + chlen
    {
        return Got::Absent;
    }
    Got::Found((version, cilen + silen + chlen + plen, &d[8..]))
}

/// `req.ssl_sni`: the host name of the server_name extension of a TLS
/// ClientHello, once the whole hello is buffered.
pub fn ssl_sni(data: &[u8]) -> Got<&[u8]> {
    match client_hello(data) {
        Got::Found(hello) => match sni_in(hello) {
            Some(name) => Got::Found(name),
            None => Got::Absent,
        },
        Got::Absent => Got::Absent,
        Got::Short => Got::Short,
    }
}

/// The ClientHello body (from its version on), once it is all buffered.
fn client_hello(data: &[u8]) -> Got<&[u8]> {
    // Record: type 22 (handshake), version >= 3.0, length.
    let Some(&first) = data.first() else {
        return Got::Short;
    };
    if first != 0x16 {
        return Got::Absent;
    }
    if data.len() < 3 {
        return Got::Short;
    }
    if data[1] < 3 {
        return Got::Absent;
    }
    if data.len() < 5 {
        return Got::Short;
    }
    // Too short to carry an extension (HAProxy's bound).
    const MIN_HELLO: usize = 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2;
    if be(&data[3..5]) < 1 + 3 + MIN_HELLO {
        return Got::Absent;
    }
    let hs = &data[5..];
    let Some(&msg_type) = hs.first() else {
        return Got::Short;
    };
    if msg_type != 0x01 {
        return Got::Absent;
    }
    if hs.len() < 4 {
        return Got::Short;
    }
    let len = be(&hs[1..4]);
    if len < MIN_HELLO {
        return Got::Absent;
    }
    match hs.get(4..4 + len) {
        Some(body) => Got::Found(body),
        None => Got::Short,
    }
}

/// The server name in a complete ClientHello body; `None` when it has none
/// or is malformed.
fn sni_in(h: &[u8]) -> Option<&[u8]> {
    // client_version (TLS 1.0 minimum), random (32), session_id.
    if h[0] < 3 || h[1] < 1 {
        return None;
    }
    let sid = *h.get(34)? as usize;
    if sid > 32 {
        return None;
    }
    let mut d = h.get(35 + sid..)?;
    let ciphers = be(d.get(..2)?);
    if ciphers < 2 {
        return None;
    }
    d = d.get(2 + ciphers..)?;
    let comp = *d.first()? as usize;
    if comp < 1 {
        return None;
    }
    d = d.get(1 + comp..)?;
    let ext_len = be(d.get(..2)?);
    let mut exts = d.get(2..2 + ext_len)?;
    while exts.len() >= 4 {
        let (ty, len) = (be(&exts[..2]), be(&exts[2..4]));
        let body = exts.get(4..4 + len)?;
        if ty == 0 {
            // server_name_list: length, then (type, length, name)...
            let list = body.get(2..2 + be(body.get(..2)?))?;
            if list.len() < 4 {
                return None;
            }
            if list[0] == 0 {
                return list.get(3..3 + be(&list[1..3]));
            }
        }
        exts = &exts[4 + len..];
    }
    None
}

/// A TLS 1.2-style ClientHello record carrying `extensions` (type, body),
/// for tests and benchmarks.
pub fn client_hello_record(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut ext = Vec::new();
    for (ty, b) in extensions {
        ext.extend_from_slice(&ty.to_be_bytes());
        ext.extend_from_slice(&(b.len() as u16).to_be_bytes());
        ext.extend_from_slice(b);
    }
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// The body of a server_name extension naming `host`.
pub fn sni_extension(host: &str) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend_from_slice(&(host.len() as u16).to_be_bytes());
    entry.extend_from_slice(host.as_bytes());
    let mut b = (entry.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&entry);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(host: &str) -> Vec<u8> {
        client_hello_record(&[
            (0x000a, vec![0, 2, 0, 0x1d]),
            (0x0000, sni_extension(host)),
            (0x002b, vec![2, 3, 4]),
        ])
    }

    #[test]
    fn sni_is_found_among_several_extensions() {
        let h = hello("a.example");
        assert_eq!(ssl_sni(&h), Got::Found(&b"a.example"[..]));
        assert_eq!(ssl_hello_type(&h), Got::Found(1));
        assert_eq!(ssl_ver(&h), Got::Found(0x030001));
        // Bytes after the hello (a pipelined record) change nothing.
        let mut more = h.clone();
        more.extend_from_slice(&[0x17, 3, 3, 0, 1, 0]);
        assert_eq!(ssl_sni(&more), Got::Found(&b"a.example"[..]));
    }

    #[test]
    fn truncated_hellos_ask_for_more() {
        let h = hello("a.example");
        for cut in 0..h.len() {
            assert_eq!(ssl_sni(&h[..cut]), Got::Short, "cut at {cut}");
            assert_eq!(ssl_hello_type(&h[..cut]), Got::Short, "cut at {cut}");
            assert_eq!(ssl_ver(&h[..cut]), Got::Short, "cut at {cut}");
        }
    }

    #[test]
    fn no_sni_and_not_tls() {
        let h = client_hello_record(&[(0x000a, vec![0, 2, 0, 0x1d])]);
        assert_eq!(ssl_sni(&h), Got::Absent);
        assert_eq!(ssl_hello_type(&h), Got::Found(1));
        let get = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(ssl_sni(get), Got::Absent);
        assert_eq!(ssl_hello_type(get), Got::Absent);
        assert_eq!(ssl_ver(get), Got::Absent);
        // A server_name entry of another type (not host_name).
        let mut odd = sni_extension("x");
        odd[2] = 1;
        assert_eq!(ssl_sni(&client_hello_record(&[(0, odd)])), Got::Absent);
        // A name longer than its extension: malformed, no panic.
        let mut bad = sni_extension("abc");
        bad[4] = 200;
        assert_eq!(ssl_sni(&client_hello_record(&[(0, bad)])), Got::Absent);
    }

    #[test]
    fn garbage_never_panics() {
        let h = hello("b.example");
        for i in 5..h.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut m = h.clone();
                m[i] = v;
                let _ = (ssl_sni(&m), ssl_ver(&m), ssl_hello_type(&m));
            }
        }
    }

    #[test]
    fn sslv2_compatible_hello() {
        // Short header, CLIENT-HELLO, version 3.1, 3 bytes of ciphers, no
        // session id, 16 bytes of challenge.
        let mut m = vec![0x80, 9 + 3 + 16, 0x01, 0x03, 0x01, 0, 3, 0, 0, 0, 16];
        m.extend_from_slice(&[0, 0, 0x2f]);
        m.extend_from_slice(&[7; 16]);
        assert_eq!(ssl_ver(&m), Got::Found(0x030001));
        assert_eq!(ssl_ver(&m[..m.len() - 1]), Got::Short);
        assert_eq!(ssl_hello_type(&m), Got::Absent);
        assert_eq!(ssl_sni(&m), Got::Absent);
        let mut bad = m.clone();
        bad[1] += 1; // record length disagrees with the parts
        assert_eq!(ssl_ver(&bad), Got::Absent);
    }

    #[test]
    fn payload_and_length_value() {
        let d = b"\x00\x03abcdef";
        assert_eq!(payload(d, 2, 3), Got::Found(&b"abc"[..]));
        assert_eq!(payload(d, 6, 3), Got::Short);
        assert_eq!(payload(d, 2, 0), Got::Found(&b"abcdef"[..]));
        assert_eq!(payload(d, 9, 0), Got::Short);
        assert_eq!(payload(d, usize::MAX, 2), Got::Short);
        assert_eq!(
            payload_lv(d, 0, 2, LvStart::After, 16384),
            Got::Found(&b"abc"[..])
        );
        assert_eq!(
            payload_lv(d, 0, 2, LvStart::Relative(1), 16384),
            Got::Found(&b"bcd"[..])
        );
        assert_eq!(
            payload_lv(d, 0, 2, LvStart::At(5), 16384),
            Got::Found(&b"def"[..])
        );
        assert_eq!(payload_lv(d, 0, 2, LvStart::At(6), 16384), Got::Short);
        assert_eq!(payload_lv(b"\x00", 0, 2, LvStart::After, 16384), Got::Short);
        assert_eq!(
            payload_lv(b"\x00\x00x", 0, 2, LvStart::After, 16384),
            Got::Absent
        );
        assert_eq!(
            payload_lv(b"\xff\xffx", 0, 2, LvStart::After, 16384),
            Got::Absent
        );
    }
}
