//! ACL evaluation on the hot path: a request checked against 1, 10 and 100
//! rules (each `if <acl>`, in order, the last one matching: the worst case of
//! `use_backend` lists), a `map_beg` lookup in 100,000 prefixes and a `src`
//! lookup in a 100,000-line CIDR file.
//!
//! Run: `cargo bench --bench acl` (add `-- acl/rules` to filter).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ringlb::acl::{AclSet, Condition, Scratch, TempFile, TestSample, Val, parse_acl, parse_expr};

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// `n` ACLs of mixed kinds that miss, then one that matches the request.
fn rules(n: usize) -> (AclSet, Vec<Condition>) {
    let mut set = AclSet::new();
    let mut conds = Vec::new();
    for i in 0..n {
        let line = if i + 1 == n {
            format!("a{i} path_beg /api/")
        } else {
            match i % 4 {
                0 => format!("a{i} path_beg /p{i}/"),
                1 => format!("a{i} hdr(host) -i h{i}.example.com"),
                2 => format!("a{i} src 10.{}.0.0/16", i % 250),
                _ => format!("a{i} path_end .x{i}"),
            }
        };
        set.add_line(&words(&line), None).unwrap();
        conds.push(Condition::parse(&words(&format!("if a{i}")), &mut set, None).unwrap());
    }
    (set, conds)
}

fn bench_rules(c: &mut Criterion) {
    let req = TestSample::get("/api/v1/users?id=3")
        .header("Host", "www.example.com")
        .header("User-Agent", "bench");
    let mut g = c.benchmark_group("acl/rules");
    for n in [1usize, 10, 100] {
        let (set, conds) = rules(n);
        let mut sc = Scratch::new();
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                conds
                    .iter()
                    .position(|c| c.eval(&set, black_box(&req), &mut sc))
            })
        });
    }
    g.finish();
}

fn bench_map_beg(c: &mut Criterion) {
    let mut text = String::new();
    for i in 0..100_000 {
        text.push_str(&format!("/p{i:05}/ be{}\n", i % 100));
    }
    let f = TempFile::new("bench.map", &text);
    let (expr, _) = parse_expr(&format!("path,map_beg({},none)", f.0.display()), None).unwrap();
    let reqs: Vec<TestSample> = (0..1024)
        .map(|i| TestSample::get(&format!("/p{:05}/item/{i}", (i * 97) % 100_000)))
        .collect();
    let mut sc = Scratch::new();
    let mut i = 0;
    c.bench_function("acl/map_beg_100k", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            let mut hit = 0;
            expr.for_each(&reqs[i], &mut sc, |v, _| {
                if let Val::Str(s) = v {
                    hit = s.len();
                }
                true
            });
            hit
        })
    });
}

fn bench_cidr(c: &mut Criterion) {
    let mut text = String::new();
    for i in 0..100_000u32 {
        // 100,000 distinct /24 networks spread over the space, some /16 and /32.
        let a = (i.wrapping_mul(2_654_435_761)) & 0xffff_ff00;
        let len = match i % 10 {
            0 => 16,
            1 => 32,
            _ => 24,
        };
        let ip = std::net::Ipv4Addr::from(a);
        text.push_str(&format!("{ip}/{len}\n"));
    }
    let f = TempFile::new("bench.cidr", &text);
    let acl = parse_acl(&words(&format!("src -f {}", f.0.display())), None).unwrap();
    assert!(acl.patterns.len() == 100_000);
    let reqs: Vec<TestSample> = (0..1024u32)
        .map(|i| {
            let ip = std::net::Ipv4Addr::from(i.wrapping_mul(0x9e37_79b9));
            TestSample::get("/").src(&format!("{ip}:1234"))
        })
        .collect();
    let mut sc = Scratch::new();
    let mut i = 0;
    c.bench_function("acl/src_cidr_100k", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            acl.matches(&reqs[i], &mut sc)
        })
    });
}

/// The bench-harness `rules` scenario's frontend: its 20 ACLs and the
/// conditions of its 10 `use_backend` lines, against its request (the 7th
/// line matches), plus `hdr_sub` and a 10,000-host `map_str` alone.
fn bench_scenario(c: &mut Criterion) {
    let mut hosts = String::new();
    for i in 0..10_000 {
        hosts.push_str(&format!("t{i}.example.com tenant{i}\n"));
    }
    let f = TempFile::new("tenants.map", &hosts);
    let map = f.0.display();
    let mut set = AclSet::new();
    for line in [
        "net_internal src 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16".to_string(),
        "net_office src 203.0.113.0/24 198.51.100.0/24".into(),
        "host_admin hdr(host) -i admin.example.com ops.example.com".into(),
        "host_static hdr(host) -i static.example.com cdn.example.com".into(),
        "host_img hdr(host) -i img.example.com".into(),
        "host_shop hdr_end(host) -i .shop.example.com".into(),
        format!("tenant_known hdr(host),lower,map_str({map}) -m found"),
        "path_health path /healthz /readyz".into(),
        "path_admin path_beg /admin /_admin".into(),
        "path_static path_beg /static/ /assets/ /img/".into(),
        "path_api path_beg /api/".into(),
        "path_api_v2 path_beg /api/v2/".into(),
        "path_php path_end .php".into(),
        "meth_write method POST PUT DELETE PATCH".into(),
        "meth_read method GET HEAD".into(),
        "is_websocket hdr(upgrade) -i websocket".into(),
        "is_json hdr_sub(accept) -i application/json".into(),
        "has_auth req.hdr(authorization) -m found".into(),
        "ua_bot hdr_sub(user-agent) -i bot crawler spider".into(),
        "ua_mobile hdr_sub(user-agent) -i mobile android iphone".into(),
    ] {
        set.add_line(&words(&line), None).unwrap();
    }
    let conds: Vec<Condition> = [
        "if path_health",
        "if net_internal host_admin || path_admin net_office",
        "if host_static || path_static",
        "if host_img",
        "if is_websocket",
        "if path_api meth_write",
        "if path_api_v2 tenant_known meth_read !ua_bot",
        "if path_api has_auth",
        "if path_php",
        "if host_shop || ua_mobile",
    ]
    .iter()
    .map(|c| Condition::parse(&words(c), &mut set, None).unwrap())
    .collect();
    let req = TestSample::get("/api/v2/items?id=42")
        .header("Host", "t4242.example.com")
        .header(
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        )
        .header("Accept", "application/json")
        .header("X-Forwarded-Host", "spoofed.example.net");
    let mut sc = Scratch::new();
    assert_eq!(
        conds.iter().position(|c| c.eval(&set, &req, &mut sc)),
        Some(6)
    );
    c.bench_function("acl/scenario_10_lines", |b| {
        b.iter(|| {
            conds
                .iter()
                .position(|c| c.eval(&set, black_box(&req), &mut sc))
        })
    });
    for name in ["ua_bot", "tenant_known", "host_static"] {
        let cond = Condition::parse(&words(&format!("if {name}")), &mut set, None).unwrap();
        c.bench_function(&format!("acl/scenario_{name}"), |b| {
            b.iter(|| cond.eval(&set, black_box(&req), &mut sc))
        });
    }
}

criterion_group!(
    benches,
    bench_rules,
    bench_map_beg,
    bench_cidr,
    bench_scenario
);
criterion_main!(benches);
