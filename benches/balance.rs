//! "Choose a server": one `pick` per iteration, for every algorithm at 2, 100
//! and 10,000 servers (weights 1 to 4, all up).
//!
//! Hash-based algorithms cycle through 1,024 distinct keys so the hash and the
//! table lookup are measured over varied keys, not one cached answer; both
//! `hash-type`s are measured. leastconn's servers all have connections, so
//! every pick scans the whole farm (its worst case).
//!
//! Run: `cargo bench --bench balance` (add `-- pick/roundrobin` to filter).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ringlb::balance::hash::{Hashed, Key, Table};
use ringlb::balance::{
    Balancer, PickInput, hdr::Hdr, leastconn::LeastConn, rdp_cookie, rdp_cookie::RdpCookie,
    roundrobin::RoundRobin, source::Source, static_rr::StaticRr, uri::Uri, url_param::UrlParam,
};
use ringlb::config::model::{Address, HashType};
use ringlb::runtime::ServerRt;

const SIZES: [usize; 3] = [2, 100, 10_000];
const KEYS: usize = 1024;

fn farm(n: usize) -> Vec<ServerRt> {
    (0..n)
        .map(|i| {
            let w = 1 + (i % 4) as u32;
            ServerRt {
                port_offset: None,
                name: format!("srv{i}").into(),
                address: Address::Inet("127.0.0.1:80".parse().unwrap()),
                resolved: None,
                runtime_addr: Default::default(),
                addr_set: AtomicBool::new(false),
                configured_weight: w,
                weight: AtomicU32::new(w),
                up: AtomicBool::new(true),
                // Busy servers, so leastconn scans them all.
                active: AtomicU64::new(1 + (i as u64 * 7919) % 13),
                backup: false,
                check: Default::default(),
                admin: Default::default(),
                health: Default::default(),
                all_backups: false,
            }
        })
        .collect()
}

/// The owned text each input borrows from.
struct Inputs {
    uris: Vec<String>,
    heads: Vec<String>,
    packets: Vec<Vec<u8>>,
}

impl Inputs {
    fn new() -> Inputs {
        Inputs {
            uris: (0..KEYS)
                .map(|k| format!("/static/img/{k}/photo.jpg?user=u{k}&lang=en"))
                .collect(),
            heads: (0..KEYS)
                .map(|k| {
                    format!(
                        "GET /app HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\n\
                         Accept: */*\r\nX-Tenant: tenant-{k}\r\n\r\n"
                    )
                })
                .collect(),
            packets: (0..KEYS)
                .map(|k| rdp_cookie::connection_request(Some(&format!("Cookie: mstshash=user{k}"))))
                .collect(),
        }
    }

    fn get(&self, k: usize) -> PickInput<'_> {
        PickInput {
            client: Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + k as u32))),
            uri: Some(&self.uris[k]),
            head: Some(self.heads[k].as_bytes()),
            payload: Some(&self.packets[k]),
            ..PickInput::default()
        }
    }
}

fn bench_one(c: &mut Criterion, name: &str, make: &dyn Fn(&[ServerRt]) -> Box<dyn Balancer>) {
    let inputs = Inputs::new();
    let all: Vec<PickInput<'_>> = (0..KEYS).map(|k| inputs.get(k)).collect();
    let mut g = c.benchmark_group(format!("pick/{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SIZES {
        let servers = farm(n);
        let mut b = make(&servers);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            let mut k = 0;
            bench.iter(|| {
                k = (k + 1) & (KEYS - 1);
                black_box(b.pick(&servers, black_box(&all[k]), None))
            })
        });
    }
    g.finish();
}

fn hashed<K: Key + Clone + 'static>(
    key: K,
    hash_type: HashType,
) -> impl Fn(&[ServerRt]) -> Box<dyn Balancer> {
    move |s| Box::new(Hashed::new(key.clone(), Table::new(hash_type, s)))
}

fn benches(c: &mut Criterion) {
    bench_one(c, "roundrobin", &|_| Box::new(RoundRobin::new()));
    bench_one(c, "static-rr", &|_| Box::new(StaticRr::new()));
    bench_one(c, "leastconn", &|_| Box::new(LeastConn::new()));
    for (ht, suffix) in [
        (HashType::MapBased, ""),
        (HashType::Consistent, "+consistent"),
    ] {
        bench_one(c, &format!("source{suffix}"), &hashed(Source, ht));
        bench_one(
            c,
            &format!("uri{suffix}"),
            &hashed(Uri::new(None, None, false), ht),
        );
        bench_one(
            c,
            &format!("url_param{suffix}"),
            &hashed(UrlParam::new("user"), ht),
        );
        bench_one(
            c,
            &format!("hdr{suffix}"),
            &hashed(Hdr::new("X-Tenant"), ht),
        );
        bench_one(
            c,
            &format!("rdp-cookie{suffix}"),
            &hashed(RdpCookie::new("mstshash"), ht),
        );
    }
}

criterion_group!(balance, benches);
criterion_main!(balance);
