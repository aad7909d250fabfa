//! Run-time changes to what binds serve: the process-wide crt-lists (by
//! file name, shared by every bind that names them, as HAProxy's) and the
//! binds built from them, so `add ssl crt-list` / `del ssl crt-list` reach
//! every bind at once.
//!
//! One producer (the stats socket, under [`LISTS`]'s lock) rebuilds a bind's
//! entries and publishes them with `ArcSwap`; handshakes only load them, so
//! the hot path takes no lock.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use super::bind::policy_config;
use super::crt_list::Line;
use super::opts::{Globals, SslOpts};
use super::session::{Cache, Tickets};
use super::sni::{Entry, Resolver, Sni};

/// Where a bind's certificates come from: a `crt <file>`, or a crt-list by
/// name (a `crt-list <file>`, or a `crt <directory>`, which is a crt-list of
/// its files as in HAProxy 2.6: `show ssl crt-list` names it, `add`/`del
/// ssl crt-list` change it).
#[derive(Clone)]
pub enum Base {
    /// A certificate file's entry (it never changes).
    File(Entry),
    /// A crt-list by name: its lines are in [`Lists::lines`].
    List(String),
}

/// What a bind needs to rebuild its entries after a crt-list change.
pub struct Builder {
    /// Its `crt` arguments in order, then its `crt-list` files.
    pub sources: Vec<Base>,
    /// The bind's own options (crt-list line options overlay them).
    pub opts: SslOpts,
    /// The `global` TLS settings it was built with.
    pub g: Globals,
    /// The option sets built so far; `configs` has one per entry here.
    pub policies: Vec<SslOpts>,
    /// The resolver every configuration of the bind shares.
    pub resolver: Arc<Resolver>,
    /// The bind's ticket keys.
    pub tickets: Arc<Tickets>,
    /// The bind's session cache.
    pub cache: Arc<Cache>,
    /// Where its `bind` line is (`file:line`), for `del ssl crt-list`'s refusal.
    pub origin: String,
}

impl Builder {
    /// The option set of a crt-list line (the bind's options overlaid by the
    /// line's); a new one gets its configuration pushed onto `configs` first.
    fn policy_of(
        &mut self,
        line_opts: &SslOpts,
        configs: &mut Vec<Arc<ServerConfig>>,
    ) -> Result<usize, String> {
        let o = self.opts.overlay(line_opts);
        if let Some(i) = self.policies.iter().position(|p| *p == o) {
            return Ok(i);
        }
        configs.push(policy_config(
            &o,
            &self.g,
            &self.resolver,
            &self.tickets,
            &self.cache,
        )?);
        self.policies.push(o);
        Ok(self.policies.len() - 1)
    }

    /// The crt-list whose first line is the bind's default certificate
    /// (the first entry), if a crt-list (not a `crt <file>`) gives it.
    fn default_list(&self, lines: &HashMap<String, Vec<Line>>) -> Option<&str> {
        for src in &self.sources {
            match src {
                Base::File(_) => return None,
                Base::List(l) if lines.get(l).is_some_and(|v| !v.is_empty()) => return Some(l),
                Base::List(_) => {}
            }
        }
        None
    }

    /// Whether it reads crt-list (or directory) `name`.
    fn uses(&self, name: &str) -> bool {
        self.sources
            .iter()
            .any(|b| matches!(b, Base::List(l) if l == name))
    }
}

/// One bind's entries and configurations, as handshakes read them.
pub struct Live {
    /// The certificates by name (the resolver reads the same `ArcSwap`).
    pub sni: Arc<ArcSwap<Sni>>,
    /// One configuration per option set; an entry's `policy` indexes it.
    pub configs: ArcSwap<Vec<Arc<ServerConfig>>>,
    builder: Mutex<Builder>,
}

/// The crt-lists, by file name, and the binds that use any.
#[derive(Default)]
pub struct Lists {
    /// Each crt-list's lines, in order.
    pub lines: HashMap<String, Vec<Line>>,
    binds: Vec<Weak<Live>>,
}

/// The one registry; its lock serialises run-time changes (never taken by a handshake).
static LISTS: LazyLock<Mutex<Lists>> = LazyLock::new(Mutex::default);

/// The registry, locked (a poisoned lock is still usable: the data is plain).
pub fn lists() -> MutexGuard<'static, Lists> {
    LISTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records the lines of crt-list `file` as loaded by the configuration.
pub fn set_list(file: &str, lines: Vec<Line>) {
    lists().lines.insert(file.to_string(), lines);
}

impl Live {
    /// Makes a bind's live state and registers it for crt-list changes.
    pub fn register(
        sni: Arc<ArcSwap<Sni>>,
        configs: Vec<Arc<ServerConfig>>,
        builder: Builder,
    ) -> Arc<Live> {
        let live = Arc::new(Live {
            sni,
            configs: ArcSwap::from_pointee(configs),
            builder: Mutex::new(builder),
        });
        let mut l = lists();
        l.binds.retain(|w| w.strong_count() > 0);
        l.binds.push(Arc::downgrade(&live));
        live
    }

