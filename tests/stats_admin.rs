//! The stats page's admin form and page options, differential against
//! HAProxy 2.6 on the same configuration and the same requests:
//! `stats admin if LOCALHOST` shows the form and takes its POST (303 to
//! `<uri>;st=DONE|PART|NONE|ERRP`), the server's state after it is the same
//! on both stats sockets, a page without the condition does not show the
//! form and answers a POST with `;st=DENY` leaving the servers alone;
//! `stats scope` limits the proxies shown; `stats realm` names the realm of
//! the 401.

mod common;

use std::net::TcpStream;
use std::path::Path;

use common::{
    Haproxy, HttpBackend, HttpClient, Ringlb, TestDir, free_port, get, get_with, parse_stats_csv,
    stats_command, stats_row,
};

/// Three consecutive free ports.
fn three_ports() -> u16 {
    loop {
        let p = free_port();
        if free_port() == p + 1 && free_port() == p + 2 {
            return p;
        }
    }
}

fn config(port: u16, socket: &Path, a: u16, b: u16) -> String {
    format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /st\n    \
         stats admin if LOCALHOST\n    server a 127.0.0.1:{a}\n    server b 127.0.0.1:{b}\n\
         listen ro\n    bind 127.0.0.1:{}\n    stats uri /st\n    stats scope pool\n    \
         stats scope ro\n    stats admin unless LOCALHOST\n    server r 127.0.0.1:{a}\n\
         listen au\n    bind 127.0.0.1:{}\n    stats uri /st\n    stats auth u:p\n    \
         stats realm Ops\\ zone\n    server s 127.0.0.1:{a}\n\
         backend pool\n    server p 127.0.0.1:{b}\n",
        socket.display(),
        port + 1,
        port + 2
    )
}

