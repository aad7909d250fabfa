//! The `rules` scenario's configuration: a frontend with 20 ACLs, 10
//! `use_backend` lines and 5 header rules, the same text for ringlb and
//! HAProxy (`perf/rules.cfg`, which `perf/ab` loads too), and nginx's nearest equivalent (maps, `geo`, `proxy_set_header`,
//! `add_header`, `proxy_hide_header`). Every backend points at the one
//! origin the harness starts, so only the proxies' rule work differs.
//!
//! The request wrk sends ([`wrk_headers`] on [`path`]) is routed by the 7th
//! `use_backend` line: the six before it are evaluated and fail (some after
//! short-circuiting), and the 7th needs a path prefix, a `map_str` lookup of
//! the Host header in a [`TENANTS`]-line map, the method and a case-folded
//! substring search of the User-Agent.

use std::fmt::Write as _;
use std::path::Path;

/// Lines in the tenants map (`t<i>.example.com tenant<i>`).
pub const TENANTS: usize = 10_000;

/// The map file's name inside the run's temporary directory.
pub const MAP_FILE: &str = "tenants.map";

/// The frontend and backends ringlb and HAProxy load, shared with `perf/ab`
/// (placeholders `@PORT@`, `@BACKEND@`, `@MAP@`; the request in its
/// `# wrk-path:` and `# wrk-header:` comments).
const TEMPLATE: &str = include_str!("../../perf/rules.cfg");

/// The values of the template's `# <key>: ` comment lines, in order.
fn template_comments(key: &str) -> impl Iterator<Item = &'static str> + '_ {
    TEMPLATE.lines().filter_map(move |l| {
        l.strip_prefix("# ")
            .and_then(|l| l.strip_prefix(key))
            .and_then(|l| l.strip_prefix(": "))
    })
}

/// The request path wrk asks for (the template's `# wrk-path:`).
pub fn path() -> &'static str {
    template_comments("wrk-path")
        .next()
        .expect("perf/rules.cfg has a `# wrk-path:` line")
}

/// Headers wrk adds (`-H`; the template's `# wrk-header:` lines): a Host
/// found in the map, a browser User-Agent, a JSON Accept, and an
/// X-Forwarded-Host for the rule that deletes it to remove.
pub fn wrk_headers() -> Vec<&'static str> {
    template_comments("wrk-header").collect()
}

/// Response header the routed backend's rule sets: the smoke request checks
/// it to prove each proxy routed the request to the 7th backend.
pub const ROUTED_HEADER: (&str, &str) = ("x-backend", "api_v2");

/// The backends, in `use_backend` order, then the default (nginx's upstreams).
const BACKENDS: [&str; 11] = [
    "be_health",
    "be_admin",
    "be_static",
    "be_img",
    "be_ws",
    "be_write",
    "be_api_v2",
    "be_api",
    "be_php",
    "be_shop",
    "be_default",
];

