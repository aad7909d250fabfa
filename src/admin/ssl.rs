//! Certificates and crt-lists at run time (HAProxy 2.6 management.txt 9.3):
//! `show/set/commit/abort/new/del ssl cert`, `add/del/show ssl crt-list`.
//! Answers and error texts are HAProxy's.
//!
//! One transaction at a time, as HAProxy: `set ssl cert` parses the payload
//! into it, `commit ssl cert` swaps it into the certificate store
//! (tls/certs.rs), which every bind reads at each handshake. crt-list
//! changes are published to the binds by tls/live.rs.

use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex, MutexGuard};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::ssl_show;
use crate::tls::certs::{self, Cert, Extras, KEY_MISMATCH};
use crate::tls::{crt_list, live};

/// The transaction of `set ssl cert`, until committed or aborted.
struct Txn {
    file: String,
    /// The chain as sent (shown by `show ssl cert *<file>`).
    chain: Vec<Vec<u8>>,
    /// The parsed certificate, or the key mismatch reported at commit.
    cert: Result<Cert, String>,
}

/// The open transaction.
static TXN: LazyLock<Mutex<Option<Txn>>> = LazyLock::new(Mutex::default);
/// Entries made by `new ssl cert` and not yet committed.
static EMPTY: LazyLock<Mutex<BTreeSet<String>>> = LazyLock::new(Mutex::default);

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `file` is a certificate entry (loaded, or made empty by `new`).
fn exists(file: &str) -> bool {
    certs::lookup(file).is_some() || lock(&EMPTY).contains(file)
}

/// `show ssl cert [[*]<file>]`.
pub fn show_cert(args: &[&str]) -> String {
    let Some(arg) = args.first() else {
        let mut out = String::new();
        if let Some(t) = lock(&TXN).as_ref() {
            out.push_str(&format!("# transaction\n*{}\n", t.file));
        }
        out.push_str("# filename\n");
        let mut all: BTreeSet<String> = certs::names().into_iter().collect();
        all.extend(lock(&EMPTY).iter().cloned());
        for n in all {
            out.push_str(&n);
            out.push('\n');
        }
        return out;
    };
    const NOT_FOUND: &str =
        "Can't display the certificate: Not found or the certificate is a bundle!\n";
    if let Some(file) = arg.strip_prefix('*') {
        let txn = lock(&TXN);
        return match txn.as_ref().filter(|t| t.file == file) {
            Some(t) => format!(
                "Filename: *{file}\nStatus: Unused\n{}OCSP Response Key: \n",
                ssl_show::details(&t.chain)
            ),
            None => NOT_FOUND.into(),
        };
    }
    if lock(&EMPTY).contains(*arg) {
        return format!("Filename: {arg}\nStatus: Empty\nOCSP Response Key: \n");
    }
    let Some(cert) = certs::lookup(arg) else {
        return NOT_FOUND.into();
    };
    let chain: Vec<Vec<u8>> = cert.key.cert.iter().map(|c| c.to_vec()).collect();
    let status = if live::lists().instances(arg) > 0 {
        "Used"
    } else {
        "Unused"
    };
    format!(
        "Filename: {arg}\nStatus: {status}\n{}OCSP Response Key: \n",
        ssl_show::details(&chain)
    )
}

/// `set ssl cert <file> <<` + PEM payload: opens or updates the transaction.
pub fn set_cert(args: &[&str], payload: Option<&str>) -> String {
    let (Some(file), Some(pem)) = (args.first(), payload.filter(|p| !p.trim().is_empty())) else {
        return "'set ssl cert expects a filename and a certificate as a payload\n".into();
    };
    let mut txn = lock(&TXN);
    if let Some(t) = txn.as_ref().filter(|t| t.file != *file) {
        return format!(
            "The ongoing transaction is about '{}' but you are trying to set '{file}'\n\
             Can't update {file}!\n",
            t.file
        );
    }
    if !exists(file) {
        return format!(
            "Can't replace a certificate which is not referenced by the configuration!\n\
             Can't update {file}!\n"
        );
    }
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .map(|c| c.to_vec())
        .collect();
    let cert = match certs::parse(pem.as_bytes(), Extras::default()) {
        Err(e) if !e.starts_with(KEY_MISMATCH) => {
            return format!(
                "unable to load certificate from file '{file}'.\nCan't load the payload\n\
                 Can't update {file}!\n"
            );
        }
        other => other,
    };
    let verb = if txn.is_some() { "updated" } else { "created" };
    *txn = Some(Txn {
        file: file.to_string(),
        chain,
        cert,
    });
    format!("Transaction {verb} for certificate {file}!\n")
}

