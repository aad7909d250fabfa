//! The `userlist` section (configuration.txt §3.4): `group` and `user`
//! lines, and compiling a section into an [`auth::Userlist`] once every line
//! is read (users and groups may name each other in any order).
//!
//! HAProxy warns about a duplicate user, group or userlist and ignores the
//! later one; ringlb refuses them, since which line wins decides who may
//! pass. A `password` hash the system's crypt(3) does not support is
//! refused where it is written (HAProxy accepts some such hashes, for users
//! who then can never log in).

use crate::auth::{self, Secret, User};
use crate::config::model::Origin;
use crate::config::parse::{Args, Ctx, Diag};
use crate::config::raw::{RawGroup, RawUser, RawUserlist};

/// Parses the `userlist <name>` line.
pub fn header(args: &mut Args, origin: &Origin) -> Result<RawUserlist, String> {
    let name = args
        .next_opt()
        .ok_or("'userlist' expects <name> as arguments")?;
    check_name("userlist", &name)?;
    args.finish()?;
    Ok(RawUserlist {
        name,
        origin: origin.clone(),
        groups: Vec::new(),
        users: Vec::new(),
    })
}

/// HAProxy's `invalid_char`: names are letters, digits, `-`, `_`, `.`, `:`.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        Some(bad) => Err(format!(
            "character '{bad}' is not permitted in '{what}' name '{name}'"
        )),
        None => Ok(()),
    }
}

/// One line inside a `userlist` section.
pub fn line(cx: &mut Ctx<'_>, ul: &mut RawUserlist, args: &mut Args) -> Result<(), String> {
    match args.keyword() {
        "group" => group(cx, ul, args),
        "user" => user(cx, ul, args),
        kw => Err(format!(
            "unknown keyword '{kw}' in 'userlist' section (expected 'group' or 'user')"
        )),
    }
}

/// A comma-separated list of names; empty items are skipped (HAProxy's `strtok`).
fn names(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value after an option, which may be given once (HAProxy keeps the
/// last silently; ringlb refuses, the two could disagree on who may pass).
/// An empty value is a mistake except for a password (`''` is one).
fn value(args: &mut Args, opt: &str, seen: bool, what: &str) -> Result<String, String> {
    let empty_ok = opt.ends_with("password");
    if seen && empty_ok {
        return Err(format!("'{}' has more than one password", args.label()));
    }
    if seen {
        return Err(format!("'{}' has '{opt}' twice", args.label()));
    }
    match args.next_opt() {
        Some(v) if !v.is_empty() || empty_ok => Ok(v),
        _ => Err(format!("'{}': '{opt}' expects {what}", args.label())),
    }
}

fn group(cx: &mut Ctx<'_>, ul: &mut RawUserlist, args: &mut Args) -> Result<(), String> {
    let name = args
        .next_opt()
        .ok_or("'group' expects <name> as arguments")?;
    check_name("group", &name)?;
    if let Some(first) = ul.groups.iter().find(|g| g.name == name) {
        return Err(format!(
            "duplicate group '{name}' in userlist '{}' (first at {})",
            ul.name, first.origin
        ));
    }
    let mut users = None;
    while let Some(opt) = args.next_opt() {
        match opt.as_str() {
            "users" => {
                users = Some(value(args, "users", users.is_some(), "a list of users")?);
            }
            _ => return Err("'group' only supports 'users' option".into()),
        }
    }
    ul.groups.push(RawGroup {
        name,
        users: users.as_deref().map(names).unwrap_or_default(),
        origin: cx.origin.clone(),
    });
    Ok(())
}

fn user(cx: &mut Ctx<'_>, ul: &mut RawUserlist, args: &mut Args) -> Result<(), String> {
    let name = args
        .next_opt()
        .ok_or("'user' expects <name> as arguments")?;
    if let Some(first) = ul.users.iter().find(|u| u.name == name) {
        return Err(format!(
            "duplicate user '{name}' in userlist '{}' (first at {})",
            ul.name, first.origin
        ));
    }
    args.set_label(format!("user {name}"));
    let mut secret = None;
    let mut groups = None;
    while let Some(opt) = args.next_opt() {
        match opt.as_str() {
            "password" => {
                let hash = value(args, "password", secret.is_some(), "a crypt(3) hash")?;
                secret = Some(Secret::crypt(&hash).map_err(|e| {
                    format!("the encrypted password used for user '{name}' is refused: {e}")
                })?);
            }
            "insecure-password" => {
                let pw = value(args, "insecure-password", secret.is_some(), "a password")?;
                secret = Some(Secret::Insecure(pw.into_bytes().into()));
            }
            "groups" => {
                groups = Some(value(args, "groups", groups.is_some(), "a list of groups")?);
            }
            _ => {
                return Err(
                    "'user' only supports 'password', 'insecure-password' and 'groups' options"
                        .into(),
                );
            }
        }
    }
    if secret.is_none() {
        cx.warn(format!(
            "user '{name}' in userlist '{}' has no password: it can never authenticate",
            ul.name
        ));
    }
    ul.users.push(RawUser {
        name,
        secret: secret.unwrap_or(Secret::None),
        groups: groups.as_deref().map(names).unwrap_or_default(),
        origin: cx.origin.clone(),
    });
    Ok(())
}

/// Resolves the section's users and groups. A user naming an unknown group,
/// or a group an unknown user, is an error in `diag`; the list is built
/// without that link all the same, so fetches naming it do not add errors.
pub fn compile(raw: RawUserlist, diag: &mut Diag) -> auth::Userlist {
    let group_names: Vec<String> = raw.groups.iter().map(|g| g.name.clone()).collect();
    let mut users: Vec<User> = Vec::with_capacity(raw.users.len());
    for u in raw.users {
        let mut groups = Vec::with_capacity(u.groups.len());
        for g in &u.groups {
            match group_names.iter().position(|n| n == g) {
                Some(i) => groups.push(i),
                None => {
                    diag.error_at(
                        &u.origin,
                        format!(
                            "userlist '{}': no such group '{g}' specified in user '{}'",
                            raw.name, u.name
                        ),
                    );
                }
            }
        }
        users.push(User {
            name: u.name,
            secret: u.secret,
            groups,
        });
    }
    for (gi, g) in raw.groups.iter().enumerate() {
        for name in &g.users {
            match users.iter_mut().find(|u| &u.name == name) {
                Some(u) => u.groups.push(gi),
                None => {
                    diag.error_at(
                        &g.origin,
                        format!(
                            "userlist '{}': no such user '{name}' specified in group '{}'",
                            raw.name, g.name
                        ),
                    );
                }
            }
        }
    }
    for u in &mut users {
        u.groups.sort_unstable();
        u.groups.dedup();
    }
    auth::Userlist::new(raw.name, group_names, users)
}
