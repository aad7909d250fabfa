//! Stick-table key types and keys: what `stick-table type ...` declares and
//! how a sample value becomes a key (HAProxy's casts to the table's type).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::acl::Val;

/// The type of a table's keys (`stick-table type ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `ip`: IPv4 addresses.
    Ip,
    /// `ipv6`: IPv6 addresses (IPv4 ones mapped).
    Ipv6,
    /// `integer`: 32-bit signed integers.
    Integer,
    /// `string [len <n>]`: strings cut to `n` bytes (default 32).
    String(usize),
    /// `binary [len <n>]`: `n` bytes, shorter values padded with zeros.
    Binary(usize),
}

impl KeyType {
    /// The name `show table` prints.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String(_) => "string",
            KeyType::Binary(_) => "binary",
        }
    }

    /// The key a sample value gives, cast as HAProxy casts it to the
    /// table's type; `None` when it cannot be (an IPv6 address in an `ip`
    /// table, a string that is no number in an `integer` one).
    pub fn key(self, v: Val<'_>) -> Option<Key> {
        match self {
            KeyType::Ip => match ip_of(v)? {
                IpAddr::V4(a) => Some(Key::Ip(a)),
                IpAddr::V6(a) => a.to_ipv4_mapped().map(Key::Ip),
            },
            KeyType::Ipv6 => Some(Key::Ipv6(match ip_of(v)? {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            })),
            KeyType::Integer => Some(Key::Int(match v {
                Val::Int(n) => n as i32,
                Val::Bool(b) => i32::from(b),
                Val::Str(s) => std::str::from_utf8(s).ok()?.trim().parse::<i64>().ok()? as i32,
                Val::Ip(_) => return None,
            })),
            KeyType::String(len) => {
                let mut b = bytes_of(v);
                b.truncate(len);
                Some(Key::Bytes(b))
            }
            KeyType::Binary(len) => {
                let mut b = bytes_of(v);
                b.resize(len, 0);
                Some(Key::Bytes(b))
            }
        }
    }

    /// The key typed by an operator (`clear table <t> key <k>`).
    pub fn parse(self, text: &str) -> Option<Key> {
        match self {
            KeyType::Ip | KeyType::Ipv6 => self.key(Val::Ip(text.parse().ok()?)),
            KeyType::Integer => text.parse::<i32>().ok().map(Key::Int),
            KeyType::String(_) => self.key(Val::Str(text.as_bytes())),
            KeyType::Binary(len) => {
                let mut b = hex(text)?;
                b.resize(len, 0);
                Some(Key::Bytes(b))
            }
        }
    }
}

/// An address from a value: an address, or a string holding one.
fn ip_of(v: Val<'_>) -> Option<IpAddr> {
    match v {
        Val::Ip(a) => Some(a),
        Val::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        Val::Int(n) => u32::try_from(n).ok().map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        Val::Bool(_) => None,
    }
}

/// A value as bytes (HAProxy's cast to string or binary).
fn bytes_of(v: Val<'_>) -> Vec<u8> {
    match v {
        Val::Str(s) => s.to_vec(),
        Val::Int(n) => n.to_string().into_bytes(),
        Val::Bool(b) => i64::from(b).to_string().into_bytes(),
        Val::Ip(a) => a.to_string().into_bytes(),
    }
}

/// Bytes from hexadecimal digits (an even number of them).
fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One key of a table (ordered as `show table` lists them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// An IPv4 address.
    Ip(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
    /// An integer.
    Int(i32),
    /// A string or binary key.
    Bytes(Vec<u8>),
}

impl Key {
    /// The key as `show table` prints it for a table of type `t`.
    pub fn render(&self, t: KeyType, out: &mut String) {
        match self {
            Key::Ip(a) => {
                let _ = write!(out, "{a}");
            }
            Key::Ipv6(a) => {
                let _ = write!(out, "{a}");
            }
            Key::Int(n) => {
                // HAProxy prints the integer key as unsigned.
                let _ = write!(out, "{}", *n as u32);
            }
            Key::Bytes(b) if matches!(t, KeyType::Binary(_)) => {
                for x in b {
                    let _ = write!(out, "{x:02x}");
                }
            }
            Key::Bytes(b) => {
                // As HAProxy's dump_text: printable bytes as they are.
                for &x in b {
                    match x {
                        b' ' | b'=' | b'\\' | b'\t' | b'\r' | b'\n' => {
                            let _ = write!(out, "\\{}", escape(x));
                        }
                        0x21..=0x7e => out.push(x as char),
                        _ => {
                            let _ = write!(out, "\\x{x:02x}");
                        }
                    }
                }
            }
        }
    }
}

/// The letter after `\` HAProxy's dump_text uses.
fn escape(x: u8) -> char {
    match x {
        b'\t' => 't',
        b'\r' => 'r',
        b'\n' => 'n',
        other => other as char,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cast_to_the_table_type() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            KeyType::Ip.key(Val::Ip(v4)),
            Some(Key::Ip("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(KeyType::Ip.key(Val::Ip(v6)), None);
        assert_eq!(
            KeyType::Ipv6.key(Val::Ip(v4)),
            Some(Key::Ipv6("::ffff:10.0.0.1".parse().unwrap()))
        );
        assert_eq!(KeyType::Integer.key(Val::Str(b"42")), Some(Key::Int(42)));
        assert_eq!(KeyType::Integer.key(Val::Str(b"x")), None);
        assert_eq!(
            KeyType::String(3).key(Val::Str(b"abcdef")),
            Some(Key::Bytes(b"abc".to_vec()))
        );
        assert_eq!(
            KeyType::Binary(4).key(Val::Str(b"ab")),
            Some(Key::Bytes(b"ab\0\0".to_vec()))
        );
        assert_eq!(
            KeyType::Binary(2).parse("0a0b"),
            Some(Key::Bytes(vec![10, 11]))
        );
    }

    #[test]
    fn keys_render_as_haproxy_prints_them() {
        let mut s = String::new();
        Key::Bytes(vec![1, 0xff]).render(KeyType::Binary(2), &mut s);
        s.push(' ');
        Key::Bytes(b"a b".to_vec()).render(KeyType::String(32), &mut s);
        s.push(' ');
        Key::Int(-1).render(KeyType::Integer, &mut s);
        assert_eq!(s, "01ff a\\ b 4294967295");
    }
}
