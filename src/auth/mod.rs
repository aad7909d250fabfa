//! HTTP basic authentication against `userlist` sections (HAProxy
//! configuration.txt §3.4): the compiled [`Userlist`], checking a request's
//! `Authorization` header against it (the `http_auth`, `http_auth_group`
//! fetches of `acl/`), and the 401/407 answers of `http-request auth`.
//!
//! - `basic.rs`: the header read exactly as HAProxy 2.6 reads it.
//! - `crypt.rs`: `password` hashes checked by the system's crypt(3), with a
//!   small per-worker cache of successes.
//!
//! The configuration layer (`config/kw/userlist.rs`) parses the section and
//! builds one `Userlist` per section with users and groups resolved to
//! indices; ACL fetches hold an `Arc` to theirs, resolved when ACLs are linked.

pub mod basic;
pub mod crypt;

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};

pub use basic::Credentials;

/// How a user's password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// No `password` option: the user can never authenticate (HAProxy
    /// crashes on such a user; ringlb answers "no").
    None,
    /// `insecure-password <pw>`: compared as is.
    Insecure(Box<[u8]>),
    /// `password <hash>`: a crypt(3) hash, checked to be supported at load.
    Crypt(CString),
}

impl Secret {
    /// `password <hash>`: refused unless the system's crypt(3) supports the format.
    pub fn crypt(hash: &str) -> Result<Secret, String> {
        crypt::supported(hash).map(Secret::Crypt)
    }
}

/// One `user` line, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// How the password is checked.
    pub secret: Secret,
    /// Indices of the groups the user belongs to (from `user ... groups`
    /// and `group ... users`), without repeats.
    pub groups: Vec<usize>,
}

/// A compiled `userlist` section.
#[derive(Debug)]
pub struct Userlist {
    /// The section's name.
    pub name: String,
    /// Users in file order.
    pub users: Vec<User>,
    /// Group names in file order (a [`User`]'s `groups` index this).
    pub groups: Vec<String>,
    by_name: HashMap<Box<[u8]>, usize>,
    /// Unique in the process: keys the per-worker cache, so a reloaded
    /// list never answers from an older list's entries.
    id: u64,
}

impl PartialEq for Userlist {
    fn eq(&self, o: &Userlist) -> bool {
        self.name == o.name && self.users == o.users && self.groups == o.groups
    }
}

impl Eq for Userlist {}

impl Userlist {
    /// A list from resolved users and groups (names are unique: the
    /// configuration layer refuses duplicates).
    pub fn new(name: String, groups: Vec<String>, users: Vec<User>) -> Userlist {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let by_name = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.name.as_bytes().into(), i))
            .collect();
        Userlist {
            name,
            users,
            groups,
            by_name,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The user an `Authorization` header value authenticates (`Basic`
    /// credentials naming a user of this list, with the right password).
    pub fn check(&self, authorization_header_value: &[u8]) -> Option<usize> {
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with(|b| {
            let mut buf = b.borrow_mut();
            match basic::parse(authorization_header_value, &mut buf)? {
                Credentials::Basic { user, pass } => self.verify(user, pass),
                Credentials::Bearer => None,
            }
        })
    }

    /// The user `user` is, if `pass` is their password.
    pub fn verify(&self, user: &[u8], pass: &[u8]) -> Option<usize> {
        let &i = self.by_name.get(user)?;
        let ok = match &self.users[i].secret {
            Secret::None => false,
            Secret::Insecure(p) => crypt::constant_time_eq(p, pass),
            Secret::Crypt(hash) => crypt::verify(self.id, i, hash, pass),
        };
        ok.then_some(i)
    }

    /// Whether user `user` belongs to group `group` (an index of `groups`).
    pub fn in_group(&self, user: usize, group: usize) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.groups.contains(&group))
    }

    /// The index of the group called `name`.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g == name)
    }

    /// The names of the groups user `user` belongs to.
    pub fn groups_of(&self, user: usize) -> impl Iterator<Item = &str> {
        self.users
            .get(user)
            .into_iter()
            .flat_map(|u| u.groups.iter().map(|&g| self.groups[g].as_str()))
    }
}

/// The page HAProxy 2.6 sends with its 401 and 407.
const BODY_401: &str = "<html><body><h1>401 Unauthorized</h1>\n\
                        You need a valid user and password to access this content.\n\
                        </body></html>\n";
