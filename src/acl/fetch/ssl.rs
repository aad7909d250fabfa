//! The client connection's TLS fetches (HAProxy configuration.txt 7.3.4):
//! `ssl_fc_*` about the session, `ssl_c_*` about the client's certificate,
//! all read from the [`TlsInfo`] the handshake left on the connection.
//!
//! As in HAProxy, `ssl_fc`, `ssl_fc_has_sni` and `ssl_fc_is_resumed` are
//! found (false) on a plain connection; the others are absent there.

use super::Fetch;
use super::compile::check_args;
use crate::acl::pattern::Method;
use crate::acl::sample::{Sample, Val};
use crate::tls::info::{Dn, TlsInfo};

/// A TLS fetch other than `ssl_fc` and `ssl_fc_sni` (which have their own
/// [`Fetch`] variants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SslFetch {
    /// `ssl_fc_has_sni`: the client sent a server name.
    HasSni,
    /// `ssl_fc_protocol`: `TLSv1.3`, `TLSv1.2`.
    Protocol,
    /// `ssl_fc_cipher`: OpenSSL's name of the suite.
    Cipher,
    /// `ssl_fc_alpn`: the protocol ALPN chose.
    Alpn,
    /// `ssl_fc_alg_keysize` / `ssl_fc_use_keysize`: the symmetric key's bits.
    Keysize,
    /// `ssl_fc_is_resumed`: the session was resumed.
    Resumed,
    /// `ssl_fc_has_crt`: the client sent a certificate.
    HasCrt,
    /// `ssl_c_used`: the client sent a certificate.
    CUsed,
    /// `ssl_c_verify`: the verify result (0: verified or none sent).
    CVerify,
    /// `ssl_c_s_dn([<entry>[,<pos>]])`: the client certificate's subject.
    SubjectDn(Option<(Box<str>, i64)>),
    /// `ssl_c_i_dn([<entry>[,<pos>]])`: its issuer.
    IssuerDn(Option<(Box<str>, i64)>),
    /// `ssl_c_serial`: its serial number (binary).
    Serial,
}

/// The names this module compiles.
pub const NAMES: &[&str] = &[
    "ssl_fc_has_sni",
    "ssl_fc_protocol",
    "ssl_fc_cipher",
    "ssl_fc_alpn",
    "ssl_fc_alg_keysize",
    "ssl_fc_use_keysize",
    "ssl_fc_is_resumed",
    "ssl_fc_has_crt",
    "ssl_c_used",
    "ssl_c_verify",
    "ssl_c_s_dn",
    "ssl_c_i_dn",
    "ssl_c_serial",
];

/// Compiles `name(args)`, one of [`NAMES`] or a refused one.
pub fn compile(name: &str, args: &[String]) -> Result<Fetch, String> {
    let f = match name {
        "ssl_c_s_dn" | "ssl_c_i_dn" => {
            check_args(name, args, 0, 2)?;
            let entry = dn_entry(name, args)?;
            return Ok(Fetch::Ssl(if name == "ssl_c_s_dn" {
                SslFetch::SubjectDn(entry)
            } else {
                SslFetch::IssuerDn(entry)
            }));
        }
        "ssl_fc_has_sni" => SslFetch::HasSni,
        "ssl_fc_protocol" => SslFetch::Protocol,
        "ssl_fc_cipher" => SslFetch::Cipher,
        "ssl_fc_alpn" => SslFetch::Alpn,
        "ssl_fc_alg_keysize" | "ssl_fc_use_keysize" => SslFetch::Keysize,
        "ssl_fc_is_resumed" => SslFetch::Resumed,
        "ssl_fc_has_crt" => SslFetch::HasCrt,
        "ssl_c_used" => SslFetch::CUsed,
        "ssl_c_verify" => SslFetch::CVerify,
        "ssl_c_serial" => SslFetch::Serial,
        _ => return Err(format!("unknown fetch method '{name}'")),
    };
    check_args(name, args, 0, 0)?;
    Ok(Fetch::Ssl(f))
}

/// Fetches HAProxy has that ringlb cannot answer, with the reason.
pub fn refused(name: &str) -> Option<String> {
    let why = match name {
        "ssl_fc_session_id"
        | "ssl_fc_session_key"
        | "ssl_fc_client_random"
        | "ssl_fc_server_random" => {
            "rustls keeps the session's id and secrets private; it has no API to read them"
        }
        _ => return None,
    };
    Some(format!("fetch method '{name}' is not supported: {why}"))
}

/// `ssl_c_s_dn(<entry>[,<pos>])`: the entry and occurrence (1 when omitted);
/// HAProxy's third argument (a DN format) is not supported.
fn dn_entry(name: &str, args: &[String]) -> Result<Option<(Box<str>, i64)>, String> {
    let Some(entry) = args.first().filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let pos = match args.get(1) {
        None => 1,
        Some(p) => p.trim().parse::<i64>().map_err(|_| {
            format!("fetch method '{name}': occurrence must be an integer, got '{p}'")
        })?,
    };
    Ok(Some((entry.as_str().into(), pos)))
}

impl SslFetch {
    /// The match method an ACL uses when none is given.
    pub fn default_method(&self) -> Method {
        match self {
            SslFetch::HasSni | SslFetch::Resumed | SslFetch::HasCrt | SslFetch::CUsed => {
                Method::Bool
            }
            SslFetch::Keysize | SslFetch::CVerify => Method::Int,
            SslFetch::Serial => Method::Bin,
            _ => Method::Str,
        }
    }

