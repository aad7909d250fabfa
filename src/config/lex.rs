//! Lexer: one configuration line → its words, exactly as HAProxy splits them.
//!
//! Owns quoting (`"..."` expands `${VAR}`/`$VAR`, `'...'` is literal), backslash
//! escapes outside single quotes, `#` comments and environment expansion. Quotes
//! may be glued to other text (`"${ADDR}":80` is one word). The parser never sees
//! quotes or escapes.
//!
//! As HAProxy 2.6 (configuration.txt §2.3), variables expand only inside double
//! quotes; `${VAR-default}` gives `default` (taken literally up to `}`) only when
//! `VAR` is unset, not when it is empty; `${VAR[*]}` splits the value on blanks
//! into separate words (text glued before/after joins the first/last word).

/// Looks up an environment variable; `None` when unset (expands to nothing, as HAProxy).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, used when loading for real.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Quoting state while scanning a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Splits one line into words. An empty result means a blank or comment-only line.
///
/// Errors are worded for the operator (the caller prefixes file:line).
pub fn split_line(line: &str, env: EnvLookup<'_>) -> Result<Vec<String>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words: Vec<String> = Vec::new();
    // Bytes, not chars: `\xNN` escapes may build multi-byte UTF-8 sequences.
    let mut cur: Vec<u8> = Vec::new();
    // A word exists once any of its characters (or an empty quote pair) was seen.
    let mut in_word = false;
    let mut quote = Quote::None;
    let mut quote_start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Quote::Single => {
                if c == '\'' {
                    quote = Quote::None;
                } else {
                    push_char(&mut cur, c);
                }
                i += 1;
                continue;
            }
            Quote::Double if c == '"' => {
                quote = Quote::None;
                i += 1;
                continue;
            }
            Quote::None if c == '#' => break,
            Quote::None if c == ' ' || c == '\t' || c == '\r' || c == '\n' => {
                if in_word {
                    words.push(finish_word(&mut cur, words.len())?);
                    in_word = false;
                }
                i += 1;
                continue;
            }
            Quote::None if c == '"' || c == '\'' => {
                quote = if c == '"' {
                    Quote::Double
                } else {
                    Quote::Single
                };
                quote_start = i + 1;
                in_word = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        // Unquoted or inside double quotes: escapes and (in double quotes) variables.
        in_word = true;
        if c == '\\' {
            i = escape(&chars, i, &mut cur)?;
        } else if c == '$' && quote == Quote::Double {
            i = expand(&chars, i, &mut cur, &mut words, env)?;
        } else {
            push_char(&mut cur, c);
            i += 1;
        }
    }
    if quote != Quote::None {
        let which = if quote == Quote::Double {
            "double"
        } else {
            "single"
        };
        return Err(format!(
            "unmatched {which} quote at position {quote_start} (quotes must be closed on the same line)"
        ));
    }
    if in_word {
        words.push(finish_word(&mut cur, words.len())?);
    }
    Ok(words)
}

/// Appends one character as UTF-8.
fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Turns the bytes of a word into a string; `\xNN` may have produced invalid UTF-8.
fn finish_word(cur: &mut Vec<u8>, index: usize) -> Result<String, String> {
    let bytes = std::mem::take(cur);
    String::from_utf8(bytes)
        .map_err(|_| format!("word {} is not valid UTF-8 after '\\x' escapes", index + 1))
}

/// Decodes the escape starting at `chars[i]` (a backslash); returns the next index.
fn escape(chars: &[char], i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
    let Some(&next) = chars.get(i + 1) else {
        // A trailing backslash has nothing to escape: keep it.
        out.push(b'\\');
        return Ok(i + 1);
    };
    let simple = match next {
        ' ' => Some(b' '),
        '#' => Some(b'#'),
        '\\' => Some(b'\\'),
        '\'' => Some(b'\''),
        '"' => Some(b'"'),
        '$' => Some(b'$'),
        'r' => Some(b'\r'),
        'n' => Some(b'\n'),
        't' => Some(b'\t'),
        _ => None,
    };
    if let Some(b) = simple {
        out.push(b);
        return Ok(i + 2);
    }
    if next == 'x' {
        let hex: String = chars.iter().skip(i + 2).take(2).collect();
        if hex.len() == 2
            && let Ok(b) = u8::from_str_radix(&hex, 16)
        {
            out.push(b);
            return Ok(i + 4);
        }
        return Err(format!(
            "'\\x' must be followed by two hexadecimal digits at position {i}"
        ));
    }
    // Unknown escapes are kept as written, as HAProxy does.
    out.push(b'\\');
    push_char(out, next);
    Ok(i + 2)
}

