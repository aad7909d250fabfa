//! One stick table: keys to the server a client stuck to, shared by every
//! worker of the process behind one mutex (only proxies with stick rules
//! touch it), ordered by last use so that `expire` and `size` act on the
//! least recently used entries first.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::key::{Key, KeyType};

/// A `stick-table` line, as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The table's name: its proxy's.
    pub name: String,
    /// `type ...`.
    pub key: KeyType,
    /// `size <n>`: the most entries.
    pub size: u32,
    /// `expire <t>`: entries not touched for that long are dropped.
    pub expire: Option<Duration>,
    /// `nopurge`: when full, new keys are not stored (instead of the
    /// oldest entries being dropped).
    pub nopurge: bool,
    /// Whether the entries keep the server's name too (HAProxy adds
    /// `server_key` to tables that stick rules use).
    pub server_key: bool,
}

/// What an entry holds: the server a key stuck to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The server's `id` (HAProxy's `server_id`).
    pub server_id: u32,
    /// The server's name (`server_key`).
    pub server_key: Arc<str>,
}

/// One entry.
#[derive(Debug)]
struct Entry {
    /// `None` until a server is stored for the key.
    stuck: Option<Stuck>,
    /// Last use (lookup that found it, or store).
    touched: Instant,
    /// Its place in the use order.
    seq: u64,
    /// A number for `show table`'s entry address.
    id: u64,
}

/// The entries and their order of use.
#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    /// Least recently used first.
    order: BTreeMap<u64, Key>,
    seq: u64,
    ids: u64,
}

/// A stick table (`stick-table` line).
#[derive(Debug)]
pub struct Table {
    /// How it was declared.
    pub spec: TableSpec,
    inner: Mutex<Inner>,
}

impl Table {
    /// An empty table.
    pub fn new(spec: TableSpec) -> Table {
        Table {
            spec,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The entries with their expired ones dropped.
    fn fresh(&self, now: Instant) -> MutexGuard<'_, Inner> {
        // A worker that panicked holding the lock left the map consistent
        // (no update spans an unwinding point): go on with it.
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(exp) = self.spec.expire {
            while let Some((&seq, key)) = g.order.first_key_value() {
                let old = g.map.get(key).is_some_and(|e| now >= e.touched + exp);
                if !old {
                    break;
                }
                let key = key.clone();
                g.order.remove(&seq);
                g.map.remove(&key);
            }
        }
        g
    }

    /// The server `key` stuck to, refreshing the entry (a `stick match`).
    pub fn lookup(&self, key: &Key, now: Instant) -> Option<Stuck> {
        let mut g = self.fresh(now);
        let inner = &mut *g;
        let e = inner.map.get_mut(key)?;
        inner.order.remove(&e.seq);
        inner.seq += 1;
        e.seq = inner.seq;
        e.touched = now;
        inner.order.insert(e.seq, key.clone());
        e.stuck.clone()
    }

    /// Sticks `key` to a server (a `stick store-*`), creating the entry;
    /// when the table is full the least recently used entries go first
    /// (as many as HAProxy trashes at once), or, with `nopurge`, nothing
    /// is stored.
    pub fn store(&self, key: Key, stuck: Stuck, now: Instant) {
        let mut g = self.fresh(now);
        let inner = &mut *g;
        if !inner.map.contains_key(&key) && inner.map.len() >= self.spec.size as usize {
            if self.spec.nopurge {
                return;
            }
            // HAProxy's __stktable_trash_oldest(t, (size >> 8) + 1).
            for _ in 0..(self.spec.size >> 8) + 1 {
                let Some((_, old)) = inner.order.pop_first() else {
                    break;
                };
                inner.map.remove(&old);
            }
        }
        inner.seq += 1;
        let seq = inner.seq;
        match inner.map.get_mut(&key) {
            Some(e) => {
                inner.order.remove(&e.seq);
                e.seq = seq;
                e.touched = now;
                e.stuck = Some(stuck);
            }
            None => {
                inner.ids += 1;
                let id = inner.ids;
                inner.map.insert(
                    key.clone(),
                    Entry {
                        stuck: Some(stuck),
                        touched: now,
                        seq,
                        id,
                    },
                );
            }
        }
        inner.order.insert(seq, key);
    }

    /// How many entries are live.
    pub fn used(&self, now: Instant) -> usize {
        self.fresh(now).map.len()
    }

    /// Drops every entry (`clear table <t>`).
    pub fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.map.clear();
        g.order.clear();
    }

