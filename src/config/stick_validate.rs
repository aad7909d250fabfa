//! Validation of `stick-table` and `stick` lines: each rule's table found
//! by name, its pattern readable where the rule runs, its ACLs linked.

use std::collections::HashMap;

use super::model::{AclTable, Mode};
use super::parse::Diag;
use super::raw::{RawProxy, SectionKind};
use super::validate::ConfigNames;
use crate::acl::{Fetch, Side};
use crate::stick::{BackendStick, StickKind, StickRule, TableSpec};

/// Every table (in declaration order) and each backend's validated rules,
/// by backend index.
pub(super) fn link(
    proxies: &mut [RawProxy],
    by_name: &HashMap<String, usize>,
    names: &ConfigNames<'_>,
    diag: &mut Diag,
) -> (Vec<TableSpec>, Vec<(usize, BackendStick)>) {
    let mut tables: Vec<TableSpec> = proxies
        .iter()
        .filter(|p| p.kind != SectionKind::Defaults)
        .filter_map(|p| p.stick.table.as_ref().map(|(t, _)| t.clone()))
        .collect();
    let mut out = Vec::new();
    for p in proxies.iter_mut().filter(|p| p.kind.has_backend()) {
        if p.stick.rules.is_empty() {
            continue;
        }
        let mut rules = Vec::new();
        for r in &p.stick.rules {
            let Some(t) = tables.iter().position(|t| t.name == r.table) else {
                diag.error_at(
                    &r.origin,
                    format!("'stick': unable to find stick-table '{}'", r.table),
                );
                continue;
            };
            if let Err(why) = readable(r, p.mode) {
                diag.error_at(&r.origin, format!("'stick {}': {why}", r.text));
                continue;
            }
            // HAProxy keeps the server's name beside its id in such tables.
            tables[t].server_key = true;
            rules.push(StickRule {
                table_index: t,
                ..r.clone()
            });
        }
        if let Err(e) = p.acls.link(names) {
            diag.error_at(&p.origin, format!("{}: {e}", p.label()));
            continue;
        }
        if let Some(&i) = by_name.get(&p.name) {
            let acls = AclTable(p.acls.clone());
            out.push((i, BackendStick { rules, acls }));
        }
    }
    (tables, out)
}

/// Whether the rule's pattern can be read where it runs: the request line,
/// headers, cookies and the client's address when the server is chosen
/// (only the address in `mode tcp`), the response head for
/// `store-response`.
fn readable(r: &StickRule, mode: Mode) -> Result<(), String> {
    let f = &r.expr.fetch;
    let addr = matches!(f, Fetch::Src);
    let ok = match (r.kind, mode) {
        (StickKind::StoreResponse, Mode::Http) => addr || f.message() == Some(Side::Res),
        (_, Mode::Tcp) => addr,
        (_, Mode::Http) => crate::balance::expr::supported(f),
    };
    if ok {
        return Ok(());
    }
    Err(match (r.kind, mode) {
        (_, Mode::Tcp) => {
            "in 'mode tcp' ringlb reads only the client's address ('src') for stick rules"
        }
        (StickKind::StoreResponse, _) => {
            "a store-response pattern reads the response head (res.cook, res.hdr, status) \
             or 'src'"
        }
        _ => {
            "ringlb reads only the request line, headers and cookies and the client \
             address ('src') when choosing a server"
        }
    }
    .to_string())
}