    /// Rebuilds the entries from the crt-lists' current lines; new option
    /// sets get their configuration first, so a published entry's policy
    /// always has one.
    pub(super) fn rebuild(&self, lines: &HashMap<String, Vec<Line>>) -> Result<(), String> {
        let mut b = self.builder.lock().unwrap_or_else(|e| e.into_inner());
        let mut configs = Vec::clone(&self.configs.load());
        let mut entries = Vec::new();
        for src in b.sources.clone() {
            let list = match src {
                Base::File(e) => {
                    entries.push(e);
                    continue;
                }
                Base::List(name) => name,
            };
            for line in lines.get(&list).into_iter().flatten() {
                let policy = b.policy_of(&line.opts, &mut configs)?;
                entries.push(Entry {
                    file: line.crt.clone(),
                    filters: line.filters.clone(),
                    negs: line.negs.clone(),
                    policy,
                });
            }
        }
        self.configs.store(Arc::new(configs));
        let strict = self.sni.load().strict;
        self.sni.store(Arc::new(Sni { entries, strict }));
        Ok(())
    }

    /// Records where the bind's line is (`file:line`).
    pub fn set_origin(&self, origin: String) {
        self.builder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .origin = origin;
    }

    /// The `crt-base` this bind was built with.
    pub fn crt_base(&self) -> Option<String> {
        let b = self.builder.lock().unwrap_or_else(|e| e.into_inner());
        b.g.crt_base.clone()
    }
}

impl Lists {
    /// The binds still alive.
    pub fn binds(&self) -> Vec<Arc<Live>> {
        self.binds.iter().filter_map(Weak::upgrade).collect()
    }

    /// Publishes crt-list `file`'s lines to every bind that names it.
    pub fn publish(&self, file: &str) -> Result<(), String> {
        for live in self.binds() {
            let names = {
                let b = live.builder.lock().unwrap_or_else(|e| e.into_inner());
                b.uses(file)
            };
            if names {
                live.rebuild(&self.lines)?;
            }
        }
        Ok(())
    }

    /// How many bind entries serve certificate `file` (HAProxy's instances).
    pub fn instances(&self, file: &str) -> usize {
        self.binds()
            .iter()
            .map(|l| {
                l.sni
                    .load()
                    .entries
                    .iter()
                    .filter(|e| e.file == file)
                    .count()
            })
            .sum()
    }

    /// Where the binds are (`file:line`) whose default certificate is the
    /// first line of crt-list `list`: HAProxy refuses to delete that line.
    pub fn defaulted_by(&self, list: &str) -> Vec<String> {
        self.binds()
            .iter()
            .filter_map(|l| {
                let b = l.builder.lock().unwrap_or_else(|e| e.into_inner());
                (b.default_list(&self.lines) == Some(list)).then(|| b.origin.clone())
            })
            .collect()
    }

    /// The `crt-base` of a bind using crt-list `file`, if any bind has one.
    pub fn crt_base_of(&self, file: &str) -> Option<String> {
        self.binds().iter().find_map(|l| {
            let uses = {
                let b = l.builder.lock().unwrap_or_else(|e| e.into_inner());
                b.uses(file)
            };
            if uses { l.crt_base() } else { None }
        })
    }
}

#[cfg(test)]
mod tests {
    use rustls::ProtocolVersion;
    use rustls::version::{TLS12, TLS13};

    use super::super::bind::BindTls;
    use super::super::opts::SslOpts;
    use super::super::test_util::*;
    use super::super::{certs, crt_list};
    use super::lists;

    #[test]
    fn a_line_added_at_run_time_is_served_with_its_options() {
        let Some(d) = certs_dir() else { return };
        let p = |f: &str| d.join(f).to_string_lossy().into_owned();
        let list = d.join("live.crt-list").to_string_lossy().into_owned();
        std::fs::write(&list, format!("{}\n", p("rsa_a.pem"))).unwrap();
        let t = BindTls::build_with(vec![], vec![list.clone()], SslOpts::default(), &mut |_| {})
            .unwrap();
        let both = || client(&[&TLS13, &TLS12], all_schemes(), false).0;
        let cn = |sni| served_cn(&handshake(&t, both(), Some(sni)).unwrap().0);
        assert_eq!(cn("b.example"), "a.example");
        // As `add ssl crt-list` requires: the certificate is in the store.
        let g = super::super::opts::Globals::default();
        certs::insert(
            &p("rsa_b.pem"),
            certs::load_file(&p("rsa_b.pem"), &g, &mut |_| {}).unwrap(),
        );
        let line = format!("{} [ssl-max-ver TLSv1.2] b.example", p("rsa_b.pem"));
        let mut l = lists();
        l.lines
            .get_mut(&list)
            .unwrap()
            .push(crt_list::parse_line(&line, &mut |_| {}).unwrap());
        l.publish(&list).unwrap();
        assert_eq!(l.instances(&p("rsa_b.pem")), 1);
        drop(l);
        let (c, _) = handshake(&t, both(), Some("b.example")).unwrap();
        assert_eq!(served_cn(&c), "b.example");
        assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
        assert_eq!(cn("a.example"), "a.example");
        // Removed again: the default serves the name.
        let mut l = lists();
        l.lines.get_mut(&list).unwrap().pop();
        l.publish(&list).unwrap();
        drop(l);
        assert_eq!(cn("b.example"), "a.example");
    }
}
