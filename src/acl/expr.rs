//! Splits a sample expression word (`req.hdr(host,1),lower,map_beg(f.map,x)`)
//! into its calls: a name and its arguments each.
//!
//! Arguments are separated by commas; a comma inside nested parentheses (a
//! regex group) or written `\,` belongs to the argument. Other backslashes are
//! kept, so regex escapes and `\1` references reach their compilers intact.

/// One fetch or converter call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The keyword (`hdr`, `lower`).
    pub name: String,
    /// The arguments between the parentheses (none when there are none).
    pub args: Vec<String>,
}

/// Splits `word` into its fetch call and converter calls.
pub fn split_expr(word: &str) -> Result<Vec<Call>, String> {
    let b = word.as_bytes();
    let mut calls = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && b[i] != b'(' && b[i] != b',' {
            i += 1;
        }
        let name = word[start..i].to_string();
        if name.is_empty() {
            return Err(format!("empty keyword in sample expression '{word}'"));
        }
        let mut args = Vec::new();
        if i < b.len() && b[i] == b'(' {
            i = parse_args(word, i + 1, &mut args)?;
        }
        calls.push(Call { name, args });
        if i >= b.len() {
            return Ok(calls);
        }
        if b[i] != b',' {
            return Err(format!(
                "unexpected '{}' after ')' in sample expression '{word}'",
                &word[i..]
            ));
        }
        i += 1;
    }
}

/// Reads arguments from `word[i..]` up to the closing parenthesis; returns the index after it.
fn parse_args(word: &str, mut i: usize, args: &mut Vec<String>) -> Result<usize, String> {
    let b = word.as_bytes();
    let mut cur: Vec<u8> = Vec::new();
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b',') => {
                cur.push(b',');
                i += 2;
                continue;
            }
            b'\\' if i + 1 < b.len() => {
                cur.extend_from_slice(&b[i..i + 2]);
                i += 2;
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => {
                push_arg(args, cur, true);
                return Ok(i + 1);
            }
            b')' => depth -= 1,
            b',' if depth == 0 => {
                push_arg(args, std::mem::take(&mut cur), false);
                i += 1;
                continue;
            }
            _ => {}
        }
        cur.push(b[i]);
        i += 1;
    }
    Err(format!("missing closing ')' in sample expression '{word}'"))
}

fn push_arg(args: &mut Vec<String>, cur: Vec<u8>, last: bool) {
    // `f()` has no argument; `f(a,)` has an empty second one.
    if last && cur.is_empty() && args.is_empty() {
        return;
    }
    args.push(String::from_utf8(cur).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(w: &str) -> Vec<(String, Vec<String>)> {
        split_expr(w)
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.args))
            .collect()
    }

    #[test]
    fn splits_calls_and_args() {
        assert_eq!(
            names("req.hdr(host,1),lower"),
            vec![
                ("req.hdr".into(), vec!["host".into(), "1".into()]),
                ("lower".into(), vec![])
            ]
        );
        assert_eq!(names("path"), vec![("path".into(), vec![])]);
        assert_eq!(names("nbsrv()"), vec![("nbsrv".into(), vec![])]);
        assert_eq!(
            names("path,regsub(^/(a|b)/,/x\\,y/\\1,g)")[1].1,
            vec!["^/(a|b)/".to_string(), "/x,y/\\1".into(), "g".into()]
        );
        assert!(split_expr("hdr(host").is_err());
        assert!(split_expr("hdr(host)x").is_err());
        assert!(split_expr("path,,lower").is_err());
    }
}