/// POSTs a form to `/st` on `port`: the status and `Location`.
fn post(port: u16, form: &str) -> String {
    let req = format!(
        "POST /st HTTP/1.1\r\nHost: lb\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let r = HttpClient::connect(port).request(req.as_bytes());
    format!(
        "{} {}",
        r.status,
        r.header("location").unwrap_or("(no location)")
    )
}

/// The `status` of `web/<sv>` on the stats socket.
fn state(sock: &Path, sv: &str) -> String {
    let rows = parse_stats_csv(&stats_command(sock, "show stat"));
    stats_row(&rows, "web", sv)["status"].clone()
}

/// Every observation of one run, to compare between the two.
fn observe(port: u16, sock: &Path) -> Vec<String> {
    let mut seen = Vec::new();
    let mut step = |what: &str, v: String| seen.push(format!("{what}: {v}"));
    // `web` is proxy 2: the stats socket's CLI frontend is 1.
    step("maint #2", post(port, "s=a&action=maint&b=%232"));
    step("a", state(sock, "a"));
    step("drain a+zz", post(port, "s=a&s=zz&action=drain&b=web"));
    step("a", state(sock, "a"));
    step("ready a b", post(port, "s=a&s=b&action=ready&b=web"));
    step("a", state(sock, "a"));
    step("bogus", post(port, "s=a&action=bogus&b=web"));
    step("unknown backend", post(port, "s=a&action=maint&b=nope"));
    step("no server", post(port, "action=maint&b=web"));
    step("empty", post(port, ""));
    step("a", state(sock, "a"));
    // The page without the condition: denied, nothing changes.
    step("denied", post(port + 1, "s=a&action=maint&b=web"));
    step("a", state(sock, "a"));
    // The form is on the admin page only.
    let page = get(port, "/st").text();
    step(
        "form",
        format!(
            "{} {} {}",
            page.contains("<form method=\"post\">"),
            page.contains("name=\"s\" value=\"a\""),
            page.contains("<option value=\"maint\">")
        ),
    );
    let ro = get(port + 1, "/st").text();
    step(
        "no form",
        format!("{}", ro.contains("<form method=\"post\">")),
    );
    // `stats scope`: only the proxies named.
    let mut shown: Vec<String> = parse_stats_csv(&get(port + 1, "/st;csv").text())
        .iter()
        .map(|r| format!("{}/{}", r["pxname"], r["svname"]))
        .collect();
    shown.sort();
    step("scope", shown.join(" "));
    // `stats realm` on the 401.
    let r = get_with(port + 2, "/st", None, None);
    step(
        "401",
        format!("{} {:?}", r.status, r.header("www-authenticate")),
    );
    seen
}

/// What the page says for a result code (checked on ringlb; HAProxy's words).
fn says(port: u16, code: &str) -> bool {
    let page = get(port, &format!("/st;st={code}")).text();
    let text = match code {
        "DONE" => "Action processed successfully.",
        "DENY" => "Action denied.",
        "NONE" => "Nothing has changed.",
        _ => "Action partially processed.",
    };
    page.contains(text)
}

#[test]
fn admin_form_scope_and_realm_as_haproxy() {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let dir = TestDir::new("stats-admin");
    let ours_sock = dir.path().join("ours.sock");
    let port = three_ports();
    let _lb = Ringlb::start(&config(port, &ours_sock, a.port(), b.port()));
    let ours = observe(port, &ours_sock);
    let want = [
        "maint #2: 303 /st;st=DONE",
        "a: MAINT",
        "drain a+zz: 303 /st;st=PART",
        "a: DRAIN",
        "ready a b: 303 /st;st=DONE",
        "a: no check",
        "bogus: 303 /st;st=ERRP",
        "unknown backend: 303 /st;st=ERRP",
        "no server: 303 /st;st=NONE",
        "empty: 303 /st;st=NONE",
        "a: no check",
        "denied: 303 /st;st=DENY",
        "a: no check",
        "form: true true true",
        "no form: false",
        "scope: pool/BACKEND pool/p ro/BACKEND ro/FRONTEND ro/r",
        "401: 401 Some(\"Basic realm=\\\"Ops zone\\\"\")",
    ];
    assert_eq!(ours, want);
    for code in ["DONE", "DENY", "NONE", "PART"] {
        assert!(says(port, code), "{code}");
    }
    // The admin actions reach traffic: a server in maintenance gets none.
    assert_eq!(post(port, "s=a&action=maint&b=web"), "303 /st;st=DONE");
    let before = a.request_count();
    for _ in 0..4 {
        assert_eq!(get(port, "/x").status, 200);
    }
    assert_eq!(a.request_count(), before, "a is in maintenance");
    assert_eq!(post(port, "s=a&action=ready&b=web"), "303 /st;st=DONE");
    // A form larger than the buffer is not processed (HAProxy's EXCD).
    let big = format!("{}action=maint&b=web", "s=a&".repeat(40_000));
    assert_eq!(post(port, &big), "303 /st;st=EXCD");
    assert_eq!(state(&ours_sock, "a"), "no check");

    let theirs_sock = dir.path().join("theirs.sock");
    let hport = three_ports();
    let Some(_h) = Haproxy::start(&config(hport, &theirs_sock, a.port(), b.port()), hport) else {
        return;
    };
    // HAProxy's socket may come a moment after its port.
    while TcpStream::connect(("127.0.0.1", hport + 2)).is_err() {}
    let theirs = observe(hport, &theirs_sock);
    assert_eq!(ours, theirs);
}

/// The checked servers of the health test: `a` with a check (its one check
/// at start: `inter 1h`) and an agent nobody answers (which changes
/// nothing), `b` with neither.
fn health_config(port: u16, socket: &Path, a: u16, b: u16, agent: u16) -> String {
    format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    \
         timeout server 5s\n\
         listen web\n    bind 127.0.0.1:{port}\n    stats enable\n    stats uri /st\n    \
         stats admin if LOCALHOST\n    \
         server a 127.0.0.1:{a} check inter 1h agent-check agent-addr 127.0.0.1 \
         agent-port {agent} agent-inter 1h\n    server b 127.0.0.1:{b}\n",
        socket.display()
    )
}

