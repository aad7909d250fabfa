//! The `%` variables a log-format string names: the table of names, and
//! which a log line alone knows (timers, counts, captures).

/// A `%` variable: what it names, rendered by the sample or the [`LfVars`] context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `%ci`: client address.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%fi`: the address the client connected to.
    FrontendIp,
    /// `%fp`: the port the client connected to.
    FrontendPort,
    /// `%f`: frontend name.
    Frontend,
    /// `%ft`: frontend name, followed by `~` on a TLS connection.
    FrontendTransport,
    /// `%sslv`: the client connection's TLS version (`TLSv1.3`).
    SslVersion,
    /// `%sslc`: its cipher (OpenSSL's name).
    SslCipher,
    /// `%b`: backend name.
    Backend,
    /// `%s`: server name.
    Server,
    /// `%H`: this host's name.
    Hostname,
    /// `%pid`: process id.
    Pid,
    /// `%ID`: the request's unique id.
    UniqueId,
    /// `%rt`: the request counter.
    RequestCounter,
    /// `%Ts`: the request date, seconds since the epoch.
    Timestamp,
    /// `%ms`: the milliseconds of the request date.
    Millis,
    /// `%t` / `%tr`: the request date, `05/Dec/2026:13:06:36.714` (local time).
    Date,
    /// `%HM`: method.
    Method,
    /// `%HU`: request target.
    Uri,
    /// `%HP`: path.
    Path,
    /// `%HQ`: query string with its `?`.
    Query,
    /// `%HV`: version (`HTTP/1.1`).
    Version,
    /// `%ST`: status.
    Status,
    /// `%r`: the request line.
    RequestLine,
    /// `%HPO`: the path alone, without scheme, host or query.
    PathOnly,
    /// A log line's own field (`%Tw`, `%tsc`, ...), rendered by the log's context.
    Log(LogVar),
}

/// The variables only a log line knows (`log-format`): timers, counts,
/// termination state, captures, dates, the server's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogVar {
    /// `%Tq`: Th + Ti + TR.
    Tq,
    /// `%Th`: the connection's handshake.
    Th,
    /// `%Ti`: idle time before the request.
    Ti,
    /// `%TR`: receiving the request head.
    TR,
    /// `%Tw`: waiting in queues.
    Tw,
    /// `%Tc`: connecting to the server.
    Tc,
    /// `%Tr`: the server's response head.
    Tr,
    /// `%Ta`: the request's active time.
    Ta,
    /// `%Tt`: the whole session.
    Tt,
    /// `%Td`: Tt - (Tq + Tw + Tc + Tr).
    Td,
    /// `%Tu`: Tt - Ti.
    Tu,
    /// `%B`: bytes sent to the client.
    Bytes,
    /// `%ts`: termination state.
    Term,
    /// `%tsc`: termination state and cookie flags.
    TermCookie,
    /// `%ac`: the process's connections.
    Actconn,
    /// `%fc`: the frontend's connections.
    Feconn,
    /// `%bc`: the backend's connections.
    Beconn,
    /// `%sc`: the server's connections.
    Srvconn,
    /// `%rc`: retries (`+` first after a redispatch).
    Retries,
    /// `%sq`: the server's queue.
    SrvQueue,
    /// `%bq`: the backend's queue.
    BeQueue,
    /// `%hr`: captured request headers, `{a|b}`.
    ReqHeaders,
    /// `%hs`: captured response headers.
    ResHeaders,
    /// `%hrl`: captured request headers, CLF style (one field each).
    ReqHeadersList,
    /// `%hsl`: captured response headers, CLF style.
    ResHeadersList,
    /// `%CC`: captured request cookie.
    ReqCookie,
    /// `%CS`: captured response cookie.
    ResCookie,
    /// `%T`: the date in GMT, `05/Dec/2026:13:06:36 +0000`.
    GmtDate,
    /// `%Tl`: the local date with its offset.
    LocalDate,
    /// `%trg`: the request's date in GMT.
    ReqGmtDate,
    /// `%trl`: the request's local date with its offset.
    ReqLocalDate,
    /// `%si`: the server's address.
    ServerIp,
    /// `%sp`: the server's port.
    ServerPort,
    /// `%lc`: the proxy's log line counter.
    LogCount,
}

/// The variables HAProxy documents that ringlb renders, by name.
pub(super) const VARS: &[(&str, Var)] = &[
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("f", Var::Frontend),
    ("ft", Var::FrontendTransport),
    ("sslv", Var::SslVersion),
    ("sslc", Var::SslCipher),
    ("b", Var::Backend),
    ("s", Var::Server),
    ("H", Var::Hostname),
    ("pid", Var::Pid),
    ("ID", Var::UniqueId),
    ("rt", Var::RequestCounter),
    ("Ts", Var::Timestamp),
    ("ms", Var::Millis),
    ("t", Var::Date),
    ("tr", Var::Date),
    ("HM", Var::Method),
    ("HU", Var::Uri),
    ("HP", Var::Path),
    ("HQ", Var::Query),
    ("HV", Var::Version),
    ("ST", Var::Status),
    ("r", Var::RequestLine),
];

/// The variables of log lines only (`log-format`, `log-format-sd`).
pub(super) const LOG_VARS: &[(&str, Var)] = &[
    ("HPO", Var::PathOnly),
    ("Tq", Var::Log(LogVar::Tq)),
    ("Th", Var::Log(LogVar::Th)),
    ("Ti", Var::Log(LogVar::Ti)),
    ("TR", Var::Log(LogVar::TR)),
    ("Tw", Var::Log(LogVar::Tw)),
    ("Tc", Var::Log(LogVar::Tc)),
    ("Tr", Var::Log(LogVar::Tr)),
    ("Ta", Var::Log(LogVar::Ta)),
    ("Tt", Var::Log(LogVar::Tt)),
    ("Td", Var::Log(LogVar::Td)),
    ("Tu", Var::Log(LogVar::Tu)),
    ("B", Var::Log(LogVar::Bytes)),
    ("ts", Var::Log(LogVar::Term)),
    ("tsc", Var::Log(LogVar::TermCookie)),
    ("ac", Var::Log(LogVar::Actconn)),
    ("fc", Var::Log(LogVar::Feconn)),
    ("bc", Var::Log(LogVar::Beconn)),
    ("sc", Var::Log(LogVar::Srvconn)),
    ("rc", Var::Log(LogVar::Retries)),
    ("sq", Var::Log(LogVar::SrvQueue)),
    ("bq", Var::Log(LogVar::BeQueue)),
    ("hr", Var::Log(LogVar::ReqHeaders)),
    ("hs", Var::Log(LogVar::ResHeaders)),
    ("hrl", Var::Log(LogVar::ReqHeadersList)),
    ("hsl", Var::Log(LogVar::ResHeadersList)),
    ("CC", Var::Log(LogVar::ReqCookie)),
    ("CS", Var::Log(LogVar::ResCookie)),
    ("T", Var::Log(LogVar::GmtDate)),
    ("Tl", Var::Log(LogVar::LocalDate)),
    ("trg", Var::Log(LogVar::ReqGmtDate)),
    ("trl", Var::Log(LogVar::ReqLocalDate)),
    ("si", Var::Log(LogVar::ServerIp)),
    ("sp", Var::Log(LogVar::ServerPort)),
    ("lc", Var::Log(LogVar::LogCount)),
];

/// Variables HAProxy documents that a ringlb log line cannot tell yet:
/// refused at load rather than logged wrong.
pub(super) const LOG_UNKNOWN: &[&str] = &["U", "bi", "bp"];
