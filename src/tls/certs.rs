//! Certificates: loading a PEM (chain and key, or the key in `<file>.key`,
//! the OCSP response in `<file>.ocsp`), the names it serves, and the
//! process-wide store keyed by file name that SNI resolvers read through.
//!
//! The store is what a run-time certificate change works on (HAProxy's
//! `set ssl cert <file>` + `commit ssl cert`): [`replace`] swaps a file's
//! certificate in place and every resolver that names the file serves the
//! new one from the next handshake on, without a reload.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// One loaded certificate.
#[derive(Debug)]
pub struct Cert {
    /// The chain and key served.
    pub key: Arc<CertifiedKey>,
    /// The DNS names it serves (SAN DNS names, else the CN), lowercase.
    pub names: Vec<String>,
    /// Whether its key is ECDSA (else RSA or another kind).
    pub ecdsa: bool,
    /// Its OCSP certificate ID, when a `<file>.ocsp` was loaded with it
    /// (HAProxy keeps an OCSP entry for it, even when the response was
    /// refused; `set ssl ocsp-response` fills it).
    pub ocsp_id: Option<super::ocsp::CertId>,
}

/// What the files of a certificate hold.
#[derive(Default)]
pub struct Extras {
    /// `<file>.key`, when the PEM holds no key.
    pub key: Option<Vec<u8>>,
    /// `<file>.ocsp`: a DER OCSP response to staple.
    pub ocsp: Option<Vec<u8>>,
}

/// How [`parse`]'s error starts when the key is not the certificate's (the
/// run-time API reports it at commit time, as HAProxy).
pub const KEY_MISMATCH: &str = "the private key does not match the certificate";

/// Builds a certificate from PEM bytes (chain, and key unless in `extras`).
pub fn parse(pem: &[u8], extras: Extras) -> Result<Cert, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad PEM: {e}"))?;
    let Some(leaf) = chain.first() else {
        return Err("no certificate in it".into());
    };
    let key = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(k) => k,
        Err(_) => match &extras.key {
            Some(k) => PrivateKeyDer::from_pem_slice(k)
                .map_err(|e| format!("no private key in the '.key' file: {e}"))?,
            None => return Err("no private key in it (nor a '.key' file beside it)".into()),
        },
    };
    let ecdsa = matches!(key, PrivateKeyDer::Sec1(_)) || key_is_ecdsa(leaf).unwrap_or(false);
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unusable private key: {e}"))?;
    let names = dns_names(leaf)?;
    let mut ck = CertifiedKey::new(chain, signer);
    ck.keys_match()
        .map_err(|e| format!("{KEY_MISMATCH}: {e}"))?;
    ck.ocsp = extras.ocsp;
    Ok(Cert {
        key: Arc::new(ck),
        names,
        ecdsa,
        ocsp_id: None,
    })
}

/// Whether the certificate's public key is an EC key.
fn key_is_ecdsa(leaf: &CertificateDer<'_>) -> Option<bool> {
    let (_, x) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let oid = x.public_key().algorithm.algorithm.to_id_string();
    Some(oid == "1.2.840.10045.2.1")
}