/// `commit ssl cert <file>`: the transaction's certificate is served from
/// the next handshake on, by every bind naming the file.
pub fn commit_cert(args: &[&str]) -> String {
    let Some(file) = args.first() else {
        return "'commit ssl cert expects a filename\n".into();
    };
    let mut txn = lock(&TXN);
    match txn.as_ref() {
        None => return format!("No ongoing transaction! !\nCan't commit {file}!\n"),
        Some(t) if t.file != *file => {
            return format!(
                "The ongoing transaction is about '{}' but you are trying to set '{file}'\n\
                 Can't commit {file}!\n",
                t.file
            );
        }
        Some(Txn { cert: Err(_), .. }) => {
            return format!(
                "inconsistencies between private key and certificate loaded '{file}'.\n\
                 Can't commit {file}!\n"
            );
        }
        Some(_) => {}
    }
    let Some(Txn { cert: Ok(cert), .. }) = txn.take() else {
        unreachable!("checked above");
    };
    certs::insert(file, cert);
    lock(&EMPTY).remove(*file);
    // HAProxy prints a dot per certificate instance (bind entry) it rebuilt.
    let dots = ".".repeat(live::lists().instances(file));
    format!("Committing {file}{dots}\nSuccess!\n")
}

/// `abort ssl cert <file>`.
pub fn abort_cert(args: &[&str]) -> String {
    let Some(file) = args.first() else {
        return "'abort ssl cert' expects a filename\n".into();
    };
    let mut txn = lock(&TXN);
    if txn.as_ref().is_none_or(|t| t.file != *file) {
        return "No ongoing transaction!\n".into();
    }
    *txn = None;
    format!("Transaction aborted for certificate '{file}'!\n")
}

/// `new ssl cert <file>`: an empty entry for `set` + `commit` to fill.
pub fn new_cert(args: &[&str]) -> String {
    let Some(file) = args.first() else {
        return "'new ssl cert' expects a filename\n".into();
    };
    if exists(file) {
        return format!("Certificate '{file}' already exists!\n");
    }
    lock(&EMPTY).insert(file.to_string());
    format!("New empty certificate store '{file}'!\n")
}

/// `del ssl cert <file>`: refused while a bind or crt-list uses it.
pub fn del_cert(args: &[&str]) -> String {
    let Some(file) = args.first() else {
        return "'del ssl cert' expects a certificate name\n".into();
    };
    if lock(&TXN).as_ref().is_some_and(|t| t.file == *file) {
        return format!(
            "Can't remove the certificate: certificate '{file}' is in a transaction!\n\n"
        );
    }
    if lock(&EMPTY).remove(*file) {
        return format!("Certificate '{file}' deleted!\n");
    }
    if certs::lookup(file).is_none() {
        return format!("Can't remove the certificate: certificate '{file}' doesn't exist!\n\n");
    }
    let l = live::lists();
    let listed = l.lines.values().flatten().any(|x| x.crt == *file);
    if listed || l.instances(file) > 0 {
        return format!(
            "Can't remove the certificate: certificate '{file}' in use, can't be deleted!\n\n"
        );
    }
    certs::remove(file);
    format!("Certificate '{file}' deleted!\n")
}

/// `add ssl crt-list <list> <cert>` or `add ssl crt-list <list> <<` + one
/// line with options and SNI filters: served by every bind using the list.
pub fn add_crt_list(args: &[&str], payload: Option<&str>) -> String {
    let text = match (args.get(1), payload) {
        (Some(c), _) => c.to_string(),
        (None, Some(p)) => p
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .into(),
        (None, None) => String::new(),
    };
    let (Some(list), false) = (args.first(), text.trim().is_empty()) else {
        return "'add ssl crt-list' expects a filename and a certificate name\n".into();
    };
    let mut l = live::lists();
    if !l.lines.contains_key(*list) {
        return format!("Can't edit the crt-list: crt-list '{list}' does not exist!\n");
    }
    let mut line = match crt_list::parse_line(text.trim(), &mut |_| {}) {
        Ok(x) => x,
        Err(e) => return format!("Can't edit the crt-list: {e}\n"),
    };
    if let Some(base) = l.crt_base_of(list).filter(|_| !line.crt.starts_with('/')) {
        line.crt = format!("{}/{}", base.trim_end_matches('/'), line.crt);
    }
    let crt = line.crt.clone();
    if lock(&EMPTY).contains(&crt) {
        return format!("Can't edit the crt-list: certificate '{crt}' is empty!\n");
    }
    if certs::lookup(&crt).is_none() {
        return format!("Can't edit the crt-list: certificate '{crt}' does not exist!\n");
    }
    let lines = l.lines.get_mut(*list).expect("checked above");
    line.number = lines.iter().map(|x| x.number).max().unwrap_or(0) + 1;
    lines.push(line);
    if let Err(e) = l.publish(list) {
        l.lines.get_mut(*list).expect("checked above").pop();
        return format!("Can't edit the crt-list: {e}\n");
    }
    format!("Inserting certificate '{crt}' in crt-list '{list}'.\nSuccess!\n")
}

