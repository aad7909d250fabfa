//! The text a process reads when it takes another's listening sockets: the
//! `_getsocks` inventory (`worker::handover`) and the master CLI's `-S`
//! address (`process::master_cli::parse_addr`).
//!
//! Properties:
//! - an inventory whose lines come with no socket yields no socket, whatever
//!   the text (a line never takes an fd it was not given);
//! - an inventory with sockets for some lines never yields more than it got,
//!   and closes, never leaks or double-closes, the ones it refuses (here:
//!   connected sockets, which are not listening);
//! - `-S` parsing never panics, and a Unix address it accepts names no
//!   option (`,` starts the options).
#![no_main]

use std::os::fd::OwnedFd;

use libfuzzer_sys::fuzz_target;
use ringlb::process::master_cli::{MasterCliAddr, parse_addr};
use ringlb::worker::handover::Inherited;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let none = Inherited::from_received(&text, Vec::new());
    assert!(none.is_empty(), "a line took a socket it was not given");

    // Two sockets that are not listening: both must be refused.
    let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let got = Inherited::from_received(&text, vec![OwnedFd::from(a), OwnedFd::from(b)]);
    assert!(got.is_empty(), "a connected socket was taken as a listener");

    if let Ok(MasterCliAddr::Unix(path, _)) = parse_addr(&text) {
        assert!(
            !path.to_string_lossy().contains(','),
            "options kept in the path"
        );
    }
});
