//! `userlist` sections and the `http_auth` fetches that name them.

use super::*;

/// A valid HTTP frontend (lines 1-8) using `acls`, then the userlist `ul`
/// starting on line 9 + the number of lines in `acls`.
fn with_list(acls: &str, ul: &str) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
         frontend f\n    bind :8080\n    default_backend b\n{acls}\nbackend b\n    server s 127.0.0.1:80\n{ul}\n"
    )
}

const LIST: &str = "userlist L\n    group admins users alice\n    group ops\n    \
                    user alice insecure-password secret\n    \
                    user bob password $1$saltsalt$bIQc.PIdGyyoVvhKbQOAT/ groups ops,admins";

#[test]
fn a_userlist_compiles_with_users_and_groups_resolved() {
    let c = config(&with_list("", LIST));
    assert_eq!(c.userlists.len(), 1);
    let l = &c.userlists[0];
    assert_eq!(l.name, "L");
    assert_eq!(l.groups, ["admins", "ops"]);
    assert_eq!(l.users[0].name, "alice");
    assert_eq!(l.users[0].groups, [0]);
    assert_eq!(l.users[1].groups, [0, 1]);
    assert!(l.check(b"Basic Ym9iOnB3MQ==").is_some(), "bob:pw1");
}

#[test]
fn fetches_link_to_a_userlist_declared_anywhere() {
    let acls = "    acl a http_auth(L)\n    acl g http_auth_group(L) ops admins\n    \
                use_backend b if a g";
    let c = config(&with_list(acls, LIST));
    assert_eq!(c.frontends[0].routing.rules.len(), 1);
}

#[test]
fn section_errors_name_file_line() {
    let e = |ul: &str| errors(&with_list("", ul));
    assert_eq!(
        e("userlist L\n    user a groups g1,,"),
        ["t.cfg:13: userlist 'L': no such group 'g1' specified in user 'a'"]
    );
    assert_eq!(
        e("userlist L\n    group g users a,b\n    user a"),
        ["t.cfg:13: userlist 'L': no such user 'b' specified in group 'g'"]
    );
    assert_eq!(
        e("userlist L\n    user a\n    user a insecure-password x"),
        ["t.cfg:14: duplicate user 'a' in userlist 'L' (first at t.cfg:13)"]
    );
    assert_eq!(
        e("userlist L\n    group g\n    group g"),
        ["t.cfg:14: duplicate group 'g' in userlist 'L' (first at t.cfg:13)"]
    );
    assert_eq!(
        e("userlist L\nuserlist L"),
        ["t.cfg:13: duplicate userlist 'L' (first at t.cfg:12)"]
    );
    assert_eq!(
        e("userlist L\n    user a foo bar"),
        ["t.cfg:13: 'user' only supports 'password', 'insecure-password' and 'groups' options"]
    );
    assert_eq!(
        e("userlist L\n    group g foo"),
        ["t.cfg:13: 'group' only supports 'users' option"]
    );
    assert_eq!(
        e("userlist L\n    group g users a users b\n    user a\n    user b"),
        ["t.cfg:13: 'group' has 'users' twice"]
    );
    assert_eq!(
        e("userlist L\n    user a insecure-password x password $1$saltsalt$bIQc.PIdGyyoVvhKbQOAT/"),
        ["t.cfg:13: 'user a' has more than one password"]
    );
    assert_eq!(
        e("userlist L\n    user a password"),
        ["t.cfg:13: 'user a': 'password' expects a crypt(3) hash"]
    );
    assert_eq!(
        e("userlist L x"),
        ["t.cfg:12: 'userlist' has an unexpected argument 'x'"]
    );
    assert_eq!(
        e("userlist"),
        ["t.cfg:12: 'userlist' expects <name> as arguments"]
    );
    assert_eq!(
        e("userlist L/x"),
        ["t.cfg:12: character '/' is not permitted in 'userlist' name 'L/x'"]
    );
    assert_eq!(
        e("userlist L\n    group g!"),
        ["t.cfg:13: character '!' is not permitted in 'group' name 'g!'"]
    );
    assert_has(
        &e("userlist L\n    frobnicate"),
        "t.cfg:13: unknown keyword 'frobnicate' in 'userlist' section",
    );
    for bad in ["$9$zzz", "*", "''"] {
        assert_has(
            &e(&format!("userlist L\n    user a password {bad}")),
            "t.cfg:13: the encrypted password used for user 'a' is refused",
        );
    }
}

#[test]
fn a_user_without_password_warns() {
    let w = warnings(&with_list(
        "",
        "userlist L\n    user a\n    user b insecure-password ''",
    ));
    assert_eq!(
        w,
        ["t.cfg:13: user 'a' in userlist 'L' has no password: it can never authenticate"]
    );
}

#[test]
fn fetch_errors() {
    let e = |acls: &str| errors(&with_list(acls, LIST));
    assert_has(
        &e("    acl a http_auth(M)\n    use_backend b if a"),
        "t.cfg:6: frontend 'f': in ACL 'a': unable to find userlist 'M' referenced in arg 1 of 'http_auth'",
    );
    assert_has(
        &e("    acl a http_auth\n    use_backend b if a"),
        "t.cfg:9: 'acl': in ACL 'a': missing userlist name in arg 1 of fetch method 'http_auth'",
    );
    assert_has(
        &e("    acl a http_auth_group(L) ops nope\n    use_backend b if a"),
        "http_auth_group(L): invalid group 'nope'",
    );
    assert_has(
        &e("    acl a http_auth_group(L) -m beg ops\n    use_backend b if a"),
        "'-m', '-f' and converters are not allowed",
    );
    assert_has(
        &e("    acl a http_auth_group(L),lower ops\n    use_backend b if a"),
        "'-m', '-f' and converters are not allowed",
    );
    assert_has(
        &e("    acl a http_auth_user(L)\n    use_backend b if a"),
        "fetch method 'http_auth_user' takes 0 to 0 arguments, got 1",
    );
}
