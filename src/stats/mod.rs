//! Statistics: per-worker counters (`counters.rs`), summed when read, and what
//! shows them: the stats page (`page.rs`, `html.rs`, `auth.rs`) and HAProxy's
//! CSV (`csv.rs`), JSON (`json.rs`) and the Prometheus exporter
//! (`prometheus.rs`, with the response-time histograms of `histogram.rs`), all
//! rendered from one reading of the state (`view.rs`); the page's live charts
//! (`charts.rs`, `charts.js`) poll ringlb's `;histograms` feed.
pub mod admin;
pub mod auth;
pub mod charts;
pub mod counters;
pub mod csv;
pub mod histogram;
pub mod html;
pub mod json;
pub mod page;
pub mod process;
pub mod prometheus;
pub mod view;
