//! The TLS options of a `bind` line, of a `crt-list` line and of
//! `ssl-default-bind-options`, as written (compared by value), and the
//! process defaults the `global` section sets for the binds after it.

use std::cell::RefCell;

/// `verify none|optional|required`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// No client certificate is asked for.
    None,
    /// Asked for; a client without one passes, a bad one is refused.
    Optional,
    /// Asked for and required.
    Required,
}

/// A TLS protocol version ringlb can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ver {
    /// TLSv1.2.
    V12,
    /// TLSv1.3.
    V13,
}

/// TLS options as written; `None` / `false` leave the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SslOpts {
    /// `alpn`: the protocols offered, already without `h2`.
    pub alpn: Option<Vec<String>>,
    /// `verify`.
    pub verify: Option<Verify>,
    /// `ca-file` (absolute after `ca-base`).
    pub ca_file: Option<String>,
    /// `crl-file`.
    pub crl_file: Option<String>,
    /// `ssl-min-ver`.
    pub min_ver: Option<Ver>,
    /// `ssl-max-ver`.
    pub max_ver: Option<Ver>,
    /// `no-tlsv12`.
    pub no_tls12: bool,
    /// `no-tlsv13`.
    pub no_tls13: bool,
    /// `ciphers` (TLS 1.2, OpenSSL list).
    pub ciphers: Option<String>,
    /// `ciphersuites` (TLS 1.3).
    pub ciphersuites: Option<String>,
    /// `curves` or `ecdhe`.
    pub curves: Option<String>,
    /// `no-ca-names`: no CA names hinted in the certificate request.
    pub no_ca_names: bool,
    /// `prefer-client-ciphers`.
    pub prefer_client_ciphers: bool,
    /// `no-tls-tickets`.
    pub no_tickets: bool,
    /// `strict-sni`.
    pub strict_sni: bool,
}

impl SslOpts {
    /// `line`'s options over `self`'s (a crt-list line over its bind).
    pub fn overlay(&self, line: &SslOpts) -> SslOpts {
        SslOpts {
            alpn: line.alpn.clone().or_else(|| self.alpn.clone()),
            verify: line.verify.or(self.verify),
            ca_file: line.ca_file.clone().or_else(|| self.ca_file.clone()),
            crl_file: line.crl_file.clone().or_else(|| self.crl_file.clone()),
            min_ver: line.min_ver.or(self.min_ver),
            max_ver: line.max_ver.or(self.max_ver),
            ciphers: line.ciphers.clone().or_else(|| self.ciphers.clone()),
            ciphersuites: line
                .ciphersuites
                .clone()
                .or_else(|| self.ciphersuites.clone()),
            curves: line.curves.clone().or_else(|| self.curves.clone()),
            no_ca_names: line.no_ca_names || self.no_ca_names,
            ..self.clone()
        }
    }

    /// The versions left, lowest first; an error when none is.
    pub fn versions(&self) -> Result<Vec<Ver>, String> {
        let explicit = self.min_ver.is_some() || self.max_ver.is_some();
        let left: Vec<Ver> = [Ver::V12, Ver::V13]
            .into_iter()
            .filter(|v| self.min_ver.is_none_or(|m| *v >= m))
            .filter(|v| self.max_ver.is_none_or(|m| *v <= m))
            // As HAProxy: ssl-min-ver/ssl-max-ver win over the no-* flags.
            .filter(|v| explicit || !(*v == Ver::V12 && self.no_tls12))
            .filter(|v| explicit || !(*v == Ver::V13 && self.no_tls13))
            .collect();
        if left.is_empty() {
            return Err(
                "no TLS version is left enabled (ringlb speaks TLSv1.2 and TLSv1.3)".into(),
            );
        }
        Ok(left)
    }
}

/// Where an option is written: each place accepts its own set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A `bind` line.
    Bind,
    /// Inside `[...]` on a `crt-list` line.
    CrtList,
    /// `ssl-default-bind-options`.
    Defaults,
}

/// Options a crt-list line may set (HAProxy's ssl_bind_kws subset built here).
const CRT_LIST: &[&str] = &[
    "alpn",
    "npn",
    "verify",
    "ca-file",
    "crl-file",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "curves",
    "ecdhe",
    "no-ca-names",
];

/// Options `ssl-default-bind-options` may set.
const DEFAULTS: &[&str] = &[
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "ssl-min-ver",
    "ssl-max-ver",
    "no-tls-tickets",
    "prefer-client-ciphers",
];

/// The TLS option only a bind line takes; a bind line also takes every
/// option of [`CRT_LIST`] and [`DEFAULTS`].
const BIND_ONLY: &[&str] = &["strict-sni"];