/// The health and agent actions, by page and socket, and their log lines.
fn observe_health(port: u16, sock: &Path, stderr: &dyn Fn() -> String) -> Vec<String> {
    let mut seen = Vec::new();
    let page = get(port, "/st").text();
    seen.push(format!(
        "form: {} {}",
        page.contains("<option value=\"hnolb\">Health: force NOLB</option>"),
        page.contains("<option value=\"adown\">Agent: force DOWN</option>")
    ));
    let forms = [
        ("a", "hdown"),
        ("a", "hrunn"),
        ("a", "hnolb"),
        ("a", "hnolb"),
        ("a", "hrunn"),
        ("a", "dhlth"),
        ("a", "hdown"),
        ("a", "ehlth"),
        ("a", "hrunn"),
        ("a", "adown"),
        ("a", "arunn"),
        ("a", "dagent"),
        ("a", "adown"),
        ("a", "eagent"),
        ("b", "hdown"),
        ("b", "hnolb"),
        ("b", "hrunn"),
        ("b", "dhlth"),
        ("b", "dagent"),
        ("b", "arunn"),
    ];
    for (sv, action) in forms {
        let r = post(port, &format!("s={sv}&action={action}&b=web"));
        seen.push(format!("{action} {sv}: {r}, {}", state(sock, sv)));
    }
    let commands = [
        "set server web/a health down",
        "set server web/a health stopping",
        "set server web/a health up",
        "set server web/a health bogus",
        "set server web/a agent down",
        "set server web/a agent up",
        "set server web/a agent maybe",
        "set server web/b agent up",
        "disable health web/a",
        "enable health web/a",
        "disable agent web/a",
        "set server web/a agent down",
        "enable agent web/a",
        "disable health web/b",
        "enable health web/b",
        "disable agent web/b",
        "enable agent web/b",
        "disable health web/zz",
    ];
    for c in commands {
        let answer = stats_command(sock, c);
        seen.push(format!(
            "{c}: {:?}, {}",
            answer.trim_end(),
            state(sock, "a")
        ));
    }
    for l in stderr().lines() {
        if let Some(at) = l.find("Server web/") {
            seen.push(l[at..].to_string());
        }
    }
    seen
}

/// Differential: every health and agent action of the page and the socket,
/// the `303` Location, the server's `show stat` status after it, the
/// socket's answers, and the state lines logged.
#[test]
fn health_and_agent_actions_as_haproxy() {
    let a = HttpBackend::start("a");
    let b = HttpBackend::start("b");
    let nobody = common::closed_port();
    let dir = TestDir::new("stats-admin-health");
    let ours_sock = dir.path().join("ours.sock");
    let port = free_port();
    let cfg = health_config(port, &ours_sock, a.port(), b.port(), nobody);
    let lb = Ringlb::start(&cfg);
    // The check and the agent at start, before the script.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let ours = observe_health(port, &ours_sock, &|| lb.stderr());
    assert!(
        ours.contains(&"hdown a: 303 /st;st=DONE, DOWN".to_string()),
        "{ours:#?}"
    );
    assert!(
        ours.contains(&"hnolb a: 303 /st;st=DONE, NOLB".to_string()),
        "{ours:#?}"
    );

    let theirs_sock = dir.path().join("theirs.sock");
    let hport = free_port();
    let hcfg = health_config(hport, &theirs_sock, a.port(), b.port(), nobody);
    let Some(h) = Haproxy::start(&hcfg, hport) else {
        return;
    };
    while std::os::unix::net::UnixStream::connect(&theirs_sock).is_err() {}
    std::thread::sleep(std::time::Duration::from_millis(300));
    let theirs = observe_health(hport, &theirs_sock, &|| h.stderr());
    assert_eq!(
        ours,
        theirs,
        "ours:\n{}\ntheirs:\n{}",
        ours.join("\n"),
        theirs.join("\n")
    );
}
