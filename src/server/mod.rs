//! Reaching servers: connecting with `timeout connect` and `retries`, and the
//! per-worker pool of idle server connections.

pub mod connect;
pub mod dispatch;
pub mod pool;