/// Every TLS option a bind line takes (besides `ssl`, `crt`, `crt-list`),
/// each once.
pub fn bind_names() -> impl Iterator<Item = &'static str> {
    let defaults = DEFAULTS.iter().filter(|n| !CRT_LIST.contains(n));
    CRT_LIST.iter().chain(defaults).chain(BIND_ONLY).copied()
}

/// Reads TLS option `name` (arguments from `next`) into `o`. `Ok(false)`:
/// not a TLS option this place takes. Warnings go to `warn`.
pub fn parse(
    o: &mut SslOpts,
    place: Place,
    name: &str,
    next: &mut dyn FnMut(&str) -> Result<String, String>,
    warn: &mut dyn FnMut(String),
) -> Result<bool, String> {
    let allowed = match place {
        Place::Bind => {
            CRT_LIST.contains(&name) || DEFAULTS.contains(&name) || BIND_ONLY.contains(&name)
        }
        Place::CrtList => CRT_LIST.contains(&name),
        Place::Defaults => DEFAULTS.contains(&name),
    };
    if !allowed {
        return Ok(false);
    }
    match name {
        "alpn" => o.alpn = Some(alpn(&next("a protocol list")?, warn)?),
        "npn" => {
            next("a protocol list")?;
            warn(
                "'npn' is ignored: NPN was replaced by ALPN and no current client \
                 uses it (use 'alpn')"
                    .into(),
            );
        }
        "verify" => {
            o.verify = Some(match next("none, optional or required")?.as_str() {
                "none" => Verify::None,
                "optional" => Verify::Optional,
                "required" => Verify::Required,
                v => {
                    return Err(format!(
                        "'verify' expects none, optional or required, got '{v}'"
                    ));
                }
            })
        }
        "ca-file" => o.ca_file = Some(with_base(&next("a CA file")?, |d| d.ca_base.clone())),
        "crl-file" => o.crl_file = Some(with_base(&next("a CRL file")?, |d| d.ca_base.clone())),
        "ssl-min-ver" => o.min_ver = Some(version(name, &next("a TLS version")?)?),
        "ssl-max-ver" => o.max_ver = Some(version(name, &next("a TLS version")?)?),
        "ciphers" => {
            let v = next("an OpenSSL cipher list")?;
            super::ciphers::tls12_suites(&v)?;
            o.ciphers = Some(v);
        }
        "ciphersuites" => {
            let v = next("a TLS 1.3 cipher suite list")?;
            super::ciphers::tls13_suites(&v)?;
            o.ciphersuites = Some(v);
        }
        "curves" => {
            let v = next("a curve list")?;
            super::ciphers::curves(&v)?;
            o.curves = Some(v);
        }
        "ecdhe" => {
            let v = next("a curve name")?;
            super::ciphers::curve(&v)?;
            o.curves = Some(v);
        }
        "no-ca-names" => o.no_ca_names = true,
        // rustls implements neither SSLv3 nor TLS 1.0/1.1: already off.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
        "no-tlsv12" => o.no_tls12 = true,
        "no-tlsv13" => o.no_tls13 = true,
        "force-tlsv12" => (o.min_ver, o.max_ver) = (Some(Ver::V12), Some(Ver::V12)),
        "force-tlsv13" => (o.min_ver, o.max_ver) = (Some(Ver::V13), Some(Ver::V13)),
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => {
            return Err(format!("'{name}' is refused: {}", OLD_VERSIONS));
        }
        "no-tls-tickets" => o.no_tickets = true,
        "prefer-client-ciphers" => o.prefer_client_ciphers = true,
        _ => o.strict_sni = true,
    }
    Ok(true)
}

/// Why SSLv3, TLSv1.0 and TLSv1.1 are refused.
const OLD_VERSIONS: &str = "ringlb's TLS library (rustls) does not implement SSLv3, TLSv1.0 \
                            or TLSv1.1 (deprecated by RFC 8996); TLSv1.2 and TLSv1.3 are";

/// An `ssl-min-ver`/`ssl-max-ver` argument.
fn version(kw: &str, v: &str) -> Result<Ver, String> {
    match v {
        "TLSv1.2" => Ok(Ver::V12),
        "TLSv1.3" => Ok(Ver::V13),
        "SSLv3" | "TLSv1.0" | "TLSv1.1" => Err(format!("'{kw} {v}' is refused: {OLD_VERSIONS}")),
        _ => Err(format!(
            "'{kw}' expects one of SSLv3, TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3, got '{v}'"
        )),
    }
}

/// An `alpn` list: `h2` dropped (HTTP/1.1 only), HTTP/1.x kept.
fn alpn(list: &str, warn: &mut dyn FnMut(String)) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in list.split(',').filter(|p| !p.is_empty()) {
        match p {
            "http/1.1" | "http/1.0" => out.push(p.to_string()),
            "h2" => warn(
                "'alpn h2' is dropped: ringlb speaks HTTP/1.1 only, so clients \
                 fall back to http/1.1"
                    .into(),
            ),
            _ => {
                return Err(format!(
                    "'alpn': protocol '{p}' is not spoken by ringlb (http/1.1, http/1.0)"
                ));
            }
        }
    }
    Ok(out)
}

