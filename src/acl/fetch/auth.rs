//! `http_auth(<userlist>)`, `http_auth_group(<userlist>)`, `http_auth_type`,
//! `http_auth_user` and `http_auth_pass`: the request's `Authorization`
//! header (read by [`crate::auth::basic`]) checked against a `userlist`
//! resolved when ACLs are linked.
//!
//! In an ACL, `http_auth_group(L) admins ops` matches when the
//! authenticated user belongs to one of the groups named (HAProxy's
//! `pat_match_auth`): the ACL form [`Fetch::HttpAuthGroups`] yields the
//! user's group names, which the ACL's string patterns then match. Every
//! group named must exist in the list (checked at link, as HAProxy). As a
//! plain sample, `http_auth_group(L)` is the user's name, as in HAProxy.

use std::fmt;
use std::sync::Arc;

use super::compile::check_args;
use super::{Fetch, Names, Sample, Val};
use crate::auth::{Credentials, Userlist, basic};

/// A `userlist` named in a fetch argument; `list` is set by linking.
#[derive(Clone)]
pub struct UserlistRef {
    /// The name as written.
    pub name: String,
    /// The list, once linked.
    pub list: Option<Arc<Userlist>>,
}

impl fmt::Debug for UserlistRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserlistRef({:?})", self.name)
    }
}