/// `del ssl crt-list <list> <cert[:line]>`.
pub fn del_crt_list(args: &[&str]) -> String {
    let (Some(list), Some(arg)) = (args.first(), args.get(1)) else {
        return "'del ssl crt-list' expects a filename and a certificate name\n".into();
    };
    let (crt, number) = match arg.rsplit_once(':') {
        Some((c, n)) if n.parse::<usize>().is_ok() => (c, n.parse::<usize>().ok()),
        _ => (*arg, None),
    };
    let mut l = live::lists();
    let Some(lines) = l.lines.get_mut(*list) else {
        return format!("Can't delete the entry: crt-list '{list}' does not exist!\n");
    };
    let hits: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].crt == crt && number.is_none_or(|n| lines[i].number == n))
        .collect();
    let numbers_of_crt = || {
        let n: Vec<String> = lines
            .iter()
            .filter(|x| x.crt == crt)
            .map(|x| x.number.to_string())
            .collect();
        n.join(", ")
    };
    match hits.as_slice() {
        [] if number.is_some() && lines.iter().any(|x| x.crt == crt) => {
            return format!(
                "Can't delete the entry: found a certificate '{crt}' but the line number is \
                 incorrect, please specify a correct line number preceded by colons ({})!\n",
                numbers_of_crt()
            );
        }
        [] => {
            return format!(
                "Can't delete the entry: certificate '{crt}' can't be found in crt-list \
                 '{list}'!\n"
            );
        }
        [i] => {
            let i = *i;
            if i == 0 {
                // HAProxy refuses to take a bind's default certificate away.
                let binds = l.defaulted_by(list);
                if !binds.is_empty() {
                    let mut out = format!(
                        "Can't delete the entry: certificate '{crt}' cannot be deleted, it is \
                         used as default certificate by the following frontends:\n"
                    );
                    for b in binds {
                        out.push_str(&format!("\t- {b}\n"));
                    }
                    out.push('\n'); // HAProxy's answer ends with an empty line here
                    return out;
                }
            }
            let lines = l.lines.get_mut(*list).expect("found above");
            lines.remove(i);
        }
        many => {
            let nums: Vec<String> = many.iter().map(|&i| lines[i].number.to_string()).collect();
            return format!(
                "Can't delete the entry: found the certificate '{crt}' in several entries, \
                 please specify a line number preceded by colons ({})!\n",
                nums.join(", ")
            );
        }
    }
    if let Err(e) = l.publish(list) {
        return format!("Can't delete the entry: {e}\n");
    }
    format!("Entry '{crt}' deleted in crtlist '{list}'!\n")
}

/// `show ssl crt-list [-n] [<list>]`.
pub fn show_crt_list(args: &[&str]) -> String {
    let numbered = args.first() == Some(&"-n");
    let rest = if numbered { &args[1..] } else { args };
    let l = live::lists();
    let Some(list) = rest.first() else {
        let mut names: Vec<&String> = l.lines.keys().collect();
        names.sort();
        return names.iter().map(|n| format!("{n}\n")).collect();
    };
    let Some(lines) = l.lines.get(*list) else {
        return "didn't find the specified filename\n".into();
    };
    let mut out = format!("# {list}\n");
    for x in lines {
        out.push_str(&x.crt);
        if numbered {
            out.push_str(&format!(":{}", x.number));
        }
        if !x.shown.is_empty() {
            out.push(' ');
            out.push_str(&x.shown);
        }
        out.push('\n');
    }
    out
}