/// The process-wide TLS settings of the `global` section, as read so far
/// (HAProxy applies them to the binds that follow them).
#[derive(Clone, Debug)]
pub struct Globals {
    /// `ssl-default-bind-options`, `-ciphers`, `-ciphersuites`, `-curves`.
    pub bind: SslOpts,
    /// `crt-base`.
    pub crt_base: Option<String>,
    /// `ca-base`.
    pub ca_base: Option<String>,
    /// `tune.ssl.cachesize` (sessions; 0 disables the cache).
    pub cachesize: usize,
    /// `tune.ssl.lifetime` (seconds).
    pub lifetime: u32,
    /// `tune.ssl.maxrecord` (bytes; 0: no limit).
    pub maxrecord: usize,
    /// `ssl-load-extra-files`: load `<crt>.key`.
    pub extra_key: bool,
    /// `ssl-load-extra-files`: load `<crt>.ocsp`.
    pub extra_ocsp: bool,
    /// `ssl-load-extra-files`: load `<crt>.issuer` (the OCSP certificate
    /// ID's issuer when the chain lacks it).
    pub extra_issuer: bool,
    /// `ssl-load-extra-files`: `<crt>.sctl` would be loaded (refused: no SCT stapling).
    pub extra_sctl: bool,
}

impl Default for Globals {
    fn default() -> Self {
        // HAProxy's defaults: 20000 sessions, 300 s, no record cap, all extras.
        Globals {
            bind: SslOpts::default(),
            crt_base: None,
            ca_base: None,
            cachesize: 20000,
            lifetime: 300,
            maxrecord: 0,
            extra_key: true,
            extra_ocsp: true,
            extra_issuer: true,
            extra_sctl: true,
        }
    }
}

thread_local! {
    /// The settings of the load in progress on this thread (a load runs on one thread).
    static GLOBALS: RefCell<Globals> = RefCell::new(Globals::default());
}

/// Starts a configuration load: back to the defaults.
pub fn reset_globals() {
    GLOBALS.with(|g| *g.borrow_mut() = Globals::default());
}

/// Changes the settings of the load in progress.
pub fn update_globals(f: impl FnOnce(&mut Globals)) {
    GLOBALS.with(|g| f(&mut g.borrow_mut()));
}

/// The settings of the load in progress.
pub fn globals() -> Globals {
    GLOBALS.with(|g| g.borrow().clone())
}

/// `path` under the base `base` picks (absolute paths are kept).
pub fn with_base(path: &str, base: impl FnOnce(&Globals) -> Option<String>) -> String {
    match GLOBALS.with(|g| base(&g.borrow())) {
        Some(b) if !path.starts_with('/') => format!("{}/{path}", b.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(place: Place, words: &[&str]) -> Result<(SslOpts, Vec<String>), String> {
        let mut o = SslOpts::default();
        let mut warns = Vec::new();
        let mut it = words.iter();
        let name = it.next().unwrap();
        let mut next = |what: &str| {
            it.next()
                .map(|s| s.to_string())
                .ok_or_else(|| format!("missing {what}"))
        };
        let ok = parse(&mut o, place, name, &mut next, &mut |w| warns.push(w))?;
        assert!(ok, "{name} not taken");
        Ok((o, warns))
    }

    #[test]
    fn versions_and_flags() {
        let (o, _) = run(Place::Bind, &["force-tlsv13"]).unwrap();
        assert_eq!(o.versions().unwrap(), [Ver::V13]);
        let o = SslOpts {
            no_tls12: true,
            no_tls13: true,
            ..Default::default()
        };
        assert!(o.versions().unwrap_err().contains("no TLS version"));
        let e = run(Place::Bind, &["ssl-min-ver", "TLSv1.1"]).unwrap_err();
        assert!(e.contains("does not implement"), "{e}");
        assert!(run(Place::Bind, &["force-tlsv10"]).is_err());
    }

    #[test]
    fn alpn_drops_h2() {
        let (o, w) = run(Place::Bind, &["alpn", "h2,http/1.1"]).unwrap();
        assert_eq!(o.alpn.unwrap(), ["http/1.1"]);
        assert!(w[0].contains("fall back to http/1.1"));
        assert!(run(Place::Bind, &["alpn", "spdy/3"]).is_err());
    }

    #[test]
    fn places_take_their_own_options() {
        let mut o = SslOpts::default();
        let mut next = |_: &str| Ok(String::new());
        assert!(!parse(&mut o, Place::CrtList, "strict-sni", &mut next, &mut |_| {}).unwrap());
        assert!(!parse(&mut o, Place::Defaults, "ciphers", &mut next, &mut |_| {}).unwrap());
    }
}
