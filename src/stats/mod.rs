//! Statistics: per-worker counters (`counters.rs`), summed when read.
pub mod counters;
pub mod page;
