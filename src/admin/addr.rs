//! `set server <b>/<s> addr <ip> [port <port>]`: moves a server to another
//! address at run time, as HAProxy's `srv_update_addr_port`, with its report
//! of what changed. New connections (and checks) go to the new address; an
//! idle pooled connection to the old one is not reused
//! (`ServerRt::pooled_is_current`). A server with `resolvers` takes the
//! address as if resolved (a later answer may move it again, as in HAProxy).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::model::Address;
use crate::runtime::ServerRt;

/// Who HAProxy says asked for the change.
const BY: &str = " by 'stats socket command'\n";

/// Runs the command on `srv`; `args` follow `addr`.
pub fn set(srv: &ServerRt, args: &[&str]) -> String {
    let Some(ip_text) = args.first().filter(|a| !a.is_empty()) else {
        return "set server <b>/<s> addr requires an address and optionally a port.\n".into();
    };
    let port_text = match args.get(1..) {
        Some(["port", p, ..]) => Some(*p),
        _ => None,
    };
    let Ok(ip) = ip_text.parse::<IpAddr>() else {
        return format!("Invalid addr '{ip_text}'{BY}");
    };
    let Address::Inet(current) = *srv.address() else {
        return format!(
            "ringlb cannot change the address of server '{}': it is not an IP address.\n",
            srv.name
        );
    };
    let mut msg = String::new();
    let mut next = current;
    if ip == current.ip() {
        msg.push_str("no need to change the addr");
    } else {
        msg.push_str(&format!("IP changed from '{}' to '{ip}'", current.ip()));
        next.set_ip(ip);
    }
    if let Some(p) = port_text {
        match p.parse::<u16>() {
            Err(_) => msg.push_str(&format!(", problem converting port '{p}' to an int")),
            Ok(port) if port == current.port() => msg.push_str(", no need to change the port"),
            Ok(port) => {
                msg.push_str(&format!(
                    ", port changed from '{}' to '{port}'",
                    current.port()
                ));
                next.set_port(port);
            }
        }
    }
    if next != current {
        publish(srv, next);
    }
    msg.push_str(BY);
    msg
}

/// Makes `addr` the server's address for every worker.
fn publish(srv: &ServerRt, addr: SocketAddr) {
    match &srv.resolved {
        Some(cell) => cell.store(Arc::new(addr)),
        None => {
            srv.runtime_addr.store(Some(Arc::new(addr)));
            srv.addr_set.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerRt {
        crate::balance::testutil::server(0, 1)
    }

    #[test]
    fn reports_as_haproxy() {
        let s = server();
        assert_eq!(
            set(&s, &["127.0.0.2", "port", "18404"]),
            "IP changed from '127.0.0.1' to '127.0.0.2', port changed from '1' to '18404' by \
             'stats socket command'\n"
        );
        assert_eq!(
            *s.address(),
            Address::Inet("127.0.0.2:18404".parse().unwrap())
        );
        assert_eq!(
            set(&s, &["127.0.0.2"]),
            "no need to change the addr by 'stats socket command'\n"
        );
        assert_eq!(
            set(&s, &["127.0.0.2", "port", "x"]),
            "no need to change the addr, problem converting port 'x' to an int by 'stats socket \
             command'\n"
        );
        assert_eq!(
            set(&s, &["::1", "port", "18404"]),
            "IP changed from '127.0.0.2' to '::1', no need to change the port by 'stats socket \
             command'\n"
        );
        assert_eq!(
            set(&s, &["x"]),
            "Invalid addr 'x' by 'stats socket command'\n"
        );
        assert!(set(&s, &[]).starts_with("set server <b>/<s> addr requires"));
    }
}
