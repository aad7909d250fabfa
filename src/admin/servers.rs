//! `show servers state [<backend>]`: HAProxy's server-state format (version 1),
//! the one `server-state-file` and operators' scripts read.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::check::CheckStatus;
use crate::check::status::unix_ms;
use crate::config::model::Address;
use crate::runtime::{BackendRt, ServerRt, Shared};

/// The format version line and the column header.
const HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state \
srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
srv_agent_addr srv_agent_port\n";

/// The dump for every backend, or for the one named (HAProxy's error text if
/// there is none by that name).
pub fn render(shared: &Shared, backend: Option<&str>) -> Result<String, &'static str> {
    let ids = crate::stats::view::backend_ids(shared);
    let chosen: Vec<usize> = match backend {
        None => (0..shared.backends.len()).collect(),
        Some(name) => {
            let b = shared
                .backends
                .iter()
                .position(|b| b.name == name)
                .ok_or("Can't find backend.\n")?;
            vec![b]
        }
    };
    let mut out = String::from(HEADER);
    let now = unix_ms();
    for b in chosen {
        let be = &shared.backends[b];
        let shown = crate::stats::view::shown_servers(be).iter().enumerate();
        for (s, srv) in shown.filter(|(_, srv)| srv.present()) {
            line(&mut out, ids[b], be, s, srv, now);
        }
    }
    Ok(out)
}

/// HAProxy's `srv_op_state`: 0 stopped, 2 running, 3 stopping (NOLB).
fn op_state(srv: &ServerRt) -> u8 {
    if srv.admin.maint() || !srv.up.load(Ordering::Relaxed) {
        0
    } else if srv.check.nolb.load(Ordering::Relaxed) {
        3
    } else {
        2
    }
}

/// HAProxy's `HCHK_STATUS_*` number of a check status.
fn check_status_code(s: CheckStatus) -> u8 {
    match s {
        CheckStatus::Hana => 4,
        CheckStatus::SockErr => 5,
        CheckStatus::L4Ok => 6,
        CheckStatus::L4Timeout => 7,
        CheckStatus::L4Con => 8,
        CheckStatus::L6Ok => 9,
        CheckStatus::L6Timeout => 10,
        CheckStatus::L6Rsp => 11,
        CheckStatus::L7Timeout => 12,
        CheckStatus::L7Rsp => 13,
        CheckStatus::L7Ok => 15,
        CheckStatus::L7OkC => 16,
        CheckStatus::L7Sts => 17,
        CheckStatus::Checked => 3,
        CheckStatus::ProcErr => 18,
        CheckStatus::ProcTimeout => 19,
        CheckStatus::ProcOk => 20,
    }
}

fn line(out: &mut String, be_id: u32, be: &BackendRt, s: usize, srv: &ServerRt, now_ms: u64) {
    let chk = &srv.check;
    let (addr, port) = match &*srv.address() {
        Address::Inet(sa) => (sa.ip().to_string(), sa.port()),
        Address::Unix(p) => (p.display().to_string(), 0),
        Address::Abstract(n) => (format!("abns@{n}"), 0),
        Address::Fd(n) => (format!("fd@{n}"), 0),
    };
    let last_change = chk
        .last_change_ms
        .load(Ordering::Relaxed)
        .max(srv.admin.changed_ms.load(Ordering::Relaxed));
    let since = now_ms.saturating_sub(last_change) / 1000;
    let last = chk.last.load_full();
    // Before any check: HCHK_STATUS_INI (1) and CHK_RES_UNKNOWN (0); without checks: 0.
    let agent = chk.agent.as_ref();
    let (status, result) = match (chk.enabled, last.as_deref()) {
        // HAProxy sets a server's check up for its agent too: INI, unknown.
        (false, _) if agent.is_some() => (1, 0),
        (false, _) => (0, 0),
        (true, None) => (1, 0),
        (true, Some(r)) => (
            check_status_code(r.status),
            if r.status.passed() { 3 } else { 2 },
        ),
    };
    // CHK_ST_CONFIGURED | CHK_ST_ENABLED, plus CHK_ST_PAUSED in maintenance.
    let check_state = match (chk.enabled, srv.admin.maint()) {
        (false, _) => 0,
        (true, false) => 0x6,
        (true, true) => 0xe,
    };
    let health = if chk.enabled || agent.is_some() {
        chk.health.load(Ordering::Relaxed)
    } else {
        0
    };
    let model = be.model.servers.get(s);
    let check_port = model.and_then(|m| m.check_port).unwrap_or(0);
    let check_addr = model
        .and_then(|m| m.check_addr)
        .map_or("-".to_string(), |a| a.to_string());
    // CHK_ST_CONFIGURED | CHK_ST_ENABLED | CHK_ST_AGENT, as HAProxy prints it.
    let (agent_state, agent_addr, agent_port) = match agent {
        Some(a) => (
            0x16,
            a.model
                .fixed_addr
                .map_or("-".to_string(), |ip| ip.to_string()),
            a.model.address.port(),
        ),
        None => (0, "-".to_string(), 0),
    };
    let _ = writeln!(
        out,
        "{be_id} {} {} {} {addr} {} {} {} {} {since} {status} {result} {health} {check_state} \
         {agent_state} 0 0 - {port} - 0 {check_port} {check_addr} {agent_addr} {agent_port}",
        be.name,
        crate::stats::view::server_ids(be)[s],
        srv.name,
        op_state(srv),
        srv.admin.flags(),
        srv.admin.uweight.load(Ordering::Relaxed),
        srv.initial_weight(),
    );
}