impl PartialEq for UserlistRef {
    fn eq(&self, o: &UserlistRef) -> bool {
        self.name == o.name
            && match (&self.list, &o.list) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for UserlistRef {}

/// Fetch names this file compiles.
pub(super) const NAMES: &[&str] = &[
    "http_auth",
    "http_auth_group",
    "http_auth_type",
    "http_auth_user",
    "http_auth_pass",
];

/// Compiles one of [`NAMES`].
pub(super) fn compile(name: &str, args: &[String]) -> Result<Fetch, String> {
    let list = || -> Result<UserlistRef, String> {
        match args {
            [] => Err(format!(
                "missing userlist name in arg 1 of fetch method '{name}'"
            )),
            [l] if !l.is_empty() => Ok(UserlistRef {
                name: l.clone(),
                list: None,
            }),
            [_] => Err(format!(
                "missing userlist name in arg 1 of fetch method '{name}'"
            )),
            _ => Err(format!(
                "fetch method '{name}' takes 1 argument, got {}",
                args.len()
            )),
        }
    };
    Ok(match name {
        "http_auth" => Fetch::HttpAuth(list()?),
        "http_auth_group" => Fetch::HttpAuthGroup(list()?),
        _ => {
            check_args(name, args, 0, 0)?;
            match name {
                "http_auth_type" => Fetch::HttpAuthType,
                "http_auth_user" => Fetch::HttpAuthUser,
                _ => Fetch::HttpAuthPass,
            }
        }
    })
}

/// In an ACL, turns `http_auth_group(L)` into its group-matching form; the
/// words after the flags are the groups. Answers whether it did (the ACL
/// then matches group names exactly: HAProxy ignores `-i` there).
///
/// `-m`, `-f` and converters are refused: HAProxy then matches the user
/// name instead, or reports "no groups specified".
pub fn acl_form(
    fetch: &mut Fetch,
    has_convs: bool,
    has_method: bool,
    has_files: bool,
    groups: &[String],
) -> Result<bool, String> {
    let Fetch::HttpAuthGroup(list) = fetch else {
        return Ok(false);
    };
    if has_convs || has_method || has_files {
        return Err(
            "'http_auth_group' in an ACL matches group names given as values: '-m', '-f' \
             and converters are not allowed"
                .into(),
        );
    }
    *fetch = Fetch::HttpAuthGroups {
        list: list.clone(),
        groups: groups.into(),
    };
    Ok(true)
}

/// Resolves the userlist (and, for the ACL form, its groups).
pub(super) fn link(f: &mut Fetch, n: &dyn Names) -> Result<(), String> {
    let (r, kw) = match f {
        Fetch::HttpAuth(r) => (r, "http_auth"),
        Fetch::HttpAuthGroup(r) | Fetch::HttpAuthGroups { list: r, .. } => (r, "http_auth_group"),
        _ => return Ok(()),
    };
    let list = n.userlist(&r.name).ok_or_else(|| {
        format!(
            "unable to find userlist '{}' referenced in arg 1 of '{kw}'",
            r.name
        )
    })?;
    if let Fetch::HttpAuthGroups { groups, .. } = &*f
        && let Some(bad) = groups.iter().find(|g| list.group(g).is_none())
    {
        return Err(format!(
            "{kw}({}): invalid group '{bad}' (userlist '{}' has no such group)",
            list.name, list.name
        ));
    }
    if let Fetch::HttpAuth(r) | Fetch::HttpAuthGroup(r) | Fetch::HttpAuthGroups { list: r, .. } = f
    {
        r.list = Some(list);
    }
    Ok(())
}

/// Hands the fetch's values to `f` (see [`Fetch::for_each`]); `buf` holds
/// the decoded credentials.
pub(super) fn each<S, F>(fetch: &Fetch, s: &S, buf: &mut Vec<u8>, mut f: F) -> bool
where
    S: Sample + ?Sized,
    F: FnMut(Val<'_>) -> bool,
{
    let Some(creds) = basic::from_request(s, buf) else {
        return false;
    };
    let (user, pass) = match creds {
        Credentials::Basic { user, pass } => (user, pass),
        Credentials::Bearer => {
            return matches!(fetch, Fetch::HttpAuthType) && f(Val::Str(creds.scheme()));
        }
    };
    fn verified<'r>(r: &'r UserlistRef, user: &[u8], pass: &[u8]) -> Option<(&'r Userlist, usize)> {
        let list = r.list.as_deref()?;
        list.verify(user, pass).map(|i| (list, i))
    }
    match fetch {
        Fetch::HttpAuthType => f(Val::Str(creds.scheme())),
        Fetch::HttpAuthUser => f(Val::Str(user)),
        Fetch::HttpAuthPass => f(Val::Str(pass)),
        Fetch::HttpAuth(r) => match r.list.as_ref() {
            Some(list) => f(Val::Bool(list.verify(user, pass).is_some())),
            None => false,
        },
        Fetch::HttpAuthGroup(r) => verified(r, user, pass).is_some() && f(Val::Str(user)),
        Fetch::HttpAuthGroups { list, .. } => match verified(list, user, pass) {
            Some((l, i)) => l.groups_of(i).any(|g| f(Val::Str(g.as_bytes()))),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::rule::{Acl, parse_acl};
    use super::super::super::sample::{Scratch, TestSample};
    use super::*;
    use crate::auth::{Secret, User};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    struct N(Arc<Userlist>);

    impl Names for N {
        fn backend(&self, _: &str) -> Option<usize> {
            None
        }
        fn frontend(&self, _: &str) -> Option<usize> {
            None
        }
        fn server(&self, _: usize, _: &str) -> Option<usize> {
            None
        }
        fn userlist(&self, name: &str) -> Option<Arc<Userlist>> {
            (name == self.0.name).then(|| self.0.clone())
        }
    }

    fn names() -> N {
        let user = |name: &str, pw: &str, groups: Vec<usize>| User {
            name: name.into(),
            secret: Secret::Insecure(pw.as_bytes().into()),
            groups,
        };
        N(Arc::new(Userlist::new(
            "L".into(),
            vec!["admins".into(), "ops".into(), "Ops".into()],
            vec![
                user("alice", "secret", vec![0]),
                user("bob", "pw", vec![1]),
                User {
                    name: "carol".into(),
                    secret: Secret::crypt(
                        "$5$saltsalt$zOFVkp0Kz29x0a6a4dSx8FZisA8Iwb0KzzvoRDFTN/8",
                    )
                    .unwrap(),
                    groups: vec![0, 1],
                },
            ],
        )))
    }

    fn acl(line: &str) -> Acl {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let mut a = parse_acl(&words, None).unwrap();
        a.expr.fetch.link(&names()).unwrap();
        a
    }

    fn req(creds: Option<&str>) -> TestSample {
        let r = TestSample::get("/");
        match creds {
            Some(c) => r.header("Authorization", &format!("Basic {}", STANDARD.encode(c))),
            None => r,
        }
    }

    fn values(line: &str, s: &TestSample) -> Vec<String> {
        let a = acl(line);
        let mut out = Vec::new();
        a.expr.fetch.for_each(s, &mut Vec::new(), |v| {
            out.push(match v {
                Val::Str(b) => String::from_utf8_lossy(b).into_owned(),
                Val::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            });
            false
        });
        out
    }

    #[test]
    fn http_auth_checks_the_credentials() {
        let mut sc = Scratch::new();
        let a = acl("http_auth(L)");
        assert!(a.matches(&req(Some("alice:secret")), &mut sc));
        assert!(a.matches(&req(Some("carol:pw5")), &mut sc));
        assert!(!a.matches(&req(Some("alice:wrong")), &mut sc));
        assert!(!a.matches(&req(Some("dave:secret")), &mut sc));
        assert!(!a.matches(&req(None), &mut sc));
        let bearer = TestSample::get("/").header("authorization", "Bearer t");
        assert!(!a.matches(&bearer, &mut sc));
    }

    #[test]
    fn http_auth_group_matches_any_named_group() {
        let mut sc = Scratch::new();
        let ops = acl("http_auth_group(L) ops");
        assert!(ops.matches(&req(Some("bob:pw")), &mut sc));
        assert!(ops.matches(&req(Some("carol:pw5")), &mut sc));
        assert!(!ops.matches(&req(Some("alice:secret")), &mut sc));
        assert!(
            !ops.matches(&req(Some("bob:wrong")), &mut sc),
            "a wrong password is in no group"
        );
        let either = acl("http_auth_group(L) Ops admins");
        assert!(either.matches(&req(Some("alice:secret")), &mut sc));
        // Group names match exactly; HAProxy ignores `-i` here.
        let icase = acl("http_auth_group(L) -i Ops");
        assert!(!icase.matches(&req(Some("bob:pw")), &mut sc));
    }

    #[test]
    fn sample_values() {
        let s = req(Some("bob:pw:x"));
        assert_eq!(values("http_auth_user", &s), ["bob"]);
        assert_eq!(values("http_auth_pass", &s), ["pw:x"]);
        assert_eq!(values("http_auth_type", &s), ["Basic"]);
        assert_eq!(values("http_auth(L)", &s), ["false"], "found, and false");
        let s = req(Some("carol:pw5"));
        assert_eq!(values("http_auth(L)", &s), ["true"]);
        assert_eq!(values("http_auth_group(L) ops", &s), ["admins", "ops"]);
        // As a plain sample (no patterns), HAProxy answers the user's name.
        let plain = compile("http_auth_group", &["L".into()]).unwrap();
        let mut f = plain;
        f.link(&names()).unwrap();
        let mut got = Vec::new();
        f.for_each(&s, &mut Vec::new(), |v| {
            got.push(v == Val::Str(b"carol"));
            false
        });
        assert_eq!(got, [true]);
        let bearer = TestSample::get("/").header("Authorization", "Bearer t");
        assert_eq!(values("http_auth_type", &bearer), ["Bearer"]);
        assert!(values("http_auth_user", &bearer).is_empty());
        assert!(values("http_auth_type", &req(None)).is_empty());
    }

    #[test]
    fn only_the_first_authorization_header_counts() {
        let mut sc = Scratch::new();
        let a = acl("http_auth(L)");
        let good = format!("Basic {}", STANDARD.encode("alice:secret"));
        let first_good = TestSample::get("/")
            .header("Authorization", &good)
            .header("Authorization", "Basic xx");
        let first_bad = TestSample::get("/")
            .header("Authorization", "Basic xx")
            .header("Authorization", &good);
        assert!(a.matches(&first_good, &mut sc));
        assert!(!a.matches(&first_bad, &mut sc));
    }

    #[test]
    fn an_unlinked_fetch_never_matches() {
        let words = vec!["http_auth(L)".to_string()];
        let a = parse_acl(&words, None).unwrap();
        assert!(!a.matches(&req(Some("alice:secret")), &mut Scratch::new()));
        let mut f = compile("http_auth", &["M".into()]).unwrap();
        assert!(f.link(&names()).is_err());
    }
}
