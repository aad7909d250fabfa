//! Loader tests, beside the code they check: helpers here, then one file per
//! area (the seed, whole-file behaviour, and the keyword families).

mod kw_backend;
mod kw_bind;
mod kw_capture;
mod kw_global;
mod kw_persist;
mod kw_proxy;
mod kw_proxy_settings;
mod kw_stick;
mod kw_tcp_check;
mod loader;
mod resolvers;
mod seed;
mod syntax;
mod userlist;

use std::net::SocketAddr;

use super::model::*;
use super::{ConfigError, load_with_env};

/// A fixed environment, so tests never touch the process's.
fn env(name: &str) -> Option<String> {
    match name {
        "LB_ADDR" => Some("127.0.0.1".into()),
        "LB_PORT" => Some("9090".into()),
        _ => None,
    }
}

/// Loads one source named `t.cfg`.
fn load(text: &str) -> Result<Loaded, ConfigError> {
    load_with_env(&[("t.cfg", text)], &env)
}

/// The errors of a configuration that must fail.
fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.errors,
    }
}

/// The warnings of a configuration that must load, as `file:line: message`.
fn warnings(text: &str) -> Vec<String> {
    match load(text) {
        Ok(l) => l
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.origin, w.message))
            .collect(),
        Err(e) => panic!("unexpected errors: {:#?}\nfor:\n{text}", e.errors),
    }
}

/// Asserts that some message contains `needle`.
fn assert_has(msgs: &[String], needle: &str) {
    assert!(
        msgs.iter().any(|m| m.contains(needle)),
        "no message contains {needle:?} in {msgs:#?}"
    );
}

/// A valid HTTP `listen` whose own lines start at line 8 of `t.cfg`.
fn listen(body: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
         listen l\n    bind :8080\n{body}\n    server s 127.0.0.1:80\n"
    )
}

fn sa(s: &str) -> Address {
    Address::Inet(s.parse::<SocketAddr>().expect("test address"))
}
/// A config whose line 2 is `body` in `global`, followed by a valid listen.
fn global(body: &str) -> String {
    format!("global\n{body}\n{}", listen(""))
}

/// The model of a config that must load.
fn config(text: &str) -> Config {
    match load(text) {
        Ok(l) => l.config,
        Err(e) => panic!("unexpected errors {:#?} for:\n{text}", e.errors),
    }
}

/// The backend of `listen(body)`.
fn be(body: &str) -> Backend {
    config(&listen(body)).backends.remove(0)
}

/// The frontend of `listen(body)`.
fn fe(body: &str) -> Frontend {
    config(&listen(body)).frontends.remove(0)
}

/// The only error of `listen(body)`, which must be on line 8.
fn err(body: &str) -> String {
    let e = errors(&listen(body));
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].strip_prefix("t.cfg:8: ").unwrap_or(&e[0]).to_string()
}

/// The only error of `global(body)`, which must be on line 2.
fn gerr(body: &str) -> String {
    let e = errors(&global(body));
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].strip_prefix("t.cfg:2: ").unwrap_or(&e[0]).to_string()
}

/// Warnings of `listen(body)`, without the `t.cfg:8: ` prefix.
fn warns(body: &str) -> Vec<String> {
    warnings(&listen(body))
        .into_iter()
        .map(|w| w.replace("t.cfg:8: ", ""))
        .collect()
}
