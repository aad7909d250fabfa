//! Configuration: haproxy.cfg text → validated [`model::Config`].
//!
//! # Pipeline
//! 1. `lex.rs`: one line → words. Quotes, backslash escapes, `#` comments and
//!    `${VAR}` expansion work exactly as in HAProxy. `blocks.rs` then takes
//!    the `.if`/`.elif`/`.else`/`.endif` blocks (conditions in `cond.rs`) and
//!    the `.notice`/`.warning`/`.alert` messages, and drops inactive lines.
//! 2. `parse.rs`: words → sections (`global`, `defaults`, `listen`, `frontend`,
//!    `backend`, `userlist`) with file:line. Each keyword line goes, with an [`parse::Args`]
//!    cursor over its arguments, through the one `match` in `kw/mod.rs` to the
//!    file of its family (`kw/server.rs`, `kw/option.rs`, ...), which writes the
//!    raw per-section structs of `raw.rs`. A proxy starts as a copy of the
//!    `defaults` before it.
//! 3. `validate.rs`: raw structs → [`model`] types, with the checks that need
//!    the whole file (names, `default_backend`, modes, timeouts).
//!
//! Every error and warning is collected with its origin and reported together,
//! sorted in file order, like `haproxy -c`. Features that are recognised but not
//! built yet are refused with file:line where they are parsed. `address.rs` and
//! `duration.rs` parse HAProxy's address and time forms for every keyword.

pub mod address;
pub mod blocks;
pub mod checks_validate;
pub mod cond;
pub mod dns_validate;
pub mod duration;
pub mod kw;
pub mod lex;
pub mod model;
pub mod parse;
pub mod persist_validate;
pub mod proxy_ids;
pub mod raw;
pub mod stick_validate;
pub mod tcp_validate;
pub mod tls_validate;
pub mod track;
pub mod validate;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use lex::EnvLookup;

/// A configuration that could not be loaded: every error found, each naming file:line.
#[derive(Debug, Default, thiserror::Error)]
#[error("{}", .errors.join("\n"))]
pub struct ConfigError {
    /// One line per error, `file:line: message`.
    pub errors: Vec<String>,
    /// The warnings found beside the errors, `file:line: message`: HAProxy
    /// prints both, and a warning often explains the error after it.
    pub warnings: Vec<String>,
    /// The `.diag` messages found before the errors, `file:line: message`
    /// (printed with `-dD`, as HAProxy prints them while parsing).
    pub diags: Vec<String>,
}

/// `-f` arguments → the files to read: a directory stands for its files
/// ending in `.cfg`, hidden ones and subdirectories left out, in byte order
/// of their names (as HAProxy 2.6's `-f <dir>`).
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!(
                    "{}: cannot open configuration directory: {e}",
                    path.display()
                ));
                continue;
            }
        };
        let mut names: Vec<std::ffi::OsString> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| {
                let b = n.as_encoded_bytes();
                b.ends_with(b".cfg") && b.len() > 4 && !b.starts_with(b".")
            })
            .filter(|n| path.join(n).is_file())
            .collect();
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        files.extend(names.into_iter().map(|n| path.join(n)));
    }
    if !errors.is_empty() {
        return Err(ConfigError {
            errors,
            ..ConfigError::default()
        });
    }
    if files.is_empty() {
        return Err(ConfigError {
            errors: vec!["no configuration file (the directories given hold no '*.cfg')".into()],
            ..ConfigError::default()
        });
    }
    Ok(files)
}

/// Loads and validates the files in order (as repeated `-f`), like one
/// concatenated file; a directory is read as [`expand_paths`] says.
pub fn load_files(paths: &[PathBuf]) -> Result<model::Loaded, ConfigError> {
    let paths = expand_paths(paths)?;
    let mut texts = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    for path in &paths {
        match std::fs::read(path) {
            // Comments in other encodings must not stop a load: decode leniently.
            Ok(bytes) => texts.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            Err(e) => errors.push(format!(
                "{}: cannot open configuration file: {e}",
                path.display()
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigError {
            errors,
            ..ConfigError::default()
        });
    }
    let sources: Vec<(&str, &str)> = texts
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    load_sources(&sources)
}

/// Loads and validates `(file name, text)` pairs in order, with the process environment.
pub fn load_sources(sources: &[(&str, &str)]) -> Result<model::Loaded, ConfigError> {
    load_with_env(sources, &lex::process_env)
}

/// [`load_sources`] with an explicit environment (tests use a fixed one).
pub fn load_with_env(
    sources: &[(&str, &str)],
    env: EnvLookup<'_>,
) -> Result<model::Loaded, ConfigError> {
    kw::suggest::begin_load();
    let mut diag = parse::Diag::default();
    let parsed = parse::parse_sources(sources, env, &mut diag);
    let config = validate::validate(parsed, &mut diag);
    // Diagnostics were found stage by stage; report them in file order.
    let rank = |o: &model::Origin| {
        let file = sources
            .iter()
            .position(|(f, _)| *f == o.file)
            .unwrap_or(usize::MAX);
        (file, o.line)
    };
    diag.errors.sort_by_key(|(o, _)| rank(o));
    diag.warnings.sort_by_key(|w| rank(&w.origin));
    diag.notices.sort_by_key(|w| rank(&w.origin));
    diag.diags.sort_by_key(|w| rank(&w.origin));
    let line = |w: model::Warning| format!("{}: {}", w.origin, w.message);
    if !diag.errors.is_empty() {
        let errors = diag
            .errors
            .into_iter()
            .map(|(o, m)| format!("{o}: {m}"))
            .collect();
        let warnings = diag.warnings.into_iter().map(line).collect();
        let diags = diag.diags.into_iter().map(line).collect();
        return Err(ConfigError {
            errors,
            warnings,
            diags,
        });
    }
    Ok(model::Loaded {
        config,
        warnings: diag.warnings,
        notices: diag.notices,
        diags: diag.diags,
    })
}