    /// The value on the connection `s` reads, if any.
    pub fn one<'s, S: Sample + ?Sized>(&'s self, s: &'s S) -> Option<Val<'s>> {
        let tls = s.tls();
        // Found on a plain connection too, as false.
        match self {
            SslFetch::HasSni => return Some(Val::Bool(tls.is_some_and(|t| t.sni.is_some()))),
            SslFetch::Resumed => return Some(Val::Bool(tls.is_some_and(|t| t.resumed))),
            _ => {}
        }
        let t: &TlsInfo = tls?;
        Some(match self {
            SslFetch::Protocol => Val::Str(nonempty(t.version)?),
            SslFetch::Cipher => Val::Str(nonempty(t.cipher)?),
            SslFetch::Alpn => Val::Str(t.alpn.as_deref()?),
            SslFetch::Keysize => Val::Int(t.cipher_bits()?),
            SslFetch::HasCrt | SslFetch::CUsed => Val::Bool(t.peer_cert),
            // A certificate that failed verification failed the handshake
            // (ringlb has no `crt-ignore-err`), so a session's result is X509_V_OK.
            SslFetch::CVerify => Val::Int(0),
            SslFetch::SubjectDn(e) => dn(t.peer_subject.as_ref()?, e)?,
            SslFetch::IssuerDn(e) => dn(t.peer_issuer.as_ref()?, e)?,
            SslFetch::Serial => Val::Str(t.peer_serial.as_deref()?),
            SslFetch::HasSni | SslFetch::Resumed => return None,
        })
    }
}

fn nonempty(s: &'static str) -> Option<&'static [u8]> {
    (!s.is_empty()).then_some(s.as_bytes())
}

fn dn<'s>(d: &'s Dn, entry: &'s Option<(Box<str>, i64)>) -> Option<Val<'s>> {
    Some(Val::Str(match entry {
        None => d.oneline.as_bytes(),
        Some((k, pos)) => d.entry(k, *pos)?.as_bytes(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::sample::TestSample;

    fn info() -> TlsInfo {
        TlsInfo {
            version: "TLSv1.2",
            cipher: "ECDHE-RSA-AES128-GCM-SHA256",
            sni: Some("a.example".into()),
            alpn: Some(b"http/1.1".as_slice().into()),
            peer_cert: true,
            peer_subject: Some(Dn {
                oneline: "/C=FR/CN=client".into(),
                entries: vec![("C".into(), "FR".into()), ("CN".into(), "client".into())].into(),
            }),
            peer_issuer: None,
            peer_serial: Some(vec![1, 2].into()),
            resumed: false,
        }
    }

    fn val(name: &str, args: &[&str], s: &TestSample) -> Option<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let Fetch::Ssl(f) = compile(name, &args).unwrap() else {
            panic!("{name}")
        };
        f.one(s).map(|v| match v {
            Val::Str(b) => String::from_utf8_lossy(b).into_owned(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Ip(a) => a.to_string(),
        })
    }

    #[test]
    fn values_on_a_tls_connection() {
        let mut s = TestSample::get("/");
        s.tls = Some(info());
        let v = |n: &str| val(n, &[], &s);
        assert_eq!(v("ssl_fc_protocol").as_deref(), Some("TLSv1.2"));
        assert_eq!(
            v("ssl_fc_cipher").as_deref(),
            Some("ECDHE-RSA-AES128-GCM-SHA256")
        );
        assert_eq!(v("ssl_fc_alpn").as_deref(), Some("http/1.1"));
        assert_eq!(v("ssl_fc_alg_keysize").as_deref(), Some("128"));
        assert_eq!(v("ssl_fc_has_sni").as_deref(), Some("true"));
        assert_eq!(v("ssl_c_used").as_deref(), Some("true"));
        assert_eq!(v("ssl_c_verify").as_deref(), Some("0"));
        assert_eq!(v("ssl_c_s_dn").as_deref(), Some("/C=FR/CN=client"));
        assert_eq!(val("ssl_c_s_dn", &["CN"], &s).as_deref(), Some("client"));
        assert_eq!(
            val("ssl_c_s_dn", &["CN", "-1"], &s).as_deref(),
            Some("client")
        );
        assert_eq!(val("ssl_c_s_dn", &["O"], &s), None);
        assert_eq!(v("ssl_c_i_dn"), None);
    }

    #[test]
    fn plain_connection_answers_as_haproxy() {
        let s = TestSample::get("/");
        let v = |n: &str| val(n, &[], &s);
        assert_eq!(v("ssl_fc_has_sni").as_deref(), Some("false"));
        assert_eq!(v("ssl_fc_is_resumed").as_deref(), Some("false"));
        for n in [
            "ssl_fc_protocol",
            "ssl_fc_cipher",
            "ssl_c_used",
            "ssl_c_verify",
        ] {
            assert_eq!(v(n), None, "{n}");
        }
    }

    #[test]
    fn arguments_and_refusals() {
        assert!(compile("ssl_fc_protocol", &["x".into()]).is_err());
        assert!(compile("ssl_c_s_dn", &["CN".into(), "z".into()]).is_err());
        assert!(refused("ssl_fc_session_id").unwrap().contains("rustls"));
        assert!(refused("ssl_fc").is_none());
    }
}
