//! Error-page keywords: `errorfile`, `errorloc`/`errorloc302`/`errorloc303`,
//! `errorfiles`, `http-error`, the `errorfile` lines of `http-errors` sections,
//! and building a proxy's page table from them once every section is read.
//!
//! Files are read when the line is parsed (as HAProxy: a file changed later
//! needs a reload) and compiled into [`ErrorPage`]s; `errorfiles` names are
//! resolved in validation, since a section may come after its users.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::parse::{Args, Ctx, Diag};
use crate::config::raw::{RawErrorRule, RawHttpErrors, RawProxy};
use crate::http::errors::{CODES, ErrorPage, ErrorPages, builtin, code_index};

/// A status `errorfile` and the others accept (HAProxy's `http_err_codes`).
fn status_code(label: &str, word: &str) -> Result<u16, String> {
    word.parse::<u16>()
        .ok()
        .filter(|c| code_index(*c).is_some())
        .ok_or_else(|| {
            let codes: Vec<String> = CODES.iter().map(u16::to_string).collect();
            format!(
                "'{label}': status code '{word}' not handled (error pages exist for {})",
                codes.join(", ")
            )
        })
}

/// Reads a file named in the configuration (relative to the working directory, as HAProxy).
fn read_file(label: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("'{label}': error opening file '{path}': {e}"))
}

/// Reads and compiles an error file (a whole response), with HAProxy's warning for a large one.
fn load_error_file(
    cx: &mut Ctx<'_>,
    label: &str,
    path: &str,
    code: u16,
) -> Result<ErrorPage, String> {
    let bytes = read_file(label, path)?;
    let (page, warning) =
        ErrorPage::from_file(&bytes, code).map_err(|e| format!("'{label}': '{path}': {e}"))?;
    if let Some(w) = warning {
        cx.warn(format!("'{label}': custom error message file '{path}' {w}"));
    }
    Ok(page)
}

/// `errorfile <code> <file>` in a proxy.
pub fn errorfile(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let code = args.next_string("<status_code> and <file> as arguments")?;
    let file = args.next_string("<status_code> and <file> as arguments")?;
    args.finish()?;
    let code = status_code("errorfile", &code)?;
    let page = load_error_file(cx, "errorfile", &file, code)?;
    p.errors
        .push(RawErrorRule::Page(code, Some(Arc::new(page))));
    Ok(())
}

/// `errorloc <code> <url>` and `errorloc302` (a 302), `errorloc303` (a 303).
pub fn errorloc(p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let kw = args.keyword().to_string();
    let code = args.next_string("<status_code> and <url> as arguments")?;
    let url = args.next_string("<status_code> and <url> as arguments")?;
    args.finish()?;
    let code = status_code(&kw, &code)?;
    let redirect = if kw == "errorloc303" { 303 } else { 302 };
    let page = ErrorPage::redirect(redirect, &url);
    p.errors
        .push(RawErrorRule::Page(code, Some(Arc::new(page))));
    Ok(())
}

/// `errorfiles <name> [<code> ...]`: the pages of an `http-errors` section.
pub fn errorfiles(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    let name = args.next_string("<name> as argument")?;
    let codes = args
        .rest()
        .iter()
        .map(|c| status_code("errorfiles", c))
        .collect::<Result<Vec<u16>, String>>()?;
    p.errors.push(RawErrorRule::Section {
        name,
        codes,
        reply: false,
        origin: cx.origin.clone(),
    });
    Ok(())
}

/// The body of an `http-error` reply, as written.
enum Payload {
    /// No body option.
    None,
    /// `default-errorfiles`.
    Default,
    /// `errorfile <file>`.
    ErrorFile(String),
    /// `errorfiles <name>`.
    ErrorFiles(String),
    /// `file`/`string` (and literal `lf-file`/`lf-string`): the body bytes.
    Body(Vec<u8>),
}

/// A log-format string ringlb can send as is: one without `%` expansions.
fn literal(label: &str, what: &str, v: Vec<u8>) -> Result<Vec<u8>, String> {
    if v.contains(&b'%') {
        return Err(format!(
            "'{label}': {what} uses log-format expressions ('%'), which ringlb does not \
             evaluate yet; use a plain value"
        ));
    }
    Ok(v)
}

