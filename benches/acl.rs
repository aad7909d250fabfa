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

criterion_group!(benches, bench_rules, bench_map_beg, bench_cidr);
criterion_main!(benches);