/// The DNS names a certificate serves: its SAN DNS names, else its CN.
fn dns_names(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, x) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                out.push(d.to_ascii_lowercase());
            }
        }
    }
    // HAProxy indexes the CN too (it serves it when no SAN matches).
    for cn in x.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            let s = s.to_ascii_lowercase();
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Loads `file` and the extra files `ssl-load-extra-files` allows; a
/// `<file>.ocsp` that may not be stapled is left out with a warning, as
/// HAProxy does.
pub fn load_file(
    file: &str,
    g: &super::opts::Globals,
    warn: &mut dyn FnMut(String),
) -> Result<Cert, String> {
    let (extra_key, extra_ocsp) = (g.extra_key, g.extra_ocsp);
    let fail = |e: String| format!("unable to load certificate from '{file}': {e}");
    if g.extra_sctl && std::path::Path::new(&format!("{file}.sctl")).exists() {
        // HAProxy would send these SCTs; serving without them would differ.
        return Err(fail(format!(
            "'{file}.sctl' asks for SCT stapling, which rustls does not do (remove \
             the file, or list the kinds in 'ssl-load-extra-files' without sctl)"
        )));
    }
    let pem = std::fs::read(file).map_err(|e| fail(e.to_string()))?;
    let read_extra = |ext: &str, on: bool| {
        on.then(|| std::fs::read(format!("{file}.{ext}")).ok())
            .flatten()
    };
    let mut extras = Extras {
        key: read_extra("key", extra_key),
        ocsp: read_extra("ocsp", extra_ocsp),
    };
    let ocsp_id = match &extras.ocsp {
        Some(resp) => {
            let issuer = read_extra("issuer", g.extra_issuer);
            let Some(id) = ocsp_cert_id(&pem, issuer.as_deref()) else {
                // HAProxy's text, its stray quote included.
                return Err(format!(
                    "'{file}.ocsp' is present and activates OCSP but it is impossible to \
                     compute the OCSP certificate ID (maybe the issuer could not be found)'"
                ));
            };
            if let Err(e) = ocsp_matches(
                resp,
                &id,
                "Certificate ID does not match certificate and issuer",
            ) {
                warn(format!("Loading: {e}. Content will be ignored."));
                extras.ocsp = None;
            }
            Some(id)
        }
        None => None,
    };
    let mut cert = parse(&pem, extras).map_err(fail)?;
    cert.ocsp_id = ocsp_id;
    Ok(cert)
}

/// The OCSP certificate ID of the PEM's leaf: its issuer is the first
/// certificate of the chain that issued it, else the `.issuer` file's.
fn ocsp_cert_id(pem: &[u8], issuer_file: Option<&[u8]>) -> Option<super::ocsp::CertId> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    let leaf = chain.first()?;
    let extra: Vec<CertificateDer<'static>> = issuer_file
        .map(|b| {
            CertificateDer::pem_slice_iter(b)
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default();
    chain[1..]
        .iter()
        .chain(extra.iter())
        .find_map(|i| super::ocsp::CertId::of(leaf, i))
}

/// Whether `resp` may be stapled for `id` now; `mismatch` is the text when
/// it names another certificate.
fn ocsp_matches(resp: &[u8], id: &super::ocsp::CertId, mismatch: &str) -> Result<i64, String> {
    let checked = super::ocsp::check(resp, unix_now())?;
    if checked.cert_id != id.der().as_slice() {
        return Err(format!("OCSP single response: {mismatch}"));
    }
    Ok(checked.next_update)
}

fn unix_now() -> i64 {
    crate::stats::process::unix_now() as i64
}

/// SHA-1 of `data` (aws-lc, rustls's provider): only where HAProxy's
/// formats name it (certificate fingerprints, OCSP certificate IDs).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    d.as_ref().try_into().expect("SHA-1 is 20 bytes")
}

/// `set ssl ocsp-response`: staples `resp` (DER) for every certificate whose
/// OCSP entry it names, from the next handshake on; the error is HAProxy's.
pub fn set_ocsp(resp: &[u8]) -> Result<(), String> {
    let checked = super::ocsp::check(resp, unix_now())?;
    let store = STORE.load();
    let targets: Vec<(&String, &Arc<Cert>)> = store
        .iter()
        .filter(|(_, c)| {
            c.ocsp_id
                .as_ref()
                .is_some_and(|id| id.der() == checked.cert_id)
        })
        .collect();
    if targets.is_empty() {
        return Err(
            "OCSP single response: Certificate ID does not match any certificate or issuer".into(),
        );
    }
    for (file, c) in targets {
        let mut key = CertifiedKey::clone(&c.key);
        key.ocsp = Some(resp.to_vec());
        insert(
            file,
            Cert {
                key: Arc::new(key),
                names: c.names.clone(),
                ecdsa: c.ecdsa,
                ocsp_id: c.ocsp_id.clone(),
            },
        );
    }
    Ok(())
}

