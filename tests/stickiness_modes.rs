//! Cookie stickiness modes end to end, through the binary with 2 workers, in
//! front of [`common::JavaApp`], a test application that behaves like a Java
//! servlet container: a request without a `JSESSIONID` cookie gets
//! `Set-Cookie: JSESSIONID=<random id>; Path=/`, and every request's `Cookie`
//! headers are recorded exactly as the application received them.
//!
//! - `prefix`: the id goes out as `<server>~<id>`, comes back to that server,
//!   and the application only ever sees `<id>`, also among other cookies in
//!   one `Cookie` header; among several `Set-Cookie` headers only the
//!   stickiness cookie is rewritten.
//! - `insert [indirect] [nocache]`: ringlb's own cookie is set once, follows the
//!   client, and is hidden from the application with `indirect` only.
//! - `rewrite`: the application's value is replaced by the server's.
//! - An unknown or forged value is balanced normally.
//!
//! Failover and load cases are in `stickiness_failover.rs`.

mod common;

use std::collections::HashMap;

use common::{
    HttpClient, JavaApp, Ringlb, farm, first_contact, request, request_bytes, seen_by, set_cookies,
    set_cookies_named, spread_with_cookie, unique,
};

// ---------------------------------------------------------------------------
// 1. The test application itself
// ---------------------------------------------------------------------------

#[test]
fn test_application_issues_a_session_and_records_the_cookie_it_gets() {
    let app = JavaApp::start("s1", "/check");
    let mut c = HttpClient::connect(app.port());
    let r = c.request(&request_bytes("/login", None, false));
    assert_eq!(r.server(), "s1");
    let set = set_cookies(&r);
    assert_eq!(set.len(), 1, "{set:?}");
    let id = app.issued()[0].clone();
    assert_eq!(set[0], format!("JSESSIONID={id}; Path=/"));
    assert_eq!(id.len(), 32);
    assert!(r.text().starts_with("server=s1\n"), "{}", r.text());

    // Same keep-alive connection: the session is read back, no new cookie.
    let sent = format!("a=1; JSESSIONID={id}");
    let r = c.request(&request_bytes("/again", Some(&sent), false));
    assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
    assert!(
        r.text().contains(&format!("session={id}\n")),
        "{}",
        r.text()
    );
    assert_eq!(app.seen_at("/again").unwrap().cookies, vec![sent]);
    assert_eq!(app.issued().len(), 1);
    assert_eq!(app.tcp.accepted(), 1, "keep-alive: one connection");

    let r = request(app.port(), "/multi/x", None);
    let id = app.issued()[1].clone();
    assert_eq!(
        set_cookies(&r),
        [
            "a=1; Path=/".to_string(),
            format!("JSESSIONID={id}; Path=/; HttpOnly"),
            "OLDJSESSIONID=q; Path=/".into(),
            "b=2".into()
        ]
    );
    let r = request(app.port(), "/setserverid/x", Some("JSESSIONID=k"));
    assert_eq!(set_cookies(&r), ["SERVERID=anything; path=/"]);

    app.set_check_status(500);
    assert_eq!(request(app.port(), "/check", None).status, 500);
    assert_eq!(app.checks(), 1);
    assert_ne!(app.issued()[0], app.issued()[1], "ids are random");
}

// ---------------------------------------------------------------------------
// 2. prefix
// ---------------------------------------------------------------------------

#[test]
fn prefix_first_response_names_the_server_and_the_app_never_sees_the_prefix() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "login");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        let set = set_cookies(r);
        assert_eq!(set.len(), 1, "{set:?}");
        let (value, attrs) = set[0].split_once(';').unwrap();
        let id = value
            .strip_prefix(&format!("JSESSIONID={name}~"))
            .unwrap_or_else(|| panic!("{name}: Set-Cookie {:?} lacks the prefix", set[0]));
        assert_eq!(attrs, " Path=/", "attributes kept: {:?}", set[0]);
        assert!(
            app.issued().contains(&id.to_string()),
            "{id} not from {name}"
        );
        let client_cookie = format!("JSESSIONID={name}~{id}");

        // Back on fresh connections: the same server, the bare id.
        for _ in 0..5 {
            let path = unique("fresh");
            let r = request(lb.port(), &path, Some(&client_cookie));
            assert_eq!(r.server(), name, "{client_cookie} went elsewhere");
            assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
            let (who, seen) = seen_by(&apps, &path);
            assert_eq!(who, name);
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
            assert!(
                r.text().contains(&format!("session={id}\n")),
                "{}",
                r.text()
            );
        }
        // And several times on one keep-alive connection.
        let mut c = HttpClient::connect(lb.port());
        for _ in 0..3 {
            let path = unique("keepalive");
            let r = c.request(&request_bytes(&path, Some(&client_cookie), false));
            assert_eq!(r.server(), name);
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
        }
    }
    for app in apps {
        for seen in app.seen() {
            assert!(
                seen.cookies.iter().all(|c| !c.contains('~')),
                "{} saw a prefix: {seen:?}",
                app.name()
            );
        }
    }
}