/// `http-error status <code> [content-type <type>] [default-errorfiles |
/// errorfile <file> | errorfiles <name> | file <file> | lf-file <file> |
/// string <str> | lf-string <fmt>] [hdr <name> <fmt>]*`.
pub fn http_error(cx: &mut Ctx<'_>, p: &mut RawProxy, args: &mut Args) -> Result<(), String> {
    const L: &str = "http-error";
    if args.next_opt().as_deref() != Some("status") {
        return Err(format!("'{L}' expects 'status <code>' first"));
    }
    let code = args.next_string("a status code after 'status'")?;
    let code = status_code(L, &code)?;
    let mut ctype = None;
    let mut payload = Payload::None;
    let mut hdrs = Vec::new();
    while let Some(w) = args.next_opt() {
        let mut value = |what: &str| args.next_string(&format!("a value after '{what}'"));
        let next = match w.as_str() {
            "content-type" => {
                ctype = Some(value("content-type")?);
                continue;
            }
            "hdr" => {
                let name = value("hdr")?;
                let v = value("hdr <name>")?;
                let v = literal(L, &format!("'hdr {name}'"), v.into_bytes())?;
                hdrs.push((name, String::from_utf8_lossy(&v).into_owned()));
                continue;
            }
            "default-errorfiles" => Payload::Default,
            "errorfile" => Payload::ErrorFile(value("errorfile")?),
            "errorfiles" => Payload::ErrorFiles(value("errorfiles")?),
            "file" => Payload::Body(read_file(L, &value("file")?)?),
            "string" => Payload::Body(value("string")?.into_bytes()),
            "lf-file" => Payload::Body(literal(L, "'lf-file'", read_file(L, &value("lf-file")?)?)?),
            "lf-string" => {
                Payload::Body(literal(L, "'lf-string'", value("lf-string")?.into_bytes())?)
            }
            _ => return Err(format!("'{L}': unknown argument '{w}'")),
        };
        if !matches!(payload, Payload::None) {
            return Err(format!(
                "'{L}': only one payload may be given, '{w}' is a second"
            ));
        }
        payload = next;
    }
    let has_file = matches!(payload, Payload::ErrorFile(_) | Payload::ErrorFiles(_));
    if has_file && !hdrs.is_empty() {
        return Err(format!(
            "'{L}': 'hdr' cannot be combined with an error file (the file is the whole response)"
        ));
    }
    if let Some(ct) = &ctype {
        if has_file || matches!(payload, Payload::Default) {
            cx.warn(format!(
                "'{L}': content-type '{ct}' ignored by the http reply when used with an errorfile."
            ));
        } else if matches!(payload, Payload::None) {
            cx.warn(format!(
                "'{L}': content-type '{ct}' ignored by the http reply because neither errorfile \
                 nor payload defined."
            ));
        }
    }
    let page = match payload {
        Payload::Default => None,
        Payload::ErrorFile(f) => Some(load_error_file(cx, L, &f, code)?),
        Payload::ErrorFiles(name) => {
            p.errors.push(RawErrorRule::Section {
                name,
                codes: vec![code],
                reply: true,
                origin: cx.origin.clone(),
            });
            return Ok(());
        }
        Payload::None => Some(ErrorPage::reply(code, None, b"", &hdrs)),
        Payload::Body(body) => {
            if ctype.is_none() && !body.is_empty() {
                return Err(format!(
                    "'{L}': a content type must be defined when non-empty payload is configured"
                ));
            }
            let page = ErrorPage::reply(code, ctype.as_deref(), &body, &hdrs);
            if page.closing().len() > crate::bufpool::BUF_SIZE {
                return Err(format!(
                    "'{L}': the reply does not fit in a buffer ({} bytes)",
                    crate::bufpool::BUF_SIZE
                ));
            }
            Some(page)
        }
    };
    p.errors.push(RawErrorRule::Page(code, page.map(Arc::new)));
    Ok(())
}

