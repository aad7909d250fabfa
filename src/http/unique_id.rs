//! `unique-id-format` and `unique-id-header`: an id made once per request from
//! a log-format string (HAProxy configuration.txt §4.2), sent to the server in
//! a header, read by the `unique-id` fetch and the `%ID` variable.
//!
//! As HAProxy: the id is made when first asked for (a rule reading
//! `unique-id` while the frontend routes sees `%b` as the frontend), else,
//! when `unique-id-header` is set, once the backend is chosen, just before the
//! head for the server is written; the header goes after the client's
//! headers. `%rt` is a process-wide counter of the ids made (HAProxy counts
//! every stream; both are unique in the process, the values differ when some
//! requests make no id). The date (`%Ts`, `%ms`, `%t`) is taken when first
//! used in the exchange (when the id is made, in practice).

use std::cell::{Cell, OnceCell};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::acl::{Sample, Scratch};
use crate::lf::{LfVars, LogFormat, Var};

/// A frontend's unique-id settings (from the frontend or its `defaults`).
#[derive(Debug, Clone)]
pub struct UniqueId {
    /// `unique-id-format`, compiled.
    pub format: LogFormat,
    /// `unique-id-header`: the request header that carries the id to the server.
    pub header: Option<String>,
}

impl PartialEq for UniqueId {
    /// Compiled formats have no equality: the same text is the same format.
    fn eq(&self, o: &UniqueId) -> bool {
        self.format.text == o.format.text && self.header == o.header
    }
}

impl Eq for UniqueId {}

/// Exchanges numbered by this process (`%rt`), across every worker: one
/// atomic for the process, touched only by exchanges that use `%rt`.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// One exchange's identity for log-format strings: its unique id (made at
/// most once), its request number (`%rt`) and its date (`%Ts`, `%ms`, `%t`),
/// each drawn on first use and then fixed for the exchange, as HAProxy's
/// stream keeps them.
#[derive(Debug, Default)]
pub struct IdSlot {
    id: OnceCell<Box<[u8]>>,
    making: Cell<bool>,
    counter: Cell<Option<u64>>,
    date: Cell<Option<SystemTime>>,
}

impl IdSlot {
    /// Forgets the previous exchange's id, number and date.
    pub fn clear(&mut self) {
        *self = IdSlot::default();
    }

    /// The id, if made.
    pub fn get(&self) -> Option<&[u8]> {
        self.id.get().map(|b| &b[..])
    }

    /// The id, made by `make` on first use. Asked for while being made
    /// (`%[unique-id]` in its own format) it is empty, as in HAProxy.
    pub fn get_or_make(&self, make: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        if let Some(id) = self.id.get() {
            return id;
        }
        if self.making.get() {
            return b"";
        }
        self.making.set(true);
        let mut out = Vec::with_capacity(64);
        make(&mut out);
        self.making.set(false);
        self.id.get_or_init(|| out.into_boxed_slice())
    }

    /// `%rt`: this exchange's number in the process, drawn on first use.
    pub fn counter(&self) -> u64 {
        if let Some(n) = self.counter.get() {
            return n;
        }
        let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
        self.counter.set(Some(n));
        n
    }

    /// The exchange's date for `%Ts`, `%ms`, `%t`, taken on first use.
    pub fn date(&self) -> SystemTime {
        if let Some(d) = self.date.get() {
            return d;
        }
        let d = SystemTime::now();
        self.date.set(Some(d));
        d
    }
}

/// The names an id may mention: where the request is at the time it is made.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// `%f`.
    pub frontend: &'a str,
    /// `%b`: the chosen backend, or the frontend before routing.
    pub backend: &'a str,
    /// `%s`: the server, `<NOSRV>` until one is chosen.
    pub server: Option<&'a str>,
}

/// The [`LfVars`] of an exchange, for any log-format string rendered while it
/// runs (the unique id's, a header value's): names, `%rt`, the date, `%ID`.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeVars<'a> {
    /// Where the request is.
    pub names: Names<'a>,
    /// The exchange's id, number and date.
    pub slot: &'a IdSlot,
}

impl LfVars for ExchangeVars<'_> {
    fn var(&self, v: Var, out: &mut Vec<u8>) -> bool {
        use std::io::Write;
        let date = || self.slot.date();
        let since = || date().duration_since(UNIX_EPOCH).unwrap_or_default();
        match v {
            Var::Frontend => out.extend_from_slice(self.names.frontend.as_bytes()),
            Var::Backend => out.extend_from_slice(self.names.backend.as_bytes()),
            Var::Server => {
                out.extend_from_slice(self.names.server.unwrap_or("<NOSRV>").as_bytes());
            }
            Var::Hostname => out.extend_from_slice(hostname().as_bytes()),
            Var::RequestCounter => {
                let _ = write!(out, "{}", self.slot.counter());
            }
            Var::Timestamp => {
                let _ = write!(out, "{}", since().as_secs());
            }
            // HAProxy pads the milliseconds to three digits.
            Var::Millis => {
                let _ = write!(out, "{:03}", since().subsec_millis());
            }
            Var::Date => crate::log::format::date(date(), out),
            // Only once made: HAProxy's `%ID` does not make it.
            Var::UniqueId => match self.slot.get() {
                Some(id) => out.extend_from_slice(id),
                None => return false,
            },
            _ => return false,
        }
        true
    }
}

