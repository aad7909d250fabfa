//! Writing values: a variable or a sample with its flags (quoting, hex,
//! escaping), as HAProxy writes them.

use super::*;

/// Writes one variable with its flags; false when it has no value.
pub(super) fn render_var<S: Sample + ?Sized>(
    v: Var,
    f: Flags,
    s: &S,
    vars: &dyn LfVars,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    if let Var::Log(l) = v {
        return vars.log_var(l, f, out);
    }
    if f.hex {
        let written = match v {
            Var::ClientIp => s.src().map(|a| hex_ip(a.ip(), out)),
            Var::FrontendIp => s.dst().map(|a| hex_ip(a.ip(), out)),
            Var::ClientPort => s.src().map(|a| write!(out, "{:04X}", a.port())),
            Var::FrontendPort => s.dst().map(|a| write!(out, "{:04X}", a.port())),
            _ => None,
        };
        if written.is_some() {
            return true;
        }
    }
    // HAProxy quotes text fields only; numbers and hexadecimal never.
    let quote = f.quote && is_text(v);
    if quote {
        out.push(b'"');
    }
    // `%ft` is `%f` and the transport's mark.
    let named = if v == Var::FrontendTransport {
        Var::Frontend
    } else {
        v
    };
    if !(sample_var(named, s, out) || vars.var(named, out)) {
        out.truncate(start);
        return false;
    }
    if v == Var::FrontendTransport && s.tls().is_some() {
        out.push(b'~');
    }
    if f.escape {
        escape_from(out, start + usize::from(quote));
    }
    if f.hex {
        let width = if v == Var::Millis { 2 } else { 4 };
        hexify(out, start, width);
    }
    if quote {
        out.push(b'"');
    }
    true
}

/// HAProxy's `+E`: `"`, `\` and `]` of `out[start..]` get a backslash.
pub(super) fn escape_from(out: &mut Vec<u8>, start: usize) {
    if !out[start..]
        .iter()
        .any(|b| matches!(b, b'"' | b'\\' | b']'))
    {
        return;
    }
    let tail = out.split_off(start);
    for b in tail {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Whether HAProxy writes this variable as text (the `+Q` flag applies).
pub(super) fn is_text(v: Var) -> bool {
    use LogVar as L;
    if let Var::Log(l) = v {
        // Numbers, and the fields that quote themselves (`%hr`, `%CC`).
        return matches!(l, L::Term | L::TermCookie | L::ServerIp);
    }
    !matches!(
        v,
        Var::ClientPort
            | Var::FrontendPort
            | Var::Pid
            | Var::RequestCounter
            | Var::Timestamp
            | Var::Millis
            | Var::Status
    )
}

/// An address in hexadecimal, most significant byte first (`7F000001`).
pub(super) fn hex_ip(ip: std::net::IpAddr, out: &mut Vec<u8>) -> std::io::Result<()> {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6.into(), Into::into),
        v4 => v4,
    };
    match ip {
        std::net::IpAddr::V4(a) => a.octets().iter().try_for_each(|b| write!(out, "{b:02X}")),
        std::net::IpAddr::V6(a) => a.octets().iter().try_for_each(|b| write!(out, "{b:02X}")),
    }
}

/// `%HPO`: the path of a request target, without an absolute form's
/// scheme and authority.
pub(super) fn path_only(target: &[u8]) -> &[u8] {
    let Some(p) = target.windows(3).position(|w| w == b"://") else {
        return target;
    };
    let rest = &target[p + 3..];
    rest.iter()
        .position(|&b| b == b'/')
        .map_or(&b"/"[..], |i| &rest[i..])
}