const BODY_407: &str = "<html><body><h1>407 Unauthorized</h1>\n\
                        You need a valid user and password to access this content.\n\
                        </body></html>\n";

/// The answer to `http-request auth [realm <realm>]`, byte for byte what
/// HAProxy 2.6 sends (captured from it). The connection stays open: the
/// caller adds `connection: close` where the exchange closes (HAProxy does
/// for an HTTP/1.0 client), as for any answer of its own. Without `realm`,
/// HAProxy uses the proxy's name. The realm goes out as written, not
/// escaped, as in HAProxy.
pub fn challenge(realm: &str) -> Vec<u8> {
    answer("401 Unauthorized", "www-authenticate", realm, BODY_401)
}

/// The 407 HAProxy sends instead of [`challenge`] when the request came
/// through it as a proxy (`option http-use-proxy-header` and a target that
/// is neither `/...` nor `*`). The reason phrase is "Unauthorized", as
/// HAProxy writes it.
pub fn proxy_challenge(realm: &str) -> Vec<u8> {
    answer("407 Unauthorized", "proxy-authenticate", realm, BODY_407)
}

fn answer(status: &str, header: &str, realm: &str, body: &str) -> Vec<u8> {
    // A realm cannot break the head: control characters (CR, LF) are dropped.
    let realm: String = realm.chars().filter(|c| !c.is_control()).collect();
    format!(
        "HTTP/1.1 {status}\r\n\
         content-length: {}\r\n\
         cache-control: no-cache\r\n\
         content-type: text/html\r\n\
         {header}: Basic realm=\"{realm}\"\r\n\
         \r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn list() -> Userlist {
        Userlist::new(
            "L".into(),
            vec!["admins".into(), "ops".into()],
            vec![
                User {
                    name: "alice".into(),
                    secret: Secret::Insecure((*b"secret").into()),
                    groups: vec![0],
                },
                User {
                    name: "bob".into(),
                    secret: Secret::crypt("$1$saltsalt$bIQc.PIdGyyoVvhKbQOAT/").unwrap(),
                    groups: vec![0, 1],
                },
                User {
                    name: "nopw".into(),
                    secret: Secret::None,
                    groups: vec![1],
                },
            ],
        )
    }

    fn header(creds: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(creds)).into_bytes()
    }

    #[test]
    fn check_finds_the_user() {
        let l = list();
        assert_eq!(l.check(&header("alice:secret")), Some(0));
        assert_eq!(l.check(&header("bob:pw1")), Some(1));
        assert_eq!(l.check(&header("bob:pw1")), Some(1), "cached");
        assert_eq!(l.check(&header("bob:secret")), None);
        assert_eq!(l.check(&header("alice:pw1")), None);
        assert_eq!(l.check(&header("carol:secret")), None);
        assert_eq!(
            l.check(&header("ALICE:secret")),
            None,
            "names are case-sensitive"
        );
        assert_eq!(l.check(&header("nopw:")), None);
        assert_eq!(l.check(b"Bearer xyz"), None);
        assert_eq!(l.check(b""), None);
    }

    #[test]
    fn groups() {
        let l = list();
        assert!(l.in_group(0, 0));
        assert!(!l.in_group(0, 1));
        assert!(l.in_group(1, 1));
        assert!(!l.in_group(9, 0));
        assert_eq!(l.group("ops"), Some(1));
        assert_eq!(l.group("nope"), None);
        assert_eq!(l.groups_of(1).collect::<Vec<_>>(), ["admins", "ops"]);
    }

    #[test]
    fn challenges_are_haproxys_bytes() {
        assert_eq!(
            String::from_utf8(challenge("My Realm")).unwrap(),
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n\
             content-type: text/html\r\nwww-authenticate: Basic realm=\"My Realm\"\r\n\r\n\
             <html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to \
             access this content.\n</body></html>\n"
        );
        assert_eq!(
            String::from_utf8(proxy_challenge("X")).unwrap(),
            "HTTP/1.1 407 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\n\
             content-type: text/html\r\nproxy-authenticate: Basic realm=\"X\"\r\n\r\n\
             <html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to \
             access this content.\n</body></html>\n"
        );
        let c = String::from_utf8(challenge("a\r\nx: y")).unwrap();
        assert!(c.contains("realm=\"ax: y\"\r\n"));
    }
}