/// This host's name for `%H`, read once.
fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| crate::log::system_hostname().unwrap_or_default())
}

/// Makes the id of the request `s` in `slot` if not yet made, and returns it.
pub fn make<'s, S: Sample + ?Sized>(
    slot: &'s IdSlot,
    spec: &UniqueId,
    s: &S,
    names: Names<'_>,
    sc: &mut Scratch,
) -> &'s [u8] {
    let vars = ExchangeVars { names, slot };
    slot.get_or_make(|out| spec.format.render(s, &vars, sc, out))
}

/// As [`make`], with a scratch of its own: for a rule asking while the
/// worker's scratch is in use.
pub fn lazy<'s, S: Sample + ?Sized>(
    slot: &'s IdSlot,
    spec: &UniqueId,
    s: &S,
    names: Names<'_>,
) -> &'s [u8] {
    make(slot, spec, s, names, &mut Scratch::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::TestSample;

    fn spec(fmt: &str) -> UniqueId {
        UniqueId {
            format: LogFormat::parse(fmt, None).unwrap(),
            header: Some("X-Unique-ID".into()),
        }
    }

    const NAMES: Names<'static> = Names {
        frontend: "fe",
        backend: "be",
        server: None,
    };

    fn make_id(fmt: &str, s: &TestSample) -> String {
        let slot = IdSlot::default();
        String::from_utf8(lazy(&slot, &spec(fmt), s, NAMES).to_vec()).unwrap()
    }

    /// The manual's example, `7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A`:
    /// every field upper-case hexadecimal, addresses 8 digits, ports 4.
    #[test]
    fn the_manuals_example_has_haproxys_shape() {
        let s = TestSample::get("/")
            .src("127.0.0.1:33430")
            .dst("127.0.0.30:8080");
        let id = make_id(r"%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid", &s);
        let (head, pid) = id.rsplit_once(':').unwrap();
        assert!(head.starts_with("7F000001:8296_7F00001E:1F90_"), "{id}");
        let (ts, rt) = head[28..].split_once('_').unwrap();
        assert_eq!(ts.len(), 8, "{id}");
        assert!(rt.len() >= 4 && pid.len() >= 4, "{id}");
        assert!(
            [ts, rt, pid].iter().all(|f| f
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())),
            "{id}"
        );
        assert_eq!(u32::from_str_radix(pid, 16).unwrap(), std::process::id());
    }

    #[test]
    fn each_id_has_its_own_counter() {
        let s = TestSample::get("/");
        let a: u64 = make_id("%rt", &s).parse().unwrap();
        let b: u64 = make_id("%rt", &s).parse().unwrap();
        assert!(b > a);
        assert_eq!(make_id("%f %b %s %ID.", &s), "fe be <NOSRV> .");
        assert_eq!(make_id("%ms", &s).len(), 3);
        // Within one exchange the number and the date stay, and %ID is the id.
        let slot = IdSlot::default();
        let id = lazy(&slot, &spec("%rt-%Ts-%ms"), &s, NAMES).to_vec();
        let lf = LogFormat::parse("%rt-%Ts-%ms %ID", None).unwrap();
        let mut out = Vec::new();
        let vars = ExchangeVars {
            names: NAMES,
            slot: &slot,
        };
        lf.render(&s, &vars, &mut Scratch::new(), &mut out);
        assert_eq!(out, [&id[..], b" ", &id[..]].concat());
    }

    #[test]
    fn made_once_and_empty_inside_itself() {
        let mut slot = IdSlot::default();
        let s = TestSample::get("/");
        let sp = spec("%[unique-id]x");
        assert_eq!(slot.get(), None);
        let first = lazy(&slot, &sp, &s, NAMES).to_vec();
        assert_eq!(first, b"x");
        assert_eq!(slot.get_or_make(|o| o.push(b'y')), b"x");
        slot.clear();
        assert_eq!(slot.get_or_make(|o| o.push(b'y')), b"y");
        // Recursion through the slot: the inner ask sees an empty id.
        let slot = IdSlot::default();
        let got = slot.get_or_make(|o| {
            let inner = slot.get_or_make(|_| unreachable!());
            o.extend_from_slice(b"[");
            o.extend_from_slice(inner);
            o.extend_from_slice(b"]");
        });
        assert_eq!(got, b"[]");
    }
}
