//! A `bind` line's TLS settings (`ssl`, `crt`, `crt-list`, options) and the
//! rustls server configurations built from them once, when the
//! configuration is loaded: one per distinct set of options (the bind's,
//! and each crt-list line's own), all sharing one SNI certificate resolver.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;

use super::certs;
use super::ciphers;
use super::crt_list;
use super::live::{self, Base, Builder, Live};
use super::opts::{Globals, SslOpts, Verify};
use super::session::{Cache, Tickets};
use super::sni::{Entry, Resolver, Sni};

/// The TLS side of one `bind` line: what was written, and what it built.
pub struct BindTls {
    /// `crt <file|dir>` arguments, in order (the first is the default certificate).
    pub crt: Vec<String>,
    /// `crt-list <file>` arguments, in order.
    pub crt_lists: Vec<String>,
    /// The bind's TLS options (after the `ssl-default-bind-*` globals).
    pub opts: SslOpts,
    /// The configuration of the bind's own options (the first of `configs`).
    pub config: Arc<ServerConfig>,
    /// The entries and configurations, which `add`/`del ssl crt-list`
    /// change at run time (tls/live.rs).
    live: Arc<Live>,
}

impl std::fmt::Debug for BindTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindTls")
            .field("crt", &self.crt)
            .field("crt_lists", &self.crt_lists)
            .field("opts", &self.opts)
            .finish()
    }
}

/// Two binds are alike when written alike (the built configuration follows).
impl PartialEq for BindTls {
    fn eq(&self, other: &Self) -> bool {
        self.crt == other.crt
            && self.crt_lists == other.crt_lists
            && self.opts == other.opts
            && self.live.sni.load().entries == other.live.sni.load().entries
    }
}

impl Eq for BindTls {}

impl BindTls {
    /// The configuration for a handshake whose ClientHello is `hello` (SNI
    /// picks the certificate and a `crt-list` line's options); `None` refuses
    /// the handshake (`strict-sni` and no certificate for the name).
    pub fn config_for(&self, hello: &rustls::server::ClientHello<'_>) -> Option<Arc<ServerConfig>> {
        let sni = self.live.sni.load();
        let (entry, _) = sni.select(hello.server_name(), hello.signature_schemes())?;
        self.live.configs.load().get(entry.policy).cloned()
    }

    /// Records where its `bind` line is (`file:line`, named by `del ssl crt-list`).
    pub fn set_origin(&self, origin: String) {
        self.live.set_origin(origin);
    }

    /// Loads `crt` files with default options (tests, simple callers).
    pub fn build(crt: Vec<String>) -> Result<BindTls, String> {
        Self::build_with(crt, Vec::new(), SslOpts::default(), &mut |_| {})
    }

    /// Loads the certificates (paths already under `crt-base`) and
    /// crt-lists, and builds the server configurations for `opts`, with
    /// the `global` TLS settings read so far.
    pub fn build_with(
        crt: Vec<String>,
        crt_lists: Vec<String>,
        opts: SslOpts,
        warn: &mut dyn FnMut(String),
    ) -> Result<BindTls, String> {
        if crt.is_empty() && crt_lists.is_empty() {
            return Err("'ssl' needs a certificate: add 'crt <file>' or 'crt-list <file>'".into());
        }
        let g = super::opts::globals();
        // The certificates go into the store; the crt-lists (a directory is
        // one of its files, as in HAProxy 2.6) into the registry.
        let mut sources = Vec::new();
        for c in &crt {
            if !std::path::Path::new(c).is_dir() {
                load_cert(&g, c, warn)?;
                sources.push(Base::File(Entry {
                    file: c.clone(),
                    filters: Vec::new(),
                    negs: Vec::new(),
                    policy: 0,
                }));
                continue;
            }
            let files = certs::dir_files(c)?;
            for file in &files {
                load_cert(&g, file, warn)?;
            }
            live::set_list(c, crt_list::dir_lines(files));
            sources.push(Base::List(c.clone()));
        }
        for list in &crt_lists {
            let lines = crt_list::load(list, warn)?;
            for line in &lines {
                load_cert(&g, &line.crt, warn)?;
            }
            live::set_list(list, lines);
            sources.push(Base::List(list.clone()));
        }
        let sni = Arc::new(ArcSwap::from_pointee(Sni {
            entries: Vec::new(),
            strict: opts.strict_sni,
        }));
        let resolver = Arc::new(Resolver(sni.clone()));
        let tickets = Tickets::new(g.lifetime)?;
        let cache = Cache::shared(g.cachesize, g.lifetime);
        let config = policy_config(&opts, &g, &resolver, &tickets, &cache)?;
        let live = Live::register(
            sni,
            vec![config.clone()],
            Builder {
                sources,
                opts: opts.clone(),
                g,
                policies: vec![opts.clone()],
                resolver,
                tickets,
                cache,
                origin: String::new(),
            },
        );
        // The entries and the crt-list lines' option sets, as a run-time
        // change makes them.
        live.rebuild(&live::lists().lines)?;
        Ok(BindTls {
            crt,
            crt_lists,
            opts,
            config,
            live,
        })
    }
}