    /// Drops one entry (`clear table <t> key <k>`).
    pub fn remove(&self, key: &Key) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = g.map.remove(key) {
            g.order.remove(&e.seq);
        }
    }

    /// `show table`'s header line for this table.
    pub fn head(&self, now: Instant) -> String {
        format!(
            "# table: {}, type: {}, size:{}, used:{}\n",
            self.spec.name,
            self.spec.key.name(),
            self.spec.size,
            self.used(now)
        )
    }

    /// `show table <t>`: the header, then one line per entry in key
    /// order (HAProxy walks its tree of keys).
    pub fn dump(&self, now: Instant) -> String {
        let mut out = self.head(now);
        let g = self.fresh(now);
        let mut entries: Vec<(&Key, &Entry)> = g.map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (key, e) in entries {
            // An address-like number, as HAProxy prints the entry's pointer.
            let _ = write!(out, "{:#x}: key=", 0x5600_0000_0000u64 + e.id * 0x40);
            key.render(self.spec.key, &mut out);
            let exp = self.spec.expire.map_or(0, |x| {
                (e.touched + x).saturating_duration_since(now).as_millis()
            });
            let _ = write!(out, " use=0 exp={exp}");
            match &e.stuck {
                Some(s) => {
                    let _ = write!(out, " server_id={}", s.server_id);
                    if self.spec.server_key {
                        let _ = write!(out, " server_key={}", s.server_key);
                    }
                }
                None => out.push_str(" server_id=0"),
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(size: u32, expire: Option<u64>, nopurge: bool) -> Table {
        Table::new(TableSpec {
            name: "t".into(),
            key: KeyType::Integer,
            size,
            expire: expire.map(Duration::from_millis),
            nopurge,
            server_key: true,
        })
    }

    fn srv(id: u32) -> Stuck {
        Stuck {
            server_id: id,
            server_key: format!("s{id}").into(),
        }
    }

    #[test]
    fn entries_expire_when_not_touched() {
        let t = table(10, Some(100), false);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        t.store(Key::Int(1), srv(1), t0);
        t.store(Key::Int(2), srv(2), t0);
        // A lookup refreshes its entry.
        assert_eq!(t.lookup(&Key::Int(1), ms(60)), Some(srv(1)));
        assert_eq!(t.used(ms(99)), 2);
        assert_eq!(t.lookup(&Key::Int(2), ms(100)), None);
        assert_eq!(t.lookup(&Key::Int(1), ms(159)), Some(srv(1)));
        assert_eq!(t.used(ms(259)), 0);
    }

    #[test]
    fn a_full_table_drops_the_least_recently_used() {
        let t = table(3, None, false);
        let now = Instant::now();
        for k in 1..=3 {
            t.store(Key::Int(k), srv(k as u32), now);
        }
        t.lookup(&Key::Int(1), now);
        t.store(Key::Int(4), srv(4), now);
        assert_eq!(t.lookup(&Key::Int(2), now), None);
        assert!(t.lookup(&Key::Int(1), now).is_some());
        assert!(t.lookup(&Key::Int(3), now).is_some());
        assert!(t.lookup(&Key::Int(4), now).is_some());
        // Storing an existing key replaces its server, no eviction.
        t.store(Key::Int(3), srv(9), now);
        assert_eq!(t.lookup(&Key::Int(3), now), Some(srv(9)));
        assert_eq!(t.used(now), 3);
    }

    #[test]
    fn nopurge_keeps_the_old_entries() {
        let t = table(1, None, true);
        let now = Instant::now();
        t.store(Key::Int(1), srv(1), now);
        t.store(Key::Int(2), srv(2), now);
        assert_eq!(t.lookup(&Key::Int(2), now), None);
        assert_eq!(t.lookup(&Key::Int(1), now), Some(srv(1)));
    }

    #[test]
    fn show_and_clear() {
        let t = table(10, Some(1000), false);
        let now = Instant::now();
        t.store(Key::Int(7), srv(2), now);
        t.store(Key::Int(8), srv(1), now);
        let d = t.dump(now + Duration::from_millis(10));
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "# table: t, type: integer, size:10, used:2");
        assert!(lines[1].ends_with(": key=7 use=0 exp=990 server_id=2 server_key=s2"));
        t.remove(&Key::Int(7));
        assert_eq!(t.used(now), 1);
        t.clear();
        assert_eq!(t.used(now), 0);
    }
}
