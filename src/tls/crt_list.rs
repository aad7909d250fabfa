//! `crt-list <file>`: one certificate a line, with its own TLS options and
//! SNI filters: `<crtfile> [<sslbindconf> ...] [[!]<snifilter> ...]`.

use super::opts::{self, Place, SslOpts};

/// One line of a crt-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The certificate file (after `crt-base`).
    pub crt: String,
    /// The options in `[...]`.
    pub opts: SslOpts,
    /// SNI filters (lowercase).
    pub filters: Vec<String>,
    /// `!name` filters (lowercase).
    pub negs: Vec<String>,
    /// Its line number in the file (`show ssl crt-list -n`, `del ssl crt-list <crt>:<n>`).
    pub number: usize,
    /// The options and filters as written, for `show ssl crt-list`.
    pub shown: String,
}

/// Reads and parses a crt-list file.
pub fn load(file: &str, warn: &mut dyn FnMut(String)) -> Result<Vec<Line>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("unable to read crt-list '{file}': {e}"))?;
    parse(&text, warn).map_err(|e| format!("crt-list '{file}' {e}"))
}

/// Parses crt-list text (errors start with "line N").
pub fn parse(text: &str, warn: &mut dyn FnMut(String)) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut warn_at = |w: String| warn(format!("crt-list line {}: {w}", n + 1));
        let mut l = parse_line(line, &mut warn_at).map_err(|e| format!("line {}: {e}", n + 1))?;
        l.number = n + 1;
        out.push(l);
    }
    if out.is_empty() {
        return Err("holds no certificate".into());
    }
    Ok(out)
}

/// The lines of a `crt <directory>`: each file, no options or filters,
/// line number 0 (what `show ssl crt-list -n` prints for them in HAProxy).
pub fn dir_lines(files: Vec<String>) -> Vec<Line> {
    files
        .into_iter()
        .map(|crt| Line {
            crt,
            opts: SslOpts::default(),
            filters: Vec::new(),
            negs: Vec::new(),
            number: 0,
            shown: String::new(),
        })
        .collect()
}

/// One non-empty line (its `number` left 0: the caller knows it).
pub fn parse_line(line: &str, warn: &mut dyn FnMut(String)) -> Result<Line, String> {
    let (crt, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let (conf, filters) = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']').ok_or("'[' without its ']'".to_string())?,
        None => ("", rest),
    };
    let mut o = SslOpts::default();
    let mut words = conf.split_whitespace();
    while let Some(name) = words.next() {
        let mut next = |what: &str| {
            words
                .next()
                .map(str::to_string)
                .ok_or_else(|| format!("'{name}' expects {what}"))
        };
        if !opts::parse(&mut o, Place::CrtList, name, &mut next, warn)? {
            return Err(format!(
                "option '{name}' is not supported on a crt-list line (ringlb takes: \
                 alpn, npn, verify, ca-file, crl-file, ssl-min-ver, ssl-max-ver, ciphers, \
                 ciphersuites, curves, ecdhe, no-ca-names)"
            ));
        }
    }
    let (mut pos, mut negs) = (Vec::new(), Vec::new());
    let conf_shown = conf.split_whitespace().collect::<Vec<_>>().join(" ");
    let filters_shown = filters.split_whitespace().collect::<Vec<_>>().join(" ");
    let shown = match (conf_shown.is_empty(), filters_shown.is_empty()) {
        (true, true) => String::new(),
        (true, false) => filters_shown,
        (false, true) => format!("[{conf_shown}]"),
        (false, false) => format!("[{conf_shown}] {filters_shown}"),
    };
    for f in filters.split_whitespace() {
        match f.strip_prefix('!') {
            Some(n) => negs.push(n.to_ascii_lowercase()),
            None => pos.push(f.to_ascii_lowercase()),
        }
    }
    Ok(Line {
        crt: opts::with_base(crt, |g| g.crt_base.clone()),
        opts: o,
        filters: pos,
        negs,
        number: 0,
        shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::opts::Verify;

    #[test]
    fn lines_options_and_filters() {
        let text = "# comment\n\n/a.pem\n/b.pem [alpn http/1.1 verify required ssl-min-ver TLSv1.3] \
                    www.example.com *.example.org !bad.example.org\n";
        let l = parse(text, &mut |_| {}).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].crt, "/a.pem");
        assert!(l[0].filters.is_empty());
        assert_eq!(l[1].opts.verify, Some(Verify::Required));
        assert_eq!(
            l[1].opts.alpn.as_deref(),
            Some(&["http/1.1".to_string()][..])
        );
        assert_eq!(l[1].filters, ["www.example.com", "*.example.org"]);
        assert_eq!(l[1].negs, ["bad.example.org"]);
        assert_eq!((l[0].number, l[1].number), (3, 4));
        assert_eq!(
            l[1].shown,
            "[alpn http/1.1 verify required ssl-min-ver TLSv1.3] www.example.com \
             *.example.org !bad.example.org"
        );
    }

    #[test]
    fn unknown_options_are_refused() {
        let e = parse("/a.pem [strict-sni] x\n", &mut |_| {}).unwrap_err();
        assert!(e.starts_with("line 1: option 'strict-sni'"), "{e}");
        let e = parse("/a.pem [ciphers]\n", &mut |_| {}).unwrap_err();
        assert!(e.contains("'ciphers' expects"), "{e}");
        assert!(parse("/a.pem [alpn h2\n", &mut |_| {}).is_err());
        assert!(parse("# only\n", &mut |_| {}).is_err());
    }
}