/// Loads one certificate file into the store.
fn load_cert(g: &Globals, file: &str, warn: &mut dyn FnMut(String)) -> Result<(), String> {
    certs::insert(file, certs::load_file(file, g, warn)?);
    Ok(())
}

/// The configuration of one option set, with the bind's resolver, session
/// cache and ticket keys (at load, and for a crt-list line added at run time).
pub(super) fn policy_config(
    p: &SslOpts,
    g: &Globals,
    resolver: &Arc<Resolver>,
    tickets: &Arc<Tickets>,
    cache: &Arc<Cache>,
) -> Result<Arc<ServerConfig>, String> {
    let mut cfg = server_config(p, g, resolver.clone())?;
    cfg.session_storage = cache.clone();
    if !p.no_tickets {
        cfg.ticketer = tickets.clone();
    }
    Ok(Arc::new(cfg))
}

/// The rustls configuration of one option set.
fn server_config(
    o: &SslOpts,
    g: &Globals,
    resolver: Arc<Resolver>,
) -> Result<ServerConfig, String> {
    let (provider, vers) = ciphers::provider(o)?;
    let verifier = client_verifier(o, provider.clone())?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&vers)
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = o
        .alpn
        .iter()
        .flatten()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    // HAProxy (OpenSSL's SERVER_PREFERENCE) picks by the server's order unless
    // `prefer-client-ciphers`; rustls follows the client's unless told.
    cfg.ignore_client_order = !o.prefer_client_ciphers;
    // tune.ssl.maxrecord counts payload bytes; rustls counts the 5-byte header.
    cfg.max_fragment_size = (g.maxrecord > 0 && g.maxrecord < 16384).then(|| g.maxrecord + 5);
    Ok(cfg)
}

/// The client-certificate verifier of `verify`, `ca-file`, `crl-file`
/// (the files load even with `verify none`, so a bad path fails as in HAProxy).
fn client_verifier(
    o: &SslOpts,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let roots = o.ca_file.as_deref().map(load_roots).transpose()?;
    let crls = o.crl_file.as_deref().map(load_crls).transpose()?;
    let verify = o.verify.unwrap_or(Verify::None);
    if verify == Verify::None {
        return Ok(WebPkiClientVerifier::no_client_auth());
    }
    let Some(roots) = roots else {
        return Err("'verify' is enabled but no CA file is given: add 'ca-file <file>'".into());
    };
    let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if let Some(crls) = crls {
        b = b.with_crls(crls);
    }
    if verify == Verify::Optional {
        b = b.allow_unauthenticated();
    }
    if o.no_ca_names {
        b = b.clear_root_hint_subjects();
    }
    b.build()
        .map_err(|e| format!("client certificate verification: {e}"))
}

/// The CA certificates of a `ca-file`.
fn load_roots(ca: &str) -> Result<RootCertStore, String> {
    super::certs::load_roots(ca).map_err(|e| match e {
        super::certs::RootsError::Read(e) => format!("unable to load CA file '{ca}': {e}"),
        super::certs::RootsError::Empty => {
            format!("unable to load CA file '{ca}': no usable certificate in it")
        }
    })
}

/// The revocation lists of a `crl-file`.
fn load_crls(crl: &str) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    CertificateRevocationListDer::pem_file_iter(crl)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("unable to load CRL file '{crl}': {e}"))
}