/// A line of an `http-errors` section: only `errorfile <code> <file>`.
pub fn section_line(
    cx: &mut Ctx<'_>,
    pages: &mut ErrorPages,
    args: &mut Args,
) -> Result<(), String> {
    if args.keyword() != "errorfile" {
        return Err(format!(
            "unknown keyword '{}' in 'http-errors' section (only 'errorfile' is allowed)",
            args.keyword()
        ));
    }
    let code = args.next_string("<status_code> and <file> as arguments")?;
    let file = args.next_string("<status_code> and <file> as arguments")?;
    args.finish()?;
    let code = status_code("errorfile", &code)?;
    let page = load_error_file(cx, "errorfile", &file, code)?;
    pages.set(code, Some(Arc::new(page)));
    Ok(())
}

/// A proxy's page table from its lines in order, `errorfiles` names resolved
/// against the `http-errors` sections (unknown ones are errors, as HAProxy).
pub fn resolve(
    p: &RawProxy,
    sections: &HashMap<String, RawHttpErrors>,
    diag: &mut Diag,
) -> ErrorPages {
    let mut table = ErrorPages::default();
    for rule in &p.errors {
        match rule {
            RawErrorRule::Page(code, page) => table.set(*code, page.clone()),
            RawErrorRule::Section {
                name,
                codes,
                reply,
                origin,
            } => {
                let Some(section) = sections.get(name) else {
                    diag.error_at(
                        origin,
                        format!("proxy '{}': unknown http-errors section '{name}'", p.name),
                    );
                    continue;
                };
                let all = codes.is_empty();
                for &code in if all { &CODES[..] } else { &codes[..] } {
                    match section.pages.shared(code) {
                        Some(page) => table.set(code, Some(page)),
                        None if *reply => {
                            table.set(code, Some(Arc::new(builtin(code).clone())));
                        }
                        None if !all => diag.warn_at(
                            origin,
                            format!(
                                "proxy '{}': status '{code}' not declared in http-errors section '{name}'",
                                p.name
                            ),
                        ),
                        None => {}
                    }
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Origin;
    use crate::config::raw::SectionKind;

    fn proxy() -> RawProxy {
        let mut p = RawProxy::new_defaults(String::new(), Origin::default());
        p.kind = SectionKind::Frontend;
        p.name = "f".into();
        p
    }

    fn run(p: &mut RawProxy, line: &[&str]) -> (Result<(), String>, Diag) {
        let mut diag = Diag::default();
        let mut cx = Ctx {
            origin: Origin {
                file: "t.cfg".into(),
                line: 3,
            },
            diag: &mut diag,
        };
        let mut args = Args::new(line.iter().map(|s| s.to_string()).collect());
        let r = match line[0] {
            "errorfile" => errorfile(&mut cx, p, &mut args),
            "errorfiles" => errorfiles(&mut cx, p, &mut args),
            "http-error" => http_error(&mut cx, p, &mut args),
            _ => errorloc(p, &mut args),
        };
        (r, diag)
    }

    fn page(p: &RawProxy, code: u16) -> Option<Vec<u8>> {
        let t = resolve(p, &HashMap::new(), &mut Diag::default());
        t.get(code).map(|pg| pg.closing().to_vec())
    }

    #[test]
    fn codes_are_haproxys() {
        let mut p = proxy();
        for bad in ["414", "abc", "999", "0"] {
            let (r, _) = run(&mut p, &["errorloc", bad, "/x"]);
            assert!(
                r.unwrap_err()
                    .contains(&format!("status code '{bad}' not handled"))
            );
        }
        let (r, _) = run(&mut p, &["errorloc"]);
        assert_eq!(
            r.unwrap_err(),
            "'errorloc' expects <status_code> and <url> as arguments"
        );
        for ok in CODES {
            assert_eq!(
                run(&mut p, &["errorloc303", &ok.to_string(), "/x"]).0,
                Ok(())
            );
        }
    }

    #[test]
    fn errorfile_reads_and_checks_the_file() {
        let dir = std::env::temp_dir().join(format!("ringlb-errkw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("503.http");
        std::fs::write(&good, "HTTP/1.1 503 Down\r\nContent-Length: 3\r\n\r\nno\n").unwrap();
        let bad = dir.join("bad.http");
        std::fs::write(&bad, "not http\r\n\r\n").unwrap();
        let mut p = proxy();
        let g = good.to_str().unwrap();
        assert_eq!(run(&mut p, &["errorfile", "503", g]).0, Ok(()));
        assert!(page(&p, 503).unwrap().starts_with(b"HTTP/1.1 503 Down\r\n"));
        let e = run(&mut p, &["errorfile", "503", bad.to_str().unwrap()])
            .0
            .unwrap_err();
        assert!(e.contains("unable to parse headers"), "{e}");
        let e = run(&mut p, &["errorfile", "503", "/nonexistent/x.http"])
            .0
            .unwrap_err();
        assert!(
            e.starts_with("'errorfile': error opening file '/nonexistent/x.http'"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn later_lines_win_and_default_errorfiles_clears() {
        let mut p = proxy();
        run(&mut p, &["errorloc", "503", "/a"]).0.unwrap();
        run(&mut p, &["errorloc303", "503", "/b"]).0.unwrap();
        let got = page(&p, 503).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 303 See Other\r\n"));
        run(
            &mut p,
            &["http-error", "status", "503", "default-errorfiles"],
        )
        .0
        .unwrap();
        assert!(page(&p, 503).is_none());
    }

    #[test]
    fn http_error_forms() {
        let mut p = proxy();
        let (r, _) = run(&mut p, &["http-error", "status", "503", "string", "x"]);
        assert_eq!(
            r.unwrap_err(),
            "'http-error': a content type must be defined when non-empty payload is configured"
        );
        let (r, _) = run(
            &mut p,
            &[
                "http-error",
                "status",
                "414",
                "content-type",
                "a/b",
                "string",
                "x",
            ],
        );
        assert!(r.unwrap_err().contains("status code '414' not handled"));
        let (r, _) = run(
            &mut p,
            &[
                "http-error",
                "status",
                "503",
                "lf-string",
                "%[path]",
                "content-type",
                "a/b",
            ],
        );
        assert!(r.unwrap_err().contains("log-format"));
        let (r, d) = run(
            &mut p,
            &["http-error", "status", "504", "content-type", "text/plain"],
        );
        assert_eq!(r, Ok(()));
        assert!(d.warnings[0].message.contains("ignored"));
        let line = [
            "http-error",
            "status",
            "401",
            "content-type",
            "text/plain",
            "lf-string",
            "hi",
            "hdr",
            "X-A",
            "b c",
        ];
        assert_eq!(run(&mut p, &line).0, Ok(()));
        assert_eq!(
            page(&p, 401).unwrap(),
            b"HTTP/1.1 401 Unauthorized\r\nx-a: b c\r\ncontent-length: 2\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nhi"
        );
        assert!(
            run(
                &mut p,
                &["http-error", "status", "401", "string", "a", "string", "b"]
            )
            .0
            .is_err()
        );
        assert!(run(&mut p, &["http-error", "code", "401"]).0.is_err());
    }

    #[test]
    fn sections_resolve_with_haproxys_messages() {
        let mut p = proxy();
        run(&mut p, &["errorfiles", "site"]).0.unwrap();
        run(&mut p, &["errorfiles", "site", "503"]).0.unwrap();
        run(&mut p, &["errorfiles", "nosuch"]).0.unwrap();
        run(
            &mut p,
            &["http-error", "status", "502", "errorfiles", "site"],
        )
        .0
        .unwrap();
        let mut pages = ErrorPages::default();
        pages.set(403, Some(Arc::new(ErrorPage::redirect(302, "/f"))));
        let mut sections = HashMap::new();
        sections.insert(
            "site".to_string(),
            RawHttpErrors {
                pages,
                origin: Origin::default(),
            },
        );
        let mut diag = Diag::default();
        let t = resolve(&p, &sections, &mut diag);
        assert_eq!(t.get(403).unwrap().status, 302);
        assert!(t.get(503).is_none());
        assert_eq!(t.get(502).unwrap(), builtin(502));
        assert_eq!(
            diag.errors,
            vec![(
                Origin {
                    file: "t.cfg".into(),
                    line: 3
                },
                "proxy 'f': unknown http-errors section 'nosuch'".to_string()
            )]
        );
        assert_eq!(
            diag.warnings[0].message,
            "proxy 'f': status '503' not declared in http-errors section 'site'"
        );
    }
}
