//! The request parse on the hot path: a browser-like head parsed strictly
//! and with `option accept-invalid-http-request`'s flags (the same work for
//! a valid head: the flag is only read on httparse's error path), and the
//! target check HAProxy 2.6's strict mode asks for (`#` and bytes above 127).
//!
//! Run: `cargo bench --bench request_parse`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ringlb::http::request::{ParseFlags, Parsed, header_slots, parse_head_with};

const HEAD: &[u8] = b"GET /static/js/app.2f9c1e.js?v=20261205&lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/\r\n\
Cookie: session=4f1c2a9e8b7d6c5e; theme=dark\r\n\
Connection: keep-alive\r\n\r\n";

fn parse(c: &mut Criterion) {
    for (name, accept_invalid) in [("strict", false), ("accept-invalid", true)] {
        let flags = ParseFlags { accept_invalid };
        c.bench_function(&format!("request_parse/{name}"), |b| {
            b.iter(|| {
                let mut slots = header_slots();
                match parse_head_with(black_box(HEAD), &mut slots, flags) {
                    Ok(Parsed::Complete(h)) => h.head_len,
                    _ => 0,
                }
            })
        });
    }
}

criterion_group!(benches, parse);
criterion_main!(benches);