/// The OCSP entries (`show ssl ocsp-response`): each certificate ID once,
/// in the order of their DER keys, as HAProxy's tree lists them.
pub fn ocsp_ids() -> Vec<super::ocsp::CertId> {
    let mut ids: Vec<super::ocsp::CertId> = STORE
        .load()
        .values()
        .filter_map(|c| c.ocsp_id.clone())
        .collect();
    ids.sort_by_key(|id| id.der());
    ids.dedup();
    ids
}

/// The response stapled for the OCSP entry whose DER key is `key`: `None`
/// when no entry has it, `Some(None)` when the entry has no response.
pub fn ocsp_response(key: &str) -> Option<Option<Vec<u8>>> {
    let store = STORE.load();
    let mut found = None;
    for c in store.values() {
        if !c
            .ocsp_id
            .as_ref()
            .is_some_and(|id| id.key().eq_ignore_ascii_case(key))
        {
            continue;
        }
        if let Some(r) = &c.key.ocsp {
            return Some(Some(r.clone()));
        }
        found = Some(None);
    }
    found
}

/// The files of a `crt <dir>`: in name order, without the extra files.
pub fn dir_files(dir: &str) -> Result<Vec<String>, String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("unable to read certificate directory '{dir}': {e}"))?;
    let mut files: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // As HAProxy: extra files, crt-lists and hidden files are skipped.
        .filter(|n| {
            !n.starts_with('.')
                && ![".key", ".ocsp", ".issuer", ".sctl", ".crt-list"]
                    .iter()
                    .any(|x| n.ends_with(x))
        })
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|n| format!("{}/{n}", dir.trim_end_matches('/')))
        .collect())
}

/// The process-wide certificates, by file name.
static STORE: LazyLock<ArcSwap<HashMap<String, Arc<Cert>>>> =
    LazyLock::new(|| ArcSwap::from_pointee(HashMap::new()));

/// The certificate stored under `file`.
pub fn lookup(file: &str) -> Option<Arc<Cert>> {
    STORE.load().get(file).cloned()
}

/// Stores `cert` under `file`, replacing any earlier one.
pub fn insert(file: &str, cert: Cert) {
    let cert = Arc::new(cert);
    STORE.rcu(|m| {
        let mut m = HashMap::clone(m);
        m.insert(file.to_string(), cert.clone());
        m
    });
}

/// Replaces the certificate of `file` (already loaded) from PEM bytes with
/// chain and key; resolvers serve it from the next handshake on. The names
/// it serves are read again; an error leaves the old one in place.
pub fn replace(file: &str, pem: &[u8]) -> Result<(), String> {
    if lookup(file).is_none() {
        return Err(format!("no certificate '{file}' is loaded"));
    }
    insert(file, parse(pem, Extras::default())?);
    Ok(())
}

/// The file names of every stored certificate, sorted.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = STORE.load().keys().cloned().collect();
    v.sort();
    v
}

/// Removes the certificate of `file` (`del ssl cert`; the caller checks
/// that no bind uses it); whether there was one.
pub fn remove(file: &str) -> bool {
    let mut found = false;
    STORE.rcu(|m| {
        let mut m = HashMap::clone(m);
        found = m.remove(file).is_some();
        m
    });
    found
}

/// Why a CA file gave no trust anchors: it could not be read as PEM, or it
/// held no usable certificate. Each caller words its own message (bind and
/// server lines follow HAProxy's different texts).
#[derive(Debug)]
pub enum RootsError {
    /// Reading or decoding the file failed.
    Read(rustls_pki_types::pem::Error),
    /// It held no certificate rustls could use.
    Empty,
}

/// The trust anchors of a `ca-file`.
pub fn load_roots(ca: &str) -> Result<rustls::RootCertStore, RootsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(RootsError::Read)?;
    let mut roots = rustls::RootCertStore::empty();
    match roots.add_parsable_certificates(certs) {
        (0, _) => Err(RootsError::Empty),
        _ => Ok(roots),
    }
}
