//! HAProxy 3.0's log-format encodings (`%{+json}`, `%{+cbor}`): typed
//! values written as JSON (RFC 8259) or as CBOR (RFC 8949) in upper-case
//! hexadecimal, so that a CBOR line still travels over syslog.
//!
//! HAProxy 2.6 accepts these flags and ignores them; ringlb follows 3.x,
//! which defines them (see [`crate::lf`] for where the values come from).

/// The encoding a `%{+json}` / `%{+cbor}` flag selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// `+json`.
    Json,
    /// `+cbor`, written as hexadecimal.
    Cbor,
}

/// One field's value with its type, as the encoders write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// No value: `null`.
    Null,
    /// A number.
    Int(i64),
    /// A boolean (`bool` samples, `:bool` casts).
    Bool(bool),
    /// Text (names, addresses, dates, captured values).
    Str(Vec<u8>),
    /// A list of text (`%hr`: one item per capture slot; `None` when empty).
    List(Vec<Option<Vec<u8>>>),
}

/// A `%(name:type)` cast (HAProxy 3.0: `str`, `sint`, `bool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    /// `:str`: always text (`""` for no value).
    Str,
    /// `:sint`: a signed integer (`null` when the text is not one).
    Sint,
    /// `:bool`: true for a non-zero number or non-empty text.
    Bool,
}

impl Cast {
    /// The cast a `%(name:type)` names, if it is one HAProxy knows.
    pub fn parse(s: &str) -> Option<Cast> {
        match s {
            "str" => Some(Cast::Str),
            "sint" => Some(Cast::Sint),
            "bool" => Some(Cast::Bool),
            _ => None,
        }
    }

    /// `v` converted to this type.
    pub fn apply(self, v: Typed) -> Typed {
        match (self, v) {
            (Cast::Str, Typed::Null) => Typed::Str(Vec::new()),
            (Cast::Str, Typed::Int(n)) => Typed::Str(n.to_string().into_bytes()),
            (Cast::Str, Typed::Bool(b)) => {
                Typed::Str(if b { b"1".to_vec() } else { b"0".to_vec() })
            }
            (Cast::Str, Typed::List(items)) => Typed::Str(join(&items)),
            (Cast::Sint, Typed::Str(s)) => std::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .map_or(Typed::Null, Typed::Int),
            (Cast::Sint, Typed::Bool(b)) => Typed::Int(i64::from(b)),
            (Cast::Sint, Typed::List(_)) => Typed::Null,
            (Cast::Bool, Typed::Int(n)) => Typed::Bool(n != 0),
            (Cast::Bool, Typed::Str(s)) => Typed::Bool(!s.is_empty()),
            (Cast::Bool, Typed::List(items)) => Typed::Bool(items.iter().any(Option::is_some)),
            (Cast::Bool, Typed::Null) => Typed::Bool(false),
            (_, v) => v,
        }
    }
}

/// The items of a list as one text, `|`-separated as `%hr` writes them.
fn join(items: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        out.extend_from_slice(it.as_deref().unwrap_or_default());
    }
    out
}

/// Writes `v` in `enc` (CBOR as hexadecimal).
pub fn value(enc: Enc, v: &Typed, out: &mut Vec<u8>) {
    match enc {
        Enc::Json => json(v, out),
        Enc::Cbor => {
            let mut bin = Vec::new();
            cbor(v, &mut bin);
            hex(&bin, out);
        }
    }
}

/// Writes the object (map) of `fields`, in order, in `enc`.
pub fn object<'a>(enc: Enc, fields: impl Iterator<Item = (&'a str, Typed)>, out: &mut Vec<u8>) {
    match enc {
        // HAProxy 3.0's shape: `{"name": "ok", "n": 4}`.
        Enc::Json => {
            out.push(b'{');
            for (i, (name, v)) in fields.enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                json_str(name.as_bytes(), out);
                out.extend_from_slice(b": ");
                json(&v, out);
            }
            out.push(b'}');
        }
        // An indefinite-length map (`BF` ... `FF`), as HAProxy writes it.
        Enc::Cbor => {
            let mut bin = vec![0xBF];
            for (name, v) in fields {
                cbor_head(3, name.len() as u64, &mut bin);
                bin.extend_from_slice(name.as_bytes());
                cbor(&v, &mut bin);
            }
            bin.push(0xFF);
            hex(&bin, out);
        }
    }
}

fn json(v: &Typed, out: &mut Vec<u8>) {
    match v {
        Typed::Null => out.extend_from_slice(b"null"),
        Typed::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Typed::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Typed::Str(s) => json_str(s, out),
        Typed::List(items) => {
            out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                match it {
                    Some(s) => json_str(s, out),
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b']');
        }
    }
}

/// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`
/// or `\u00XX`; bytes that are not UTF-8 as `\u00XX` (their Latin-1 reading),
/// so that the line is always valid JSON.
pub fn json_str(s: &[u8], out: &mut Vec<u8>) {
    let utf8 = std::str::from_utf8(s).is_ok();
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F | 0x7F => push_u(b, out),
            0x80.. if !utf8 => push_u(b, out),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn push_u(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u00");
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 15)]);
}

fn cbor(v: &Typed, out: &mut Vec<u8>) {
    match v {
        Typed::Null => out.push(0xF6),
        Typed::Bool(b) => out.push(if *b { 0xF5 } else { 0xF4 }),
        Typed::Int(n) if *n >= 0 => cbor_head(0, *n as u64, out),
        Typed::Int(n) => cbor_head(1, (-1 - *n) as u64, out),
        Typed::Str(s) => cbor_bytes(s, out),
        Typed::List(items) => {
            out.push(0x9F);
            for it in items {
                match it {
                    Some(s) => cbor_bytes(s, out),
                    None => out.push(0xF6),
                }
            }
            out.push(0xFF);
        }
    }
}

/// Text as a CBOR text string; bytes that are not UTF-8 as a byte string.
fn cbor_bytes(s: &[u8], out: &mut Vec<u8>) {
    let major = if std::str::from_utf8(s).is_ok() { 3 } else { 2 };
    cbor_head(major, s.len() as u64, out);
    out.extend_from_slice(s);
}

/// A CBOR item head: major type and argument, shortest form.
fn cbor_head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xFF => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xFFFF => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xFFFF_FFFF => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn hex(bin: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bin {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(enc: Enc, fields: Vec<(&str, Typed)>) -> String {
        let mut out = Vec::new();
        object(enc, fields.into_iter(), &mut out);
        String::from_utf8(out).unwrap()
    }

    /// The example of HAProxy's `+cbor` commit: `%(named_field)[str(ok)]`
    /// gives `BF6B6E616D65645F6669656C64626F6BFF`.
    #[test]
    fn cbor_as_haproxy_documents_it() {
        assert_eq!(
            obj(Enc::Cbor, vec![("named_field", Typed::Str(b"ok".to_vec()))]),
            "BF6B6E616D65645F6669656C64626F6BFF"
        );
        let mut out = Vec::new();
        value(Enc::Cbor, &Typed::Bool(true), &mut out);
        assert_eq!(out, b"F5");
        out.clear();
        value(Enc::Cbor, &Typed::Int(-1), &mut out);
        value(Enc::Cbor, &Typed::Int(500), &mut out);
        value(Enc::Cbor, &Typed::Null, &mut out);
        assert_eq!(out, b"201901F4F6");
    }

    #[test]
    fn json_object_and_escaping() {
        let s = obj(
            Enc::Json,
            vec![
                ("named_field", Typed::Str(b"ok".to_vec())),
                ("n", Typed::Int(-1)),
                ("e", Typed::Str(b"a\"b\\c\td\x01\x7f".to_vec())),
                ("l", Typed::List(vec![Some(b"x".to_vec()), None])),
                ("z", Typed::Null),
                ("b", Typed::Bool(false)),
                ("bin", Typed::Str(vec![0xFF, b'a'])),
            ],
        );
        assert_eq!(
            s,
            "{\"named_field\": \"ok\", \"n\": -1, \"e\": \"a\\\"b\\\\c\\td\\u0001\\u007f\", \
             \"l\": [\"x\", null], \"z\": null, \"b\": false, \"bin\": \"\\u00ffa\"}"
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["e"], "a\"b\\c\td\u{1}\u{7f}");
        assert_eq!(v["bin"], "\u{ff}a");
    }

    #[test]
    fn casts() {
        let s = |t: &str| Typed::Str(t.as_bytes().to_vec());
        assert_eq!(Cast::Sint.apply(s("42")), Typed::Int(42));
        assert_eq!(Cast::Sint.apply(s("x")), Typed::Null);
        assert_eq!(Cast::Str.apply(Typed::Int(7)), s("7"));
        assert_eq!(Cast::Str.apply(Typed::Null), s(""));
        assert_eq!(Cast::Bool.apply(Typed::Int(0)), Typed::Bool(false));
        assert_eq!(Cast::Bool.apply(s("y")), Typed::Bool(true));
        assert_eq!(Cast::parse("uint"), None);
    }
}
