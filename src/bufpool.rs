//! Per-worker pool of 16 KB buffers.