/// Where the `]` closing the `[` at `open` is (brackets nest in regexes).
pub(super) fn closing_bracket(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// `base` adjusted by the `{+Q,-X}` text `own`, when there is one.
pub(super) fn apply_flags(base: Flags, own: Option<&str>, text: &str) -> Result<Flags, String> {
    let mut f = base;
    let Some(s) = own else { return Ok(f) };
    for part in s.split(',') {
        let (on, name) = match part.as_bytes().first() {
            Some(b'+') => (true, &part[1..]),
            Some(b'-') => (false, &part[1..]),
            _ => {
                return Err(format!(
                    "in log-format '{text}': flag '{part}' must start with '+' or '-'"
                ));
            }
        };
        match name {
            "Q" => f.quote = on,
            "X" => f.hex = on,
            "E" => f.escape = on,
            // HAProxy 2.6 accepts and ignores these; 3.0 defines them and
            // ringlb follows 3.0 (`crate::log::encode`).
            "json" => f.enc = on.then_some(Enc::Json),
            "cbor" => f.enc = on.then_some(Enc::Cbor),
            // Keeps a binary sample binary in CBOR: ringlb's samples are
            // text, numbers and booleans, so there is nothing to keep.
            "bin" => {}
            _ => return Err(format!("in log-format '{text}': unknown flag '{name}'")),
        }
    }
    Ok(f)
}

/// Rewrites the decimal number written at `out[start..]` in upper-case
/// hexadecimal, at least `width` digits (HAProxy's `%04X`).
pub(super) fn hexify(out: &mut Vec<u8>, start: usize, width: usize) {
    let n = std::str::from_utf8(&out[start..])
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    if let Some(n) = n {
        out.truncate(start);
        let _ = write!(out, "{n:0width$X}");
    }
}

/// Writes the sample's value (the last one, as HAProxy's sample fetches
/// answer); false when there is none.
pub fn sample_into<S: Sample + ?Sized>(
    e: &Expr,
    s: &S,
    sc: &mut Scratch,
    f: Flags,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    let mut found = false;
    e.for_each(s, sc, |v, _| {
        out.truncate(start);
        found = true;
        write_val(v, f, out);
        false
    });
    found
}

/// Writes one value as text.
pub fn write_val(v: Val<'_>, f: Flags, out: &mut Vec<u8>) {
    match v {
        Val::Str(b) => out.extend_from_slice(b),
        Val::Int(n) if f.hex => {
            let _ = write!(out, "{n:X}");
        }
        Val::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Bool(b) => out.push(if b { b'1' } else { b'0' }),
        Val::Ip(a) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// The variables the sample itself answers.
pub(super) fn sample_var<S: Sample + ?Sized>(v: Var, s: &S, out: &mut Vec<u8>) -> bool {
    let uri = s.uri();
    let qpos = uri.iter().position(|&c| c == b'?');
    match v {
        Var::ClientIp => s.src().map(|a| write!(out, "{}", a.ip())).is_some(),
        Var::ClientPort => s.src().map(|a| write!(out, "{}", a.port())).is_some(),
        Var::FrontendIp => s.dst().map(|a| write!(out, "{}", a.ip())).is_some(),
        Var::FrontendPort => s.dst().map(|a| write!(out, "{}", a.port())).is_some(),
        Var::Pid => write!(out, "{}", std::process::id()).is_ok(),
        Var::Method if !s.method().is_empty() => {
            out.extend_from_slice(s.method());
            true
        }
        Var::Uri if !uri.is_empty() => {
            out.extend_from_slice(uri);
            true
        }
        Var::Path if !uri.is_empty() => {
            out.extend_from_slice(&uri[..qpos.unwrap_or(uri.len())]);
            true
        }
        Var::Query if !uri.is_empty() => {
            out.extend_from_slice(qpos.map_or(&b""[..], |p| &uri[p..]));
            true
        }
        Var::Version if !s.version().is_empty() => {
            out.extend_from_slice(b"HTTP/");
            out.extend_from_slice(s.version());
            true
        }
        Var::RequestLine if !s.method().is_empty() => {
            out.extend_from_slice(s.method());
            out.push(b' ');
            out.extend_from_slice(uri);
            out.extend_from_slice(b" HTTP/");
            out.extend_from_slice(s.version());
            true
        }
        Var::Status => s.status().map(|c| write!(out, "{c}")).is_some(),
        Var::PathOnly if !uri.is_empty() => {
            out.extend_from_slice(path_only(&uri[..qpos.unwrap_or(uri.len())]));
            true
        }
        Var::SslVersion => s.tls().is_some_and(|t| {
            out.extend_from_slice(t.version.as_bytes());
            !t.version.is_empty()
        }),
        Var::SslCipher => s.tls().is_some_and(|t| {
            out.extend_from_slice(t.cipher.as_bytes());
            !t.cipher.is_empty()
        }),
        _ => false,
    }
}
