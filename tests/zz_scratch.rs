mod common;
use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn queued_then_served() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .nbthread(Some(1))
        .global("maxconn 1")
        .timeout_client("2s")
        .server("a", a.port());
    let lb = Ringlb::start(&cfg.render());
    std::thread::sleep(Duration::from_millis(200));
    let mut c1 = HttpClient::connect(lb.port());
    assert_eq!(c1.get("/first").status, 200);
    let t0 = Instant::now();
    let mut c2 = HttpClient::connect(lb.port());
    c2.conn
        .stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    c2.conn
        .stream
        .write_all(b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = c2.try_response();
    eprintln!(
        "after {:?}: {:?}",
        t0.elapsed(),
        r.map(|r| (r.status, r.text()))
    );
    eprintln!(
        "backend paths {:?}",
        a.requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
    eprintln!(
        "c1 closed: {}",
        c1.closed_within(Duration::from_millis(100))
    );
    eprintln!("stderr: {}", lb.stderr());
}
