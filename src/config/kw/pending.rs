//! The one place that warns about keywords ringlb recognises and stores but
//! whose behaviour a later issue builds. When a feature lands, delete its
//! variant here and the compiler points at every call site to remove.

use crate::config::parse::Ctx;

/// A recognised feature whose runtime behaviour is not built yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// `stats admin`: actions from the stats page (the page is read-only).
    StatsAdmin,
    /// `maxidle`/`maxlife` dates in the stickiness cookie.
    CookieDates,
    /// `timeout queue` (there is no queue).
    TimeoutQueue,
    /// Per-server `maxconn`.
    ServerMaxconn,
}

/// Warns once for one occurrence of `keyword` (as written, e.g. `option httplog`).
pub fn warn(cx: &mut Ctx<'_>, keyword: &str, feature: Pending) {
    let message = match feature {
        Pending::StatsAdmin => format!(
            "'{keyword}' is not implemented yet; the stats page is read-only (use the stats socket \
             to change servers)"
        ),
        Pending::CookieDates => format!(
            "'{keyword}' is not implemented yet; stickiness cookies carry no date and never expire"
        ),
        Pending::TimeoutQueue => {
            format!("'{keyword}' is not implemented yet; there is no server queue")
        }
        Pending::ServerMaxconn => format!(
            "server '{keyword}' is not implemented yet; connections to the server are not limited"
        ),
    };
    cx.warn(message);
}