#[test]
fn prefix_strips_only_the_sticky_cookie_among_several_in_one_header() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let apps = [&s1, &s2];
    let cases = [
        (
            "a=1; JSESSIONID=s2~xyz; b=2",
            "s2",
            "a=1; JSESSIONID=xyz; b=2",
        ),
        ("JSESSIONID=s1~xyz; b=2", "s1", "JSESSIONID=xyz; b=2"),
        ("a=1; JSESSIONID=s2~x~y", "s2", "a=1; JSESSIONID=x~y"),
        (
            "OLDJSESSIONID=s1~q; JSESSIONID=s2~xyz",
            "s2",
            "OLDJSESSIONID=s1~q; JSESSIONID=xyz",
        ),
    ];
    for (sent, server, want) in cases {
        // Several fresh connections: both workers, and no luck of the rotation.
        for _ in 0..6 {
            let path = unique("multi-cookie");
            let r = request(lb.port(), &path, Some(sent));
            assert_eq!(r.status, 200);
            assert_eq!(r.server(), server, "{sent}");
            let (who, seen) = seen_by(&apps, &path);
            assert_eq!(who, server);
            assert_eq!(seen.cookies, [want], "sent {sent:?}");
        }
    }
}

#[test]
fn prefix_rewrites_only_jsessionid_among_several_set_cookie_headers() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "multi");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        let id = app.issued()[0].clone();
        assert_eq!(
            set_cookies(r),
            [
                "a=1; Path=/".to_string(),
                format!("JSESSIONID={name}~{id}; Path=/; HttpOnly"),
                "OLDJSESSIONID=q; Path=/".into(),
                "b=2".into()
            ],
            "{name}"
        );
        // The cookie the browser now holds leads back, unprefixed for the app.
        let path = unique("multi-back");
        let r = request(
            lb.port(),
            &path,
            Some(&format!(
                "a=1; JSESSIONID={name}~{id}; OLDJSESSIONID=q; b=2"
            )),
        );
        assert_eq!(r.server(), name);
        let (_, seen) = seen_by(&apps, &path);
        assert_eq!(
            seen.cookies,
            [format!("a=1; JSESSIONID={id}; OLDJSESSIONID=q; b=2")]
        );
    }
}

// ---------------------------------------------------------------------------
// 3. insert
// ---------------------------------------------------------------------------

#[test]
fn insert_indirect_nocache_sets_the_cookie_once_and_hides_it_from_the_app() {
    let (s1, s2, lb) = farm(&["cookie SERVERID insert indirect nocache"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "first");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        assert_eq!(
            set_cookies_named(r, "SERVERID"),
            [format!("SERVERID={name}; path=/")]
        );
        assert_eq!(
            r.header("cache-control"),
            Some("private"),
            "{:?}",
            r.headers
        );
        // The application's own cookie passes untouched.
        let id = app.issued()[0].clone();
        assert_eq!(
            set_cookies_named(r, "JSESSIONID"),
            [format!("JSESSIONID={id}; Path=/")]
        );

        // The browser sends both back: same server, nothing set again, and
        // the application sees only its own cookie.
        let both = format!("SERVERID={name}; JSESSIONID={id}");
        for _ in 0..5 {
            let path = unique("back");
            let r = request(lb.port(), &path, Some(&both));
            assert_eq!(r.server(), name, "{both}");
            assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
            assert_eq!(r.header("cache-control"), None, "{:?}", r.headers);
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(seen.cookies, [format!("JSESSIONID={id}")]);
        }
        // Our cookie alone: the Cookie header disappears altogether.
        let path = unique("alone");
        let r = request(lb.port(), &path, Some(&format!("SERVERID={name}")));
        assert_eq!(r.server(), name);
        assert!(
            set_cookies_named(&r, "SERVERID").is_empty(),
            "{:?}",
            r.headers
        );
        let (_, seen) = seen_by(&apps, &path);
        assert!(seen.cookies.is_empty(), "{seen:?}");
    }
    for app in apps {
        assert!(
            app.seen()
                .iter()
                .all(|s| s.cookies.iter().all(|c| !c.contains("SERVERID"))),
            "{} saw SERVERID",
            app.name()
        );
    }
}

