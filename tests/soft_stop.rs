//! Stopping loses nothing (issue #14): a soft stop (SIGUSR1) under keep-alive
//! load answers every request that reached ringlb; a connection whose last
//! response did not say `Connection: close` stays usable for one more
//! request, which is answered with `Connection: close`.

mod common;

use common::{HttpBackend, HttpClient, ListenCfg, Load, Ringlb, SilentBackend, free_port};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

#[test]
fn soft_stop_under_keepalive_load_loses_no_request() {
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 2")
        .line("timeout http-keep-alive 30s")
        .server("a", a.port());
    let mut lb = Ringlb::start(&cfg.render());
    let load = Load::start(lb.port(), 12, 4);
    thread::sleep(Duration::from_millis(700));
    assert!(load.answered() > 100, "load too small to mean anything");
    lb.signal(libc::SIGUSR1);
    let st = lb.wait_exit(Duration::from_secs(10));
    let tally = load.finish();
    assert!(st.is_some(), "ringlb still running 10 s after SIGUSR1");
    // Connects refused once the listeners are gone are no loss: the client
    // knows nothing was sent.
    let lost = tally.lost.load(Ordering::Relaxed);
    assert_eq!(lost, 0, "{:?}", tally.failures.lock().unwrap());
}

#[test]
fn a_keepalive_response_sent_before_the_stop_leaves_the_connection_usable() {
    // The response went out without `Connection: close` (no stop yet): the
    // client may send its next request at once, and it must be answered.
    let a = HttpBackend::start("a");
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 1")
        .server("a", a.port());
    let mut lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    let r = c.get("/");
    assert!(!r.says_close());
    lb.signal(libc::SIGUSR1);
    thread::sleep(Duration::from_millis(100));
    let r = c.get("/again");
    assert_eq!(r.status, 200);
    assert!(
        r.says_close(),
        "the last response must say Connection: close"
    );
    assert!(lb.wait_exit(Duration::from_secs(5)).is_some());
}

#[test]
fn hard_stop_after_ends_a_soft_stop_that_lingers() {
    // A client that keeps its connection busy would hold the soft stop
    // forever; `hard-stop-after 1s` ends the process anyway.
    let silent = SilentBackend::start();
    let cfg = ListenCfg::http(free_port())
        .global("nbthread 1")
        .global("hard-stop-after 1s")
        .timeout_server("30s")
        .server("a", silent.port());
    let mut lb = Ringlb::start(&cfg.render());
    let mut c = HttpClient::connect(lb.port());
    // A server that never answers keeps the exchange going for 30 s.
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    thread::sleep(Duration::from_millis(100));
    lb.signal(libc::SIGUSR1);
    let st = lb.wait_exit(Duration::from_secs(4));
    assert!(
        st.is_some(),
        "still running 4 s after SIGUSR1 with hard-stop-after 1s"
    );
    assert!(lb.stderr().contains("hard-stop-after"), "{}", lb.stderr());
}