/// Expands `$VAR`, `${VAR}`, `${VAR-default}` or `${VAR[*]}` starting at
/// `chars[i]` (a dollar); returns the next index. `[*]` ends words in `words`.
fn expand(
    chars: &[char],
    i: usize,
    out: &mut Vec<u8>,
    words: &mut Vec<String>,
    env: EnvLookup<'_>,
) -> Result<usize, String> {
    let braced = chars.get(i + 1) == Some(&'{');
    let start = if braced { i + 2 } else { i + 1 };
    // `.FILE`, `.LINE`, `.SECTION`: HAProxy's special variables, braced only.
    let is_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (braced && c == '.');
    let is_rest = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(start) {
        Some(&c) if is_first(c) => {}
        _ => {
            return Err(format!(
                "forbidden first char in environment variable name at position {start} \
                 (write '\\$' for a literal dollar)"
            ));
        }
    }
    let mut end = start + 1;
    while end < chars.len() && is_rest(chars[end]) {
        end += 1;
    }
    let name: String = chars[start..end].iter().collect();
    let value = env(&name);
    if !braced {
        if let Some(value) = value {
            out.extend_from_slice(value.as_bytes());
        }
        return Ok(end);
    }
    let unmatched = || format!("unmatched brace in environment variable name at position {start}");
    let rest: String = chars[end..].iter().take(3).collect();
    if rest.starts_with("[*]") {
        if chars.get(end + 3) != Some(&'}') {
            return Err(unmatched());
        }
        // Each run of blanks ends a word; blanks at either end end the glued
        // text before / start the text after, as HAProxy does.
        let value = value.unwrap_or_default();
        let parts: Vec<&str> = value.split([' ', '\t']).collect();
        let last = parts.len() - 1;
        let kept = parts
            .iter()
            .enumerate()
            .filter(|(n, p)| !p.is_empty() || *n == 0 || *n == last);
        for (n, part) in kept {
            if n > 0 {
                words.push(finish_word(out, words.len())?);
            }
            out.extend_from_slice(part.as_bytes());
        }
        return Ok(end + 4);
    }
    if chars.get(end) == Some(&'-') {
        let close = chars[end..]
            .iter()
            .position(|&c| c == '}')
            .map(|p| end + p)
            .ok_or_else(unmatched)?;
        match value {
            Some(v) => out.extend_from_slice(v.as_bytes()),
            None => {
                let default: String = chars[end + 1..close].iter().collect();
                out.extend_from_slice(default.as_bytes());
            }
        }
        return Ok(close + 1);
    }
    if chars.get(end) != Some(&'}') {
        return Err(unmatched());
    }
    if let Some(value) = value {
        out.extend_from_slice(value.as_bytes());
    }
    Ok(end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "ADDR" => Some("10.0.0.1".into()),
            "WITH_SPACE" => Some("a b".into()),
            "WORDS" => Some("a  b\tc".into()),
            "EDGES" => Some(" a ".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn split(line: &str) -> Vec<String> {
        split_line(line, &env).expect("line should lex")
    }

    #[test]
    fn plain_words_spaces_and_tabs() {
        assert_eq!(split("  server\ta   b:80 "), ["server", "a", "b:80"]);
    }

    #[test]
    fn blank_and_comment_lines_are_empty() {
        assert!(split("").is_empty());
        assert!(split("   \t ").is_empty());
        assert!(split("# a comment").is_empty());
        assert_eq!(split("maxconn 10 # trailing"), ["maxconn", "10"]);
        assert_eq!(split("maxconn 10#glued"), ["maxconn", "10"]);
    }

    #[test]
    fn crlf_line_ending_is_a_separator() {
        assert_eq!(split("daemon\r"), ["daemon"]);
    }

    #[test]
    fn double_quotes_keep_spaces_and_hash() {
        assert_eq!(
            split(r#"stats realm "My # realm""#),
            ["stats", "realm", "My # realm"]
        );
    }

    #[test]
    fn double_quotes_expand_env() {
        assert_eq!(split(r#"bind "${ADDR}":80"#), ["bind", "10.0.0.1:80"]);
        assert_eq!(split(r#"node "$ADDR-x""#), ["node", "10.0.0.1-x"]);
        assert_eq!(split(r#"node "$WITH_SPACE""#), ["node", "a b"]);
    }

    #[test]
    fn default_applies_only_when_unset() {
        assert_eq!(
            split(r#"x "${NOPE-d 1}" "${EMPTY-d}" "${ADDR-d}" "${NOPE-$ADDR}""#),
            ["x", "d 1", "", "10.0.0.1", "$ADDR"]
        );
        assert_eq!(split(r#"x "${NOPE-}""#), ["x", ""]);
        let e = split_line(r#"x "${NOPE:-x}""#, &env).unwrap_err();
        assert!(e.contains("unmatched brace"), "{e}");
    }

    #[test]
    fn star_splits_words() {
        assert_eq!(split(r#"x "${WORDS[*]}""#), ["x", "a", "b", "c"]);
        assert_eq!(split(r#"x "q${WORDS[*]}q""#), ["x", "qa", "b", "cq"]);
        assert_eq!(split(r#"x "${EMPTY[*]}""#), ["x", ""]);
        assert_eq!(split(r#"x "${ADDR[*]}""#), ["x", "10.0.0.1"]);
        assert_eq!(split("x ${WORDS[*]}"), ["x", "${WORDS[*]}"]);
        assert_eq!(split(r#"x "<${EDGES[*]}>""#), ["x", "<", "a", ">"]);
    }

    #[test]
    fn special_variables_are_braced() {
        let env = |n: &str| (n == ".LINE").then(|| "7".to_string());
        assert_eq!(split_line(r#"x "${.LINE}""#, &env).unwrap(), ["x", "7"]);
        assert!(split_line(r#"x "$.LINE""#, &env).is_err());
    }

    #[test]
    fn unset_env_expands_to_empty() {
        assert_eq!(
            split(r#"pidfile "/run/${NOPE}x.pid""#),
            ["pidfile", "/run/x.pid"]
        );
        assert_eq!(split(r#"node "$NOPE""#), ["node", ""]);
    }

    #[test]
    fn env_not_expanded_outside_double_quotes() {
        assert_eq!(split("node $ADDR '${ADDR}'"), ["node", "$ADDR", "${ADDR}"]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(split(r"x 'a \n b # c'"), ["x", r"a \n b # c"]);
    }

    #[test]
    fn quotes_glue_to_text() {
        assert_eq!(split(r#"x a"b c"'d e'f"#), ["x", "ab cd ef"]);
        assert_eq!(split(r#"x """#), ["x", ""]);
    }

    #[test]
    fn escapes() {
        assert_eq!(split(r"a\ b c\#d"), ["a b", "c#d"]);
        assert_eq!(split(r#"\\ \' \" \$"#), ["\\", "'", "\"", "$"]);
        assert_eq!(split(r"x \r\n\t"), ["x", "\r\n\t"]);
        assert_eq!(split(r"x \x41\x2f"), ["x", "A/"]);
        assert_eq!(split(r"x \xc3\xa9"), ["x", "é"]);
        assert_eq!(split(r#"x "a\"b\ c""#), ["x", "a\"b c"]);
    }

    #[test]
    fn unknown_escape_and_trailing_backslash_are_kept() {
        assert_eq!(split(r"x \q y\"), ["x", r"\q", r"y\"]);
    }

    #[test]
    fn httpchk_1_4_header_trick() {
        let w = split(r"option httpchk GET /c HTTP/1.1\r\nHost:\ www");
        assert_eq!(w[4], "HTTP/1.1\r\nHost: www");
    }

    #[test]
    fn errors() {
        let e = split_line(r#"node "abc"#, &env).unwrap_err();
        assert!(e.contains("unmatched double quote"), "{e}");
        let e = split_line("node 'abc", &env).unwrap_err();
        assert!(e.contains("unmatched single quote"), "{e}");
        let e = split_line(r#"node "${ABC""#, &env).unwrap_err();
        assert!(e.contains("unmatched brace"), "{e}");
        let e = split_line(r#"node "$ x""#, &env).unwrap_err();
        assert!(e.contains("forbidden first char"), "{e}");
        let e = split_line(r"x \xZZ", &env).unwrap_err();
        assert!(e.contains("hexadecimal"), "{e}");
        let e = split_line(r"x \xff", &env).unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }
}