/// Writes the tenants map into `dir`, returning its path.
pub fn write_map(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join(MAP_FILE);
    let mut text = String::with_capacity(TENANTS * 32);
    for i in 0..TENANTS {
        let _ = writeln!(text, "t{i}.example.com tenant{i}");
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The frontend and backends for ringlb and HAProxy (the text after
/// `defaults`): listening on `port`, every server at `backend`; the
/// template's own header comment left out.
pub fn proxy_sections(port: u16, backend: u16, map: &Path) -> String {
    let start = TEMPLATE.find("\nfrontend ").map_or(0, |i| i + 1);
    TEMPLATE[start..]
        .replace("@PORT@", &port.to_string())
        .replace("@BACKEND@", &backend.to_string())
        .replace("@MAP@", &map.display().to_string())
}

/// nginx's `map`/`geo` blocks for the 20 ACLs (each a 0/1 variable) and
/// the tenants map (`$tenant`; nginx compares map strings case-insensitively,
/// which stands for `lower,map_str`).
fn nginx_acls(tenants: &str) -> String {
    let m = |var: &str, src: &str, entries: &str| {
        format!("    map {src} ${var} {{ default 0; {entries} }}\n")
    };
    let mut s = String::new();
    s.push_str("    map_hash_max_size 32768;\n    map_hash_bucket_size 64;\n");
    let _ = writeln!(
        s,
        "    map $http_host $tenant {{ default unknown; include {tenants}; }}"
    );
    s.push_str(&m("tenant_known", "$tenant", "unknown 0; ~. 1;"));
    s.push_str(
        "    geo $net_internal { default 0; 10.0.0.0/8 1; 172.16.0.0/12 1; 192.168.0.0/16 1; }\n\
         \x20   geo $net_office { default 0; 203.0.113.0/24 1; 198.51.100.0/24 1; }\n",
    );
    for (var, src, entries) in [
        (
            "host_admin",
            "$http_host",
            "admin.example.com 1; ops.example.com 1;",
        ),
        (
            "host_static",
            "$http_host",
            "static.example.com 1; cdn.example.com 1;",
        ),
        ("host_img", "$http_host", "img.example.com 1;"),
        ("host_shop", "$http_host", "~*\\.shop\\.example\\.com$ 1;"),
        ("path_health", "$uri", "/healthz 1; /readyz 1;"),
        ("path_admin", "$uri", "~^/(admin|_admin) 1;"),
        ("path_static", "$uri", "~^/(static|assets|img)/ 1;"),
        ("path_api", "$uri", "~^/api/ 1;"),
        ("path_api_v2", "$uri", "~^/api/v2/ 1;"),
        ("path_php", "$uri", "~\\.php$ 1;"),
        (
            "meth_write",
            "$request_method",
            "POST 1; PUT 1; DELETE 1; PATCH 1;",
        ),
        ("meth_read", "$request_method", "GET 1; HEAD 1;"),
        ("is_websocket", "$http_upgrade", "websocket 1;"),
        ("is_json", "$http_accept", "~*application/json 1;"),
        ("has_auth", "$http_authorization", "\"\" 0; ~. 1;"),
        ("ua_bot", "$http_user_agent", "~*(bot|crawler|spider) 1;"),
        (
            "ua_mobile",
            "$http_user_agent",
            "~*(mobile|android|iphone) 1;",
        ),
    ] {
        s.push_str(&m(var, src, entries));
    }
    s
}

/// The 10 `use_backend` lines as a chain of maps: each line's map is only
/// evaluated when the one before it falls to its default (nginx evaluates
/// variables lazily), so lines are tried in order and stop at the first
/// match, as in HAProxy; within one line every ACL is evaluated (no
/// short-circuit of `a b || c d`).
fn nginx_routes() -> String {
    let lines: [(&str, &str); 10] = [
        ("$path_health", "1 be_health;"),
        (
            "$net_internal$host_admin:$path_admin$net_office",
            "~^11 be_admin; ~:11 be_admin;",
        ),
        ("$host_static$path_static", "~1 be_static;"),
        ("$host_img", "1 be_img;"),
        ("$is_websocket", "1 be_ws;"),
        ("$path_api$meth_write", "11 be_write;"),
        (
            "$path_api_v2$tenant_known$meth_read$ua_bot",
            "1110 be_api_v2;",
        ),
        ("$path_api$has_auth", "11 be_api;"),
        ("$path_php", "1 be_php;"),
        ("$host_shop$ua_mobile", "~1 be_shop;"),
    ];
    let mut s = String::new();
    for (i, (src, entries)) in lines.iter().enumerate() {
        let next = if i + 1 == lines.len() {
            "be_default".to_string()
        } else {
            format!("$route{}", i + 2)
        };
        let _ = writeln!(
            s,
            "    map \"{src}\" $route{} {{ default {next}; {entries} }}",
            i + 1
        );
    }
    s
}

/// The `http {}` body of nginx as the `rules` proxy (after the common lines):
/// the maps, one upstream per backend (each with its idle pool, as the plain
/// keep-alive proxy), and the header rules.
pub fn nginx_http(port: u16, backend: u16, tenants_include: &Path) -> String {
    let mut s = nginx_acls(&tenants_include.display().to_string());
    s.push_str(&nginx_routes());
    // del-header X-Forwarded-Host unless internal: pass it only from inside.
    s.push_str("    map $net_internal $fwd_host { default \"\"; 1 $http_x_forwarded_host; }\n");
    s.push_str("    map $is_json $api_client { default \"\"; 1 json; }\n");
    let (h, v) = ROUTED_HEADER;
    let _ = writeln!(
        s,
        "    map $route1 $routed_mark {{ default \"\"; be_api_v2 {v}; }}"
    );
    for name in BACKENDS {
        let _ = writeln!(
            s,
            "    upstream {name} {{ server 127.0.0.1:{backend}; keepalive 64; keepalive_requests 10000000; }}"
        );
    }
    let _ = write!(
        s,
        "    server {{\n\
         \x20       listen 127.0.0.1:{port} backlog=4096;\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://$route1;\n\
         \x20           proxy_http_version 1.1;\n\
         \x20           proxy_set_header Connection \"\";\n\
         \x20           proxy_set_header X-Forwarded-Host $fwd_host;\n\
         \x20           proxy_set_header X-Tenant $tenant;\n\
         \x20           proxy_set_header X-Api-Client $api_client;\n\
         \x20           proxy_hide_header Server;\n\
         \x20           proxy_hide_header {h};\n\
         \x20           add_header {h} $routed_mark;\n\
         \x20       }}\n\
         \x20   }}\n"
    );
    s
}

/// The tenants map in nginx's `map` syntax (`t<i>.example.com tenant<i>;`),
/// written beside the HAProxy-format one; returns its path.
pub fn write_nginx_map(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join("tenants.nginx-map");
    let mut text = String::with_capacity(TENANTS * 32);
    for i in 0..TENANTS {
        let _ = writeln!(text, "t{i}.example.com tenant{i};");
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// What the report says about the scenario and how nginx's config differs.
pub const DESCRIPTION: &str = "keep-alive `GET /api/v2/items?id=42` with Host \
    `t4242.example.com`, a browser User-Agent, `Accept: application/json` and an \
    `X-Forwarded-Host`; ringlb and HAProxy share one frontend text: 20 ACLs (src \
    networks, `hdr(host) -i`, `hdr_end`, `path`/`path_beg`/`path_end`, `method`, \
    `hdr_sub`, `-m found`, and `hdr(host),lower,map_str(<10,000-line map>) -m found`), \
    10 `use_backend` lines of which the 7th routes the request (the 6 before it are \
    evaluated and fail), 5 header rules (`http-request del-header X-Forwarded-Host if \
    !net_internal`, `set-header X-Tenant %[req.hdr(host),lower,map_str(...)]`, \
    `add-header X-Api-Client json if is_json`, `http-response del-header Server`, and \
    the routed backend's `http-response set-header x-backend api_v2`, which the smoke \
    request checks); 11 backends, all on the one origin. nginx: each ACL a `map` or \
    `geo` variable, the 10 lines a chain of maps (tried in order, stopping at the \
    first match, but every ACL of a line evaluated), `proxy_pass http://$route`, \
    `proxy_set_header` for the request rules (nginx replaces, so add-header becomes a \
    set, and an empty value drops a header), `proxy_hide_header Server` (nginx's \
    default; it then sends its own `Server`) and `proxy_hide_header` + `add_header` \
    for the response set-header; its string maps compare case-insensitively, like \
    `-i`, also where HAProxy's `path` is case-sensitive";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_acls_ten_lines_five_header_rules() {
        let s = proxy_sections(10, 20, Path::new("/t/tenants.map"));
        let count = |prefix: &str| s.lines().filter(|l| l.trim().starts_with(prefix)).count();
        assert_eq!(count("acl "), 20, "{s}");
        assert_eq!(count("use_backend "), 10, "{s}");
        let header_rules = s.lines().filter(|l| l.contains("-header ")).count();
        assert_eq!(header_rules, 5, "{s}");
        assert_eq!(count("backend "), 11);
        assert_eq!(count("server s1 127.0.0.1:20"), 11);
        // The 7th line routes the benchmark request.
        let seventh = s
            .lines()
            .filter(|l| l.trim().starts_with("use_backend "))
            .nth(6);
        assert!(seventh.unwrap().contains("be_api_v2"), "{s}");
        assert!(s.contains("map_str(/t/tenants.map) -m found"), "{s}");
        assert!(!s.contains('@'), "{s}");
        let (h, v) = ROUTED_HEADER;
        assert!(s.contains(&format!(
            "be_api_v2\n    http-response set-header {h} {v}\n"
        )));
        for b in BACKENDS {
            assert!(s.contains(&format!("\nbackend {b}\n")), "{b}");
        }
    }

    #[test]
    fn nginx_chain_ends_in_default() {
        let n = nginx_http(10, 20, Path::new("/t/tenants.nginx-map"));
        assert_eq!(n.matches("    map \"").count(), 10, "{n}");
        assert!(n.contains("$route10 { default be_default;"), "{n}");
        assert!(
            n.contains("$route1 { default $route2; 1 be_health; }"),
            "{n}"
        );
        assert_eq!(n.matches("upstream be_").count(), 11);
        assert!(n.contains("include /t/tenants.nginx-map;"), "{n}");
        assert!(n.contains("proxy_pass http://$route1;"), "{n}");
    }

    #[test]
    fn maps_have_every_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let m = std::fs::read_to_string(write_map(dir.path()).unwrap()).unwrap();
        assert_eq!(m.lines().count(), TENANTS);
        assert!(m.contains("\nt4242.example.com tenant4242\n"));
        let n = std::fs::read_to_string(write_nginx_map(dir.path()).unwrap()).unwrap();
        assert!(n.contains("\nt4242.example.com tenant4242;\n"));
        assert_eq!(path(), "/api/v2/items?id=42");
        let h = wrk_headers();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0], "Host: t4242.example.com");
    }
}
