//! Reaching servers: connecting with `timeout connect` and `retries`, the
//! per-worker pool of idle server connections, and ending the sessions of a
//! server on the operator's request (`kill.rs`), and server `maxconn` with
//! the queues in front of full servers (`queue.rs`).

pub mod connect;
pub mod dispatch;
pub mod kill;
pub mod pool;
pub mod proxy_header;
pub mod queue;
pub mod tls_origin;
