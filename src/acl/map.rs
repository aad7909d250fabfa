//! Pattern and map files (`acl ... -f <file>`, `map_*(<file>)`), read once at
//! load into the structures of `pattern.rs`.
//!
//! HAProxy's rules for both: a line whose first character is `#` is a comment,
//! leading spaces and tabs are stripped, empty lines are skipped, the rest of
//! the line (trailing spaces included) is the pattern. A map line is a key (up
//! to the first space or tab) and a value (the rest after blanks).
//!
//! Relative paths: HAProxy 2.6 resolves them against the directory set by
//! `default-path` (default `current`, the working directory at startup), so
//! the caller passes that directory as `base`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::pattern::{Builder, Method, Patterns};
use super::sample::Val;

/// `path` as HAProxy opens it: absolute, or under `base` when given.
pub fn resolve(path: &str, base: Option<&Path>) -> PathBuf {
    let p = Path::new(path);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    }
}

/// The pattern lines of a file as (line number, text).
pub fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to open pattern file '{}': {e}", path.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.trim_start_matches([' ', '\t']).to_string()))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}

/// Adds every pattern of a file to `b`, each answering its line number.
pub fn add_file(b: &mut Builder, path: &Path) -> Result<(), String> {
    for (n, line) in read_lines(path)? {
        b.add(&line, n as u32)
            .map_err(|e| format!("'{}' line {n}: {e}", path.display()))?;
    }
    Ok(())
}

/// The type of a map's values (`map_<match>_<out>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutType {
    /// Strings (the default).
    Str,
    /// Integers.
    Int,
    /// Addresses.
    Ip,
}

/// One compiled map value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapValue {
    /// A string.
    Str(Box<[u8]>),
    /// An integer.
    Int(i64),
    /// An address.
    Ip(IpAddr),
}

impl MapValue {
    /// Parses `s` as a value of type `t`.
    pub fn parse(s: &str, t: OutType) -> Result<MapValue, String> {
        Ok(match t {
            OutType::Str => MapValue::Str(s.as_bytes().into()),
            OutType::Int => MapValue::Int(
                s.trim()
                    .parse()
                    .map_err(|_| format!("map value '{s}' is not an integer"))?,
            ),
            OutType::Ip => MapValue::Ip(
                s.trim()
                    .parse()
                    .map_err(|_| format!("map value '{s}' is not an IP address"))?,
            ),
        })
    }

    /// The value as a sample.
    pub fn as_val(&self) -> Val<'_> {
        match self {
            MapValue::Str(s) => Val::Str(s),
            MapValue::Int(n) => Val::Int(*n),
            MapValue::Ip(a) => Val::Ip(*a),
        }
    }
}

/// A loaded map: keys compiled for one match method, and their values.
#[derive(Debug, Clone)]
pub struct MapTable {
    keys: Patterns,
    values: Vec<MapValue>,
    out: OutType,
}

impl MapTable {
    /// Builds a map from (key, value) pairs.
    pub fn from_pairs<'a>(
        method: Method,
        out: OutType,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<MapTable, String> {
        let mut b = Builder::new(method, false);
        let mut values = Vec::new();
        for (k, v) in pairs {
            b.add(k, values.len() as u32)?;
            values.push(MapValue::parse(v, out)?);
        }
        Ok(MapTable {
            keys: b.finish()?,
            values,
            out,
        })
    }

    /// Loads a map file.
    pub fn load(path: &Path, method: Method, out: OutType) -> Result<MapTable, String> {
        let lines = read_lines(path)?;
        let pairs = lines.iter().map(|(_, l)| {
            let l = l.as_str();
            match l.find([' ', '\t']) {
                Some(i) => (&l[..i], l[i..].trim_start_matches([' ', '\t'])),
                None => (l, ""),
            }
        });
        MapTable::from_pairs(method, out, pairs)
            .map_err(|e| format!("map file '{}': {e}", path.display()))
    }

    /// The value the key `v` maps to.
    pub fn lookup(&self, v: Val<'_>, c: &mut Vec<u8>) -> Option<&MapValue> {
        self.keys
            .find(v, c)
            .and_then(|i| self.values.get(i as usize))
    }

    /// The type of the values.
    pub fn out_type(&self) -> OutType {
        self.out
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A temporary file holding `text`, removed on drop (tests and benches).
#[derive(Debug)]
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// Writes `text` to a fresh file under the system temp directory.
    pub fn new(tag: &str, text: &str) -> TempFile {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ringlb-acl-{}-{n}-{tag}", std::process::id()));
        std::fs::write(&p, text).expect("write temp file");
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_file_rules() {
        let f = TempFile::new("pats", "# comment\n  /a\n\n\t/b \n #not a comment\n");
        let lines = read_lines(&f.0).unwrap();
        let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(texts, ["/a", "/b ", "#not a comment"]);
        assert_eq!(lines[0].0, 2);
        assert!(read_lines(Path::new("/nonexistent/x")).is_err());
    }

    #[test]
    fn map_file_beg_and_ip() {
        let f = TempFile::new("map", "/api  api_be\n/api/v2\tv2_be\n/ static_be\n");
        let m = MapTable::load(&f.0, Method::Beg, OutType::Str).unwrap();
        let mut c = Vec::new();
        let get = |k: &str, c: &mut Vec<u8>| m.lookup(Val::Str(k.as_bytes()), c).cloned();
        assert_eq!(
            get("/api/v2/x", &mut c),
            Some(MapValue::Str((*b"v2_be").into()))
        );
        assert_eq!(
            get("/api/v1", &mut c),
            Some(MapValue::Str((*b"api_be").into()))
        );
        assert_eq!(
            get("/x", &mut c),
            Some(MapValue::Str((*b"static_be").into()))
        );
        let f = TempFile::new("ipmap", "10.0.0.0/8 1\n10.1.0.0/16 2\n");
        let m = MapTable::load(&f.0, Method::Ip, OutType::Int).unwrap();
        let v = m.lookup(Val::Ip("10.1.1.1".parse().unwrap()), &mut c);
        assert_eq!(v, Some(&MapValue::Int(2)));
        let bad = TempFile::new("bad", "10.0.0.0/8 x\n");
        assert!(MapTable::load(&bad.0, Method::Ip, OutType::Int).is_err());
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            resolve("maps/a.map", Some(Path::new("/etc/haproxy"))),
            PathBuf::from("/etc/haproxy/maps/a.map")
        );
        assert_eq!(resolve("/x", Some(Path::new("/y"))), PathBuf::from("/x"));
        assert_eq!(resolve("x", None), PathBuf::from("x"));
    }
}