#[test]
fn insert_without_indirect_lets_the_app_see_the_cookie() {
    let (s1, s2, lb) = farm(&["cookie SERVERID insert"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "first");
    for app in apps {
        let name = app.name();
        assert_eq!(
            set_cookies_named(&first[name], "SERVERID"),
            [format!("SERVERID={name}; path=/")]
        );
        assert_eq!(first[name].header("cache-control"), None, "no nocache");
        let sent = format!("SERVERID={name}; JSESSIONID=abc");
        for _ in 0..5 {
            let path = unique("back");
            let r = request(lb.port(), &path, Some(&sent));
            assert_eq!(r.server(), name);
            assert!(
                set_cookies_named(&r, "SERVERID").is_empty(),
                "{:?}",
                r.headers
            );
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(seen.cookies, std::slice::from_ref(&sent));
        }
    }
}

// ---------------------------------------------------------------------------
// 4. rewrite
// ---------------------------------------------------------------------------

#[test]
fn rewrite_replaces_the_apps_value_with_the_servers_and_sticks() {
    let (s1, s2, lb) = farm(&["cookie SERVERID rewrite"], "");
    let apps = [&s1, &s2];
    let first = first_contact(lb.port(), &apps, "setserverid");
    for app in apps {
        let name = app.name();
        let r = &first[name];
        assert_eq!(
            set_cookies_named(r, "SERVERID"),
            [format!("SERVERID={name}; path=/")],
            "{:?}",
            r.headers
        );
        let id = app.issued()[0].clone();
        assert_eq!(
            set_cookies_named(r, "JSESSIONID"),
            [format!("JSESSIONID={id}; Path=/")]
        );
        let sent = format!("SERVERID={name}; JSESSIONID={id}");
        for _ in 0..5 {
            let path = unique("back");
            let r = request(lb.port(), &path, Some(&sent));
            assert_eq!(r.server(), name);
            assert!(set_cookies(&r).is_empty(), "rewrite never inserts");
            let (_, seen) = seen_by(&apps, &path);
            assert_eq!(
                seen.cookies,
                std::slice::from_ref(&sent),
                "rewrite leaves requests alone"
            );
        }
        // The app sets it again: rewritten again.
        let r = request(lb.port(), &unique("setserverid-again"), Some(&sent));
        assert_eq!(r.server(), name);
        assert_eq!(set_cookies(&r), [format!("SERVERID={name}; path=/")]);
    }
}

// ---------------------------------------------------------------------------
// 5. Unknown or forged values
// ---------------------------------------------------------------------------

#[test]
fn unknown_or_forged_values_are_balanced_normally() {
    // insert: balanced, the app never sees the forged cookie, and the client
    // gets the real one.
    let (s1, s2, lb) = farm(&["cookie SERVERID insert indirect nocache"], "");
    let apps = [&s1, &s2];
    let mut seen = HashMap::new();
    for _ in 0..20 {
        let path = unique("forged-insert");
        let r = request(lb.port(), &path, Some("SERVERID=zz; JSESSIONID=abc"));
        assert_eq!(r.status, 200);
        let name = r.server();
        assert_eq!(
            set_cookies_named(&r, "SERVERID"),
            [format!("SERVERID={name}; path=/")]
        );
        let (_, s) = seen_by(&apps, &path);
        assert_eq!(s.cookies, ["JSESSIONID=abc"]);
        *seen.entry(name).or_insert(0) += 1;
    }
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
    drop(lb);

    // prefix without a prefix: balanced, and the app sees it as sent.
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let seen = prefix_spread(
        &lb,
        &[&s1, &s2],
        "a=1; JSESSIONID=abc",
        "a=1; JSESSIONID=abc",
    );
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
    drop(lb);

    // rewrite: balanced too.
    let (_s1, _s2, lb) = farm(&["cookie SERVERID rewrite"], "");
    let seen = spread_with_cookie(lb.port(), "forged-rewrite", Some("SERVERID=zz"), 20);
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
}

/// Sends `sent` 20 times on fresh connections; asserts the app saw `want`
/// each time; returns the requests per server.
fn prefix_spread(lb: &Ringlb, apps: &[&JavaApp], sent: &str, want: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..20 {
        let path = unique("forged-prefix");
        let r = request(lb.port(), &path, Some(sent));
        assert_eq!(r.status, 200);
        let (who, s) = seen_by(apps, &path);
        assert_eq!(s.cookies, [want], "sent {sent:?}");
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

/// A forged prefix is balanced normally, and, as HAProxy (1.3 to 2.6) does,
/// everything up to the first `~` is stripped whether or not the prefix names
/// a server: the application sees its own id (say, after the servers' cookie
/// values changed in the configuration).
#[test]
fn prefix_forged_value_is_balanced_and_stripped_like_haproxy() {
    let (s1, s2, lb) = farm(&["cookie JSESSIONID prefix"], "");
    let seen = prefix_spread(&lb, &[&s1, &s2], "JSESSIONID=zz~abc", "JSESSIONID=abc");
    assert!(
        seen.get("s1") >= Some(&5) && seen.get("s2") >= Some(&5),
        "{seen:?}"
    );
}
